"""Concurrency sized by measurement: how many transfers a photo host (or the CDN) gets at once is learnt from the
latencies and overload answers it gives, not fixed, because the right number depends on the round trip and on the
host's load (Little's law: in flight = throughput x latency), neither of which is known in advance.

The rule (TCP-like AIMD with a latency gradient, decided once per window of `limit` completions, about one round
of the slots in flight):
- an overload answer in the window (429, 502, 503, 504, a timeout): limit x `backoff` (0.7), slow start ends;
- else the window's median latency above `tolerance` x the baseline (and at least `min_rise_s` above it): the
  host queues, limit x 0.9 but not below `initial` (a busy local CPU raises latency too, and cutting below the
  starting point then only idles the other side), slow start ends;
- else, when the window used every slot (demand was there): limit x 2 during slow start, then limit + 1;
- always within [minimum, maximum], and with `rate_cap` (a host that bills and rate-limits each request, e.g.
  Google's photo_media) at most rate_cap x latency, so the slots cannot together outrun the provider's
  documented rate (Little's law with the last window's median latency: N = rate x W keeps N / W at the rate);
  the baseline is the lowest latency seen, aged up 2 % a window so a stale low
  does not pin the limit down forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import statistics
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from venue_pipeline.core.errors import ErrorType

# Answers that mean "too much at once": shrink rather than retry harder.
OVERLOAD_ERRORS: frozenset[str] = frozenset(
    t.value
    for t in (
        ErrorType.RATE_LIMITED,
        ErrorType.SERVICE_UNAVAILABLE,
        ErrorType.GATEWAY_TIMEOUT,
        ErrorType.BAD_GATEWAY,
        ErrorType.NETWORK_TIMEOUT,
    )
)


@dataclass
class Slot:
    """One transfer holding a slot: mark it overloaded when the host answered 'too much at once'; stop() ends the
    measured part early (the slot can stay held, e.g. while the next stage's slot is awaited)."""

    clock: Callable[[], float] = time.monotonic
    overloaded: bool = False
    stopped_at: float | None = None

    def stop(self) -> None:
        if self.stopped_at is None:
            self.stopped_at = self.clock()


@dataclass
class AdaptiveLimit:
    """An asyncio concurrency limit that sizes itself from the latencies and overload answers of its slots."""

    name: str
    initial: int = 4
    minimum: int = 1
    maximum: int = 16
    tolerance: float = 2.0
    min_rise_s: float = 0.02
    backoff: float = 0.7
    rate_cap: float | None = None
    clock: Callable[[], float] = time.monotonic
    limit: float = field(init=False)
    in_flight: int = field(init=False, default=0)
    baseline_s: float | None = field(init=False, default=None)
    recent_s: float | None = field(init=False, default=None)  # the last window's median latency
    peak: int = field(init=False)
    decreases: int = field(init=False, default=0)
    completed: int = field(init=False, default=0)
    _slow_start: bool = field(init=False, default=True)
    _window: list[float] = field(init=False, default_factory=list)
    _window_overload: bool = field(init=False, default=False)
    _window_full: bool = field(init=False, default=False)
    # tasks waiting for a slot, first come first served; a slot is handed over by resolving the future, so a
    # release wakes one waiter, not all of them (hundreds of queued transfers otherwise all wake on every release)
    _waiters: deque[asyncio.Future[None]] = field(init=False, default_factory=deque)

    def __post_init__(self) -> None:
        if not 1 <= self.minimum <= self.initial <= self.maximum:
            raise ValueError(f"{self.name}: need 1 <= minimum <= initial <= maximum")
        self.limit = float(self.initial)
        self.peak = self.initial

    @property
    def current(self) -> int:
        """Slots that may be held at once now."""
        return max(self.minimum, min(self._top(), int(self.limit)))

    def _top(self) -> int:
        """The maximum, or fewer under the rate cap: rate_cap x the last window's median latency."""
        if self.rate_cap is None or self.recent_s is None:
            return self.maximum
        return max(self.minimum, min(self.maximum, math.floor(round(self.rate_cap * self.recent_s, 6))))

    def _take(self) -> None:
        self.in_flight += 1
        if self.in_flight >= self.current:
            self._window_full = True

    def _hand_over(self) -> None:
        """Gives free slots to the waiters in arrival order (the limit may just have grown or shrunk)."""
        while self._waiters and self.in_flight < self.current:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._take()
                waiter.set_result(None)

    async def _acquire(self) -> None:
        if self.in_flight < self.current and not self._waiters:
            self._take()
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a slot just as it was cancelled: pass it on
                self.in_flight -= 1
                self._hand_over()
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Slot]:
        """Waits for a free slot, times what runs inside it and feeds the rule (cancelled work is not measured)."""
        await self._acquire()
        held = Slot(self.clock)
        started = self.clock()
        measured = False
        try:
            yield held
            measured = True
        except Exception:
            measured = True
            raise
        finally:
            if measured:
                ended = held.stopped_at if held.stopped_at is not None else self.clock()
                self.record(ended - started, overloaded=held.overloaded)
            self.in_flight -= 1
            self._hand_over()

    def record(self, latency_s: float, *, overloaded: bool = False) -> None:
        """One completed transfer; closes the window and applies the rule after `limit` of them."""
        self.completed += 1
        self._window.append(latency_s)
        self._window_overload = self._window_overload or overloaded
        if len(self._window) >= self.current:
            self._decide()

    def _decide(self) -> None:
        window_min, median = min(self._window), statistics.median(self._window)
        aged = self.baseline_s * 1.02 if self.baseline_s is not None else window_min
        self.baseline_s = min(aged, window_min)
        self.recent_s = median
        self.limit = min(self.limit, float(self._top()))
        queueing = median > self.tolerance * self.baseline_s and median - self.baseline_s > self.min_rise_s
        if self._window_overload or queueing:
            if self._window_overload:
                self.limit = max(float(self.minimum), self.limit * self.backoff)
            else:  # latency alone never takes it below where it started: a busy CPU looks like a queueing host
                self.limit = max(min(self.limit, float(self.initial)), self.limit * 0.9)
            self._slow_start = False
            self.decreases += 1
        elif self._window_full:
            self.limit = min(float(self._top()), self.limit * 2 if self._slow_start else self.limit + 1)
        self.peak = max(self.peak, self.current)
        self._window, self._window_overload, self._window_full = [], False, self.in_flight >= self.current
        # the release that follows every record() in slot() hands the new number of slots out

    def describe(self) -> str:
        """peak / final limit and decreases, for progress lines and metadata."""
        return f"{self.name} peak {self.peak}, now {self.current}, {self.decreases} decreases"


