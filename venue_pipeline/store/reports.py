"""Failure-report aggregates, computed in SQL (GROUP BY over indexed columns) so they stay fast on big stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import case, distinct, func, select
from sqlalchemy.orm import Session

from venue_pipeline.core.errors import ERROR_CLASS, ErrorClass
from venue_pipeline.core.statuses import IdStatus, ImageStatus
from venue_pipeline.store.calls import utc_day
from venue_pipeline.store.schema import (
    ApiCallRow,
    FailureReportRow,
    ProviderIdRow,
    RunFailureRow,
    UploadAttemptRow,
    VenueImageRow,
    VenueRow,
)

TRANSIENT_TYPES = [t.value for t, c in ERROR_CLASS.items() if c is ErrorClass.TRANSIENT]
FAILED_STATES = (ImageStatus.FAILED, ImageStatus.PERMANENTLY_FAILED)


def status_counts(session: Session) -> dict[str, int]:
    stmt = select(VenueImageRow.status, func.count()).group_by(VenueImageRow.status)
    return {status: n for status, n in session.execute(stmt)}


def failures_by_provider_and_type(session: Session) -> list[dict[str, Any]]:
    stmt = (
        select(VenueImageRow.provider, VenueImageRow.error_type, VenueImageRow.status, func.count())
        .where(VenueImageRow.status.in_(FAILED_STATES))
        .group_by(VenueImageRow.provider, VenueImageRow.error_type, VenueImageRow.status)
        .order_by(func.count().desc(), VenueImageRow.provider)
    )
    return [
        {"provider": p, "error_type": e or "unknown_error", "status": s, "count": n}
        for p, e, s, n in session.execute(stmt)
    ]


def failure_classes(session: Session) -> dict[str, int]:
    """Venues with failures, failed images, and venues with transient / permanent / ambiguous failures."""
    failed = VenueImageRow.status.in_(FAILED_STATES)
    stmt = select(
        func.count(distinct(VenueImageRow.venue_id)),
        func.count(),
        func.count(distinct(case((VenueImageRow.error_class == ErrorClass.TRANSIENT, VenueImageRow.venue_id)))),
        func.count(distinct(case((VenueImageRow.error_class == ErrorClass.PERMANENT, VenueImageRow.venue_id)))),
        func.count(distinct(case((VenueImageRow.error_class == ErrorClass.AMBIGUOUS, VenueImageRow.venue_id)))),
    ).where(failed)
    venues, images, transient, permanent, ambiguous = session.execute(stmt).one()
    return {
        "venues_with_failures": venues,
        "failed_images": images,
        "venues_with_transient": transient,
        "venues_with_permanent": permanent,
        "venues_with_ambiguous": ambiguous,
    }


def partial_failure_venues(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """Venues with some images uploaded and some failed, ranked by the seeds' priority score:
    failed x 10 + failure rate % + 20 when any failure is transient."""
    is_failed = case((VenueImageRow.status.in_(FAILED_STATES), 1), else_=0)
    is_uploaded = case((VenueImageRow.status == ImageStatus.UPLOADED, 1), else_=0)
    is_transient = case(
        ((VenueImageRow.status == ImageStatus.FAILED) & (VenueImageRow.error_class == ErrorClass.TRANSIENT), 1), else_=0
    )
    agg = (
        select(
            VenueImageRow.venue_id.label("venue_id"),
            func.sum(is_failed).label("failed"),
            func.sum(is_uploaded).label("uploaded"),
            func.max(is_transient).label("transient"),
        )
        .group_by(VenueImageRow.venue_id)
        .subquery()
    )
    rate = 100.0 * agg.c.failed / func.nullif(agg.c.failed + agg.c.uploaded, 0)
    priority = agg.c.failed * 10 + rate + 20 * agg.c.transient
    stmt = (
        select(
            VenueRow.id,
            VenueRow.name,
            VenueRow.city_slug,
            agg.c.failed,
            agg.c.uploaded,
            rate.label("rate"),
            agg.c.transient,
            priority.label("priority"),
        )
        .join(agg, agg.c.venue_id == VenueRow.id)
        .where(agg.c.failed > 0, agg.c.uploaded > 0)
        .order_by(priority.desc(), VenueRow.id)
        .limit(limit)
    )
    return [
        {
            "venue_id": vid,
            "name": name,
            "city": city,
            "failed": int(failed),
            "uploaded": int(uploaded),
            "failure_rate_pct": round(float(rate), 1),
            "has_transient": bool(transient),
            "priority": round(float(prio), 1),
        }
        for vid, name, city, failed, uploaded, rate, transient, prio in session.execute(stmt)
    ]


def coverage_by_city(session: Session) -> list[dict[str, Any]]:
    """Per city: venues, venues with an uploaded image, venues with two or more provider IDs."""
    with_images = (
        select(VenueImageRow.venue_id).where(VenueImageRow.status == ImageStatus.UPLOADED).distinct().subquery()
    )
    id_counts = (
        select(ProviderIdRow.venue_id, func.count().label("n"))
        .where(ProviderIdRow.status == IdStatus.MATCHED)
        .group_by(ProviderIdRow.venue_id)
        .subquery()
    )
    stmt = (
        select(
            VenueRow.city_slug,
            func.count(VenueRow.id),
            func.count(with_images.c.venue_id),
            func.sum(case((id_counts.c.n >= 2, 1), else_=0)),
        )
        .outerjoin(with_images, with_images.c.venue_id == VenueRow.id)
        .outerjoin(id_counts, id_counts.c.venue_id == VenueRow.id)
        .group_by(VenueRow.city_slug)
        .order_by(VenueRow.city_slug)
    )
    out = []
    for city, venues, imaged, multi in session.execute(stmt):
        out.append(
            {
                "city": city,
                "venues": venues,
                "with_images": imaged,
                "coverage_pct": round(100.0 * imaged / venues, 1) if venues else 0.0,
                "with_2plus_ids": int(multi or 0),
            }
        )
    return out


def retry_stats(session: Session) -> dict[str, Any]:
    """Retry success rate and retries per venue, from upload_attempts."""
    ok = func.sum(case((UploadAttemptRow.outcome == ImageStatus.UPLOADED, 1), else_=0))
    total, succeeded = session.execute(
        select(func.count(), ok).where(UploadAttemptRow.is_retry.is_(True))
    ).one()
    venues = session.scalar(
        select(func.count(distinct(VenueImageRow.venue_id)))
        .select_from(UploadAttemptRow)
        .join(VenueImageRow, VenueImageRow.id == UploadAttemptRow.image_id)
        .where(UploadAttemptRow.is_retry.is_(True))
    )
    total = int(total or 0)
    return {
        "retry_attempts": total,
        "retry_successes": int(succeeded or 0),
        "retry_success_rate_pct": round(100.0 * int(succeeded or 0) / total, 1) if total else None,
        "retries_per_venue": round(total / venues, 2) if venues else 0.0,
    }


def cost_and_health(session: Session, quotas: dict[str, int | None]) -> list[dict[str, Any]]:
    """Calls, errors, cost and today's quota use per provider (WARN at 80 %, ERROR at 95 % of a daily quota)."""
    today = utc_day()
    is_error = case((ApiCallRow.error_type.is_not(None), 1), else_=0)
    is_today = case((ApiCallRow.day == today, 1), else_=0)
    stmt = (
        select(
            ApiCallRow.provider,
            func.count(),
            func.sum(is_error),
            func.sum(ApiCallRow.cost),
            func.sum(is_today),
        )
        .group_by(ApiCallRow.provider)
        .order_by(ApiCallRow.provider)
    )
    out = []
    for provider, calls, errors, cost, today_calls in session.execute(stmt):
        quota = quotas.get(provider)
        used = round(100.0 * int(today_calls or 0) / quota, 1) if quota else None
        level = "OK"
        if used is not None and used >= 95:
            level = "ERROR"
        elif used is not None and used >= 80:
            level = "WARN"
        out.append(
            {
                "provider": provider,
                "calls": calls,
                "errors": int(errors or 0),
                "cost_usd": round(float(cost or 0.0), 4),
                "calls_today": int(today_calls or 0),
                "daily_quota": quota,
                "quota_used_pct": used,
                "health": level,
            }
        )
    return out


