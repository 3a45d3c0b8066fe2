"""The provider-ID stage in LIVE mode against a loopback HTTP server that is not the sandbox: FOURSQUARE_BASE_URL
points the real Foursquare client at it; the stored ID is the server's and the server saw the documented request."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from venue_pipeline.cli import import_file
from venue_pipeline.pipeline import run_provider_ids
from venue_pipeline.services import Settings
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import ApiCallRow, ProviderIdRow

KEY = "fsq-live-test-key-123"
VENUES_CSV = (
    "name,address,city,country,lat,lng,external_id\n"
    '"The Crown and Anchor","12 High Street, Loopton LP1 2AB",Loopton,GB,50.7236,-3.5275,lb-1\n'
    '"Ship Inn","3 Quay Lane, Loopton LP1 3CD",Loopton,GB,50.7200,-3.5300,lb-2\n'
)
# The documented Place Search response of the Places API (places-api.foursquare.com, X-Places-Api-Version
# 2025-06-17): results[] with fsq_place_id, name, latitude/longitude, location and categories.
PLACES = {
    "Crown": {
        "fsq_place_id": "4b0588a1f964a520b2d422e3",
        "name": "The Crown and Anchor",
        "latitude": 50.72361,
        "longitude": -3.52752,
        "location": {
            "address": "12 High Street",
            "locality": "Loopton",
            "postcode": "LP1 2AB",
            "country": "GB",
            "formatted_address": "12 High Street, Loopton LP1 2AB",
        },
        "categories": [{"fsq_category_id": "4bf58dd8d48988d11b941735", "name": "Pub"}],
        "distance": 1,
    },
    "Ship": {
        "fsq_place_id": "5a1c2d3e4f5a6b7c8d9e0f12",
        "name": "Ship Inn",
        "latitude": 50.72001,
        "longitude": -3.53002,
        "location": {
            "address": "3 Quay Lane",
            "locality": "Loopton",
            "postcode": "LP1 3CD",
            "country": "GB",
            "formatted_address": "3 Quay Lane, Loopton LP1 3CD",
        },
        "categories": [{"fsq_category_id": "4bf58dd8d48988d11b941735", "name": "Pub"}],
        "distance": 1,
    },
}


class _FoursquareStub(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        type(self).seen.append(
            {
                "path": url.path,
                "authorization": self.headers.get("Authorization", ""),
                "version": self.headers.get("X-Places-Api-Version", ""),
                **query,
            }
        )
        if url.path != "/places/search":
            self._send(404, {"message": "Not found"})
            return
        wanted = query.get("query", "")
        results = [p for word, p in PLACES.items() if word.lower() in wanted.lower()]
        self._send(200, {"results": results, "context": {}})

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:  # keep the test output quiet
        pass


@pytest.fixture
def foursquare_server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    _FoursquareStub.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FoursquareStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _FoursquareStub.seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_live_provider_ids_follow_the_configured_foursquare_base_url(
    db_url, tmp_path, monkeypatch, foursquare_server
) -> None:
    base_url, seen = foursquare_server
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)  # loopback must not go through a proxy
    monkeypatch.setenv("FOURSQUARE_BASE_URL", base_url + "/")
    monkeypatch.setenv("FOURSQUARE_API_KEY", KEY)
    csv = tmp_path / "venues.csv"
    csv.write_text(VENUES_CSV, encoding="utf-8")
    import_file(db_url, csv, "csv", quiet=True)

    settings = Settings(
        db_url=db_url,
        provider_mode="live",
        providers=("foursquare",),
        api_keys={"foursquare": KEY},
        image_dir=str(tmp_path / "images"),
    )
    summary = run_provider_ids(settings, "loopton")

    assert summary.matched == {"foursquare": 2} and not summary.errors and not summary.disabled
    with session_scope(db_url) as session:
        ids = {r.place_id for r in session.query(ProviderIdRow).filter_by(provider="foursquare", status="matched")}
        calls = session.query(ApiCallRow).filter_by(provider="foursquare").count()
    assert ids == {PLACES["Crown"]["fsq_place_id"], PLACES["Ship"]["fsq_place_id"]}
    assert calls == len(seen) >= 2
    for request in seen:
        assert request["path"] == "/places/search"
        assert request["authorization"] == f"Bearer {KEY}" and request["version"] == "2025-06-17"
        assert request["radius"] and request["ll"]
    assert {r["query"] for r in seen} >= {"The Crown and Anchor", "Ship Inn"}
