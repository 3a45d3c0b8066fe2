"""The matcher attaches a provider place to a venue only when it is clearly the same place."""

from __future__ import annotations

import math

import pytest

from venue_pipeline.core.matching import (
    COEFFICIENTS,
    FEATURE_NAMES,
    THRESHOLD,
    MatchRecord,
    assess,
    choose,
    haversine_m,
    name_difference,
    score_pair,
)
from venue_pipeline.core.normalize import (
    address_streets,
    core_name,
    fold,
    is_fine_postcode,
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
        ("Coach And Horses, 82 Thorpe Road, Norwich", ("82", "thorpe rd")),
        ("Prince Of Wales, 8 - 14 Prince Of Wales Road, Norwich", ("8", "prince of wales rd")),
        ("Broadway", ("", "broadway")),
        (None, ("", "")),
    ],
)
def test_split_address_reads_both_number_orders(address: str | None, expected: tuple[str, str]) -> None:
    assert split_address(address) == expected


def test_every_part_of_an_address_may_name_the_street_but_not_the_town() -> None:
    assert address_streets("Inland Revenue, Castle Meadow Road, Nottingham", "Nottingham") == [
        "inland revenue",
        "castle meadow rd",
    ]
    assert address_streets("Washington Road, 427") == ["washington rd"]


def test_fine_postcodes_are_told_from_zip_codes() -> None:
    assert is_fine_postcode("NR1 1BG") and is_fine_postcode("K1A 0B1")
    assert not is_fine_postcode("15213") and not is_fine_postcode(None)


def test_name_difference_sorts_words_by_what_they_say() -> None:
    d = name_difference("Black Horse Inn", "Black Horse Tavern")
    assert d.kind_added == {"tavern"} and d.loose == {"inn"} and d.distinct == 0
    d = name_difference("David Lloyd Leisure Centre", "Old David Lloyd Leisure Centre")
    assert d.extra == {"old"}
    d = name_difference("Bite The Bullitt@The Fat Cat And Canary Public House", "The Fat Cat & Canary Public House")
    assert d.missing == {"bite", "bullitt"}
    d = name_difference("The Anchor", "Anchor Pub")
    assert d.distinct == 0 and d.loose == {"pub"} and not d.kind_added


def test_name_difference_forgives_spelling_split_words_towns_and_branch_labels() -> None:
    assert name_difference("The William Peveral", "William Peverel").distinct == 0
    assert name_difference("The Gatehouse", "Gate House").distinct == 0
    assert name_difference("Revolution Nottingham", "Revolution", ignore="Nottingham").distinct == 0
    assert name_difference("Rosa Mexicano - Union Square", "Rosa Mexicano").distinct == 0


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


# --- choosing among similar neighbours (the sandbox's distractors, and real streets) ---------------


def test_right_pub_wins_over_same_street_neighbour_with_another_kind_word() -> None:
    venue = rec("Black Horse Inn", address="Black Horse, 12 Longbrook Street, Exeter", postcode="EX4 6AP")
    right = rec("Black Horse Inn", 25, address="12 Longbrook St", postcode="EX4 6AP")
    other = rec("Black Horse Tavern", 45, 30, address="87 Longbrook Street", postcode="EX4 6AP")
    d = choose(venue, [("other", other), ("right", right)])
    assert d.status == "matched" and d.place_id == "right"
    assert score_pair(venue, other).score > 0.8  # the fitted score alone would have called it close


def test_old_prefix_names_another_place() -> None:
    venue = rec("David Lloyd Leisure Centre")
    old, right = rec("Old David Lloyd Leisure Centre", 60), rec("David Lloyd Leisure Centre", 20)
    d = choose(venue, [("old", old), ("dl", right)])
    assert d.status == "matched" and d.place_id == "dl"


def test_similar_named_neighbour_alone_is_not_taken_for_the_venue() -> None:
    venue = rec("The Golden Star", address="Golden Star, 57 Colegate, Norwich")
    for name in ("Golden Star Café", "Golden Star Stores", "Old Golden Star", "Golden Star Fish Bar"):
        d = choose(venue, [("n", rec(name, 40, address="48 Colegate"))])
        assert d.status == "no_match", name


def test_candidate_lacking_the_venues_own_words_is_rejected() -> None:
    venue = rec("Bite The Bullitt@The Fat Cat And Canary Public House", address="101 Thorpe Road")
    d = choose(venue, [("fc", rec("The Fat Cat And Canary Public House", 20, address="101 Thorpe Road"))])
    assert d.status == "no_match"


def test_same_name_at_another_house_number_or_street_or_far_off_is_rejected() -> None:
    venue = rec("Mecca Bingo", address="Mecca Bingo Club, 285 Aylsham Road, Norwich")
    assert choose(venue, [("x", rec("The Mecca Bingo", 35, address="126 Aylsham Road"))]).status == "no_match"
    assert choose(venue, [("x", rec("The Mecca Bingo", 45, address="London Street"))]).status == "no_match"
    assert choose(venue, [("x", rec("The Mecca Bingo", 150))]).status == "no_match"
    assert choose(venue, [("x", rec("The Mecca Bingo", 30, address="285 Aylsham Rd"))]).status == "matched"


def test_margin_is_in_log_odds_so_near_certain_candidates_can_still_be_told_apart() -> None:
    venue = rec("Queen Of Iceni", address="Unit 6, Wherry Road, Norwich")
    right = rec("Queen Of Iceni", 20, address="Wherry Road")
    near_twin = rec("Queen Of Iceni Tavern", 45, address="Wherry Road")
    a, b = assess(venue, right), assess(venue, near_twin)
    assert a.score > 0.99 and a.logit - b.logit >= 2.0
    assert choose(venue, [("t", near_twin), ("r", right)]).place_id == "r"


def test_assessment_explains_its_penalties() -> None:
    a = assess(rec("Red Lion", address="48 Parliament Street"), rec("Red Lion Hotel", 120, address="3 Whitehall"))
    assert set(a.penalties) == {"kind_added", "house_number", "street", "distance"}
    assert a.penalties["distance"] == pytest.approx(2.0 * 70 / 50, rel=1e-3)
    assert a.score < a.pair.score


def test_geocoded_venue_with_the_same_uk_postcode_is_matched_without_coordinates() -> None:
    venue = MatchRecord("The Brickworks", None, None, "Unit 3b, Davisella House, Lower Eldon Street", "NG2 4PL")
    place = rec("The brickworks", address="Lower Eldon Street", postcode="NG2 4PL")
    hotel = rec("Brickworks Hotel", address="Lower Eldon Street", postcode="NG2 4PL")
    d = choose(venue, [("h", hotel), ("p", place)])
    assert d.status == "matched" and d.place_id == "p"
