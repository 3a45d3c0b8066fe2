"""core/reconcile.py: which files a folder listing adopts, removes or leaves, and how a run's folders are
listed (once each), read (after the listing) and acted on."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from venue_pipeline.core.cdn_paths import cdn_path, venue_folder
from venue_pipeline.core.errors import CdnError, ErrorType
from venue_pipeline.core.gallery import ImageTask, UploadOutcome
from venue_pipeline.core.ports import ImageStore, StoredImage
from venue_pipeline.core.reconcile import FolderRow, plan_folder, reconcile
from venue_pipeline.core.statuses import ImageStatus

SLUG = "the-anchor-exeter"


def task(image_id: int, provider: str = "here", key: str | None = None, slug: str = SLUG, venue_id: int = 1) -> ImageTask:
    return ImageTask(image_id, venue_id, slug, provider, key or f"k{image_id}", "ref", None, None, 0)


def row(image_id: int, status: str, provider: str = "here", cdn: str | None = None, venue_id: int = 1) -> FolderRow:
    return FolderRow(image_id, venue_id, provider, f"k{image_id}", status, cdn)


def stored(path: str, size: int = 10, width: int | None = 40, height: int | None = 30) -> StoredImage:
    return StoredImage(f"https://cdn.example{path}", path, size, f"id{abs(hash(path)) % 10**6}", width, height)


def path(image_id: int, provider: str = "here", ext: str = "jpg", slug: str = SLUG) -> str:
    return cdn_path(slug, provider, f"k{image_id}", ext)


def test_a_file_of_a_waiting_row_is_adopted_and_a_file_of_no_row_is_removed() -> None:
    files = [stored(path(1)), stored(path(99)), stored(f"{venue_folder(SLUG)}/stray.png")]
    plan = plan_folder(files, [row(1, ImageStatus.PENDING)], {1: task(1)}, pointed=set())
    assert [(t.image_id, f.path) for t, f in plan.adopt] == [(1, path(1))]
    assert sorted(f.path for f in plan.remove) == sorted([path(99), f"{venue_folder(SLUG)}/stray.png"])


def test_twins_of_one_photo_keep_the_pointed_or_adopted_one() -> None:
    # a waiting row with the photo stored as jpg and png: the first is adopted, the other removed
    plan = plan_folder([stored(path(1, ext="png")), stored(path(1))], [row(1, ImageStatus.FAILED)], {1: task(1)}, set())
    assert [f.path for _, f in plan.adopt] == [path(1)] and [f.path for f in plan.remove] == [path(1, ext="png")]
    # an uploaded row pointing at the jpg: the png twin goes, the jpg stays
    plan = plan_folder([stored(path(2)), stored(path(2, ext="png"))], [row(2, ImageStatus.UPLOADED, cdn=path(2))], {}, set())
    assert plan.adopt == [] and [f.path for f in plan.remove] == [path(2, ext="png")]


def test_files_a_row_may_still_want_or_another_venue_points_at_are_left() -> None:
    files = [stored(path(3)), stored(path(4)), stored(path(5))]
    rows = [row(3, ImageStatus.PERMANENTLY_FAILED), row(4, ImageStatus.PENDING)]  # 4 waits, but not in this run
    plan = plan_folder(files, rows, {}, pointed={path(5)})  # 5: a venue sharing the folder points at it
    assert plan.adopt == [] and plan.remove == []


class FakeStore(ImageStore):
    name = "fake"

    def __init__(self, files: dict[str, list[StoredImage]], fail: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.files, self.fail = files, fail
        self.listed: list[str] = []
        self.deleted: list[str] = []
        self.puts = 0

    async def put(self, path: str, data: bytes, content_type: str, *, tags: Sequence[str] | None = None) -> StoredImage:
        self.puts += 1
        raise AssertionError("reconcile never puts")

    async def exists(self, path: str) -> bool:
        raise AssertionError("reconcile lists folders, it asks for no single file")

    def url_for(self, path: str) -> str:
        return f"https://cdn.example{path}"

    async def list_folder(self, folder: str) -> list[StoredImage]:
        self.listed.append(folder)
        if folder in self.fail:
            raise CdnError(ErrorType.FORBIDDEN, "no listing here")
        return self.files.get(folder, [])

    async def delete(self, file: StoredImage) -> None:
        self.deleted.append(file.path)


def test_reconcile_lists_each_folder_once_reads_rows_after_and_returns_what_still_needs_a_transfer() -> None:
    other = "the-crown-exeter"
    tasks = [task(1), task(2), task(3, provider="foursquare"), task(4, slug=other, venue_id=2), task(5, slug="broken", venue_id=3)]
    store = FakeStore(
        {
            venue_folder(SLUG): [stored(path(1)), stored(path(3, provider="foursquare")), stored(path(77))],
            venue_folder(other): [stored(path(4, slug=other), width=None, height=None)],
        },
        fail={venue_folder("broken")},
    )
    reads: list[tuple[list[int], list[str]]] = []

    def read_rows(venue_ids: Sequence[int], paths: Sequence[str]) -> tuple[list[FolderRow], set[str]]:
        assert len(store.listed) == 3  # every folder listed before the rows are read
        reads.append((list(venue_ids), sorted(paths)))
        rows = [row(1, ImageStatus.PENDING), row(2, ImageStatus.PENDING), row(3, ImageStatus.FAILED, provider="foursquare"),
                row(4, ImageStatus.PENDING, venue_id=2)]
        return rows, set()

    recorded: list[UploadOutcome] = []
    result = asyncio.run(
        reconcile(tasks, store, read_rows, adoptable=lambda t: t.provider == "here", on_outcome=recorded.append)
    )

    assert sorted(store.listed) == sorted({venue_folder(SLUG), venue_folder(other), venue_folder("broken")})
    assert reads == [([1, 2], sorted([path(1), path(3, provider="foursquare"), path(77), path(4, slug=other)]))]
    assert [o.image_id for o in recorded] == [1, 4] == [o.image_id for o in result.adopted]
    first = recorded[0]
    assert first.ok and (first.cdn_path, first.cdn_url, first.width, first.height) == (
        path(1), f"https://cdn.example{path(1)}", 40, 30
    )
    assert recorded[1].width is None  # unknown pixel size: the row keeps its own
    assert "no download, no upload" in (first.message or "")
    # 2 has no file, 3 is outside the run's providers (its file stays), 5's folder could not be listed
    assert [t.image_id for t in result.remaining] == [2, 3, 5]
    assert store.deleted == [path(77)] == result.removed and store.puts == 0
    assert result.folders == 2 and len(result.notes) == 1 and "broken" in result.notes[0]


def test_a_row_uploaded_since_the_tasks_were_read_is_not_adopted_again() -> None:
    store = FakeStore({venue_folder(SLUG): [stored(path(1))]})
    result = asyncio.run(
        reconcile([task(1)], store, lambda _v, _p: ([row(1, ImageStatus.UPLOADED, cdn=path(1))], {path(1)}))
    )
    assert result.adopted == [] and store.deleted == [] and [t.image_id for t in result.remaining] == [1]


def test_a_store_that_cannot_list_changes_nothing() -> None:
    class Plain(FakeStore):
        async def list_folder(self, folder: str) -> list[StoredImage]:
            return await ImageStore.list_folder(self, folder)

    def never(_v: Sequence[int], _p: Sequence[str]) -> tuple[list[FolderRow], set[str]]:
        raise AssertionError("no listing, no read")

    result = asyncio.run(reconcile([task(1), task(2)], Plain({}), never))
    assert [t.image_id for t in result.remaining] == [1, 2] and result.adopted == [] and "cannot list" in result.notes[0]
