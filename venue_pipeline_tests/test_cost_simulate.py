"""cost_simulate.py and `venue-pipeline cost simulate` (issue 15): a short simulated stretch on a few dozen venues."""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from venue_pipeline.cli import import_file, main
from venue_pipeline.demo import limited_demo_csv
from venue_pipeline.store.db import dispose_engines, session_scope
from venue_pipeline.store.schema import ApiCallRow, ProviderIdRow

# The simulation runs on a SQLite copy whatever the suite's database: once per CI run (the SQLite pass) is enough
pytestmark = pytest.mark.skipif(
    os.environ.get("VENUE_DB_URL", "").startswith("postgres"), reason="SQLite-only simulation: run in the SQLite pass"
)

START = datetime(2031, 1, 1, tzinfo=timezone.utc)
DAYS = 64
LISTINGS = {("foursquare", "photos"), ("google_places", "details")}  # a photo listing at a photo provider


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> dict:
    """One 64-day simulation of 8 demo venues per city through the command line, its end state kept."""
    tmp = tmp_path_factory.mktemp("cost_sim")
    mp = pytest.MonkeyPatch()
    mp.setenv("DAGSTER_HOME", str(tmp / "dh"))
    mp.setenv("VENUE_PIPELINE_HOME", str(tmp))
    mp.delenv("VENUE_PROVIDER_PLAN", raising=False)
    url = f"sqlite:///{tmp / 'venues.db'}"
    import_file(url, limited_demo_csv(8, tmp / "subset.csv"), "open_pubs", quiet=True)
    out = tmp / "year.json"
    argv = ["--db-url", url, "cost", "simulate", "--days", str(DAYS), "--start", START.strftime("%Y-%m-%d"),
            "--json", str(out), "--keep-state", str(tmp / "end"), "--quiet"]
    import io
    from contextlib import redirect_stdout

    printed = io.StringIO()
    with redirect_stdout(printed):
        code = main(argv)
    yield {"code": code, "stdout": printed.getvalue(), "json": json.loads(out.read_text()), "source": url,
           "state": f"sqlite:///{(tmp / 'end' / 'venues.db').resolve()}"}
    mp.undo()
    dispose_engines()


def _ledger(url: str) -> list[tuple[str, str, str]]:
    with session_scope(url) as s:
        return [tuple(r) for r in s.execute(select(ApiCallRow.day, ApiCallRow.provider, ApiCallRow.endpoint))]


def test_the_command_prints_calls_dollars_coverage_and_writes_the_json(simulated) -> None:
    assert simulated["code"] == 0
    out, data = simulated["stdout"], simulated["json"]
    assert f"simulated {DAYS} days from 2031-01-01 on 24 venues" in out
    assert "| google_places | details" in out and "calls per venue:" in out and "venues with an image: 0/24" in out
    assert data["venues"] == 24 and data["days"] == DAYS
    assert data["total_calls"] == sum(data["calls"].values()) == sum(e["calls"] for e in data["endpoints"])
    assert data["calls"]["google_places"] > 0 and data["dollars"]["google_places"] > 0
    assert data["before"]["with_image"] == 0 and data["after"]["coverage"] > 0.8
    assert data["after"]["gallery_mean"] > 3
    with session_scope(simulated["source"]) as s:  # the state it copied was never written
        assert s.scalar(select(func.count()).select_from(ApiCallRow)) == 0
        assert s.scalar(select(func.count()).select_from(ProviderIdRow)) == 0


def test_the_ledger_rolls_over_the_simulated_days(simulated) -> None:
    days = Counter(day for day, _, _ in _ledger(simulated["state"]))
    first, end = START.strftime("%Y-%m-%d"), (START + timedelta(days=DAYS)).strftime("%Y-%m-%d")
    assert all(first <= d < end for d in days), days  # every call on a simulated day, none on the real one
    assert len(days) >= 3 and days[first] == max(days.values())  # the first enrichment, then the re-enrichments
    assert sum(simulated["json"]["calls"].values()) == sum(days.values())


def test_back_off_stops_repeat_listings(simulated) -> None:
    """Every gallery is stale at day 30 and again at day 60: without the back-off both rounds would list every
    matched pair; with it the second round lists only thin galleries and full ones' due pairs, a listing that
    brought nothing new at day 30 waits 60 days."""
    with session_scope(simulated["state"]) as s:
        pairs = s.scalar(select(func.count()).select_from(ProviderIdRow).where(
            ProviderIdRow.status == "matched", ProviderIdRow.provider.in_(["foursquare", "google_places"])))
        held = s.scalar(select(func.count()).select_from(ProviderIdRow).where(ProviderIdRow.listing_streak >= 1))
    listings = Counter(day for day, p, e in _ledger(simulated["state"]) if (p, e) in LISTINGS)

    def between(a: int, b: int) -> int:
        days = {(START + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(a, b)}
        return sum(n for d, n in listings.items() if d in days)

    assert between(0, 1) >= pairs * 0.9  # the first enrichment lists (nearly) every matched pair once
    assert between(28, 34) >= pairs * 0.7  # 30 days on: the listings that brought photos are due again
    assert held > pairs / 2 and between(58, DAYS) < between(28, 34) / 3  # 60 days on: most are backed off
    assert sum(listings.values()) < 2.5 * pairs  # against 3 rounds and weekly thin galleries without it


def test_a_postgresql_state_is_copied_into_sqlite_and_left_untouched(pg_url, tmp_path, monkeypatch) -> None:
    from venue_pipeline.cost_simulate import simulate

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    import_file(pg_url, limited_demo_csv(2, tmp_path / "subset.csv"), "open_pubs", quiet=True)
    result = simulate(pg_url, 2, START, faults="none", plan="paid", state_dir=tmp_path / "copy")
    assert result.venues == 6 and result.total_calls > 0 and result.after.with_image > 0
    assert result.state_url.startswith("sqlite:///")
    with session_scope(pg_url) as s:
        assert s.scalar(select(func.count()).select_from(ApiCallRow)) == 0
        assert s.scalar(select(func.count()).select_from(ProviderIdRow)) == 0


def test_an_in_memory_state_is_refused_with_one_line(capsys) -> None:
    code = main(["--db-url", "sqlite:///:memory:", "cost", "simulate", "--days", "2"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot be copied" in err
