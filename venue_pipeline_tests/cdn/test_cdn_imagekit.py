"""The ImageKit store speaks the real upload API and maps every failure onto the taxonomy."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from venue_pipeline.cdn.imagekit import LIST_FILES_URL, UPLOAD_URL, ImageKitStore
from venue_pipeline.core.errors import CdnError, ErrorClass, ErrorType
from venue_pipeline.core.ports import ApiCall

KEY = "private_SECRET_key_123"
ENDPOINT = "https://ik.imagekit.io/demo"
PATH = "/venues/the-anchor-colchester/google-places-3f2a9c1d00000000.jpg"
JPEG = b"\xff\xd8\xff\xe0fake-but-binary\x00\x01\xfe\xff\xd9"


class MemoryLedger:
    def __init__(self) -> None:
        self.calls: list[ApiCall] = []

    def calls_today(self, provider: str) -> int:
        return sum(1 for c in self.calls if c.provider == provider)

    def record(self, call: ApiCall) -> None:
        self.calls.append(call)


def parse_multipart(request: httpx.Request) -> dict[str, tuple[bytes, dict[str, str]]]:
    """name -> (raw bytes, part headers), read straight from the wire body."""
    ctype = request.headers["content-type"]
    assert ctype.startswith("multipart/form-data")
    boundary = ctype.split("boundary=")[1].strip('"').encode()
    fields: dict[str, tuple[bytes, dict[str, str]]] = {}
    for part in request.content.split(b"--" + boundary)[1:]:
        if part.startswith(b"--"):
            break
        head, _, body = part[2:].partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        name = headers["Content-Disposition"].split('name="')[1].split('"')[0]
        fields[name] = (body[:-2], headers)  # drop the CRLF before the next boundary
    return fields


def upload_ok(request: httpx.Request) -> httpx.Response:
    fields = parse_multipart(request)
    folder, name = fields["folder"][0].decode(), fields["fileName"][0].decode()
    return httpx.Response(
        200,
        json={
            "fileId": "598821f949c0a938d57563bd",
            "name": name,
            "size": len(fields["file"][0]),
            "filePath": f"{folder}/{name}",
            "url": f"{ENDPOINT}{folder}/{name}",
            "fileType": "image",
        },
    )


def make_store(
    handler: Callable[[httpx.Request], httpx.Response], ledger: MemoryLedger | None = None
) -> tuple[ImageKitStore, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(record))
    return ImageKitStore(KEY, ENDPOINT, http, ledger=ledger), seen


def test_upload_sends_the_real_multipart_request_and_parses_the_answer() -> None:
    ledger = MemoryLedger()
    store, seen = make_store(upload_ok, ledger)
    stored = asyncio.run(store.put(PATH, JPEG, "image/jpeg", tags=["google_places", "the-anchor-colchester"]))

    (request,) = seen
    assert request.method == "POST" and str(request.url) == UPLOAD_URL
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    fields = parse_multipart(request)
    assert fields["file"][0] == JPEG
    assert "filename=" in fields["file"][1]["Content-Disposition"]
    assert fields["file"][1]["Content-Type"] == "image/jpeg"
    assert fields["fileName"][0] == b"google-places-3f2a9c1d00000000.jpg"
    assert fields["folder"][0] == b"/venues/the-anchor-colchester"
    assert fields["useUniqueFileName"][0] == b"false"
    assert fields["overwriteFile"][0] == b"true"
    assert fields["tags"][0] == b"google_places,the-anchor-colchester"

    assert stored.url == f"{ENDPOINT}{PATH}" and stored.path == PATH
    assert stored.size == len(JPEG) and stored.file_id == "598821f949c0a938d57563bd"
    (call,) = ledger.calls
    assert (call.provider, call.endpoint, call.status_code, call.error_type, call.cost) == (
        "imagekit",
        "upload",
        200,
        None,
        0.0,
    )


def test_tags_default_to_provider_and_venue_from_the_path() -> None:
    store, seen = make_store(upload_ok)
    asyncio.run(store.put(PATH, JPEG, "image/jpeg"))
    assert parse_multipart(seen[0])["tags"][0] == b"google-places,the-anchor-colchester"


def test_url_for_and_paths_outside_the_folder_root() -> None:
    store, seen = make_store(upload_ok)
    assert store.url_for(PATH) == f"{ENDPOINT}{PATH}"
    with pytest.raises(CdnError) as info:
        asyncio.run(store.put("/other/x.jpg", JPEG, "image/jpeg"))
    assert info.value.error_type is ErrorType.BAD_REQUEST and seen == []


def error(
    status: int, body: Any = None, text: str | None = None, headers: dict[str, str] | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text, headers={"content-type": "text/html", **(headers or {})})
        return httpx.Response(status, json=body, headers=headers)

    return handler


@pytest.mark.parametrize(
    ("handler", "expected", "status"),
    [
        (
            error(401, {"message": "Your request does not contain private API key."}),
            ErrorType.AUTH_ERROR,
            401,
        ),
        (
            error(403, {"message": "Your account cannot be authenticated.", "help": "..."}),
            ErrorType.AUTH_ERROR,  # the account/key, not the file: every later call fails the same way
            403,
        ),
        (error(403, {"message": "Access to this file is restricted."}), ErrorType.FORBIDDEN, 403),
        (error(413, {"message": "File size exceeds the limit"}), ErrorType.FILE_TOO_LARGE, 413),
        (
            error(429, {"message": "Too many requests"}, headers={"X-RateLimit-Reset": "1500"}),
            ErrorType.RATE_LIMITED,
            429,
        ),
        (error(400, {"message": "A file with the same name already exists"}), ErrorType.BAD_REQUEST, 400),
        (error(500, {"message": "Internal error"}), ErrorType.SERVER_ERROR, 500),
        (error(503, text="<html>maintenance</html>"), ErrorType.SERVICE_UNAVAILABLE, 503),
        (error(200, text="<html>captive portal</html>"), ErrorType.MALFORMED_RESPONSE, 200),
        (error(200, {"fileId": "x"}), ErrorType.MALFORMED_RESPONSE, 200),
    ],
)
def test_failures_map_to_the_taxonomy(
    handler: Callable[[httpx.Request], httpx.Response], expected: ErrorType, status: int
) -> None:
    ledger = MemoryLedger()
    store, _ = make_store(handler, ledger)
    with pytest.raises(CdnError) as info:
        asyncio.run(store.put(PATH, JPEG, "image/jpeg"))
    err = info.value
    assert err.error_type is expected and err.status_code == status
    assert KEY not in str(err)
    (call,) = ledger.calls
    assert call.error_type == expected.value and call.status_code == status


def test_error_message_comes_from_the_body_and_rate_limit_wait_is_parsed() -> None:
    store, _ = make_store(error(429, {"message": "Too many requests"}, headers={"X-RateLimit-Reset": "1500"}))
    with pytest.raises(CdnError) as info:
        asyncio.run(store.put(PATH, JPEG, "image/jpeg"))
    assert "Too many requests" in info.value.message
    assert info.value.retry_after == 1.5 and info.value.error_class is ErrorClass.TRANSIENT


def test_a_body_echoing_the_key_does_not_carry_it_into_the_message() -> None:
    store, _ = make_store(error(401, {"message": f"key {KEY} is not valid"}))
    with pytest.raises(CdnError) as info:
        asyncio.run(store.put(PATH, JPEG, "image/jpeg"))
    assert KEY not in str(info.value) and KEY not in repr(store)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [(httpx.WriteTimeout, ErrorType.NETWORK_TIMEOUT), (httpx.ConnectError, ErrorType.NETWORK_ERROR)],
)
def test_transport_failures(exc: type[httpx.TransportError], expected: ErrorType) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc("boom", request=request)

    ledger = MemoryLedger()
    store, _ = make_store(handler, ledger)
    with pytest.raises(CdnError) as info:
        asyncio.run(store.put(PATH, JPEG, "image/jpeg"))
    assert info.value.error_type is expected
    assert ledger.calls[0].error_type == expected.value and ledger.calls[0].status_code is None


def test_exists_asks_the_list_files_api_for_the_exact_path() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert str(request.url).startswith(LIST_FILES_URL)
        assert request.url.params["path"] == "/venues/the-anchor-colchester/"
        assert "google-places-3f2a9c1d00000000.jpg" in request.url.params["searchQuery"]
        return httpx.Response(200, json=[{"filePath": PATH, "fileId": "1", "type": "file"}])

    store, _ = make_store(handler)
    assert asyncio.run(store.exists(PATH)) is True
    empty, _ = make_store(lambda request: httpx.Response(200, json=[]))
    assert asyncio.run(empty.exists(PATH)) is False


def test_missing_key_is_refused_up_front() -> None:
    with pytest.raises(CdnError) as info:
        ImageKitStore("", ENDPOINT, httpx.AsyncClient())
    assert info.value.error_type is ErrorType.MISSING_API_KEY


def test_concurrent_uploads_are_bounded() -> None:
    active = {"now": 0, "max": 0}

    async def slow(request: httpx.Request) -> httpx.Response:
        active["now"] += 1
        active["max"] = max(active["max"], active["now"])
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        active["now"] -= 1
        return upload_ok(request)

    async def go() -> None:
        http = httpx.AsyncClient(transport=httpx.MockTransport(slow))
        store = ImageKitStore(KEY, ENDPOINT, http, max_concurrency=2)
        paths = [f"/venues/v/here-{i:016x}.jpg" for i in range(6)]
        stored = await asyncio.gather(*(store.put(p, JPEG, "image/jpeg") for p in paths))
        assert [s.path for s in stored] == paths

    asyncio.run(go())
    assert active["max"] <= 2
