"""The queries a simulated year reads (cost_simulate.py): the ledger between two days, gallery figures, new venues."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import distinct, func, select, true
from sqlalchemy.orm import Session

from venue_pipeline.core.statuses import ImageStatus
from venue_pipeline.store.schema import ApiCallRow, ProviderIdRow, VenueImageRow, VenueRow


@dataclass(frozen=True)
class EndpointCalls:
    """Calls of one provider endpoint in the ledger and their list price (the ledger's `cost`, priced per call)."""

    provider: str
    endpoint: str
    calls: int
    dollars: float


def calls_between(
    session: Session, first_day: str, end_day: str, run_prefix: str | None = None
) -> list[EndpointCalls]:
    """Ledger rows per (provider, endpoint) with first_day <= day < end_day (UTC days, YYYY-MM-DD), only those of
    runs whose id starts with `run_prefix` when given (a simulation's own, not the copied state's calls of today)."""
    stmt = (
        select(ApiCallRow.provider, ApiCallRow.endpoint, func.count(), func.coalesce(func.sum(ApiCallRow.cost), 0.0))
        .where(ApiCallRow.day >= first_day, ApiCallRow.day < end_day)
        .where(ApiCallRow.run_id.startswith(run_prefix, autoescape=True) if run_prefix else true())
        .group_by(ApiCallRow.provider, ApiCallRow.endpoint)
        .order_by(ApiCallRow.provider, ApiCallRow.endpoint)
    )
    return [EndpointCalls(p, e, int(n), round(float(c), 4)) for p, e, n, c in session.execute(stmt)]


def gallery_figures(session: Session) -> tuple[int, int, int]:
    """(venues, venues with an uploaded image, uploaded images): coverage and gallery size."""
    venues = session.scalar(select(func.count()).select_from(VenueRow)) or 0
    with_image, images = session.execute(
        select(func.count(distinct(VenueImageRow.venue_id)), func.count(VenueImageRow.id)).where(
            VenueImageRow.status == ImageStatus.UPLOADED
        )
    ).one()
    return int(venues), int(with_image or 0), int(images or 0)


def new_venues_by_city(session: Session) -> dict[str, list[int]]:
    """Venues with no provider ID row yet, per city: what the new-venues sensor launches runs for."""
    has_ids = select(ProviderIdRow.id).where(ProviderIdRow.venue_id == VenueRow.id).exists()
    out: dict[str, list[int]] = {}
    for vid, city in session.execute(select(VenueRow.id, VenueRow.city_slug).where(~has_ids).order_by(VenueRow.id)):
        out.setdefault(city, []).append(int(vid))
    return out


# What a simulation reads: the venues, their IDs and galleries, the attempts and resets the retry circuit reads and the
# ledger (quota counts, the auth circuits); reports, run failures, leases and pacing rows start empty in the copy.
COPIED_TABLES = ("venues", "provider_ids", "venue_images", "upload_attempts", "api_calls", "circuit_resets")


def copy_tables(source_url: str, dest_url: str, batch: int = 5000) -> dict[str, int]:
    """Copies COPIED_TABLES from any venue database into a migrated, empty one (e.g. PostgreSQL into SQLite), in
    batches read as a stream, parents first; returns the rows copied per table."""
    from sqlalchemy import insert

    from venue_pipeline.store.db import get_engine
    from venue_pipeline.store.schema import Base

    source, dest = get_engine(source_url), get_engine(dest_url)
    copied: dict[str, int] = {}
    for table in Base.metadata.sorted_tables:
        if table.name not in COPIED_TABLES:
            continue
        copied[table.name] = 0
        with source.connect() as read, dest.begin() as write:
            result = read.execution_options(stream_results=True, yield_per=batch).execute(
                select(table).order_by(*table.primary_key.columns)
            )
            while rows := result.fetchmany(batch):
                write.execute(insert(table), [dict(row._mapping) for row in rows])
                copied[table.name] += len(rows)
    return copied
