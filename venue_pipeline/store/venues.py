"""Venue queries: streamed file imports, upserts keyed by (source, external id), and reads for a city or a list of
ids."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from venue_pipeline.core.importer import ErrorLog, ImportFormat, VenueInput, open_venues, venue_batches, venue_problem
from venue_pipeline.core.slugs import venue_slug_candidates
from venue_pipeline.core.staleness import FRESH_WITH_IMAGES, FRESH_WITHOUT_IMAGES
from venue_pipeline.core.statuses import ImageStatus
from venue_pipeline.core.venue import Venue
from venue_pipeline.store.db import IMPORT_LOCK_KEY, lock_for_writing, session_scope
from venue_pipeline.store.schema import VenueImageRow, VenueRow

_UPDATABLE = ("name", "address", "postcode", "city_slug", "city_name", "country")


@dataclass
class UpsertResult:
    """What an import changed, and which cities it brought (they become Dagster partitions)."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    cities: dict[str, str] = field(default_factory=dict)


@dataclass
class ImportSummary:
    """A streamed file import: the rows written and every bad row counted (the first ones listed)."""

    result: UpsertResult = field(default_factory=UpsertResult)
    errors: ErrorLog = field(default_factory=ErrorLog)
    flagged: int = 0  # venues without coordinates, flagged for geocoding

    @property
    def venues(self) -> int:
        return self.result.inserted + self.result.updated + self.result.unchanged


def to_venue(row: VenueRow) -> Venue:
    return Venue(
        id=row.id,
        name=row.name,
        slug=row.slug,
        city_slug=row.city_slug,
        city_name=row.city_name,
        address=row.address,
        postcode=row.postcode,
        country=row.country,
        lat=row.lat,
        lng=row.lng,
        updated_at=row.updated_at,
    )


def import_venue_file(
    db_url: str,
    path: str | os.PathLike[str],
    fmt: ImportFormat | None = None,
    *,
    batch_size: int = 1000,
    keep_errors: int = 100,
) -> ImportSummary:
    """Streams a venue file into the database in batches of `batch_size` rows, one transaction each, with
    bounded memory. A refused file (ImportFormatError: not a regular file, bad or too wide a header) raises
    before anything is written; bad rows are skipped and counted, the first `keep_errors` listed."""
    now = datetime.now(timezone.utc)
    summary = ImportSummary(errors=ErrorLog(keep_errors))
    with open_venues(path, fmt) as venues:
        for batch in venue_batches(venues, summary.errors, batch_size):
            items = [venue for _line, venue in batch]
            with session_scope(db_url) as session:
                result = upsert_venues(session, items, now=now)
            summary.result.inserted += result.inserted
            summary.result.updated += result.updated
            summary.result.unchanged += result.unchanged
            summary.result.cities.update(result.cities)
            summary.flagged += sum(1 for item in items if item.needs_geocoding)
    return summary


