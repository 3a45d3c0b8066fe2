"""Hostile photo hosts (issue 13): a host that trickles bytes, plain http or another port, a name or a number that
leads to a private address, a malformed URL, an image whose header declares 169 Mpx. Each is refused with a final
or a retryable class as it deserves, before it can hold the run, reach an inside address or eat the memory."""

from __future__ import annotations

import asyncio
import io
import resource
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageFile, PngImagePlugin

from venue_pipeline.cdn.local import LocalImageStore
from venue_pipeline.core import download as download_module
from venue_pipeline.core.download import MAX_PIXELS, DownloadedImage, download_photo
from venue_pipeline.core.errors import ErrorClass, ErrorType, PipelineError, classify
from venue_pipeline.core.gallery import ImageTask
from venue_pipeline.core.upload import upload_one
from venue_pipeline.providers.foursquare import FoursquareClient
from venue_pipeline.providers.memory_ledger import MemoryLedger
from venue_pipeline.providers.registry import default_settings
from venue_pipeline.sandbox.server import LoopbackTransport

LH3 = "lh3.googleusercontent.com"
MEDIA = "places.googleapis.com"
ALLOWED = frozenset({LH3, MEDIA})
PHOTO = f"https://{LH3}/p/AF1Qip=w1600"
PUBLIC = "142.250.180.1"  # a public address for names the stub resolver knows


def small_png(size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buf, format="PNG")
    return buf.getvalue()


