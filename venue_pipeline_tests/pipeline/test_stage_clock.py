"""Every stage on an injected clock (issue 15): the ledger's quota day, the upload and retry decisions and stamps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from venue_pipeline.pipeline import run_discovery, run_provider_ids, run_retries, run_uploads
from venue_pipeline.services import Settings
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import ApiCallRow, VenueImageRow, VenueRow

T = datetime(2031, 5, 1, 5, 0, tzinfo=timezone.utc)  # far from the real clock: a real stamp cannot pass for it
DAY = timedelta(days=1)


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def _exeter(db_url: str) -> list[int]:
    with session_scope(db_url) as s:
        return list(s.scalars(select(VenueRow.id).where(VenueRow.city_slug == "exeter").order_by(VenueRow.id)))


def test_uploads_and_retries_decide_and_stamp_at_the_injected_time(city_db, tmp_path) -> None:
    settings = Settings(db_url=city_db, sandbox_faults="outage", image_dir=str(tmp_path / "images"))
    run_provider_ids(settings, "exeter", now=T)
    run_discovery(settings, "exeter", now=T)
    run_uploads(settings, "exeter", now=T)
    with session_scope(city_db) as s:
        failed = s.execute(select(VenueImageRow.next_retry_at).where(VenueImageRow.status == "failed")).all()
        uploaded = s.scalars(select(VenueImageRow.uploaded_at).where(VenueImageRow.status == "uploaded")).all()
    assert failed, "the outage mix should leave transient failures to retry"
    assert all(T < _utc(at) <= T + timedelta(hours=12) for (at,) in failed)  # backoff from the simulated time
    assert uploaded and {_utc(at) for at in uploaded} == {T}

    assert run_retries(settings, now=T).due == 0  # none is due yet at the simulated time
    later = run_retries(settings, now=T + DAY)
    assert later.due == len(failed)
    with session_scope(city_db) as s:
        days = set(s.scalars(select(ApiCallRow.day).distinct()))
        stamped = s.scalars(select(VenueImageRow.updated_at).where(VenueImageRow.status != "pending")).all()
    assert days == {"2031-05-01", "2031-05-02"} or days == {"2031-05-01"}  # every call on a simulated day
    assert {_utc(at) for at in stamped} <= {T, T + DAY}


def test_a_daily_quota_resets_on_the_simulated_next_day(city_db, tmp_path) -> None:
    settings = Settings(db_url=city_db, sandbox_faults="none", image_dir=str(tmp_path / "images"),
                        quotas={"foursquare": 3})
    ids = _exeter(city_db)
    first = run_provider_ids(settings, None, venue_ids=ids, now=T)
    assert first.calls.get("foursquare") == 3 and sum(first.deferred.values()) > 0
    same_day = run_provider_ids(settings, None, venue_ids=ids, now=T + timedelta(hours=6))
    assert same_day.calls.get("foursquare", 0) == 0  # the simulated day's quota is spent
    next_day = run_provider_ids(settings, None, venue_ids=ids, now=T + DAY)
    assert next_day.calls.get("foursquare") == 3  # the quota reset at the simulated midnight
    with session_scope(city_db) as s:
        per_day = dict(s.execute(
            select(ApiCallRow.day, func.count()).where(ApiCallRow.provider == "foursquare").group_by(ApiCallRow.day)
        ).all())
    assert per_day == {"2031-05-01": 3, "2031-05-02": 3}
