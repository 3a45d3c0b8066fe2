"""core/circuit.py: the retry circuit opens on a poor recent success rate only with enough evidence; the
auth circuits carry their targets; the reason tells an operator how to close each one."""

from __future__ import annotations

from datetime import datetime, timezone

from venue_pipeline.core.circuit import MIN_ATTEMPTS, evaluate


def test_too_few_retries_never_open_the_circuit():
    state = evaluate([False] * (MIN_ATTEMPTS - 1), {})
    assert not state.retries_open and state.success_rate == 0.0 and state.attempts == MIN_ATTEMPTS - 1
    assert state.reason == "all circuits closed"


def test_no_retries_have_no_rate():
    state = evaluate([], {})
    assert state.success_rate is None and not state.retries_open


def test_a_poor_success_rate_over_enough_retries_opens_it_with_the_reset_command():
    state = evaluate([True] * 5 + [False] * 15, {})
    assert state.retries_open and state.success_rate == 0.25 and state.attempts == 20
    assert "25% of the last 20 retry attempts" in state.reason
    assert "venue-pipeline circuit reset retries" in state.reason and "reset_circuit_job" in state.reason


def test_half_succeeding_keeps_it_closed_and_thresholds_are_parameters():
    assert not evaluate([True, False] * 10, {}).retries_open
    assert evaluate([True, False, False], {}, min_attempts=3, min_rate=0.5).retries_open
    assert not evaluate([True, False, False], {}, min_attempts=3, min_rate=0.3).retries_open


def test_auth_circuits_are_listed_per_target_with_their_reset():
    at = datetime(2026, 5, 1, 9, 30, tzinfo=timezone.utc)
    auth = {"google_places": at, "foursquare": at}
    state = evaluate([True] * 30, auth)
    assert not state.retries_open and dict(state.auth_open) == auth
    assert state.auth_open is not auth  # a copy: the caller's dict can change without changing the state
    assert state.reason.startswith("auth circuit open for foursquare since 2026-05-01 09:30 UTC (key refused)")
    assert state.reason.index("auth:foursquare") < state.reason.index("auth circuit open for google_places")
    assert state.reason.endswith("`venue-pipeline circuit reset auth:google_places`")
