"""The sandbox answers each documented HERE / Geoapify request (fixtures/*/*.json, coordinates and IDs swapped
for sandbox ones) with the documented SHAPE: top-level keys, the item's keys, and the keys and JSON types of
every field our clients read."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from contract_support import load_fixture, missing_keys

from venue_pipeline.sandbox.app import Sandbox, build_sandbox
from venue_pipeline.sandbox.faults import FaultConfig, FaultRates

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "core"))
from test_ids_sandbox import demo_venues  # noqa: E402  (the demo venues as the store hands them over)

KEY = "sandbox-key"
# The fields our clients read (providers/here.py _parse_item, providers/geoapify.py _parse_properties).
# Fallbacks only read when the main field is missing (HERE district/county, Geoapify town/village) are left
# out: the sandbox's UK addresses have a city, as the documented examples do.
HERE_FIELDS = [
    "items[].id", "items[].title", "items[].resultType", "items[].position.lat", "items[].position.lng",
    "items[].address.label", "items[].address.houseNumber", "items[].address.street", "items[].address.postalCode",
    "items[].address.city", "items[].categories[].name", "items[].categories[].primary", "items[].foodTypes[].name",
]
GEOAPIFY_PROPS = ["place_id", "name", "lat", "lon", "formatted", "housenumber", "street", "postcode", "city", "categories", "category", "result_type"]
GEOAPIFY_JSON_FIELDS = [f"results[].{f}" for f in GEOAPIFY_PROPS]
GEOAPIFY_GEOJSON_FIELDS = [f"features[].properties.{f}" for f in GEOAPIFY_PROPS] + ["features[].geometry.type"]
# Keys of the documented item that depend on the data (a suburb, a plus code, a state code), not on the form.
DATA_DEPENDENT = {"stateCode", "district", "county", "suburb", "quarter", "state_code", "plus_code", "plus_code_short", "iso3166_2", "ele",
                  "website", "opening_hours", "contact", "facilities", "catering", "housenumber"}


@pytest.fixture(scope="module")
def world() -> tuple[Sandbox, list[Any]]:
    venues = [v for v in demo_venues() if v.has_coordinates][:6]
    return build_sandbox(venues, faults=FaultConfig.none()), venues


def get(sandbox: Sandbox, fx: dict[str, Any], params: dict[str, str]) -> httpx.Response:
    req = fx["request"]
    with httpx.Client(transport=sandbox.transport()) as client:
        return client.request(req["method"], f"https://{req['host']}{req['path']}", params=params)


def item_keys_missing(documented: dict[str, Any], actual: dict[str, Any]) -> set[str]:
    return set(documented) - set(actual) - DATA_DEPENDENT


def first_of_type(items: list[dict[str, Any]], key: str, value: Any) -> dict[str, Any]:
    found = [i for i in items if i.get(key) == value]
    assert found, f"no sandbox item with {key}={value!r} in {[i.get(key) for i in items]}"
    return found[0]


# ---- HERE ---------------------------------------------------------------------------------------
def test_here_geocode(world):
    sandbox, venues = world
    fx = load_fixture("here", "geocode")
    v = venues[0]
    params = dict(fx["request"]["params"], q=f"{v.address}, {v.postcode}", apiKey=KEY)
    resp = get(sandbox, fx, params)
    assert resp.status_code == 200, resp.text
    doc, body = fx["response"]["body"], resp.json()
    assert set(body) == set(doc)
    doc_item = doc["items"][0]
    item = first_of_type(body["items"], "resultType", doc_item["resultType"])  # houseNumber
    assert item_keys_missing(doc_item, item) == set()
    assert item_keys_missing(doc_item["address"], item["address"]) == set()
    assert set(item["mapView"]) == {"west", "south", "east", "north"}
    assert missing_keys(doc, {"items": [item]}, HERE_FIELDS) == []


def test_here_discover(world):
    sandbox, venues = world
    fx = load_fixture("here", "discover")
    v = venues[0]
    params = dict(fx["request"]["params"], q=v.name, apiKey=KEY)
    params["in"] = f"circle:{v.lat},{v.lng};r=250"
    resp = get(sandbox, fx, params)
    assert resp.status_code == 200, resp.text
    doc, body = fx["response"]["body"], resp.json()
    assert set(body) == set(doc)
    doc_item = doc["items"][0]
    item = first_of_type(body["items"], "resultType", "place")
    assert item_keys_missing(doc_item, item) == set()
    assert item_keys_missing(doc_item["address"], item["address"]) == set()
    assert "mapView" not in item  # "place typed results have no mapView" (HERE OpenAPI)
    assert missing_keys(doc, {"items": [item]}, HERE_FIELDS) == []


@pytest.mark.parametrize("endpoint", ["geocode", "discover"])
def test_here_error_forms(world, endpoint):
    """A bad key gets the gateway's 401 form, a quota fault its 429 form: the documented key sets."""
    sandbox, venues = world
    fx = load_fixture("here", endpoint)
    v = venues[1]
    good = dict(fx["request"]["params"], q=v.name, apiKey=KEY)
    if endpoint == "discover":
        good["in"] = f"circle:{v.lat},{v.lng};r=250"
    documented = {e["status"]: e["body"] for e in fx["errors"]}
    resp = get(sandbox, fx, dict(good, apiKey="invalid-key"))
    assert resp.status_code == 401 and set(resp.json()) == set(documented[401])
    limited = build_sandbox(venues, faults=FaultConfig(rates={("here", "*"): FaultRates(rate_limited=1.0)}))
    resp = get(limited, fx, good)
    assert resp.status_code == 429 and set(resp.json()) == set(documented[429])
    bad = dict(good, limit="1000")
    resp = get(sandbox, fx, bad)
    assert resp.status_code == 400
    assert set(documented[400]) - {"cause", "action", "code"} <= set(resp.json())


