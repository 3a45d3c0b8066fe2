"""End-to-end evaluation of place matching on a world file: the real provider-ID stage (shipped clients, their
rate limiters, the matcher, the store) against the sandbox serving the world, compared with the world's truth.

`evaluate_world` imports every world venue into a throwaway SQLite venue database, runs
`pipeline.ids.run_provider_ids` for the world's providers with the sandbox in world-file mode (no faults, the
rate limits scaled up and no daily quota, so the evaluation neither waits real-world seconds nor stops at
Foursquare's 500 calls a day), reads the stored IDs back and scores them per split.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from venue_pipeline.core import ids as core_ids
from venue_pipeline.core.ids import SEARCH_RADIUS_M
from venue_pipeline.core.importer import VenueInput
from venue_pipeline.core.matching import haversine_m
from venue_pipeline.core.slugs import city_slug as make_city_slug
from venue_pipeline.core.statuses import IdStatus
from venue_pipeline.sandbox.world import World
from venue_pipeline.sandbox.world_file import WorldData, WorldVenue, providers_of, save_world, world_from_data
from venue_pipeline.store import provider_ids as id_store
from venue_pipeline.store.db import session_scope, upgrade
from venue_pipeline.store.schema import ApiCallRow, VenueRow
from venue_pipeline.store.venues import upsert_venues

SPLITS = ("train", "valid", "test")
ALL = "all"
TEST_ONLY = "test-only"
RATE_SCALE = 1000.0
"""How much faster than the providers' real rate limits the evaluation runs (the sandbox is in-process)."""

CAUSES = (
    "error_or_deferred",
    "not_returned_within_radius",
    "not_returned_by_search",
    "rejected_no_match",
    "ambiguous",
    "wrong_place_chosen",
)
"""Why a venue with a true place got no correct ID, the first that applies in this order: the lookup failed or
was deferred (nothing is known of the search); every true place is farther than the search radius (the widest the
stage asks: `search_radius_m()`); the search (the world's own, as the route runs it) did not return any true place;
the matcher rejected every candidate; it called them ambiguous; it accepted another place."""


def search_radius_m() -> int:
    """The widest radius the ID stage searches: SEARCH_RADIUS_M, or a second wider search when the stage has one."""
    return max(SEARCH_RADIUS_M, int(getattr(core_ids, "WIDE_SEARCH_RADIUS_M", 0) or 0))

NOTE = (
    "sandbox in world-file mode, faults off, provider rate limits x{scale:g} and no daily quota "
    "(Foursquare's real 500 calls/day would stop the run); search radius {radius} m"
)


@dataclass
class SplitMetrics:
    """One provider's outcome over the venues of one split (or all venues, or the test-only venues)."""

    split: str
    provider: str
    venues: int = 0
    with_true_place: int = 0
    stored: int = 0
    correct: int = 0
    wrong_no_true_place: int = 0
    wrong_other_place: int = 0
    misses: dict[str, int] = field(default_factory=lambda: {c: 0 for c in CAUSES})

    @property
    def wrong(self) -> int:
        return self.wrong_no_true_place + self.wrong_other_place

    @property
    def precision(self) -> float | None:
        return self.correct / self.stored if self.stored else None

    @property
    def recall(self) -> float | None:
        # one stored ID per (venue, provider): correct IDs = venues with a correct stored ID
        return self.correct / self.with_true_place if self.with_true_place else None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(wrong=self.wrong, precision=_round(self.precision), recall=_round(self.recall))
        return out


@dataclass
class VenueOutcome:
    """What happened to one venue at one provider (for drilling into the numbers)."""

    world_venue_id: int
    provider: str
    status: str | None
    stored_place_id: str | None
    true_place_ids: tuple[str, ...]
    verdict: str  # correct | wrong_no_true_place | wrong_other_place | a miss cause | no_true_place


@dataclass
class WorldEvalResult:
    """Every metric of one world's evaluation."""

    world: str
    city_slug: str
    providers: list[str]
    splits: list[str]
    metrics: list[SplitMetrics]
    calls: dict[str, dict[str, int]]  # provider -> endpoint -> calls
    venues_run: int
    stage_seconds: float
    wall_seconds: float
    note: str
    outcomes: list[VenueOutcome] = field(default_factory=list)

    def metric(self, split: str, provider: str) -> SplitMetrics:
        return next(m for m in self.metrics if m.split == split and m.provider == provider)

    def calls_per_venue(self) -> dict[str, dict[str, float]]:
        n = max(1, self.venues_run)
        return {p: {e: round(c / n, 3) for e, c in eps.items()} for p, eps in self.calls.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "world": self.world,
            "city_slug": self.city_slug,
            "providers": self.providers,
            "splits": self.splits,
            "note": self.note,
            "search_radius_m": search_radius_m(),
            "venues_run": self.venues_run,
            "stage_seconds": self.stage_seconds,
            "wall_seconds": self.wall_seconds,
            "calls": self.calls,
            "calls_per_venue": self.calls_per_venue(),
            "metrics": [m.to_json() for m in self.metrics],
        }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _in_splits(venue: WorldVenue, splits: Sequence[str]) -> bool:
    """A venue without splits (a hand-written world) is always evaluated; others when in a chosen split."""
    return not venue.splits or any(s in splits for s in venue.splits)


