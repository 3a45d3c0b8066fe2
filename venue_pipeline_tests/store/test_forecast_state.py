"""The forecast's input read from the database: records that match the tables, in a handful of grouped queries."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, func, select

from venue_pipeline.cli import import_file
from venue_pipeline.demo import limited_demo_csv
from venue_pipeline.pipeline import run_discovery, run_provider_ids, run_uploads
from venue_pipeline.pipeline.forecast import REFRESH_ENDPOINTS, provider_plans
from venue_pipeline.services import Settings
from venue_pipeline.store.db import get_engine, session_scope
from venue_pipeline.store.forecast_state import (
    PRIOR_REPEAT_HIT,
    ledger_so_far,
    read_state,
)
from venue_pipeline.store.schema import ApiCallRow, ProviderIdRow, VenueImageRow

T = datetime(2027, 3, 1, 5, 0, tzinfo=UTC)


def _enriched(db_url: str, tmp_path) -> Settings:
    import_file(db_url, limited_demo_csv(4, tmp_path / "subset.csv"), "open_pubs", quiet=True)
    settings = Settings(db_url=db_url, sandbox_faults="none", image_dir=str(tmp_path / "images"))
    run_provider_ids(settings, "exeter", now=T)
    run_discovery(settings, "exeter", now=T)
    run_uploads(settings, "exeter", now=T)
    return settings


def test_read_state_matches_the_tables_in_a_few_queries(db_url, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    settings = _enriched(db_url, tmp_path)
    plans = provider_plans(settings.provider_settings())
    statements: list[str] = []
    engine = get_engine(db_url)
    listen = lambda *args: statements.append(args[2])
    event.listen(engine, "before_cursor_execute", listen)
    try:
        with session_scope(db_url) as session:
            state = read_state(session, plans, REFRESH_ENDPOINTS)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert len(statements) <= 10  # grouped queries, not one per venue
    assert len(state.venues) == 12
    with session_scope(db_url) as session:
        rows = Counter(session.scalars(select(ProviderIdRow.provider)))
        uploaded = session.scalar(select(func.count()).where(VenueImageRow.status == "uploaded"))
        listing_calls = session.scalar(
            select(func.count()).where(ApiCallRow.provider == "foursquare", ApiCallRow.endpoint == "photos")
        )
    assert Counter(p.provider for p in state.pairs) == rows
    assert sum(v.uploaded for v in state.venues) == uploaded > 0
    exeter = {v.venue_id for v in state.venues if v.checked_at == T}
    assert len(exeter) == 4 and all(v.checked_at is None for v in state.venues if v.venue_id not in exeter)
    assert all(p.listed_at == T for p in state.pairs if p.listing_streak or p.listed_at)
    y = state.yields
    assert 0 < y.first_listing_hit["google_places"] <= 1 and y.first_listing_photos["google_places"] >= 1
    assert 0 < y.first_search_match["here"] < 1
    # no listing has been repeated yet: the repeat yield is its prior, unmoved by the first listings' photos
    assert listing_calls and y.repeat_listing_hit["foursquare"] == PRIOR_REPEAT_HIT
    assert {p.name: p.listing_endpoint for p in plans} == {
        "here": None, "geoapify": None, "foursquare": "photos", "google_places": "details"
    }
    assert [p.name for p in plans if p.photo_endpoint] == ["google_places"]


def test_ledger_so_far_spans_the_first_to_the_last_call(db_url, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    settings = _enriched(db_url, tmp_path)
    run_provider_ids(settings, "norwich", now=T + timedelta(days=3))
    with session_scope(db_url) as session:
        ledger = ledger_so_far(session)
        total = session.scalar(select(func.count()).select_from(ApiCallRow))
        dollars = session.scalar(select(func.sum(ApiCallRow.cost)))
    assert sum(ledger.calls.values()) == total
    assert abs(sum(ledger.dollars.values()) - dollars) < 1e-9
    assert ledger.days() >= 3.0


def test_a_sampled_state_reads_the_pairs_of_the_venues_the_forecast_projects(db_url, tmp_path, monkeypatch) -> None:
    from venue_pipeline.core.forecast import forecast, sample_venues

    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    settings = _enriched(db_url, tmp_path)
    plans = provider_plans(settings.provider_settings())
    with session_scope(db_url) as session:
        full = read_state(session, plans, REFRESH_ENDPOINTS)
        sampled = read_state(session, plans, REFRESH_ENDPOINTS, max_projections=6)
    chosen, scale = sample_venues(sampled.venues, 6)
    assert len(sampled.venues) == 12 and scale == 2.0  # every venue counted, the pairs of six read
    assert {p.venue_id for p in sampled.pairs} <= {v.venue_id for v in chosen}
    assert {p for p in full.pairs if p.venue_id in {v.venue_id for v in chosen}} == set(sampled.pairs)
    ahead = forecast(sampled, T + timedelta(days=1), 60, max_projections=6)
    assert ahead.sampled and ahead.venues == 12 and ahead.total_calls() > 0
    assert not forecast(full, T + timedelta(days=1), 60).sampled
