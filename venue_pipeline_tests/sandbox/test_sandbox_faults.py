"""Faults are seeded and reproducible: transient ones pass on retry, permanent ones stay."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from venue_pipeline.core.venue import Venue
from venue_pipeline.sandbox.app import build_sandbox
from venue_pipeline.sandbox.faults import FaultConfig, FaultRates
from venue_pipeline.sandbox.world import PROVIDERS


def make_venues() -> list[Venue]:
    return [Venue(i, f"Plough {i}", f"plough-{i}", "ely", "Ely", f"{i} Fore Hill, ELY, Cambridgeshire", "CB7 4AA", "United Kingdom", 52.39 + i * 0.004, 0.26) for i in range(1, 9)]


def test_decisions_are_a_pure_function_of_seed_and_request() -> None:
    config = FaultConfig.heavy(transient=0.5, permanent=0.1, seed=3)
    seq = [config.decide("here", "geocode", f"GET q={i}", n) for i in range(50) for n in range(3)]
    again = [FaultConfig.heavy(transient=0.5, permanent=0.1, seed=3).decide("here", "geocode", f"GET q={i}", n) for i in range(50) for n in range(3)]
    other = [FaultConfig.heavy(transient=0.5, permanent=0.1, seed=4).decide("here", "geocode", f"GET q={i}", n) for i in range(50) for n in range(3)]
    assert seq == again and seq != other
    assert FaultConfig.none().decide("here", "geocode", "k", 0) is None


def test_transient_faults_clear_on_retry_and_permanent_ones_stick() -> None:
    transient = FaultConfig(seed=1, rates={("*", "*"): FaultRates(service_unavailable=0.6)})
    outcomes = [[transient.decide("foursquare", "search", f"req{i}", n) for n in range(6)] for i in range(40)]
    assert any(o[0] is not None and any(x is None for x in o) for o in outcomes)
    sticky = FaultConfig(seed=1, rates={("*", "photo_download"): FaultRates(not_found=0.5)})
    for i in range(40):
        kinds = {getattr(sticky.decide("google_places", "photo_download", f"p{i}", n), "kind", None) for n in range(5)}
        assert len(kinds) == 1


def test_most_specific_rates_win() -> None:
    config = FaultConfig(seed=1, rates={("*", "*"): FaultRates(server_error=1.0), ("here", "geocode"): FaultRates()})
    assert config.decide("here", "geocode", "k", 0) is None
    assert config.decide("here", "search", "k", 0).kind == "server_error"
    with pytest.raises(ValueError):
        FaultRates(rate_limited=0.7, server_error=0.6)


def test_injected_faults_use_each_providers_error_shape() -> None:
    rates = FaultRates(rate_limited=1.0, retry_after_s=3)
    sandbox = build_sandbox(make_venues(), faults=FaultConfig(seed=1, rates={("*", "*"): rates}), coverage={p: 1.0 for p in PROVIDERS})
    with httpx.Client(transport=sandbox.transport()) as c:
        r = c.get("https://api.geoapify.com/v1/geocode/search", params={"text": "Plough", "apiKey": "k"})
        assert r.status_code == 429 and r.headers["retry-after"] == "3" and r.json()["statusCode"] == 429
        r = c.get("https://maps.googleapis.com/maps/api/place/textsearch/json", params={"query": "Plough", "key": "k"})
        assert r.status_code == 200 and r.json()["status"] == "OVER_QUERY_LIMIT" and r.json()["results"] == []
        r = c.post("https://places.googleapis.com/v1/places:searchText", json={"textQuery": "x"}, headers={"X-Goog-Api-Key": "k", "X-Goog-FieldMask": "places.id"})
        assert r.status_code == 429 and r.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
        r = c.get("https://places-api.foursquare.com/places/search", headers={"Authorization": "Bearer k", "X-Places-Api-Version": "2025-06-17"})
        assert r.status_code == 429 and "message" in r.json()
        # a bad key is still an auth error, never masked by a fault
        assert c.get("https://geocode.search.hereapi.com/v1/geocode", params={"q": "x", "apiKey": "invalid"}).status_code == 401
    assert sandbox.faults_injected[("geoapify", "geocode", "rate_limited")] == 1


def test_timeouts_raise_in_process_for_sync_and_async_clients() -> None:
    sandbox = build_sandbox(make_venues(), faults=FaultConfig(seed=1, rates={("here", "*"): FaultRates(timeout=1.0)}))
    with httpx.Client(transport=sandbox.transport()) as c, pytest.raises(httpx.ReadTimeout):
        c.get("https://geocode.search.hereapi.com/v1/geocode", params={"q": "Plough", "apiKey": "k"})

    async def run() -> None:
        async with httpx.AsyncClient(transport=sandbox.transport()) as c:
            await c.get("https://geocode.search.hereapi.com/v1/geocode", params={"q": "Plough", "apiKey": "k"})

    with pytest.raises(httpx.ReadTimeout):
        asyncio.run(run())


def photo_url(sandbox) -> str:
    photo = next(p.photos[0] for p in sandbox.world.places("foursquare") if p.photos)
    return f"https://fastly.4sqi.net/img/general/original/{photo.token}.jpg"


def test_oversized_and_non_image_photo_downloads() -> None:
    big = FaultConfig(seed=1, rates={("*", "photo_download"): FaultRates(oversized=1.0, oversized_bytes=3 * 1024 * 1024)})
    sandbox = build_sandbox(make_venues(), faults=big, coverage={p: 1.0 for p in PROVIDERS})
    url = photo_url(sandbox)

    async def stream_until_cap() -> tuple[int, int]:
        async with httpx.AsyncClient(transport=sandbox.transport()) as c:
            async with c.stream("GET", url) as r:
                got = 0
                async for chunk in r.aiter_bytes():
                    got += len(chunk)
                    if got > 1024 * 1024:
                        break
                return int(r.headers["content-length"]), got

    declared, got = asyncio.run(stream_until_cap())
    assert declared == 3 * 1024 * 1024 and got > 1024 * 1024

    junk = build_sandbox(make_venues(), faults=FaultConfig(seed=1, rates={("*", "photo_download"): FaultRates(non_image=1.0)}), coverage={p: 1.0 for p in PROVIDERS})
    with httpx.Client(transport=junk.transport()) as c:
        r = c.get(photo_url(junk))
    assert r.status_code == 200 and r.content.lstrip().startswith(b"<!DOCTYPE html>")

    off = build_sandbox(make_venues(), faults=FaultConfig(seed=1, rates={("*", "photo_download"): FaultRates(offlist_redirect=1.0)}), coverage={p: 1.0 for p in PROVIDERS})
    with httpx.Client(transport=off.transport()) as c:
        r = c.get(photo_url(off))
        assert r.status_code == 302 and "4sqi" not in r.headers["location"]
        with pytest.raises(httpx.ConnectError):
            c.get(r.headers["location"])


def test_same_seed_gives_same_fault_sequence_through_the_sandbox() -> None:
    def run(seed: int) -> list[int]:
        sandbox = build_sandbox(make_venues(), faults=FaultConfig.heavy(transient=0.4, seed=seed))
        statuses = []
        with httpx.Client(transport=sandbox.transport()) as c:
            for i in range(30):
                try:
                    statuses.append(c.get("https://geocode.search.hereapi.com/v1/geocode", params={"q": f"Plough {i % 5}", "apiKey": "k"}).status_code)
                except httpx.TimeoutException:
                    statuses.append(-1)
        return statuses

    assert run(5) == run(5)
    assert run(5) != run(6)
    assert 200 in run(5) and any(s != 200 for s in run(5))


def test_default_preset_mostly_succeeds() -> None:
    config = FaultConfig.default()
    decisions = [config.decide("foursquare", "photo_download", f"photo{i}", 0) for i in range(2000)]
    share = sum(d is not None for d in decisions) / len(decisions)
    assert 0.01 < share < 0.1
    permanent = sum(d is not None and d.kind in {"not_found", "oversized", "non_image"} for d in decisions) / len(decisions)
    assert 0.005 < permanent < 0.04
