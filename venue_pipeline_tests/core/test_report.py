"""core/report.py: the summary numbers and the markdown, CSV and JSON renderings of a small hand-made report."""

from __future__ import annotations

import csv
import io
import json

from venue_pipeline.core import report as rep

REPORT = {
    "generated_at": "2026-05-01T04:00:00+00:00",
    "total_images": 10,
    "images_by_status": {"uploaded": 6, "pending": 1, "failed": 2, "permanently_failed": 1},
    "venues_with_failures": 2,
    "failed_images": 3,
    "venues_with_transient": 1,
    "venues_with_permanent": 1,
    "venues_with_ambiguous": 0,
    "permanent_failure_rate_pct": 10.0,
    "transient_failures_older_than_24h": 1,
    "failed_runs": 0,
    "retries": {"retry_attempts": 4, "retry_success_rate_pct": None, "retries_per_venue": 2.0},
    "failures_by_provider_and_type": [
        {"provider": "google_places", "error_type": "rate_limited", "status": "failed", "count": 2},
        {"provider": "foursquare", "error_type": "not_found", "status": "permanently_failed", "count": 1},
    ],
    "partial_failure_venues": [{"venue_id": 7, "name": "The Fox | Hounds", "priority": 1}],
    "coverage_by_city": [{"city": "norwich", "venues": 3, "coverage_pct": 66.7}],
    "providers": [
        {"provider": "google_places", "calls": 12, "cost_usd": 0.25},
        {"provider": "here", "calls": 3, "cost_usd": 0.0},
    ],
    "daily_trend": [],
    "retry_configs": [
        {"name": "The Fox", "venue_id": 7, "priority": 1, "run_config": rep.retry_config_yaml(7)},
    ],
}


def test_summary_numbers_flatten_the_headline_figures():
    n = rep.summary_numbers(REPORT)
    assert (n["total_images"], n["uploaded"], n["failed"], n["permanently_failed"]) == (10, 6, 2, 1)
    assert n["retry_success_rate_pct"] == 0.0  # None (no retry finished) reads as 0
    assert (n["api_calls"], n["cost_usd"]) == (15, 0.25)
    assert n["partial_failure_venue_count"] == 1 and n["coverage_pct:norwich"] == 66.7
    assert rep.summary_numbers({})["total_images"] == 0  # an empty report still renders


def test_retry_config_is_the_launchpad_yaml_of_retry_job():
    assert rep.retry_config_yaml(7) == "ops:\n  image_retries:\n    config:\n      venue_ids: [7]\n"


def test_markdown_has_the_summary_every_table_and_the_retry_configs():
    md = rep.to_markdown(REPORT)
    assert md.startswith("# Image failure report (2026-05-01T04:00:00+00:00)")
    for _key, title in rep.TABLES:
        assert f"## {title}" in md
    assert "| metric | value |" in md and "| total_images | 10 |" in md
    assert "| google_places | rate_limited | failed | 2 |" in md
    assert "## Daily upload trend\n\n_none_" in md  # an empty table says so
    assert "**The Fox** (venue 7, priority 1)" in md and "```yaml\nops:\n  image_retries:" in md
    assert rep.md_table([{"a": None, "b": 1}]) == "| a | b |\n|---|---|\n|  | 1 |"


def test_csv_is_long_format_with_summary_then_table_cells():
    rows = list(csv.reader(io.StringIO(rep.to_csv(REPORT))))
    assert rows[0] == ["section", "key", "metric", "value"]
    assert ["summary", "", "total_images", "10"] in rows
    assert ["failures_by_provider_and_type", "google_places/rate_limited/failed", "count", "2"] in rows
    assert ["partial_failure_venues", "7", "name", "The Fox | Hounds"] in rows
    assert ["coverage_by_city", "norwich", "coverage_pct", "66.7"] in rows
    assert ["providers", "here", "calls", "3"] in rows
    assert not [r for r in rows if r[0] == "daily_trend"]


def test_json_carries_the_report_and_its_summary():
    data = json.loads(rep.to_json(REPORT))
    assert data["summary"] == json.loads(json.dumps(rep.summary_numbers(REPORT)))
    assert data["providers"] == REPORT["providers"] and data["generated_at"] == REPORT["generated_at"]


def test_failed_images_csv_has_fixed_columns_and_blanks_for_missing_values():
    text = rep.failed_images_csv([{"image_id": 1, "venue_id": 7, "provider": "foursquare", "error_type": "not_found"}])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows == [
        {
            "image_id": "1", "venue_id": "7", "venue": "", "city": "", "provider": "foursquare", "status": "",
            "error_type": "not_found", "error_class": "", "status_code": "", "attempts": "", "next_retry_at": "",
            "message": "",
        }
    ]
    assert rep.failed_images_csv([]).strip() == ",".join(next(csv.reader(io.StringIO(text))))
