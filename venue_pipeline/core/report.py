"""The failure report's renderings (numbers, markdown, CSV, retry configs) so the UI and every export carry the
same figures; pipeline/report.py assembles the report from the store's SQL aggregates."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any


TOP_RETRY_CONFIGS = 5


def retry_config_yaml(venue_id: int) -> str:
    """The exact Launchpad run config of retry_job for one venue."""
    return f"ops:\n  image_retries:\n    config:\n      venue_ids: [{venue_id}]\n"


def summary_numbers(report: Mapping[str, Any]) -> dict[str, float | int]:
    """The report's headline numbers, one flat dict: the asset's numeric metadata and every export use it."""
    statuses = report.get("images_by_status", {})
    retries = report.get("retries", {})
    providers = report.get("providers", [])
    numbers: dict[str, float | int] = {
        "total_images": report.get("total_images", 0),
        "uploaded": statuses.get("uploaded", 0),
        "pending": statuses.get("pending", 0),
        "failed": statuses.get("failed", 0),
        "permanently_failed": statuses.get("permanently_failed", 0),
        "venues_with_failures": report.get("venues_with_failures", 0),
        "failed_images": report.get("failed_images", 0),
        "venues_with_transient": report.get("venues_with_transient", 0),
        "venues_with_permanent": report.get("venues_with_permanent", 0),
        "venues_with_ambiguous": report.get("venues_with_ambiguous", 0),
        "partial_failure_venue_count": len(report.get("partial_failure_venues", [])),
        "permanent_failure_rate_pct": report.get("permanent_failure_rate_pct", 0.0),
        "transient_failures_older_than_24h": report.get("transient_failures_older_than_24h", 0),
        "retry_attempts": retries.get("retry_attempts", 0),
        "retry_success_rate_pct": retries.get("retry_success_rate_pct") or 0.0,
        "retries_per_venue": retries.get("retries_per_venue", 0.0),
        "failed_runs": report.get("failed_runs", 0),
        "api_calls": sum(p["calls"] for p in providers),
        "cost_usd": round(sum(p["cost_usd"] for p in providers), 4),
    }
    for row in report.get("cost_per_venue_year", []):  # the ledger so far, then the forecast
        which = "forecast" if row["period"].startswith("forecast") else "so_far"
        numbers[f"cost_per_venue_year_{which}_usd"] = row["dollars_per_venue_year"]
        numbers[f"calls_per_venue_year_{which}"] = row["calls_per_venue_year"]
    for city in report.get("coverage_by_city", []):
        numbers[f"coverage_pct:{city['city']}"] = city["coverage_pct"]
    return numbers


TABLES = (
    ("failures_by_provider_and_type", "Failures by provider and error type"),
    ("partial_failure_venues", "Venues with partial failures, by priority"),
    ("coverage_by_city", "Coverage by city"),
    ("providers", "Provider health, calls and cost"),
    ("cost_per_venue_year", "Cost per venue-year: so far and the forecast"),
    ("daily_trend", "Daily upload trend"),
)


def md_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, empty: str = "_none_") -> str:
    """A markdown table of dict rows (columns default to the first row's keys)."""
    if not rows:
        return empty
    columns = list(columns or rows[0].keys())
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join("" if row.get(c) is None else str(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def retry_configs_markdown(report: Mapping[str, Any]) -> str:
    items = report.get("retry_configs", [])
    if not items:
        return "_no venue with partial failures_"
    parts = ["Paste into the Launchpad of **retry_job** to retry one venue:"]
    for item in items:
        parts.append(f"**{item['name']}** (venue {item['venue_id']}, priority {item['priority']})")
        parts.append("```yaml\n" + item["run_config"] + "```")
    return "\n\n".join(parts)


def to_markdown(report: Mapping[str, Any]) -> str:
    """The whole report as one markdown document (the CLI's --format markdown)."""
    numbers = summary_numbers(report)
    out = [f"# Image failure report ({report.get('generated_at', '')})", "", "## Summary", ""]
    out.append(md_table([{"metric": k, "value": v} for k, v in numbers.items()]))
    for key, title in TABLES:
        out += ["", f"## {title}", "", md_table(report.get(key, []))]
    out += ["", "## Retry one venue", "", retry_configs_markdown(report), ""]
    return "\n".join(out)


def to_json(report: Mapping[str, Any]) -> str:
    """The report plus its summary numbers, as JSON."""
    return json.dumps({"summary": summary_numbers(report), **report}, indent=2, default=str)


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet reads a cell starting with one of these as a formula (CSV injection)."""


def safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a string starting with a formula prefix gets a leading single quote
    (OWASP's advice); numbers, None and other strings are kept as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _safe_writer(buf: io.StringIO) -> Any:
    """A csv.writer whose rows go through safe_cell: every CSV the project writes uses it."""
    writer = csv.writer(buf)

    class _Writer:
        def writerow(self, row: Sequence[Any]) -> None:
            writer.writerow([safe_cell(v) for v in row])

    return _Writer()


def to_csv(report: Mapping[str, Any]) -> str:
    """Long-format CSV (section, key, metric, value): the summary numbers, then every table cell (formula
    prefixes neutralised by safe_cell)."""
    buf = io.StringIO()
    writer = _safe_writer(buf)
    writer.writerow(["section", "key", "metric", "value"])
    for name, value in summary_numbers(report).items():
        writer.writerow(["summary", "", name, value])
    for section, _title in TABLES:
        for i, row in enumerate(report.get(section, [])):
            key = (
                row.get("provider") or row.get("city") or row.get("venue_id") or row.get("day") or row.get("period") or i
            )
            if section == "failures_by_provider_and_type":
                key = f"{row['provider']}/{row['error_type']}/{row['status']}"
            for column, value in row.items():
                writer.writerow([section, key, column, value])
    return buf.getvalue()


def failed_images_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The failed-images export, one row per image (formula prefixes neutralised by safe_cell)."""
    buf = io.StringIO()
    columns = ["image_id", "venue_id", "venue", "city", "provider", "status", "error_type", "error_class",
               "status_code", "attempts", "next_retry_at", "message"]
    writer = _safe_writer(buf)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return buf.getvalue()