@dataclass
class TransferLimits:
    """The upload stage's limits: one per photo source (each provider's photo hosts) and one for the CDN."""

    photo_initial: int = 4
    photo_maximum: int = 16
    cdn_initial: int = 8
    cdn_maximum: int = 16
    rate_caps: dict[str, float] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    photos: dict[str, AdaptiveLimit] = field(default_factory=dict)
    cdn: AdaptiveLimit = field(init=False)

    def __post_init__(self) -> None:
        self.cdn = AdaptiveLimit("cdn", self.cdn_initial, maximum=self.cdn_maximum, clock=self.clock)

    def photo(self, provider: str) -> AdaptiveLimit:
        """The provider's photo-host limit (created on first use, with its rate cap when it has one)."""
        if provider not in self.photos:
            self.photos[provider] = AdaptiveLimit(
                provider, self.photo_initial, maximum=self.photo_maximum, rate_cap=self.rate_caps.get(provider),
                clock=self.clock,
            )
        return self.photos[provider]

    def peaks(self) -> dict[str, int]:
        """The most slots each limit allowed at once during the run (photo hosts by provider, and 'cdn')."""
        return {**{name: lim.peak for name, lim in sorted(self.photos.items())}, "cdn": self.cdn.peak}

    def describe(self) -> str:
        return "; ".join(lim.describe() for lim in [*self.photos.values(), self.cdn])
