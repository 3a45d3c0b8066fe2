"""A re-run after a crash repeats no transfer and leaves no orphan file (issue 12), on the local store and on
ImageKit via the sandbox: a file already stored for a waiting image is adopted (no download, no put), a file no
image row accounts for in a venue folder the run touches is removed, and a crash between put() and the
outcome's transaction is adopted by the next run."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import select, update

import venue_pipeline.core.upload as upload_module
import venue_pipeline.services as services_module
from venue_pipeline.cli import import_file
from venue_pipeline.core.cdn_paths import photo_stem, split_name, venue_folder
from venue_pipeline.core.ports import ImageStore, StoredImage
from venue_pipeline.core.statuses import ImageStatus
from venue_pipeline.demo import limited_demo_csv
from venue_pipeline.pipeline import (
    run_discovery,
    run_provider_ids,
    run_retries,
    run_uploads,
)
from venue_pipeline.sandbox.app import Sandbox
from venue_pipeline.services import Settings, shared_sandbox
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import UploadAttemptRow, VenueImageRow, VenueRow

BUILD_STORE = services_module.build_image_store
PHOTO_KINDS = ("photo_download", "photo_media")


class StoreCrash(BaseException):
    """Not an Exception: upload_one turns those into failed outcomes; this one ends the run like a crash."""


@pytest.fixture
def discovered(db_url, tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    import_file(db_url, limited_demo_csv(8, tmp_path / "subset.csv"), "open_pubs", quiet=True)
    settings = Settings(db_url=db_url, sandbox_faults="none", image_dir=str(tmp_path / "images"))
    run_provider_ids(settings, "exeter")
    run_discovery(settings, "exeter")
    return settings


class Watch:
    """What the runs do to the store and the providers: every put's path, every image transferred."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.puts: list[str] = []
        self.transferred: list[int] = []
        self.crash_on_put: int | None = None  # the n-th put stores its file, then kills the run
        watch = self

        def build(settings: Settings, http: httpx.AsyncClient, ledger: object) -> ImageStore:
            store = BUILD_STORE(settings, http, ledger)  # type: ignore[arg-type]
            put = store.put

            async def watched(path: str, data: bytes, content_type: str, *, tags: Sequence[str] | None = None) -> StoredImage:
                result = await put(path, data, content_type, tags=tags)
                watch.puts.append(path)
                if len(watch.puts) == watch.crash_on_put:
                    raise StoreCrash(f"killed after storing {path}, before its outcome was recorded")
                return result

            store.put = watched  # type: ignore[method-assign]
            return store

        upload_one = upload_module.upload_one

        async def transfer(task, *args, **kwargs):  # type: ignore[no-untyped-def]
            watch.transferred.append(task.image_id)
            return await upload_one(task, *args, **kwargs)

        monkeypatch.setattr(services_module, "build_image_store", build)
        monkeypatch.setattr(upload_module, "upload_one", transfer)

    def clear(self) -> None:
        self.puts.clear()
        self.transferred.clear()


def photo_calls(sandbox: Sandbox) -> int:
    """Requests to the providers' photo endpoints and hosts: each is a download."""
    return sum(n for (_host, kind), n in sandbox.calls.items() if kind in PHOTO_KINDS)