def daily_trend(session: Session, days: int = 14) -> list[dict[str, Any]]:
    """Upload attempts per day by outcome, newest last."""
    started = UploadAttemptRow.started_at
    if session.get_bind().dialect.name == "postgresql":  # UTC days, whatever the server's time zone
        started = func.timezone("UTC", started)
    day = func.date(started)
    ok = func.sum(case((UploadAttemptRow.outcome == ImageStatus.UPLOADED, 1), else_=0))
    stmt = select(day, func.count(), ok).group_by(day).order_by(day.desc()).limit(days)
    rows = [
        {"day": str(d)[:10], "attempts": n, "uploaded": int(u or 0), "failed": n - int(u or 0)}
        for d, n, u in session.execute(stmt)
    ]
    return list(reversed(rows))


def run_failures(session: Session) -> int:
    return int(session.scalar(select(func.count(RunFailureRow.id))) or 0)


def save_snapshot(session: Session, summary: dict[str, Any], run_id: str | None) -> int:
    row = FailureReportRow(created_at=datetime.now(timezone.utc), run_id=run_id, summary=summary)
    session.add(row)
    session.flush()
    return row.id


def record_run_failure(
    session: Session,
    run_id: str,
    job_name: str,
    partition_key: str | None,
    message: str | None,
    now: datetime | None = None,
) -> bool:
    """Records a failed Dagster run once (by run id); False when it was already recorded."""
    if session.scalar(select(RunFailureRow.id).where(RunFailureRow.run_id == run_id)) is not None:
        return False
    session.add(
        RunFailureRow(
            run_id=run_id,
            job_name=job_name,
            partition_key=partition_key,
            message=(message or "")[:2000],
            failed_at=now or datetime.now(timezone.utc),
        )
    )
    session.flush()
    return True


