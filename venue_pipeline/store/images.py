"""venue_images rows: discovery upserts under gallery caps, upload tasks, and upload outcomes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from venue_pipeline.core.errors import classify
from venue_pipeline.core.gallery import ImageTask, UploadOutcome
from venue_pipeline.core.ports import PhotoRef
from venue_pipeline.core.reconcile import FolderRow
from venue_pipeline.core.recovery import after_failure
from venue_pipeline.core.statuses import ImageStatus
from venue_pipeline.store.schema import UploadAttemptRow, VenueImageRow, VenueRow

MAX_PER_PROVIDER = 10
MAX_PER_VENUE = 25
SECRET_MARKERS = ("key=", "apikey=", "api_key=", "signature=", "sig=", "access_token=", "client_secret=")


@dataclass
class DiscoveryCounts:
    """What one venue's discovery changed in its stored gallery."""

    new: int = 0
    updated: int = 0
    capped: int = 0


def _insert_ignoring_conflicts(session: Session, rows: list[dict]) -> int:
    """INSERT … ON CONFLICT DO NOTHING on (venue, provider, photo key): a concurrent twin is never added."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(VenueImageRow).values(rows)
    stmt = stmt.on_conflict_do_nothing(index_elements=["venue_id", "provider", "photo_key"])
    result = session.execute(stmt)
    return int(result.rowcount or 0)


def lock_venue(session: Session, venue_id: int) -> None:
    """Serialises gallery changes of one venue across concurrent runs (a row lock on PostgreSQL)."""
    session.execute(select(VenueRow.id).where(VenueRow.id == venue_id).with_for_update())


def save_discovered(
    session: Session,
    venue_id: int,
    provider: str,
    place_id: str,
    refs: Sequence[PhotoRef],
    score: Callable[[int | None, int | None], float],
    *,
    now: datetime | None = None,
    max_per_provider: int = MAX_PER_PROVIDER,
    max_per_venue: int = MAX_PER_VENUE,
) -> DiscoveryCounts:
    """Updates known photos in place and adds new ones best-first while the stored gallery is under its caps."""
    now = now or datetime.now(timezone.utc)
    counts = DiscoveryCounts()
    gallery = list(session.scalars(select(VenueImageRow).where(VenueImageRow.venue_id == venue_id)))
    known = {(r.provider, r.photo_key): r for r in gallery}
    live = [r for r in gallery if r.status != ImageStatus.PERMANENTLY_FAILED]
    per_provider = sum(1 for r in live if r.provider == provider)
    total = len(live)
    fresh: list[tuple[float, PhotoRef]] = []
    for ref in refs:
        row = known.get((provider, ref.photo_key))
        if row is not None:
            if row.reference != ref.reference or row.width != ref.width or row.height != ref.height:
                row.reference = ref.reference
                row.width, row.height = ref.width, ref.height
                row.quality_score = score(ref.width, ref.height)
                row.attribution = ref.attribution
                counts.updated += 1
            row.reference_fetched_at = now
            row.place_id = place_id
            row.updated_at = now
            continue
        fresh.append((score(ref.width, ref.height), ref))
    fresh.sort(key=lambda item: -item[0])
    new_rows: list[dict] = []
    seen: set[str] = set()
    for quality, ref in fresh:
        if ref.photo_key in seen:
            continue
        seen.add(ref.photo_key)
        if per_provider >= max_per_provider or total >= max_per_venue:
            counts.capped += 1
            continue
        new_rows.append(
            dict(
                venue_id=venue_id,
                provider=provider,
                photo_key=ref.photo_key,
                place_id=place_id,
                reference=ref.reference,
                reference_fetched_at=now,
                width=ref.width,
                height=ref.height,
                quality_score=quality,
                attribution=ref.attribution,
                status=ImageStatus.PENDING,
                attempts=0,
                discovered_at=now,
                updated_at=now,
            )
        )
        per_provider += 1
        total += 1
    session.flush()
    counts.new = _insert_ignoring_conflicts(session, new_rows)
    renumber_positions(session, venue_id)
    return counts


def renumber_positions(session: Session, venue_id: int) -> None:
    """Gallery order is quality across providers, best first; retired images have no position."""
    rows = list(session.scalars(select(VenueImageRow).where(VenueImageRow.venue_id == venue_id)))
    rows.sort(key=lambda r: (-r.quality_score, r.provider, r.photo_key))
    position = 1
    for row in rows:
        if row.status == ImageStatus.PERMANENTLY_FAILED:
            row.position = None
            continue
        row.position = position
        position += 1
    session.flush()


def upload_tasks(
    session: Session,
    *,
    city_slug: str | None = None,
    venue_ids: Sequence[int] | None = None,
    image_ids: Sequence[int] | None = None,
    statuses: Iterable[str] = (ImageStatus.PENDING,),
    due_before: datetime | None = None,
    providers: Sequence[str] | None = None,
) -> list[ImageTask]:
    """Images to upload: by status, and for failed ones only those whose next_retry_at has passed."""
    stmt = select(VenueImageRow, VenueRow.slug).join(VenueRow, VenueRow.id == VenueImageRow.venue_id)
    statuses = list(statuses)
    conditions = []
    if ImageStatus.PENDING in statuses:
        conditions.append(VenueImageRow.status == ImageStatus.PENDING)
    if ImageStatus.FAILED in statuses:
        failed = VenueImageRow.status == ImageStatus.FAILED
        if due_before is not None:
            failed = and_(
                failed,
                or_(VenueImageRow.next_retry_at.is_(None), VenueImageRow.next_retry_at <= due_before),
            )
        conditions.append(failed)
    if ImageStatus.PERMANENTLY_FAILED in statuses:
        conditions.append(VenueImageRow.status == ImageStatus.PERMANENTLY_FAILED)
    if not conditions:
        return []
    stmt = stmt.where(or_(*conditions))
    if city_slug is not None:
        stmt = stmt.where(VenueRow.city_slug == city_slug)
    if venue_ids:
        stmt = stmt.where(VenueImageRow.venue_id.in_(list(venue_ids)))
    if image_ids:
        stmt = stmt.where(VenueImageRow.id.in_(list(image_ids)))
    if providers:
        stmt = stmt.where(VenueImageRow.provider.in_(list(providers)))
    stmt = stmt.order_by(VenueImageRow.venue_id, VenueImageRow.position, VenueImageRow.id)
    return [
        ImageTask(
            image_id=row.id,
            venue_id=row.venue_id,
            venue_slug=slug,
            provider=row.provider,
            photo_key=row.photo_key,
            reference=row.reference,
            width=row.width,
            height=row.height,
            attempts=row.attempts,
            reference_fetched_at=row.reference_fetched_at,
            place_id=row.place_id,
        )
        for row, slug in session.execute(stmt)
    ]


def apply_outcome(
    session: Session,
    outcome: UploadOutcome,
    *,
    run_id: str | None,
    is_retry: bool = False,
    max_attempts: int = 3,
    now: datetime | None = None,
) -> str | None:
    """Writes one attempt and moves the image's status with compare-and-set, so an image already
    uploaded by a concurrent run is never downgraded; returns the new status (None if skipped). `now` (default:
    the real time) stamps the row and decides the next retry."""
    now = now or datetime.now(timezone.utc)
    # Core statements on the tables, not the ORM's unit of work: this runs once per image transferred, and the
    # ORM's load, flush and bulk-update bookkeeping was a quarter of the upload worker's CPU (issue 14)
    images, attempts_table = VenueImageRow.__table__, UploadAttemptRow.__table__
    row = session.execute(
        select(images.c.attempts, images.c.venue_id).where(images.c.id == outcome.image_id)
    ).first()
    if row is None:
        return None
    session.execute(
        insert(attempts_table).values(
            image_id=outcome.image_id,
            run_id=run_id,
            is_retry=is_retry,
            started_at=outcome.started_at,
            outcome=ImageStatus.UPLOADED if outcome.ok else ImageStatus.FAILED,
            error_type=outcome.error_type,
            status_code=outcome.status_code,
            message=outcome.message,
            duration_ms=outcome.duration_ms,
        )
    )
    attempts = row.attempts + 1
    if outcome.ok:
        values = dict(
            status=ImageStatus.UPLOADED,
            attempts=attempts,
            cdn_url=outcome.cdn_url,
            cdn_path=outcome.cdn_path,
            error_type=None,
            error_class=None,
            status_code=None,
            error_message=None,
            next_retry_at=None,
            uploaded_at=now,
            updated_at=now,
        )
        if outcome.width and outcome.height:
            values.update(width=outcome.width, height=outcome.height)
        new_status = ImageStatus.UPLOADED
    else:
        new_status, next_retry = after_failure(outcome.error_type, attempts, now, max_attempts=max_attempts)
        values = dict(
            status=new_status,
            attempts=attempts,
            error_type=outcome.error_type,
            error_class=classify(outcome.error_type).value,
            status_code=outcome.status_code,
            error_message=(outcome.message or "")[:2000],
            next_retry_at=next_retry,
            updated_at=now,
        )
    result = session.execute(
        update(images).where(images.c.id == outcome.image_id, images.c.status != ImageStatus.UPLOADED).values(**values)
    )
    loaded = session.identity_map.get(session.identity_key(VenueImageRow, outcome.image_id))
    if loaded is not None:  # a caller's session that holds the image sees the new state
        session.expire(loaded)
    if result.rowcount and new_status == ImageStatus.PERMANENTLY_FAILED:
        renumber_positions(session, row.venue_id)
    return new_status if result.rowcount else None


def folder_rows(
    session: Session, venue_ids: Sequence[int], paths: Sequence[str]
) -> tuple[list[FolderRow], set[str]]:
    """Every image row of these venues (any status), and which of `paths` any row at all points at (a folder
    two venues' slugs share must not lose the other venue's files); in chunks, so no IN list grows unbounded."""
    columns = (
        VenueImageRow.id,
        VenueImageRow.venue_id,
        VenueImageRow.provider,
        VenueImageRow.photo_key,
        VenueImageRow.status,
        VenueImageRow.cdn_path,
    )
    rows: list[FolderRow] = []
    for chunk in _chunks(sorted(set(venue_ids))):
        rows.extend(FolderRow(*r) for r in session.execute(select(*columns).where(VenueImageRow.venue_id.in_(chunk))))
    pointed: set[str] = set()
    for chunk in _chunks(sorted(set(paths))):
        pointed.update(p for p in session.scalars(select(VenueImageRow.cdn_path).where(VenueImageRow.cdn_path.in_(chunk))) if p)
    return rows, pointed


def _chunks(values: list, size: int = 500) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def reopen(
    session: Session,
    *,
    city_slug: str | None = None,
    venue_ids: Sequence[int] | None = None,
    image_ids: Sequence[int] | None = None,
) -> int:
    """An operator's explicit re-open: permanently failed images become failed and due, with fresh attempts."""
    stmt = select(VenueImageRow).where(VenueImageRow.status == ImageStatus.PERMANENTLY_FAILED)
    if city_slug is not None:
        stmt = stmt.join(VenueRow, VenueRow.id == VenueImageRow.venue_id).where(VenueRow.city_slug == city_slug)
    if venue_ids:
        stmt = stmt.where(VenueImageRow.venue_id.in_(list(venue_ids)))
    if image_ids:
        stmt = stmt.where(VenueImageRow.id.in_(list(image_ids)))
    now = datetime.now(timezone.utc)
    count = 0
    venues: set[int] = set()
    for row in session.scalars(stmt):
        row.status, row.attempts, row.next_retry_at, row.updated_at = ImageStatus.FAILED, 0, now, now
        venues.add(row.venue_id)
        count += 1
    session.flush()
    for venue_id in venues:
        renumber_positions(session, venue_id)
    return count


