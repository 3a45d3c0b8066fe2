"""Redaction belongs to the client: in a fresh process, with nothing but a provider client built outside
open_services and every logger at DEBUG on stderr, no key reaches any log line (httpx logs each request URL)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

KEY = "sEcReT-kEy-4242"

SNIPPET = textwrap.dedent(
    f"""
    import asyncio, logging, sys

    import httpx

    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")

    from venue_pipeline.core.ports import PhotoRef
    from venue_pipeline.providers.geoapify import GeoapifyClient
    from venue_pipeline.providers.google_places import GooglePlacesClient
    from venue_pipeline.providers.memory_ledger import MemoryLedger
    from venue_pipeline.providers.registry import default_settings

    KEY = {KEY!r}
    answers = {{"n": 0}}

    def handler(request):
        answers["n"] += 1
        if request.url.host == "api.geoapify.com" and answers["n"] == 1:
            return httpx.Response(503, text="busy")  # one retry, logged by the client
        if request.url.host == "places.googleapis.com" and request.url.path.endswith("/media"):
            return httpx.Response(200, content=b"not really a jpeg", headers={{"content-type": "image/jpeg"}})
        return httpx.Response(200, json={{"features": [], "results": []}})

    async def main():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            settings = default_settings("geoapify", api_key=KEY)
            geo = GeoapifyClient(settings.__class__(**{{**settings.__dict__, "rate_per_second": 1000.0}}), http, MemoryLedger())
            geo._backoff_s = 0.0
            await geo.search("The Crown", 51.5, -0.1)
            google = GooglePlacesClient(default_settings("google_places", api_key=KEY), http, MemoryLedger())
            request = google.photo_request(PhotoRef("google_places", "k", "places/abc/photos/def"))
            assert KEY in str(request.url)  # the key is in the query string of this download
            response = await http.send(request)
            print("done", answers["n"], response.status_code)

    asyncio.run(main())
    """
)


def test_no_key_in_any_log_line_of_a_fresh_process():
    proc = subprocess.run(
        [sys.executable, "-c", SNIPPET], capture_output=True, text=True, timeout=120, check=False
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "done 3 200" in proc.stdout
    assert "HTTP Request: GET https://api.geoapify.com/v2/places" in proc.stderr  # httpx did log the requests
    assert "places.googleapis.com/v1/places/abc/photos/def/media" in proc.stderr
    assert "retrying" in proc.stderr
    assert KEY not in output
