"""The provider-ID stage for a city: geocode or search and match, store matches and rejections; dry runs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from venue_pipeline.core.budget import with_budgets
from venue_pipeline.core.ids import KnownId, providers_to_ask, resolve_ids
from venue_pipeline.core.statuses import IdRecord, IdStatus
from venue_pipeline.pipeline.budget import stage_budgets
from venue_pipeline.pipeline.common import with_retry
from venue_pipeline.pipeline.stage import StageRun, StageSummary
from venue_pipeline.providers.registry import ask_cost
from venue_pipeline.services import Settings
from venue_pipeline.store import provider_ids as id_store
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.venues import list_venues, set_coordinates


@dataclass
class IdsSummary(StageSummary):
    """What the provider_ids stage did, for metadata and the demo's table."""

    venues: int = 0
    ids_before: dict[str, int] = field(default_factory=dict)
    ids_after: dict[str, int] = field(default_factory=dict)
    matched: dict[str, int] = field(default_factory=dict)
    no_match: dict[str, int] = field(default_factory=dict)
    ambiguous: dict[str, int] = field(default_factory=dict)
    deferred: dict[str, int] = field(default_factory=dict)
    quota_share: dict[str, int] = field(default_factory=dict)  # calls this run could take (core/budget.py)
    geocoded: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    skipped_cooldown: int = 0
    dry_run: bool = False
    would_ask: dict[str, int] = field(default_factory=dict)
    # cross-provider consensus (core/consensus.py): "provider/status" -> records, and a few rescues/rejections
    consensus: dict[str, int] = field(default_factory=dict)
    consensus_samples: list[str] = field(default_factory=list)

    def progress(self) -> str:
        if self.dry_run:
            lookups, cost = sum(self.would_ask.values()), sum(self.cost.values())
            return f"provider IDs (dry run): would make {lookups} lookups costing about ${cost:.2f}"
        return (
            f"provider IDs: {self.venues} venues, {sum(self.matched.values())} accepted, "
            f"{sum(self.no_match.values())} rejected, {sum(self.ambiguous.values())} ambiguous, "
            f"{sum(self.deferred.values())} deferred, {self.geocoded} geocoded"
        )


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
    run_id: str | None = None,
    now: datetime | None = None,
    on_stored: Callable[[int], None] | None = None,
) -> IdsSummary:
    """Finds missing provider IDs for a city's venues and stores matches and rejections (unless dry_run); `now`
    (default: the real UTC time) decides the cooldowns and stamps every stored decision; `on_stored(venue_id)` is
    told as each venue's decisions are stored (the pipelined flow starts its photo listings then)."""
    run = StageRun(settings, providers, run_id, now)
    now = now or datetime.now(timezone.utc)
    with session_scope(run.settings.db_url) as session:
        venues = list_venues(session, city_slug=city, venue_ids=list(venue_ids) or None)
        ids = [v.id for v in venues]
        before = _id_counts(session, ids)
        known = {
            vid: {p: KnownId(r.status, r.next_search_at, r.searches or 0, r.matched_at) for p, r in rows.items()}
            for vid, rows in id_store.ids_for(session, ids).items()
        }

    if dry_run:
        return _plan_ids(run, venues, known, before, force=force, now=now)

    summary = IdsSummary(venues=len(venues), ids_before=before)

    def store_venue(venue_id: int, records: list[IdRecord], point: tuple[float, float] | None) -> None:
        """One venue's decisions in their own short transaction, as soon as they are made."""

        def save(session: Any) -> None:
            if point is not None:
                set_coordinates(session, venue_id, *point, when=now)
            id_store.save(session, records, now)

        with_retry(run.settings.db_url, save)
        if on_stored is not None:
            on_stored(venue_id)

    def work(services: Any) -> Any:
        summary.quota_share = stage_budgets(run.settings, services, city, ids, "ids", now)
        clients = with_budgets(services.clients, summary.quota_share)
        return resolve_ids(venues, known, clients, force=force, now=now, on_venue=store_venue)

    result = run.work(summary, work)
    summary.disabled.update(result.disabled)
    summary.matched = dict(result.count(IdStatus.MATCHED))
    summary.no_match = dict(result.count(IdStatus.NO_MATCH))
    summary.ambiguous = dict(result.count(IdStatus.AMBIGUOUS))
    summary.deferred = dict(result.count(IdStatus.DEFERRED))
    summary.geocoded = len(result.coordinates)
    summary.errors = {f"{p}/{e}": n for (p, e), n in sorted(result.errors.items())}
    summary.error_samples = result.error_samples
    summary.skipped_cooldown = result.skipped_cooldown
    summary.consensus = dict(sorted(result.consensus.items()))
    summary.consensus_samples = result.consensus_samples[:10]
    with session_scope(run.settings.db_url) as session:
        summary.ids_after = _id_counts(session, ids)
    return run.finish(summary)


def _plan_ids(
    run: StageRun,
    venues: Sequence[Any],
    known: dict[int, dict[str, KnownId]],
    before: dict[str, int],
    *,
    force: bool,
    now: datetime,
) -> IdsSummary:
    """A dry run: which (venue, provider) lookups a real run would make and their list price; no call made."""
    provider_settings = {p.name: p for p in run.settings.provider_settings() if p.api_key}
    would: Counter[str] = Counter()
    cost: Counter[str] = Counter()
    skipped = 0
    for venue in venues:
        ask, cooling = providers_to_ask(
            known.get(venue.id, {}), list(provider_settings), force=force, now=now, venue_changed_at=venue.updated_at
        )
        skipped += cooling
        method = "search" if venue.has_coordinates else "geocode"
        for provider in ask:
            would[provider] += 1
            cost[provider] += ask_cost(provider_settings[provider], method)
    summary = IdsSummary(venues=len(venues), ids_before=before, ids_after=dict(before), dry_run=True)
    summary.would_ask = dict(sorted(would.items()))
    summary.cost = {p: round(c, 4) for p, c in sorted(cost.items())}
    summary.skipped_cooldown = skipped
    return run.finish(summary)
