"""Geoapify held to its official OpenAPI specs: the requests we build (LON first), the parse of each documented
example, every documented error form (fixtures/geoapify/*.json, each with its SOURCE)."""

from __future__ import annotations

from typing import Any

import pytest
from contract_support import error_response, json_response, load_fixture, run
from provider_fakes import SECRET

from venue_pipeline.core.errors import ErrorClass, ErrorType, ProviderError
from venue_pipeline.providers.geoapify import GeoapifyClient, _parse_collection

ENDPOINTS = ("geocode-search", "places", "place-details")
CALLED = ("geocode-search", "places")  # our client never calls place-details (the parser is shared)
NEAR = (48.13898913611139, 11.573106549898483)  # (lat, lng) of the documented bias point


def fixture(endpoint: str) -> dict[str, Any]:
    return load_fixture("geoapify", endpoint)


def call(client: GeoapifyClient, endpoint: str, near: tuple[float, float] = NEAR) -> Any:
    if endpoint == "geocode-search":
        return client.geocode("Hannoverstr. 8, 80997 Munich", near=near)
    return client.search("Guido al Duomo", near[0], near[1], radius_m=500)


def place_dict(place: Any) -> dict[str, Any]:
    return {
        "place_id": place.place_id, "name": place.name, "lat": place.lat, "lng": place.lng, "address": place.address,
        "house_number": place.house_number, "street": place.street, "postcode": place.postcode, "city": place.city,
        "categories": list(place.categories), "result_type": place.result_type,
    }


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_fixture_names_its_source(endpoint):
    fx = fixture(endpoint)
    assert fx["SOURCE"]["note"] and fx["request"]["auth"] == {"in": "query", "name": "apiKey"}
    assert {e["status"] for e in fx["errors"]} == {400, 401, 429, 500} and all(e["note"] for e in fx["errors"])


@pytest.mark.parametrize("endpoint", CALLED)
def test_request_follows_the_documented_form(make_client, endpoint):
    doc = fixture(endpoint)["request"]
    empty = {"results": [], "query": {}} if endpoint == "geocode-search" else {"type": "FeatureCollection", "features": []}
    client, rec = make_client(GeoapifyClient, json_response(empty))
    run(call(client, endpoint))
    req = rec.last
    assert (req.method, req.url.scheme, req.url.host, req.url.path) == (doc["method"], "https", doc["host"], doc["path"])
    params = req.url.params
    keys = [k for k, _ in params.multi_items()]
    assert len(keys) == len(set(keys)) and set(keys) <= set(doc["documented_params"])
    assert params["apiKey"] == SECRET and "x-api-key" not in req.headers  # the recommended apiKey query form
    # proximity:lon,lat -- LONGITUDE first (the documented example bias is proximity:11.57...,48.13...)
    assert params["bias"] == "proximity:11.5731065,48.1389891"  # 7 decimal places (about 1 cm)
    if endpoint == "geocode-search":
        assert params["format"] == "json" and params["text"] == doc["params"]["text"]
        assert 1 <= int(params["limit"]) <= 100
    else:
        assert params["filter"] == "circle:11.5731065,48.1389891,500"  # circle:lon,lat,radiusMeters
        assert params["name"] == doc["params"]["name"]
        assert all(c.startswith("catering.") for c in params["categories"].split(","))  # required parameter


@pytest.mark.parametrize("endpoint", CALLED)
@pytest.mark.parametrize(
    ("lat", "lng", "lon_lat"),
    [
        (51.47787, -0.00001, "-0.00001,51.47787"),  # the Greenwich meridian: never the 1e-05 exponent form
        (51.5, -0.00000004, "0,51.5"),  # 7 places; never "-0"
    ],
)
def test_coordinates_are_plain_decimals(make_client, endpoint, lat, lng, lon_lat):
    client, rec = make_client(GeoapifyClient, json_response({"results": [], "features": []}))
    run(call(client, endpoint, near=(lat, lng)))
    params = rec.last.url.params
    assert params["bias"] == f"proximity:{lon_lat}"
    if endpoint == "places":
        assert params["filter"] == f"circle:{lon_lat},500"


@pytest.mark.parametrize("endpoint", CALLED)
def test_documented_response_parses_into_place(make_client, endpoint):
    fx = fixture(endpoint)
    client, _ = make_client(GeoapifyClient, json_response(fx["response"]["body"], fx["response"]["status"]))
    (place,) = run(call(client, endpoint))
    assert place.provider == "geoapify" and place.place_id != place.address  # an ID, never `formatted`
    assert place_dict(place) == fx["response"]["expected_place"]


def test_documented_geojson_geocode_parses_the_same(make_client):
    """format=geojson is the documented default; the same result parses the same from it."""
    fx = fixture("geocode-search")
    client, _ = make_client(GeoapifyClient, json_response(fx["response_geojson"]["body"]))
    (place,) = run(call(client, "geocode-search"))
    assert place_dict(place) == fx["response"]["expected_place"]


def test_documented_place_details_parses_with_the_shared_parser():
    """place-details answers a FeatureCollection whose geometry may be a Polygon: coordinates come from
    properties.lat/lon, never from the ring."""
    fx = fixture("place-details")
    (place,) = _parse_collection(fx["response"]["body"])
    assert place_dict(place) == fx["response"]["expected_place"]


def _error_cases() -> list[Any]:
    return [
        pytest.param(endpoint, err, id=f"{endpoint}-{err['status']}")
        for endpoint in CALLED
        for err in fixture(endpoint)["errors"]
    ]


@pytest.mark.parametrize(("endpoint", "err"), _error_cases())
def test_documented_error_forms(make_client, ledger, endpoint, err):
    client, rec = make_client(GeoapifyClient, error_response(err))
    with pytest.raises(ProviderError) as info:
        run(call(client, endpoint))
    exc = info.value
    assert exc.error_type is ErrorType(err["error_type"]) and exc.error_class is ErrorClass(err["error_class"])
    assert exc.status_code == err["status"] and err["body"]["message"] in exc.message
    assert SECRET not in str(exc)
    retried = exc.error_type in {ErrorType.RATE_LIMITED}  # 500 is ambiguous: not retried inside a call
    assert len(rec.requests) == (3 if retried else 1)
    assert all(c.cost == 0 for c in ledger.calls)


def test_place_details_error_forms_map_like_the_others():
    """The GatewayError examples of place-details are the bodies the other two endpoints' fixtures reuse."""
    details = {(e["status"], e["error_type"], e["error_class"]) for e in fixture("place-details")["errors"]}
    for endpoint in CALLED:
        assert {(e["status"], e["error_type"], e["error_class"]) for e in fixture(endpoint)["errors"]} == details