def stale_transient_failures(session: Session, older_than_hours: int = 24) -> int:
    """Transient failures still unresolved on images found more than `older_than_hours` ago."""
    cutoff = datetime.now(timezone.utc) - timedelta(hours=older_than_hours)
    return int(
        session.scalar(
            select(func.count())
            .select_from(VenueImageRow)
            .where(
                VenueImageRow.status == ImageStatus.FAILED,
                VenueImageRow.error_class == ErrorClass.TRANSIENT,
                VenueImageRow.discovered_at < cutoff,
            )
        )
        or 0
    )


def failed_images(session: Session, limit: int | None = None) -> list[dict[str, Any]]:
    """Every failed or retired image with its venue and error details, for the CSV export."""
    stmt = (
        select(
            VenueImageRow.id,
            VenueImageRow.venue_id,
            VenueRow.name,
            VenueRow.city_slug,
            VenueImageRow.provider,
            VenueImageRow.status,
            VenueImageRow.error_type,
            VenueImageRow.error_class,
            VenueImageRow.status_code,
            VenueImageRow.attempts,
            VenueImageRow.next_retry_at,
            VenueImageRow.error_message,
        )
        .join(VenueRow, VenueRow.id == VenueImageRow.venue_id)
        .where(VenueImageRow.status.in_(FAILED_STATES))
        .order_by(VenueImageRow.venue_id, VenueImageRow.id)
    )
    if limit:
        stmt = stmt.limit(limit)
    keys = ("image_id", "venue_id", "venue", "city", "provider", "status", "error_type", "error_class",
            "status_code", "attempts", "next_retry_at", "message")
    out = []
    for row in session.execute(stmt):
        item = dict(zip(keys, row))
        item["next_retry_at"] = item["next_retry_at"].isoformat(timespec="seconds") if item["next_retry_at"] else ""
        out.append(item)
    return out


def latest_snapshot(session: Session) -> dict[str, Any] | None:
    row = session.scalars(select(FailureReportRow).order_by(FailureReportRow.id.desc()).limit(1)).first()
    return None if row is None else row.summary


@dataclass(frozen=True)
class CitySummary:
    """One city's state: venues, matched IDs per provider, images per status, venues with an uploaded image."""

    city: str
    venues: int
    matched_ids: dict[str, int] = field(default_factory=dict)
    images: dict[str, int] = field(default_factory=dict)
    venues_with_image: int = 0

    @property
    def discovered(self) -> int:
        return sum(self.images.values())

    @property
    def uploaded(self) -> int:
        return self.images.get(ImageStatus.UPLOADED, 0)

    @property
    def failed(self) -> int:
        """Failed images, retryable or retired."""
        return sum(self.images.get(status, 0) for status in FAILED_STATES)


def city_summary(session: Session, city_slug: str) -> CitySummary:
    """What the pipeline holds for one city (the demo's summary row)."""
    venue_ids = select(VenueRow.id).where(VenueRow.city_slug == city_slug)
    venues = session.scalar(select(func.count()).select_from(VenueRow).where(VenueRow.city_slug == city_slug))
    ids = session.execute(
        select(ProviderIdRow.provider, func.count())
        .where(ProviderIdRow.venue_id.in_(venue_ids), ProviderIdRow.status == IdStatus.MATCHED)
        .group_by(ProviderIdRow.provider)
    )
    statuses = session.execute(
        select(VenueImageRow.status, func.count())
        .where(VenueImageRow.venue_id.in_(venue_ids))
        .group_by(VenueImageRow.status)
    )
    with_image = session.scalar(
        select(func.count(func.distinct(VenueImageRow.venue_id))).where(
            VenueImageRow.venue_id.in_(venue_ids), VenueImageRow.status == ImageStatus.UPLOADED
        )
    )
    return CitySummary(
        city=city_slug,
        venues=int(venues or 0),
        matched_ids={p: int(n) for p, n in ids},
        images={status: int(n) for status, n in statuses},
        venues_with_image=int(with_image or 0),
    )


def failed_images_by_error_type(session: Session) -> list[tuple[str | None, int]]:
    """(error type, failed or retired images), most first."""
    stmt = (
        select(VenueImageRow.error_type, func.count())
        .where(VenueImageRow.status.in_(FAILED_STATES))
        .group_by(VenueImageRow.error_type)
        .order_by(func.count().desc())
    )
    return [(error_type, int(n)) for error_type, n in session.execute(stmt)]


def calls_by_provider(session: Session) -> list[tuple[str, int, float | None]]:
    """(provider, calls, total cost) over the whole api_calls ledger."""
    stmt = select(ApiCallRow.provider, func.count(), func.sum(ApiCallRow.cost)).group_by(ApiCallRow.provider)
    return [(provider, int(n), cost) for provider, n, cost in session.execute(stmt)]


def deferred_ids_by_provider(session: Session) -> list[tuple[str, int]]:
    """(provider, ID lookups deferred by a daily quota)."""
    stmt = (
        select(ProviderIdRow.provider, func.count())
        .where(ProviderIdRow.status == IdStatus.DEFERRED)
        .group_by(ProviderIdRow.provider)
    )
    return [(provider, int(n)) for provider, n in session.execute(stmt)]
