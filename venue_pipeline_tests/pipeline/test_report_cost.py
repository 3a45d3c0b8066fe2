"""The failure report's cost lines: per venue-year so far from the ledger, and the 365-day forecast beside it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from venue_pipeline.cli import main
from venue_pipeline.core.report import summary_numbers, to_markdown
from venue_pipeline.pipeline import run_discovery, run_provider_ids
from venue_pipeline.pipeline.report import build_report
from venue_pipeline.services import Settings
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import ApiCallRow

T = datetime(2027, 3, 1, 5, 0, tzinfo=UTC)


@pytest.fixture
def spent(city_db, tmp_path) -> str:
    """24 venues; Exeter's looked up and listed at T, Norwich's looked up two days later: a ledger of two days."""
    settings = Settings(db_url=city_db, sandbox_faults="none", image_dir=str(tmp_path / "images"))
    run_provider_ids(settings, "exeter", now=T)
    run_discovery(settings, "exeter", now=T)
    run_provider_ids(settings, "norwich", now=T + timedelta(days=2))
    return city_db


def test_the_report_shows_cost_per_venue_year_so_far_and_the_forecast(spent) -> None:
    with session_scope(spent) as session:
        report = build_report(session, {"foursquare": 500})
        calls = session.scalar(select(func.count()).select_from(ApiCallRow))
        dollars = session.scalar(select(func.sum(ApiCallRow.cost)))
        first, last = session.execute(select(func.min(ApiCallRow.called_at), func.max(ApiCallRow.called_at))).one()
    so_far, ahead = report["cost_per_venue_year"]
    span = (last - first).total_seconds() / 86400
    assert 2.0 <= span < 2.1 and so_far["venues"] == ahead["venues"] == 24
    assert so_far["calls"] == calls and so_far["dollars"] == pytest.approx(dollars, abs=1e-4)
    # a ledger younger than a year is the year so far, per venue: never a first enrichment's day times 365
    assert so_far["calls_per_venue_year"] == pytest.approx(calls / 24, abs=0.01)
    assert so_far["dollars_per_venue_year"] == pytest.approx(dollars / 24, abs=1e-4)
    # ahead: Nottingham never asked, Norwich never listed, Exeter's listings backing off: calls and Google dollars
    assert ahead["days"] == 365 and ahead["calls"] > 0 and ahead["dollars_per_venue_year"] > 0
    numbers = summary_numbers(report)
    assert numbers["cost_per_venue_year_so_far_usd"] == so_far["dollars_per_venue_year"]
    assert numbers["cost_per_venue_year_forecast_usd"] == ahead["dollars_per_venue_year"]
    assert "## Cost per venue-year: so far and the forecast" in to_markdown(report)


def test_the_cli_markdown_report_shows_both_numbers(spent, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    assert main(["--db-url", spent, "report", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| cost_per_venue_year_so_far_usd |" in out and "| cost_per_venue_year_forecast_usd |" in out
    assert "last 365 days (api_calls ledger)" in out and "forecast, next 365 days" in out


def test_calls_older_than_a_year_are_not_in_the_cost_so_far(spent) -> None:
    with session_scope(spent) as session:
        calls = session.scalar(select(func.count()).select_from(ApiCallRow))
        old = session.scalars(select(ApiCallRow).limit(5)).all()
        for row in old:  # five calls made more than a year before the report
            row.called_at = datetime.now(UTC) - timedelta(days=400)
    with session_scope(spent) as session:
        so_far, _ = build_report(session, {"foursquare": 500})["cost_per_venue_year"]
    assert so_far["calls"] == calls - 5
