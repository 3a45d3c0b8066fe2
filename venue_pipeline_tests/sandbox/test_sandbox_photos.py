"""Google photo tokens rotate like the real API, photo bytes are real images, ImageKit behaves."""

from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image

from venue_pipeline.core.venue import Venue
from venue_pipeline.sandbox.app import Sandbox, build_sandbox
from venue_pipeline.sandbox.world import PROVIDERS

AUTH = {"Authorization": "Basic " + base64.b64encode(b"private_sandbox_key:").decode()}
UPLOAD = "https://upload.imagekit.io/api/v1/files/upload"


def make_venues() -> list[Venue]:
    return [Venue(i, f"Crown {i}", f"crown-{i}", "sudbury", "Sudbury", f"{i} High Street, SUDBURY, Suffolk", "CO10 1AA", "United Kingdom", 52.03 + i * 0.003, 0.73) for i in range(1, 25)]


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return build_sandbox(make_venues(), seed=11, coverage={p: 1.0 for p in PROVIDERS})


@pytest.fixture()
def client(sandbox: Sandbox) -> httpx.Client:
    with httpx.Client(transport=sandbox.transport()) as c:
        yield c


def place_with_photos(sandbox: Sandbox, provider: str, n: int = 2) -> str:
    return next(p.place_id for p in sandbox.world.places(provider) if len(p.photos) >= n and p.venue_id)


def test_google_legacy_photo_reference_changes_per_call_but_resolves(sandbox: Sandbox, client: httpx.Client) -> None:
    pid = place_with_photos(sandbox, "google_places")
    url = "https://maps.googleapis.com/maps/api/place/details/json"
    one = client.get(url, params={"place_id": pid, "fields": "photos", "key": "k"}).json()["result"]["photos"]
    two = client.get(url, params={"place_id": pid, "fields": "photos", "key": "k"}).json()["result"]["photos"]
    assert [p["photo_reference"] for p in one] != [p["photo_reference"] for p in two]
    assert [(p["width"], p["height"], p["html_attributions"]) for p in one] == [(p["width"], p["height"], p["html_attributions"]) for p in two]
    for ref in (one[0]["photo_reference"], two[0]["photo_reference"]):
        r = client.get("https://maps.googleapis.com/maps/api/place/photo", params={"photo_reference": ref, "maxwidth": 400, "key": "k"})
        assert r.status_code == 302 and r.headers["location"].startswith("https://lh3.googleusercontent.com/")
        img = client.get(r.headers["location"])
        assert img.status_code == 200 and img.headers["content-type"] in {"image/jpeg", "image/png"}
        assert Image.open(io.BytesIO(img.content)).size[0] <= 400
    bad = client.get("https://maps.googleapis.com/maps/api/place/photo", params={"photo_reference": "Aap_uEforged", "maxwidth": 400, "key": "k"})
    assert bad.status_code == 400
    no_size = client.get("https://maps.googleapis.com/maps/api/place/photo", params={"photo_reference": one[0]["photo_reference"], "key": "k"})
    assert no_size.status_code == 400


def test_google_new_photo_names_rotate_and_media_validates(sandbox: Sandbox, client: httpx.Client) -> None:
    pid = place_with_photos(sandbox, "google_places")
    headers = {"X-Goog-Api-Key": "k", "X-Goog-FieldMask": "id,photos"}
    a = client.get(f"https://places.googleapis.com/v1/places/{pid}", headers=headers).json()["photos"]
    b = client.get(f"https://places.googleapis.com/v1/places/{pid}", headers=headers).json()["photos"]
    assert a[0]["name"] != b[0]["name"] and a[0]["name"].startswith(f"places/{pid}/photos/")
    assert (a[0]["widthPx"], a[0]["heightPx"], a[0]["authorAttributions"]) == (b[0]["widthPx"], b[0]["heightPx"], b[0]["authorAttributions"])
    media = f"https://places.googleapis.com/v1/{a[0]['name']}/media"
    assert client.get(media, headers={"X-Goog-Api-Key": "k"}).status_code == 400
    assert client.get(media, params={"maxWidthPx": 5000}, headers={"X-Goog-Api-Key": "k"}).status_code == 400
    r = client.get(media, params={"maxWidthPx": 300, "skipHttpRedirect": "true"}, headers={"X-Goog-Api-Key": "k"})
    assert r.status_code == 200 and r.json()["photoUri"].startswith("https://lh3.googleusercontent.com/")
    img = client.get(r.json()["photoUri"])
    assert Image.open(io.BytesIO(img.content)).size[0] <= 300
    redirect = client.get(media, params={"maxHeightPx": 200}, headers={"X-Goog-Api-Key": "k"})
    assert redirect.status_code == 302
    # a legacy reference is not a New photo name
    legacy = client.get(
        "https://maps.googleapis.com/maps/api/place/details/json", params={"place_id": pid, "fields": "photos", "key": "k"}
    ).json()["result"]["photos"][0]["photo_reference"]
    wrong = client.get(f"https://places.googleapis.com/v1/places/{pid}/photos/{legacy}/media", params={"maxWidthPx": 100}, headers={"X-Goog-Api-Key": "k"})
    assert wrong.status_code == 400


