"""Plumbing the stages share: short retried transactions, provider restriction, call and cost tallies, merging."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy.exc import OperationalError

from venue_pipeline.core.gallery import UploadOutcome
from venue_pipeline.services import Services, Settings
from venue_pipeline.store import images as image_store
from venue_pipeline.store.db import session_scope

progress_log = logging.getLogger("venue_pipeline.progress")


def with_retry(db_url: str, work: Callable[[Any], Any], attempts: int = 4) -> Any:
    """Runs `work(session)` in its own transaction, again if the database chose it as a deadlock or
    serialization victim (concurrent runs on PostgreSQL touching the same venues)."""
    for attempt in range(1, attempts + 1):
        try:
            with session_scope(db_url) as session:
                return work(session)
        except OperationalError as exc:
            transient = any(w in str(exc).lower() for w in ("deadlock", "could not serialize", "database is locked"))
            if not transient or attempt == attempts:
                raise
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


def record_outcome(db_url: str, outcome: UploadOutcome, *, run_id: str | None, is_retry: bool) -> str | None:
    """One outcome, one short transaction, so parallel runs never hold locks on many images at once."""
    return with_retry(
        db_url, lambda session: image_store.apply_outcome(session, outcome, run_id=run_id, is_retry=is_retry)
    )


def _restrict(settings: Settings, providers: Sequence[str] | None) -> Settings:
    """A copy of the settings limited to the requested providers (empty means all)."""
    if not providers:
        return settings
    unknown = set(providers) - set(settings.providers)
    if unknown:
        raise ValueError(f"unknown providers {sorted(unknown)}; known: {list(settings.providers)}")
    return replace(settings, providers=tuple(p for p in settings.providers if p in providers))


def _cost(services: Services) -> dict[str, float]:
    costs: Counter[str] = Counter()
    for call in services.ledger.recorded:
        costs[call.provider] += call.cost
    return {k: round(v, 4) for k, v in sorted(costs.items())}


def _calls(services: Services) -> dict[str, int]:
    return dict(sorted(Counter(c.provider for c in services.ledger.recorded).items()))



def merge(summaries: Sequence[Any]) -> Any:
    """Adds up summaries of one kind (a multi-city backfill run): numbers sum, per-key counts sum, lists join."""
    if not summaries:
        raise ValueError("nothing to merge")
    first = summaries[0]
    if len(summaries) == 1:
        return first
    out = replace(first)
    for f in first.__dataclass_fields__:
        values = [getattr(s, f) for s in summaries]
        head = values[0]
        if isinstance(head, bool):
            merged: Any = any(values)
        elif isinstance(head, (int, float)):
            merged = round(sum(values), 4) if isinstance(head, float) else sum(values)
        elif isinstance(head, dict) and all(isinstance(v, (int, float)) for d in values for v in d.values()):
            acc: Counter[str] = Counter()
            for d in values:
                acc.update(d)
            merged = dict(sorted(acc.items()))
        elif isinstance(head, dict):
            merged = {k: v for d in values for k, v in d.items()}
        elif isinstance(head, list):
            merged = [item for v in values for item in v]
        else:
            merged = " ".join(str(v) for v in values if v)
        setattr(out, f, merged)
    return out