def bilevel_png(width: int, height: int) -> bytes:
    """A real 1-bit PNG of any size whose bytes stay small (all-zero rows compress ~1000:1), built row by row so
    the test itself never holds the decoded picture (Pillow would need width*height bytes to make it)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# ---- transports and resolvers the tests control ---------------------------------------------------------------


class Network(httpx.AsyncBaseTransport):
    """Stands for the real network (not the simulator, so every check applies): serves the listed hosts and
    fails the test on a request to any other. Requests reaching it are connections the downloader opened."""

    def __init__(self, routes: dict[str, Callable[[httpx.Request], httpx.Response]] | None = None) -> None:
        self.routes = routes or {}
        self.contacted: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.contacted.append(str(request.url))
        if request.url.host not in self.routes:
            pytest.fail(f"a connection was opened to {request.url}")
        return self.routes[request.url.host](request)


class Resolver:
    """Stub DNS: name -> addresses; records every look-up; an unknown name fails the test."""

    def __init__(self, table: dict[str, list[str]] | None = None) -> None:
        self.table = table or {}
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.table:
            pytest.fail(f"resolved {host}, which should have been refused before any look-up")
        return self.table[host]


def redirect_to(location: str) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(302, headers={"Location": location})


def serve(data: bytes) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(200, headers={"Content-Type": "image/png"}, content=data)


def attempt(
    url: str | httpx.Request,
    transport: httpx.AsyncBaseTransport | None,
    resolver: Resolver | None = None,
    *,
    allowed: frozenset[str] = ALLOWED,
    **kwargs: object,
) -> DownloadedImage | PipelineError:
    """One download; the image, or the classified error it ended with."""

    async def go() -> DownloadedImage:
        async with httpx.AsyncClient(transport=transport) as http:
            request = url if isinstance(url, httpx.Request) else httpx.Request("GET", url)
            extra = {"resolve": resolver} if resolver is not None else {}
            return await download_photo(http, request, allowed_hosts=allowed, **extra, **kwargs)  # type: ignore[arg-type]

    try:
        return asyncio.run(go())
    except PipelineError as exc:
        return exc


def refused(result: DownloadedImage | PipelineError, error_type: ErrorType = ErrorType.DISALLOWED_HOST) -> PipelineError:
    assert isinstance(result, PipelineError), f"expected a refusal, got {result!r}"
    assert result.error_type is error_type, str(result)
    assert classify(result.error_type.value) is ErrorClass.PERMANENT
    return result


# ---- 1. one deadline for the whole photo -------------------------------------------------------------------------


class _Trickle(BaseHTTPRequestHandler):
    """/slow: headers, then one byte a second of a 10 kB body. /hop: waits, then redirects to /slow."""

    stop: threading.Event

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        try:
            if self.path.startswith("/hop"):
                self.stop.wait(0.8)
                self.send_response(302)
                self.send_header("Location", f"https://{LH3}/slow")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "10000")
            self.end_headers()
            self.wfile.flush()
            for _ in range(10_000):
                if self.stop.wait(1.0):
                    return
                self.wfile.write(b"\x89")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return


@pytest.fixture
def trickle_server() -> Iterator[str]:
    """A real 1 byte/s photo host on 127.0.0.1 (port 0), stopped in teardown."""
    stop = threading.Event()
    handler = type("Trickle", (_Trickle,), {"stop": stop})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="trickle-host", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def timed_download(base_url: str, path: str, deadline_s: float) -> tuple[DownloadedImage | PipelineError, float]:
    """Over real sockets to the trickle host, through the sandbox's loopback transport (the address check's
    exemption: the host is 127.0.0.1). The test gives up by itself after 15 s rather than hang without a deadline."""

    async def go() -> DownloadedImage:
        # httpx's own timeouts are per read: 5 s each, which a byte a second never trips
        async with httpx.AsyncClient(transport=LoopbackTransport(base_url), timeout=httpx.Timeout(5.0)) as http:
            request = httpx.Request("GET", f"https://{LH3}{path}")
            return await asyncio.wait_for(
                download_photo(http, request, allowed_hosts=ALLOWED, deadline_s=deadline_s), timeout=15
            )

    t0 = time.monotonic()
    try:
        result: DownloadedImage | PipelineError = asyncio.run(go())
    except PipelineError as exc:
        result = exc
    return result, time.monotonic() - t0


def test_a_one_byte_per_second_host_is_given_up_at_the_deadline(trickle_server: str) -> None:
    result, elapsed = timed_download(trickle_server, "/slow", deadline_s=1.5)

    assert isinstance(result, PipelineError), result
    assert result.error_type is ErrorType.NETWORK_TIMEOUT and result.error_class is ErrorClass.TRANSIENT
    assert "1.5 s download deadline" in result.message and LH3 in result.message
    assert 1.4 <= elapsed < 4.0


def test_the_deadline_covers_the_redirects_too(trickle_server: str) -> None:
    """0.8 s for the redirect, then the trickle: each hop is within any per-request limit, the sum is not."""
    result, elapsed = timed_download(trickle_server, "/hop", deadline_s=1.2)

    assert isinstance(result, PipelineError), result
    assert result.error_type is ErrorType.NETWORK_TIMEOUT
    assert f"https://{LH3}/slow" in result.message  # the hop it was on when time ran out
    assert elapsed < 3.5


# ---- 2. https on the documented port only, first URL and every redirect -----------------------------------------


@pytest.mark.parametrize(
    "url",
    [f"http://{LH3}/p", f"https://{LH3}:8443/p", f"http://{LH3}:443/p", f"https://{LH3}:80/p", f"https://{LH3}:0/p"],
)
def test_plain_http_and_other_ports_are_refused_without_a_connection(url: str) -> None:
    network, dns = Network(), Resolver()
    err = refused(attempt(url, network, dns))
    assert network.contacted == [] and dns.asked == []
    assert "https" in err.message or "port" in err.message


@pytest.mark.parametrize("location", [f"http://{LH3}/p", f"https://{LH3}:8443/p"])
def test_a_redirect_to_plain_http_or_another_port_is_refused_before_it_is_followed(location: str) -> None:
    network, dns = Network({MEDIA: redirect_to(location)}), Resolver({MEDIA: [PUBLIC]})
    refused(attempt(f"https://{MEDIA}/v1/places/x/photos/y/media", network, dns))
    assert network.contacted == [f"https://{MEDIA}/v1/places/x/photos/y/media"]


def test_the_sandbox_is_held_to_https_and_443_as_well() -> None:
    """The simulator's exemption is the address check only: its hosts are https on 443 like the real ones."""
    sandbox = httpx.MockTransport(lambda request: pytest.fail("the sandbox was asked for a plain http URL"))
    refused(attempt(f"http://{LH3}/p", sandbox))


# ---- 3. the address behind the name, and hosts written as numbers -----------------------------------------------

INSIDE = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.9",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "224.0.0.251",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1%2",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
]


@pytest.mark.parametrize("address", INSIDE)
def test_an_allowed_name_resolving_to_an_inside_address_is_refused_before_connecting(address: str) -> None:
    network, dns = Network(), Resolver({LH3: [PUBLIC, address]})  # one bad address among good ones is enough
    err = refused(attempt(PHOTO, network, dns))
    assert network.contacted == [] and dns.asked == [LH3]
    assert address in err.message


