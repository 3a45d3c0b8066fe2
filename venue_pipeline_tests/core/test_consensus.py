"""Cross-provider consensus: two providers agreeing confirm, contradict or rescue a third's choice."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

from venue_pipeline.core import consensus as cs
from venue_pipeline.core.ids_consensus import apply_consensus
from venue_pipeline.core.ports import Place
from venue_pipeline.core.statuses import IdRecord, IdStatus

NOW = datetime(2025, 3, 1, tzinfo=timezone.utc)
COOLDOWN = timedelta(days=30)
# Norwich city centre (Prince of Wales Road) and Exeter's Commercial Road (Bishops Blaize, demo_venues.csv)
NORWICH = (52.629297, 1.300907)
EXETER_BISHOPS_BLAIZE = (50.71884, -3.532414)


def offset(origin: tuple[float, float], north_m: float, east_m: float) -> tuple[float, float]:
    lat, lng = origin
    return lat + north_m / 111_195.0, lng + east_m / (111_195.0 * math.cos(math.radians(lat)))


def place(provider: str, place_id: str, name: str, at: tuple[float, float]) -> Place:
    return Place(provider=provider, place_id=place_id, name=name, lat=at[0], lng=at[1])


def matched(provider: str, p: Place, score: float, *others: tuple[Place, float]) -> tuple[IdRecord, list[Place]]:
    cands = [{"place_id": p.place_id, "score": score}] + [{"place_id": o.place_id, "score": s} for o, s in others]
    rec = IdRecord(1, provider, IdStatus.MATCHED, "search", p.place_id, score, {"candidates": cands})
    return rec, [p, *(o for o, _ in others)]


def rejected(provider: str, status: str, *cands: tuple[Place, float]) -> tuple[IdRecord, list[Place]]:
    details = {"candidates": [{"place_id": p.place_id, "score": s} for p, s in cands]}
    best = max((s for _, s in cands), default=None)
    rec = IdRecord(1, provider, status, "search", None, best, details, next_search_at=NOW + COOLDOWN)
    return rec, [p for p, _ in cands]


def settle(*pairs: tuple[IdRecord, list[Place]]) -> dict[str, IdRecord]:
    records = [r for r, _ in pairs]
    places = {r.provider: ps for r, ps in pairs}
    out, _ = apply_consensus(records, places, now=NOW, cooldown=COOLDOWN)
    return {r.provider: r for r in out}


def test_consensus_rejects_a_third_providers_candidate_200_m_away() -> None:
    here = place("here", "here:pds:place:826gcpuv-1", "The Old Fire Station", offset(NORWICH, 3, 0))
    geoapify = place("geoapify", "51a1b2c3", "Old Fire Station", offset(NORWICH, -2, 5))  # 9 m from HERE's pin
    google = place("google_places", "ChIJ-old-fire-station-2", "The Old Fire Station", offset(NORWICH, 210, 0))
    out = settle(
        matched("here", here, 0.99),
        matched("geoapify", geoapify, 0.98),
        matched("google_places", google, 0.93),
    )

    g = out["google_places"]
    assert g.status == IdStatus.NO_MATCH and g.place_id is None and g.next_search_at == NOW + COOLDOWN
    evidence = g.details["consensus"]
    assert evidence["status"] == cs.CONTRADICTED and evidence["was"] == IdStatus.MATCHED
    assert evidence["rejected_place_id"] == "ChIJ-old-fire-station-2"
    assert evidence["agreeing"] == ["geoapify", "here"]
    assert 205 <= evidence["distance_m"] <= 215
    assert "210 m from where geoapify and here agree" in evidence["reason"]
    assert evidence["location"] == [round(v, 6) for v in offset(NORWICH, 0.5, 2.5)]
    assert g.details["candidates"] == [{"place_id": "ChIJ-old-fire-station-2", "score": 0.93}]  # scores kept
    for provider in ("here", "geoapify"):
        assert out[provider].status == IdStatus.MATCHED and out[provider].details["consensus"]["status"] == cs.AGREED


def test_consensus_rescues_the_only_same_named_candidate_at_the_agreed_spot() -> None:
    here = place("here", "here:pds:place:826gcj1-bb", "Bishops Blaize", offset(EXETER_BISHOPS_BLAIZE, 4, -3))
    geoapify = place("geoapify", "51bb0c", "Bishop's Blaize", offset(EXETER_BISHOPS_BLAIZE, -3, 2))
    fsq_right = place("foursquare", "4c5b1aa0b3", "Bishops Blaize Inn", offset(EXETER_BISHOPS_BLAIZE, 12, 0))
    fsq_other = place("foursquare", "5a9f77de21", "The Mitre", offset(EXETER_BISHOPS_BLAIZE, 0, 90))
    out = settle(
        matched("here", here, 0.99),
        matched("geoapify", geoapify, 0.97),
        rejected("foursquare", IdStatus.AMBIGUOUS, (fsq_right, 0.90), (fsq_other, 0.86)),
    )

    f = out["foursquare"]
    assert f.status == IdStatus.MATCHED and f.place_id == "4c5b1aa0b3" and f.score == 0.90
    assert f.next_search_at is None
    evidence = f.details["consensus"]
    assert evidence["status"] == cs.RESCUED and evidence["was"] == IdStatus.AMBIGUOUS
    assert evidence["agreeing"] == ["geoapify", "here"] and evidence["distance_m"] <= 12
    assert "only place named 'bishops blaize'" in evidence["reason"]


def test_no_consensus_when_only_one_provider_matched() -> None:
    here = place("here", "here:pds:place:826-alex", "Alexandra Tavern", offset(NORWICH, 0, 0))
    fsq = place("foursquare", "4b0588f1-alex", "Alexandra Tavern", offset(NORWICH, 8, 0))
    out = settle(
        matched("here", here, 0.99),
        rejected("foursquare", IdStatus.NO_MATCH, (fsq, 0.7)),
    )
    assert out["here"].status == IdStatus.MATCHED and out["foursquare"].status == IdStatus.NO_MATCH
    assert {r.details["consensus"]["status"] for r in out.values()} == {cs.NO_CONSENSUS}
    assert "agreeing" not in out["foursquare"].details["consensus"]


def test_low_confidence_matches_make_no_consensus() -> None:
    a = cs.Candidate("a", "Alexandra Tavern", *NORWICH)
    b = cs.Candidate("b", "Alexandra Tavern", *offset(NORWICH, 5, 0))
    choices = [cs.ProviderChoice("here", "matched", a, 0.99), cs.ProviderChoice("geoapify", "matched", b, 0.85)]
    assert cs.find_consensus(choices) is None


def test_a_nearby_same_named_match_is_confirmed_and_a_differently_named_one_contradicted() -> None:
    here = cs.Candidate("h", "The Old Fire Station", *NORWICH)
    geo = cs.Candidate("g", "Old Fire Station", *offset(NORWICH, 8, 0))
    fsq = cs.Candidate("f", "Old Fire Station Pub", *offset(NORWICH, 70, 0))  # same core, 66 m: still the venue
    goo = cs.Candidate("x", "Fire Station Car Park", *offset(NORWICH, -60, 0))  # other name, 64 m: another place
    result = cs.judge(
        [
            cs.ProviderChoice("here", "matched", here, 0.99),
            cs.ProviderChoice("geoapify", "matched", geo, 0.99),
            cs.ProviderChoice("foursquare", "matched", fsq, 0.9),
            cs.ProviderChoice("google_places", "matched", goo, 0.85),
        ]
    )
    assert result.verdicts["foursquare"].status == cs.CONFIRMED
    assert result.verdicts["google_places"].status == cs.CONTRADICTED


def test_two_same_named_candidates_near_the_consensus_are_not_rescued() -> None:
    here = cs.Candidate("h", "Bishops Blaize", *EXETER_BISHOPS_BLAIZE)
    geo = cs.Candidate("g", "Bishops Blaize", *offset(EXETER_BISHOPS_BLAIZE, 6, 0))
    one = cs.Candidate("f1", "Bishops Blaize", *offset(EXETER_BISHOPS_BLAIZE, 10, 0), score=0.95)
    cafe = cs.Candidate("f2", "Bishops Blaize Cafe", *offset(EXETER_BISHOPS_BLAIZE, 0, 60), score=0.93)
    result = cs.judge(
        [
            cs.ProviderChoice("here", "matched", here, 0.99),
            cs.ProviderChoice("geoapify", "matched", geo, 0.99),
            cs.ProviderChoice("foursquare", "ambiguous", None, 0.95, (one, cafe)),
        ]
    )
    verdict = result.verdicts["foursquare"]
    assert verdict.status == cs.NOT_RESCUED and "another place named" in verdict.reason


def test_two_groups_in_different_places_make_no_consensus() -> None:
    far = offset(NORWICH, 300, 0)
    choices = [
        cs.ProviderChoice("here", "matched", cs.Candidate("h", "The Crown", *NORWICH), 0.99),
        cs.ProviderChoice("geoapify", "matched", cs.Candidate("g", "Crown", *offset(NORWICH, 5, 0)), 0.99),
        cs.ProviderChoice("foursquare", "matched", cs.Candidate("f", "The Crown", *far), 0.99),
        cs.ProviderChoice("google_places", "matched", cs.Candidate("x", "Crown Inn", *offset(far, 5, 0)), 0.99),
    ]
    assert cs.find_consensus(choices) is None


def test_a_candidate_adding_another_kind_of_business_is_not_rescued() -> None:
    """The demo's "The Ribs Of Beef" (Norwich): two providers agree, the third knows only "Ribs Of Beef Café"."""
    here = place("here", "here:pds:place:rob-1", "The Ribs Of Beef", offset(EXETER_BISHOPS_BLAIZE, 4, -3))
    fsq = place("foursquare", "5a0721d82f", "Ribs Of Beef", offset(EXETER_BISHOPS_BLAIZE, -3, 2))
    cafe = place("geoapify", "51d96553", "Ribs Of Beef Café", offset(EXETER_BISHOPS_BLAIZE, 15, 5))
    out = settle(matched("here", here, 0.99), matched("foursquare", fsq, 0.99), rejected("geoapify", IdStatus.NO_MATCH, (cafe, 0.9)))
    assert out["geoapify"].status == IdStatus.NO_MATCH
    assert out["geoapify"].details["consensus"]["status"] == cs.NOT_RESCUED
