"""core/backoff.py: photo listings and rejected searches back off by explicit clocks, never the real time."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from venue_pipeline.core.backoff import (
    THIN_GALLERY,
    ListingState,
    listing_due,
    listing_interval,
    next_listing_at,
    search_cooldown,
    search_due,
    streak_after,
)
from venue_pipeline.core.ids import KnownId, providers_to_ask, resolve_ids
from venue_pipeline.core.statuses import IdStatus
from venue_pipeline.core.venue import Venue
from venue_pipeline_tests.core.test_ids import _Fake

T = datetime(2026, 1, 1, tzinfo=timezone.utc)
DAY = timedelta(days=1)
GALLERY = THIN_GALLERY + 5  # uploaded images of a gallery that is neither thin nor full


def _state(streak: int = 0, *, uploaded: int = GALLERY, full: bool = False, listed_at=T, matched_at=T - DAY):
    return ListingState(listed_at=listed_at, streak=streak, matched_at=matched_at, uploaded=uploaded, full=full)


def test_empty_listings_double_the_wait_30_60_120_240_and_a_new_photo_resets_it() -> None:
    streak, waits = 0, []
    for _ in range(6):
        waits.append(listing_interval(_state(streak)).days)
        streak = streak_after(streak, new_photos=0)
    assert waits == [30, 60, 120, 240, 240, 240]
    assert streak_after(3, new_photos=2) == 0
    assert listing_interval(_state(streak_after(3, new_photos=1))).days == 30


def test_a_listing_is_due_exactly_when_its_interval_is_over() -> None:
    state = _state(streak=1)  # one empty listing: 60 days
    assert next_listing_at(state) == T + 60 * DAY
    assert not listing_due(state, T + 31 * DAY)
    assert not listing_due(state, T + 60 * DAY - timedelta(seconds=1))
    assert listing_due(state, T + 60 * DAY)


def test_never_listed_or_an_id_decided_after_the_last_listing_is_due_at_once() -> None:
    assert listing_due(_state(listed_at=None), T)
    assert next_listing_at(_state(listed_at=None)) is None
    assert listing_due(_state(streak=3, matched_at=T + DAY), T + 2 * DAY)  # a new ID at that provider


def test_a_thin_gallery_comes_back_from_the_7_day_rule_and_never_waits_past_56_days() -> None:
    waits = [listing_interval(_state(s, uploaded=THIN_GALLERY - 1)).days for s in range(5)]
    assert waits == [7, 14, 28, 56, 56]
    assert listing_interval(_state(0, uploaded=0)).days == 7
    assert listing_due(_state(0, uploaded=0), T + 7 * DAY)
    assert not listing_due(_state(0, uploaded=THIN_GALLERY), T + 7 * DAY)  # 3 uploaded is not thin


def test_a_full_gallery_is_skipped_until_the_longest_interval() -> None:
    full = _state(0, full=True)  # even right after a listing that brought something new
    assert listing_interval(full).days == 240
    assert not listing_due(full, T + 239 * DAY)
    assert listing_due(full, T + 240 * DAY)


def test_rejected_searches_cool_down_30_60_120_240_days() -> None:
    assert [search_cooldown(n).days for n in range(1, 7)] == [30, 60, 120, 240, 240, 240]


def test_a_rejected_search_is_asked_again_after_its_cooldown_or_at_once_when_the_venue_changed() -> None:
    searched, due = T, T + 60 * DAY
    assert not search_due(due, searched, None, T + 31 * DAY)
    assert search_due(due, searched, None, T + 60 * DAY)
    assert search_due(due, searched, T + DAY, T + 2 * DAY)  # re-imported with a new name/address/point
    assert not search_due(due, searched, searched, T + DAY)  # changed in the search's own run (geocoded)
    assert not search_due(due, searched, T - DAY, T + DAY)  # changed before the search


def test_providers_to_ask_follows_the_cooldown_and_the_venue_change() -> None:
    known = {
        "here": KnownId(IdStatus.NO_MATCH, T + 60 * DAY, searches=2, searched_at=T),
        "google_places": KnownId(IdStatus.MATCHED, None, searched_at=T),
        "foursquare": KnownId(IdStatus.AMBIGUOUS, T + 30 * DAY, searches=1, searched_at=T),
    }
    providers = ["here", "google_places", "foursquare"]
    assert providers_to_ask(known, providers, force=False, now=T + 31 * DAY) == (["foursquare"], 1)
    assert providers_to_ask(known, providers, force=False, now=T + 31 * DAY, venue_changed_at=T + DAY) == (
        ["here", "foursquare"],
        0,
    )


def _venue(updated_at: datetime | None) -> Venue:
    return Venue(id=1, name="The Crown 1", slug="crown-1", city_slug="norwich", city_name="Norwich",
                 lat=52.63, lng=1.29, updated_at=updated_at)


def _search(known: dict[str, KnownId], venue: Venue, now: datetime):
    client = _Fake("here")  # answers nothing: every search is a no-match
    result = asyncio.run(resolve_ids([venue], {1: known}, {"here": client}, now=now))
    return client.searched, result.records


def test_each_unsuccessful_search_doubles_the_next_cooldown_from_the_stored_streak() -> None:
    searched, records = _search({}, _venue(T - DAY), T)
    assert searched == {1} and records[0].searches == 1 and records[0].next_search_at == T + 30 * DAY
    known = {"here": KnownId(IdStatus.NO_MATCH, T + 30 * DAY, searches=1, searched_at=T)}
    assert _search(known, _venue(T - DAY), T + 29 * DAY)[0] == set()  # cooling down
    now = T + 30 * DAY
    (record,) = _search(known, _venue(T - DAY), now)[1]
    assert record.status == IdStatus.NO_MATCH and record.searches == 2 and record.next_search_at == now + 60 * DAY


def test_a_changed_venue_is_searched_at_once_and_its_streak_restarts() -> None:
    known = {"here": KnownId(IdStatus.NO_MATCH, T + 240 * DAY, searches=4, searched_at=T)}
    now = T + 3 * DAY
    searched, (record,) = _search(known, _venue(T + 2 * DAY), now)
    assert searched == {1}
    assert record.searches == 1 and record.next_search_at == now + 30 * DAY
