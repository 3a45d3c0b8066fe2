"""The chooser takes a candidate only when it is clearly the venue among the others a search returned."""

from __future__ import annotations

import pytest
from match_records import rec

from venue_pipeline.core.chooser import (
    CHOOSER_FEATURES,
    CHOOSER_THRESHOLD,
    ChooserModel,
    adds_another_kind,
    choose,
    model,
    probabilities,
)
from venue_pipeline.core.matching import THRESHOLD, MatchRecord

# --- choose() ------------------------------------------------------------------------------------


def test_exact_match_is_accepted() -> None:
    venue = rec("The Red Lion", address="48 Parliament Street", postcode="SW1A 2NH")
    d = choose(venue, [("p1", rec("The Red Lion", 8, 5, address="48 Parliament St", postcode="SW1A 2NH"))])
    assert d.status == "matched" and d.place_id == "p1"
    assert d.score >= CHOOSER_THRESHOLD
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


# --- choosing among similar neighbours (real streets) ----------------------------------------------


def test_right_pub_wins_over_same_street_neighbour_with_another_kind_word() -> None:
    venue = rec("Black Horse Inn", address="Black Horse, 12 Longbrook Street, Exeter", postcode="EX4 6AP")
    right = rec("Black Horse Inn", 25, address="12 Longbrook St", postcode="EX4 6AP")
    other = rec("Black Horse Tavern", 45, 30, address="87 Longbrook Street", postcode="EX4 6AP")
    d = choose(venue, [("other", other), ("right", right)])
    assert d.status == "matched" and d.place_id == "right"


def test_a_neighbour_that_adds_another_kind_of_business_is_not_the_venue() -> None:
    """Our venue's name is authoritative: "Golden Star Café" next door is another business."""
    venue = rec("The Golden Star", address="Golden Star, 57 Colegate, Norwich")
    for name in ("Golden Star Café", "Golden Star Stores", "Golden Star Hotel", "Golden Star Tavern"):
        candidate = rec(name, 40, address="48 Colegate")
        assert adds_another_kind(venue, candidate), name
        assert choose(venue, [("n", candidate)]).status == "no_match", name


def test_an_added_kind_word_is_accepted_when_the_address_vouches_for_it() -> None:
    """Geo-ER Pittsburgh: "Giant Eagle" at 420 Waterfront Dr is listed as "Giant Eagle Supermarket" there."""
    venue = rec("Giant Eagle", address="Waterfront Drive East, 420")
    candidate = rec("Giant Eagle Supermarket", 48, address="420 E Waterfront Dr")
    assert not adds_another_kind(venue, candidate)


def test_the_nearer_same_name_place_is_not_taken_when_both_are_acceptable() -> None:
    venue = rec("Subway", address="Smithfield Street, 414")
    d = choose(venue, [("a", rec("Subway", 30)), ("b", rec("Subway", -60, 20))])
    assert d.status == "ambiguous"


def test_same_name_far_off_is_rejected_and_at_the_same_address_accepted() -> None:
    venue = rec("Mecca Bingo", address="Mecca Bingo Club, 285 Aylsham Road, Norwich")
    assert choose(venue, [("x", rec("The Mecca Bingo", 1600, address="London Street"))]).status == "no_match"
    assert choose(venue, [("x", rec("The Mecca Bingo", 30, address="285 Aylsham Rd"))]).status == "matched"


def test_abbreviated_and_store_numbered_names_are_matched() -> None:
    """Real forms from the Geo-ER cities: "Mjd" for "Masjid", a chain's store number, "Deli"."""
    assert choose(rec("Masjid Al Falah"), [("m", rec("Mjd Al Falah", 25))]).status == "matched"
    assert choose(rec("Second Cup"), [("c", rec("Second Cup 9092", 20))]).status == "matched"
    assert choose(rec("Lotus Delicatessen"), [("d", rec("Lotus Deli", 15))]).status == "matched"


def test_choose_reports_the_probability_of_every_candidate() -> None:
    venue = rec("Red Lion", address="48 Parliament Street")
    d = choose(venue, [("h", rec("Red Lion Hotel", 120, address="3 Whitehall")), ("r", rec("Red Lion", 15))])
    assert d.place_id == "r" and [pid for pid, _ in d.candidates] == ["r", "h"]
    assert d.candidates[0][1] >= CHOOSER_THRESHOLD > d.candidates[1][1]


def test_geocoded_venue_with_the_same_uk_postcode_is_matched_without_coordinates() -> None:
    venue = MatchRecord("The Brickworks", None, None, "Unit 3b, Davisella House, Lower Eldon Street", "NG2 4PL")
    place = rec("The brickworks", address="Lower Eldon Street", postcode="NG2 4PL")
    hotel = rec("Brickworks Hotel", address="Lower Eldon Street", postcode="NG2 4PL")
    d = choose(venue, [("h", hotel), ("p", place)])
    assert d.status == "matched" and d.place_id == "p"


def test_a_sibling_named_place_is_not_the_venue() -> None:
    """The demo's "Norfolk And Norwich Indoor Bowling Club" has an "Old …" neighbour at one provider."""
    venue = rec("Norfolk And Norwich Indoor Bowling Club")
    assert choose(venue, [("o", rec("Old Norfolk And Norwich Indoor Bowling Club", 45))]).status == "no_match"


def test_the_shipped_model_matches_the_features_and_scores_in_range() -> None:
    fitted = model()
    assert fitted.features == CHOOSER_FEATURES and len(fitted.trees) > 0
    assert 0.5 <= CHOOSER_THRESHOLD < 1.0 and fitted.threshold == CHOOSER_THRESHOLD
    venue = rec("The Anchor")
    (p_right, _), (p_other, _) = probabilities(venue, [rec("Anchor Inn", 20), rec("Costa Coffee", 30)])
    assert 0.0 <= p_other < CHOOSER_THRESHOLD <= p_right <= 1.0


def test_a_model_fitted_on_other_features_is_refused(tmp_path) -> None:
    path = tmp_path / "model.json"
    path.write_text(
        '{"features": ["bias"], "init": 0, "learning_rate": 0.1, "threshold": 0.5, "trees": []}', encoding="utf-8"
    )
    with pytest.raises(ValueError, match="other features"):
        ChooserModel.load(path)


def test_a_venue_without_coordinates_is_decided_by_name_and_address() -> None:
    venue = MatchRecord("The Red Lion", None, None, "48 Parliament Street", "SW1A 2NH")
    twin = choose(venue, [("p", rec("Red Lion", address="48 Parliament St", postcode="SW1A 2NH")),
                          ("q", rec("Red Lion", 400, address="48 Parliament St", postcode="SW1A 2NH"))])
    assert twin.status == "ambiguous"


def test_one_place_listed_twice_at_the_provider_is_matched_not_ambiguous() -> None:
    # Geo-ER Pittsburgh (osm_fsq valid): Foursquare lists "Cogo's" and "Co go's" at 1001 Brookline Blvd,
    # both true places of the OSM venue "Cogos"; 30 m apart they are one place, not two branches.
    venue = rec("Cogos", address="Brookline Boulevard, 1001", postcode="15226")
    d = choose(
        venue,
        [("a", rec("Cogo's", 27, address="Brookline Blvd")), ("b", rec("Co go's", 30, 30, address="1001 Brookline Blvd"))],
    )
    assert d.status == "matched" and d.place_id in {"a", "b"}
