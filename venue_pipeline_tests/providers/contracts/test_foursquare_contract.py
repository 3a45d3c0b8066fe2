"""Foursquare client against Foursquare's documented requests, response fields and error forms (both hosts)."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from contract_support import Capture, documented_response, error_response, load_fixture, run

from venue_pipeline.core.errors import ProviderError, classify
from venue_pipeline.providers.foursquare import FoursquareClient
from venue_pipeline.providers.memory_ledger import MemoryLedger
from venue_pipeline.providers.registry import default_settings

KEY = "fsq3-KEY-0123456789"
APIS = ["places", "v3"]


def client_for(api: str, capture: Capture) -> FoursquareClient:
    settings = replace(default_settings("foursquare", api_key=KEY), rate_per_second=1000.0, options={"api": api, "retry_backoff_s": "0"})
    return FoursquareClient(settings, httpx.AsyncClient(transport=capture.transport()), MemoryLedger())


def check_request(req: httpx.Request, documented: dict) -> None:
    assert req.method == documented["method"]
    assert req.url.scheme == "https" and req.url.host == documented["host"]
    assert req.url.path == documented["path"]
    assert set(req.url.params) <= set(documented["documented_params"]), "a parameter the docs do not list"
    auth = documented["auth"]
    assert req.headers[auth["name"]] == auth["form"].replace("{SERVICE_KEY}", KEY).replace("{API_KEY}", KEY)
    for name, value in auth.get("also", {}).items():
        assert req.headers[name] == value
    assert KEY not in str(req.url)


@pytest.mark.parametrize("api", APIS)
def test_search_request_and_parse(api: str) -> None:
    fx = load_fixture("foursquare", f"{api}_search")
    cap = Capture(documented_response(fx))
    lat, lng = (float(x) for x in fx["request"]["params"]["ll"].split(","))
    (place,) = run(client_for(api, cap).search("Bateau Ivre", lat, lng, radius_m=250))
    check_request(cap.last, fx["request"])
    assert dict(cap.last.url.params) == fx["request"]["params"]  # ll is "lat,lng", radius in metres
    exp = fx["expected"]
    assert (place.place_id, place.name, place.lat, place.lng) == (exp["place_id"], exp["name"], exp["lat"], exp["lng"])
    assert (place.house_number, place.street, place.postcode, place.city) == (exp["house_number"], exp["street"], exp["postcode"], exp["city"])


@pytest.mark.parametrize("api", APIS)
def test_geocode_uses_the_search_endpoint_with_near(api: str) -> None:
    fx = load_fixture("foursquare", f"{api}_search")
    cap = Capture(documented_response(fx))
    run(client_for(api, cap).geocode("Bateau Ivre, Oranienstraße 6", locality="Berlin, Germany"))
    check_request(cap.last, fx["request"])
    assert cap.last.url.params["near"] == "Berlin, Germany" and "ll" not in cap.last.url.params


@pytest.mark.parametrize("api", APIS)
def test_photos_request_parse_and_sized_url(api: str) -> None:
    fx = load_fixture("foursquare", f"{api}_photos")
    cap = Capture(documented_response(fx))
    client = client_for(api, cap)
    place_id = fx["request"]["path"].split("/")[-2]
    refs = run(client.photos(place_id))
    check_request(cap.last, fx["request"])
    assert dict(cap.last.url.params) == fx["request"]["params"]
    assert [r.photo_key for r in refs] == [p["id"] for p in fx["response"]["body"]]
    assert refs[0].reference == fx["expected"]["reference"] and (refs[0].width, refs[0].height) == (1440, 1920)
    assert str(client.photo_request(refs[0], max_px=1600).url) == fx["expected"]["sized_1600"]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("endpoint", ["search", "photos"])
def test_documented_errors_map_to_the_taxonomy(api: str, endpoint: str) -> None:
    fx = load_fixture("foursquare", f"{api}_{endpoint}")
    for err in fx["errors"]:
        cap = Capture(error_response(err))
        client = client_for(api, cap)
        with pytest.raises(ProviderError) as info:
            run(client.search("x", 52.5, 13.4) if endpoint == "search" else client.photos("4b9d1f3ef964a520ec9336e3"))
        assert info.value.error_type.value == err["error_type"], err["note"]
        assert classify(info.value.error_type).value == err["error_class"]
        assert info.value.status_code == err["status"] and err["body"]["message"] in info.value.message
