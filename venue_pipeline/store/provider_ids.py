"""Provider ID rows: one per (venue, provider), matched or a recorded rejection with its scores."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from venue_pipeline.core.backoff import streak_after
from venue_pipeline.core.statuses import IdRecord, IdStatus
from venue_pipeline.store.schema import ProviderIdRow, VenueRow


def ids_for(session: Session, venue_ids: Sequence[int]) -> dict[int, dict[str, ProviderIdRow]]:
    """Every stored provider row of the given venues, by venue then provider."""
    out: dict[int, dict[str, ProviderIdRow]] = {}
    ids = list(venue_ids)
    for start in range(0, len(ids), 500):
        stmt = select(ProviderIdRow).where(ProviderIdRow.venue_id.in_(ids[start : start + 500]))
        for row in session.scalars(stmt):
            out.setdefault(row.venue_id, {})[row.provider] = row
    return out


def matched_ids(session: Session, venue_ids: Sequence[int]) -> dict[int, dict[str, str]]:
    """The matched place IDs only: what photo discovery may use."""
    return {
        vid: {p: r.place_id for p, r in rows.items() if r.status == IdStatus.MATCHED and r.place_id}
        for vid, rows in ids_for(session, venue_ids).items()
    }


def save(session: Session, records: Iterable[IdRecord], now: datetime | None = None) -> int:
    """Upserts ID records; a matched ID is never replaced by a later rejection or deferral."""
    now = now or datetime.now(timezone.utc)
    records = list(records)
    existing = ids_for(session, sorted({r.venue_id for r in records}))
    written = 0
    for rec in records:
        row = existing.get(rec.venue_id, {}).get(rec.provider)
        if row is not None and row.status == IdStatus.MATCHED and rec.status != IdStatus.MATCHED:
            continue
        if row is None:
            row = ProviderIdRow(venue_id=rec.venue_id, provider=rec.provider)
            session.add(row)
            existing.setdefault(rec.venue_id, {})[rec.provider] = row
        row.status = rec.status
        row.method = rec.method
        row.place_id = rec.place_id if rec.status == IdStatus.MATCHED else None
        row.score = rec.score
        row.details = rec.details
        row.matched_at = now
        row.next_search_at = rec.next_search_at
        if rec.status != IdStatus.DEFERRED:  # a deferral is no search: the streak of rejections stands
            row.searches = rec.searches
        written += 1
    session.flush()
    return written


def record_listing(session: Session, venue_id: int, provider: str, new_photos: int, now: datetime) -> None:
    """A listing came back: its time, and the streak of listings without a new photo (core/backoff.py)."""
    row = session.scalar(
        select(ProviderIdRow).where(ProviderIdRow.venue_id == venue_id, ProviderIdRow.provider == provider)
    )
    if row is None:
        return
    row.listing_streak = streak_after(row.listing_streak or 0, new_photos)
    row.listed_at = now


def venues_with_ids(session: Session, venue_ids: Sequence[int]) -> set[int]:
    """Those of the given venues that have at least one provider row (of any status)."""
    ids = list(venue_ids)
    out: set[int] = set()
    for start in range(0, len(ids), 500):
        stmt = select(ProviderIdRow.venue_id).where(ProviderIdRow.venue_id.in_(ids[start : start + 500])).distinct()
        out.update(session.scalars(stmt))
    return out


def invalid_matched_ids(session: Session, limit: int = 20) -> list[tuple[int, str, str | None]]:
    """(venue id, provider, place id) of matched rows whose ID is missing, empty or looks like an address
    (holds a space or a comma); at most `limit`."""
    bad = or_(
        ProviderIdRow.place_id.is_(None),
        ProviderIdRow.place_id == "",
        ProviderIdRow.place_id.contains(" "),
        ProviderIdRow.place_id.contains(","),
    )
    stmt = (
        select(ProviderIdRow.venue_id, ProviderIdRow.provider, ProviderIdRow.place_id)
        .where(ProviderIdRow.status == IdStatus.MATCHED, bad)
        .limit(limit)
    )
    return [(vid, provider, place_id) for vid, provider, place_id in session.execute(stmt)]


def matched_count(session: Session) -> int:
    """How many (venue, provider) rows hold a matched ID."""
    stmt = select(func.count()).select_from(ProviderIdRow).where(ProviderIdRow.status == IdStatus.MATCHED)
    return int(session.scalar(stmt) or 0)


def _owed() -> ColumnElement[bool]:
    """A venue owes quota-deferred work: an ID lookup stored as deferred, or a matched ID not listed since."""
    return or_(
        ProviderIdRow.status == IdStatus.DEFERRED,
        (ProviderIdRow.status == IdStatus.MATCHED)
        & (VenueRow.images_checked_at.is_not(None))
        & (ProviderIdRow.matched_at > VenueRow.images_checked_at),
    )


def owed_cities(session: Session, limit: int) -> list[tuple[str, int]]:
    """(city, venues owing quota-deferred work), most first: asked again once the quota has reset, not when the
    gallery goes stale (never-checked venues are stale already: store.venues.stale_cities)."""
    venues = func.count(ProviderIdRow.venue_id.distinct())
    stmt = (
        select(VenueRow.city_slug, venues)
        .join(ProviderIdRow, ProviderIdRow.venue_id == VenueRow.id)
        .where(_owed())
        .group_by(VenueRow.city_slug)
        .order_by(venues.desc(), VenueRow.city_slug)
        .limit(limit)
    )
    return [(city, int(n)) for city, n in session.execute(stmt)]


def owed_venue_ids(session: Session, city_slug: str, limit: int) -> list[int]:
    """Ids of up to `limit` venues of a city owing quota-deferred work, oldest decision first."""
    oldest = func.min(ProviderIdRow.matched_at)
    stmt = (
        select(VenueRow.id)
        .join(ProviderIdRow, ProviderIdRow.venue_id == VenueRow.id)
        .where(VenueRow.city_slug == city_slug, _owed())
        .group_by(VenueRow.id)
        .order_by(oldest, VenueRow.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))
