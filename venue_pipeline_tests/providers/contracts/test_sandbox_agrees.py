"""The sandbox answers each documented request in the documented shape (keys and JSON types of the fields
our clients read), so tests against it say something about the real providers."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from contract_support import load_fixture, missing_keys

from venue_pipeline.core.venue import Venue
from venue_pipeline.sandbox.app import Sandbox, build_sandbox

KEY = "sandbox-key-0123"


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    venues = [
        Venue(id=i, name=name, slug=f"v{i}", city_slug="norwich", city_name="Norwich", address=addr, postcode="NR1 1AA", country="United Kingdom", lat=lat, lng=1.2935)
        for i, (name, addr, lat) in enumerate([("The Adam and Eve", "17 Bishopgate", 52.6322), ("The Murderers", "2 Timberhill", 52.6262), ("The Fat Cat", "49 West End Street", 52.6339)], start=1)
    ]
    return build_sandbox(venues, seed=7, coverage={"foursquare": 1.0, "google_places": 1.0})


def _a_place(sandbox: Sandbox, provider: str):
    """A sandbox place of the provider that has photos (swapped in for the documented place IDs)."""
    found = [p for p in sandbox.world.places(provider) if p.photos]
    assert found, f"no {provider} place with photos in the sandbox"
    return found[0]


def replay(sandbox: Sandbox, fx: dict, *, path: str | None = None, params: dict | None = None, body=None, headers: dict | None = None) -> httpx.Response:
    doc = fx["request"]
    url = httpx.URL(f"https://{doc['host']}{path or doc['path']}", params=params if params is not None else doc.get("params") or {})
    content = json.dumps(body if body is not None else doc.get("body")).encode() if doc["method"] == "POST" else None
    with httpx.Client(transport=sandbox.transport()) as client:
        return client.request(doc["method"], url, content=content, headers=headers or {})


def assert_same_shape(fx: dict, response: httpx.Response) -> None:
    assert response.status_code == fx["response"]["status"], response.text[:300]
    actual = response.json()
    documented = fx["response"]["body"]
    assert type(actual) is type(documented)
    if isinstance(documented, dict):
        top_doc, top_act = set(documented), set(actual)
        assert top_doc - {"next_page_token", "context"} <= top_act, f"top-level keys: docs {sorted(top_doc)}, sandbox {sorted(top_act)}"
    fields = fx["response"].get("fields_read", [])
    assert not missing_keys(documented, actual, fields)
    # the list the fields live in is not empty, so the comparison above was not vacuous
    for field in fields:
        head = field.split("[]")[0]
        if "[]" in field and head:
            assert _at(actual, head), f"{head} is empty in the sandbox answer"


def _at(value, dotted: str):
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


# ---- Foursquare -----------------------------------------------------------------------------------------
def _fsq_headers(api: str) -> dict[str, str]:
    if api == "places":
        return {"Authorization": f"Bearer {KEY}", "X-Places-Api-Version": "2025-06-17", "Accept": "application/json"}
    return {"Authorization": KEY, "Accept": "application/json"}


@pytest.mark.parametrize("api", ["places", "v3"])
@pytest.mark.parametrize("endpoint", ["search", "details", "photos"])
def test_foursquare(sandbox: Sandbox, api: str, endpoint: str) -> None:
    fx = load_fixture("foursquare", f"{api}_{endpoint}")
    place = _a_place(sandbox, "foursquare")
    prefix = "/v3" if api == "v3" else ""
    if endpoint == "search":
        params = {**fx["request"]["params"], "query": place.name, "ll": f"{place.lat},{place.lng}"}
        resp = replay(sandbox, fx, params=params, headers=_fsq_headers(api))
    else:
        path = f"{prefix}/places/{place.place_id}" + ("/photos" if endpoint == "photos" else "")
        resp = replay(sandbox, fx, path=path, headers=_fsq_headers(api))
    assert_same_shape(fx, resp)


# ---- Google ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["legacy_findplace", "legacy_nearbysearch", "legacy_textsearch", "legacy_details"])
def test_google_legacy(sandbox: Sandbox, name: str) -> None:
    fx = load_fixture("google_places", name)
    place = _a_place(sandbox, "google_places")
    params = {**fx["request"]["params"], "key": KEY}
    if name == "legacy_findplace":
        params.update(input=place.name, locationbias=f"circle:5000@{place.lat},{place.lng}")
    elif name == "legacy_nearbysearch":
        params.update(keyword=place.name, location=f"{place.lat},{place.lng}")
    elif name == "legacy_textsearch":
        params.update(query=place.name, location=f"{place.lat},{place.lng}")
    else:
        params.update(place_id=place.place_id)
    assert_same_shape(fx, replay(sandbox, fx, params=params))


def test_google_new_search_text_with_page_size(sandbox: Sandbox) -> None:
    fx = load_fixture("google_places", "new_searchtext")
    place = _a_place(sandbox, "google_places")
    body = {**fx["request"]["body"], "textQuery": place.name, "locationBias": {"circle": {"center": {"latitude": place.lat, "longitude": place.lng}, "radius": 500.0}}}
    headers = {**fx["request"]["headers"], "X-Goog-Api-Key": KEY}
    assert_same_shape(fx, replay(sandbox, fx, body=body, headers=headers))


@pytest.mark.parametrize(("size_field", "value", "status"), [("pageSize", 25, 200), ("pageSize", -1, 400), ("maxResultCount", 5, 200)])
def test_google_new_search_text_page_size_rules(sandbox: Sandbox, size_field: str, value: int, status: int) -> None:
    fx = load_fixture("google_places", "new_searchtext")
    body = {"textQuery": _a_place(sandbox, "google_places").name, size_field: value}
    resp = replay(sandbox, fx, body=body, headers={**fx["request"]["headers"], "X-Goog-Api-Key": KEY})
    assert resp.status_code == status  # above 20 is coerced to 20; negative is INVALID_ARGUMENT


def test_google_new_details_and_photo_media(sandbox: Sandbox) -> None:
    fx = load_fixture("google_places", "new_place_details")
    place = _a_place(sandbox, "google_places")
    headers = {**fx["request"]["headers"], "X-Goog-Api-Key": KEY}
    resp = replay(sandbox, fx, path=f"/v1/places/{place.place_id}", headers=headers)
    assert_same_shape(fx, resp)
    media = load_fixture("google_places", "new_photo_media")
    name = resp.json()["photos"][0]["name"]
    answer = replay(sandbox, media, path=f"/v1/{name}/media", params={"maxWidthPx": "1600", "skipHttpRedirect": "true", "key": KEY})
    assert_same_shape(media, answer)
    redirect = replay(sandbox, media, path=f"/v1/{name}/media", params={"maxWidthPx": "1600", "key": KEY})
    assert redirect.status_code in (302, 303, 307) and "googleusercontent.com" in redirect.headers["location"]


def test_google_legacy_photo_redirects(sandbox: Sandbox) -> None:
    details = load_fixture("google_places", "legacy_details")
    place = _a_place(sandbox, "google_places")
    resp = replay(sandbox, details, params={"place_id": place.place_id, "fields": "photos", "key": KEY})
    ref = resp.json()["result"]["photos"][0]["photo_reference"]
    photo = load_fixture("google_places", "legacy_photo")
    answer = replay(sandbox, photo, params={"photo_reference": ref, "maxwidth": "1600", "key": KEY})
    assert answer.status_code == photo["response"]["status"] and "googleusercontent.com" in answer.headers["location"]


# ---- ImageKit -------------------------------------------------------------------------------------------
def _basic() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}


def test_imagekit_upload_then_list_files(sandbox: Sandbox) -> None:
    up = load_fixture("imagekit", "upload")
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 6), (1, 2, 3)).save(buf, "JPEG")
    with httpx.Client(transport=sandbox.transport()) as client:
        resp = client.post(f"https://{up['request']['host']}{up['request']['path']}", headers=_basic(),
                           data={k: v for k, v in up["request"]["form"].items() if k != "file"}, files={"file": ("file_name.jpg", buf.getvalue(), "image/jpeg")})
    assert_same_shape(up, resp)
    listing = load_fixture("imagekit", "list_files")
    params = {"path": "/testing-python-folder/", "searchQuery": 'name = "file_name.jpg"', "type": "file", "limit": "10"}
    answer = replay(sandbox, listing, params=params, headers=_basic())
    assert_same_shape(listing, answer)
    assert [f["filePath"] for f in answer.json()] == ["/testing-python-folder/file_name.jpg"]
    nothing = replay(sandbox, listing, params={**params, "searchQuery": 'name = "other.jpg"'}, headers=_basic())
    assert nothing.status_code == 200 and nothing.json() == []


def test_imagekit_store_exists_against_the_sandbox(sandbox: Sandbox) -> None:
    """ImageKitStore.exists asks List Files; the sandbox serves it (it answered 404 before)."""
    import asyncio

    from venue_pipeline.cdn.imagekit import ImageKitStore

    async def check() -> tuple[bool, bool]:
        async with httpx.AsyncClient(transport=sandbox.transport()) as http:
            store = ImageKitStore(KEY, "https://ik.imagekit.io/sandbox", http, folder_root="/contract")
            await store.put("/contract/x/a.jpg", _jpeg(), "image/jpeg")
            return await store.exists("/contract/x/a.jpg"), await store.exists("/contract/x/b.jpg")

    assert asyncio.run(check()) == (True, False)


def _jpeg() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 6), (4, 5, 6)).save(buf, "JPEG")
    return buf.getvalue()
