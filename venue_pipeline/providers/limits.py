"""Per-provider pacing (call slots, Retry-After pause) and the daily quota, so calls are scheduled, never slept on
one by one.

With a ledger that is also a SharedPacing store (the database's DbCallLedger, store/limiter.py), rates, quotas and
Retry-After pauses hold across every process and machine sharing that database: each call takes its slot and its
quota reservation in one short transaction, and its ledger row is written ahead, so a process that dies mid-call
leaves the call counted. Without one (tests and dry runs with a MemoryLedger) the limits hold in this process only:
an aiolimiter bucket and an in-flight counter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from aiolimiter import AsyncLimiter

from venue_pipeline.core.errors import QuotaExhausted
from venue_pipeline.core.ports import ApiCall, CallLedger

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limits:
    """A provider's request rate and daily call budget (None: no daily cap)."""

    rate_per_second: float
    daily_quota: int | None = None


# Plan presets (VENUE_PROVIDER_PLAN). Each number is a ceiling we pace ourselves under; a provider that
# throttles anyway answers 429 (with Retry-After), which pauses every task of that provider and is retried.
PLANS: tuple[str, ...] = ("paid", "free")
DEFAULT_PLAN = "paid"

# The free-tier numbers the pipeline started from (HERE 10/s; Geoapify 5/s and its 3,000 free credits a day;
# Foursquare 1/s and 500 calls a day; Google 50/s), kept as the "free" preset for accounts on free tiers.
FREE_LIMITS: dict[str, Limits] = {
    "here": Limits(rate_per_second=10.0, daily_quota=None),
    "geoapify": Limits(rate_per_second=5.0, daily_quota=3000),
    "foursquare": Limits(rate_per_second=1.0, daily_quota=500),
    "google_places": Limits(rate_per_second=50.0, daily_quota=None),
}

# What each provider publishes for its paid (pay-as-you-go / entry paid) plan:
PAID_LIMITS: dict[str, Limits] = {
    # HERE Base Plan (pay as you go): no RPS or daily cap is published on the public pages (the Base Plan
    # price list is customer-confidential; docs.here.com/policies/docs/limits-and-quotas only says an
    # exceeded quota answers 429/503). We keep the original 10/s and no daily cap. (The free Limited Plan is
    # stricter: 5 RPS for geocode and discover/search and 1,000 requests a day,
    # www.here.com/get-started/pricing/limited-plan-restrictions.)
    "here": Limits(rate_per_second=10.0, daily_quota=None),
    # Geoapify "API 10", the smallest paid plan: 12 requests/s and 10,000 credits a day (www.geoapify.com/pricing;
    # read via the API Evangelist summary of that page). Our geocode call is 1 credit and a Places call with
    # limit=20 is 1 credit (1 per 20 results), so credits = calls.
    "geoapify": Limits(rate_per_second=12.0, daily_quota=10000),
    # Foursquare Places API: 50 QPS across all endpoints for Pay-as-you-Go & Sandbox customers (100 for
    # Enterprise), no daily cap: usage is billed per call
    # (docs.foursquare.com/fsq-developers-places/reference/rate-limits, updated 2026-02-12).
    "foursquare": Limits(rate_per_second=50.0, daily_quota=None),
    # Google Places API (New): a per-minute quota per API method per Cloud project, its value shown and raised
    # in the Cloud console (developers.google.com/maps/documentation/places/web-service/usage-and-billing);
    # no fixed default is published there, and daily caps are optional, set by the project. We keep the
    # original 50/s (3,000 QPM); set GOOGLE_PLACES_RATE_PER_SECOND to your project's QPM / 60.
    "google_places": Limits(rate_per_second=50.0, daily_quota=None),
}

PLAN_LIMITS: dict[str, dict[str, Limits]] = {"paid": PAID_LIMITS, "free": FREE_LIMITS}


class GrantedSlot(Protocol):
    """A call slot from the shared store: the call's ledger row (written ahead) and the wait before sending."""

    @property
    def call_id(self) -> int: ...

    @property
    def delay_s(self) -> float: ...


@runtime_checkable
class SharedPacing(Protocol):
    """A store every process shares (store/calls.py DbCallLedger) that paces a provider's calls and holds its quota."""

    def take_slot(
        self, provider: str, endpoint: str, *, rate_per_second: float, daily_quota: int | None
    ) -> GrantedSlot:
        """Raises QuotaExhausted, or reserves the call (its row written ahead) and hands out its slot."""
        ...

    def finish(self, call_id: int, call: ApiCall) -> None: ...

    def forget(self, call_id: int) -> None: ...

    def push_back(self, provider: str, seconds: float) -> None: ...


class Turn:
    """A granted call: `finish` records its outcome once it has been sent (always exactly once)."""

    def finish(self, call: ApiCall) -> None:
        raise NotImplementedError


class _LocalTurn(Turn):
    def __init__(self, limiter: ProviderLimiter) -> None:
        self._limiter = limiter

    def finish(self, call: ApiCall) -> None:
        try:
            self._limiter._ledger.record(call)
        finally:
            self._limiter.release()


class _SharedTurn(Turn):
    def __init__(self, store: SharedPacing, call_id: int) -> None:
        self._store = store
        self.call_id = call_id

    def finish(self, call: ApiCall) -> None:
        self._store.finish(self.call_id, call)


def _bucket(rate_per_second: float) -> AsyncLimiter:
    """A leaky bucket of `rate_per_second`; below 1/s it allows one call per 1/rate seconds."""
    if rate_per_second <= 0:
        raise ValueError(f"rate_per_second must be positive, got {rate_per_second}")
    capacity = max(1.0, rate_per_second)
    return AsyncLimiter(capacity, capacity / rate_per_second)


