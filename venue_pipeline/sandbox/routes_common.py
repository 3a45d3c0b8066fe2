"""What every sandbox route shares: the request context, auth checks and provider error bodies."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

import httpx

from venue_pipeline.sandbox.faults import Fault

if TYPE_CHECKING:
    from venue_pipeline.sandbox.app import Sandbox
    from venue_pipeline.sandbox.world import World

SECRET_PARAMS = frozenset({"apikey", "key", "api_key", "access_token", "client_secret", "client_id", "signature"})

JSON_TYPE = "application/json; charset=utf-8"
GOOGLE_HELP_FIELD_MASK = (
    "FieldMask is a required parameter. See https://cloud.google.com/apis/design/design_patterns#partial_response "
    "on how to use FieldMask. If you are using Google Maps API, see "
    "https://developers.google.com/maps/documentation/places/web-service/choose-fields for more information."
)
IMAGEKIT_HELP = "For support kindly contact us at support@imagekit.io ."


@dataclass
class Ctx:
    """One request as the handlers see it: parsed params, the world, the sandbox's shared state."""

    request: httpx.Request
    sandbox: Sandbox
    match: re.Match[str]
    multi: list[tuple[str, str]] = field(default_factory=list)
    _body: bytes | None = None
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def world(self) -> World:
        return self.sandbox.world

    @property
    def params(self) -> Mapping[str, str]:
        return self.request.url.params

    def param(self, name: str, default: str | None = None) -> str | None:
        value = self.request.url.params.get(name)
        return default if value is None else value

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)

    @property
    def body(self) -> bytes:
        if self._body is None:
            self._body = self.request.read()
        return self._body

    def json_body(self) -> Any:
        return json.loads(self.body.decode() or "null")


Handler = Callable[[Ctx], httpx.Response]
AuthCheck = Callable[[Ctx], "httpx.Response | None"]
KeyFn = Callable[[Ctx], "str | None"]


@dataclass(frozen=True)
class Route:
    """One endpoint: where it lives, whose it is, how it fails and who answers it."""

    host: str
    method: str
    pattern: re.Pattern[str]
    provider: str
    kind: str
    style: str
    handler: Handler
    auth: AuthCheck | None = None
    fault_key: KeyFn | None = None
    error_extra: Mapping[str, Any] = field(default_factory=dict)


def route(
    host: str,
    method: str,
    pattern: str,
    provider: str,
    kind: str,
    style: str,
    handler: Handler,
    auth: AuthCheck | None = None,
    fault_key: KeyFn | None = None,
    error_extra: Mapping[str, Any] | None = None,
) -> Route:
    return Route(host, method, re.compile(pattern), provider, kind, style, handler, auth, fault_key, error_extra or {})


# ---- responses -----------------------------------------------------------------------------------
def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> httpx.Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    h = {"content-type": JSON_TYPE}
    h.update(headers or {})
    return httpx.Response(status, content=body, headers=h)


def html_response(status: int, title: str, headers: Mapping[str, str] | None = None, content_type: str = "text/html; charset=UTF-8") -> httpx.Response:
    body = f"<!DOCTYPE html><html><head><title>{status} {title}</title></head><body><h1>{title}</h1></body></html>"
    h = {"content-type": content_type}
    h.update(headers or {})
    return httpx.Response(status, content=body.encode(), headers=h)


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def invalid_key(value: str | None) -> bool:
    """The sandbox's rule for a bad key: missing, blank, or starting with 'invalid'."""
    return value is None or not value.strip() or value.strip().lower().startswith("invalid")


_GOOGLE_NEW_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_GOOGLE_LEGACY_STATUS = {401: "REQUEST_DENIED", 403: "REQUEST_DENIED", 404: "NOT_FOUND", 429: "OVER_QUERY_LIMIT", 500: "UNKNOWN_ERROR", 400: "INVALID_REQUEST"}


def _request_id(*parts: object) -> str:
    h = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def error_response(
    style: str,
    status: int,
    message: str | None = None,
    *,
    retry_after_s: int | None = None,
    extra: Mapping[str, Any] | None = None,
    reason_code: str | None = None,
) -> httpx.Response:
    """The error a provider really sends for a status, in its own body shape."""
    msg = message or reason(status)
    headers: dict[str, str] = {}
    if status == 429 and retry_after_s is not None:
        headers["retry-after"] = str(retry_after_s)
    if style == "here":
        if status == 401:
            return json_response({"error": "Unauthorized", "error_description": message or "apiKey invalid. apiKey not found."}, 401, headers)
        if status == 429:  # HERE's API gateway form (GS7's own ErrorResponse is for 400/405/503)
            return json_response({"error": "Too Many Requests", "error_description": message or "Rate limit for this service has been reached"}, 429, headers)
        rid = _request_id(style, status, msg)
        return json_response(
            {"status": status, "title": msg, "correlationId": rid, "requestId": f"REQ-{rid}", "cause": msg if status == 400 else None, "action": ""},
            status,
            headers,
        )
    if style == "geoapify":
        return json_response({"statusCode": status, "error": reason(status), "message": msg}, status, headers)
    if style == "foursquare":
        return json_response({"message": msg}, status, headers)
    if style == "google_legacy":
        legacy = _GOOGLE_LEGACY_STATUS.get(status)
        if legacy is None:  # front-end failures are real HTTP errors with an HTML page
            return html_response(status, reason(status), headers)
        body: dict[str, Any] = dict(extra or {})
        body.update({"error_message": msg, "status": legacy})
        return json_response(body, 200)
    if style == "google_new":
        err: dict[str, Any] = {"code": status, "message": msg, "status": _GOOGLE_NEW_STATUS.get(status, "UNKNOWN")}
        if reason_code:
            err["details"] = [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason_code, "domain": "googleapis.com", "metadata": {"service": "places.googleapis.com"}}
            ]
        return json_response({"error": err}, status, headers)
    if style == "imagekit":
        if status == 429:
            ms = str((retry_after_s or 1) * 1000)
            headers.update({"x-ratelimit-limit": "10", "x-ratelimit-reset": ms, "x-ratelimit-interval": "1000"})
        return json_response({"message": msg, "help": IMAGEKIT_HELP}, status, headers)
    # photo hosts, CDNs and the legacy photo endpoint answer with plain HTML pages
    return html_response(status, msg, headers)


