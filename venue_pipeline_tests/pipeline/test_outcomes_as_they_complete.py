"""The upload and retry stages record each outcome in its own transaction as it completes: a run that dies
mid-way (here the CDN kills it after N stored files) keeps every upload finished before the crash."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

import venue_pipeline.services as services_module
from venue_pipeline.cdn.local import LocalImageStore
from venue_pipeline.cli import import_file
from venue_pipeline.core.ports import ImageStore, StoredImage
from venue_pipeline.core.statuses import ImageStatus
from venue_pipeline.demo import limited_demo_csv
from venue_pipeline.pipeline import (
    run_discovery,
    run_provider_ids,
    run_retries,
    run_uploads,
)
from venue_pipeline.services import Settings
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import UploadAttemptRow, VenueImageRow

STORED_BEFORE_CRASH = 5


class StoreCrash(BaseException):
    """Not an Exception: upload_one turns those into failed outcomes; this one ends the run like a crash."""


class CrashingStore(ImageStore):
    """A local store that dies on the first put asked for once `after` files are stored."""

    name = "local"

    def __init__(self, inner: ImageStore, after: int) -> None:
        self.inner, self.after, self.stored = inner, after, 0

    async def put(
        self, path: str, data: bytes, content_type: str, *, tags: Sequence[str] | None = None
    ) -> StoredImage:
        if self.stored >= self.after:
            raise StoreCrash(f"CDN gone after {self.stored} files")
        stored = await self.inner.put(path, data, content_type, tags=tags)
        self.stored += 1
        return stored

    async def exists(self, path: str) -> bool:
        return await self.inner.exists(path)

    def url_for(self, path: str) -> str:
        return self.inner.url_for(path)


@pytest.fixture
def discovered(db_url, tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    import_file(db_url, limited_demo_csv(8, tmp_path / "subset.csv"), "open_pubs", quiet=True)
    settings = Settings(db_url=db_url, sandbox_faults="none", image_dir=str(tmp_path / "images"))
    run_provider_ids(settings, "exeter")
    run_discovery(settings, "exeter")
    return settings


def _by_status(db_url: str) -> dict[str, int]:
    with session_scope(db_url) as s:
        return dict(s.execute(select(VenueImageRow.status, func.count()).group_by(VenueImageRow.status)).all())


@pytest.mark.parametrize("stage", ["uploads", "retries"])
def test_a_crash_mid_run_keeps_the_outcomes_completed_before_it(discovered, tmp_path, monkeypatch, stage) -> None:
    settings = discovered
    if stage == "retries":  # every image failed once and is due: the retry path picks them all
        with session_scope(settings.db_url) as s:
            s.execute(
                update(VenueImageRow).values(
                    status=ImageStatus.FAILED,
                    attempts=1,
                    error_type="service_unavailable",
                    next_retry_at=datetime.now(UTC) - timedelta(seconds=1),
                )
            )
    images = sum(_by_status(settings.db_url).values())
    assert images > 2 * STORED_BEFORE_CRASH
    stores: list[CrashingStore] = []

    def crashing_store(*_args: object) -> ImageStore:
        stores.append(CrashingStore(LocalImageStore(tmp_path / "images"), STORED_BEFORE_CRASH))
        return stores[-1]

    monkeypatch.setattr(services_module, "build_image_store", crashing_store)
    with pytest.raises(StoreCrash):
        if stage == "uploads":
            run_uploads(settings, "exeter", run_id="crashed")
        else:
            run_retries(settings, city="exeter", run_id="crashed")

    stored = stores[0].stored  # the N files stored, and any put already in flight that finished in the teardown
    by_status = _by_status(settings.db_url)
    assert by_status.get(ImageStatus.UPLOADED, 0) == stored >= STORED_BEFORE_CRASH
    waiting = ImageStatus.PENDING if stage == "uploads" else ImageStatus.FAILED
    assert by_status.get(waiting, 0) == images - stored > 0  # the rest untouched, for the next run
    with session_scope(settings.db_url) as s:
        attempts = s.execute(select(UploadAttemptRow.run_id, UploadAttemptRow.is_retry)).all()
    assert len(attempts) == stored and {a.run_id for a in attempts} == {"crashed"}
    assert {a.is_retry for a in attempts} == {stage == "retries"}
