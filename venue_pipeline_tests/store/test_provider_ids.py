"""store/provider_ids.py: one row per (venue, provider); matched IDs are kept; what the ID check and the
new-venue sensor ask."""

from __future__ import annotations

from datetime import timedelta

from venue_pipeline.core.statuses import IdRecord, IdStatus
from venue_pipeline.store import provider_ids
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import ProviderIdRow
from venue_pipeline.store.venues import list_venues, upsert_venues
from venue_pipeline_tests.store.factories import NOW, venue_input


def _venues(s, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    upsert_venues(s, [venue_input(str(i)) for i in range(n)])
    return [v.id for v in list_venues(s)]


def test_a_matched_id_is_never_replaced_by_a_rejection(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        (vid,) = _venues(s, 1)
        provider_ids.save(s, [IdRecord(vid, "here", IdStatus.MATCHED, "search", "here:pds:place:abc", 0.93)])
        written = provider_ids.save(s, [IdRecord(vid, "here", IdStatus.NO_MATCH, "search", None, 0.2)])
        assert written == 0
        assert provider_ids.matched_ids(s, [vid]) == {vid: {"here": "here:pds:place:abc"}}


def test_rejections_are_stored_with_their_scores_and_cooldown(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        (vid,) = _venues(s, 1)
        later = NOW + timedelta(days=1)
        provider_ids.save(s, [
            IdRecord(vid, "here", IdStatus.AMBIGUOUS, "search", "ignored", 0.6, {"scores": [0.6, 0.59]}),
            IdRecord(vid, "geoapify", IdStatus.DEFERRED, "search", next_search_at=later),
        ])
        rows = provider_ids.ids_for(s, [vid])[vid]
        assert rows["here"].status == IdStatus.AMBIGUOUS and rows["here"].place_id is None
        assert rows["here"].details == {"scores": [0.6, 0.59]}
        assert rows["geoapify"].next_search_at == later
        assert provider_ids.matched_ids(s, [vid]) == {vid: {}}
        # a later match replaces a rejection
        provider_ids.save(s, [IdRecord(vid, "here", IdStatus.MATCHED, "search", "here:pds:place:x", 0.9)])
        assert provider_ids.matched_ids(s, [vid]) == {vid: {"here": "here:pds:place:x"}}


def test_venues_with_ids_counts_any_status(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        a, b, c = _venues(s, 3)
        provider_ids.save(s, [
            IdRecord(a, "here", IdStatus.MATCHED, "search", "here:1", 0.9),
            IdRecord(b, "here", IdStatus.NO_MATCH, "search", None, 0.1),
            IdRecord(b, "foursquare", IdStatus.DEFERRED, "search"),
        ])
        assert provider_ids.venues_with_ids(s, [a, b, c]) == {a, b}
        assert provider_ids.venues_with_ids(s, [c]) == set()
        assert provider_ids.venues_with_ids(s, []) == set()


def test_invalid_matched_ids_are_empty_or_address_like(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        a, b, c = _venues(s, 3)
        provider_ids.save(s, [
            IdRecord(a, "here", IdStatus.MATCHED, "search", "here:pds:place:ok", 0.9),
            IdRecord(a, "geoapify", IdStatus.NO_MATCH, "search", None, 0.1),  # rejections have no ID: fine
        ])
        s.add_all([  # what the original system stored: addresses and blanks as IDs
            ProviderIdRow(venue_id=b, provider="foursquare", status=IdStatus.MATCHED, method="geocode",
                          place_id="1 High Street, Exeter", matched_at=NOW),
            ProviderIdRow(venue_id=c, provider="foursquare", status=IdStatus.MATCHED, method="geocode",
                          place_id="", matched_at=NOW),
            ProviderIdRow(venue_id=c, provider="google_places", status=IdStatus.MATCHED, method="geocode",
                          place_id=None, matched_at=NOW),
        ])
        s.flush()
        assert sorted(provider_ids.invalid_matched_ids(s), key=str) == sorted([
            (b, "foursquare", "1 High Street, Exeter"), (c, "foursquare", ""), (c, "google_places", None),
        ], key=str)
        assert len(provider_ids.invalid_matched_ids(s, limit=2)) == 2
        assert provider_ids.matched_count(s) == 4


def test_migration_0007_adds_the_back_off_columns_to_existing_rows_and_its_downgrade_drops_them(tmp_path) -> None:
    from alembic import command
    from sqlalchemy import inspect, text

    from venue_pipeline.store.db import _alembic_config, dispose_engines, get_engine, upgrade

    url = f"sqlite:///{tmp_path / 'v.db'}"
    upgrade(url, "0006")
    with session_scope(url) as s:
        (vid,) = _venues(s, 1)
        s.execute(text(
            "INSERT INTO provider_ids (venue_id, provider, place_id, status, method, matched_at) "
            f"VALUES ({vid}, 'here', 'p1', 'matched', 'search', '2026-01-01 00:00:00')"
        ))
    upgrade(url)
    with session_scope(url) as s:
        row = provider_ids.ids_for(s, [vid])[vid]["here"]
        assert (row.listed_at, row.listing_streak, row.searches) == (None, 0, 0)  # never listed: due at once
    command.downgrade(_alembic_config(get_engine(url)), "0006")
    columns = {c["name"] for c in inspect(get_engine(url)).get_columns("provider_ids")}
    assert not columns & {"listed_at", "listing_streak", "searches"} and "next_search_at" in columns
    dispose_engines()


def test_a_listing_stores_its_time_and_the_streak_of_listings_without_a_new_photo(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        (vid,) = _venues(s, 1)
        provider_ids.save(s, [IdRecord(vid, "foursquare", IdStatus.MATCHED, "search", "fsq1", 0.9)], NOW)
        streaks = []
        for day, new in enumerate((4, 0, 0, 0, 0, 1)):
            provider_ids.record_listing(s, vid, "foursquare", new, NOW + timedelta(days=day))
            streaks.append(provider_ids.ids_for(s, [vid])[vid]["foursquare"].listing_streak)
        row = provider_ids.ids_for(s, [vid])[vid]["foursquare"]
        assert streaks == [0, 1, 2, 3, 3, 0] and row.listed_at == NOW + timedelta(days=5)
        provider_ids.record_listing(s, vid, "google_places", 3, NOW)  # no row: nothing written, no error
        assert set(provider_ids.ids_for(s, [vid])[vid]) == {"foursquare"}


def test_the_search_streak_is_stored_kept_by_a_deferral_and_cleared_by_a_match(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        (vid,) = _venues(s, 1)
        provider_ids.save(s, [IdRecord(vid, "here", IdStatus.NO_MATCH, "search", None, 0.2, searches=3)], NOW)
        assert provider_ids.ids_for(s, [vid])[vid]["here"].searches == 3
        provider_ids.save(s, [IdRecord(vid, "here", IdStatus.DEFERRED, "search")], NOW)
        assert provider_ids.ids_for(s, [vid])[vid]["here"].searches == 3
        provider_ids.save(s, [IdRecord(vid, "here", IdStatus.MATCHED, "search", "h1", 0.9)], NOW)
        assert provider_ids.ids_for(s, [vid])[vid]["here"].searches == 0