class ProviderLimiter:
    """Everything that paces one provider, shared by all tasks of its client: across processes when the ledger is
    a SharedPacing store, else in this process.

    The daily quota is the ledger's count of today's calls (which holds across runs and restarts), calls in
    flight included: written-ahead rows in the shared store, else this process's attempts not yet recorded.
    """

    def __init__(
        self,
        provider: str,
        *,
        rate_per_second: float,
        daily_quota: int | None,
        ledger: CallLedger,
    ) -> None:
        self.provider = provider
        self.rate_per_second = rate_per_second
        self.daily_quota = daily_quota
        self._ledger = ledger
        self._bucket: AsyncLimiter | None = None
        self._bucket_loop: asyncio.AbstractEventLoop | None = None
        self._not_before = 0.0  # time.monotonic() before which nobody calls (Retry-After)
        self._in_flight = 0  # attempts reserved but not yet recorded in the ledger (in-process path)
        self._shared: SharedPacing | None = ledger if isinstance(ledger, SharedPacing) else None
        if self._shared is not None and rate_per_second <= 0:
            raise ValueError(f"rate_per_second must be positive, got {rate_per_second}")

    @property
    def shared(self) -> bool:
        """True when rate, quota and pauses hold across processes (the ledger is a shared store)."""
        return self._shared is not None

    # -- a call's turn ------------------------------------------------------------------------
    async def acquire(self, endpoint_kind: str) -> Turn:
        """Reserves one call against the daily quota (or raises QuotaExhausted before any request) and waits
        for its turn; the caller sends it and then calls `finish` on the returned Turn."""
        if self._shared is None:
            self.reserve()
            try:
                await self.wait_turn()
            except BaseException:
                self.release()
                raise
            return _LocalTurn(self)
        await self._wait_pause()
        slot = await self._take_shared_slot(endpoint_kind)
        try:
            if slot.delay_s > 0:
                await asyncio.sleep(slot.delay_s)
            await self._wait_pause()  # a Retry-After that arrived while this call waited for its slot
        except BaseException:
            self._shared.forget(slot.call_id)  # never sent: its row goes, its slot stays unused
            raise
        return _SharedTurn(self._shared, slot.call_id)

    async def _take_shared_slot(self, endpoint_kind: str) -> GrantedSlot:
        """The store's transaction runs in a worker thread (it may wait for another process's lock); a caller
        cancelled meanwhile leaves no row behind."""
        assert self._shared is not None
        store = self._shared
        if not getattr(store, "thread_safe", True):  # e.g. an in-memory SQLite database: one connection, one thread
            return store.take_slot(
                self.provider, endpoint_kind, rate_per_second=self.rate_per_second, daily_quota=self.daily_quota
            )
        pending = asyncio.ensure_future(
            asyncio.to_thread(
                store.take_slot,
                self.provider,
                endpoint_kind,
                rate_per_second=self.rate_per_second,
                daily_quota=self.daily_quota,
            )
        )
        try:
            return await asyncio.shield(pending)
        except asyncio.CancelledError:

            def _forget(done: asyncio.Future[GrantedSlot]) -> None:
                if not done.cancelled() and done.exception() is None:
                    store.forget(done.result().call_id)

            pending.add_done_callback(_forget)
            raise

    async def _wait_pause(self) -> None:
        while (delay := self._not_before - time.monotonic()) > 0:
            await asyncio.sleep(delay)

    # -- quota -------------------------------------------------------------------------------
    def calls_used_today(self) -> int:
        """Calls counted against today's quota: the ledger's count plus attempts not yet recorded."""
        return self._ledger.calls_today(self.provider) + self._in_flight

    def reserve(self) -> None:
        """Holds one attempt against the daily quota, or raises QuotaExhausted before any request.

        Every reserve() is paired with a release() once the attempt is recorded in the ledger (or
        abandoned), so concurrent tasks cannot overrun the quota between check and record.
        """
        if self.daily_quota is not None and self.calls_used_today() >= self.daily_quota:
            raise QuotaExhausted(self.provider, self.daily_quota)
        self._in_flight += 1

    def release(self) -> None:
        """Ends a reservation: the attempt is now in the ledger's count, or was never sent."""
        self._in_flight = max(0, self._in_flight - 1)

    # -- pacing ------------------------------------------------------------------------------
    def pause_for(self, seconds: float) -> None:
        """Makes every task of this provider wait `seconds` from now (a Retry-After answer); with a shared store,
        every process's tasks (no slot is handed out before the pause ends)."""
        if seconds > 0:
            self._not_before = max(self._not_before, time.monotonic() + seconds)
            if self._shared is not None:
                try:
                    self._shared.push_back(self.provider, seconds)
                except Exception as exc:  # the pause still holds in this process
                    log.warning("%s: could not share a %.1f s Retry-After pause: %s", self.provider, seconds, exc)

    @property
    def paused_for(self) -> float:
        """Seconds left of the current Retry-After pause (0 when none)."""
        return max(0.0, self._not_before - time.monotonic())

    async def wait_turn(self) -> None:
        """In-process path: waits out any pause, then takes a token from the provider's bucket."""
        await self._wait_pause()
        await self._current_bucket().acquire()

    def _current_bucket(self) -> AsyncLimiter:
        """The bucket of the running event loop (aiolimiter must not be shared across loops)."""
        loop = asyncio.get_running_loop()
        if self._bucket is None or self._bucket_loop is not loop:
            self._bucket = _bucket(self.rate_per_second)
            self._bucket_loop = loop
        return self._bucket
