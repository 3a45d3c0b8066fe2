"""A CallLedger kept in memory, for tests and dry runs that have no database."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

from venue_pipeline.core.ports import ApiCall


class MemoryLedger:
    """Records ApiCalls in a list and counts today's (UTC) calls per provider, like the store does."""

    def __init__(self, calls: list[ApiCall] | None = None) -> None:
        self._lock = threading.Lock()
        self._calls: list[ApiCall] = list(calls or [])

    def record(self, call: ApiCall) -> None:
        with self._lock:
            self._calls.append(call)

    def calls_today(self, provider: str) -> int:
        today = datetime.now(timezone.utc).date()
        with self._lock:
            return sum(
                1
                for c in self._calls
                if c.provider == provider and c.called_at.astimezone(timezone.utc).date() == today
            )

    @property
    def calls(self) -> list[ApiCall]:
        """A snapshot of every recorded call, oldest first."""
        with self._lock:
            return list(self._calls)

    def total_cost(self, provider: str | None = None) -> float:
        """What the recorded calls cost, for one provider or all."""
        return sum(c.cost for c in self.calls if provider is None or c.provider == provider)
