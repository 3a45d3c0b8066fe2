"""A daily quota shared between stages and cities (issue 17, items 1 and 2): a run takes its share of what is left
in proportion to its due work, the ID stage leaves discovery its part, and every listing the quota skipped is
counted as deferred (one per venue) and left unchecked, so it is asked again when the quota resets."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from venue_pipeline.cli import import_file
from venue_pipeline.core.statuses import IdStatus
from venue_pipeline.defs.metadata import discovery_metadata, ids_metadata
from venue_pipeline.demo import limited_demo_csv
from venue_pipeline.pipeline import run_discovery, run_provider_ids
from venue_pipeline.services import Settings
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import ApiCallRow, ProviderIdRow, VenueRow

CITIES = ("exeter", "norwich", "nottingham")


@pytest.fixture
def three_cities(db_url, tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    import_file(db_url, limited_demo_csv(10, tmp_path / "subset.csv"), "open_pubs", quiet=True)
    return db_url


def _settings(db_url: str, tmp_path, quota: int | None) -> Settings:
    return Settings(
        db_url=db_url, sandbox_faults="none", image_dir=str(tmp_path / "images"), providers=("foursquare",),
        quotas={"foursquare": quota},
    )


def _listed(db_url: str, city: str) -> int:
    """Venues of the city whose Foursquare photos were listed (checked after their ID was matched)."""
    with session_scope(db_url) as s:
        return int(s.scalar(
            select(func.count()).select_from(VenueRow).join(ProviderIdRow, ProviderIdRow.venue_id == VenueRow.id)
            .where(VenueRow.city_slug == city, ProviderIdRow.provider == "foursquare",
                   ProviderIdRow.status == IdStatus.MATCHED, VenueRow.images_checked_at >= ProviderIdRow.matched_at)
        ) or 0)


def test_every_city_gets_listings_from_a_quota_too_small_for_all(three_cities, tmp_path) -> None:
    """30 venues, 48 Foursquare calls: first come, the first city's ID stage took them; shared, every city lists."""
    settings = _settings(three_cities, tmp_path, 48)
    first = run_provider_ids(settings, CITIES[0])
    assert 0 < sum(first.calls.values()) <= first.quota_share["foursquare"] < 48 // 2
    with session_scope(three_cities) as s:  # the metadata's deferred count is the venues deferred
        deferred = s.scalar(select(func.count()).select_from(ProviderIdRow).where(ProviderIdRow.status == IdStatus.DEFERRED))
    assert first.deferred == {"foursquare": deferred} and deferred >= 1
    assert ids_metadata(first, {})["deferred_by_quota"] == deferred
    for city in CITIES:
        if city != CITIES[0]:
            run_provider_ids(settings, city)
        run_discovery(settings, city)
    listed = {city: _listed(three_cities, city) for city in CITIES}
    assert min(listed.values()) >= 3, listed  # equal cities, equal shares: 3-6 listings each
    assert max(listed.values()) - min(listed.values()) <= 3, listed
    with session_scope(three_cities) as s:
        assert s.scalar(select(func.count(ApiCallRow.id))) <= 48


def test_listings_past_the_quota_are_deferred_per_venue_and_left_unchecked(three_cities, tmp_path) -> None:
    """Item 1: the run metadata's deferred count is the number of venues whose listing was deferred, not 1."""
    run_provider_ids(_settings(three_cities, tmp_path, None), CITIES[0])
    with session_scope(three_cities) as s:
        used = s.scalar(select(func.count(ApiCallRow.id)))
        matched = s.scalar(select(func.count()).select_from(ProviderIdRow).where(ProviderIdRow.status == IdStatus.MATCHED))
        ids = list(s.scalars(select(VenueRow.id).where(VenueRow.city_slug == CITIES[0])))
    assert matched >= 6
    # the city's venues without a city: no share to take (the other cities wait), the daily quota alone decides
    summary = run_discovery(_settings(three_cities, tmp_path, used + 2), None, venue_ids=ids)
    assert summary.calls == {"foursquare": 2}
    assert summary.deferred == {"foursquare": matched - 2}
    assert discovery_metadata(summary)["deferred_by_quota"] == matched - 2
    with session_scope(three_cities) as s:
        unchecked = s.scalar(
            select(func.count()).select_from(VenueRow)
            .where(VenueRow.city_slug == CITIES[0], VenueRow.images_checked_at.is_(None))
        )
    assert unchecked == matched - 2  # asked again by the next run, not in 30 days


def test_shares_are_read_at_the_stages_clock(three_cities, tmp_path) -> None:
    """Issue 15: a stage run at a simulated `now` counts the cities served on that day, not on the real one (with the
    real clock every city decided at a later simulated date looked served today, and the first city took the rest)."""
    from datetime import datetime, timedelta, timezone

    settings = _settings(three_cities, tmp_path, 1000)
    day_one = datetime(2027, 5, 1, 6, tzinfo=timezone.utc)
    for city in CITIES:
        run_provider_ids(settings, city, now=day_one)
        run_discovery(settings, city, now=day_one)
    with session_scope(three_cities) as s:
        spent = int(s.scalar(select(func.count(ApiCallRow.id))) or 0)
    later = run_provider_ids(settings, CITIES[0], now=day_one + timedelta(days=31))
    assert 0 < later.quota_share["foursquare"] < (1000 - spent) // 2  # a share, not everything that is left
