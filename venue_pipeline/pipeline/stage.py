"""The one scaffold every stage runs in: a clock, settings restricted to the requested providers, the async work
under `open_services`, the call and cost tallies, the progress line; and the summary fields all stages share."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any, TypeVar

from venue_pipeline.pipeline.common import progress_log
from venue_pipeline.services import Services, Settings, open_services

R = TypeVar("R")
S = TypeVar("S", bound="StageSummary")


@dataclass
class StageSummary:
    """What every stage reports: calls and list cost per provider, providers disabled for the run, duration.
    Each stage's summary is a subclass holding only its own fields."""

    calls: dict[str, int] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=dict)
    disabled: dict[str, str] = field(default_factory=dict)
    duration_s: float = 0.0

    def progress(self) -> str:
        """The stage's progress line (the scaffold adds the duration)."""
        raise NotImplementedError(type(self).__name__)


def restrict_providers(settings: Settings, providers: Sequence[str] | None) -> Settings:
    """A copy of the settings limited to the requested providers (empty means all)."""
    if not providers:
        return settings
    unknown = set(providers) - set(settings.providers)
    if unknown:
        raise ValueError(f"unknown providers {sorted(unknown)}; known: {list(settings.providers)}")
    return replace(settings, providers=tuple(p for p in settings.providers if p in providers))


def call_costs(services: Services) -> dict[str, float]:
    """The list price of the calls this run recorded, per provider."""
    costs: Counter[str] = Counter()
    for call in services.ledger.recorded:
        costs[call.provider] += call.cost
    return {k: round(v, 4) for k, v in sorted(costs.items())}


def call_counts(services: Services) -> dict[str, int]:
    """How many calls this run recorded, per provider."""
    return dict(sorted(Counter(c.provider for c in services.ledger.recorded).items()))


class StageRun:
    """One run of a stage: started when built (the duration clock), with its provider-restricted settings, run id
    and the caller's injected time `now` (None: real time), which the call ledger then stamps and counts quota
    days by."""

    def __init__(
        self, settings: Settings, providers: Sequence[str] | None, run_id: str | None, now: datetime | None = None
    ) -> None:
        self.t0 = time.monotonic()
        self.settings = restrict_providers(settings, providers)
        self.run_id = run_id
        self.now = now

    def clock(self) -> Callable[[], datetime] | None:
        """The ledger's clock: the injected time held for the whole stage (a simulated stage is instantaneous)."""
        now = self.now
        return None if now is None else (lambda: now)

    def work(self, summary: StageSummary, work: Callable[[Services], Awaitable[R]]) -> R:
        """Opens the services, runs `work(services)` to its end, fills the summary's calls, cost and disabled
        providers (those the services disabled; a stage adds the ones its core disabled) and returns the result."""

        async def go() -> tuple[R, dict[str, int], dict[str, float], dict[str, str]]:
            async with open_services(self.settings, self.run_id, clock=self.clock()) as services:
                try:
                    result = await work(services)
                except BaseException:
                    await _stop_in_flight()
                    raise
                return result, call_counts(services), call_costs(services), dict(services.disabled)

        result, summary.calls, summary.cost, disabled = asyncio.run(go())
        summary.disabled.update(disabled)
        return result

    def finish(self, summary: S) -> S:
        """Stamps the duration and logs the stage's progress line with it."""
        summary.duration_s = round(time.monotonic() - self.t0, 2)
        progress_log.info("%s (%.1fs)", summary.progress(), summary.duration_s)
        return summary


async def _stop_in_flight() -> None:
    """When the work fails, the transfers still running are cancelled before the services close: none of them
    may end as a failure of its own (a closed HTTP client) and be recorded as one."""
    current = asyncio.current_task()
    others = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


def merge(summaries: Sequence[S]) -> S:
    """Adds up summaries of one kind (a multi-city backfill run): numbers sum, per-key counts sum, lists join."""
    if not summaries:
        raise ValueError("nothing to merge")
    first = summaries[0]
    if len(summaries) == 1:
        return first
    out = replace(first)
    for f in fields(first):
        setattr(out, f.name, _merged([getattr(s, f.name) for s in summaries]))
    return out


def _merged(values: list[Any]) -> Any:
    head = values[0]
    if isinstance(head, bool):
        return any(values)
    if isinstance(head, (int, float)):
        return round(sum(values), 4) if isinstance(head, float) else sum(values)
    if isinstance(head, dict) and all(isinstance(v, (int, float)) for d in values for v in d.values()):
        acc: Counter[str] = Counter()
        for d in values:
            acc.update(d)
        return dict(sorted(acc.items()))
    if isinstance(head, dict):
        return {k: v for d in values for k, v in d.items()}
    if isinstance(head, list):
        return [item for v in values for item in v]
    return " ".join(str(v) for v in values if v)
