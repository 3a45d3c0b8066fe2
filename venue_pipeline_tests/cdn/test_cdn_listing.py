"""Listing a venue folder and deleting a file, which a re-run uses to adopt what a crashed run stored and to remove
orphans: the local store (one os.scandir, pixel size from the header) and ImageKit on the sandbox (List & search
assets with path/type/limit/skip; Delete file, DELETE /v1/files/{fileId} with Basic auth, 204:
https://imagekit.io/docs/api-reference/digital-asset-management-dam/managing-assets/delete-file)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from pathlib import Path

import httpx
import pytest
from PIL import Image

import venue_pipeline.cdn.imagekit as imagekit_module
from venue_pipeline.cdn.imagekit import ImageKitStore
from venue_pipeline.cdn.local import LocalImageStore
from venue_pipeline.core.cdn_paths import cdn_path, venue_folder
from venue_pipeline.core.errors import CdnError, ErrorType
from venue_pipeline.core.ports import StoredImage
from venue_pipeline.core.venue import Venue
from venue_pipeline.providers.memory_ledger import MemoryLedger
from venue_pipeline.sandbox.app import Sandbox, build_sandbox
from venue_pipeline.sandbox.faults import FaultConfig

KEY = "private_sandbox_SECRET_9f3a"
ENDPOINT = "https://ik.imagekit.io/sandbox"
SLUG = "crown-1-sudbury"
FOLDER = venue_folder(SLUG)


def image(fmt: str, size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 40, 160)).save(buffer, format=fmt)
    return buffer.getvalue()


# ---- local ---------------------------------------------------------------------------------------
def test_local_listing_gives_each_file_with_size_and_pixel_size_and_skips_temp_files(tmp_path: Path) -> None:
    store = LocalImageStore(tmp_path)
    jpg, png = image("JPEG", (40, 30)), image("PNG", (12, 7))
    a, b = cdn_path(SLUG, "here", "a", "jpg"), cdn_path(SLUG, "foursquare", "b", "png")
    asyncio.run(store.put(a, jpg, "image/jpeg"))
    asyncio.run(store.put(b, png, "image/png"))
    asyncio.run(store.put(f"{FOLDER}/notes.txt", b"not an image", "text/plain"))
    (tmp_path / FOLDER.lstrip("/") / ".here-x.jpg.k3j2.tmp").write_bytes(b"half")  # a put killed mid-write
    (tmp_path / FOLDER.lstrip("/") / "sub").mkdir()
    asyncio.run(store.put(f"{FOLDER}/sub/deeper.jpg", jpg, "image/jpeg"))

    listed = {f.path: f for f in asyncio.run(store.list_folder(FOLDER))}

    assert set(listed) == {a, b, f"{FOLDER}/notes.txt"}  # not the temp file, not the subfolder
    assert listed[a] == StoredImage(store.url_for(a), a, len(jpg), None, 40, 30)
    assert (listed[b].size, listed[b].width, listed[b].height) == (len(png), 12, 7)
    assert (listed[f"{FOLDER}/notes.txt"].width, listed[f"{FOLDER}/notes.txt"].height) == (None, None)
    assert asyncio.run(store.list_folder(venue_folder("never-stored"))) == []


def test_local_delete_removes_the_file_and_a_second_delete_is_not_an_error(tmp_path: Path) -> None:
    store = LocalImageStore(tmp_path)
    path = cdn_path(SLUG, "here", "a")
    stored = asyncio.run(store.put(path, b"x", "image/jpeg"))
    asyncio.run(store.delete(stored))
    asyncio.run(store.delete(stored))
    assert not asyncio.run(store.exists(path)) and asyncio.run(store.list_folder(FOLDER)) == []


@pytest.mark.parametrize("folder", ["/venues/../etc", "venues/x", "/venues/a b", "/venues/x/"])
def test_local_listing_refuses_folders_outside_the_rule(tmp_path: Path, folder: str) -> None:
    with pytest.raises(CdnError) as info:
        asyncio.run(LocalImageStore(tmp_path).list_folder(folder))
    assert info.value.error_type is ErrorType.BAD_REQUEST


# ---- ImageKit on the sandbox ---------------------------------------------------------------------
class Recording(httpx.AsyncBaseTransport):
    """Passes every request to the sandbox, keeping a fully read copy so the test sees the wire bytes."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


def venues() -> list[Venue]:
    return [
        Venue(i, f"Crown {i}", f"crown-{i}-sudbury", "sudbury", "Sudbury", f"{i} High Street", "CO10 1AA",
              "United Kingdom", 52.03 + i * 0.003, 0.73)
        for i in range(1, 3)
    ]


@pytest.fixture()
def sandbox() -> Sandbox:
    return build_sandbox(venues(), seed=7, faults=FaultConfig.none(7))


def run_store(sandbox: Sandbox, work, ledger: MemoryLedger | None = None):  # type: ignore[no-untyped-def]
    """Runs work(store) on an ImageKitStore over a recording sandbox transport; returns (result, recording)."""
    recording = Recording(sandbox.transport())

    async def go():  # type: ignore[no-untyped-def]
        async with httpx.AsyncClient(transport=recording) as http:
            return await work(ImageKitStore(KEY, ENDPOINT, http, ledger=ledger))

    return asyncio.run(go()), recording


