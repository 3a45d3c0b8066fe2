"""Safe photo download: only from known hosts, size-capped while streaming, and proven to be an image."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from PIL import Image

from venue_pipeline.core.errors import DownloadError, ErrorType, error_type_for_status

log = logging.getLogger(__name__)

ALLOWED_FORMATS: frozenset[str] = frozenset({"JPEG", "PNG", "WEBP", "GIF"})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Headers that must not follow a redirect to another host (credentials of the first host).
_CROSS_HOST_STRIP = ("authorization", "cookie", "proxy-authorization")


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


def _check_host(url: httpx.URL, allowed_hosts: frozenset[str]) -> str:
    """Refuses, before any request is made, a URL whose scheme or host is not on the provider's list."""
    host = (url.host or "").lower()
    if url.scheme not in ("https", "http"):
        raise DownloadError(
            ErrorType.DISALLOWED_HOST,
            f"refusing {url.scheme or 'schemeless'} URL {redact_url(url)}: only http(s) downloads are allowed",
            target=host or None,
        )
    if host not in allowed_hosts:
        raise DownloadError(
            ErrorType.DISALLOWED_HOST,
            f"host {host or '<none>'!r} is not an allowed photo host ({redact_url(url)})",
            target=host or None,
        )
    return host


def _redirect_request(request: httpx.Request, response: httpx.Response) -> httpx.Request:
    """The next hop's request, with method rewriting as browsers do and credentials dropped across hosts."""
    location = response.headers["location"]
    try:
        next_url = request.url.join(location)
    except httpx.InvalidURL as exc:
        raise DownloadError(
            ErrorType.DOWNLOAD_FAILED,
            f"{redact_url(request.url)} redirected to an invalid URL",
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


def _identify(data: bytes, declared_type: str, url: httpx.URL) -> tuple[str, int, int]:
    """Pillow's verdict on the bytes: (format, width, height), or invalid_image naming what was received."""
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
        with Image.open(io.BytesIO(data)) as img:
            fmt = (img.format or "").upper()
            width, height = img.size
            img.verify()
    except Image.DecompressionBombError as exc:
        raise invalid("too many pixels (decompression bomb guard)") from exc
    except Exception as exc:  # Pillow raises many types (UnidentifiedImageError, SyntaxError, OSError...)
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
) -> DownloadedImage:
    """Fetches a provider photo, following redirects by hand so every hop's host is checked before it is contacted."""
    redact_httpx_logs()
    allowed = frozenset(h.lower() for h in allowed_hosts)
    seen: set[str] = set()
    current = request
    hops = 0
    while True:
        host = _check_host(current.url, allowed)
        url_key = str(current.url)
        if url_key in seen:
            raise DownloadError(
                ErrorType.DOWNLOAD_FAILED, f"redirect loop at {redact_url(current.url)}", target=host
            )
        seen.add(url_key)
        log.debug("downloading %s", redact_url(current.url))
        try:
            response = await http.send(current, stream=True, follow_redirects=False)
        except httpx.TransportError as exc:
            raise _fail_transport(exc, current.url) from exc
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
                continue
            if not 200 <= status < 300:
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