def test_a_redirect_whose_host_resolves_inside_is_refused_and_never_contacted() -> None:
    network = Network({MEDIA: redirect_to(PHOTO), LH3: serve(small_png())})
    dns = Resolver({MEDIA: [PUBLIC], LH3: ["10.0.0.7"]})
    err = refused(attempt(f"https://{MEDIA}/v1/x/media", network, dns))
    assert dns.asked == [MEDIA, LH3] and network.contacted == [f"https://{MEDIA}/v1/x/media"]
    assert "10.0.0.7" in err.message


def test_public_addresses_pass_the_check() -> None:
    """The control: the same path downloads when every hop resolves to public addresses."""
    network = Network({MEDIA: redirect_to(PHOTO), LH3: serve(small_png())})
    dns = Resolver({MEDIA: [PUBLIC, "2a00:1450:4009:81f::2001"], LH3: [PUBLIC]})
    image = attempt(f"https://{MEDIA}/v1/x/media", network, dns)
    assert isinstance(image, DownloadedImage) and (image.width, image.height) == (64, 48)
    assert dns.asked == [MEDIA, LH3]


def test_the_real_network_transport_gets_the_address_check() -> None:
    """Production's client (httpx's own transport, no simulator) is not exempt: the stub's answer is refused
    before any socket is opened."""
    dns = Resolver({LH3: ["127.0.0.1"]})
    refused(attempt(PHOTO, None, dns))
    assert dns.asked == [LH3]


def test_a_dns_failure_is_transient_not_final() -> None:
    async def no_dns(host: str, port: int) -> list[str]:
        raise OSError(-3, "Temporary failure in name resolution")

    async def go() -> None:
        async with httpx.AsyncClient(transport=Network()) as http:
            await download_photo(http, httpx.Request("GET", PHOTO), allowed_hosts=ALLOWED, resolve=no_dns)

    with pytest.raises(PipelineError) as info:
        asyncio.run(go())
    assert info.value.error_type is ErrorType.NETWORK_ERROR and info.value.error_class is ErrorClass.TRANSIENT


NUMERIC = ["2130706433", "0x7f.1", "127.1", "0x7f000001", "017700000001", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "169.254.169.254"]


@pytest.mark.parametrize("host", NUMERIC)
def test_numeric_hosts_in_any_notation_are_refused_even_when_listed(host: str) -> None:
    network, dns = Network(), Resolver()
    listed = ALLOWED | {host.strip("[]"), host}
    refused(attempt(f"https://{host}/p", network, dns, allowed=listed))
    refused(attempt(f"https://{host}/p", httpx.MockTransport(lambda r: pytest.fail("contacted")), allowed=listed))
    assert network.contacted == [] and dns.asked == []


@pytest.mark.parametrize("host", ["0177.0.0.1", *NUMERIC])
def test_a_redirect_to_a_numeric_host_is_final(host: str) -> None:
    network, dns = Network({MEDIA: redirect_to(f"http://{host}/latest/meta-data/")}), Resolver({MEDIA: [PUBLIC]})
    err = attempt(f"https://{MEDIA}/v1/x/media", network, dns)
    assert isinstance(err, PipelineError) and err.error_class is ErrorClass.PERMANENT, err
    assert err.error_type in (ErrorType.DISALLOWED_HOST, ErrorType.BAD_REQUEST)
    assert network.contacted == [f"https://{MEDIA}/v1/x/media"] and dns.asked == [MEDIA]


# ---- 4. malformed URLs are final, never retried ------------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        f"https://user:secret@{LH3}/p",
        f"https://{LH3}:99999/p",
        f"https://{LH3}:not-a-port/p",
        "//0x7f.1/latest",  # scheme-relative, to a numeric host
        "https://[::1/p",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "gopher://lh3.googleusercontent.com/",
    ],
)
def test_a_malformed_redirect_is_final(location: str) -> None:
    network, dns = Network({MEDIA: redirect_to(location)}), Resolver({MEDIA: [PUBLIC]})
    err = attempt(f"https://{MEDIA}/v1/x/media", network, dns)
    assert isinstance(err, PipelineError) and err.error_class is ErrorClass.PERMANENT, err
    assert err.error_type in (ErrorType.DISALLOWED_HOST, ErrorType.BAD_REQUEST)
    assert "secret" not in str(err) and len(network.contacted) == 1


