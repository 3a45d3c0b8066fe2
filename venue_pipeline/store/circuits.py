"""Circuit-breaker facts from the database: recent retry outcomes, auth failures per target, operator resets."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from venue_pipeline.core.statuses import ImageStatus
from venue_pipeline.store.schema import ApiCallRow, CircuitResetRow, UploadAttemptRow

RETRY_TARGET = "retries"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def last_reset(session: Session, target: str) -> datetime:
    return session.scalar(select(func.max(CircuitResetRow.reset_at)).where(CircuitResetRow.target == target)) or EPOCH


def reset(session: Session, target: str, note: str | None = None) -> datetime:
    """An operator closes a circuit: evidence from before now no longer counts."""
    now = datetime.now(timezone.utc)
    session.add(CircuitResetRow(target=target, reset_at=now, note=note))
    session.flush()
    return now


def recent_retry_outcomes(session: Session, window: int) -> list[bool]:
    """Outcomes (True = uploaded) of the last `window` retry attempts since the last reset, newest first."""
    since = last_reset(session, RETRY_TARGET)
    rows = session.scalars(
        select(UploadAttemptRow.outcome)
        .where(UploadAttemptRow.is_retry.is_(True), UploadAttemptRow.started_at > since)
        .order_by(UploadAttemptRow.started_at.desc(), UploadAttemptRow.id.desc())
        .limit(window)
    ).all()
    return [outcome == ImageStatus.UPLOADED for outcome in rows]


def auth_failed_targets(session: Session) -> dict[str, datetime]:
    """Targets (providers, the CDN) whose latest call since their last reset failed with auth_error.

    Index probes only (ix_api_calls_provider_day for the targets, ix_api_calls_provider_called_at for each one's
    latest calls), so a sensor tick costs the same with a million ledger rows as with a hundred."""
    out: dict[str, datetime] = {}
    for provider in _targets(session):
        at = session.scalar(select(func.max(ApiCallRow.called_at)).where(ApiCallRow.provider == provider))
        if at is None:
            continue
        errors = session.scalars(
            select(ApiCallRow.error_type).where(ApiCallRow.provider == provider, ApiCallRow.called_at == at)
        ).all()
        if any(e in ("auth_error", "missing_api_key") for e in errors) and at > last_reset(session, f"auth:{provider}"):
            out[provider] = at
    return out


def _targets(session: Session) -> list[str]:
    """Every provider in the ledger, one index probe each (a skip scan: min above the previous one)."""
    found: list[str] = []
    while True:
        stmt = select(func.min(ApiCallRow.provider))
        if found:
            stmt = stmt.where(ApiCallRow.provider > found[-1])
        provider = session.scalar(stmt)
        if provider is None:
            return found
        found.append(provider)
