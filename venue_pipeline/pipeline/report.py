"""The failure report: one snapshot of gallery health, assembled from the store's SQL aggregates."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.orm import Session

from venue_pipeline.core.report import TOP_RETRY_CONFIGS, retry_config_yaml
from venue_pipeline.core.statuses import ImageStatus
from venue_pipeline.pipeline.forecast import cost_rows
from venue_pipeline.store import reports


def build_report(session: Session, quotas: Mapping[str, int | None], top: int = 20) -> dict[str, Any]:
    """Everything an operator asks of the failure report, as plain JSON-able data."""
    statuses = reports.status_counts(session)
    classes = reports.failure_classes(session)
    total = sum(statuses.values())
    partial = reports.partial_failure_venues(session, limit=top)
    return {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "images_by_status": statuses,
        "total_images": total,
        **classes,
        "permanent_failure_rate_pct": round(100.0 * statuses.get(ImageStatus.PERMANENTLY_FAILED, 0) / total, 2) if total else 0.0,
        "transient_failures_older_than_24h": reports.stale_transient_failures(session, 24),
        "failures_by_provider_and_type": reports.failures_by_provider_and_type(session),
        "partial_failure_venues": partial,
        "retry_configs": [
            {"venue_id": v["venue_id"], "name": v["name"], "priority": v["priority"],
             "run_config": retry_config_yaml(v["venue_id"])}
            for v in partial[:TOP_RETRY_CONFIGS]
        ],
        "coverage_by_city": reports.coverage_by_city(session),
        "retries": reports.retry_stats(session),
        "providers": reports.cost_and_health(session, dict(quotas)),
        "daily_trend": reports.daily_trend(session),
        "failed_runs": reports.run_failures(session),
        "cost_per_venue_year": cost_rows(session, quotas),  # the ledger so far, the 365-day forecast beside it
    }
