"""store/calls.py: the api_calls ledger counts today's calls per provider, today being the UTC day."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from venue_pipeline.core.ports import ApiCall
from venue_pipeline.store.calls import DbCallLedger, utc_day
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import ApiCallRow


def _call(provider: str, when: datetime, error: str | None = None) -> ApiCall:
    return ApiCall(provider, "search", 200 if error is None else 503, error, 0.01, 12, when)


def test_utc_day_is_the_day_in_utc_whatever_the_offset() -> None:
    new_york = timezone(timedelta(hours=-5))
    tokyo = timezone(timedelta(hours=9))
    assert utc_day(datetime(2026, 1, 1, 23, 30, tzinfo=new_york)) == "2026-01-02"
    assert utc_day(datetime(2026, 1, 2, 8, 0, tzinfo=tokyo)) == "2026-01-01"
    assert utc_day(datetime(2026, 1, 1, 0, 0, tzinfo=timezone.utc)) == "2026-01-01"


def test_calls_today_counts_stored_calls_per_provider_on_the_utc_day(any_db_url: str) -> None:
    now = datetime.now(timezone.utc)
    yesterday = now - timedelta(days=1)
    # the same instant as `yesterday`, written with an offset that puts it on today's local date
    yesterday_ahead = yesterday.astimezone(timezone(timedelta(hours=14)))
    earlier = DbCallLedger(any_db_url, run_id="run-1")
    for call in [_call("here", now), _call("here", now, "service_unavailable"), _call("foursquare", now),
                 _call("here", yesterday), _call("here", yesterday_ahead)]:
        earlier.record(call)

    ledger = DbCallLedger(any_db_url, run_id="run-2")  # another ledger (another process) sees them at once
    assert ledger.calls_today("here") == 2
    assert ledger.calls_today("foursquare") == 1
    assert ledger.calls_today("geoapify") == 0
    ledger.record(_call("here", now))
    assert ledger.calls_today("here") == 3
    assert earlier.calls_today("here") == 3
    assert ledger.flush() == 0  # nothing is buffered
    assert ledger.calls_today("here") == 3  # written once, counted once
    with session_scope(any_db_url) as s:
        rows = s.execute(select(ApiCallRow.provider, ApiCallRow.day, ApiCallRow.run_id)).all()
        assert None not in s.scalars(select(ApiCallRow.finished_at)).all()  # recorded calls have ended
    assert sorted(rows) == sorted(
        [("here", utc_day(now), "run-1")] * 2
        + [("foursquare", utc_day(now), "run-1")]
        + [("here", utc_day(yesterday), "run-1")] * 2
        + [("here", utc_day(now), "run-2")]
    )
    assert len(earlier.recorded) == 5 and len(ledger.recorded) == 1


def test_every_call_is_written_as_it_is_recorded(any_db_url: str) -> None:
    now = datetime.now(timezone.utc)
    ledger = DbCallLedger(any_db_url)
    for n in range(1, 5):
        ledger.record(_call("geoapify", now))
        with session_scope(any_db_url) as s:
            assert len(s.scalars(select(ApiCallRow.id)).all()) == n
    assert len(ledger.recorded) == 4


def test_an_injected_clock_stamps_calls_and_counts_the_quota_on_the_simulated_day(any_db_url: str) -> None:
    """Issue 15: a simulated year's quota must reset on the simulated next day, not on the real one."""
    from venue_pipeline.core.errors import QuotaExhausted

    day1 = datetime(2031, 5, 1, 5, 0, tzinfo=timezone.utc)
    clock = {"now": day1}
    ledger = DbCallLedger(any_db_url, run_id="sim", clock=lambda: clock["now"])
    for _ in range(2):
        slot = ledger.take_slot("foursquare", "search", rate_per_second=1000.0, daily_quota=2)
        ledger.finish(slot.call_id, _call("foursquare", datetime.now(timezone.utc)))
    ledger.record(_call("imagekit", datetime.now(timezone.utc)))
    try:
        ledger.take_slot("foursquare", "search", rate_per_second=1000.0, daily_quota=2)
        raise AssertionError("the simulated day's quota should be used up")
    except QuotaExhausted:
        pass
    assert ledger.calls_today("foursquare") == 2
    assert DbCallLedger(any_db_url).calls_today("foursquare") == 0  # the real day saw none of them

    clock["now"] = day1 + timedelta(days=1)  # the simulated next day: the quota has reset
    assert ledger.calls_today("foursquare") == 0
    slot = ledger.take_slot("foursquare", "search", rate_per_second=1000.0, daily_quota=2)
    ledger.finish(slot.call_id, _call("foursquare", datetime.now(timezone.utc)))
    with session_scope(any_db_url) as session:
        rows = session.execute(select(ApiCallRow.provider, ApiCallRow.day, ApiCallRow.called_at)).all()
    assert sorted((p, d) for p, d, _ in rows) == [
        ("foursquare", "2031-05-01"), ("foursquare", "2031-05-01"), ("foursquare", "2031-05-02"),
        ("imagekit", "2031-05-01"),
    ]
    assert {c.replace(tzinfo=timezone.utc) if c.tzinfo is None else c for _, _, c in rows} == {
        day1, day1 + timedelta(days=1)
    }