def stored_files(settings: Settings) -> dict[str, bytes]:
    """Every file the store holds (the local store's temp files are not files of the store)."""
    if settings.image_store == "imagekit":
        return {p: f.content for p, f in shared_sandbox(settings).imagekit_files.items()}
    root = Path(settings.image_dir)
    return {
        "/" + p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


def pixel_size(settings: Settings, path: str) -> tuple[int | None, int | None]:
    if settings.image_store == "imagekit":
        kept = shared_sandbox(settings).imagekit_files[path]
        return kept.width, kept.height
    with Image.open(Path(settings.image_dir) / path.lstrip("/")) as img:
        return img.width, img.height


def put_directly(settings: Settings, path: str, data: bytes) -> None:
    """A file written by hand (or by a run long gone), not through a stage."""

    async def go() -> None:
        transport = shared_sandbox(settings).transport()
        async with httpx.AsyncClient(transport=transport) as http:
            await BUILD_STORE(settings, http, None).put(path, data, "image/jpeg")  # type: ignore[arg-type]

    asyncio.run(go())


def rows(settings: Settings) -> dict[int, tuple[str, str | None, str, str, str, int | None, int | None]]:
    """image id -> (status, cdn path, venue slug, provider, photo key, width, height)."""
    with session_scope(settings.db_url) as s:
        found = s.execute(
            select(
                VenueImageRow.id, VenueImageRow.status, VenueImageRow.cdn_path, VenueRow.slug,
                VenueImageRow.provider, VenueImageRow.photo_key, VenueImageRow.width, VenueImageRow.height,
            ).join(VenueRow, VenueRow.id == VenueImageRow.venue_id)
        ).all()
    return {r[0]: tuple(r[1:]) for r in found}  # type: ignore[misc]


def assert_no_orphan(settings: Settings, keep: Callable[[str], bool] = lambda _p: False) -> None:
    """Every stored file (but those `keep` names) is the one file of exactly one uploaded row."""
    pointed = {r[1] for r in rows(settings).values() if r[0] == ImageStatus.UPLOADED}
    files = {p for p in stored_files(settings) if not keep(p)}
    assert files == pointed and None not in pointed


@pytest.fixture(params=["local", "imagekit"])
def city(request, discovered) -> Settings:
    return replace(discovered, image_store=request.param)


def test_files_already_stored_for_waiting_images_are_adopted_without_download_or_put(city, monkeypatch) -> None:
    settings = city
    first = run_uploads(settings, "exeter", run_id="first")
    before = {i: r for i, r in rows(settings).items() if r[0] == ImageStatus.UPLOADED}
    assert sum(first.uploaded.values()) == len(before) > 10
    # the crash window for every image at once: each file stored, no outcome recorded
    with session_scope(settings.db_url) as s:
        s.execute(
            update(VenueImageRow).values(
                status=ImageStatus.PENDING, cdn_path=None, cdn_url=None, uploaded_at=None, width=None, height=None
            )
        )
    sandbox = shared_sandbox(settings)
    sandbox.reset_counters()
    watch = Watch(monkeypatch)

    again = run_uploads(settings, "exeter", run_id="rerun")

    assert watch.transferred == [] and watch.puts == [] and again.attempted == 0
    assert photo_calls(sandbox) == 0 and sum(sandbox.imagekit_uploads.values()) == 0
    assert sum(again.adopted.values()) == sum(again.uploaded.values()) == len(before)
    assert again.orphans_removed == 0 and again.folders_listed == len({r[2] for r in before.values()})
    after = rows(settings)
    for image_id, (_status, path, *_rest) in before.items():
        status, adopted_path, *_, width, height = after[image_id]
        assert (status, adopted_path) == (ImageStatus.UPLOADED, path)
        assert (width, height) == pixel_size(settings, path) and width  # read from the stored file
    with session_scope(settings.db_url) as s:
        messages = s.scalars(select(UploadAttemptRow.message).where(UploadAttemptRow.run_id == "rerun")).all()
    assert len(messages) == len(before) and all("adopted" in (m or "") for m in messages)
    assert_no_orphan(settings)
    if settings.image_store == "imagekit":  # one listing per venue folder, no per-image lookup, no upload
        assert sandbox.calls_to("api.imagekit.io", "list_files") == again.folders_listed
        assert sandbox.calls_to("upload.imagekit.io") == 0


def test_an_orphan_in_a_venue_folder_is_removed_by_the_next_upload_run_of_that_city(city) -> None:
    settings = city
    slug = next(r[2] for r in rows(settings).values())
    orphan = f"{venue_folder(slug)}/here-00000000deadbeef.jpg"  # no row has this photo hash
    elsewhere = f"{venue_folder('a-venue-of-another-city')}/here-0123456789abcdef.jpg"
    data = _jpeg()
    put_directly(settings, orphan, data)
    put_directly(settings, elsewhere, data)

    summary = run_uploads(settings, "exeter")

    assert summary.orphans_removed == 1 and sum(summary.adopted.values()) == 0
    files = stored_files(settings)
    assert orphan not in files and elsewhere in files  # only the folders the run touches are looked at
    assert_no_orphan(settings, keep=lambda p: p == elsewhere)


@pytest.mark.parametrize("stage", ["uploads", "retries"])
def test_a_crash_between_put_and_its_outcome_is_adopted_by_the_rerun(city, monkeypatch, stage) -> None:
    settings = city
    if stage == "retries":  # every image failed once and is due: the retry path picks them all
        with session_scope(settings.db_url) as s:
            s.execute(
                update(VenueImageRow).values(
                    status=ImageStatus.FAILED, attempts=1, error_type="service_unavailable",
                    next_retry_at=datetime.now(UTC) - timedelta(seconds=1),
                )
            )
    waiting = ImageStatus.PENDING if stage == "uploads" else ImageStatus.FAILED
    run = (lambda rid: run_uploads(settings, "exeter", run_id=rid)) if stage == "uploads" else (
        lambda rid: run_retries(settings, city="exeter", run_id=rid)
    )
    watch = Watch(monkeypatch)
    watch.crash_on_put = 3

    with pytest.raises(StoreCrash):
        run("crashed")

    after_crash = rows(settings)
    files = stored_files(settings)
    still_waiting = {i for i, r in after_crash.items() if r[0] == waiting}
    by_stem = {(split_name(p)[0], split_name(p)[1]): p for p in files}
    # the files stored for images whose outcome the crash lost: at least the one whose put "succeeded" last
    lost = {
        i: by_stem[(venue_folder(r[2]), photo_stem(r[3], r[4]))]
        for i, r in after_crash.items()
        if i in still_waiting and (venue_folder(r[2]), photo_stem(r[3], r[4])) in by_stem
    }
    assert watch.puts[2] in lost.values() and len(still_waiting) >= len(lost)
    sandbox = shared_sandbox(settings)
    sandbox.reset_counters()
    watch.clear()
    watch.crash_on_put = None

    rerun = run("rerun")

    assert sum(rerun.adopted.values()) == len(lost)
    assert set(watch.transferred) == still_waiting - set(lost)  # no second download of a lost outcome's file
    assert len(watch.transferred) == len(set(watch.transferred)) == rerun.attempted
    assert not set(lost.values()) & set(watch.puts) and len(watch.puts) == len(set(watch.puts))
    if settings.image_store == "imagekit":
        assert all(sandbox.imagekit_upload_count(p) == 0 for p in lost.values())
        assert sum(sandbox.imagekit_uploads.values()) == len(watch.puts)
    final = rows(settings)
    assert {i for i, r in final.items() if r[0] != ImageStatus.UPLOADED} == set()
    assert all(final[i][1] == p for i, p in lost.items())
    assert_no_orphan(settings)


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), (10, 200, 60)).save(buffer, format="JPEG")
    return buffer.getvalue()
