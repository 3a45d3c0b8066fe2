"""The upload stage for a city: copy new and due photos to the CDN and record every attempt as it ends."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from venue_pipeline.core.adaptive import TransferLimits
from venue_pipeline.core.gallery import ImageTask
from venue_pipeline.core.reconcile import Reconciled
from venue_pipeline.core.statuses import ImageStatus
from venue_pipeline.core.upload import Transfers, photo_rate_caps
from venue_pipeline.pipeline.handoff import Handoff
from venue_pipeline.pipeline.stage import StageRun
from venue_pipeline.pipeline.transfers import OutcomeLog, TransferSummary, adopt_stored
from venue_pipeline.services import Services, Settings
from venue_pipeline.store import images as images_db
from venue_pipeline.store.db import session_scope


@dataclass
class UploadSummary(TransferSummary):
    """What the uploaded_images stage did."""

    images: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    failed_images: list[dict[str, Any]] = field(default_factory=list)
    skipped_disabled: int = 0
    thumbnails: list[tuple[str, str]] = field(default_factory=list)
    # most transfers at once per photo source and for the CDN, one list per city run (merged runs keep each city's)
    concurrency: list[tuple[str, int]] = field(default_factory=list)

    def progress(self) -> str:
        return (
            f"uploads: {self.attempted} attempts on {self.images} images, {sum(self.uploaded.values())} uploaded, "
            f"{sum(self.failed.values())} failed (will retry), {sum(self.retired.values())} permanently failed"
            f"{self.store_progress()}{self.concurrency_progress()}"
        )

    def concurrency_progress(self) -> str:
        """The concurrency each photo source and the CDN reached (sized by measurement, core/adaptive.py)."""
        if not self.concurrency:
            return ""
        return ", at most " + " / ".join(f"{k} {v}" for k, v in self.concurrency) + " at once"


def run_uploads(
    settings: Settings,
    city: str | None,
    *,
    venue_ids: Sequence[int] = (),
    image_ids: Sequence[int] = (),
    providers: Sequence[str] = (),
    statuses: Sequence[str] = (ImageStatus.PENDING, ImageStatus.FAILED),
    run_id: str | None = None,
    now: datetime | None = None,
    venues_from: Handoff | None = None,
) -> UploadSummary:
    """Copies the selected images to the CDN from their stored references and records every attempt; `now`
    (default: the real UTC time) decides which failures are due and stamps every outcome and ledger row. With
    `venues_from` (the pipelined flow) a venue's waiting images start as discovery hands them over: one provider's
    as soon as its listing is stored, the venue's other waiting images once all its providers answered."""
    run = StageRun(settings, providers, run_id, now)

    def waiting(venues: Sequence[int]) -> list[ImageTask]:
        with session_scope(run.settings.db_url) as session:
            return images_db.upload_tasks(
                session,
                city_slug=city,
                venue_ids=list(venues) or None,
                image_ids=list(image_ids) or None,
                statuses=statuses,
                due_before=(now or datetime.now(timezone.utc)) if ImageStatus.FAILED in statuses else None,
            )

    tasks = [] if venues_from is not None else waiting(venue_ids)
    log = OutcomeLog(
        run.settings.db_url, run_id, tried_before={t.image_id for t in tasks if t.attempts > 0}, now=now
    )

    summary = UploadSummary()

    async def transfer(services: Services) -> tuple[int, list[ImageTask]]:
        limits = TransferLimits(rate_caps=photo_rate_caps(services.clients))
        transfers = Transfers(
            services.clients, services.http, services.image_store,
            ledger=services.ledger, limits=limits, on_outcome=log,
        )
        reconciled: list[Reconciled] = []

        async def start(batch: list[ImageTask]) -> None:
            """Files a crashed run stored are adopted first (one listing per venue folder), the rest transferred."""
            log.tried_before.update(t.image_id for t in batch if t.attempts > 0)
            done = await adopt_stored(services, run.settings.db_url, batch, log, run.settings.providers)
            reconciled.append(done)
            transfers.add(done.remaining)

        if venues_from is None:
            await start(tasks)
        else:
            started: dict[int, set[str]] = {}  # per venue, the providers whose images were taken
            starting: list[asyncio.Task[None]] = []
            async for vid, provider in venues_from.parts():
                taken = started.setdefault(vid, set())
                batch = [
                    t for t in waiting([vid])
                    if t.provider not in taken and (provider is None or t.provider == provider)
                ]
                taken.update({provider} if provider is not None else {t.provider for t in batch})
                starting.append(asyncio.create_task(start(batch)))
            await asyncio.gather(*starting)
        summary.take(_joined(reconciled))
        outcomes, skipped = await transfers.finish()
        if outcomes:
            summary.concurrency = list(limits.peaks().items())
        return len(outcomes), skipped

    summary.attempted, skipped = run.work(summary, transfer)
    summary.skipped_disabled = len(skipped)
    tally = log.tally()
    summary.count(tally)
    summary.images, summary.failed = len(log.final), tally.failed
    for outcome, status in log.ended():
        if outcome.ok and outcome.cdn_path and len(summary.thumbnails) < 6:
            summary.thumbnails.append((outcome.cdn_path, outcome.cdn_url or ""))
        elif not outcome.ok and len(summary.failed_images) < 50:
            summary.failed_images.append(
                {
                    "image_id": outcome.image_id,
                    "provider": outcome.provider,
                    "error_type": outcome.error_type,
                    "status_code": outcome.status_code,
                    "status": status,
                }
            )
    return run.finish(summary)


def _joined(parts: Sequence[Reconciled]) -> Reconciled:
    """What reconciling every venue folder of the run did, as one."""
    return Reconciled(
        remaining=[t for p in parts for t in p.remaining],
        adopted=[o for p in parts for o in p.adopted],
        removed=[r for p in parts for r in p.removed],
        folders=sum(p.folders for p in parts),
        notes=[n for p in parts for n in p.notes],
    )
