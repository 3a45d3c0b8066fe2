"""The queries behind a run's share of a daily quota (core/budget.py): due work per city, cities served today."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from venue_pipeline.core.budget import DueWork
from venue_pipeline.core.statuses import IdStatus
from venue_pipeline.store.schema import ProviderIdRow, VenueRow
from venue_pipeline.store.venues import _is_stale


def due_by_city(
    session: Session, provider: str, now: datetime, *, venue_ids: Sequence[int] | None = None
) -> dict[str, DueWork]:
    """Per city, the provider's due ID lookups (no row, deferred, or a rejection past its cooldown) and due photo
    listings (a matched ID never listed, listed before it was matched, or stale), of `venue_ids` or of every venue."""
    row = and_(ProviderIdRow.venue_id == VenueRow.id, ProviderIdRow.provider == provider)
    lookup_due = or_(
        ProviderIdRow.id.is_(None),
        ProviderIdRow.status == IdStatus.DEFERRED,
        and_(
            ProviderIdRow.status != IdStatus.MATCHED,
            or_(ProviderIdRow.next_search_at.is_(None), ProviderIdRow.next_search_at <= now),
        ),
    )
    listing_due = and_(
        ProviderIdRow.status == IdStatus.MATCHED,
        or_(_is_stale(now), ProviderIdRow.matched_at > VenueRow.images_checked_at),
    )
    out: dict[str, DueWork] = {}
    chunks = [None] if venue_ids is None else [list(venue_ids)[i : i + 500] for i in range(0, len(venue_ids), 500)]
    for chunk in chunks:
        stmt = (
            select(
                VenueRow.city_slug,
                func.count().filter(lookup_due),
                func.count().filter(listing_due),
            )
            .select_from(VenueRow)
            .outerjoin(ProviderIdRow, row)
            .group_by(VenueRow.city_slug)
        )
        if chunk is not None:
            stmt = stmt.where(VenueRow.id.in_(chunk))
        for city, lookups, listings in session.execute(stmt):
            before = out.get(city, DueWork())
            out[city] = DueWork(before.lookups + int(lookups), before.listings + int(listings))
    return out


def served_today(session: Session, provider: str, now: datetime) -> set[str]:
    """Cities whose run already asked the provider today (UTC): a row of theirs was decided or deferred today."""
    day_start = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    stmt = (
        select(VenueRow.city_slug)
        .join(ProviderIdRow, ProviderIdRow.venue_id == VenueRow.id)
        .where(ProviderIdRow.provider == provider, ProviderIdRow.matched_at >= day_start)
        .distinct()
    )
    return set(session.scalars(stmt))