def update_reference(
    session: Session, image_id: int, reference: str, width: int | None, height: int | None, when: datetime
) -> None:
    """A refreshed provider reference (same photo key), e.g. after Google's references expired."""
    row = session.get(VenueImageRow, image_id)
    if row is None:
        return
    row.reference, row.reference_fetched_at, row.updated_at = reference, when, when
    if width and height:
        row.width, row.height = width, height


@dataclass
class GalleryCounts:
    """A venue's gallery as the listing back-off sees it (core/backoff.py): uploaded and live images."""

    uploaded: int = 0
    live: int = 0  # every image but the permanently failed, as the caps count them
    live_by_provider: dict[str, int] = field(default_factory=dict)

    def full(self, provider: str) -> bool:
        """No photo of this provider could be added: its share or the whole gallery is at its cap."""
        return self.live >= MAX_PER_VENUE or self.live_by_provider.get(provider, 0) >= MAX_PER_PROVIDER


def gallery_counts(session: Session, venue_ids: Sequence[int]) -> dict[int, GalleryCounts]:
    """Per venue with any image: uploaded images, and live images in all and by provider."""
    out: dict[int, GalleryCounts] = {}
    for chunk in _chunks(list(venue_ids)):
        stmt = (
            select(VenueImageRow.venue_id, VenueImageRow.provider, VenueImageRow.status, func.count())
            .where(VenueImageRow.venue_id.in_(chunk))
            .group_by(VenueImageRow.venue_id, VenueImageRow.provider, VenueImageRow.status)
        )
        for vid, provider, status, n in session.execute(stmt):
            counts = out.setdefault(vid, GalleryCounts())
            if status == ImageStatus.UPLOADED:
                counts.uploaded += n
            if status != ImageStatus.PERMANENTLY_FAILED:
                counts.live += n
                counts.live_by_provider[provider] = counts.live_by_provider.get(provider, 0) + n
    return out


