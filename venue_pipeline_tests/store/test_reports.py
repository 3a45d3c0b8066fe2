"""store/reports.py: every report aggregate on one small hand-made state, with the numbers worked out by hand.

The state (cities bath: A, B, C and york: D; all photos from foursquare unless said):
  A  2 uploaded, 1 failed (transient service_unavailable, found 2 days ago), 1 retired (permanent not_found)
  B  1 uploaded
  C  1 failed (ambiguous server_error, found now), 1 pending
  D  1 retired (permanent forbidden, from here)
  IDs: A here+foursquare matched; B here matched, geoapify deferred; C here no_match, foursquare matched;
       D here+foursquare matched
  retries: 3 on A (2 uploaded, 1 failed), 1 on D (failed); first uploads: 2 on B (not retries)
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from venue_pipeline.core.statuses import IdRecord, IdStatus, ImageStatus
from venue_pipeline.store import provider_ids, reports
from venue_pipeline.store.calls import utc_day
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import ApiCallRow, UploadAttemptRow
from venue_pipeline.store.venues import list_venues, upsert_venues
from venue_pipeline_tests.store.factories import NOW, add_image, venue_input

DAY1 = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)
DAY2 = datetime(2026, 3, 2, 23, 30, tzinfo=timezone.utc)


def _attempt(image_id: int, at: datetime, ok: bool, retry: bool) -> UploadAttemptRow:
    outcome = ImageStatus.UPLOADED if ok else ImageStatus.FAILED
    return UploadAttemptRow(image_id=image_id, run_id="r", is_retry=retry, started_at=at, outcome=outcome, duration_ms=1)


def _call(provider: str, at: datetime, cost: float, error: str | None = None) -> ApiCallRow:
    return ApiCallRow(provider=provider, endpoint="search", status_code=None, error_type=error, cost=cost,
                      duration_ms=1, called_at=at, day=utc_day(at))


@pytest.fixture
def state(any_db_url: str) -> dict:
    with session_scope(any_db_url) as s:
        upsert_venues(s, [venue_input("a", "Anchor", city="Bath"), venue_input("b", "Bell", city="Bath"),
                          venue_input("c", "Crown", city="Bath"), venue_input("d", "Dolphin", city="York")])
        a, b, c, d = (v.id for v in list_venues(s))
        ids = {"A": a, "B": b, "C": c, "D": d, "url": any_db_url}
        a1 = add_image(s, a, "a1", ImageStatus.UPLOADED).id
        add_image(s, a, "a2", ImageStatus.UPLOADED)
        ids["a_failed"] = add_image(s, a, "a3", ImageStatus.FAILED, error_type="service_unavailable",
                                    error_class="transient", discovered_at=NOW - timedelta(days=2),
                                    next_retry_at=datetime(2026, 3, 3, 4, 0, tzinfo=timezone.utc)).id
        add_image(s, a, "a4", ImageStatus.PERMANENTLY_FAILED, error_type="not_found", error_class="permanent")
        b1 = add_image(s, b, "b1", ImageStatus.UPLOADED).id
        add_image(s, c, "c1", ImageStatus.FAILED, error_type="server_error", error_class="ambiguous")
        add_image(s, c, "c2", ImageStatus.PENDING)
        d1 = add_image(s, d, "d1", ImageStatus.PERMANENTLY_FAILED, provider="here", error_type="forbidden",
                       error_class="permanent").id
        provider_ids.save(s, [
            IdRecord(a, "here", IdStatus.MATCHED, "search", "here:a", 0.9),
            IdRecord(a, "foursquare", IdStatus.MATCHED, "search", "fsq-a", 0.9),
            IdRecord(b, "here", IdStatus.MATCHED, "search", "here:b", 0.9),
            IdRecord(b, "geoapify", IdStatus.DEFERRED, "search"),
            IdRecord(c, "here", IdStatus.NO_MATCH, "search", None, 0.2),
            IdRecord(c, "foursquare", IdStatus.MATCHED, "search", "fsq-c", 0.9),
            IdRecord(d, "here", IdStatus.MATCHED, "search", "here:d", 0.9),
            IdRecord(d, "foursquare", IdStatus.MATCHED, "search", "fsq-d", 0.9),
        ])
        s.add_all([
            _attempt(a1, DAY1, ok=True, retry=True),
            _attempt(a1, DAY1 + timedelta(hours=1), ok=True, retry=True),
            _attempt(ids["a_failed"], DAY2, ok=False, retry=True),
            _attempt(d1, DAY2, ok=False, retry=True),
            _attempt(b1, DAY1, ok=True, retry=False),
            _attempt(b1, DAY2, ok=False, retry=False),
        ])
        now = datetime.now(timezone.utc)
        s.add_all(
            [_call("here", now, 0.005), _call("here", now, 0.005, "rate_limited"), _call("here", now, 0.005),
             _call("here", now - timedelta(days=2), 0.005)]
            + [_call("geoapify", now, 0.0) for _ in range(4)]
            + [_call("google_places", now, 0.032) for _ in range(2)]
            + [_call("foursquare", now - timedelta(days=3), 0.0)]
        )
    return ids


def test_status_counts_and_failure_classes(state: dict) -> None:
    with session_scope(state["url"]) as s:
        assert reports.status_counts(s) == {"uploaded": 3, "failed": 2, "permanently_failed": 2, "pending": 1}
        assert reports.failure_classes(s) == {
            "venues_with_failures": 3,  # A, C, D
            "failed_images": 4,
            "venues_with_transient": 1,  # A
            "venues_with_permanent": 2,  # A, D
            "venues_with_ambiguous": 1,  # C
        }


def test_failures_by_provider_and_type(state: dict) -> None:
    with session_scope(state["url"]) as s:
        rows = reports.failures_by_provider_and_type(s)
    assert sorted((r["provider"], r["error_type"], r["status"], r["count"]) for r in rows) == [
        ("foursquare", "not_found", "permanently_failed", 1),
        ("foursquare", "server_error", "failed", 1),
        ("foursquare", "service_unavailable", "failed", 1),
        ("here", "forbidden", "permanently_failed", 1),
    ]


def test_partial_failure_venues_rank_by_the_priority_score(state: dict) -> None:
    with session_scope(state["url"]) as s:
        rows = reports.partial_failure_venues(s)
    # only A has both: 2 failed, 2 uploaded -> rate 50 %, transient -> 2 x 10 + 50 + 20 = 90
    assert rows == [{
        "venue_id": state["A"], "name": "Anchor", "city": "bath", "failed": 2, "uploaded": 2,
        "failure_rate_pct": 50.0, "has_transient": True, "priority": 90.0,
    }]


def test_coverage_by_city(state: dict) -> None:
    with session_scope(state["url"]) as s:
        assert reports.coverage_by_city(s) == [
            {"city": "bath", "venues": 3, "with_images": 2, "coverage_pct": 66.7, "with_2plus_ids": 1},
            {"city": "york", "venues": 1, "with_images": 0, "coverage_pct": 0.0, "with_2plus_ids": 1},
        ]


def test_retry_stats(state: dict) -> None:
    with session_scope(state["url"]) as s:
        assert reports.retry_stats(s) == {
            "retry_attempts": 4,
            "retry_successes": 2,
            "retry_success_rate_pct": 50.0,
            "retries_per_venue": 2.0,  # 4 retries over A and D
        }


def test_retry_stats_without_retries(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        assert reports.retry_stats(s) == {
            "retry_attempts": 0, "retry_successes": 0, "retry_success_rate_pct": None, "retries_per_venue": 0.0,
        }


def test_cost_and_health_against_daily_quotas(state: dict) -> None:
    quotas = {"here": 4, "geoapify": 5, "google_places": 2, "foursquare": None}
    with session_scope(state["url"]) as s:
        rows = {r["provider"]: r for r in reports.cost_and_health(s, quotas)}
    assert rows["here"] == {"provider": "here", "calls": 4, "errors": 1, "cost_usd": 0.02, "calls_today": 3,
                            "daily_quota": 4, "quota_used_pct": 75.0, "health": "OK"}
    assert (rows["geoapify"]["quota_used_pct"], rows["geoapify"]["health"]) == (80.0, "WARN")
    assert (rows["google_places"]["quota_used_pct"], rows["google_places"]["health"]) == (100.0, "ERROR")
    assert rows["google_places"]["cost_usd"] == 0.064
    assert rows["foursquare"] == {"provider": "foursquare", "calls": 1, "errors": 0, "cost_usd": 0.0,
                                  "calls_today": 0, "daily_quota": None, "quota_used_pct": None, "health": "OK"}


def test_daily_trend_groups_attempts_by_utc_day(state: dict) -> None:
    with session_scope(state["url"]) as s:
        assert reports.daily_trend(s) == [
            {"day": "2026-03-01", "attempts": 3, "uploaded": 3, "failed": 0},
            {"day": "2026-03-02", "attempts": 3, "uploaded": 0, "failed": 3},
        ]
        assert reports.daily_trend(s, days=1) == [{"day": "2026-03-02", "attempts": 3, "uploaded": 0, "failed": 3}]


def test_stale_transient_failures(state: dict) -> None:
    with session_scope(state["url"]) as s:
        assert reports.stale_transient_failures(s) == 1  # A's, found 2 days ago; C's is ambiguous
        assert reports.stale_transient_failures(s, older_than_hours=72) == 0


def test_failed_images_for_the_csv_export(state: dict) -> None:
    with session_scope(state["url"]) as s:
        rows = reports.failed_images(s)
        assert len(reports.failed_images(s, limit=2)) == 2
    assert [(r["venue"], r["status"], r["error_type"]) for r in rows] == [
        ("Anchor", "failed", "service_unavailable"),
        ("Anchor", "permanently_failed", "not_found"),
        ("Crown", "failed", "server_error"),
        ("Dolphin", "permanently_failed", "forbidden"),
    ]
    first = rows[0]
    assert first["image_id"] == state["a_failed"] and first["city"] == "bath"
    assert first["next_retry_at"] == "2026-03-03T04:00:00+00:00"
    assert rows[1]["next_retry_at"] == ""


def test_run_failures_are_recorded_once(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        assert reports.run_failures(s) == 0
        assert reports.record_run_failure(s, "run-1", "enrich_city_job", "bath", "boom") is True
        assert reports.record_run_failure(s, "run-1", "enrich_city_job", "bath", "boom") is False
        assert reports.record_run_failure(s, "run-2", "retry_job", None, "x" * 3000) is True
        assert reports.run_failures(s) == 2


def test_snapshots_latest_wins(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        assert reports.latest_snapshot(s) is None
        first = reports.save_snapshot(s, {"failed_images": 4}, "run-1")
        second = reports.save_snapshot(s, {"failed_images": 2}, None)
        assert second > first
        assert reports.latest_snapshot(s) == {"failed_images": 2}


def test_city_summary(state: dict) -> None:
    with session_scope(state["url"]) as s:
        bath = reports.city_summary(s, "bath")
        york = reports.city_summary(s, "york")
        nowhere = reports.city_summary(s, "leeds")
    assert (bath.venues, bath.matched_ids, bath.venues_with_image) == (3, {"here": 2, "foursquare": 2}, 2)
    assert bath.images == {"uploaded": 3, "failed": 2, "permanently_failed": 1, "pending": 1}
    assert (bath.discovered, bath.uploaded, bath.failed) == (7, 3, 3)
    assert (york.venues, york.matched_ids, york.venues_with_image) == (1, {"here": 1, "foursquare": 1}, 0)
    assert (york.discovered, york.uploaded, york.failed) == (1, 0, 1)
    assert (nowhere.venues, nowhere.matched_ids, nowhere.discovered) == (0, {}, 0)


def test_demo_totals_queries(state: dict) -> None:
    with session_scope(state["url"]) as s:
        assert sorted(reports.failed_images_by_error_type(s)) == [
            ("forbidden", 1), ("not_found", 1), ("server_error", 1), ("service_unavailable", 1),
        ]
        calls = {p: (n, round(c, 4)) for p, n, c in reports.calls_by_provider(s)}
        assert calls == {"here": (4, 0.02), "geoapify": (4, 0.0), "google_places": (2, 0.064), "foursquare": (1, 0.0)}
        assert reports.deferred_ids_by_provider(s) == [("geoapify", 1)]


def test_demo_summary_rows(state: dict) -> None:
    from venue_pipeline.demo import summary_rows
    from venue_pipeline.services import PROVIDERS

    rows, extra = summary_rows(state["url"], ["bath", "york"])
    matched = {"bath": {"here": 2, "foursquare": 2}, "york": {"here": 1, "foursquare": 1}}
    ids = {city: [matched[city].get(p, 0) for p in PROVIDERS] for city in matched}
    assert rows == [
        ["bath", 3, *ids["bath"], 7, 3, 3, 2],
        ["york", 1, *ids["york"], 1, 0, 1, 0],
        ["TOTAL", 4, *[a + b for a, b in zip(ids["bath"], ids["york"])], 8, 3, 4, 2],
    ]
    assert extra["deferred"] == [("geoapify", 1)]
