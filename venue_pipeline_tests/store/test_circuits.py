"""store/circuits.py: retry outcomes and auth failures since the last operator reset, and the resets themselves."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from venue_pipeline.core.statuses import ImageStatus
from venue_pipeline.store import circuits
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import ApiCallRow, CircuitResetRow, UploadAttemptRow
from venue_pipeline.store.venues import list_venues, upsert_venues
from venue_pipeline_tests.store.factories import add_image, venue_input


def _attempt(image_id: int, at: datetime, ok: bool, retry: bool = True) -> UploadAttemptRow:
    outcome = ImageStatus.UPLOADED if ok else ImageStatus.FAILED
    return UploadAttemptRow(image_id=image_id, run_id="r", is_retry=retry, started_at=at, outcome=outcome, duration_ms=1)


def _api_call(provider: str, at: datetime, error: str | None) -> ApiCallRow:
    return ApiCallRow(provider=provider, endpoint="search", status_code=401 if error else 200, error_type=error,
                      cost=0.0, duration_ms=1, called_at=at, day=at.strftime("%Y-%m-%d"))


def test_reset_records_when_and_why_and_last_reset_reads_the_newest(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        assert circuits.last_reset(s, circuits.RETRY_TARGET) == circuits.EPOCH
        first = circuits.reset(s, circuits.RETRY_TARGET, "CDN fixed")
        second = circuits.reset(s, circuits.RETRY_TARGET)
        circuits.reset(s, "auth:here", "new key")
    with session_scope(any_db_url) as s:
        rows = s.execute(select(CircuitResetRow.target, CircuitResetRow.note).order_by(CircuitResetRow.id)).all()
        assert [tuple(r) for r in rows] == [("retries", "CDN fixed"), ("retries", None), ("auth:here", "new key")]
        assert first <= second
        assert circuits.last_reset(s, circuits.RETRY_TARGET) == second
        assert circuits.last_reset(s, "auth:geoapify") == circuits.EPOCH


def test_recent_retry_outcomes_are_retries_since_the_last_reset_newest_first(any_db_url: str) -> None:
    now = datetime.now(timezone.utc)
    with session_scope(any_db_url) as s:
        upsert_venues(s, [venue_input("1")])
        image = add_image(s, list_venues(s)[0].id, "p", ImageStatus.FAILED).id
        s.add_all([
            _attempt(image, now - timedelta(minutes=3), ok=True),
            _attempt(image, now - timedelta(minutes=2), ok=False),
            _attempt(image, now - timedelta(minutes=1), ok=False),
            _attempt(image, now - timedelta(seconds=30), ok=True, retry=False),  # a first upload: not a retry
        ])
        s.flush()
        assert circuits.recent_retry_outcomes(s, window=10) == [False, False, True]
        assert circuits.recent_retry_outcomes(s, window=2) == [False, False]
        circuits.reset(s, circuits.RETRY_TARGET)
        assert circuits.recent_retry_outcomes(s, window=10) == []
        s.add(_attempt(image, datetime.now(timezone.utc) + timedelta(seconds=1), ok=True))
        s.flush()
        assert circuits.recent_retry_outcomes(s, window=10) == [True]


def test_auth_failed_targets_are_those_whose_latest_call_failed_auth_since_their_reset(any_db_url: str) -> None:
    now = datetime.now(timezone.utc)
    with session_scope(any_db_url) as s:
        s.add_all([
            _api_call("here", now - timedelta(minutes=2), None),
            _api_call("here", now - timedelta(minutes=1), "auth_error"),  # latest: failed auth
            _api_call("geoapify", now - timedelta(minutes=2), "missing_api_key"),
            _api_call("geoapify", now - timedelta(minutes=1), None),  # latest: fine again
            _api_call("imagekit", now - timedelta(minutes=1), "missing_api_key"),
            _api_call("foursquare", now - timedelta(minutes=1), "rate_limited"),  # not an auth failure
        ])
        s.flush()
        assert circuits.auth_failed_targets(s) == {"here": now - timedelta(minutes=1), "imagekit": now - timedelta(minutes=1)}
        circuits.reset(s, "auth:here", "rotated the key")
        assert set(circuits.auth_failed_targets(s)) == {"imagekit"}