def test_photo_bytes_are_deterministic_images(sandbox: Sandbox, client: httpx.Client) -> None:
    pid = place_with_photos(sandbox, "foursquare")
    photo = sandbox.world.place("foursquare", pid).photos[0]
    url = f"https://fastly.4sqi.net/img/general/original/{photo.token}.jpg"
    first, second = client.get(url), client.get(url)
    assert first.content == second.content
    img = Image.open(io.BytesIO(first.content))
    assert img.format == "JPEG" and max(img.size) <= 800
    assert abs(img.size[0] / img.size[1] - photo.width / photo.height) < 0.02


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 10, 10)).save(out, format="PNG")
    return out.getvalue()


def test_imagekit_upload_serves_and_counts(sandbox: Sandbox, client: httpx.Client) -> None:
    data = png_bytes()
    fields = {"fileName": "photo 1.png", "folder": "/venues/7", "useUniqueFileName": "false", "tags": "venue,google"}
    r = client.post(UPLOAD, files={"file": ("photo 1.png", data, "image/png")}, data=fields, headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert body["filePath"] == "/venues/7/photo_1.png"
    assert body["url"] == f"https://ik.imagekit.io/{sandbox.imagekit_id}/venues/7/photo_1.png"
    assert (body["width"], body["height"], body["fileType"], body["size"]) == (32, 24, "image", len(data))
    assert body["tags"] == ["venue", "google"] and body["versionInfo"]["name"] == "Version 1"
    served = client.get(body["url"])
    assert served.content == data and served.headers["content-type"] == "image/png"
    # overwrite is allowed by default and makes a new version of the same path
    again = client.post(UPLOAD, files={"file": ("x.png", data, "image/png")}, data=fields, headers=AUTH).json()
    assert again["versionInfo"]["name"] == "Version 2" and again["fileId"] == body["fileId"]
    assert sandbox.imagekit_upload_count("/venues/7/photo_1.png") == 2
    blocked = client.post(UPLOAD, files={"file": ("x.png", data, "image/png")}, data={**fields, "overwriteFile": "false"}, headers=AUTH)
    assert blocked.status_code == 400 and "already exists" in blocked.json()["message"] and "help" in blocked.json()
    unique = client.post(UPLOAD, files={"file": ("x.png", data, "image/png")}, data={"fileName": "photo.png", "folder": "/venues/7"}, headers=AUTH).json()
    assert unique["filePath"].startswith("/venues/7/photo_") and unique["filePath"] != "/venues/7/photo.png"


def test_imagekit_base64_upload_auth_and_size_limit(sandbox: Sandbox, client: httpx.Client) -> None:
    data = png_bytes()
    r = client.post(UPLOAD, files={"file": (None, base64.b64encode(data).decode())}, data={"fileName": "b64.png", "folder": "/t"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["width"] == 32
    r = client.post(UPLOAD, files={"file": ("a.png", data, "image/png")}, data={"fileName": "a.png"})
    assert r.status_code == 401 and set(r.json()) == {"message", "help"}
    bad = {"Authorization": "Basic " + base64.b64encode(b"invalid_key:").decode()}
    r = client.post(UPLOAD, files={"file": ("a.png", data, "image/png")}, data={"fileName": "a.png"}, headers=bad)
    assert r.status_code == 403
    small = Sandbox(sandbox.world, imagekit_max_bytes=len(data) - 1)
    with httpx.Client(transport=small.transport()) as c:
        r = c.post(UPLOAD, files={"file": ("a.png", data, "image/png")}, data={"fileName": "a.png"}, headers=AUTH)
    assert r.status_code == 413 and "message" in r.json()
