"""store/simulation.py: the ledger between two days (a simulation's own runs only), new venues, a copy of any state."""

from __future__ import annotations

from datetime import datetime, timezone

from venue_pipeline.core.importer import VenueInput
from venue_pipeline.core.ports import ApiCall
from venue_pipeline.store.calls import DbCallLedger
from venue_pipeline.store.db import session_scope, upgrade
from venue_pipeline.store.simulation import EndpointCalls, calls_between, copy_tables, new_venues_by_city
from venue_pipeline.store.venues import upsert_venues


def _call(provider: str, endpoint: str, day: int, cost: float = 0.0) -> ApiCall:
    return ApiCall(provider, endpoint, 200, None, cost, 5, datetime(2031, 1, day, 12, tzinfo=timezone.utc))


def test_calls_between_counts_the_days_and_the_simulated_runs_only(any_db_url: str) -> None:
    for run_id, calls in {
        "sim:2031-01-01:reenrich:york": [_call("google_places", "details", 1, 0.017), _call("google_places", "details", 2, 0.017)],
        "sim:2031-01-03:retry": [_call("google_places", "photo", 3, 0.007)],  # past the end day
        "real-run": [_call("google_places", "details", 1, 0.017)],  # the copied state's own call of that day
        "sim%:odd": [_call("here", "discover", 1)],  # LIKE's wildcard in an id is matched as text
    }.items():
        ledger = DbCallLedger(any_db_url, run_id=run_id)
        for call in calls:
            ledger.record(call)
    with session_scope(any_db_url) as s:
        assert calls_between(s, "2031-01-01", "2031-01-03", "sim:") == [
            EndpointCalls("google_places", "details", 2, 0.034)
        ]
        assert sum(e.calls for e in calls_between(s, "2031-01-01", "2031-01-04")) == 5


def test_new_venues_are_those_without_provider_rows_and_any_state_copies_into_sqlite(any_db_url, tmp_path) -> None:
    with session_scope(any_db_url) as s:
        upsert_venues(s, [VenueInput("csv", str(i), f"Pub {i}", "1 High St", None, "York", "york", "GB", 53.96, -1.08,
                                     False) for i in range(3)])
    with session_scope(any_db_url) as s:
        fresh = new_venues_by_city(s)
    assert list(fresh) == ["york"] and len(fresh["york"]) == 3
    DbCallLedger(any_db_url, run_id="r").record(_call("here", "discover", 1))
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    upgrade(copy)
    copied = copy_tables(any_db_url, copy)
    assert copied["venues"] == 3 and copied["api_calls"] == 1 and copied["provider_ids"] == 0
    with session_scope(copy) as s:
        assert new_venues_by_city(s) == fresh
