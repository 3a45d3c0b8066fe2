"""The venue database's tables; Alembic migrations in store/migrations create and upgrade them."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from venue_pipeline.core.statuses import ImageStatus

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UtcDateTime(TypeDecorator[datetime]):
    """Always UTC-aware in Python, whether the database keeps zones (PostgreSQL) or not (SQLite)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class VenueRow(Base):
    """A venue; (source, external_id) keys re-imports so they update instead of duplicating."""

    __tablename__ = "venues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(255))
    slug: Mapped[str] = mapped_column(String(255), unique=True)
    address: Mapped[str | None] = mapped_column(Text)
    postcode: Mapped[str | None] = mapped_column(String(32))
    city_slug: Mapped[str] = mapped_column(String(128), index=True)
    city_name: Mapped[str] = mapped_column(String(255))
    country: Mapped[str | None] = mapped_column(String(64))
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    needs_geocoding: Mapped[bool] = mapped_column(Boolean, default=False)
    geocoded_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # set when lat/lng came from geocoding
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    images_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_venues_source_external_id"),)


class ProviderIdRow(Base):
    """One row per (venue, provider): a matched ID, or a recorded rejection so it is not searched nightly."""

    __tablename__ = "provider_ids"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venues.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    place_id: Mapped[str | None] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16))  # matched | no_match | ambiguous | deferred
    method: Mapped[str] = mapped_column(String(16))  # geocode | search | manual
    score: Mapped[float | None] = mapped_column(Float)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    matched_at: Mapped[datetime] = mapped_column(UtcDateTime())
    next_search_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # back-off state (core/backoff.py, 0007): last listing that came back, consecutive listings with nothing
    # new, consecutive unsuccessful searches
    listed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    listing_streak: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    searches: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        UniqueConstraint("venue_id", "provider", name="uq_provider_ids_venue_provider"),
        Index("ix_provider_ids_provider_status", "provider", "status"),
    )


class VenueImageRow(Base):
    """One photo of one venue; unique (venue, provider, photo_key) makes dedupe hold by construction."""

    __tablename__ = "venue_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venues.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    photo_key: Mapped[str] = mapped_column(String(255))
    place_id: Mapped[str | None] = mapped_column(String(512))
    reference: Mapped[str] = mapped_column(Text)
    reference_fetched_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    quality_score: Mapped[float] = mapped_column(Float, default=0.1)
    position: Mapped[int | None] = mapped_column(Integer)
    attribution: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(24), default=ImageStatus.PENDING)
    error_type: Mapped[str | None] = mapped_column(String(32))
    error_class: Mapped[str | None] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_retry_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    cdn_url: Mapped[str | None] = mapped_column(Text)
    cdn_path: Mapped[str | None] = mapped_column(String(512), unique=True)
    discovered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    uploaded_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("venue_id", "provider", "photo_key", name="uq_venue_images_venue_provider_photo"),
        Index("ix_venue_images_status", "status"),
        Index("ix_venue_images_venue_status", "venue_id", "status"),
        Index("ix_venue_images_status_next_retry_at", "status", "next_retry_at"),  # due failures (0006)
    )


class UploadAttemptRow(Base):
    """Every upload attempt, so retry success rates and trends come from facts, not counters."""

    __tablename__ = "upload_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("venue_images.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[str | None] = mapped_column(String(64))
    is_retry: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    outcome: Mapped[str] = mapped_column(String(16))  # uploaded | failed
    error_type: Mapped[str | None] = mapped_column(String(32))
    status_code: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ix_upload_attempts_started_at", "started_at"),
        Index("ix_upload_attempts_is_retry_started_at", "is_retry", "started_at"),
    )


class ApiCallRow(Base):
    """The call ledger: daily quotas and cost reports read it, so limits hold across restarts."""

    __tablename__ = "api_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    endpoint: Mapped[str] = mapped_column(String(32))
    status_code: Mapped[int | None] = mapped_column(Integer)
    error_type: Mapped[str | None] = mapped_column(String(32))
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    run_id: Mapped[str | None] = mapped_column(String(64))
    called_at: Mapped[datetime] = mapped_column(UtcDateTime())
    day: Mapped[str] = mapped_column(String(10))
    # Written ahead: a paced call's row is inserted when its slot is granted (so quotas count it while it is in
    # flight, in every process) and finished when it ends; NULL after its run means the process died mid-call.
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("ix_api_calls_provider_day", "provider", "day"),
        Index("ix_api_calls_provider_called_at", "provider", "called_at"),  # each target's latest call (0006)
    )


class ProviderPacingRow(Base):
    """The shared limiter's state per provider (store/limiter.py): the earliest time the next call may be sent,
    in epoch seconds; every process sharing the database takes its call slots from this row."""

    __tablename__ = "provider_pacing"

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_slot_at: Mapped[float] = mapped_column(Float, default=0.0)


class FailureReportRow(Base):
    """One snapshot per report materialization, for trends over time."""

    __tablename__ = "failure_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    run_id: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)


class RunFailureRow(Base):
    """Failed Dagster runs recorded by the run-failure sensor, so the report counts them."""

    __tablename__ = "run_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), unique=True)
    job_name: Mapped[str] = mapped_column(String(255))
    partition_key: Mapped[str | None] = mapped_column(String(255))
    message: Mapped[str | None] = mapped_column(Text)
    failed_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CircuitResetRow(Base):
    """An operator's reset of a circuit breaker: only what happened after it counts towards reopening."""

    __tablename__ = "circuit_resets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target: Mapped[str] = mapped_column(String(64), index=True)
    reset_at: Mapped[datetime] = mapped_column(UtcDateTime())
    note: Mapped[str | None] = mapped_column(Text)
