"""Finds every provider's place ID for each venue: geocode venues without coordinates, search and match the rest."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from venue_pipeline.core import consensus as cs
from venue_pipeline.core.backoff import search_cooldown, search_due
from venue_pipeline.core.chooser import choose
from venue_pipeline.core.errors import ErrorType, ProviderError, QuotaExhausted
from venue_pipeline.core.ids_consensus import apply_consensus
from venue_pipeline.core.matching import MatchRecord
from venue_pipeline.core.ports import Place, ProviderClient
from venue_pipeline.core.statuses import IdRecord, IdStatus
from venue_pipeline.core.venue import Venue

log = logging.getLogger(__name__)

REJECTION_COOLDOWN = search_cooldown(1)  # the first; each further unsuccessful search doubles it (core/backoff.py)
_REJECTED = (IdStatus.NO_MATCH, IdStatus.AMBIGUOUS)
SEARCH_RADIUS_M = 250
# Asked once more, this far out, when nothing within SEARCH_RADIUS_M is the venue: a pin 250-500 m off is
# rare but real (3-4 % of the true places in the Geo-ER worlds), and one call is cheaper than a lost gallery.
WIDE_SEARCH_RADIUS_M = 500


@dataclass(frozen=True)
class KnownId:
    """The stored state of one (venue, provider) that decides whether to call the provider again."""

    status: str
    next_search_at: datetime | None = None
    searches: int = 0  # consecutive unsuccessful searches
    searched_at: datetime | None = None  # when the stored decision was made


@dataclass
class IdStageResult:
    """Everything the ID stage decided, for the store and for run metadata."""

    records: list[IdRecord] = field(default_factory=list)
    coordinates: dict[int, tuple[float, float]] = field(default_factory=dict)
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    disabled: dict[str, str] = field(default_factory=dict)
    skipped_cooldown: int = 0
    consensus: Counter[str] = field(default_factory=Counter)  # "provider/status" -> records
    consensus_samples: list[str] = field(default_factory=list)

    def count(self, status: str) -> Counter[str]:
        return Counter(r.provider for r in self.records if r.status == status)


def providers_to_ask(
    known: Mapping[str, KnownId],
    providers: Sequence[str],
    *,
    force: bool,
    now: datetime,
    venue_changed_at: datetime | None = None,
) -> tuple[list[str], int]:
    """Providers still lacking an ID; a recent rejection waits out its cooldown unless forced or the venue changed
    after the search."""
    ask: list[str] = []
    cooling = 0
    for provider in providers:
        state = known.get(provider)
        if state is None or state.status == IdStatus.DEFERRED:
            ask.append(provider)
        elif state.status == IdStatus.MATCHED:
            continue
        elif force or search_due(state.next_search_at, state.searched_at, venue_changed_at, now):
            ask.append(provider)
        else:
            cooling += 1
    return ask, cooling


def with_cooldown(record: IdRecord, state: KnownId | None, venue: Venue, now: datetime) -> IdRecord:
    """A rejection counts this search onto the stored streak (restarted when the venue changed after the last
    search) and waits search_cooldown(streak); a match clears the streak."""
    if record.status not in _REJECTED:
        return replace(record, searches=0) if record.status == IdStatus.MATCHED else record
    changed = (
        state is not None
        and venue.updated_at is not None
        and state.searched_at is not None
        and venue.updated_at > state.searched_at
    )
    searches = (0 if state is None or changed else state.searches) + 1
    return replace(record, searches=searches, next_search_at=now + search_cooldown(searches))


def _record(venue: Venue, provider: str, method: str, places: Sequence[Place], now: datetime) -> IdRecord:
    """Scores the candidates and turns the decision into a stored record (rejections keep their scores)."""
    candidates = [(p.place_id, MatchRecord.from_place(p)) for p in places if p.place_id]
    decision = choose(MatchRecord.from_venue(venue), candidates)
    details = {
        "candidates": [{"place_id": pid, "score": round(s, 4)} for pid, s in decision.candidates[:5]],
        "runner_up_score": None if decision.runner_up_score is None else round(decision.runner_up_score, 4),
    }
    if decision.status == "matched":
        return IdRecord(venue.id, provider, IdStatus.MATCHED, method, decision.place_id, decision.score, details)
    status = IdStatus.AMBIGUOUS if decision.status == "ambiguous" else IdStatus.NO_MATCH
    return IdRecord(
        venue.id, provider, status, method, None, decision.score, details, next_search_at=now + REJECTION_COOLDOWN
    )


class _Run:
    """One stage run: shared state across concurrent venue tasks (auth circuits, counters)."""

    def __init__(self, clients: Mapping[str, ProviderClient], now: datetime) -> None:
        self.clients = clients
        self.now = now
        self.result = IdStageResult()
        self.open_circuits: dict[str, str] = {}
        self.best_geocode: dict[int, float] = {}
        self.places: dict[int, dict[str, list[Place]]] = {}  # the candidates, for consensus

    def settle(self, venue: Venue, records: list[IdRecord]) -> list[IdRecord]:
        """Re-decides the venue's records by cross-provider consensus (core/consensus.py) and counts it."""
        places = self.places.pop(venue.id, {})
        records, judged = apply_consensus(records, places, now=self.now, cooldown=REJECTION_COOLDOWN)
        if judged is None:
            return records
        for record in records:
            evidence = (record.details or {}).get("consensus")
            if not evidence:
                continue
            self.result.consensus[f"{record.provider}/{evidence['status']}"] += 1
            if evidence["status"] in (cs.CONTRADICTED, cs.RESCUED) and len(self.result.consensus_samples) < 20:
                self.result.consensus_samples.append(
                    f"venue {venue.id} {venue.name!r} at {record.provider}: {evidence['status']}, {evidence.get('reason', '')}"
                )
            if evidence["status"] == cs.CONTRADICTED and judged.consensus is not None:
                self._drop_contradicted_geocode(venue, record, places.get(record.provider, []), judged.consensus)
        return records

    def _drop_contradicted_geocode(
        self, venue: Venue, record: IdRecord, places: list[Place], consensus: cs.Consensus
    ) -> None:
        """A geocode whose coordinates came from a contradicted match takes the consensus location instead."""
        rejected = (record.details or {}).get("consensus", {}).get("rejected_place_id")
        if venue.id not in self.result.coordinates or record.method != "geocode":
            return
        place = next((p for p in places if p.place_id == rejected), None)
        if place is not None and (place.lat, place.lng) == self.result.coordinates[venue.id]:
            self.result.coordinates[venue.id] = (consensus.lat, consensus.lng)

    def fail(self, venue: Venue, provider: str, exc: ProviderError) -> IdRecord | None:
        if isinstance(exc, QuotaExhausted):
            return IdRecord(venue.id, provider, IdStatus.DEFERRED, "search", details={"reason": str(exc)})
        self.result.errors[(provider, exc.error_type.value)] += 1
        if len(self.result.error_samples) < 20:
            self.result.error_samples.append(f"venue {venue.id} at {provider}: {exc}")
        if exc.error_type in (ErrorType.AUTH_ERROR, ErrorType.MISSING_API_KEY):
            self.open_circuits.setdefault(provider, f"{provider} disabled for this run: {exc}")
        return None

    async def _search_wider(
        self, venue: Venue, provider: str, near: IdRecord, near_places: Sequence[Place]
    ) -> tuple[IdRecord, list[Place]]:
        """One more search out to WIDE_SEARCH_RADIUS_M; a failure keeps the near decision."""
        assert venue.lat is not None and venue.lng is not None
        try:
            wide = await self.clients[provider].search(venue.name, venue.lat, venue.lng, radius_m=WIDE_SEARCH_RADIUS_M)
        except QuotaExhausted as exc:  # the wide search is owed: ask again when the quota resets
            return self.fail(venue, provider, exc) or near, list(near_places)
        except ProviderError as exc:
            self.fail(venue, provider, exc)
            return near, list(near_places)
        record = _record(venue, provider, "search", wide, self.now)
        record.details["radius_m"] = WIDE_SEARCH_RADIUS_M
        return record, list(wide)

    async def call(self, venue: Venue, provider: str, method: str) -> IdRecord | None:
        if provider in self.open_circuits:
            return None
        client = self.clients[provider]
        try:
            if method == "geocode":
                places = await client.geocode(f"{venue.name}, {venue.full_address}", locality=venue.locality)
            else:
                assert venue.lat is not None and venue.lng is not None
                places = await client.search(venue.name, venue.lat, venue.lng, radius_m=SEARCH_RADIUS_M)
        except ProviderError as exc:
            return self.fail(venue, provider, exc)
        record = _record(venue, provider, method, places, self.now)
        if method == "search" and record.status != IdStatus.MATCHED:
            record, places = await self._search_wider(venue, provider, record, places)
        self.places.setdefault(venue.id, {})[provider] = list(places)
        if record.status == IdStatus.MATCHED and method == "geocode":
            chosen = next(p for p in places if p.place_id == record.place_id)
            best = self.best_geocode.get(venue.id)
            if chosen.lat is not None and chosen.lng is not None and (best is None or record.score > best):
                self.best_geocode[venue.id] = record.score or 0.0
                self.result.coordinates[venue.id] = (chosen.lat, chosen.lng)
        return record


