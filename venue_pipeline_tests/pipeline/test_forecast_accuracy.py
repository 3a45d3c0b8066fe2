"""The forecast against the simulated year (issue 15): the next 365 days' calls and dollars within 10 %.

Lean on purpose (CI budget): 60 demo venues (20 a city), default faults, one simulated day of first enrichment,
then the forecast of the next 365 days from that state and the simulated 365 days on a copy of it. The state is
a SQLite file whatever the suite's database (the simulation works on a SQLite copy anyway), so the PostgreSQL pass
skips it: it would repeat the same work.
The full demo (528 venues, two years) is benchmarks/cost_forecast.py, docs/benchmarks.md.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from venue_pipeline.cli import import_file
from venue_pipeline.cost_simulate import simulate
from venue_pipeline.demo import limited_demo_csv
from venue_pipeline.pipeline.forecast import forecast_from_db
from venue_pipeline.services import Settings
from venue_pipeline.store.db import session_scope, upgrade

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("VENUE_DB_URL", "").startswith("postgres"),
        reason="the same SQLite work as the SQLite pass, which runs it",
    ),
]
DAY0 = datetime(2027, 1, 1, tzinfo=UTC)
DAYS = 365


def test_the_365_day_forecast_is_within_10_percent_of_the_simulated_year(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(fresh)
    import_file(fresh, limited_demo_csv(20, tmp_path / "subset.csv"), "open_pubs", quiet=True)
    simulate(fresh, 1, DAY0, state_dir=tmp_path / "enriched")  # the new-venues sensor's first enrichment
    state = f"sqlite:///{tmp_path / 'enriched' / 'venues.db'}"
    start = DAY0 + timedelta(days=1)
    with session_scope(state) as session:
        ahead = forecast_from_db(session, Settings(db_url=state).provider_settings(), DAYS, start + timedelta(hours=5))
    year = simulate(state, DAYS, start)
    assert year.total_calls > 0 and year.total_dollars > 0
    assert ahead.total_calls() == pytest.approx(year.total_calls, rel=0.10)
    assert ahead.total_dollars() == pytest.approx(year.total_dollars, rel=0.10)
