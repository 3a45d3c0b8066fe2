"""The api_calls ledger in the venue database: quotas read it, so they hold across runs and restarts."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

from sqlalchemy import func, select

from venue_pipeline.core.ports import ApiCall
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import ApiCallRow


def utc_day(when: datetime | None = None) -> str:
    """Quota days are UTC days."""
    return (when or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%d")


class DbCallLedger:
    """A CallLedger that buffers calls in memory and writes them in batches, tagged with the run id."""

    def __init__(self, db_url: str, run_id: str | None = None, flush_every: int = 200) -> None:
        self.db_url = db_url
        self.run_id = run_id
        self.flush_every = flush_every
        self._pending: list[ApiCall] = []
        self._lock = threading.Lock()
        self.recorded: list[ApiCall] = []
        self._base: dict[tuple[str, str], int] = {}
        self._mine: dict[tuple[str, str], int] = {}

    def calls_today(self, provider: str) -> int:
        """Calls stored today before this ledger started, plus every call it recorded since (one query per day)."""
        day = utc_day()
        key = (provider, day)
        if key not in self._base:
            self.flush()
        with self._lock:
            if key not in self._base:
                with session_scope(self.db_url) as session:
                    stored = session.scalar(
                        select(func.count(ApiCallRow.id)).where(
                            ApiCallRow.provider == provider, ApiCallRow.day == day
                        )
                    )
                self._base[key] = int(stored or 0) - self._mine.get(key, 0)
            return self._base[key] + self._mine.get(key, 0)

    def record(self, call: ApiCall) -> None:
        with self._lock:
            self._pending.append(call)
            self.recorded.append(call)
            key = (call.provider, utc_day(call.called_at))
            self._mine[key] = self._mine.get(key, 0) + 1
            full = len(self._pending) >= self.flush_every
        if full:
            self.flush()

    def flush(self) -> int:
        """Writes buffered calls; returns how many."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        with session_scope(self.db_url) as session:
            session.add_all(
                ApiCallRow(
                    provider=c.provider,
                    endpoint=c.endpoint,
                    status_code=c.status_code,
                    error_type=c.error_type,
                    cost=c.cost,
                    duration_ms=c.duration_ms,
                    run_id=self.run_id,
                    called_at=c.called_at,
                    day=utc_day(c.called_at),
                )
                for c in batch
            )
        return len(batch)
