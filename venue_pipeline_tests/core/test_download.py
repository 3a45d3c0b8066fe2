"""The photo download only talks to allowed hosts, caps size while streaming, and returns real images."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from PIL import Image

from venue_pipeline.core.download import DownloadedImage, download_photo, redact_url
from venue_pipeline.core.errors import DownloadError, ErrorType

SECRET = "AIzaSECRETKEY123"
GOOGLE = "maps.googleapis.com"
LH3 = "lh3.googleusercontent.com"
ALLOWED = frozenset({GOOGLE, LH3})
PHOTO_URL = f"https://{GOOGLE}/maps/api/place/photo?maxwidth=1600&photo_reference=ABC&key={SECRET}"


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, format=fmt)
    return buf.getvalue()


Handler = Callable[[httpx.Request], httpx.Response]


class Hosts:
    """A transport that serves only the hosts it knows and fails the test on any other."""

    def __init__(self, routes: dict[str, Handler]) -> None:
        self.routes = routes
        self.contacted: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.contacted.append(request.url.host)
        if request.url.host not in self.routes:
            pytest.fail(f"a request reached {request.url.host}, which is not allowed")
        return self.routes[request.url.host](request)


def fetch(
    routes: dict[str, Handler], url: str = PHOTO_URL, **kwargs: object
) -> tuple[DownloadedImage, Hosts]:
    hosts = Hosts(routes)

    async def go() -> DownloadedImage:
        async with httpx.AsyncClient(transport=httpx.MockTransport(hosts)) as http:
            return await download_photo(http, httpx.Request("GET", url), allowed_hosts=ALLOWED, **kwargs)

    return asyncio.run(go()), hosts


def fetch_error(
    routes: dict[str, Handler], url: str = PHOTO_URL, **kwargs: object
) -> tuple[DownloadError, Hosts]:
    hosts = Hosts(routes)

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(hosts)) as http:
            await download_photo(http, httpx.Request("GET", url), allowed_hosts=ALLOWED, **kwargs)

    with pytest.raises(DownloadError) as info:
        asyncio.run(go())
    err = info.value
    assert SECRET not in str(err) and SECRET not in err.message
    return err, hosts


def redirect_to(location: str) -> Handler:
    return lambda request: httpx.Response(302, headers={"Location": location})


def serve(data: bytes, content_type: str = "image/jpeg") -> Handler:
    return lambda request: httpx.Response(200, headers={"Content-Type": content_type}, content=data)


class CountingStream(httpx.AsyncByteStream):
    """A body that counts how many chunks the client actually pulled."""

    def __init__(self, chunk: bytes, chunks: int) -> None:
        self.chunk, self.chunks, self.read = chunk, chunks, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.read += 1
            yield self.chunk


def test_allowed_host_returns_real_dimensions_and_format() -> None:
    img, hosts = fetch({GOOGLE: serve(image_bytes("PNG", (320, 200)), "application/octet-stream")})
    assert (img.width, img.height, img.format, img.content_type) == (320, 200, "PNG", "image/png")
    assert img.final_host == GOOGLE
    assert hosts.contacted == [GOOGLE]


def test_google_redirect_to_photo_host_is_followed() -> None:
    data = image_bytes("JPEG", (800, 600))
    img, hosts = fetch({GOOGLE: redirect_to(f"https://{LH3}/p/AF1Qip=w1600"), LH3: serve(data)})
    assert img.data == data and img.final_host == LH3 and (img.width, img.height) == (800, 600)
    assert hosts.contacted == [GOOGLE, LH3]


def test_redirect_to_unlisted_host_is_refused_without_contacting_it() -> None:
    err, hosts = fetch_error({GOOGLE: redirect_to("https://evil.example.com/steal?x=1")})
    assert err.error_type is ErrorType.DISALLOWED_HOST
    assert "evil.example.com" in err.message
    assert hosts.contacted == [GOOGLE]


def test_unlisted_first_host_gets_no_request_at_all() -> None:
    err, hosts = fetch_error({}, url=f"https://metadata.internal/latest?key={SECRET}")
    assert err.error_type is ErrorType.DISALLOWED_HOST
    assert hosts.contacted == []


def test_host_match_is_exact_not_suffix() -> None:
    err, hosts = fetch_error({}, url=f"https://{GOOGLE}.evil.com/photo?key={SECRET}")
    assert err.error_type is ErrorType.DISALLOWED_HOST and hosts.contacted == []


def test_non_http_redirect_is_refused() -> None:
    err, _ = fetch_error({GOOGLE: redirect_to(f"ftp://{LH3}/photo.jpg")})
    assert err.error_type is ErrorType.DISALLOWED_HOST


def test_credentials_do_not_follow_a_redirect_to_another_host() -> None:
    seen: dict[str, str | None] = {}

    def photo(request: httpx.Request) -> httpx.Response:
        seen["authorization"] = request.headers.get("authorization")
        return serve(image_bytes())(request)

    hosts = Hosts({GOOGLE: redirect_to(f"https://{LH3}/p"), LH3: photo})

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(hosts)) as http:
            req = httpx.Request("GET", PHOTO_URL, headers={"Authorization": "Bearer T"})
            await download_photo(http, req, allowed_hosts=ALLOWED)

    asyncio.run(go())
    assert seen == {"authorization": None}


def test_redirect_loop_and_too_many_redirects_fail_as_download_failed() -> None:
    loop, _ = fetch_error({GOOGLE: redirect_to(f"https://{LH3}/a"), LH3: redirect_to(PHOTO_URL)})
    assert loop.error_type is ErrorType.DOWNLOAD_FAILED

    hop = {"n": 0}

    def endless(request: httpx.Request) -> httpx.Response:
        hop["n"] += 1
        return httpx.Response(302, headers={"Location": f"/hop/{hop['n']}"})

    chain, hosts = fetch_error({GOOGLE: endless}, max_redirects=3)
    assert chain.error_type is ErrorType.DOWNLOAD_FAILED
    assert len(hosts.contacted) == 4  # the first request plus 3 redirects, then stop


def test_declared_oversize_is_refused_before_reading_the_body() -> None:
    stream = CountingStream(b"x" * 1000, 50)
    too_big = lambda request: httpx.Response(  # noqa: E731
        200, headers={"Content-Length": "50000", "Content-Type": "image/jpeg"}, stream=stream
    )
    err, _ = fetch_error({GOOGLE: too_big}, max_bytes=10_000)
    assert err.error_type is ErrorType.FILE_TOO_LARGE
    assert stream.read == 0


def test_streamed_oversize_stops_reading_at_the_limit() -> None:
    stream = CountingStream(b"x" * 1000, 10_000)  # 10 MB, no Content-Length
    err, _ = fetch_error({GOOGLE: lambda request: httpx.Response(200, stream=stream)}, max_bytes=5_000)
    assert err.error_type is ErrorType.FILE_TOO_LARGE
    assert stream.read <= 6


def test_html_instead_of_an_image_is_invalid_image_naming_the_content_type() -> None:
    err, _ = fetch_error(
        {GOOGLE: serve(b"<html><body>quota exceeded</body></html>", "text/html; charset=utf-8")}
    )
    assert err.error_type is ErrorType.INVALID_IMAGE
    assert "text/html" in err.message


def test_image_format_outside_the_accepted_set_is_invalid() -> None:
    err, _ = fetch_error({GOOGLE: serve(image_bytes("BMP"), "image/bmp")})
    assert err.error_type is ErrorType.INVALID_IMAGE and "BMP" in err.message


def test_empty_body_is_invalid_image() -> None:
    err, _ = fetch_error({GOOGLE: serve(b"", "image/jpeg")})
    assert err.error_type is ErrorType.INVALID_IMAGE


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (404, ErrorType.NOT_FOUND),
        (403, ErrorType.FORBIDDEN),
        (429, ErrorType.RATE_LIMITED),
        (500, ErrorType.SERVER_ERROR),
    ],
)
def test_http_errors_map_to_the_taxonomy(status: int, expected: ErrorType) -> None:
    err, _ = fetch_error({GOOGLE: lambda request: httpx.Response(status, text="nope")})
    assert err.error_type is expected and err.status_code == status


def test_timeout_and_transport_errors() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout(f"timed out reading {request.url}", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"connection refused for {request.url}", request=request)

    err, _ = fetch_error({GOOGLE: timeout})
    assert err.error_type is ErrorType.NETWORK_TIMEOUT
    err, _ = fetch_error({GOOGLE: refused})
    assert err.error_type is ErrorType.NETWORK_ERROR


def test_api_key_never_reaches_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fetch({GOOGLE: redirect_to(f"https://{LH3}/p"), LH3: serve(image_bytes())})
    fetch_error({GOOGLE: lambda request: httpx.Response(404)})
    assert caplog.records and SECRET not in caplog.text


def test_redact_url_keeps_scheme_host_path_only() -> None:
    assert redact_url(PHOTO_URL) == f"https://{GOOGLE}/maps/api/place/photo"
    assert (
        redact_url("https://user:pw@host.example:8443/a/b?apiKey=K#frag") == "https://host.example:8443/a/b"
    )
    assert SECRET not in redact_url(httpx.URL(PHOTO_URL))


def test_corrupt_compressed_body_is_download_failed() -> None:
    broken = lambda request: httpx.Response(  # noqa: E731
        200,
        headers={"Content-Encoding": "gzip", "Content-Type": "image/jpeg"},
        stream=httpx.ByteStream(b"not gzip"),
    )
    err, _ = fetch_error({GOOGLE: broken})
    assert err.error_type is ErrorType.DOWNLOAD_FAILED
