"""ImageKitStore against the sandbox's ImageKit API: the wire request, overwrite-by-path and every failure."""

from __future__ import annotations

import asyncio
import base64
import io

import httpx
import pytest
from PIL import Image

from venue_pipeline.cdn.imagekit import ImageKitStore
from venue_pipeline.core.cdn_paths import cdn_path
from venue_pipeline.core.errors import CdnError, ErrorType
from venue_pipeline.core.ports import StoredImage
from venue_pipeline.core.venue import Venue
from venue_pipeline.providers.memory_ledger import MemoryLedger
from venue_pipeline.sandbox.app import Sandbox, build_sandbox
from venue_pipeline.sandbox.faults import FaultConfig, FaultRates
from venue_pipeline.sandbox.routes_imagekit import parse_multipart

KEY = "private_sandbox_SECRET_9f3a"
ENDPOINT = "https://ik.imagekit.io/sandbox"
PATH = cdn_path("crown-1-sudbury", "google_places", "3f2a9c1d00000000")


def venues() -> list[Venue]:
    return [
        Venue(i, f"Crown {i}", f"crown-{i}-sudbury", "sudbury", "Sudbury", f"{i} High Street", "CO10 1AA", "United Kingdom", 52.03 + i * 0.003, 0.73)
        for i in range(1, 4)
    ]


