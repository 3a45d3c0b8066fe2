"""The cost forecast projects the back-off rules day by day: listings, re-searches, quotas, expected streaks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from venue_pipeline.core.forecast import (
    ForecastState,
    PairRecord,
    ProviderPlan,
    RetryBacklog,
    VenueRecord,
    Yields,
    forecast,
)

START = datetime(2027, 3, 2, 5, 0, tzinfo=UTC)
DAY = timedelta(days=1)
FSQ = ProviderPlan("foursquare", "search", "geocode", listing_endpoint="photos", prices={"search": 0.01, "photos": 0.02})
GOOGLE = ProviderPlan(
    "google_places", "text_search", "text_search", listing_endpoint="details", photo_endpoint="photo",
    prices={"text_search": 0.032, "details": 0.017, "photo": 0.007},
)
HERE = ProviderPlan("here", "discover", "geocode")
NOTHING_NEW = Yields(repeat_listing_hit={"foursquare": 0.0, "google_places": 0.0}, upload_failure=0.0)


def _venue(vid: int = 1, uploaded: int = 5, **kw) -> VenueRecord:
    return VenueRecord(vid, checked_at=START - DAY, uploaded=uploaded, live=uploaded, **kw)


def _matched(vid: int = 1, provider: str = "foursquare", streak: int = 0, live: int = 5) -> PairRecord:
    return PairRecord(vid, provider, "matched", START - DAY, listed_at=START - DAY, listing_streak=streak, live=live)


def _state(venues, pairs, providers=(FSQ,), yields=NOTHING_NEW, **kw) -> ForecastState:
    return ForecastState(venues=venues, pairs=pairs, providers=providers, yields=yields, **kw)


def test_a_listing_that_brings_nothing_backs_off_30_60_120_240_days() -> None:
    # listed the day before: due 30 days after (day 29), then 60 (89), 120 (209), then 240 (449, past the year)
    out = forecast(_state([_venue()], [_matched()]), START, 365)
    assert out.calls == {"foursquare": {"photos": pytest.approx(3.0)}}
    assert out.dollars["foursquare"]["photos"] == pytest.approx(0.06)
    assert forecast(_state([_venue()], [_matched()]), START, 89).total_calls() == pytest.approx(1.0)
    assert forecast(_state([_venue()], [_matched()]), START, 90).total_calls() == pytest.approx(2.0)


def test_a_full_share_waits_240_days_and_a_thin_gallery_is_looked_at_sooner() -> None:
    full = forecast(_state([_venue(uploaded=10)], [_matched(live=10)]), START, 365)
    assert full.total_calls() == pytest.approx(1.0)  # day 239 only
    # one uploaded image: the venue is stale every 30 days and the thin steps (7, 14, 28, 56) are over at most looks
    thin = forecast(_state([_venue(uploaded=1)], [_matched(live=1)]), START, 365)
    assert thin.total_calls() > forecast(_state([_venue()], [_matched()]), START, 365).total_calls()
    # no image at all: the venue is stale every 7 days, the listing follows 7, 14, 28, then 56 days
    bare = forecast(_state([_venue(uploaded=0)], [_matched(live=0)]), START, 365)
    assert bare.total_calls() > thin.total_calls()


def test_expected_streaks_lie_between_always_and_never_new() -> None:
    def listings(hit: float) -> float:
        y = Yields(repeat_listing_hit={"foursquare": hit}, repeat_listing_photos={"foursquare": 0.0})
        return forecast(_state([_venue()], [_matched()], yields=y), START, 365).total_calls()

    never, half, always = listings(0.0), listings(0.5), listings(1.0)
    assert never == pytest.approx(3.0) and always == pytest.approx(12.0)  # always new: every 30 days
    assert never < half < always


def test_rejected_searches_cool_down_and_a_changed_venue_is_searched_at_once() -> None:
    rejected = PairRecord(1, "here", "no_match", START - DAY, next_search_at=START + 29 * DAY, searches=1)
    y = Yields(research_match={"here": 0.0})
    out = forecast(_state([_venue()], [rejected], providers=(HERE,), yields=y), START, 365)
    # day 29, then 60 days later (89), 120 (209): each a near and a wide search, never a listing (HERE lists none)
    assert out.calls == {"here": {"discover": pytest.approx(6.0)}}
    changed = _venue(updated_at=START - 0.5 * DAY)
    soon = forecast(_state([changed], [rejected], providers=(HERE,), yields=y), START, 30)
    assert soon.total_calls() == pytest.approx(2.0)  # not at once: the venue is not stale before day 29
    owed = forecast(
        _state([_venue(updated_at=START - 0.5 * DAY)], [rejected, PairRecord(1, "foursquare", "deferred", START - DAY)],
               providers=(HERE, FSQ), yields=y),
        START, 1,
    )
    assert owed.calls["here"]["discover"] == pytest.approx(2.0)  # owed work brings it in at once, changed: searched


def test_a_never_asked_venue_is_searched_then_listed_with_the_observed_match_rate() -> None:
    venue = VenueRecord(1)  # never checked, no provider row
    y = Yields(first_search_match={"google_places": 0.8}, first_listing_hit={"google_places": 1.0},
               first_listing_photos={"google_places": 4.0}, upload_failure=0.0)
    out = forecast(_state([venue], [], providers=(GOOGLE,), yields=y), START, 1)
    assert out.calls["google_places"]["text_search"] == pytest.approx(0.8 + 0.2 * 2)
    assert out.calls["google_places"]["details"] == pytest.approx(0.8)
    assert out.calls["google_places"]["photo"] == pytest.approx(3.2)
    assert out.gallery_end == pytest.approx(3.2)
    assert out.with_images_end == pytest.approx(0.8)  # a match (0.8) brings photos, no match none


def test_daily_quotas_cap_calls_and_defer_the_rest() -> None:
    capped = ProviderPlan("foursquare", "search", "geocode", daily_quota=100)
    venues = [VenueRecord(v) for v in range(1, 301)]
    y = Yields(first_search_match={"foursquare": 1.0})
    out = forecast(_state(venues, [], providers=(capped,), yields=y), START, 2)
    assert out.total_calls() == pytest.approx(200.0) and out.deferred["foursquare"] == pytest.approx(100.0)
    assert forecast(_state(venues, [], providers=(capped,), yields=y), START, 5).total_calls() == pytest.approx(300.0)


def test_failed_images_are_retried_with_billed_downloads_and_reference_refreshes() -> None:
    y = Yields(retry_failure=0.5)
    backlog = [RetryBacklog("google_places", images=10, attempts_left=2, venues=4)]
    out = forecast(_state([], [], providers=(GOOGLE,), yields=y, retries=backlog,
                          refresh_endpoint={"google_places": "details"}), START, 10)
    assert out.calls["google_places"]["photo"] == pytest.approx(10 * 1.5)
    assert out.calls["google_places"]["details"] == pytest.approx(4 * 1.5)


def test_per_venue_year_scales_to_365_days() -> None:
    out = forecast(_state([_venue(1), _venue(2)], [_matched(1), _matched(2)]), START, 90)
    assert out.total_calls() == pytest.approx(4.0)
    assert out.per_venue_year(out.total_calls()) == pytest.approx(4.0 / 2 * 365 / 90)
    assert out.as_dict()["calls_per_venue_year"] == pytest.approx(round(4.0 / 2 * 365 / 90, 2))


def test_venues_in_the_same_days_are_projected_once_with_the_same_result() -> None:
    def shifted(vid: int, hours: float) -> tuple[VenueRecord, PairRecord]:
        at = START - DAY + timedelta(hours=hours)
        return (
            VenueRecord(vid, checked_at=at, uploaded=5, live=5),
            PairRecord(vid, "foursquare", "matched", at - timedelta(minutes=1), listed_at=at, live=5),
        )

    y = Yields(repeat_listing_hit={"foursquare": 0.3}, repeat_listing_photos={"foursquare": 1.0})
    records = [shifted(1, 0), shifted(2, 0.5), shifted(3, 30)]  # 1 and 2 the same day, 3 the day after
    together = forecast(_state([v for v, _ in records], [p for _, p in records], yields=y), START, 365)
    alone = [forecast(_state([v], [p], yields=y), START, 365) for v, p in records]
    assert together.total_calls() == pytest.approx(sum(f.total_calls() for f in alone))
    assert together.gallery_end == pytest.approx(sum(f.gallery_end for f in alone) / 3)
    assert alone[0].total_calls() == pytest.approx(alone[1].total_calls())


def test_a_listing_rate_outside_0_1_is_held_to_a_probability() -> None:
    # found on the report benchmark's synthetic store: more later discovery stamps than listing calls gave a
    # "rate" of 2,400 and a forecast of 476 million calls
    def listings(hit: float) -> float:
        y = Yields(repeat_listing_hit={"foursquare": hit}, repeat_listing_photos={"foursquare": 0.0})
        return forecast(_state([_venue()], [_matched()], yields=y), START, 365).total_calls()

    assert listings(2400.0) == pytest.approx(listings(1.0)) == pytest.approx(12.0)
    assert listings(-1.0) == pytest.approx(listings(0.0))


def test_the_venues_looked_at_each_day_are_counted() -> None:
    venues = [_venue(v) for v in range(1, 4)]
    out = forecast(_state(venues, [_matched(v) for v in range(1, 4)]), START, 60)
    assert out.looks[29] == pytest.approx(3.0) and out.looks[59] == pytest.approx(3.0) and sum(out.looks) == 6.0
    assert out.days_over(2) == 2 and out.days_over(3) == 0