# ---- injected faults ------------------------------------------------------------------------------
class RepeatStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A large body streamed in chunks (sync and async) without holding it in memory."""

    def __init__(self, total: int, head: bytes = b"", chunk: int = 64 * 1024) -> None:
        self.total = total
        self.head = head
        self.chunk = chunk

    def _chunks(self) -> Iterator[bytes]:
        sent = 0
        if self.head:
            yield self.head[: self.total]
            sent = min(len(self.head), self.total)
        filler = bytes(range(256)) * (self.chunk // 256)
        while sent < self.total:
            n = min(self.chunk, self.total - sent)
            yield filler[:n]
            sent += n

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks()

    async def __aiter__(self):  # type: ignore[override]
        for c in self._chunks():
            yield c


_JPEG_HEAD = bytes.fromhex("ffd8ffe000104a46494600010100000100010000")


def fault_response(fault: Fault, r: Route, ctx: Ctx) -> httpx.Response:
    """Turn a fault decision into what the client experiences: an exception or a response."""
    request = ctx.request
    if fault.kind == "timeout":
        raise httpx.ReadTimeout("sandbox: injected read timeout", request=request)
    if fault.kind == "connect_timeout":
        raise httpx.ConnectTimeout("sandbox: injected connect timeout", request=request)
    if fault.status is not None:
        messages = {
            "here": {429: "Rate limit for this service has been reached"},
            "geoapify": {429: "Quota exceeded", 500: "Request failed, please try again later", 401: "Invalid apiKey"},
            "foursquare": {401: "Invalid request token.", 404: "Invalid venue specified", 500: "Server error, please retry later"},
            "google_legacy": {429: "You have exceeded your rate-limit for this API.", 401: "The provided API key is invalid.", 403: "This API project is not authorized to use this API."},
            "google_new": {429: "Resource has been exhausted (e.g. check quota).", 401: "API key not valid. Please pass a valid API key."},
            "imagekit": {401: "Your request does not contain private API key.", 403: "Your account cannot be authenticated.", 429: "Too many requests"},
        }
        msg = messages.get(r.style, {}).get(fault.status)
        return error_response(r.style, fault.status, msg, retry_after_s=fault.retry_after_s, extra=r.error_extra)
    if fault.kind == "malformed_json":
        body = b'{"items":[{"title":"' if r.style == "here" else b'{"results":[{"name":"Th'
        return httpx.Response(200, content=body, headers={"content-type": JSON_TYPE})
    if fault.kind == "html_body":
        return html_response(200, "Please enable cookies to continue")
    if fault.kind == "oversized":
        return httpx.Response(
            200,
            headers={"content-type": "image/jpeg", "content-length": str(fault.oversized_bytes)},
            stream=RepeatStream(fault.oversized_bytes, _JPEG_HEAD),
        )
    if fault.kind == "non_image":
        ctype = "image/jpeg" if int(hashlib.sha256(str(request.url).encode()).hexdigest(), 16) % 2 else "text/html; charset=utf-8"
        return html_response(200, "Access Denied - you don't have permission to access this resource", content_type=ctype)
    if fault.kind == "offlist_redirect":
        token = hashlib.sha256(str(request.url.path).encode()).hexdigest()[:24]
        return httpx.Response(302, headers={"location": f"https://images.example-cdn.net/r/{token}.jpg", "content-length": "0"})
    raise ValueError(f"unknown fault {fault.kind!r}")


def canonical_key(request: httpx.Request, body: bytes | None) -> str:
    """The request without secrets (keys in params; headers ignored), so faults never depend on keys."""
    items = sorted((k, v) for k, v in request.url.params.multi_items() if k.lower() not in SECRET_PARAMS)
    query = "&".join(f"{k}={v}" for k, v in items)
    key = f"{request.method} {request.url.host}{request.url.path}?{query}"
    ctype = request.headers.get("content-type", "")
    if body and "json" in ctype:
        try:
            key += " " + json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
        except ValueError:
            key += " " + hashlib.sha256(body).hexdigest()
    return key


def parse_latlng(value: str | None) -> tuple[float, float] | None:
    """'lat,lng' to floats; None when absent or malformed."""
    if not value:
        return None
    try:
        a, b = value.split(",")[:2]
        lat, lng = float(a), float(b)
    except ValueError:
        return None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return None
    return lat, lng


def parse_int(value: str | None, default: int) -> int | None:
    """An int parameter; None when present but not an int (the caller answers 400)."""
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        return None
