"""Copies stored photos to the image CDN from their references, as many at once as each photo source and the CDN
show they take (core/adaptive.py), not a fixed number."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timezone

import httpx

from venue_pipeline.core.adaptive import OVERLOAD_ERRORS, AdaptiveLimit, Slot, TransferLimits
from venue_pipeline.core.cdn_paths import cdn_path, extension_for
from venue_pipeline.core.download import download_photo
from venue_pipeline.core.errors import DownloadError, ErrorClass, ErrorType, PipelineError, classify
from venue_pipeline.core.gallery import ImageTask, UploadOutcome
from venue_pipeline.core.ports import PHOTO_ENDPOINT, ApiCall, CallLedger, ImageStore, PhotoRef, ProviderClient

MAX_DOWNLOAD_BYTES = 15_000_000


def photo_cost(client: ProviderClient) -> float:
    """The provider's list price of one photo fetch (Google bills Place Photo per request)."""
    cost = getattr(client, "cost", None)
    return float(cost("photo")) if callable(cost) else float(client.settings.costs.get("photo", 0.0))


@asynccontextmanager
async def _held(limit: AdaptiveLimit | None) -> AsyncIterator[Slot]:
    """A slot of the limit (timed, and marked overloaded when the work inside fails with an overload answer)."""
    if limit is None:
        yield Slot()
        return
    async with limit.slot() as slot:
        try:
            yield slot
        except PipelineError as exc:
            if slot.stopped_at is None:  # an error after stop() belongs to the next slot's work
                slot.overloaded = exc.error_type.value in OVERLOAD_ERRORS
            raise


def _failure(task: ImageTask, started: datetime, t0: float, exc: PipelineError) -> UploadOutcome:
    return UploadOutcome(
        image_id=task.image_id,
        provider=task.provider,
        ok=False,
        started_at=started,
        duration_ms=int((time.monotonic() - t0) * 1000),
        error_type=exc.error_type.value,
        status_code=exc.status_code,
        message=str(exc),
    )


def photo_rate_caps(clients: Mapping[str, ProviderClient]) -> dict[str, float]:
    """Requests per second each provider allows on its photo endpoint, for providers that bill photo requests
    (Google's Place Photo is a Places call under the provider's rate; CDN-hosted photos are not rate-limited)."""
    return {name: float(c.settings.rate_per_second) for name, c in clients.items() if photo_cost(c) > 0}


async def upload_one(
    task: ImageTask,
    client: ProviderClient,
    http: httpx.AsyncClient,
    store: ImageStore,
    *,
    ledger: CallLedger | None = None,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    max_px: int = 1600,
    photo_limit: AdaptiveLimit | None = None,
    cdn_limit: AdaptiveLimit | None = None,
) -> UploadOutcome:
    """Download from the provider's photo hosts only, check it is an image, put it at its deterministic path; the
    download holds a slot of photo_limit and the put one of cdn_limit (each measured on its own)."""
    started = datetime.now(timezone.utc)
    t0 = time.monotonic()
    ref = PhotoRef(task.provider, task.photo_key, task.reference, task.width, task.height)
    status_code: int | None = None
    error_type: str | None = None
    try:
        async with AsyncExitStack() as slots:
            fetching = await slots.enter_async_context(_held(photo_limit))
            # a billed photo (Google) takes its provider's quota and rate like an API call; QuotaExhausted, raised
            # before any request and recording none, ends as a transient failure retried from the stored reference
            turn = await client.photo_turn()
            started, t0 = datetime.now(timezone.utc), time.monotonic()  # waiting for slot and turn is not the transfer
            try:
                try:
                    request = client.photo_request(ref, max_px=max_px)
                except httpx.InvalidURL as exc:  # a stored reference that is no URL (http://0177.0.0.1/...): final
                    raise DownloadError(ErrorType.BAD_REQUEST, f"photo reference is not a valid URL: {exc}"[:300]) from exc
                image = await download_photo(http, request, allowed_hosts=client.photo_hosts, max_bytes=max_bytes)
            except PipelineError as exc:
                status_code, error_type = exc.status_code, exc.error_type.value
                raise
            finally:
                if turn is not None or (ledger is not None and photo_cost(client) > 0):  # billed photos only
                    call = ApiCall(
                        provider=task.provider,
                        endpoint=PHOTO_ENDPOINT,
                        status_code=status_code if error_type else 200,
                        error_type=error_type,
                        cost=photo_cost(client) if error_type is None else 0.0,
                        duration_ms=int((time.monotonic() - t0) * 1000),
                        called_at=started,
                    )
                    if turn is not None:
                        turn.finish(call)  # the limiter's ledger row (written ahead when shared)
                    elif ledger is not None:
                        ledger.record(call)
            fetching.stop()
            path = cdn_path(task.venue_slug, task.provider, task.photo_key, extension_for(image.format))
            # the CDN slot is taken before the photo slot is given back: downloaded images wait in their photo
            # slots (a bounded number) instead of piling up in memory when the CDN is the slower side
            await slots.enter_async_context(_held(cdn_limit))
            stored = await store.put(path, image.data, image.content_type)
    except PipelineError as exc:
        return _failure(task, started, t0, exc)
    except Exception as exc:  # a bug or an unforeseen library error must still end as a recorded status
        return _failure(task, started, t0, PipelineError(ErrorType.UNKNOWN_ERROR, f"{type(exc).__name__}: {exc}"))
    return UploadOutcome(
        image_id=task.image_id,
        provider=task.provider,
        ok=True,
        started_at=started,
        duration_ms=int((time.monotonic() - t0) * 1000),
        cdn_url=stored.url,
        cdn_path=stored.path,
        width=image.width,
        height=image.height,
    )


