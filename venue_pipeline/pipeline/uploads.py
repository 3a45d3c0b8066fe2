"""The upload stage for a city: copy new and due photos to the CDN and record every attempt."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from venue_pipeline.core.gallery import UploadOutcome
from venue_pipeline.core.statuses import ImageStatus
from venue_pipeline.core.upload import upload_images
from venue_pipeline.pipeline.common import (
    _calls,
    _cost,
    _restrict,
    progress_log,
    record_outcome,
)
from venue_pipeline.services import Settings, open_services
from venue_pipeline.store import images as image_store
from venue_pipeline.store.db import session_scope


@dataclass
class UploadSummary:
    """What the uploaded_images stage did."""

    attempted: int = 0
    images: int = 0
    uploaded: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    retired: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    failed_images: list[dict[str, Any]] = field(default_factory=list)
    skipped_disabled: int = 0
    disabled: dict[str, str] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=dict)
    thumbnails: list[tuple[str, str]] = field(default_factory=list)
    duration_s: float = 0.0


def run_uploads(
    settings: Settings,
    city: str | None,
    *,
    venue_ids: Sequence[int] = (),
    image_ids: Sequence[int] = (),
    providers: Sequence[str] = (),
    statuses: Sequence[str] = (ImageStatus.PENDING, ImageStatus.FAILED),
    run_id: str | None = None,
) -> UploadSummary:
    """Copies the selected images to the CDN from their stored references and records every attempt."""
    t0 = time.monotonic()
    settings = _restrict(settings, providers)
    with session_scope(settings.db_url) as session:
        tasks = image_store.upload_tasks(
            session,
            city_slug=city,
            venue_ids=list(venue_ids) or None,
            image_ids=list(image_ids) or None,
            statuses=statuses,
            due_before=datetime.now(timezone.utc) if ImageStatus.FAILED in statuses else None,
        )

    async def go() -> tuple[list[UploadOutcome], int, dict[str, int], dict[str, float], dict[str, str]]:
        async with open_services(settings, run_id) as services:
            outcomes, skipped = await upload_images(
                tasks, services.clients, services.http, services.image_store, ledger=services.ledger
            )
            return outcomes, len(skipped), _calls(services), _cost(services), services.disabled

    outcomes, skipped, calls, cost, disabled = asyncio.run(go())
    summary = UploadSummary(attempted=len(outcomes), skipped_disabled=skipped, calls=calls, cost=cost)
    summary.disabled = disabled
    uploaded: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    retired: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    tried_before = {t.image_id for t in tasks if t.attempts > 0}
    final: dict[int, tuple[UploadOutcome, str]] = {}
    for outcome in outcomes:
        is_retry = outcome.image_id in tried_before
        tried_before.add(outcome.image_id)
        status = record_outcome(settings.db_url, outcome, run_id=run_id, is_retry=is_retry)
        if status is not None:
            final[outcome.image_id] = (outcome, status)
    summary.images = len(final)
    for outcome, status in final.values():  # count each image once, by where it ended
        if outcome.ok:
            uploaded[outcome.provider] += 1
            if outcome.cdn_path and len(summary.thumbnails) < 6:
                summary.thumbnails.append((outcome.cdn_path, outcome.cdn_url or ""))
            continue
        failures[f"{outcome.provider}/{outcome.error_type}"] += 1
        if status == "permanently_failed":
            retired[outcome.provider] += 1
        else:
            failed[outcome.provider] += 1
        if len(summary.failed_images) < 50:
            summary.failed_images.append(
                {
                    "image_id": outcome.image_id,
                    "provider": outcome.provider,
                    "error_type": outcome.error_type,
                    "status_code": outcome.status_code,
                    "status": status,
                }
            )
    summary.uploaded, summary.failed, summary.retired = dict(uploaded), dict(failed), dict(retired)
    summary.failures = dict(sorted(failures.items()))
    summary.duration_s = round(time.monotonic() - t0, 2)
    progress_log.info(
        "uploads: %d attempts on %d images, %d uploaded, %d failed (will retry), %d permanently failed (%.1fs)",
        summary.attempted,
        summary.images,
        sum(uploaded.values()),
        sum(failed.values()),
        sum(retired.values()),
        summary.duration_s,
    )
    return summary
