"""Provider-ID matching against the sandbox world: the right place nearly always, a wrong one never."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import pytest

from venue_pipeline.core.ids import IdStageResult, resolve_ids
from venue_pipeline.core.importer import parse_venues
from venue_pipeline.core.slugs import venue_slug
from venue_pipeline.core.statuses import IdStatus
from venue_pipeline.core.venue import Venue
from venue_pipeline.providers.memory_ledger import MemoryLedger
from venue_pipeline.providers.registry import PROVIDER_CLASSES, build_clients, default_settings
from venue_pipeline.sandbox.app import Sandbox, build_sandbox
from venue_pipeline.sandbox.faults import FaultConfig

DEMO_CSV = Path(__file__).resolve().parents[2] / "venue_pipeline" / "sandbox" / "data" / "demo_venues.csv"
MIN_RIGHT_SHARE = 0.95


def demo_venues() -> list[Venue]:
    """The demo venues as the store would hand them over (ids 1..N, stable slugs)."""
    parsed = parse_venues(DEMO_CSV)
    return [
        Venue(
            id=i,
            name=v.name,
            slug=venue_slug(v.name, v.city_name, v.external_id, source=v.source),
            city_slug=v.city_slug,
            city_name=v.city_name,
            address=v.address,
            postcode=v.postcode,
            country=v.country,
            lat=v.lat,
            lng=v.lng,
        )
        for i, v in enumerate(parsed.venues, start=1)
    ]


async def _resolve(venues: list[Venue], sandbox: Sandbox) -> IdStageResult:
    settings = [
        replace(default_settings(n, api_key="sandbox-key"), rate_per_second=10_000.0, daily_quota=None)
        for n in PROVIDER_CLASSES
    ]
    async with httpx.AsyncClient(transport=sandbox.transport()) as http:
        clients, disabled = build_clients(settings, http, MemoryLedger())
        assert not disabled
        return await resolve_ids(venues, {}, clients)


@pytest.fixture(scope="module")
def outcome() -> tuple[list[Venue], Sandbox, IdStageResult]:
    venues = demo_venues()
    sandbox = build_sandbox(venues, faults=FaultConfig.none())
    return venues, sandbox, asyncio.run(_resolve(venues, sandbox))


def test_demo_has_venues_to_geocode(outcome: tuple[list[Venue], Sandbox, IdStageResult]) -> None:
    venues, _, result = outcome
    assert len(venues) > 500
    assert sum(not v.has_coordinates for v in venues) >= 3
    assert not result.errors, result.error_samples


@dataclass
class Tally:
    """One provider's outcome against the world's truth."""

    held: int = 0  # (venue, provider) pairs the world holds
    returned: int = 0  # ... whose right place was among the candidates the provider's search returned
    right: int = 0  # ... that got the right place_id
    wrong: list[str] = field(default_factory=list)  # matched IDs that differ from the truth
    outcomes: Counter[str] = field(default_factory=Counter)


def tally(provider: str, venues: list[Venue], sandbox: Sandbox, result: IdStageResult) -> Tally:
    world = sandbox.world
    got = {r.venue_id: r for r in result.records if r.provider == provider}
    assert set(got) == {v.id for v in venues}, "every venue gets a record at every provider"
    out = Tally()
    for v in venues:
        truth = world.truth(provider, v.id)
        record = got[v.id]
        out.outcomes[record.status] += 1
        matched = record.place_id if record.status == IdStatus.MATCHED else None
        if truth is not None:
            out.held += 1
            out.returned += any(c["place_id"] == truth for c in record.details.get("candidates", []))
            out.right += matched == truth
        if matched is not None and matched != truth:
            place = world.place(provider, matched)
            kind = "distractor" if world.is_distractor(provider, matched) else "not a distractor"
            out.wrong.append(f"{v.name!r} -> {place.name if place else matched!r} ({kind})")
    return out


@pytest.mark.parametrize("provider", list(PROVIDER_CLASSES))
def test_no_venue_gets_a_wrong_id(provider: str, outcome: tuple[list[Venue], Sandbox, IdStageResult]) -> None:
    t = tally(provider, *outcome)
    assert not t.wrong, f"{provider}: {len(t.wrong)} wrong IDs: {t.wrong[:10]}"


@pytest.mark.parametrize("provider", list(PROVIDER_CLASSES))
def test_right_place_is_chosen_when_the_provider_returns_it(
    provider: str, outcome: tuple[list[Venue], Sandbox, IdStageResult]
) -> None:
    t = tally(provider, *outcome)
    assert t.returned and t.right / t.returned >= MIN_RIGHT_SHARE, (
        f"{provider}: {t.right}/{t.returned} right among pairs whose place was returned; outcomes {dict(t.outcomes)}"
    )


@pytest.mark.parametrize("provider", list(PROVIDER_CLASSES))
def test_most_venues_the_world_holds_get_their_id(
    provider: str, outcome: tuple[list[Venue], Sandbox, IdStageResult]
) -> None:
    t = tally(provider, *outcome)
    share = t.right / t.held
    assert share >= MIN_RIGHT_SHARE, f"{provider}: {t.right}/{t.held} right; outcomes {dict(t.outcomes)}"


def test_venues_without_coordinates_are_geocoded_to_the_right_place(
    outcome: tuple[list[Venue], Sandbox, IdStageResult],
) -> None:
    venues, sandbox, result = outcome
    world = sandbox.world
    ungeocoded = [v for v in venues if not v.has_coordinates]
    for v in ungeocoded:
        for r in (r for r in result.records if r.venue_id == v.id and r.status == IdStatus.MATCHED):
            assert r.place_id == world.truth(r.provider, v.id), (v.name, r.provider)
        if any(world.truth(p, v.id) for p in ("here", "geoapify")):
            assert v.id in result.coordinates, v.name
