"""Two runs over the same venues at once (a city run and a retry run, say) never lose or duplicate a row."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from venue_pipeline.cli import import_file
from venue_pipeline.demo import limited_demo_csv
from venue_pipeline.pipeline import run_discovery, run_provider_ids, run_retries, run_uploads
from venue_pipeline.services import Settings
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import UploadAttemptRow, VenueImageRow


def _in_parallel(*jobs) -> None:  # type: ignore[no-untyped-def]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(jobs))

    def run(job) -> None:  # type: ignore[no-untyped-def]
        try:
            barrier.wait()
            job()
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors


@pytest.mark.postgres
def test_concurrent_runs_on_postgres_lose_and_duplicate_nothing(pg_url, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    import_file(pg_url, limited_demo_csv(15, tmp_path / "subset.csv"), "open_pubs", quiet=True)
    settings = Settings(db_url=pg_url, sandbox_faults="outage", image_dir=str(tmp_path / "images"))
    run_provider_ids(settings, "exeter")

    # two discoveries of the same city at once: every photo lands exactly once
    _in_parallel(lambda: run_discovery(settings, "exeter", force=True), lambda: run_discovery(settings, "exeter", force=True))
    with session_scope(pg_url) as s:
        rows = s.scalar(select(func.count(VenueImageRow.id)))
        keys = s.scalar(select(func.count()).select_from(
            select(VenueImageRow.venue_id, VenueImageRow.provider, VenueImageRow.photo_key).distinct().subquery()))
    assert rows == keys > 0

    # a city upload run and a retry run over the same images at once
    _in_parallel(lambda: run_uploads(settings, "exeter", run_id="city"), lambda: run_uploads(settings, "exeter", run_id="other"))
    _in_parallel(lambda: run_retries(settings, city="exeter", run_id="retry-a"), lambda: run_retries(settings, run_id="retry-b"))
    with session_scope(pg_url) as s:
        after = s.scalar(select(func.count(VenueImageRow.id)))
        statuses = dict(s.execute(select(VenueImageRow.status, func.count()).group_by(VenueImageRow.status)).all())
        paths = s.execute(
            select(VenueImageRow.cdn_path, func.count()).where(VenueImageRow.cdn_path.is_not(None))
            .group_by(VenueImageRow.cdn_path).having(func.count() > 1)
        ).all()
        attempts_without_image = s.scalar(
            select(func.count(UploadAttemptRow.id)).where(UploadAttemptRow.image_id.not_in(select(VenueImageRow.id)))
        )
    assert after == rows  # nothing lost, nothing duplicated
    assert "pending" not in statuses and statuses.get("uploaded", 0) > 0
    assert not paths and attempts_without_image == 0