def _groups(venue: WorldVenue, splits: Sequence[str]) -> list[str]:
    groups = [ALL] + [s for s in splits if s in venue.splits]
    if venue.splits and set(venue.splits) == {"test"} and "test" in splits:
        groups.append(TEST_ONLY)
    return groups


def _import(db_url: str, venues: Iterable[WorldVenue], city: str) -> dict[int, int]:
    """Inserts the venues as one city with the importer's upsert; returns {world venue id: db venue id}."""
    slug = make_city_slug(city)
    inputs = [
        VenueInput(
            source="csv",
            external_id=f"world-{v.id}",
            name=v.name,
            address=v.address,
            postcode=v.postcode,
            city_name=city,
            city_slug=slug,
            country=v.country,
            lat=v.lat,
            lng=v.lng,
            needs_geocoding=v.lat is None or v.lng is None,
        )
        for v in venues
    ]
    with session_scope(db_url) as session:
        upsert_venues(session, inputs)
        rows = session.execute(select(VenueRow.external_id, VenueRow.id).where(VenueRow.source == "csv")).all()
    return {int(ext.removeprefix("world-")): vid for ext, vid in rows if ext.startswith("world-")}


def _search_limit(provider: str) -> int:
    """The result limit the provider's client asks its search for (10 when the client names none)."""
    import sys

    from venue_pipeline.providers.registry import PROVIDER_CLASSES

    return int(getattr(sys.modules[PROVIDER_CLASSES[provider].__module__], "SEARCH_LIMIT", 10))


def _returned(world: World, provider: str, venue: WorldVenue, true_ids: frozenset[str]) -> bool:
    """Would the provider's search (as the sandbox route runs it for the client's request) return a true place?"""
    limit = _search_limit(provider)
    if venue.lat is None or venue.lng is None:
        text = ", ".join(x for x in (venue.name, venue.address, venue.postcode, venue.city) if x)
        hits = world.geocode(provider, text, limit, include_addresses=False)
    else:
        radii = sorted({SEARCH_RADIUS_M, search_radius_m()})
        hits = [h for r in radii for h in world.search(provider, venue.name, venue.lat, venue.lng, float(r), limit)]
    return any(p.place_id in true_ids for p, _ in hits)


def _miss_cause(
    world: World, provider: str, venue: WorldVenue, true_ids: frozenset[str], row: Any | None
) -> str:
    if row is None or row.status == IdStatus.DEFERRED:
        return "error_or_deferred"
    if venue.lat is not None and venue.lng is not None:
        places = [world.place(provider, pid) for pid in true_ids]
        distances = [haversine_m(venue.lat, venue.lng, p.lat, p.lng) for p in places if p is not None]
        if distances and min(distances) > search_radius_m():
            return "not_returned_within_radius"
    if not _returned(world, provider, venue, true_ids):
        return "not_returned_by_search"
    if row.status == IdStatus.MATCHED:
        return "wrong_place_chosen"
    if row.status == IdStatus.AMBIGUOUS:
        return "ambiguous"
    return "rejected_no_match"