def test_imagekit_listing_is_one_list_request_for_the_folder(sandbox: Sandbox) -> None:
    jpg = image("JPEG", (40, 30))
    a, b = cdn_path(SLUG, "here", "a"), cdn_path(SLUG, "google_places", "b")
    other = cdn_path("crown-2-sudbury", "here", "c")
    for path in (a, b, other):
        run_store(sandbox, lambda store, p=path: store.put(p, jpg, "image/jpeg"))
    ledger = MemoryLedger()

    listed, recording = run_store(sandbox, lambda store: store.list_folder(FOLDER), ledger)

    (request,) = recording.requests
    assert request.method == "GET" and request.url.host == "api.imagekit.io" and request.url.path == "/v1/files"
    assert dict(request.url.params) == {
        "path": f"{FOLDER}/", "type": "file", "sort": "ASC_NAME", "limit": "1000", "skip": "0"
    }
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    by_path = {f.path: f for f in listed}
    assert set(by_path) == {a, b}  # the folder only, not the neighbour's
    kept = sandbox.imagekit_files[a]
    assert by_path[a] == StoredImage(f"https://ik.imagekit.io/{sandbox.imagekit_id}{a}", a, len(jpg), kept.file_id, 40, 30)
    (call,) = ledger.calls
    assert (call.provider, call.endpoint, call.status_code, call.error_type) == ("imagekit", "list_files", 200, None)


def test_imagekit_listing_pages_with_skip_until_a_short_page(sandbox: Sandbox, monkeypatch) -> None:
    monkeypatch.setattr(imagekit_module, "LIST_PAGE", 2)
    paths = [cdn_path(SLUG, "here", str(i)) for i in range(5)]
    for path in paths:
        run_store(sandbox, lambda store, p=path: store.put(p, b"\xff\xd8 not decoded", "image/jpeg"))

    listed, recording = run_store(sandbox, lambda store: store.list_folder(FOLDER))

    assert sorted(f.path for f in listed) == sorted(paths)
    assert [(r.url.params["skip"], r.url.params["limit"]) for r in recording.requests] == [
        ("0", "2"), ("2", "2"), ("4", "2")
    ]


def test_imagekit_delete_is_the_documented_request_and_a_file_already_gone_is_not_an_error(
    sandbox: Sandbox,
) -> None:
    path = cdn_path(SLUG, "here", "a")
    stored, _ = run_store(sandbox, lambda store: store.put(path, image("JPEG", (8, 8)), "image/jpeg"))
    (listed,), _ = run_store(sandbox, lambda store: store.list_folder(FOLDER))
    ledger = MemoryLedger()

    _, recording = run_store(sandbox, lambda store: store.delete(listed), ledger)

    (request,) = recording.requests
    assert request.method == "DELETE"
    assert str(request.url) == f"https://api.imagekit.io/v1/files/{stored.file_id}"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    assert request.content == b"" and KEY not in str(request.url)
    assert path not in sandbox.imagekit_files
    (call,) = ledger.calls
    assert (call.endpoint, call.status_code, call.error_type) == ("delete_file", 204, None)
    # deleting again: ImageKit answers 404, which the store takes as done
    again = MemoryLedger()
    run_store(sandbox, lambda store: store.delete(listed), again)
    assert [(c.endpoint, c.status_code) for c in again.calls] == [("delete_file", 404)]


def test_imagekit_refuses_to_list_or_delete_outside_its_folder(sandbox: Sandbox) -> None:
    for work in (
        lambda store: store.list_folder("/elsewhere/x"),
        lambda store: store.delete(StoredImage("u", "/elsewhere/x.jpg", 1, "abc")),
        lambda store: store.delete(StoredImage("u", cdn_path(SLUG, "here", "a"), 1, None)),
    ):
        with pytest.raises(CdnError) as info:
            run_store(sandbox, work)
        assert info.value.error_type is ErrorType.BAD_REQUEST
    assert sum(sandbox.calls.values()) == 0


def test_a_documented_list_files_entry_reads_as_a_stored_image() -> None:
    """The SDK fixture's File object (venue_pipeline_tests/providers/contracts/fixtures/imagekit/list_files.json):
    url, size, fileId, width and height come straight from it; a folder entry or another folder's file is skipped."""
    fixture = Path(__file__).parents[1] / "providers" / "contracts" / "fixtures" / "imagekit" / "list_files.json"
    (entry,) = json.loads(fixture.read_text())["response"]["body"]
    assert imagekit_module._listed(entry, "") == StoredImage(
        url="https://ik.imagekit.io/your_imagekit_id/sample-cat-image_gr64HPlJS.jpg",
        path="/sample-cat-image_gr64HPlJS.jpg",
        size=23023,
        file_id="62a995f4d875ec08dc587b72",
        width=236,
        height=354,
    )
    assert imagekit_module._listed(entry, "/venues/x") is None
    assert imagekit_module._listed({**entry, "type": "folder"}, "") is None
