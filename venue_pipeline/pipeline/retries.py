"""The retry path: due failures from stored references only, expired Google references refreshed, circuits respected."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from venue_pipeline.core.errors import PipelineError
from venue_pipeline.core.gallery import ImageTask
from venue_pipeline.core.statuses import ImageStatus
from venue_pipeline.core.upload import upload_images
from venue_pipeline.pipeline.stage import StageRun
from venue_pipeline.pipeline.transfers import OutcomeLog, TransferSummary, adopt_stored
from venue_pipeline.services import Services, Settings
from venue_pipeline.store import images as images_db
from venue_pipeline.store.db import session_scope

GOOGLE_REFERENCE_LIFETIME = timedelta(hours=24)
REFERENCE_LIFETIMES = {"google_places": GOOGLE_REFERENCE_LIFETIME}


@dataclass
class RetrySummary(TransferSummary):
    """What a retry run did: uploads from stored references, references refreshed, circuits respected."""

    due: int = 0
    still_failed: dict[str, int] = field(default_factory=dict)
    reopened: int = 0
    references_refreshed: int = 0
    refresh_calls: dict[str, int] = field(default_factory=dict)
    skipped_open_circuit: dict[str, int] = field(default_factory=dict)
    circuit_note: str = ""

    def progress(self) -> str:
        return (
            f"retries: {self.due} due, {sum(self.uploaded.values())} uploaded, {sum(self.still_failed.values())} "
            f"still failing, {sum(self.retired.values())} retired, {self.references_refreshed} references refreshed"
            f"{self.store_progress()}"
        )


async def _refresh_references(
    services: Services, tasks: list[ImageTask], now: datetime, lifetimes: dict[str, timedelta]
) -> tuple[list[ImageTask], dict[int, tuple[str, int | None, int | None]], Counter[str]]:
    """Expired references (Google's are short-lived) get one details call per venue; the rest are untouched."""
    from dataclasses import replace as dc_replace

    stale: dict[tuple[str, str], list[ImageTask]] = {}
    for task in tasks:
        life = lifetimes.get(task.provider)
        fetched = task.reference_fetched_at
        if life and task.place_id and (fetched is None or now - fetched > life):
            stale.setdefault((task.provider, task.place_id), []).append(task)
    refreshed: dict[int, tuple[str, int | None, int | None]] = {}
    calls: Counter[str] = Counter()
    for (provider, place_id), group in stale.items():
        client = services.clients.get(provider)
        if client is None:
            continue
        calls[provider] += 1
        try:
            photos = {p.photo_key: p for p in await client.photos(place_id)}
        except PipelineError:
            continue
        for task in group:
            ref = photos.get(task.photo_key)
            if ref is not None:
                refreshed[task.image_id] = (ref.reference, ref.width, ref.height)
    out = [
        dc_replace(t, reference=refreshed[t.image_id][0], reference_fetched_at=now) if t.image_id in refreshed else t
        for t in tasks
    ]
    return out, refreshed, calls


def run_retries(
    settings: Settings,
    *,
    city: str | None = None,
    venue_ids: Sequence[int] = (),
    image_ids: Sequence[int] = (),
    providers: Sequence[str] = (),
    reopen_permanent: bool = False,
    max_images: int = 5000,
    run_id: str | None = None,
    now: datetime | None = None,
) -> RetrySummary:
    """Retries failed images whose next_retry_at has passed (explicit image ids: at once), from their stored
    references: no search, details or photo-list call, except one details call per venue to refresh expired
    Google references. Permanently failed images are only retried when an operator re-opens them. `now` (default:
    the real UTC time) decides what is due and which references expired, and stamps every outcome and call."""
    run = StageRun(settings, providers, run_id, now)
    clock_given = now is not None
    now = now or datetime.now(timezone.utc)
    summary = RetrySummary()
    with session_scope(run.settings.db_url) as session:
        if reopen_permanent:
            summary.reopened = images_db.reopen(
                session, city_slug=city, venue_ids=list(venue_ids) or None, image_ids=list(image_ids) or None
            )
        tasks = images_db.upload_tasks(
            session,
            city_slug=city,
            venue_ids=list(venue_ids) or None,
            image_ids=list(image_ids) or None,
            statuses=(ImageStatus.FAILED,),
            due_before=None if image_ids else now,
            providers=list(run.settings.providers),
        )[:max_images]
        state = circuit_state(session)
    summary.due = len(tasks)
    open_targets = set(state.auth_open)
    if open_targets:
        summary.circuit_note = state.reason
        cdn_target = "imagekit" if run.settings.image_store == "imagekit" else None
        blocked = [t for t in tasks if t.provider in open_targets or cdn_target in open_targets]
        for task in blocked:
            summary.skipped_open_circuit[task.provider] = summary.skipped_open_circuit.get(task.provider, 0) + 1
        tasks = [t for t in tasks if t not in blocked]
    log = OutcomeLog(run.settings.db_url, run_id, all_retries=True, now=now if clock_given else None)

    async def retry(services: Services) -> int:
        reconciled = await adopt_stored(services, run.settings.db_url, tasks, log, run.settings.providers)
        summary.take(reconciled)  # an adopted image needs neither a fresh reference nor a transfer
        fresh, refreshed, refresh_calls = await _refresh_references(
            services, reconciled.remaining, now, REFERENCE_LIFETIMES
        )
        with session_scope(run.settings.db_url) as session:  # stored before any transfer starts
            for image_id, (reference, width, height) in refreshed.items():
                images_db.update_reference(session, image_id, reference, width, height, now)
        summary.references_refreshed = len(refreshed)
        summary.refresh_calls = dict(refresh_calls)
        outcomes, _ = await upload_images(
            fresh, services.clients, services.http, services.image_store, ledger=services.ledger,
            on_outcome=log, in_run_retry=False,
        )
        return len(outcomes)

    if tasks:
        summary.attempted = run.work(summary, retry)
    tally = log.tally()
    summary.count(tally)
    summary.still_failed = tally.failed
    return run.finish(summary)


def circuit_state(session: Any) -> Any:
    """The breakers' state from the store (retry success rate since the last reset, auth failures)."""
    from venue_pipeline.core.circuit import MIN_ATTEMPTS, evaluate
    from venue_pipeline.store import circuits

    return evaluate(circuits.recent_retry_outcomes(session, MIN_ATTEMPTS), circuits.auth_failed_targets(session))
