"""The ID stage with consensus and localities: resolve_ids over fake clients and a mocked Foursquare."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace

import httpx

from venue_pipeline.core import consensus as cs
from venue_pipeline.core.ids import resolve_ids
from venue_pipeline.core.ports import Place, ProviderClient
from venue_pipeline.core.statuses import IdStatus
from venue_pipeline.core.venue import Venue
from venue_pipeline.providers.foursquare import FoursquareClient
from venue_pipeline.providers.memory_ledger import MemoryLedger
from venue_pipeline.providers.registry import default_settings

ORIGIN = (52.629297, 1.300907)  # Prince of Wales Road, Norwich


def at(north_m: float, east_m: float = 0.0) -> tuple[float, float]:
    lat, lng = ORIGIN
    return lat + north_m / 111_195.0, lng + east_m / (111_195.0 * math.cos(math.radians(lat)))


class FakeClient(ProviderClient):
    """Answers every search and geocode with fixed places and remembers the geocode arguments."""

    name = "fake"

    def __init__(self, places: list[Place]) -> None:
        self.places = places
        self.geocoded: list[tuple[str, str | None]] = []

    async def geocode(self, query, *, near=None, locality=None):  # type: ignore[no-untyped-def]
        self.geocoded.append((query, locality))
        return self.places

    async def search(self, name, lat, lng, *, radius_m=250):  # type: ignore[no-untyped-def]
        return self.places

    async def photos(self, place_id):  # type: ignore[no-untyped-def]
        return []

    def photo_request(self, ref, *, max_px=1600):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def cost(self, endpoint_kind):  # type: ignore[no-untyped-def]
        return 0.0


def fire_station(provider: str, place_id: str, name: str, north_m: float, east_m: float = 0.0) -> Place:
    lat, lng = at(north_m, east_m)
    return Place(provider, place_id, name, lat, lng, address="Prince of Wales Road, Norwich", postcode="NR1 1BG")


VENUE = Venue(
    id=7,
    name="The Old Fire Station",
    slug="the-old-fire-station-norwich",
    city_slug="norwich",
    city_name="Norwich",
    address="Prince of Wales Road, Norwich",
    postcode="NR1 1BG",
    country="United Kingdom",
    lat=ORIGIN[0],
    lng=ORIGIN[1],
)


def test_stage_rejects_the_provider_that_two_others_contradict() -> None:
    clients = {
        "here": FakeClient([fire_station("here", "here:1", "The Old Fire Station", 3)]),
        "geoapify": FakeClient([fire_station("geoapify", "geo:1", "Old Fire Station", -2, 5)]),
        # the pin of the venue itself 210 m away: as the venue's only candidate the chooser may accept it
        "google_places": FakeClient([fire_station("google_places", "g:far", "The Old Fire Station", 210)]),
    }
    result = asyncio.run(resolve_ids([VENUE], {}, clients))
    by = {r.provider: r for r in result.records}
    assert by["here"].status == IdStatus.MATCHED and by["geoapify"].status == IdStatus.MATCHED
    g = by["google_places"]
    assert g.status == IdStatus.NO_MATCH and g.place_id is None
    assert g.details["consensus"]["status"] in (cs.CONTRADICTED, cs.NOT_RESCUED)
    if g.details["consensus"]["status"] == cs.CONTRADICTED:  # the chooser had accepted it
        assert result.consensus["google_places/contradicted"] == 1
        assert any("google_places: contradicted" in s for s in result.consensus_samples)
    assert result.consensus["here/agreed"] == 1 and result.consensus["geoapify/agreed"] == 1


def test_coordinate_less_venue_is_geocoded_with_its_locality() -> None:
    venue = replace(VENUE, lat=None, lng=None)
    fake = FakeClient([])
    asyncio.run(resolve_ids([venue], {}, {"here": fake}))
    assert fake.geocoded == [("The Old Fire Station, Prince of Wales Road, Norwich, NR1 1BG, United Kingdom", "Norwich, United Kingdom")]


def test_coordinate_less_venue_foursquare_request_carries_near_and_no_ll() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"results": []})

    async def go() -> None:
        settings = replace(default_settings("foursquare", api_key="test-key"), rate_per_second=1000.0)
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            client = FoursquareClient(settings, http, MemoryLedger())
            await resolve_ids([replace(VENUE, lat=None, lng=None)], {}, {"foursquare": client})

    asyncio.run(go())
    (request,) = requests
    assert request.url.path == "/places/search"
    assert request.url.params["near"] == "Norwich, United Kingdom"
    assert "ll" not in request.url.params
