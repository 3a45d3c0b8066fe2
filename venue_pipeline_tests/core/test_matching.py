"""The matcher attaches a provider place to a venue only when it is clearly the same place."""

from __future__ import annotations

import math

import pytest

from venue_pipeline.core.matching import (
    COEFFICIENTS,
    FEATURE_NAMES,
    THRESHOLD,
    MatchRecord,
    choose,
    haversine_m,
    score_pair,
)
from venue_pipeline.core.normalize import (
    core_name,
    fold,
    normalize_name,
    normalize_postcode,
    split_address,
)
from venue_pipeline.core.venue import Venue
from venue_pipeline.providers.base import Place

LAT, LNG = 51.5074, -0.1278


def offset(north_m: float, east_m: float = 0.0) -> tuple[float, float]:
    """A point the given metres north/east of (LAT, LNG)."""
    return LAT + north_m / 111_195.0, LNG + east_m / (111_195.0 * math.cos(math.radians(LAT)))


def rec(name: str, north_m: float = 0.0, east_m: float = 0.0, **kw: object) -> MatchRecord:
    return MatchRecord(name, *offset(north_m, east_m), **kw)  # type: ignore[arg-type]


# --- normalisation -------------------------------------------------------------------------------


def test_fold_removes_accents_case_and_punctuation() -> None:
    assert fold("Café Déjà-Vu!") == "cafe deja vu"
    assert fold("McKee's") == "mckees"
    assert fold("Fish & Chips") == "fish and chips"


def test_names_compare_without_leading_article_and_generic_suffix() -> None:
    assert normalize_name("The Anchor") == "anchor"
    assert core_name("Anchor Inn") == "anchor"
    assert core_name("The Anchor") == core_name("Anchor Inn")
    assert normalize_name("St. Anne's School") == normalize_name("Saint Annes School")


def test_generic_suffix_is_kept_when_it_is_the_whole_name() -> None:
    assert core_name("The Bar") == "bar"
    assert core_name("The Pub Ltd") == "pub"


def test_postcodes_ignore_spacing_case_zip4_and_float_artefacts() -> None:
    assert normalize_postcode("sw1a 1aa") == "SW1A1AA"
    assert normalize_postcode("15237.0") == "15237"
    assert normalize_postcode("15213-1234") == "15213"
    assert normalize_postcode(None) == ""


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("704 Washington Rd", ("704", "washington rd")),
        ("Washington Road, 427", ("427", "washington rd")),
        ("12-14 High Street, London", ("12", "high st")),
        ("Broadway", ("", "broadway")),
        (None, ("", "")),
    ],
)
def test_split_address_reads_both_number_orders(address: str | None, expected: tuple[str, str]) -> None:
    assert split_address(address) == expected


# --- scoring -------------------------------------------------------------------------------------


def test_coefficients_cover_every_feature() -> None:
    assert len(COEFFICIENTS) == len(FEATURE_NAMES)
    assert 0.0 < THRESHOLD < 1.0


def test_haversine_is_metres() -> None:
    lat2, lng2 = offset(1000.0)
    assert haversine_m(LAT, LNG, lat2, lng2) == pytest.approx(1000.0, rel=1e-3)


def test_score_is_a_probability_with_evidence() -> None:
    venue = rec("The Red Lion", address="48 Parliament Street", postcode="SW1A 2NH")
    s = score_pair(venue, rec("Red Lion", 10, address="48 Parliament St", postcode="SW1A2NH"))
    assert 0.0 <= s.score <= 1.0
    assert s.house_number == "agree" and s.postcode == "agree"
    assert s.distance_m == pytest.approx(10.0, abs=0.5)


def test_far_candidate_is_hard_rejected_whatever_the_name() -> None:
    s = score_pair(rec("The Red Lion"), rec("The Red Lion", 3000))
    assert s.score == 0.0
    assert s.rejected and "apart" in s.rejected


def test_a_part_of_a_place_scores_below_the_place_itself() -> None:
    venue = rec("Red Lion")
    whole = score_pair(venue, rec("Red Lion", 10)).score
    part = score_pair(venue, rec("Red Lion Function Room", 10)).score
    assert part < whole
    assert part < THRESHOLD