# ---- Geoapify ----------------------------------------------------------------------------------
def test_geoapify_geocode_search(world):
    sandbox, venues = world
    fx = load_fixture("geoapify", "geocode-search")
    v = venues[0]
    for doc_resp, fmt, fields, rows in (
        (fx["response"], "json", GEOAPIFY_JSON_FIELDS, "results"),
        (fx["response_geojson"], "geojson", GEOAPIFY_GEOJSON_FIELDS, "features"),
    ):
        params = dict(fx["request"]["params"], text=f"{v.address}, {v.postcode}", format=fmt, apiKey=KEY)
        resp = get(sandbox, fx, params)
        assert resp.status_code == 200, resp.text
        doc, body = doc_resp["body"], resp.json()
        assert set(body) == set(doc)
        assert set(body["query"]) >= {"text", "parsed"}
        if rows == "results":
            doc_row = doc["results"][0]
            row = first_of_type(body["results"], "result_type", doc_row["result_type"])  # building
            assert item_keys_missing(doc_row, row) == set()
            assert set(row["bbox"]) == set(doc_row["bbox"]) and set(row["datasource"]) >= set(doc_row["datasource"])
            assert missing_keys(doc, {"results": [row]}, fields) == []
            amenity = first_of_type(body["results"], "result_type", "amenity")
            assert isinstance(amenity.get("category"), str) and "categories" not in amenity  # GeocodingResult has `category`
        else:
            doc_f = doc["features"][0]
            feature = next(f for f in body["features"] if f["properties"]["result_type"] == doc_f["properties"]["result_type"])
            assert set(doc_f) <= set(feature)
            assert item_keys_missing(doc_f["properties"], feature["properties"]) == set()
            assert missing_keys(doc, {"features": [feature]}, fields + ["features[].geometry.coordinates", "features[].bbox"]) == []


@pytest.mark.parametrize("filter_form", ["rect", "circle"])
def test_geoapify_places(world, filter_form):
    sandbox, venues = world
    fx = load_fixture("geoapify", "places")
    v = venues[0]
    d = 0.003
    flt = f"rect:{v.lng - d},{v.lat + d},{v.lng + d},{v.lat - d}" if filter_form == "rect" else f"circle:{v.lng},{v.lat},300"
    params = dict(fx["request"]["params"], categories="catering.pub,catering.bar", filter=flt,
                  bias=f"proximity:{v.lng},{v.lat}", name=v.name, apiKey=KEY)
    resp = get(sandbox, fx, params)
    assert resp.status_code == 200, resp.text
    doc, body = fx["response"]["body"], resp.json()
    assert set(body) == set(doc) and body["features"], body
    doc_f, feature = doc["features"][0], body["features"][0]
    assert set(doc_f) <= set(feature)
    assert item_keys_missing(doc_f["properties"], feature["properties"]) == set()
    assert set(feature["properties"]["datasource"]) >= set(doc_f["properties"]["datasource"])
    # housenumber is data: OSM pubs often have no addr:housenumber, and the sandbox's POIs mostly have none
    fields = [f for f in GEOAPIFY_GEOJSON_FIELDS if not f.endswith("housenumber")]
    assert missing_keys(doc, body, fields + ["features[].geometry.coordinates", "features[].properties.distance"]) == []
    for f in body["features"]:  # the filter is a hard filter
        lon, lat = f["geometry"]["coordinates"]
        if filter_form == "rect":
            assert v.lng - d <= lon <= v.lng + d and v.lat - d <= lat <= v.lat + d


def test_geoapify_place_details(world):
    sandbox, venues = world
    fx = load_fixture("geoapify", "place-details")
    place_id = next(pid for v in venues if (pid := sandbox.world.truth("geoapify", v.id)))
    resp = get(sandbox, fx, dict(fx["request"]["params"], id=place_id, apiKey=KEY))
    assert resp.status_code == 200, resp.text
    doc, body = fx["response"]["body"], resp.json()
    assert set(body) == set(doc)
    doc_f, feature = doc["features"][0], body["features"][0]
    assert set(doc_f) <= set(feature)
    assert item_keys_missing(doc_f["properties"], feature["properties"]) == set()
    assert feature["properties"]["feature_type"] == "details" and feature["properties"]["place_id"] == place_id
    assert missing_keys(doc, body, [f for f in GEOAPIFY_GEOJSON_FIELDS if "geometry" not in f] + ["features[].bbox"]) == []


@pytest.mark.parametrize("endpoint", ["geocode-search", "places", "place-details"])
def test_geoapify_error_forms(world, endpoint):
    sandbox, venues = world
    fx = load_fixture("geoapify", endpoint)
    documented = {e["status"]: e["body"] for e in fx["errors"]}
    resp = get(sandbox, fx, dict(fx["request"]["params"], apiKey="invalid-key"))
    assert resp.status_code == 401 and resp.json() == documented[401]
    kind = {"geocode-search": "geocode", "places": "search", "place-details": "details"}[endpoint]
    limited = build_sandbox(venues, faults=FaultConfig(rates={("geoapify", kind): FaultRates(rate_limited=1.0)}))
    v = venues[0]
    params = dict(fx["request"]["params"], apiKey=KEY)
    if endpoint == "place-details":
        params["id"] = limited.world.truth("geoapify", v.id) or params["id"]
    resp = get(limited, fx, params)
    assert resp.status_code == 429 and resp.json() == documented[429]
    if endpoint == "place-details":
        resp = get(sandbox, fx, dict(fx["request"]["params"], id="51deadbeef", apiKey=KEY))
        assert resp.status_code == 400 and resp.json() == documented[400]