def venue_gallery(session: Session, venue_id: int) -> list[VenueImageRow]:
    """Every image row of a venue in gallery order: by position (retired ones, without one, last), then id."""
    return list(
        session.scalars(
            select(VenueImageRow)
            .where(VenueImageRow.venue_id == venue_id)
            .order_by(VenueImageRow.position.is_(None), VenueImageRow.position, VenueImageRow.id)
        )
    )


def due_failure_count(session: Session, now: datetime | None = None) -> int:
    """How many failed (not retired) images are due for a retry: next_retry_at unset or passed."""
    now = now or datetime.now(timezone.utc)
    return int(
        session.scalar(
            select(func.count())
            .select_from(VenueImageRow)
            .where(
                VenueImageRow.status == ImageStatus.FAILED,
                or_(VenueImageRow.next_retry_at.is_(None), VenueImageRow.next_retry_at <= now),
            )
        )
        or 0
    )


def duplicate_photo_keys(session: Session, limit: int = 20) -> list[tuple[int, str, str, int]]:
    """(venue id, provider, photo key, rows) of every photo stored more than once (at most `limit`)."""
    stmt = (
        select(VenueImageRow.venue_id, VenueImageRow.provider, VenueImageRow.photo_key, func.count())
        .group_by(VenueImageRow.venue_id, VenueImageRow.provider, VenueImageRow.photo_key)
        .having(func.count() > 1)
        .limit(limit)
    )
    return [tuple(row) for row in session.execute(stmt)]  # type: ignore[misc]


