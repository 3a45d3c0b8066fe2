"""Before transfers start: the files a crashed run already stored are adopted, and files no image row accounts
for are removed, with one listing per venue folder the run touches.

A crash between a store's put() and the outcome's transaction leaves a file at the image's deterministic path
while its row still says pending (or failed). Downloading and uploading it again would repeat a billed transfer;
instead the file is recorded as the upload's outcome. A file whose name matches no image row of its folder
(nor any row's stored path) is an orphan and is deleted.

Order matters against concurrent runs: the folders are listed first and the rows read after, so every file
listed was put by a run that had read its row before: a row created after the read cannot own a listed file."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from venue_pipeline.core.cdn_paths import photo_stem, split_name, venue_folder
from venue_pipeline.core.errors import ErrorClass, PipelineError, classify
from venue_pipeline.core.gallery import ImageTask, UploadOutcome
from venue_pipeline.core.ports import ImageStore, StoredImage
from venue_pipeline.core.statuses import ImageStatus

log = logging.getLogger(__name__)

LIST_CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class FolderRow:
    """One image row of a venue whose folder is being reconciled (any status)."""

    image_id: int
    venue_id: int
    provider: str
    photo_key: str
    status: str
    cdn_path: str | None


@dataclass
class FolderPlan:
    """What one folder's listing means: files to record as uploads (task, file) and files to remove."""

    adopt: list[tuple[ImageTask, StoredImage]] = field(default_factory=list)
    remove: list[StoredImage] = field(default_factory=list)


@dataclass
class Reconciled:
    """What reconciling a run's folders did: tasks still to transfer, images adopted, files removed, notes."""

    remaining: list[ImageTask]
    adopted: list[UploadOutcome] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    folders: int = 0
    notes: list[str] = field(default_factory=list)


# (venue ids of the folders, paths listed) -> (every image row of those venues, the listed paths any row points at)
RowReader = Callable[[Sequence[int], Sequence[str]], tuple[list[FolderRow], set[str]]]


def plan_folder(
    files: Sequence[StoredImage],
    rows: Iterable[FolderRow],
    waiting: Mapping[int, ImageTask],
    pointed: set[str],
) -> FolderPlan:
    """Files are matched to rows by name without extension (provider and photo-key hash).

    - no row matches and no row points at the file: removed (an orphan);
    - a row this run would transfer (`waiting`) matches: the first such file is adopted for it and any twin
      (the same photo under another extension) not pointed at is removed;
    - an uploaded row matches but points elsewhere: the twin is removed;
    - otherwise (a retired row, or a waiting row outside this run's selection) the file is left alone."""
    owners: dict[str, list[FolderRow]] = {}
    for row in rows:
        owners.setdefault(photo_stem(row.provider, row.photo_key), []).append(row)
    groups: dict[str, list[StoredImage]] = {}
    for stored in sorted(files, key=lambda f: f.path):
        groups.setdefault(split_name(stored.path)[1], []).append(stored)
    plan = FolderPlan()
    for stem, group in groups.items():
        mine = owners.get(stem, [])
        kept = {f.path for f in group if f.path in pointed or any(r.cdn_path == f.path for r in mine)}
        task = next((waiting[r.image_id] for r in mine if r.image_id in waiting), None)
        if task is not None:
            chosen = next((f for f in group if f.path in kept), group[0])
            plan.adopt.append((task, chosen))
            kept.add(chosen.path)
        elif mine and not any(r.status == ImageStatus.UPLOADED and r.cdn_path for r in mine):
            continue  # a row that may still want one of these files: leave them
        plan.remove.extend(f for f in group if f.path not in kept)
    return plan


def adopted_outcome(task: ImageTask, stored: StoredImage, now: datetime) -> UploadOutcome:
    """The upload a crashed run completed but never recorded, recorded from the stored file."""
    return UploadOutcome(
        image_id=task.image_id,
        provider=task.provider,
        ok=True,
        started_at=now,
        duration_ms=0,
        cdn_url=stored.url,
        cdn_path=stored.path,
        width=stored.width,
        height=stored.height,
        message=f"adopted the file already stored ({stored.size} bytes): no download, no upload",
    )