def test_categories_nudge_only_when_both_sides_have_them() -> None:
    venue = MatchRecord("Red Lion", LAT, LNG, categories=("Pub",))
    same = score_pair(venue, rec("Red Lion", 60, categories=("Bar > Pub",)))
    other = score_pair(venue, rec("Red Lion", 60, categories=("Car Dealer",)))
    unknown = score_pair(venue, rec("Red Lion", 60))
    assert same.category == "agree" and other.category == "disagree" and unknown.category == "unknown"
    assert other.score < unknown.score < same.score


def test_records_from_venue_and_place() -> None:
    venue = Venue(1, "The Anchor", "the-anchor", "london", "London", "34 Park Street", "SE1 9EF", "UK", LAT, LNG)
    place = Place("here", "here:pds:1", "Anchor Inn", *offset(30), address="Anchor Inn, 34 Park St, London",
                  house_number="34", street="Park St", postcode="SE1 9EF", categories=("Pub",))
    a, b = MatchRecord.from_venue(venue), MatchRecord.from_place(place)
    assert b.address == "34 Park St" and b.categories == ("Pub",)
    s = score_pair(a, b)
    assert s.house_number == "agree" and s.score >= THRESHOLD


# --- choose() ------------------------------------------------------------------------------------


def test_exact_match_is_accepted() -> None:
    venue = rec("The Red Lion", address="48 Parliament Street", postcode="SW1A 2NH")
    d = choose(venue, [("p1", rec("The Red Lion", 8, 5, address="48 Parliament St", postcode="SW1A 2NH"))])
    assert d.status == "matched" and d.place_id == "p1"
    assert d.score >= THRESHOLD
    assert d.candidates == [("p1", d.score)]


def test_neighbour_pub_with_another_name_150m_away_is_rejected() -> None:
    venue = rec("The Red Lion", address="48 Parliament Street", postcode="SW1A 2NH")
    d = choose(venue, [("p2", rec("The King's Head", 150, address="12 Whitehall", postcode="SW1A 2DY"))])
    assert d.status == "no_match" and d.place_id is None
    assert d.candidates and d.candidates[0][0] == "p2"


def test_neighbour_is_not_picked_as_first_result_when_the_right_place_is_absent() -> None:
    venue = rec("The Red Lion")
    d = choose(venue, [("a", rec("The Kings Arms", 40)), ("b", rec("Westminster Arms", 90))])
    assert d.status == "no_match"


def test_the_anchor_matches_anchor_inn_30m_away() -> None:
    d = choose(rec("The Anchor"), [("fsq1", rec("Anchor Inn", 30))])
    assert d.status == "matched" and d.place_id == "fsq1"


def test_right_place_wins_over_neighbour() -> None:
    venue = rec("The Anchor")
    d = choose(venue, [("n", rec("The Globe", 20)), ("a", rec("Anchor Inn", 30)), ("c", rec("Costa Coffee", 35))])
    assert d.status == "matched" and d.place_id == "a"
    assert d.runner_up_score < d.score
    assert [pid for pid, _ in d.candidates][0] == "a" and len(d.candidates) == 3


def test_two_same_named_candidates_at_similar_distance_are_ambiguous() -> None:
    venue = rec("Starbucks")
    d = choose(venue, [("s1", rec("Starbucks", 40)), ("s2", rec("Starbucks", -45))])
    assert d.status == "ambiguous" and d.place_id is None
    assert d.score >= THRESHOLD and d.runner_up_score >= THRESHOLD


def test_same_place_listed_twice_is_not_ambiguous() -> None:
    d = choose(rec("Red Lion"), [("p1", rec("Red Lion", 10)), ("p1", rec("The Red Lion", 12))])
    assert d.status == "matched" and d.place_id == "p1"


def test_candidate_3km_away_is_rejected() -> None:
    d = choose(rec("The Red Lion"), [("far", rec("The Red Lion", 3000))])
    assert d.status == "no_match"
    assert d.score == 0.0


def test_no_candidates_is_no_match() -> None:
    d = choose(rec("The Red Lion"), [])
    assert d.status == "no_match" and d.candidates == []


def test_venue_without_coordinates_still_needs_name_and_address_evidence() -> None:
    venue = MatchRecord("The Red Lion", None, None, "48 Parliament Street", "SW1A 2NH")
    good = choose(venue, [("p", rec("Red Lion", address="48 Parliament St", postcode="SW1A 2NH"))])
    bad = choose(venue, [("q", rec("The King's Head", address="12 Whitehall", postcode="SW1A 2DY"))])
    assert good.status == "matched"
    assert bad.status == "no_match"