def duplicate_cdn_paths(session: Session, limit: int = 20) -> list[tuple[str, int]]:
    """(CDN path, rows) of every CDN path more than one image row points at (at most `limit`)."""
    stmt = (
        select(VenueImageRow.cdn_path, func.count())
        .where(VenueImageRow.cdn_path.is_not(None))
        .group_by(VenueImageRow.cdn_path)
        .having(func.count() > 1)
        .limit(limit)
    )
    return [tuple(row) for row in session.execute(stmt)]  # type: ignore[misc]


def images_with_secrets(
    session: Session, markers: Sequence[str] = SECRET_MARKERS, limit: int = 20
) -> list[tuple[int, str]]:
    """(image id, provider) of rows whose reference, CDN URL or error message holds a key or signature
    parameter (case-insensitive; at most `limit`)."""
    leaky = or_(
        *[
            func.lower(column).contains(marker)
            for column in (VenueImageRow.reference, VenueImageRow.cdn_url, VenueImageRow.error_message)
            for marker in markers
        ]
    )
    stmt = select(VenueImageRow.id, VenueImageRow.provider).where(leaky).limit(limit)
    return [(image_id, provider) for image_id, provider in session.execute(stmt)]


def images_without_status(session: Session, limit: int = 20) -> list[int]:
    """Ids of image rows whose status is missing or not an ImageStatus (at most `limit`)."""
    stmt = (
        select(VenueImageRow.id)
        .where(or_(VenueImageRow.status.is_(None), VenueImageRow.status.not_in(tuple(ImageStatus))))
        .limit(limit)
    )
    return list(session.scalars(stmt))
