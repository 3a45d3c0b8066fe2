"""Safe photo download: only https from known hosts on their public addresses, within one deadline, size-capped
while streaming, and proven from its header to be an image of a sane pixel count before anything decodes it."""

from __future__ import annotations

import asyncio
import io
import ipaddress
import logging
import socket
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from PIL import GifImagePlugin, Image, JpegImagePlugin, PngImagePlugin, WebPImagePlugin  # noqa: F401 - registers

from venue_pipeline.core.errors import DownloadError, ErrorType, error_type_for_status

log = logging.getLogger(__name__)

ALLOWED_FORMATS: frozenset[str] = frozenset({"JPEG", "PNG", "WEBP", "GIF"})
# The whole fetch of one photo (address look-ups, connects, every redirect, every read): httpx's timeouts are per
# read, so a host trickling one byte a second would otherwise hold the download for as long as it likes.
DOWNLOAD_DEADLINE_S = 30.0
# The photo hosts' documented ports: https only, on 443 (the scheme's default).
ALLOWED_PORTS: frozenset[int] = frozenset({443})
# Width x height read from the image header, before any decode: a 13,000 x 13,000 PNG is 657 KB on the wire and
# 0.5-1.5 GB decoded. Pillow's own guard (warning above MAX_IMAGE_PIXELS, error above twice that) is lowered to
# match, for any other code that opens the stored files.
MAX_PIXELS = 50_000_000
if Image.MAX_IMAGE_PIXELS is None or Image.MAX_IMAGE_PIXELS > MAX_PIXELS:
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Headers that must not follow a redirect to another host (credentials of the first host).
_CROSS_HOST_STRIP = ("authorization", "cookie", "proxy-authorization")
# Transports of the project's simulator (the loopback one rewrites every request to the sandbox server).
_SANDBOX_MODULES = "venue_pipeline.sandbox."
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Redirect and error bodies up to this size are read before closing, so httpx pools the connection (it drops one
# closed unread: a new TCP + TLS handshake for every Google photo otherwise).
DRAIN_MAX_BYTES = 64 * 1024

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""host, port -> the addresses a connection would go to (the system resolver by default; tests stub it)."""


@dataclass(frozen=True, slots=True)
class DownloadedImage:
    """Verified image bytes; content_type and format come from the bytes, not from the server's header."""

    data: bytes
    content_type: str
    width: int
    height: int
    format: str
    final_host: str


def redact_url(url: str | httpx.URL) -> str:
    """scheme://host[:port]/path only: query strings and userinfo can hold API keys, so they never reach logs."""
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable url>"
    if not parts.scheme and not host:
        return parts.path or "<empty url>"
    return f"{parts.scheme}://{host}{port}{parts.path}"


class RedactUrlsFilter(logging.Filter):
    """Rewrites URL arguments of log records (httpx logs every request's full URL at INFO) to redact_url form."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(redact_url(a) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


_HTTPX_FILTER = RedactUrlsFilter()


def redact_httpx_logs() -> None:
    """Installs (once) the filter that keeps query-string API keys out of httpx's request log lines."""
    httpx_logger = logging.getLogger("httpx")
    if _HTTPX_FILTER not in httpx_logger.filters:
        httpx_logger.addFilter(_HTTPX_FILTER)


def _url_refusal(url: httpx.URL, why: str) -> DownloadError:
    return DownloadError(ErrorType.DISALLOWED_HOST, f"refusing {redact_url(url)}: {why}"[:500], target=url.host or None)


def numeric_host(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host written as a number stands for, in any notation a resolver accepts (127.0.0.1, ::1,
    ::ffff:127.0.0.1, and inet_aton's 0177.0.0.1, 2130706433, 0x7f.1, 127.1); None for a name."""
    text = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except (OSError, ValueError):
        return None


def _check_host(url: httpx.URL, allowed_hosts: frozenset[str]) -> str:
    """Refuses, before any request is made, a URL that is not https on 443 to a host on the provider's list."""
    host = (url.host or "").lower()
    if url.scheme != "https":
        raise _url_refusal(url, f"{url.scheme or 'schemeless'} URL, only https downloads are allowed")
    if url.userinfo:
        raise _url_refusal(url, "the URL carries user credentials")
    if not host:
        raise _url_refusal(url, "the URL has no host")
    if url.port is not None and url.port not in ALLOWED_PORTS:
        raise _url_refusal(url, f"port {url.port} is not a photo host port ({sorted(ALLOWED_PORTS)})")
    address = numeric_host(host)
    if address is not None:
        raise _url_refusal(url, f"numeric host {host!r} ({address}): photo hosts are named")
    if host not in allowed_hosts:
        raise _url_refusal(url, f"host {host!r} is not an allowed photo host")
    return host


def address_refusal(address: str) -> str | None:
    """Why a connection to this address is refused (private, loopback, link-local, multicast, reserved,
    unspecified or otherwise not public; IPv4 inside IPv6 judged as the IPv4 it carries); None when public."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = address_refusal(str(embedded))
            return f"{inner} (IPv4 {embedded} inside IPv6)" if inner else None
    for kind in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if ip.is_global else "not globally routable"


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host (what the connection would pick from)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def _check_addresses(url: httpx.URL, host: str, resolve: Resolver) -> None:
    """Resolves the host and refuses it when any address is not public (a name pointed at 127.0.0.1 or 10.x)."""
    port = url.port or 443
    try:
        addresses = await resolve(host, port)
    except OSError as exc:  # socket.gaierror: the name does not resolve now (DNS outage or a missing record)
        raise DownloadError(
            ErrorType.NETWORK_ERROR, f"cannot resolve {host}: {exc}"[:500], target=host
        ) from exc
    if not addresses:
        raise DownloadError(ErrorType.NETWORK_ERROR, f"{host} resolved to no address", target=host)
    for address in addresses:
        why = address_refusal(address)
        if why is not None:
            raise _url_refusal(url, f"{host} resolves to {address}, a {why} address")


def _is_sandbox(http: httpx.AsyncClient, url: httpx.URL) -> bool:
    """True when the transport that would carry url is the simulator: httpx.MockTransport (answered in-process,
    no socket, no name lookup) or a transport of venue_pipeline.sandbox (the loopback one sends every request to
    the sandbox server), possibly behind test wrappers that delegate to it through `.inner`. Anything else, the
    real network transport included, gets the address check."""
    pick = getattr(http, "_transport_for_url", None)
    transport: object = pick(url) if callable(pick) else getattr(http, "_transport", None)
    for _ in range(4):
        if isinstance(transport, httpx.MockTransport) or type(transport).__module__.startswith(_SANDBOX_MODULES):
            return True
        transport = getattr(transport, "inner", None)
        if transport is None:
            return False
    return False


def _redirect_request(request: httpx.Request, response: httpx.Response) -> httpx.Request:
    """The next hop's request, with method rewriting as browsers do and credentials dropped across hosts."""
    location = response.headers["location"]
    try:
        next_url = request.url.join(location)
    except httpx.InvalidURL as exc:  # e.g. http://0177.0.0.1/ (httpx refuses octal IPv4): never worth a retry
        raise DownloadError(
            ErrorType.BAD_REQUEST,
            f"{redact_url(request.url)} redirected to an invalid URL ({exc})"[:500],
            status_code=response.status_code,
            target=request.url.host,
        ) from exc
    method = request.method
    if response.status_code == 303 and method != "HEAD":
        method = "GET"
    if response.status_code in (301, 302) and method == "POST":
        method = "GET"
    headers = httpx.Headers(request.headers)
    headers.pop("host", None)
    if next_url.host != request.url.host or next_url.scheme != request.url.scheme:
        for name in _CROSS_HOST_STRIP:
            headers.pop(name, None)
    if method == "GET":
        for name in ("content-length", "content-type", "transfer-encoding"):
            headers.pop(name, None)
    return httpx.Request(method, next_url, headers=headers, extensions=request.extensions)


def _bad_location(exc: Exception) -> bool:
    """A transport 'error' that is really a redirect to an unparseable URL (httpx's RemoteProtocolError)."""
    if isinstance(exc, httpx.InvalidURL):
        return True
    return isinstance(exc, httpx.RemoteProtocolError) and (
        isinstance(exc.__context__, httpx.InvalidURL) or str(exc).startswith("Invalid URL in location header")
    )


def _fail_transport(exc: httpx.TransportError, url: httpx.URL) -> DownloadError:
    """Timeouts are retried as network_timeout, other transport failures as network_error; no query string."""
    kind = ErrorType.NETWORK_TIMEOUT if isinstance(exc, httpx.TimeoutException) else ErrorType.NETWORK_ERROR
    detail = str(exc).replace(str(url), redact_url(url))
    if url.query:
        detail = detail.replace(url.query.decode("ascii", "replace"), "")
    return DownloadError(
        kind,
        f"{type(exc).__name__} fetching {redact_url(url)}: {detail}"[:500],
        target=url.host,
    )


async def _drain_small(response: httpx.Response, max_bytes: int = DRAIN_MAX_BYTES) -> None:
    """Reads and discards a body that declares (or turns out to be) at most max_bytes, so the connection can be
    reused; a bigger or undeclared-and-endless body is left unread (closing then drops the connection)."""
    declared = response.headers.get("content-length")
    if declared is not None and (not declared.strip().isdigit() or int(declared) > max_bytes):
        return
    read = 0
    try:
        async for chunk in response.aiter_raw():
            read += len(chunk)
            if read > max_bytes:
                return
    except (httpx.TransportError, httpx.StreamError):  # the hop's answer is already known; reuse is a bonus
        return


async def _read_capped(response: httpx.Response, url: httpx.URL, max_bytes: int) -> bytes:
    """Reads the body, stopping the moment it grows past max_bytes (a lying or absent Content-Length is no help)."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise DownloadError(
            ErrorType.FILE_TOO_LARGE,
            f"{redact_url(url)} declares {int(declared)} bytes, over the {max_bytes} byte limit",
            target=url.host,
        )
    buffer = bytearray()
    async for chunk in response.aiter_bytes():
        buffer += chunk
        if len(buffer) > max_bytes:
            raise DownloadError(
                ErrorType.FILE_TOO_LARGE,
                f"{redact_url(url)} sent more than the {max_bytes} byte limit",
                target=url.host,
            )
    return bytes(buffer)


def _open_header(data: bytes) -> Image.Image:
    """The image as Pillow's plugin for an accepted format reads it from the header alone (no pixel is decoded,
    and unlike Image.open no bomb error hides the dimensions); other formats are named through Image.open."""
    prefix = data[:16]
    for fmt in sorted(ALLOWED_FORMATS):
        factory, accept = Image.OPEN[fmt]
        verdict = accept(prefix) if accept is not None else True
        if isinstance(verdict, str):
            raise ValueError(verdict)
        if verdict:
            return factory(io.BytesIO(data), "")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data)) as other:
            raise ValueError(f"format {other.format or 'unknown'} is not one of {sorted(ALLOWED_FORMATS)}")


def _identify(data: bytes, declared_type: str, url: httpx.URL) -> tuple[str, int, int]:
    """Pillow's verdict on the bytes: (format, width, height), or invalid_image naming what was received, or
    file_too_large when the header declares more than MAX_PIXELS (checked before anything decodes)."""
    received = declared_type or "no content type"

    def invalid(why: str) -> DownloadError:
        return DownloadError(
            ErrorType.INVALID_IMAGE,
            f"{redact_url(url)} returned {len(data)} bytes of {received!r} that are not an accepted image: {why}",
            target=url.host,
        )

    if not data:
        raise invalid("empty body")
    try:
        img = _open_header(data)
    except Image.DecompressionBombError as exc:
        raise DownloadError(ErrorType.FILE_TOO_LARGE, f"{redact_url(url)}: {exc}"[:500], target=url.host) from exc
    except ValueError as exc:
        raise invalid(str(exc)) from exc
    except Exception as exc:  # Pillow raises many types (UnidentifiedImageError, SyntaxError, OSError...)
        raise invalid(type(exc).__name__) from exc
    with img:
        fmt = (img.format or "").upper()
        width, height = img.size
        if width * height > MAX_PIXELS:
            raise DownloadError(
                ErrorType.FILE_TOO_LARGE,
                f"{redact_url(url)} is a {width} x {height} {fmt or 'image'} ({width * height / 1e6:.1f} Mpx), "
                f"over the {MAX_PIXELS / 1e6:g} Mpx limit ({len(data)} bytes on the wire)",
                target=url.host,
            )
        try:
            img.verify()  # structure and checksums, still without decoding the pixels
        except Exception as exc:
            raise invalid(type(exc).__name__) from exc
    if fmt not in ALLOWED_FORMATS:
        raise invalid(f"format {fmt or 'unknown'} is not one of {sorted(ALLOWED_FORMATS)}")
    if width <= 0 or height <= 0:
        raise invalid("zero-sized image")
    return fmt, width, height


async def download_photo(
    http: httpx.AsyncClient,
    request: httpx.Request,
    *,
    allowed_hosts: frozenset[str],
    max_bytes: int = 15_000_000,
    max_redirects: int = 5,
    deadline_s: float = DOWNLOAD_DEADLINE_S,
    sandbox: bool | None = None,
    resolve: Resolver = system_resolve,
) -> DownloadedImage:
    """Fetches a provider photo, following redirects by hand so every hop is checked before it is contacted:
    https on 443 to a listed host whose resolved addresses are all public (the address check is skipped only for
    the simulator's transports, see _is_sandbox, or sandbox=True), everything within deadline_s."""
    redact_httpx_logs()
    allowed = frozenset(h.lower() for h in allowed_hosts)
    started = time.monotonic()
    state = {"url": request.url}
    try:
        async with asyncio.timeout(deadline_s):
            return await _fetch(http, request, allowed, max_bytes, max_redirects, sandbox, resolve, state)
    except TimeoutError as exc:
        url = state["url"]
        raise DownloadError(
            ErrorType.NETWORK_TIMEOUT,
            f"no complete answer from {redact_url(url)} within the {deadline_s:g} s download deadline "
            f"(gave up after {time.monotonic() - started:.1f} s; a host sending too slowly or not at all)",
            target=url.host or None,
        ) from exc


async def _fetch(
    http: httpx.AsyncClient,
    request: httpx.Request,
    allowed: frozenset[str],
    max_bytes: int,
    max_redirects: int,
    sandbox: bool | None,
    resolve: Resolver,
    state: dict[str, httpx.URL],
) -> DownloadedImage:
    seen: set[str] = set()
    current = request
    hops = 0
    while True:
        state["url"] = current.url
        host = _check_host(current.url, allowed)
        url_key = str(current.url)
        if url_key in seen:
            raise DownloadError(
                ErrorType.DOWNLOAD_FAILED, f"redirect loop at {redact_url(current.url)}", target=host
            )
        seen.add(url_key)
        if not (sandbox if sandbox is not None else _is_sandbox(http, current.url)):
            await _check_addresses(current.url, host, resolve)
        log.debug("downloading %s", redact_url(current.url))
        try:
            response = await http.send(current, stream=True, follow_redirects=False)
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            # httpx parses a redirect's Location even when not following it, and reports a bad one as a
            # RemoteProtocolError raised from the InvalidURL: the answer is final, not a network hiccup
            if not _bad_location(exc):
                raise _fail_transport(exc, current.url) from exc  # type: ignore[arg-type]
            raise DownloadError(
                ErrorType.BAD_REQUEST,
                f"{redact_url(current.url)} redirected to an invalid URL ({exc})"[:500],
                target=host,
            ) from exc
        try:
            status = response.status_code
            if status in _REDIRECT_STATUSES and "location" in response.headers:
                if hops >= max_redirects:
                    raise DownloadError(
                        ErrorType.DOWNLOAD_FAILED,
                        f"more than {max_redirects} redirects, last from {redact_url(current.url)}",
                        status_code=status,
                        target=host,
                    )
                hops += 1
                current = _redirect_request(current, response)
                await _drain_small(response)
                continue
            if not 200 <= status < 300:
                await _drain_small(response)
                raise DownloadError(
                    error_type_for_status(status),
                    f"GET {redact_url(current.url)} returned HTTP {status}",
                    status_code=status,
                    target=host,
                )
            try:
                data = await _read_capped(response, current.url, max_bytes)
            except httpx.TransportError as exc:
                raise _fail_transport(exc, current.url) from exc
            except httpx.DecodingError as exc:
                raise DownloadError(
                    ErrorType.DOWNLOAD_FAILED,
                    f"{redact_url(current.url)} sent a body that could not be decoded ({type(exc).__name__})",
                    status_code=status,
                    target=host,
                ) from exc
            declared = response.headers.get("content-type", "").split(";")[0].strip().lower()[:100]
        finally:
            await response.aclose()
        fmt, width, height = _identify(data, declared, current.url)
        return DownloadedImage(
            data=data,
            content_type=Image.MIME.get(fmt, f"image/{fmt.lower()}"),
            width=width,
            height=height,
            format=fmt,
            final_host=host,
        )
