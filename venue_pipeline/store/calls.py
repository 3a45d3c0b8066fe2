"""The api_calls ledger in the venue database: quotas read it, so they hold across runs, restarts and processes.

Nothing is buffered: a call the shared limiter paces (store/limiter.py) has its row written when its slot is
granted and finished when it ends; any other call (the CDN's) is inserted when it completes. A process killed
mid-run loses no completed call, and the calls it had in flight stay counted against the quota.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Engine, func, select

from venue_pipeline.core.ports import ApiCall
from venue_pipeline.store import limiter
from venue_pipeline.store.db import get_engine, in_memory
from venue_pipeline.store.limiter import Slot, utc_day
from venue_pipeline.store.schema import ApiCallRow

__all__ = ["DbCallLedger", "Slot", "utc_day"]

_SQLITE_WRITERS: dict[str, threading.Lock] = {}  # one per database file: every ledger of this process queues here
_WRITERS_LOCK = threading.Lock()


def _sqlite_writer(url: str) -> threading.Lock:
    with _WRITERS_LOCK:
        return _SQLITE_WRITERS.setdefault(url, threading.Lock())


class DbCallLedger:
    """A CallLedger that writes each call as it happens, tagged with the run id; also the store of the shared
    limiter (providers/limits.py SharedPacing), so every process sharing the database paces one provider together.

    `clock` (a stage's injected time, for a simulated year) stamps every call's `called_at` and quota day and
    decides which day `calls_today` counts; None is the real UTC time. Pacing always runs on the real clock.
    """

    def __init__(
        self, db_url: str, run_id: str | None = None, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.db_url = db_url
        self.run_id = run_id
        self.clock = clock
        self.recorded: list[ApiCall] = []  # this ledger's calls, for the run's summary (call counts and costs)
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._sqlite_writer: threading.Lock | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = get_engine(self.db_url)
        return self._engine

    @property
    def thread_safe(self) -> bool:
        """False for an in-memory SQLite database, whose tables only its one connection (thread) sees."""
        return not in_memory(self.db_url)

    @contextmanager
    def _writing(self) -> Iterator[Engine]:
        """SQLite has one writer at a time: this process's threads queue here rather than in SQLite's busy
        handler (which sleeps in steps of milliseconds), so its lock is contended only by other processes."""
        engine = self.engine
        if engine.dialect.name == "sqlite":
            if self._sqlite_writer is None:
                self._sqlite_writer = _sqlite_writer(str(engine.url))
            with self._sqlite_writer:
                yield engine
        else:
            yield engine

    def calls_today(self, provider: str) -> int:
        """Today's (UTC) rows of the provider in the store, written by any process, calls in flight included."""
        with self.engine.connect() as conn:
            stored = conn.execute(
                select(func.count(ApiCallRow.id)).where(ApiCallRow.provider == provider, ApiCallRow.day == utc_day(self._now()))
            ).scalar_one()
        return int(stored or 0)

    def _now(self) -> datetime | None:
        """The injected clock's time, None on the real clock."""
        return self.clock() if self.clock is not None else None

    def record(self, call: ApiCall) -> None:
        """Writes a call that did not go through the shared limiter (one short INSERT), as it completes."""
        now = self._now()
        if now is not None:
            call = replace(call, called_at=now)
        with self._writing() as engine:
            limiter.record_call(engine, call, self.run_id, finished=now)
        with self._lock:
            self.recorded.append(call)

    def flush(self) -> int:
        """Nothing is buffered any more (every call is written as it happens); kept for callers that flush."""
        return 0

    # -- the shared limiter's store (providers/limits.py SharedPacing) -------------------------------------------
    def take_slot(
        self, provider: str, endpoint: str, *, rate_per_second: float, daily_quota: int | None
    ) -> Slot:
        """Quota check, the provider's next slot and the call's row written ahead (store/limiter.take_slot)."""
        with self._writing() as engine:
            return limiter.take_slot(
                engine, provider, endpoint, rate_per_second=rate_per_second, daily_quota=daily_quota,
                run_id=self.run_id, stamp=self._now(),
            )

    def finish(self, call_id: int, call: ApiCall) -> None:
        """The outcome of a call whose row take_slot wrote."""
        now = self._now()
        if now is not None:
            call = replace(call, called_at=now)
        with self._writing() as engine:
            limiter.finish_call(engine, call_id, call, finished=now)
        with self._lock:
            self.recorded.append(call)

    def forget(self, call_id: int) -> None:
        """Drops the row of a granted call that was never sent."""
        with self._writing() as engine:
            limiter.forget_call(engine, call_id)

    def push_back(self, provider: str, seconds: float) -> None:
        """A Retry-After pause for every process: no slot of the provider earlier than `seconds` from now."""
        with self._writing() as engine:
            limiter.push_back(engine, provider, seconds)
