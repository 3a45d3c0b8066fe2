"""`venue-pipeline cost forecast`: per provider calls and dollars, per venue-year and coverage, and its JSON."""

from __future__ import annotations

import json

import pytest

from venue_pipeline.cli import import_file, main
from venue_pipeline.demo import limited_demo_csv


@pytest.fixture
def env(db_url, tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    monkeypatch.delenv("VENUE_PROVIDER_MODE", raising=False)
    import_file(db_url, limited_demo_csv(3, tmp_path / "subset.csv"), "open_pubs", quiet=True)
    return db_url


def test_forecast_prints_providers_venue_year_and_coverage_and_writes_json(env, tmp_path, capsys) -> None:
    out_file = tmp_path / "forecast.json"
    argv = ["cost", "forecast", "--days", "30", "--start", "2027-03-02", "--db-url", env, "--json", str(out_file)]
    assert main(argv) == 0
    out, _err = capsys.readouterr()
    assert "forecast of 30 days from 2027-03-02 05:00 UTC on 9 venues" in out
    for provider in ("here", "geoapify", "foursquare", "google_places"):
        assert provider in out
    assert "per venue-year:" in out and "venues with an image: 0/9" in out
    data = json.loads(out_file.read_text())
    assert data["days"] == 30 and data["venues"] == 9
    # nine never-asked venues: every provider is asked once at least, Google's Text Search is billed
    assert data["calls"]["here"]["discover"] >= 9 and data["dollars"]["google_places"]["text_search"] > 0
    assert data["calls_per_venue_year"] == pytest.approx(data["total_calls"] / 9 * 365 / 30, rel=0.01)


def test_forecast_refuses_a_json_path_in_a_missing_folder(env, tmp_path, capsys) -> None:
    assert main(["cost", "forecast", "--db-url", env, "--json", str(tmp_path / "no" / "f.json")]) == 2
    assert "--json" in capsys.readouterr().err


def test_forecast_warns_when_the_schedule_could_not_look_at_that_many_venues(env, capsys, monkeypatch) -> None:
    monkeypatch.setattr("venue_pipeline.store.reenrichment.VENUES_PER_CITY_PER_TICK", 1)  # 5 cities x 1 venue a day
    assert main(["cost", "forecast", "--days", "3", "--start", "2027-03-02", "--db-url", env]) == 0
    out = capsys.readouterr().out
    assert "warning: on 1 day the forecast looks at more venues than the re-enrichment schedule" in out
    assert "peak 9" in out and "upper bound" in out