def jpeg(color: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


class Recording(httpx.AsyncBaseTransport):
    """Passes every request to the sandbox, keeping a fully read copy so the test sees the wire bytes."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


@pytest.fixture()
def sandbox() -> Sandbox:
    return build_sandbox(venues(), seed=7, faults=FaultConfig.none(7))


def put(
    sandbox: Sandbox, data: bytes, *, key: str = KEY, path: str = PATH, ledger: MemoryLedger | None = None
) -> tuple[StoredImage, Recording]:
    """One upload through a fresh AsyncClient on the sandbox transport (raises what the store raises)."""
    recording = Recording(sandbox.transport())

    async def run() -> StoredImage:
        async with httpx.AsyncClient(transport=recording) as http:
            store = ImageKitStore(key, ENDPOINT, http, ledger=ledger)
            return await store.put(path, data, "image/jpeg")

    return asyncio.run(run()), recording


def fail(sandbox: Sandbox, data: bytes, *, key: str = KEY) -> CdnError:
    with pytest.raises(CdnError) as info:
        put(sandbox, data, key=key)
    exc = info.value
    assert KEY not in str(exc) and KEY not in exc.message and KEY not in repr(exc.args)
    return exc


def test_upload_stores_the_bytes_at_the_deterministic_path(sandbox: Sandbox) -> None:
    data = jpeg((200, 30, 30))
    ledger = MemoryLedger()
    stored, recording = put(sandbox, data, ledger=ledger)

    assert stored.path == PATH
    assert stored.url == f"{ENDPOINT}{PATH}"
    assert stored.size == len(data)
    assert stored.file_id == sandbox.imagekit_files[PATH].file_id
    assert list(sandbox.imagekit_files) == [PATH]
    kept = sandbox.imagekit_files[PATH]
    assert kept.content == data and kept.file_type == "image" and (kept.width, kept.height) == (40, 30)
    assert kept.tags == ["google-places", "crown-1-sudbury"]
    assert sandbox.imagekit_upload_count(PATH) == 1
    # the public URL the store returned really serves the uploaded bytes
    with httpx.Client(transport=sandbox.transport()) as client:
        served = client.get(stored.url)
    assert served.status_code == 200 and served.content == data
    # one ledgered call, free, successful
    (call,) = ledger.calls
    assert (call.provider, call.endpoint, call.status_code, call.error_type, call.cost) == ("imagekit", "upload", 200, None, 0.0)
    assert len(recording.requests) == 1


def test_the_wire_request_is_imagekits_multipart_upload(sandbox: Sandbox) -> None:
    data = jpeg((10, 120, 200))
    _, recording = put(sandbox, data)

    (request,) = recording.requests
    assert request.method == "POST"
    assert str(request.url) == "https://upload.imagekit.io/api/v1/files/upload"
    folder, _, name = PATH.rpartition("/")
    form = parse_multipart(request.headers["content-type"], request.content)
    assert form["file"] == (data, name)
    texts = {k: v.decode() for k, (v, filename) in form.items() if filename is None}
    assert texts == {
        "fileName": name,
        "folder": folder,
        "useUniqueFileName": "false",
        "overwriteFile": "true",
        "tags": "google-places,crown-1-sudbury",
    }
    # the key travels only as HTTP Basic user with an empty password, never in the URL or the body
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    assert KEY not in str(request.url) and KEY.encode() not in request.content


def test_putting_the_same_path_twice_overwrites(sandbox: Sandbox) -> None:
    first, second = jpeg((255, 0, 0)), jpeg((0, 0, 255), size=(64, 48))
    a, _ = put(sandbox, first)
    b, _ = put(sandbox, second)

    assert list(sandbox.imagekit_files) == [PATH]
    assert sandbox.imagekit_upload_count(PATH) == 2
    assert sandbox.imagekit_files[PATH].content == second
    assert (sandbox.imagekit_files[PATH].width, sandbox.imagekit_files[PATH].height) == (64, 48)
    assert (a.url, a.path, a.file_id) == (b.url, b.path, b.file_id)
    assert b.size == len(second)


def test_a_key_the_account_refuses_is_an_auth_error_and_not_stored(sandbox: Sandbox) -> None:
    exc = fail(sandbox, jpeg((1, 2, 3)), key="invalid_" + KEY)
    assert exc.error_type is ErrorType.AUTH_ERROR and exc.status_code == 403
    assert "cannot be authenticated" in exc.message
    assert "invalid_" + KEY not in str(exc)
    assert sandbox.imagekit_files == {} and sandbox.imagekit_upload_count(PATH) == 0


def test_a_blank_key_is_missing_before_any_request_and_an_empty_user_is_auth_error(sandbox: Sandbox) -> None:
    with pytest.raises(CdnError) as info:
        put(sandbox, jpeg((1, 2, 3)), key="")
    assert info.value.error_type is ErrorType.MISSING_API_KEY
    assert sandbox.calls_to("upload.imagekit.io") == 0
    # a whitespace-only key gets past the constructor; the sandbox answers 401 as ImageKit does
    exc = fail(sandbox, jpeg((1, 2, 3)), key="   ")
    assert exc.error_type is ErrorType.AUTH_ERROR and exc.status_code == 401
    assert sandbox.imagekit_files == {}


@pytest.mark.parametrize(
    ("fault", "expected", "status"),
    [
        ("server_error", ErrorType.SERVER_ERROR, 500),
        ("service_unavailable", ErrorType.SERVICE_UNAVAILABLE, 503),
        ("unauthorized", ErrorType.AUTH_ERROR, 401),
        ("forbidden", ErrorType.AUTH_ERROR, 403),  # ImageKit's 403 is "Your account cannot be authenticated."
        ("rate_limited", ErrorType.RATE_LIMITED, 429),
    ],
    ids=["500", "503", "401", "403", "429"],
)
def test_upload_faults_map_to_the_taxonomy(fault: str, expected: ErrorType, status: int) -> None:
    rates = FaultRates(**{fault: 1.0}, retry_after_s=3)
    sandbox = build_sandbox(venues(), seed=7, faults=FaultConfig.none(7).with_rates("imagekit", "upload", rates))
    ledger = MemoryLedger()
    with pytest.raises(CdnError) as info:
        put(sandbox, jpeg((9, 9, 9)), ledger=ledger)
    exc = info.value
    assert exc.error_type is expected and exc.status_code == status
    assert KEY not in str(exc)
    if expected is ErrorType.RATE_LIMITED:
        assert exc.retry_after == 3.0  # from X-RateLimit-Reset (ms), as ImageKit sends it
    assert sandbox.faults_injected[("imagekit", "upload", fault)] == 1
    assert sandbox.imagekit_files == {}
    (call,) = ledger.calls
    assert (call.status_code, call.error_type) == (status, expected.value)


def test_a_file_over_the_plan_limit_is_file_too_large(sandbox: Sandbox) -> None:
    small = Sandbox(sandbox.world, FaultConfig.none(7), imagekit_max_bytes=1024)
    data = jpeg((120, 80, 40), size=(400, 300))
    assert len(data) > 1024
    exc = fail(small, data)
    assert exc.error_type is ErrorType.FILE_TOO_LARGE and exc.status_code == 413
    assert "File size too large" in exc.message
    assert small.imagekit_files == {}
    # the same sandbox still takes a file under the limit
    tiny = jpeg((1, 1, 1), size=(4, 4))
    assert len(tiny) <= 1024
    stored, _ = put(small, tiny)
    assert small.imagekit_files[stored.path].content == tiny


def test_the_key_never_reaches_any_error_message() -> None:
    """Every failing answer the sandbox can give, collected: none of the messages holds the key."""
    errors: list[CdnError] = []
    for rates in (FaultRates(server_error=1.0), FaultRates(bad_gateway=1.0), FaultRates(html_body=1.0), FaultRates(malformed_json=1.0)):
        sandbox = build_sandbox(venues(), seed=7, faults=FaultConfig.none(7).with_rates("imagekit", "upload", rates))
        with pytest.raises(CdnError) as info:
            put(sandbox, jpeg((5, 5, 5)))
        errors.append(info.value)
    sandbox = build_sandbox(venues(), seed=7, faults=FaultConfig.none(7).with_rates("imagekit", "upload", FaultRates(timeout=1.0)))
    with pytest.raises(CdnError) as info:
        put(sandbox, jpeg((5, 5, 5)))
    errors.append(info.value)
    assert [e.error_type for e in errors] == [
        ErrorType.SERVER_ERROR,
        ErrorType.BAD_GATEWAY,
        ErrorType.MALFORMED_RESPONSE,
        ErrorType.MALFORMED_RESPONSE,
        ErrorType.NETWORK_TIMEOUT,
    ]
    for exc in errors:
        assert KEY not in str(exc) and KEY not in exc.message and KEY not in repr(exc)
