"""Each simulated provider answers in its real wire format, including its errors."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from venue_pipeline.core.venue import Venue
from venue_pipeline.sandbox.app import Sandbox, build_sandbox
from venue_pipeline.sandbox.world import PROVIDERS

FSQ_HEADERS = {"Authorization": "Bearer fsq-service-key", "X-Places-Api-Version": "2025-06-17"}


def make_venues() -> list[Venue]:
    return [
        Venue(1, "Anchor Inn", "anchor-inn-sudbury", "sudbury", "Sudbury", "7 Market Hill, SUDBURY, Suffolk", "CO10 2EA", "United Kingdom", 52.0380, 0.7305),
        Venue(2, "The Red Lion", "the-red-lion-sudbury", "sudbury", "Sudbury", "Church Street, SUDBURY, Suffolk", "CO10 6BL", "United Kingdom", 52.0366, 0.7262),
        Venue(3, "Rose & Crown", "rose-and-crown-sudbury", "sudbury", "Sudbury", "12 Friars Street, SUDBURY, Suffolk", "CO10 2AA", "United Kingdom", 52.0352, 0.7311),
        Venue(4, "Kings Arms", "kings-arms-sudbury", "sudbury", "Sudbury", "41 Ballingdon Street, SUDBURY, Suffolk", "CO10 2DA", "United Kingdom"),
    ] + [Venue(100 + i, f"Swan {i}", f"swan-{i}", "sudbury", "Sudbury", f"{i} Cross Street, SUDBURY, Suffolk", "CO10 2AB", "United Kingdom", 52.04 + i * 0.002, 0.73) for i in range(12)]


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return build_sandbox(make_venues(), seed=7, coverage={p: 1.0 for p in PROVIDERS}, distractors=1.5)


@pytest.fixture()
def client(sandbox: Sandbox) -> httpx.Client:
    with httpx.Client(transport=sandbox.transport()) as c:
        yield c


def decode(content: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(content))
    img.load()
    return img


# ---- HERE --------------------------------------------------------------------------------------------
def test_here_geocode_discover_lookup(sandbox: Sandbox, client: httpx.Client) -> None:
    truth = sandbox.world.truth("here", 1)
    r = client.get("https://geocode.search.hereapi.com/v1/geocode", params={"q": "Anchor Inn, 7 Market Hill, CO10 2EA", "apiKey": "k", "limit": 5})
    assert r.status_code == 200
    items = r.json()["items"]
    assert items[0]["id"] == truth and items[0]["resultType"] == "place"
    assert {"lat", "lng"} <= set(items[0]["position"]) and items[0]["address"]["postalCode"] == "CO10 2EA"
    assert items[0]["categories"][0]["primary"] is True

    r = client.get("https://discover.search.hereapi.com/v1/discover", params={"q": "Anchor Inn", "in": "circle:52.038,0.7305;r=400", "apiKey": "k"})
    found = r.json()["items"]
    assert truth in [i["id"] for i in found] and all("distance" in i for i in found)

    r = client.get("https://lookup.search.hereapi.com/v1/lookup", params={"id": truth, "apiKey": "k"})
    assert r.status_code == 200 and r.json()["id"] == truth and "items" not in r.json()


def test_here_errors(client: httpx.Client) -> None:
    r = client.get("https://geocode.search.hereapi.com/v1/geocode", params={"q": "x", "apiKey": "invalid-key"})
    assert r.status_code == 401 and r.json()["error"] == "Unauthorized"
    r = client.get("https://discover.search.hereapi.com/v1/discover", params={"q": "x", "apiKey": "k"})
    assert r.status_code == 400 and r.json()["status"] == 400
    r = client.get("https://lookup.search.hereapi.com/v1/lookup", params={"id": "here:pds:place:00000000-" + "0" * 32, "apiKey": "k"})
    assert r.status_code == 404
    r = client.get("https://geocode.search.hereapi.com/v1/geocode?q=a&q=b&apiKey=k")
    assert r.status_code == 400


def test_here_lookup_has_no_media_like_the_real_api(sandbox: Sandbox, client: httpx.Client) -> None:
    place = sandbox.world.places("here")[0]
    item = client.get("https://lookup.search.hereapi.com/v1/lookup", params={"id": place.place_id, "apiKey": "k"}).json()
    assert item["id"] == place.place_id and "media" not in item
    assert not any(p.photos for p in sandbox.world.places("here"))


# ---- Geoapify -----------------------------------------------------------------------------------------
def test_geoapify_geocode_geojson_default_and_json(sandbox: Sandbox, client: httpx.Client) -> None:
    truth = sandbox.world.truth("geoapify", 1)
    r = client.get("https://api.geoapify.com/v1/geocode/search", params={"text": "Anchor Inn, 7 Market Hill, Sudbury", "apiKey": "k"})
    body = r.json()
    assert body["type"] == "FeatureCollection"
    props = body["features"][0]["properties"]
    assert props["place_id"] == truth and body["features"][0]["geometry"]["type"] == "Point"
    assert 0 < props["rank"]["confidence"] <= 1
    r = client.get("https://api.geoapify.com/v1/geocode/search", params={"text": "7 Market Hill, Sudbury, CO10 2EA", "format": "json", "apiKey": "k"})
    results = r.json()["results"]
    assert results[0]["result_type"] == "building" and set(results[0]["bbox"]) == {"lon1", "lat1", "lon2", "lat2"}


def test_geoapify_places_and_errors(sandbox: Sandbox, client: httpx.Client) -> None:
    r = client.get("https://api.geoapify.com/v2/places", params={"categories": "catering", "filter": "circle:0.7305,52.038,300", "name": "Anchor", "apiKey": "k"})
    names = [f["properties"]["place_id"] for f in r.json()["features"]]
    assert sandbox.world.truth("geoapify", 1) in names
    r = client.get("https://api.geoapify.com/v2/places", params={"filter": "circle:0.7305,52.038,300", "apiKey": "k"})
    assert r.status_code == 400 and set(r.json()) == {"statusCode", "error", "message"}
    r = client.get("https://api.geoapify.com/v1/geocode/search", params={"text": "x"})
    assert r.status_code == 401 and r.json() == {"statusCode": 401, "error": "Unauthorized", "message": "Invalid apiKey"}


# ---- Foursquare ---------------------------------------------------------------------------------------
def test_foursquare_new_api_search_details_photos(sandbox: Sandbox, client: httpx.Client) -> None:
    truth = sandbox.world.truth("foursquare", 1)
    r = client.get("https://places-api.foursquare.com/places/search", params={"query": "Anchor Inn", "ll": "52.038,0.7305", "radius": 400}, headers=FSQ_HEADERS)
    results = r.json()["results"]
    assert truth in [x["fsq_place_id"] for x in results]
    first = results[0]
    assert {"latitude", "longitude", "distance", "location", "categories"} <= set(first)
    assert "fsq_category_id" in first["categories"][0]
    r = client.get(f"https://places-api.foursquare.com/places/{truth}", headers=FSQ_HEADERS)
    assert r.json()["fsq_place_id"] == truth
    photos = client.get(f"https://places-api.foursquare.com/places/{truth}/photos", params={"limit": 50}, headers=FSQ_HEADERS).json()
    assert isinstance(photos, list)
    assert len(photos) == len(sandbox.world.place("foursquare", truth).photos)
    for p in photos[:2]:
        assert set(p) >= {"id", "created_at", "prefix", "suffix", "width", "height", "classifications"}
        img = client.get(p["prefix"] + "200x200" + p["suffix"])
        assert img.status_code == 200 and decode(img.content).size == (200, 200)
        big = client.get(p["prefix"] + "original" + p["suffix"])
        assert max(decode(big.content).size) <= 800


def test_foursquare_v3_and_auth_rules(sandbox: Sandbox, client: httpx.Client) -> None:
    truth = sandbox.world.truth("foursquare", 1)
    r = client.get("https://api.foursquare.com/v3/places/search", params={"query": "Anchor Inn", "ll": "52.038,0.7305"}, headers={"Authorization": "fsq3-key"})
    first = next(x for x in r.json()["results"] if x["fsq_id"] == truth)
    assert set(first["geocodes"]["main"]) == {"latitude", "longitude"} and isinstance(first["categories"][0]["id"], int)
    assert client.get(f"https://api.foursquare.com/v3/places/{truth}/photos", headers={"Authorization": "fsq3-key"}).status_code == 200
    # v3 takes the raw key, the new API a Bearer token plus the version header
    assert client.get("https://api.foursquare.com/v3/places/search", headers={"Authorization": "Bearer x"}).status_code == 401
    r = client.get("https://places-api.foursquare.com/places/search", headers={"Authorization": "raw-key", "X-Places-Api-Version": "2025-06-17"})
    assert r.status_code == 401 and r.json() == {"message": "Invalid request token."}
    assert client.get("https://places-api.foursquare.com/places/search", headers={"Authorization": "Bearer k"}).status_code == 400
    assert client.get("https://places-api.foursquare.com/places/ffffffffffffffffffffffff", headers=FSQ_HEADERS).status_code == 404


# ---- Google legacy --------------------------------------------------------------------------------------
def test_google_legacy_search_details_and_statuses(sandbox: Sandbox, client: httpx.Client) -> None:
    truth = sandbox.world.truth("google_places", 1)
    base = "https://maps.googleapis.com/maps/api/place"
    r = client.get(f"{base}/findplacefromtext/json", params={"input": "Anchor Inn Sudbury", "inputtype": "textquery", "fields": "place_id,name,geometry", "locationbias": "circle:2000@52.038,0.7305", "key": "k"})
    body = r.json()
    assert body["status"] == "OK" and body["candidates"][0]["place_id"] == truth and set(body["candidates"][0]) == {"place_id", "name", "geometry"}
    r = client.get(f"{base}/nearbysearch/json", params={"location": "52.038,0.7305", "radius": 400, "keyword": "Anchor Inn", "key": "k"})
    assert truth in [x["place_id"] for x in r.json()["results"]]
    r = client.get(f"{base}/textsearch/json", params={"query": "zzzz qqqq", "key": "k"})
    assert r.status_code == 200 and r.json()["status"] == "ZERO_RESULTS"
    r = client.get(f"{base}/details/json", params={"place_id": "ChIJ" + "A" * 23, "key": "k"})
    assert r.status_code == 200 and r.json()["status"] == "NOT_FOUND"
    r = client.get(f"{base}/details/json", params={"place_id": truth, "key": "invalid"})
    assert r.status_code == 200 and r.json()["status"] == "REQUEST_DENIED" and r.json()["error_message"]
    r = client.get(f"{base}/details/json", params={"place_id": truth, "fields": "name,formatted_address,photos", "key": "k"})
    result = r.json()["result"]
    assert set(result) <= {"name", "formatted_address", "photos"} and "CO10 2EA" in result["formatted_address"]


def test_google_nearby_pagination(client: httpx.Client) -> None:
    base = "https://maps.googleapis.com/maps/api/place/nearbysearch/json"
    first = client.get(base, params={"location": "52.045,0.73", "radius": 5000, "keyword": "Swan", "key": "k"}).json()
    assert first["status"] == "OK"
    assert len(first["results"]) <= 20


# ---- Google New -------------------------------------------------------------------------------------------
def test_google_new_requires_field_mask_and_key(sandbox: Sandbox, client: httpx.Client) -> None:
    url = "https://places.googleapis.com/v1/places:searchText"
    r = client.post(url, json={"textQuery": "Anchor Inn"}, headers={"X-Goog-Api-Key": "k"})
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT" and "FieldMask" in r.json()["error"]["message"]
    r = client.post(url, json={"textQuery": "Anchor Inn"}, headers={"X-Goog-Api-Key": "invalid", "X-Goog-FieldMask": "places.id"})
    assert r.status_code == 401 and set(r.json()["error"]) >= {"code", "message", "status"}
    r = client.post(
        url,
        json={"textQuery": "Anchor Inn", "locationBias": {"circle": {"center": {"latitude": 52.038, "longitude": 0.7305}, "radius": 500.0}}},
        headers={"X-Goog-Api-Key": "k", "X-Goog-FieldMask": "places.id,places.displayName,places.location"},
    )
    places = r.json()["places"]
    assert places[0]["id"] == sandbox.world.truth("google_places", 1)
    assert set(places[0]) == {"id", "displayName", "location"}
    r = client.post(url, json={"textQuery": "qqqq zzzz"}, headers={"X-Goog-Api-Key": "k", "X-Goog-FieldMask": "places.id"})
    assert r.status_code == 200 and r.json() == {}


def test_unknown_host_is_a_connection_error(client: httpx.Client) -> None:
    with pytest.raises(httpx.ConnectError):
        client.get("https://example.org/")


def test_calls_are_counted_per_host_and_kind(sandbox: Sandbox, client: httpx.Client) -> None:
    sandbox.reset_counters()
    client.get("https://geocode.search.hereapi.com/v1/geocode", params={"q": "Anchor", "apiKey": "k"})
    client.get("https://geocode.search.hereapi.com/v1/geocode", params={"q": "Anchor", "apiKey": "k"})
    assert sandbox.calls[("geocode.search.hereapi.com", "geocode")] == 2
    assert sandbox.calls_to("geocode.search.hereapi.com") == 2
