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
