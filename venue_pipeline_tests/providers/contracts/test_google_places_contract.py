"""Google Places client (legacy and New) against Google's documented requests, examples and error forms."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import pytest
from contract_support import Capture, documented_response, error_response, load_fixture, run

from venue_pipeline.core.errors import ProviderError, classify
from venue_pipeline.core.ports import PhotoRef
from venue_pipeline.providers.google_places import GooglePlacesClient
from venue_pipeline.providers.memory_ledger import MemoryLedger
from venue_pipeline.providers.registry import default_settings

KEY = "AIza-KEY-0123456789"


def client_for(api: str, capture: Capture) -> GooglePlacesClient:
    settings = replace(default_settings("google_places", api_key=KEY), rate_per_second=1000.0, options={"api": api, "retry_backoff_s": "0"})
    return GooglePlacesClient(settings, httpx.AsyncClient(transport=capture.transport()), MemoryLedger())


def check_legacy_request(req: httpx.Request | httpx.Request, documented: dict) -> None:
    assert req.method == documented["method"] and req.url.scheme == "https"
    assert (req.url.host, req.url.path) == (documented["host"], documented["path"])
    assert set(req.url.params) <= set(documented["documented_params"])
    assert req.url.params["key"] == KEY  # the key travels in the query string on the legacy service


def check_new_request(req: httpx.Request, documented: dict) -> None:
    assert req.method == documented["method"] and req.url.scheme == "https"
    assert (req.url.host, req.url.path) == (documented["host"], documented["path"])
    assert req.headers["X-Goog-Api-Key"] == KEY and "key" not in req.url.params
    assert req.headers["X-Goog-FieldMask"] == documented["headers"]["X-Goog-FieldMask"]


def check_place(place, expected: dict) -> None:
    for field, value in expected.items():
        assert getattr(place, {"place_id": "place_id"}.get(field, field)) == value, field


# ---- legacy -------------------------------------------------------------------------------------------
def test_legacy_find_place_geocode() -> None:
    fx = load_fixture("google_places", "legacy_findplace")
    cap = Capture(documented_response(fx))
    (place,) = run(client_for("legacy", cap).geocode("Museum of Contemporary Art Australia", near=(-33.86, 151.21)))
    check_legacy_request(cap.last, fx["request"])
    params = {k: v for k, v in cap.last.url.params.items() if k != "key"}
    assert params == fx["request"]["params"]  # locationbias circle:radius@lat,lng, metres, lat first
    check_place(place, fx["expected"])


def test_legacy_nearby_search() -> None:
    fx = load_fixture("google_places", "legacy_nearbysearch")
    cap = Capture(documented_response(fx))
    (place,) = run(client_for("legacy", cap).search("Cruise Bar", -33.8587, 151.21, radius_m=250))
    check_legacy_request(cap.last, fx["request"])
    assert {k: v for k, v in cap.last.url.params.items() if k != "key"} == fx["request"]["params"]
    check_place(place, fx["expected"])
    assert place.address == fx["response"]["body"]["results"][0]["vicinity"]


def test_legacy_details_photos_and_photo_request() -> None:
    fx = load_fixture("google_places", "legacy_details")
    cap = Capture(documented_response(fx))
    client = client_for("legacy", cap)
    refs = run(client.photos(fx["request"]["params"]["place_id"]))
    check_legacy_request(cap.last, fx["request"])
    assert {k: v for k, v in cap.last.url.params.items() if k != "key"} == fx["request"]["params"]
    assert len(refs) == fx["expected"]["photos"] and (refs[0].width, refs[0].height) == (4032, 3024)
    assert all(KEY not in r.reference for r in refs) and "Cynthia Wei" in (refs[0].attribution or "")

    photo = load_fixture("google_places", "legacy_photo")
    req = client.photo_request(refs[0], max_px=4000)
    check_legacy_request(req, photo["request"])
    assert {k: v for k, v in req.url.params.items() if k != "key"} == photo["request"]["params"]  # maxwidth capped at 1600


@pytest.mark.parametrize("name", ["legacy_findplace", "legacy_nearbysearch", "legacy_details"])
def test_legacy_documented_statuses_map_to_the_taxonomy(name: str) -> None:
    fx = load_fixture("google_places", name)
    for err in fx["errors"]:
        cap = Capture(error_response(err))
        client = client_for("legacy", cap)
        call = {"legacy_findplace": lambda: client.geocode("x"), "legacy_nearbysearch": lambda: client.search("x", 1.0, 2.0), "legacy_details": lambda: client.photos("ChIJx")}[name]
        with pytest.raises(ProviderError) as info:
            run(call())
        assert info.value.error_type.value == err["error_type"], err["note"]
        assert classify(info.value.error_type).value == err["error_class"]
        assert len(cap.requests) == (3 if err.get("retried") or err["error_class"] == "transient" else 1)


# ---- New ----------------------------------------------------------------------------------------------
def test_new_text_search_body_uses_page_size_and_parses_the_example() -> None:
    fx = load_fixture("google_places", "new_searchtext")
    cap = Capture(documented_response(fx))
    circle = fx["request"]["body"]["locationBias"]["circle"]
    (place,) = run(client_for("new", cap).search("Spicy Vegetarian Food", circle["center"]["latitude"], circle["center"]["longitude"], radius_m=int(circle["radius"])))
    check_new_request(cap.last, fx["request"])
    body = json.loads(cap.last.content)
    assert body == fx["request"]["body"]
    assert set(body) <= set(fx["request"]["documented_body_fields"]) and not set(body) & set(fx["request"]["deprecated_body_fields"])
    check_place(place, fx["expected"])


def test_new_details_photos_and_media_request() -> None:
    fx = load_fixture("google_places", "new_place_details")
    cap = Capture(documented_response(fx))
    client = client_for("new", cap)
    place_id = fx["request"]["path"].rsplit("/", 1)[1]
    refs = run(client.photos(place_id))
    req = cap.last
    assert req.method == "GET" and (req.url.host, req.url.path) == (fx["request"]["host"], fx["request"]["path"])
    assert req.headers["X-Goog-Api-Key"] == KEY and req.headers["X-Goog-FieldMask"] == "id,photos"  # no places. prefix
    assert len(refs) == fx["expected"]["photos"] and refs[0].attribution == fx["expected"]["first_attribution"]
    assert refs[0].reference == fx["response"]["body"]["photos"][0]["name"]

    media = load_fixture("google_places", "new_photo_media")
    built = client.photo_request(PhotoRef("google_places", "k", refs[0].reference, 4032, 3024), max_px=1600)
    assert (built.url.host, built.url.path) == (media["request"]["host"], media["request"]["path"])
    assert built.url.params["maxWidthPx"] == "1600" and built.url.params["key"] == KEY
    assert set(built.url.params) <= set(media["request"]["documented_params"])


@pytest.mark.parametrize("name", ["new_searchtext", "new_place_details"])
def test_new_documented_errors_map_to_the_taxonomy(name: str) -> None:
    fx = load_fixture("google_places", name)
    for err in fx["errors"]:
        cap = Capture(error_response(err))
        client = client_for("new", cap)
        with pytest.raises(ProviderError) as info:
            run(client.search("x", 1.0, 2.0) if name == "new_searchtext" else client.photos("ChIJx"))
        assert info.value.error_type.value == err["error_type"], err["note"]
        assert classify(info.value.error_type).value == err["error_class"]
        assert info.value.status_code == err["status"] and KEY not in str(info.value)