async def _list(store: ImageStore, folder: str, gate: asyncio.Semaphore) -> list[StoredImage]:
    """One listing, tried once more after a transient failure."""
    async with gate:
        try:
            return await store.list_folder(folder)
        except PipelineError as exc:
            if classify(exc.error_type.value) is not ErrorClass.TRANSIENT:
                raise
            await asyncio.sleep(min(float(getattr(exc, "retry_after", None) or 0.5), 5.0))
            return await store.list_folder(folder)


async def reconcile(
    tasks: Sequence[ImageTask],
    store: ImageStore,
    read_rows: RowReader,
    *,
    adoptable: Callable[[ImageTask], bool] = lambda _task: True,
    on_outcome: Callable[[UploadOutcome], None] | None = None,
) -> Reconciled:
    """Lists each folder of the tasks' venues once, records adoptions through `on_outcome` (before any transfer
    starts), deletes orphans and returns the tasks that still need a transfer. A folder that cannot be listed
    is left as it is and its tasks transfer as before (put overwrites by path)."""
    result = Reconciled(remaining=list(tasks))
    by_folder: dict[str, list[ImageTask]] = {}
    for task in tasks:
        by_folder.setdefault(venue_folder(task.venue_slug), []).append(task)
    if not by_folder:
        return result
    gate = asyncio.Semaphore(LIST_CONCURRENCY)
    listed = await asyncio.gather(*(_list(store, f, gate) for f in by_folder), return_exceptions=True)
    listings: dict[str, list[StoredImage]] = {}
    for folder, answer in zip(by_folder, listed):
        if isinstance(answer, NotImplementedError):
            result.notes.append(f"{store.name} cannot list folders: nothing adopted or removed")
            return result
        if isinstance(answer, BaseException):
            if not isinstance(answer, Exception):
                raise answer
            result.notes.append(f"{folder}: listing failed ({type(answer).__name__}: {answer}); left as it is")
            log.warning("reconcile: listing %s failed: %s", folder, answer)
            continue
        listings[folder] = answer
    result.folders = len(listings)
    paths = [f.path for files in listings.values() for f in files]
    if not paths:
        return result
    venue_ids = sorted({t.venue_id for folder in listings for t in by_folder[folder]})
    rows, pointed = read_rows(venue_ids, paths)
    rows_by_venue: dict[int, list[FolderRow]] = {}
    for row in rows:
        rows_by_venue.setdefault(row.venue_id, []).append(row)
    now = datetime.now(UTC)
    adopted_ids: set[int] = set()
    for folder, files in listings.items():
        venues = {t.venue_id for t in by_folder[folder]}
        folder_rows = [r for v in venues for r in rows_by_venue.get(v, [])]
        status = {r.image_id: r.status for r in folder_rows}  # as it is now, after the listing
        waiting = {
            t.image_id: t
            for t in by_folder[folder]
            if adoptable(t) and status.get(t.image_id) not in (None, ImageStatus.UPLOADED)
        }
        plan = plan_folder(files, folder_rows, waiting, pointed)
        for task, stored in plan.adopt:
            outcome = adopted_outcome(task, stored, now)
            if on_outcome is not None:
                on_outcome(outcome)
            result.adopted.append(outcome)
            adopted_ids.add(task.image_id)
        for stored in plan.remove:
            try:
                await store.delete(stored)
            except (PipelineError, NotImplementedError) as exc:
                result.notes.append(f"{stored.path}: not removed ({exc})")
                log.warning("reconcile: removing orphan %s failed: %s", stored.path, exc)
                continue
            result.removed.append(stored.path)
    result.remaining = [t for t in tasks if t.image_id not in adopted_ids]
    if result.adopted or result.removed:
        log.info(
            "reconcile: %d folders listed, %d stored files adopted, %d orphan files removed",
            result.folders, len(result.adopted), len(result.removed),
        )
    return result