@pytest.mark.parametrize("url", [f"https://user:secret@{LH3}/p", f"https://{LH3}:99999/p", "https:///p"])
def test_a_malformed_first_url_is_final(url: str) -> None:
    network = Network()
    refused(attempt(url, network, Resolver()))
    assert network.contacted == []


@pytest.mark.parametrize(
    "reference",
    ["http://0177.0.0.1/img/general/original/1_a.jpg", "https://2130706433/img/general/original/1_a.jpg"],
)
def test_a_hostile_stored_reference_retires_the_image_in_upload_one(reference: str, tmp_path: Path) -> None:
    """A provider answer that put a numeric URL in the reference: upload_one records a permanent failure (it used
    to be an unknown_error, retried), with no request sent and nothing stored."""
    network = Network()
    task = ImageTask(1, 1, "the-swan", "foursquare", "k1", reference, 640, 480, 0)

    async def go() -> object:
        async with httpx.AsyncClient(transport=network) as http:
            client = FoursquareClient(default_settings("foursquare", api_key="k"), http, MemoryLedger())
            return await upload_one(task, client, http, LocalImageStore(tmp_path))

    outcome = asyncio.run(go())
    assert not outcome.ok and classify(outcome.error_type) is ErrorClass.PERMANENT, outcome  # type: ignore[attr-defined]
    assert outcome.error_type in ("bad_request", "disallowed_host")  # type: ignore[attr-defined]
    assert network.contacted == [] and not any(tmp_path.rglob("*.*"))


# ---- 5. the pixel cap, from the header, before any decode --------------------------------------------------------


@pytest.fixture
def no_decode(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records (and fails) any pixel decode: Image.load, ImageFile.load (what PNG/JPEG use) and thumbnail."""
    calls: list[str] = []

    def forbid(name: str) -> Callable[..., object]:
        def refuse(self: object, *args: object, **kwargs: object) -> object:
            calls.append(name)
            raise AssertionError(f"{name} called: the image was decoded before its size was checked")

        return refuse

    monkeypatch.setattr(Image.Image, "load", forbid("Image.load"))
    monkeypatch.setattr(ImageFile.ImageFile, "load", forbid("ImageFile.load"))
    monkeypatch.setattr(Image.Image, "thumbnail", forbid("thumbnail"))
    return calls


def test_a_169_megapixel_png_is_refused_from_its_header_before_any_decode(no_decode: list[str]) -> None:
    bomb = bilevel_png(13_000, 13_000)
    assert len(bomb) < 1_000_000  # small on the wire, like the real one (657 KB)
    with PngImagePlugin.PngImageFile(io.BytesIO(bomb)) as img:  # a real PNG of that size (header read only)
        assert img.size == (13_000, 13_000)

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sandbox = httpx.MockTransport(serve(bomb))
    err = refused(attempt(PHOTO, sandbox), ErrorType.FILE_TOO_LARGE)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before

    assert "13000 x 13000" in err.message and "169.0 Mpx" in err.message
    assert no_decode == []
    assert grown_kb < 50_000  # decoding would need 169 MB at least


def test_between_the_cap_and_pillows_own_error_is_refused_too(no_decode: list[str]) -> None:
    """8,000 x 8,000 = 64 Mpx: Pillow itself only warns below twice its limit; the cap refuses it."""
    err = refused(attempt(PHOTO, httpx.MockTransport(serve(bilevel_png(8_000, 8_000)))), ErrorType.FILE_TOO_LARGE)
    assert "8000 x 8000" in err.message and no_decode == []
    assert MAX_PIXELS == 50_000_000


def test_an_image_under_the_cap_is_accepted() -> None:
    """The control: the same generator's PNG below the cap is a valid image and downloads."""
    image = attempt(PHOTO, httpx.MockTransport(serve(bilevel_png(7_000, 7_000))))
    assert isinstance(image, DownloadedImage) and (image.width, image.height, image.format) == (7_000, 7_000, "PNG")


def test_pillows_guard_is_lowered_to_the_cap_for_every_other_reader() -> None:
    assert download_module.Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS <= MAX_PIXELS
