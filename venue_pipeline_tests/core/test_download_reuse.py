"""Photo downloads reuse their keep-alive connections: redirect and error answers are read before they are closed,
so a Google photo (a 302 then the image) costs no new TCP/TLS handshake (issue 14). Counted as TCP accepts on a
real loopback server."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from PIL import Image

from venue_pipeline.core.download import DRAIN_MAX_BYTES, DownloadedImage, download_photo
from venue_pipeline.core.errors import PipelineError
from venue_pipeline.sandbox.server import LoopbackTransport

MEDIA = "media.example"
PHOTOS = "lh3.example"
HOSTS = frozenset({MEDIA, PHOTOS})


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 200)).save(buf, format="PNG")
    return buf.getvalue()


PNG = _png()


class _Photos(BaseHTTPRequestHandler):
    """/media/N: 302 to the photo host with a small HTML body (as Google answers); /big/N: the same with a body
    over the drain cap; /gone/N: 404 with a small body; /photo/N: the image."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        n = self.path.rsplit("/", 1)[-1]
        if self.path.startswith("/media/"):
            body = b"<HTML><HEAD><TITLE>Moved</TITLE></HEAD><BODY>moved <A HREF=...>here</A></BODY></HTML>"
            self._send(302, body, {"location": f"https://{PHOTOS}/photo/{n}", "content-type": "text/html"})
        elif self.path.startswith("/big/"):
            body = b"x" * (DRAIN_MAX_BYTES + 1)
            self._send(302, body, {"location": f"https://{PHOTOS}/photo/{n}", "content-type": "text/html"})
        elif self.path.startswith("/gone/"):
            self._send(404, b'{"error": "not found"}', {"content-type": "application/json"})
        else:
            self._send(200, PNG, {"content-type": "image/png"})


class _CountingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Photos)
        self.accepts = 0

    def process_request(self, request: Any, client_address: Any) -> None:
        self.accepts += 1  # one per TCP connection accepted
        super().process_request(request, client_address)


@pytest.fixture
def photo_server() -> Iterator[_CountingServer]:
    server = _CountingServer()
    thread = threading.Thread(target=server.serve_forever, name="photo-host", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _download_all(server: _CountingServer, urls: list[str]) -> list[DownloadedImage | PipelineError]:
    """Downloads the URLs one after another over one pooled client, as the upload stage's client does."""
    base = f"http://127.0.0.1:{server.server_address[1]}"

    async def go() -> list[DownloadedImage | PipelineError]:
        results: list[DownloadedImage | PipelineError] = []
        async with httpx.AsyncClient(transport=LoopbackTransport(base), timeout=5.0) as http:
            for url in urls:
                try:
                    results.append(await download_photo(http, httpx.Request("GET", url), allowed_hosts=HOSTS))
                except PipelineError as exc:
                    results.append(exc)
        return results

    return asyncio.run(go())


def test_redirected_photos_share_one_connection(photo_server: _CountingServer) -> None:
    results = _download_all(photo_server, [f"https://{MEDIA}/media/{i}" for i in range(12)])
    assert all(isinstance(r, DownloadedImage) for r in results), results
    assert photo_server.accepts == 1  # was 13: each 302 closed unread took its connection with it


def test_an_error_answer_leaves_its_connection_reusable(photo_server: _CountingServer) -> None:
    results = _download_all(photo_server, [f"https://{MEDIA}/gone/1", f"https://{MEDIA}/media/2", f"https://{MEDIA}/gone/3"])
    assert [type(r).__name__ for r in results] == ["DownloadError", "DownloadedImage", "DownloadError"]
    assert photo_server.accepts == 1


def test_a_redirect_body_over_the_cap_is_not_read_and_the_photo_still_arrives(photo_server: _CountingServer) -> None:
    results = _download_all(photo_server, [f"https://{MEDIA}/big/1", f"https://{MEDIA}/big/2"])
    assert all(isinstance(r, DownloadedImage) for r in results), results
    assert photo_server.accepts == 3  # each oversized redirect's connection is dropped, not drained
