"""One provider made N times slower on the loopback sandbox (`sandbox serve --slow`, VENUE_SANDBOX_SLOW): its
answers, photo hosts included, leave (N - 1) round trips late; the other providers are not held (issue 14)."""

from __future__ import annotations

import time

import httpx
import pytest

from venue_pipeline.cli import main
from venue_pipeline.sandbox.app import build_sandbox
from venue_pipeline.sandbox.server import LoopbackTransport, serve
from venue_pipeline.sandbox.slow import Slowdown, parse_slowdown
from venue_pipeline.sandbox.world import PROVIDERS
from venue_pipeline_tests.sandbox.test_sandbox_server import make_venues

FSQ_SEARCH = "https://places-api.foursquare.com/places/search"
FSQ_HEADERS = {"Authorization": "Bearer k", "X-Places-Api-Version": "2025-06-17"}
HERE_GEOCODE = "https://geocode.search.hereapi.com/v1/geocode"


def test_parse_a_spec() -> None:
    slow = parse_slowdown("foursquare:10, google_places:2.5", rtt_ms=80)
    assert slow.factors == {"foursquare": 10.0, "google_places": 2.5}
    assert slow.hold_s("foursquare") == pytest.approx(0.72) and slow.hold_s("google_places") == pytest.approx(0.12)
    assert slow.hold_s("here") == 0.0 and parse_slowdown(None).factors == {} and parse_slowdown("").factors == {}


@pytest.mark.parametrize("spec", ["foursquare", "nobody:3", "foursquare:x", "foursquare:0.5", "here:5000"])
def test_bad_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_slowdown(spec)


def test_sandbox_serve_refuses_a_bad_slow_setting_with_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["sandbox", "serve", "--slow", "foursquare:x"]) == 2
    assert capsys.readouterr().err.strip() == "error: --slow foursquare:x: 'foursquare:x': N must be a number, not 'x'"
    monkeypatch.setenv("VENUE_SANDBOX_SLOW", "nobody:3")
    assert main(["sandbox", "serve"]) == 2
    assert capsys.readouterr().err.startswith("error: VENUE_SANDBOX_SLOW=nobody:3: ")


def _timed(client: httpx.Client, url: str, **kw: object) -> float:
    t0 = time.monotonic()
    response = client.get(url, **kw)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text[:200]
    return time.monotonic() - t0


def test_only_the_slowed_provider_is_held_on_the_loopback_server() -> None:
    sandbox = build_sandbox(make_venues(), coverage={p: 1.0 for p in PROVIDERS})
    sandbox.slowdown = Slowdown({"foursquare": 6.0}, round_trip_s=0.05)  # each answer held 5 x 50 ms
    with serve(sandbox) as server, httpx.Client(transport=LoopbackTransport(server.base_url)) as c:
        _timed(c, HERE_GEOCODE, params={"q": "George", "apiKey": "k"})  # the connection is open
        here = min(_timed(c, HERE_GEOCODE, params={"q": "George", "apiKey": "k"}) for _ in range(3))
        fsq = _timed(c, FSQ_SEARCH, params={"query": "George", "ll": "51.382,-2.36", "radius": 1000}, headers=FSQ_HEADERS)
        pid = next(p.place_id for p in sandbox.world.places("foursquare") if p.photos)
        item = c.get(f"https://places-api.foursquare.com/places/{pid}/photos", headers=FSQ_HEADERS).json()[0]
        photo_s = _timed(c, item["prefix"] + "original" + item["suffix"])
    assert fsq >= 0.25 and photo_s >= 0.25  # its API and its photo host
    assert here < 0.2
