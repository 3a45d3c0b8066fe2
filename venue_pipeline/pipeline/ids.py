"""The provider-ID stage for a city: geocode or search and match, store matches and rejections; dry runs."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from venue_pipeline.core.ids import KnownId, providers_to_ask, resolve_ids
from venue_pipeline.core.statuses import IdStatus
from venue_pipeline.pipeline.common import (
    _calls,
    _cost,
    _restrict,
    progress_log,
)
from venue_pipeline.providers.registry import ask_cost
from venue_pipeline.services import Settings, open_services
from venue_pipeline.store import provider_ids as id_store
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.venues import list_venues, set_coordinates


@dataclass
class IdsSummary:
    """What the provider_ids stage did, for metadata and the demo's table."""

    venues: int = 0
    ids_before: dict[str, int] = field(default_factory=dict)
    ids_after: dict[str, int] = field(default_factory=dict)
    matched: dict[str, int] = field(default_factory=dict)
    no_match: dict[str, int] = field(default_factory=dict)
    ambiguous: dict[str, int] = field(default_factory=dict)
    deferred: dict[str, int] = field(default_factory=dict)
    geocoded: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    disabled: dict[str, str] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=dict)
    skipped_cooldown: int = 0
    dry_run: bool = False
    would_ask: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0
    # cross-provider consensus (core/consensus.py): "provider/status" -> records, and a few rescues/rejections
    consensus: dict[str, int] = field(default_factory=dict)
    consensus_samples: list[str] = field(default_factory=list)


def _id_counts(session: Any, venue_ids: list[int]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for per_venue in id_store.matched_ids(session, venue_ids).values():
        counts.update(per_venue.keys())
    return dict(sorted(counts.items()))


def run_provider_ids(
    settings: Settings,
    city: str | None,
    *,
    venue_ids: Sequence[int] = (),
    providers: Sequence[str] = (),
    force: bool = False,
    dry_run: bool = False,
    first_success_only: bool = False,
    run_id: str | None = None,
) -> IdsSummary:
    """Finds missing provider IDs for a city's venues and stores matches and rejections (unless dry_run)."""
    t0 = time.monotonic()
    settings = _restrict(settings, providers)
    with session_scope(settings.db_url) as session:
        venues = list_venues(session, city_slug=city, venue_ids=list(venue_ids) or None)
        ids = [v.id for v in venues]
        before = _id_counts(session, ids)
        known = {
            vid: {p: KnownId(r.status, r.next_search_at) for p, r in rows.items()}
            for vid, rows in id_store.ids_for(session, ids).items()
        }

    if dry_run:
        return _plan_ids(settings, venues, known, before, t0, force=force)

    async def go() -> tuple[Any, dict[str, int], dict[str, float], dict[str, str]]:
        async with open_services(settings, run_id) as services:
            result = await resolve_ids(
                venues, known, services.clients, force=force, first_success_only=first_success_only
            )
            return result, _calls(services), _cost(services), {**services.disabled, **result.disabled}

    result, calls, cost, disabled = asyncio.run(go())
    summary = IdsSummary(venues=len(venues), ids_before=before)
    summary.matched = dict(result.count(IdStatus.MATCHED))
    summary.no_match = dict(result.count(IdStatus.NO_MATCH))
    summary.ambiguous = dict(result.count(IdStatus.AMBIGUOUS))
    summary.deferred = dict(result.count(IdStatus.DEFERRED))
    summary.geocoded = len(result.coordinates)
    summary.errors = {f"{p}/{e}": n for (p, e), n in sorted(result.errors.items())}
    summary.error_samples = result.error_samples
    summary.disabled = disabled
    summary.calls, summary.cost = calls, cost
    summary.skipped_cooldown = result.skipped_cooldown
    summary.consensus = dict(sorted(result.consensus.items()))
    summary.consensus_samples = result.consensus_samples[:10]
    with session_scope(settings.db_url) as session:
        for venue_id, (lat, lng) in result.coordinates.items():
            set_coordinates(session, venue_id, lat, lng)
        id_store.save(session, result.records)
        summary.ids_after = _id_counts(session, ids)
    summary.duration_s = round(time.monotonic() - t0, 2)
    progress_log.info(
        "provider IDs: %d venues, %d accepted, %d rejected, %d ambiguous, %d deferred, %d geocoded (%.1fs)",
        summary.venues,
        sum(summary.matched.values()),
        sum(summary.no_match.values()),
        sum(summary.ambiguous.values()),
        sum(summary.deferred.values()),
        summary.geocoded,
        summary.duration_s,
    )
    return summary


def _plan_ids(
    settings: Settings,
    venues: Sequence[Any],
    known: dict[int, dict[str, KnownId]],
    before: dict[str, int],
    t0: float,
    *,
    force: bool,
) -> IdsSummary:
    """A dry run: which (venue, provider) lookups a real run would make and their list price; no call made."""
    now = datetime.now(timezone.utc)
    provider_settings = {p.name: p for p in settings.provider_settings() if p.api_key}
    would: Counter[str] = Counter()
    cost: Counter[str] = Counter()
    skipped = 0
    for venue in venues:
        ask, cooling = providers_to_ask(known.get(venue.id, {}), list(provider_settings), force=force, now=now)
        skipped += cooling
        method = "search" if venue.has_coordinates else "geocode"
        for provider in ask:
            would[provider] += 1
            cost[provider] += ask_cost(provider_settings[provider], method)
    summary = IdsSummary(venues=len(venues), ids_before=before, ids_after=dict(before), dry_run=True)
    summary.would_ask = dict(sorted(would.items()))
    summary.cost = {p: round(c, 4) for p, c in sorted(cost.items())}
    summary.skipped_cooldown = skipped
    summary.duration_s = round(time.monotonic() - t0, 2)
    progress_log.info(
        "provider IDs (dry run): would make %d lookups costing about $%.2f", sum(would.values()), sum(cost.values())
    )
    return summary