async def resolve_ids(
    venues: Sequence[Venue],
    known: Mapping[int, Mapping[str, KnownId]],
    clients: Mapping[str, ProviderClient],
    *,
    force: bool = False,
    concurrency: int = 16,
    now: datetime | None = None,
    on_venue: Callable[[int, list[IdRecord], tuple[float, float] | None], None] | None = None,
) -> IdStageResult:
    """Geocodes venues without coordinates with every provider at once and searches near the rest; returns
    records to store, never a guessed ID; `on_venue` receives each venue's records (and geocoded point) as soon
    as they are settled."""
    run = _Run(clients, now or datetime.now(timezone.utc))
    providers = list(clients)
    # One gate per provider, not per venue: a call waiting for its provider's rate token holds only that
    # provider's slot, so a slow provider (Foursquare at 1/s) never sets the pace of the others.
    gates = {p: asyncio.Semaphore(concurrency) for p in providers}

    async def call(venue: Venue, provider: str, method: str) -> IdRecord | None:
        async with gates[provider]:
            return await run.call(venue, provider, method)

    async def gather_venue(venue: Venue) -> list[IdRecord]:
        ask, cooling = providers_to_ask(
            known.get(venue.id, {}), providers, force=force, now=run.now, venue_changed_at=venue.updated_at
        )
        run.result.skipped_cooldown += cooling
        if not ask:
            return []
        method = "search" if venue.has_coordinates else "geocode"
        found = await asyncio.gather(*(call(venue, p, method) for p in ask))
        return [r for r in found if r is not None]

    async def one(venue: Venue) -> list[IdRecord]:
        states = known.get(venue.id, {})
        records = [
            with_cooldown(r, states.get(r.provider), venue, run.now) for r in run.settle(venue, await gather_venue(venue))
        ]
        if on_venue is not None:  # stored as each venue is decided: a crash loses only venues in flight
            on_venue(venue.id, records, run.result.coordinates.get(venue.id))
        return records

    for records in await asyncio.gather(*(one(v) for v in venues)):
        run.result.records.extend(records)
    run.result.disabled.update(run.open_circuits)
    for reason in run.open_circuits.values():
        log.warning(reason)
    return run.result
