"""The matcher attaches a provider place to a venue only when it is clearly the same place."""

from __future__ import annotations

import pytest
from match_records import LAT, LNG, offset, rec

from venue_pipeline.core.matching import (
    COEFFICIENTS,
    FEATURE_NAMES,
    THRESHOLD,
    MatchRecord,
    haversine_m,
    name_difference,
    score_pair,
)
from venue_pipeline.core.normalize import (
    address_streets,
    core_name,
    fold,
    is_abbreviation,
    is_fine_postcode,
    normalize_name,
    normalize_postcode,
    split_address,
    strip_store_number,
    token_alignment,
)
from venue_pipeline.core.ports import Place
from venue_pipeline.core.venue import Venue

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




# --- normalisation rules for names and addresses from the Geo-ER cities (issue 9) -------------------


@pytest.mark.parametrize(
    ("short", "long"),
    [("Mjd Al Falah", "Masjid Al Falah"), ("Kg Glam Cafe", "Kampong Glam Cafe"), ("Lotus Deli", "Lotus Delicatessen")],
)
def test_abbreviations_and_transliterations_pair_up(short: str, long: str) -> None:
    assert token_alignment(short, long) == 1.0
    assert not name_difference(long, short).distinct


def test_abbreviation_needs_the_same_first_letter_and_the_letters_in_order() -> None:
    assert is_abbreviation("mjd", "masjid") and is_abbreviation("ctr", "center") and is_abbreviation("univ", "university")
    assert not is_abbreviation("dm", "masjid") and not is_abbreviation("mdj", "masjid")


def test_store_numbers_are_not_part_of_a_name() -> None:
    assert normalize_name("Second Cup 9092") == normalize_name("Second Cup")
    assert normalize_name("Starbucks #1234") == "starbucks"
    assert normalize_name("Foster Plaza 7") == "foster plaza 7"  # a building number stays
    assert strip_store_number("1311") == "1311"  # never empties a name


def test_number_words_and_digits_are_one() -> None:
    assert normalize_name("Three Rivers Restaurant") == normalize_name("3 Rivers Restaurant")


def test_a_word_written_as_two_words_pairs_up() -> None:
    assert token_alignment("SouthSide Works", "South Side Works") == 1.0


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("Leith Walk, 7; 9", ("7", "leith walk")),  # OSM's list of house numbers (Edinburgh)
        ("7-9 Leith Walk", ("7", "leith walk")),  # a range
        ("Blk 106 Aljunied Ave 1, #01-52", ("106", "aljunied ave 1")),  # Singapore block and unit
        ("Block 106, #01-52", ("106", "")),
        ("East Carson Street, 2304 1/2", ("2304", "e carson st")),  # Pittsburgh half numbers
    ],
)
def test_house_number_forms(address: str, expected: tuple[str, str]) -> None:
    assert split_address(address) == expected


@pytest.mark.parametrize(
    ("address", "postcode", "city"),
    [
        (", Pittsburgh, 15228", "15228", "Pittsburgh"),  # a Geo-ER Foursquare place without a street
        ("Pittsburgh, PA 15213", None, None),  # a US formatted line without a street
        ("Edinburgh, EH6 8RG", "EH6 8RG", "Edinburgh"),
        ("10997 Berlin", None, "Berlin"),  # the documented formatted_address form (street, postcode town), no street
        ("Edinburgh EH6 8RG", "EH6 8RG", "Edinburgh"),
    ],
)
def test_a_postcode_or_the_town_is_never_read_as_a_house_number(
    address: str, postcode: str | None, city: str | None
) -> None:
    assert split_address(address, postcode=postcode, city=city)[0] == ""


def test_the_documented_foursquare_address_keeps_its_house_number() -> None:
    # location.formatted_address of Foursquare's place search example (contracts/fixtures/foursquare/places_search.json)
    assert split_address("Oranienstraße 6, 10997 Berlin", postcode="10997", city="Berlin") == ("6", "oranienstrasse")


def test_a_place_without_a_street_does_not_disagree_on_the_house_number() -> None:
    # Geo-ER Pittsburgh (osm_fsq): a true pair that read the ZIP as the house number 15228
    osm = MatchRecord("Allegheny Podiatry", 40.3917, -80.0446, "Washington Road, 733", city="Pittsburgh")
    fsq = MatchRecord("Allegheny Podiatry", 40.3920, -80.0444, ", Pittsburgh, 15228", "15228", city="Pittsburgh")
    assert score_pair(osm, fsq).house_number == "unknown"