def evaluate_world(
    data: WorldData,
    *,
    splits: Sequence[str] = SPLITS,
    providers: Sequence[str] | None = None,
    workdir: str | Path,
) -> WorldEvalResult:
    """Runs the real provider-ID stage against the world and scores the stored IDs per split (see module doc)."""
    from venue_pipeline.pipeline.ids import run_provider_ids
    from venue_pipeline.services import Settings

    t0 = time.monotonic()
    splits = list(splits)
    providers = list(providers) if providers else list(providers_of(data))
    if not providers:
        raise ValueError(f"world {data.name!r} holds no places")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    world_path = save_world(data, workdir / "world.json")
    db_url = f"sqlite:///{workdir / 'venues.db'}"
    upgrade(db_url)

    venues = [v for v in data.venues if _in_splits(v, splits)]
    cities = Counter(v.city for v in venues)
    city = cities.most_common(1)[0][0] if cities else "World"
    slug = make_city_slug(city)
    db_ids = _import(db_url, venues, city)

    settings = Settings(
        db_url=db_url,
        provider_mode="sandbox",
        providers=tuple(providers),
        sandbox_world=str(world_path),
        sandbox_faults="none",
        quotas={p: None for p in providers},
        sandbox_rate_scale=RATE_SCALE,
        image_dir=str(workdir / "images"),
    )
    summary = run_provider_ids(settings, slug, providers=providers)

    with session_scope(db_url) as session:
        rows = id_store.ids_for(session, list(db_ids.values()))
        call_rows = session.execute(
            select(ApiCallRow.provider, ApiCallRow.endpoint, func.count(ApiCallRow.id)).group_by(
                ApiCallRow.provider, ApiCallRow.endpoint
            )
        ).all()
    calls: dict[str, dict[str, int]] = {}
    for provider, endpoint, n in sorted(call_rows):
        calls.setdefault(provider, {})[endpoint] = int(n)

    world = world_from_data(data)
    groups = [ALL, *splits] + ([TEST_ONLY] if "test" in splits else [])
    metrics = {(g, p): SplitMetrics(g, p) for g in groups for p in providers}
    outcomes: list[VenueOutcome] = []
    for venue in venues:
        db_id = db_ids[venue.id]
        for provider in providers:
            true_ids = data.true_ids(venue.id, provider)
            row = rows.get(db_id, {}).get(provider)
            stored = row.place_id if row is not None and row.status == IdStatus.MATCHED else None
            if stored is not None and stored in true_ids:
                verdict = "correct"
            elif stored is not None:
                verdict = "wrong_other_place" if true_ids else "wrong_no_true_place"
            elif true_ids:
                verdict = _miss_cause(world, provider, venue, true_ids, row)
            else:
                verdict = "no_true_place"
            outcomes.append(
                VenueOutcome(venue.id, provider, row.status if row else None, stored, tuple(sorted(true_ids)), verdict)
            )
            if verdict == "wrong_other_place":  # a wrong ID is also why the venue misses its true place
                cause = _miss_cause(world, provider, venue, true_ids, row)
            else:
                cause = verdict if verdict in CAUSES else None
            for g in _groups(venue, splits):
                m = metrics[(g, provider)]
                m.venues += 1
                m.with_true_place += bool(true_ids)
                m.stored += stored is not None
                m.correct += verdict == "correct"
                m.wrong_no_true_place += verdict == "wrong_no_true_place"
                m.wrong_other_place += verdict == "wrong_other_place"
                if cause is not None:
                    m.misses[cause] += 1
    return WorldEvalResult(
        world=data.name,
        city_slug=slug,
        providers=providers,
        splits=splits,
        metrics=list(metrics.values()),
        calls=calls,
        venues_run=summary.venues,
        stage_seconds=summary.duration_s,
        wall_seconds=round(time.monotonic() - t0, 2),
        note=NOTE.format(scale=RATE_SCALE, radius=search_radius_m()),
        outcomes=outcomes,
    )


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def format_world_eval(result: WorldEvalResult) -> str:
    """A markdown summary: one row per (provider, split), the misses by cause, the calls per venue."""
    lines = [
        f"## {result.world} (city {result.city_slug}): {result.venues_run} venues, providers "
        f"{', '.join(result.providers)}",
        "",
        f"{result.note}; stage {result.stage_seconds:.1f}s, wall {result.wall_seconds:.1f}s",
        "",
        "| provider | split | venues | with true place | IDs stored | correct | wrong | wrong: no true place "
        "| wrong: other place | precision | recall |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in result.metrics:
        lines.append(
            f"| {m.provider} | {m.split} | {m.venues} | {m.with_true_place} | {m.stored} | {m.correct} | {m.wrong} "
            f"| {m.wrong_no_true_place} | {m.wrong_other_place} | {_fmt(m.precision)} | {_fmt(m.recall)} |"
        )
    lines += [
        "",
        "Misses (venues with a true place and no correct ID) by cause:",
        "",
        "| provider | split | " + " | ".join(CAUSES) + " |",
        "|---|---|" + "---|" * len(CAUSES),
    ]
    for m in result.metrics:
        lines.append(f"| {m.provider} | {m.split} | " + " | ".join(str(m.misses[c]) for c in CAUSES) + " |")
    lines += ["", "Calls per venue (call ledger; every split: the ledger does not record the venue):", ""]
    lines += ["| provider | endpoint | calls | per venue |", "|---|---|---|---|"]
    per_venue = result.calls_per_venue()
    for provider, endpoints in result.calls.items():
        for endpoint, n in endpoints.items():
            lines.append(f"| {provider} | {endpoint} | {n} | {per_venue[provider][endpoint]:.3f} |")
    if not result.calls:
        lines.append("| (none) | | 0 | 0 |")
    return "\n".join(lines) + "\n"


def results_to_json(results: Sequence[WorldEvalResult]) -> str:
    return json.dumps([r.to_json() for r in results], indent=2)
