"""Sensors: new venues get their city partition and an enrichment run without anyone pressing a button."""

import dagster as dg
from sqlalchemy import func, select

from venue_pipeline.defs.jobs import enrich_city_job
from venue_pipeline.defs.partitions import cities_partitions
from venue_pipeline.defs.resources import VenueStore
from venue_pipeline.store.schema import ProviderIdRow, VenueRow

NEW_VENUES_PER_TICK = 500


@dg.sensor(
    job=enrich_city_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New venues (by id, past the cursor) add their city partition and launch that city's run.",
)
def new_venues_sensor(context: dg.SensorEvaluationContext, venue_store: VenueStore) -> dg.SensorResult:
    """Cursor = the highest venue id already scanned, so each tick does bounded work and nothing repeats;
    only venues with no provider ID row yet count as new, and each run is limited to those venues."""
    cursor = int(context.cursor or 0)
    with venue_store.session() as session:
        scanned = session.execute(
            select(VenueRow.id, VenueRow.city_slug)
            .where(VenueRow.id > cursor)
            .order_by(VenueRow.id)
            .limit(NEW_VENUES_PER_TICK)
        ).all()
        if not scanned:
            return dg.SensorResult(skip_reason=f"no venue newer than id {cursor}")
        ids = [vid for vid, _ in scanned]
        with_ids = set(
            session.scalars(select(ProviderIdRow.venue_id).where(ProviderIdRow.venue_id.in_(ids)).distinct())
        )
        backlog = session.scalar(select(func.count()).select_from(VenueRow).where(VenueRow.id > cursor)) or 0
    last = ids[-1]
    fresh = [(vid, city) for vid, city in scanned if vid not in with_ids]
    if not fresh:
        return dg.SensorResult(skip_reason=f"venues up to id {last} already have provider IDs", cursor=str(last))
    by_city: dict[str, list[int]] = {}
    for vid, city in fresh:
        by_city.setdefault(city, []).append(vid)
    known = set(context.instance.get_dynamic_partitions(cities_partitions.name))
    new_cities = [c for c in sorted(by_city) if c not in known]
    context.log.info(f"{len(fresh)} new venues (backlog {backlog}) in {len(by_city)} cities; cursor {cursor} -> {last}")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"new-venues:{city}:{last}",
                partition_key=city,
                run_config=venue_run_config(venue_ids),
                tags={"trigger": "new_venues", "venues": str(len(venue_ids))},
            )
            for city, venue_ids in sorted(by_city.items())
        ],
        dynamic_partitions_requests=[cities_partitions.build_add_request(new_cities)] if new_cities else [],
        cursor=str(last),
    )


def venue_run_config(venue_ids: list[int]) -> dict:
    """Run config limiting the three city assets to the given venues."""
    ops = {name: {"config": {"venue_ids": venue_ids}} for name in ("provider_ids", "discovered_photos", "uploaded_images")}
    return {"ops": ops}
