"""Asset checks on invariants the original system broke: IDs that are addresses, twin images, keys in URLs."""

import dagster as dg
from sqlalchemy import func, or_, select

from venue_pipeline.defs.assets import provider_ids
from venue_pipeline.defs.resources import VenueStore
from venue_pipeline.store.schema import ProviderIdRow


@dg.asset_check(asset=provider_ids, description="No stored provider ID is empty or an address string.")
def provider_ids_are_real_ids(venue_store: VenueStore) -> dg.AssetCheckResult:
    """An address stored as an ID broke every later lookup in the original system; catch it at once."""
    bad = or_(
        ProviderIdRow.place_id.is_(None),
        ProviderIdRow.place_id == "",
        ProviderIdRow.place_id.contains(" "),
        ProviderIdRow.place_id.contains(","),
    )
    with venue_store.session() as session:
        rows = session.execute(
            select(ProviderIdRow.venue_id, ProviderIdRow.provider, ProviderIdRow.place_id)
            .where(ProviderIdRow.status == "matched", bad)
            .limit(20)
        ).all()
        total = session.scalar(select(func.count()).select_from(ProviderIdRow).where(ProviderIdRow.status == "matched"))
    return dg.AssetCheckResult(
        passed=not rows,
        metadata={
            "matched_ids": int(total or 0),
            "bad_ids": len(rows),
            "examples": dg.MetadataValue.json([{"venue_id": v, "provider": p, "place_id": i} for v, p, i in rows]),
        },
    )
