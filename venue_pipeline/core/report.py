"""The failure report: one snapshot of gallery health, assembled from the store's SQL aggregates."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.orm import Session

from venue_pipeline.store import reports


def build_report(session: Session, quotas: Mapping[str, int | None], top: int = 20) -> dict[str, Any]:
    """Everything an operator asks of the failure report, as plain JSON-able data."""
    statuses = reports.status_counts(session)
    classes = reports.failure_classes(session)
    return {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "images_by_status": statuses,
        "total_images": sum(statuses.values()),
        **classes,
        "failures_by_provider_and_type": reports.failures_by_provider_and_type(session),
        "partial_failure_venues": reports.partial_failure_venues(session, limit=top),
        "coverage_by_city": reports.coverage_by_city(session),
        "retries": reports.retry_stats(session),
        "providers": reports.cost_and_health(session, dict(quotas)),
        "daily_trend": reports.daily_trend(session),
        "failed_runs": reports.run_failures(session),
    }


def due_retryable(report: Mapping[str, Any]) -> int:
    """Images still worth retrying (status failed: transient, or ambiguous with a retry left)."""
    return int(report.get("images_by_status", {}).get("failed", 0))