def upsert_venues(session: Session, inputs: Iterable[VenueInput], now: datetime | None = None) -> UpsertResult:
    """Inserts new venues and updates changed ones; coordinates an import lacks never erase known ones.
    Every venue is checked first (core.importer.venue_problem: column sizes, control characters), so a bad one
    raises ValueError before anything is written, on every database. Slugs never change once stored; a new
    venue whose slug another venue holds takes its next candidate (_assign_slugs). Pass the same `now` to
    every batch of one import. Holds the import write lock (store.db.lock_for_writing) until the commit."""
    now = now or datetime.now(timezone.utc)
    result = UpsertResult()
    batch = list(inputs)
    for item in batch:
        problem = venue_problem(item)
        if problem is not None:
            raise ValueError(f"venue {item.source}:{item.external_id[:128]!r}: {problem}")
    lock_for_writing(session, IMPORT_LOCK_KEY, "venues")  # concurrent imports of one file: one after the other
    keys = {(v.source, v.external_id) for v in batch}
    existing: dict[tuple[str, str], VenueRow] = {}
    sources = {s for s, _ in keys}
    for source in sources:
        ids = [e for s, e in keys if s == source]
        for chunk_start in range(0, len(ids), 500):
            chunk = ids[chunk_start : chunk_start + 500]
            rows = session.scalars(
                select(VenueRow).where(VenueRow.source == source, VenueRow.external_id.in_(chunk))
            )
            existing.update({(r.source, r.external_id): r for r in rows})
    new = {(v.source, v.external_id): v for v in batch if (v.source, v.external_id) not in existing}
    slugs = _assign_slugs(session, list(new.values()), now)
    for item in batch:
        result.cities[item.city_slug] = item.city_name
        row = existing.get((item.source, item.external_id))
        if row is None:
            row = VenueRow(
                source=item.source,
                external_id=item.external_id,
                name=item.name,
                slug=slugs[(item.source, item.external_id)],
                address=item.address,
                postcode=item.postcode,
                city_slug=item.city_slug,
                city_name=item.city_name,
                country=item.country,
                lat=item.lat,
                lng=item.lng,
                needs_geocoding=item.lat is None or item.lng is None,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            existing[(item.source, item.external_id)] = row
            result.inserted += 1
            continue
        changed = False
        for attr in _UPDATABLE:
            value = getattr(item, attr)
            if getattr(row, attr) != value:
                setattr(row, attr, value)
                changed = True
        if item.lat is not None and item.lng is not None and (row.lat, row.lng) != (item.lat, item.lng):
            row.lat, row.lng, row.needs_geocoding, row.geocoded_at = item.lat, item.lng, False, None
            changed = True
        if changed:
            row.updated_at = now
            result.updated += 1
        else:
            result.unchanged += 1
    session.flush()
    return result


def _assign_slugs(session: Session, new: list[VenueInput], now: datetime) -> dict[tuple[str, str], str]:
    """A free slug for each new venue, never a unique-constraint crash. Each venue prefers its first candidate
    (core.slugs.venue_slug_candidates); on a collision the venue with the lower (source, external id) keeps it,
    so the result does not depend on the order of the rows: a holder stored earlier by the same import (same
    `now`) gives its slug up for its next candidate, while one stored by an earlier import keeps it (slugs are
    folder names on the CDN and never move)."""
    out: dict[tuple[str, str], str] = {}
    if not new:
        return out
    preferred = {(v.source, v.external_id): v.slug for v in new}
    held: dict[str, VenueRow] = {}
    values = sorted(set(preferred.values()))
    for start in range(0, len(values), 500):
        held.update({r.slug: r for r in session.scalars(select(VenueRow).where(VenueRow.slug.in_(values[start : start + 500])))})
    taken: dict[str, tuple[str, str]] = {}  # slugs given out in this batch
    for item in sorted(new, key=lambda v: (v.source, v.external_id)):
        key = (item.source, item.external_id)
        slug = preferred[key]
        holder = held.get(slug)
        if slug in taken:
            slug = _free_slug(session, item, taken)
        elif holder is not None:
            if holder.created_at == now and (holder.source, holder.external_id) > key:
                holder_input = VenueInput(holder.source, holder.external_id, holder.name, None, None,  # type: ignore[arg-type]
                                          holder.city_name, holder.city_slug, None, None, None, False)
                holder.slug = _free_slug(session, holder_input, taken)
                session.flush()  # the holder's new slug is written before the slug is reused
            else:
                slug = _free_slug(session, item, taken)
        taken[slug] = key
        out[key] = slug
    return out


def _free_slug(session: Session, item: VenueInput, taken: dict[str, tuple[str, str]]) -> str:
    """The venue's first candidate slug after the preferred one that neither this batch nor the database holds."""
    candidates = venue_slug_candidates(item.name, item.city_name, item.external_id, source=item.source)
    next(candidates)
    for slug in candidates:
        if slug not in taken and session.scalar(select(VenueRow.id).where(VenueRow.slug == slug)) is None:
            taken[slug] = (item.source, item.external_id)
            return slug
    raise AssertionError("unreachable: the candidates never end")


def list_venues(
    session: Session,
    *,
    city_slug: str | None = None,
    venue_ids: Sequence[int] | None = None,
    as_imported: bool = False,
) -> list[Venue]:
    """Venues of a city and/or an explicit id list, in id order (as_imported: without geocoded coordinates)."""
    stmt = select(VenueRow).order_by(VenueRow.id)
    if city_slug is not None:
        stmt = stmt.where(VenueRow.city_slug == city_slug)
    if venue_ids:
        stmt = stmt.where(VenueRow.id.in_(list(venue_ids)))
    venues = [to_venue(r) for r in session.scalars(stmt)]
    if as_imported:
        geocoded = set(session.scalars(select(VenueRow.id).where(VenueRow.geocoded_at.is_not(None))))
        venues = [replace(v, lat=None, lng=None) if v.id in geocoded else v for v in venues]
    return venues


def set_coordinates(
    session: Session, venue_id: int, lat: float, lng: float, when: datetime | None = None
) -> None:
    """Stores geocoded coordinates and clears the geocoding flag (stamped with the ID stage's clock)."""
    row = session.get(VenueRow, venue_id)
    if row is None:
        return
    now = when or datetime.now(timezone.utc)
    row.lat, row.lng, row.needs_geocoding = lat, lng, False
    row.geocoded_at = row.updated_at = now


def mark_images_checked(session: Session, venue_ids: Iterable[int], when: datetime | None = None) -> None:
    """Records when a venue's photos were last discovered (the staleness clock)."""
    when = when or datetime.now(timezone.utc)
    ids = list(venue_ids)
    for start in range(0, len(ids), 500):
        for row in session.scalars(select(VenueRow).where(VenueRow.id.in_(ids[start : start + 500]))):
            row.images_checked_at = when


def get_venue(session: Session, venue_id: int) -> Venue | None:
    """One venue by id (None when there is none)."""
    row = session.get(VenueRow, venue_id)
    return None if row is None else to_venue(row)


def venues_after(session: Session, after_id: int, limit: int) -> list[tuple[int, str]]:
    """(id, city slug) of the first `limit` venues with an id above `after_id`, in id order."""
    stmt = select(VenueRow.id, VenueRow.city_slug).where(VenueRow.id > after_id).order_by(VenueRow.id).limit(limit)
    return [(vid, city) for vid, city in session.execute(stmt)]


def count_venues_after(session: Session, after_id: int) -> int:
    """How many venues have an id above `after_id`."""
    return int(session.scalar(select(func.count()).select_from(VenueRow).where(VenueRow.id > after_id)) or 0)


def _is_stale(now: datetime) -> ColumnElement[bool]:
    """Never checked, or checked 30 days ago with an uploaded image, or 7 days ago without (core/staleness.py).
    Written so only venues checked between the two ages probe their own images (a correlated EXISTS on
    ix_venue_images_venue_status): an IN over every uploaded image made each tick read the whole table."""
    has_images = (
        select(VenueImageRow.id)
        .where(VenueImageRow.venue_id == VenueRow.id, VenueImageRow.status == ImageStatus.UPLOADED)
        .exists()
    )
    longer, shorter = max(FRESH_WITH_IMAGES, FRESH_WITHOUT_IMAGES), min(FRESH_WITH_IMAGES, FRESH_WITHOUT_IMAGES)
    stale_at_shorter = has_images if shorter == FRESH_WITH_IMAGES else ~has_images
    return or_(
        VenueRow.images_checked_at.is_(None),
        VenueRow.images_checked_at <= now - longer,
        (VenueRow.images_checked_at <= now - shorter) & stale_at_shorter,
    )


def stale_cities(session: Session, now: datetime, limit: int) -> list[tuple[str, int]]:
    """(city slug, stale venues) of the `limit` cities with the most venues due for photo discovery
    at `now`, most first, then by slug."""
    stmt = (
        select(VenueRow.city_slug, func.count())
        .where(_is_stale(now))
        .group_by(VenueRow.city_slug)
        .order_by(func.count().desc(), VenueRow.city_slug)
        .limit(limit)
    )
    return [(city, int(count)) for city, count in session.execute(stmt)]


def stale_venue_ids(session: Session, city_slug: str, now: datetime, limit: int) -> list[int]:
    """Ids of up to `limit` venues of a city due for photo discovery at `now`: never checked first,
    then the oldest check, then id."""
    stmt = (
        select(VenueRow.id)
        .where(_is_stale(now), VenueRow.city_slug == city_slug)
        .order_by(VenueRow.images_checked_at.is_not(None), VenueRow.images_checked_at, VenueRow.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def cities(session: Session) -> list[tuple[str, str, int]]:
    """(slug, display name, venue count) of every city, by slug."""
    stmt = (
        select(VenueRow.city_slug, func.min(VenueRow.city_name), func.count(VenueRow.id))
        .group_by(VenueRow.city_slug)
        .order_by(VenueRow.city_slug)
    )
    return [(slug, name, count) for slug, name, count in session.execute(stmt)]


def images_checked(session: Session, venue_ids: Sequence[int]) -> dict[int, tuple[datetime | None, bool]]:
    """Per venue: when its photos were last discovered, and whether it holds any uploaded image."""
    out: dict[int, tuple[datetime | None, bool]] = {}
    ids = list(venue_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        with_images = set(
            session.scalars(
                select(VenueImageRow.venue_id)
                .where(VenueImageRow.venue_id.in_(chunk), VenueImageRow.status == ImageStatus.UPLOADED)
                .distinct()
            )
        )
        for vid, checked in session.execute(select(VenueRow.id, VenueRow.images_checked_at).where(VenueRow.id.in_(chunk))):
            out[vid] = (checked, vid in with_images)
    return out
