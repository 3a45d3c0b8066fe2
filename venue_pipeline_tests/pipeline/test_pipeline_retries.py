"""Recovery: retries from stored references only, backoff, retirement, re-opening, reference refresh, circuits."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from venue_pipeline.cli import import_file
from venue_pipeline.demo import limited_demo_csv
from venue_pipeline.pipeline import run_discovery, run_provider_ids, run_retries, run_uploads
from venue_pipeline.services import Settings
from venue_pipeline.store import circuits
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import ApiCallRow, UploadAttemptRow, VenueImageRow

API_ENDPOINTS = {"geocode", "discover", "lookup", "places", "search", "photos", "text_search", "nearby_search",
                 "find_place", "details"}


@pytest.fixture
def city(db_url, tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    import_file(db_url, limited_demo_csv(20, tmp_path / "subset.csv"), "open_pubs", quiet=True)
    return db_url


def _make_all_due(db_url: str) -> None:
    """Time passes: every scheduled retry is due now."""
    with session_scope(db_url) as s:
        s.execute(
            update(VenueImageRow)
            .where(VenueImageRow.status == "failed")
            .values(next_retry_at=datetime.now(timezone.utc) - timedelta(seconds=1))
        )


def _api_calls_by_run(db_url: str, run_ids: list[str]) -> list[tuple[str, str]]:
    with session_scope(db_url) as s:
        return s.execute(
            select(ApiCallRow.provider, ApiCallRow.endpoint).where(ApiCallRow.run_id.in_(run_ids))
        ).all()


def test_three_retry_cycles_clear_transient_failures_without_provider_calls(city, tmp_path) -> None:
    settings = Settings(db_url=city, sandbox_faults="outage", image_dir=str(tmp_path / "images"))
    run_provider_ids(settings, "exeter")
    run_discovery(settings, "exeter")
    run_uploads(settings, "exeter", run_id="city-run")
    with session_scope(city) as s:
        failed_before = s.scalar(select(func.count()).where(VenueImageRow.status == "failed"))
        images_before = s.scalar(select(func.count(VenueImageRow.id)))
    assert failed_before > 0, "the outage mix should leave transient failures to retry"

    retry_runs = []
    for cycle in range(3):
        _make_all_due(city)
        run_id = f"retry-{cycle}"
        retry_runs.append(run_id)
        run_retries(settings, run_id=run_id)

    with session_scope(city) as s:
        rows = s.execute(select(VenueImageRow.status, VenueImageRow.error_class)).all()
        assert s.scalar(select(func.count(VenueImageRow.id))) == images_before  # no twin, no loss
        retry_attempts = s.scalar(select(func.count(UploadAttemptRow.id)).where(UploadAttemptRow.is_retry.is_(True)))
    statuses = [r[0] for r in rows]
    assert "failed" not in statuses and "pending" not in statuses
    assert all(cls == "permanent" or cls == "ambiguous" for st, cls in rows if st == "permanently_failed")
    assert retry_attempts >= failed_before
    calls = _api_calls_by_run(city, retry_runs)
    assert not [c for c in calls if c[1] in API_ENDPOINTS], calls  # downloads only, never search/details/lists


def test_permanent_errors_retire_at_once_and_only_an_operator_reopens_them(city, tmp_path) -> None:
    settings = Settings(db_url=city, sandbox_faults="outage", image_dir=str(tmp_path / "images"))
    run_provider_ids(settings, "exeter")
    run_discovery(settings, "exeter")
    run_uploads(settings, "exeter")
    with session_scope(city) as s:
        retired = s.scalars(select(VenueImageRow.id).where(VenueImageRow.status == "permanently_failed")).all()
    assert retired
    _make_all_due(city)
    skipped = run_retries(settings, image_ids=list(retired))
    assert skipped.attempted == 0  # every retry path skips retired images
    reopened = run_retries(settings, image_ids=list(retired), reopen_permanent=True)
    assert reopened.reopened == len(retired) and reopened.attempted == len(retired)


def test_expired_google_references_are_refreshed_with_one_details_call_per_venue(city, tmp_path) -> None:
    settings = Settings(db_url=city, sandbox_faults="none", image_dir=str(tmp_path / "images"),
                        providers=("google_places",))
    run_provider_ids(settings, "exeter")
    run_discovery(settings, "exeter")
    with session_scope(city) as s:  # make two venues' Google photos failed, with day-old references
        venues = s.scalars(select(VenueImageRow.venue_id).distinct().limit(2)).all()
        s.execute(
            update(VenueImageRow)
            .where(VenueImageRow.venue_id.in_(venues))
            .values(status="failed", attempts=1, error_type="service_unavailable", error_class="transient",
                    next_retry_at=datetime.now(timezone.utc) - timedelta(minutes=1),
                    reference_fetched_at=datetime.now(timezone.utc) - timedelta(days=2))
        )
        old = dict(s.execute(select(VenueImageRow.id, VenueImageRow.reference).where(VenueImageRow.venue_id.in_(venues))).all())
    summary = run_retries(settings, run_id="refresh")
    assert summary.refresh_calls == {"google_places": 2}
    assert summary.references_refreshed == len(old) and sum(summary.uploaded.values()) == len(old)
    with session_scope(city) as s:
        new = dict(s.execute(select(VenueImageRow.id, VenueImageRow.reference).where(VenueImageRow.id.in_(list(old)))).all())
    assert all(new[i] != old[i] for i in old)  # Google rotates references; the photo key stayed the same
    assert sorted(e for _, e in _api_calls_by_run(city, ["refresh"]) if e != "photo") == ["details", "details"]


def test_the_retry_circuit_opens_below_half_success_and_closes_on_reset(city) -> None:
    from venue_pipeline.pipeline import circuit_state
    from venue_pipeline.store.schema import VenueRow

    now = datetime.now(timezone.utc)
    with session_scope(city) as s:  # 24 recent retry attempts, one in four successful
        venue = s.scalars(select(VenueRow)).first()
        img = VenueImageRow(venue_id=venue.id, provider="here", photo_key="k", reference="r", status="failed",
                            quality_score=0.5, attempts=1, discovered_at=now, updated_at=now)
        s.add(img)
        s.flush()
        for i in range(24):
            s.add(UploadAttemptRow(image_id=img.id, run_id="r", is_retry=True,
                                   started_at=now - timedelta(seconds=i),
                                   outcome="uploaded" if i % 4 == 0 else "failed", duration_ms=1))
    with session_scope(city) as s:
        state = circuit_state(s)
    assert state.retries_open and state.attempts == 20 and "retry circuit open" in state.reason
    with session_scope(city) as s:
        circuits.reset(s, circuits.RETRY_TARGET, note="provider fixed")
    with session_scope(city) as s:
        assert not circuit_state(s).retries_open
