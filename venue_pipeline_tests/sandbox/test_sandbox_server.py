"""The sandbox on a loopback port answers real-URL requests sent through LoopbackTransport."""

from __future__ import annotations

import asyncio
import base64
import io

import httpx
from PIL import Image

from venue_pipeline.core.venue import Venue
from venue_pipeline.sandbox.app import build_sandbox
from venue_pipeline.sandbox.faults import FaultConfig, FaultRates
from venue_pipeline.sandbox.server import LoopbackTransport, serve
from venue_pipeline.sandbox.world import PROVIDERS


def make_venues() -> list[Venue]:
    return [Venue(i, f"George {i}", f"george-{i}", "bath", "Bath", f"{i} Broad Street, BATH, Somerset", "BA1 5LJ", "United Kingdom", 51.38 + i * 0.002, -2.36) for i in range(1, 12)]


def test_loopback_round_trip_sync_and_async() -> None:
    sandbox = build_sandbox(make_venues(), coverage={p: 1.0 for p in PROVIDERS})
    server = serve(sandbox)
    try:
        transport = LoopbackTransport(server.base_url)
        with httpx.Client(transport=transport, follow_redirects=True) as c:
            r = c.get("https://geocode.search.hereapi.com/v1/geocode", params={"q": "George 1, 1 Broad Street, Bath", "apiKey": "k"})
            assert r.status_code == 200 and r.json()["items"][0]["id"] == sandbox.world.truth("here", 1)
            pid = next(p.place_id for p in sandbox.world.places("google_places") if p.photos)
            ref = c.get("https://maps.googleapis.com/maps/api/place/details/json", params={"place_id": pid, "fields": "photos", "key": "k"}).json()["result"]["photos"][0]["photo_reference"]
            img = c.get("https://maps.googleapis.com/maps/api/place/photo", params={"photo_reference": ref, "maxwidth": 200, "key": "k"})
            assert img.status_code == 200 and img.url.host == "lh3.googleusercontent.com"
            Image.open(io.BytesIO(img.content)).verify()
            auth = {"Authorization": "Basic " + base64.b64encode(b"pk:").decode()}
            up = c.post("https://upload.imagekit.io/api/v1/files/upload", files={"file": ("a.jpg", img.content, "image/jpeg")}, data={"fileName": "a.jpg", "folder": "/v", "useUniqueFileName": "false"}, headers=auth)
            assert up.status_code == 200 and c.get(up.json()["url"]).content == img.content

        async def run() -> int:
            async with httpx.AsyncClient(transport=LoopbackTransport(server.base_url)) as c:
                r = await c.get("https://places-api.foursquare.com/places/search", params={"query": "George", "ll": "51.382,-2.36", "radius": 1000}, headers={"Authorization": "Bearer k", "X-Places-Api-Version": "2025-06-17"})
                assert r.json()["results"]
                return r.status_code

        assert asyncio.run(run()) == 200
        assert sandbox.imagekit_upload_count("/v/a.jpg") == 1
    finally:
        server.stop()


def test_loopback_timeout_fault_exceeds_client_timeout() -> None:
    sandbox = build_sandbox(make_venues(), faults=FaultConfig(seed=1, rates={("here", "geocode"): FaultRates(timeout=1.0)}))
    with serve(sandbox, timeout_sleep_s=2.0) as server:
        with httpx.Client(transport=LoopbackTransport(server.base_url), timeout=0.3) as c:
            try:
                c.get("https://geocode.search.hereapi.com/v1/geocode", params={"q": "George", "apiKey": "k"})
            except httpx.ReadTimeout:
                pass
            else:
                raise AssertionError("expected a read timeout")