class Transfers:
    """One stage's uploads, handed in as they become known (a venue at a time in the pipelined city flow, or all at
    once in `upload_images`); every transfer starts at once and waits only for its own photo source's and the CDN's
    adaptive limits. `finish` waits for them and gives transient failures one more try from the stored reference."""

    def __init__(
        self,
        clients: Mapping[str, ProviderClient],
        http: httpx.AsyncClient,
        store: ImageStore,
        *,
        ledger: CallLedger | None = None,
        limits: TransferLimits | None = None,
        on_outcome: Callable[[UploadOutcome], None] | None = None,
    ) -> None:
        self.clients, self.http, self.store, self.ledger, self.on_outcome = clients, http, store, ledger, on_outcome
        self.limits = limits if limits is not None else TransferLimits(rate_caps=photo_rate_caps(clients))
        self.outcomes: list[UploadOutcome] = []
        self.skipped: list[ImageTask] = []
        self.runnable: list[ImageTask] = []
        self.running: set[asyncio.Task[None]] = set()

    async def _one(self, task: ImageTask) -> None:
        outcome = await upload_one(
            task, self.clients[task.provider], self.http, self.store, ledger=self.ledger,
            photo_limit=self.limits.photo(task.provider), cdn_limit=self.limits.cdn,
        )
        self.outcomes.append(outcome)
        if self.on_outcome is not None:
            self.on_outcome(outcome)

    def add(self, tasks: Sequence[ImageTask]) -> None:
        """Starts the tasks whose provider is enabled; the others are kept as skipped (provider disabled)."""
        for task in tasks:
            if task.provider not in self.clients:
                self.skipped.append(task)
                continue
            self.runnable.append(task)
            running = asyncio.create_task(self._one(task))
            self.running.add(running)
            running.add_done_callback(self.running.discard)

    async def finish(
        self, *, in_run_retry: bool = True, in_run_retry_pause_s: float = 1.0
    ) -> tuple[list[UploadOutcome], list[ImageTask]]:
        """Waits for every transfer, retries transient failures once after a pause; returns outcomes and skips."""
        while self.running:
            await asyncio.gather(*list(self.running))
        if in_run_retry:
            # one more try for transient failures after a short pause: same stored reference, no provider API call
            transient = {o.image_id for o in self.outcomes if not o.ok and classify(o.error_type) is ErrorClass.TRANSIENT}
            if transient:
                await asyncio.sleep(in_run_retry_pause_s)
                await asyncio.gather(*(self._one(t) for t in self.runnable if t.image_id in transient))
        self.outcomes.sort(key=lambda o: (o.image_id, o.started_at))
        return self.outcomes, self.skipped


async def upload_images(
    tasks: Sequence[ImageTask],
    clients: Mapping[str, ProviderClient],
    http: httpx.AsyncClient,
    store: ImageStore,
    *,
    ledger: CallLedger | None = None,
    limits: TransferLimits | None = None,
    on_outcome: Callable[[UploadOutcome], None] | None = None,
    in_run_retry: bool = True,
    in_run_retry_pause_s: float = 1.0,
) -> tuple[list[UploadOutcome], list[ImageTask]]:
    """Uploads every task whose provider is enabled; returns outcomes and the tasks skipped (provider disabled).
    Concurrency per photo source and for the CDN adapts to what they answer (pass `limits` to read the sizes
    reached afterwards; by default a provider whose photos are billed is capped at its rate x latency)."""
    transfers = Transfers(clients, http, store, ledger=ledger, limits=limits, on_outcome=on_outcome)
    transfers.add(tasks)
    return await transfers.finish(in_run_retry=in_run_retry, in_run_retry_pause_s=in_run_retry_pause_s)
