"""Scored place matching: a wrong match attaches a neighbour's photos, so uncertain means no match."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Sequence

from rapidfuzz import fuzz

from venue_pipeline.core.normalize import (
    SUB_PLACE_WORDS,
    category_tokens,
    core_name,
    normalize_house_number,
    normalize_name,
    normalize_postcode,
    normalize_street,
    split_address,
)
from venue_pipeline.core.venue import Venue
from venue_pipeline.providers.base import Place

# Beyond this distance two records are never the same place, whatever their names say.
MAX_DISTANCE_M = 1500.0

# Distance assumed when a side has no coordinates: neither near nor far, so names and address decide.
UNKNOWN_DISTANCE_M = 250.0

# Logistic-regression weights over FEATURE_NAMES, fitted by scripts/fit_matcher.py on Geo-ER
# Pittsburgh pit_train + pit_valid (OSM-Foursquare and OSM-Yelp together). Re-run the script to refit.
FEATURE_NAMES: tuple[str, ...] = (
    "bias",
    "name_sort",
    "name_set",
    "name_core",
    "name_partial",
    "name_exact",
    "name_low",
    "name_id_mismatch",
    "name_contained",
    "name_extra_sub_place",
    "name_contained_x_log_distance",
    "log_distance",
    "near_50m",
    "far_300m",
    "house_number_agree",
    "house_number_disagree",
    "street_similarity",
    "postcode_agree",
    "postcode_disagree",
    "name_x_log_distance",
)
COEFFICIENTS: tuple[float, ...] = (
    -3.4468,  # bias
    4.0334,  # name_sort
    2.8842,  # name_set
    2.3447,  # name_core
    0.6575,  # name_partial
    1.7226,  # name_exact
    0.7995,  # name_low
    -0.6323,  # name_id_mismatch
    1.3630,  # name_contained
    -2.4066,  # name_extra_sub_place
    -0.0981,  # name_contained_x_log_distance
    -2.5594,  # log_distance
    -0.2460,  # near_50m
    -0.5673,  # far_300m
    0.8678,  # house_number_agree
    -1.4216,  # house_number_disagree
    0.5617,  # street_similarity
    -0.2427,  # postcode_agree
    -0.6035,  # postcode_disagree
    0.5042,  # name_x_log_distance
)

# Categories are not in the training data; when both sides have them this hand-set nudge applies.
CATEGORY_AGREE_LOGIT = 0.5
CATEGORY_DISAGREE_LOGIT = -0.5

# Accept a best candidate only at or above THRESHOLD and MARGIN above any other place.
THRESHOLD = 0.81
MARGIN = 0.15


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """What the matcher compares, whichever side (our venue or a provider's place) it came from."""

    name: str
    lat: float | None = None
    lng: float | None = None
    address: str | None = None
    postcode: str | None = None
    house_number: str | None = None
    categories: tuple[str, ...] = ()

    @classmethod
    def from_venue(cls, venue: Venue) -> MatchRecord:
        return cls(
            name=venue.name,
            lat=venue.lat,
            lng=venue.lng,
            address=venue.address,
            postcode=venue.postcode,
        )

    @classmethod
    def from_place(cls, place: Place) -> MatchRecord:
        address = place.address
        if place.street:
            # A structured street is more reliable than a formatted line that may lead with the name.
            address = f"{place.house_number} {place.street}" if place.house_number else place.street
        return cls(
            name=place.name,
            lat=place.lat,
            lng=place.lng,
            address=address,
            postcode=place.postcode,
            house_number=place.house_number,
            categories=tuple(place.categories),
        )

    @property
    def has_coordinates(self) -> bool:
        return self.lat is not None and self.lng is not None


@dataclass(frozen=True, slots=True)
class ScoreBreakdown:
    """A pair's score and the evidence behind it, kept so a decision can be explained later."""

    score: float
    name_similarity: float
    distance_m: float | None
    house_number: Literal["agree", "disagree", "unknown"]
    street_similarity: float | None
    postcode: Literal["agree", "disagree", "unknown"]
    category: Literal["agree", "disagree", "unknown"]
    rejected: str | None = None
    features: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class MatchDecision:
    """What choose() decided, with every candidate's score so rejections can be recorded too."""

    status: Literal["matched", "no_match", "ambiguous"]
    place_id: str | None
    score: float
    runner_up_score: float
    candidates: list[tuple[str, float]] = field(default_factory=list)


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres."""
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(h)))


def distance_m(a: MatchRecord, b: MatchRecord) -> float | None:
    """Distance between two records, or None when either has no coordinates."""
    if not (a.has_coordinates and b.has_coordinates):
        return None
    return haversine_m(a.lat, a.lng, b.lat, b.lng)  # type: ignore[arg-type]


def _address_parts(r: MatchRecord) -> tuple[str, str]:
    number, street = split_address(r.address)
    if r.house_number:
        number = normalize_house_number(r.house_number)
    return number, street


@dataclass(frozen=True, slots=True)
class NameSimilarity:
    """Several views of how alike two names are, each in [0, 1]."""

    sort: float
    set: float
    core: float
    partial: float
    exact: float
    id_mismatch: float
    contained: float
    extra_sub_place: float

    @property
    def best(self) -> float:
        return max(self.sort, self.core)


def _identifiers(name: str) -> frozenset[str]:
    """Tokens that tell siblings apart: numbers and lone letters ("Building C", "Plaza 3")."""
    return frozenset(t for t in name.split() if t.isdigit() or (len(t) == 1 and t.isalpha()))


def name_similarity(a: str, b: str) -> NameSimilarity:
    """How alike two names are after normalisation, from several rapidfuzz scorers."""
    na, nb = normalize_name(a), normalize_name(b)
    if not na or not nb:
        return NameSimilarity(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    ca, cb = core_name(a), core_name(b)
    ia, ib = _identifiers(na), _identifiers(nb)
    exact = na.replace(" ", "") == nb.replace(" ", "") or ca == cb
    ta, tb = frozenset(na.split()), frozenset(nb.split())
    contained = not exact and (ta < tb or tb < ta)
    extra = (tb - ta) if ta < tb else (ta - tb)
    return NameSimilarity(
        sort=fuzz.token_sort_ratio(na, nb) / 100.0,
        set=fuzz.token_set_ratio(na, nb) / 100.0,
        core=fuzz.token_sort_ratio(ca, cb) / 100.0,
        partial=fuzz.partial_ratio(na.replace(" ", ""), nb.replace(" ", "")) / 100.0,
        exact=1.0 if exact else 0.0,
        id_mismatch=1.0 if (ia and ib and ia != ib) else 0.0,
        contained=1.0 if contained else 0.0,
        extra_sub_place=1.0 if contained and extra & SUB_PLACE_WORDS else 0.0,
    )


def features(a: MatchRecord, b: MatchRecord) -> tuple[tuple[float, ...], dict[str, object]]:
    """The model's feature vector for a pair (order of FEATURE_NAMES) and the readable evidence."""
    ns = name_similarity(a.name, b.name)
    best_name = ns.best
    d = distance_m(a, b)
    dd = UNKNOWN_DISTANCE_M if d is None else d
    near = 1.0 if dd <= 50.0 else 0.0
    log_d = math.log1p(dd / 10.0)

    num_a, street_a = _address_parts(a)
    num_b, street_b = _address_parts(b)
    if num_a and num_b:
        hn = "agree" if num_a == num_b else "disagree"
    else:
        hn = "unknown"
    street_sim: float | None = None
    if street_a and street_b:
        street_sim = fuzz.token_set_ratio(normalize_street(street_a), normalize_street(street_b)) / 100.0

    pa, pb = normalize_postcode(a.postcode), normalize_postcode(b.postcode)
    if pa and pb:
        pc = "agree" if (pa == pb or pa.startswith(pb) or pb.startswith(pa)) else "disagree"
    else:
        pc = "unknown"

    vector = (
        1.0,
        ns.sort,
        ns.set,
        ns.core,
        ns.partial,
        ns.exact,
        1.0 if best_name < 0.5 else 0.0,
        ns.id_mismatch,
        ns.contained,
        ns.extra_sub_place,
        ns.contained * log_d,
        log_d,
        near,
        1.0 if dd > 300.0 else 0.0,
        1.0 if hn == "agree" else 0.0,
        1.0 if hn == "disagree" else 0.0,
        0.0 if street_sim is None else street_sim - 0.5,
        1.0 if pc == "agree" else 0.0,
        1.0 if pc == "disagree" else 0.0,
        best_name * log_d,
    )
    evidence: dict[str, object] = {
        "name_similarity": best_name,
        "distance_m": d,
        "house_number": hn,
        "street_similarity": street_sim,
        "postcode": pc,
    }
    return vector, evidence


def _category(a: MatchRecord, b: MatchRecord) -> Literal["agree", "disagree", "unknown"]:
    ta, tb = category_tokens(a.categories), category_tokens(b.categories)
    if not ta or not tb:
        return "unknown"
    return "agree" if ta & tb else "disagree"


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def score_pair(a: MatchRecord, b: MatchRecord) -> ScoreBreakdown:
    """How likely a and b are the same place, in [0, 1], with the evidence behind the number."""
    vector, ev = features(a, b)
    category = _category(a, b)
    d = ev["distance_m"]
    rejected: str | None = None
    if not normalize_name(a.name) or not normalize_name(b.name):
        rejected = "empty name"
    elif isinstance(d, float) and d > MAX_DISTANCE_M:
        rejected = f"{d:.0f} m apart (limit {MAX_DISTANCE_M:.0f} m)"
    if rejected:
        score = 0.0
    else:
        logit = sum(w * x for w, x in zip(COEFFICIENTS, vector))
        if category == "agree":
            logit += CATEGORY_AGREE_LOGIT
        elif category == "disagree":
            logit += CATEGORY_DISAGREE_LOGIT
        score = _sigmoid(logit)
    return ScoreBreakdown(
        score=score,
        name_similarity=float(ev["name_similarity"]),  # type: ignore[arg-type]
        distance_m=d,  # type: ignore[arg-type]
        house_number=ev["house_number"],  # type: ignore[arg-type]
        street_similarity=ev["street_similarity"],  # type: ignore[arg-type]
        postcode=ev["postcode"],  # type: ignore[arg-type]
        category=category,
        rejected=rejected,
        features=vector,
    )


def choose(
    venue: MatchRecord,
    candidates: Sequence[tuple[str, MatchRecord]],
    *,
    threshold: float = THRESHOLD,
    margin: float = MARGIN,
) -> MatchDecision:
    """The one candidate that is clearly this venue, or none: never "the first result"."""
    best_per_place: dict[str, float] = {}
    for place_id, record in candidates:
        s = score_pair(venue, record).score
        if s > best_per_place.get(place_id, -1.0):
            best_per_place[place_id] = s
    scored = sorted(best_per_place.items(), key=lambda kv: kv[1], reverse=True)
    if not scored:
        return MatchDecision("no_match", None, 0.0, 0.0, [])
    best_id, best = scored[0]
    runner_up = scored[1][1] if len(scored) > 1 else 0.0
    if best < threshold:
        return MatchDecision("no_match", None, best, runner_up, scored)
    if best - runner_up < margin:
        return MatchDecision("ambiguous", None, best, runner_up, scored)
    return MatchDecision("matched", best_id, best, runner_up, scored)
