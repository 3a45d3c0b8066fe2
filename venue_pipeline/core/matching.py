"""Scored place matching: a wrong match attaches a neighbour's photos, so uncertain means no match."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal

from rapidfuzz import fuzz

from venue_pipeline.core.normalize import (
    ADDABLE_WORDS,
    DROPPABLE_WORDS,
    FILLER_WORDS,
    GENERIC_SUFFIXES,
    SUB_PLACE_WORDS,
    address_streets,
    category_tokens,
    core_name,
    is_abbreviation,
    is_fine_postcode,
    name_words,
    normalize_house_number,
    normalize_name,
    normalize_postcode,
    split_address,
    token_alignment,
)
from venue_pipeline.core.ports import Place
from venue_pipeline.core.venue import Venue

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
    "name_aligned",
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
    -2.8804,  # bias
    2.3712,  # name_sort
    1.4726,  # name_set
    2.1070,  # name_core
    -0.1226,  # name_partial
    4.1753,  # name_aligned
    1.2239,  # name_exact
    0.3435,  # name_low
    -0.2419,  # name_id_mismatch
    1.0656,  # name_contained
    -2.2604,  # name_extra_sub_place
    -0.0221,  # name_contained_x_log_distance
    -2.3236,  # log_distance
    -0.1819,  # near_50m
    -0.3576,  # far_300m
    0.8312,  # house_number_agree
    -1.4684,  # house_number_disagree
    0.4951,  # street_similarity
    -0.2047,  # postcode_agree
    -0.6947,  # postcode_disagree
    0.1965,  # name_x_log_distance
)

# Categories are not in the training data; when both sides have them this hand-set nudge applies.
CATEGORY_AGREE_LOGIT = 0.5
CATEGORY_DISAGREE_LOGIT = -0.5

# Nor are fine-grained postcodes: a US ZIP covers a district, a UK postcode a dozen addresses. When a
# side has no coordinates, a shared fine postcode stands in for "near" (hand-set, like categories).
FINE_POSTCODE_NO_DISTANCE_LOGIT = 1.5

# A pair at or above THRESHOLD is "the same place" on its own (chosen on Geo-ER valid pairs for precision
# 0.98, weights fitted on train); choosing among a search's candidates is core/chooser.py's job.
THRESHOLD = 0.92

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
    city: str | None = None

    @classmethod
    def from_venue(cls, venue: Venue) -> MatchRecord:
        return cls(
            name=venue.name,
            lat=venue.lat,
            lng=venue.lng,
            address=venue.address,
            postcode=venue.postcode,
            city=venue.city_name,
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
            city=place.city,
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


def _house_number(r: MatchRecord) -> str:
    if r.house_number:
        return normalize_house_number(r.house_number)
    return split_address(r.address, postcode=r.postcode, city=r.city)[0]


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


@dataclass(frozen=True, slots=True)
class NameDifference:
    """Words one name has and the other lacks, by how much they say: distinctive, kind-of-place, or loose."""

    missing: frozenset[str]  # distinctive words of a that b lacks ("Bite The Bullitt @ ...")
    extra: frozenset[str]  # distinctive words b adds ("Old", "Stores", "Fish", "Car Park")
    kind_added: frozenset[str]  # kind-of-place words b adds ("Café", "Hotel", "Tavern")
    kind_dropped: frozenset[str]  # kind-of-place words of a that b lacks ("Hasaki Restaurant" / "Hasaki")
    loose: frozenset[str]  # pub-type and legal words providers drop or add ("Inn", "Pub", "Ltd"), branch labels

    @property
    def distinct(self) -> int:
        return len(self.missing) + len(self.extra)


def _joined_pairs(words: list[str]) -> set[str]:
    return {words[i] + words[i + 1] for i in range(len(words) - 1)}


def _branch_words(name: str) -> frozenset[str]:
    """Words after a spaced dash, a branch label rather than a name ("Rosa Mexicano - Union Square")."""
    parts = re.split(r"\s[-\u2013\u2014|]\s", name, maxsplit=1)
    return name_words(parts[1]) if len(parts) == 2 else frozenset()


def name_difference(a: str, b: str, ignore: str | None = None) -> NameDifference:
    """How b's name departs from a's, word by word; spelling slips, split words and `ignore` (a town) excluded."""
    wa, wb = name_words(a), name_words(b)
    skip = FILLER_WORDS | name_words(ignore)
    missing = {w for w in wa - wb if w not in skip}
    extra = {w for w in wb - wa if w not in skip}
    # "Gatehouse" / "Gate House": a word that is two adjacent words of the other name.
    la, lb = normalize_name(a).split(), normalize_name(b).split()
    missing -= _joined_pairs(lb)
    extra -= _joined_pairs(la)
    for i in range(len(la) - 1):
        if la[i] + la[i + 1] in wb:
            missing.difference_update({la[i], la[i + 1]})
    for i in range(len(lb) - 1):
        if lb[i] + lb[i + 1] in wa:
            extra.difference_update({lb[i], lb[i + 1]})
    # "Peveral" / "Peverel": one misspelt word on each side cancels out, and so does an abbreviation
    # ("Mjd" / "Masjid", "Deli" / "Delicatessen").
    for m in sorted(missing):
        twin = next(
            (
                e
                for e in sorted(extra)
                if (min(len(m), len(e)) >= 5 and fuzz.ratio(m, e) >= 85) or is_abbreviation(m, e) or is_abbreviation(e, m)
            ),
            None,
        )
        if twin is not None:
            missing.discard(m)
            extra.discard(twin)
    loose = (
        {w for w in missing if w in DROPPABLE_WORDS or w in _branch_words(a)}
        | {w for w in extra if w in ADDABLE_WORDS or w in _branch_words(b)}
    )
    missing -= loose
    extra -= loose
    dropped = {w for w in missing if w in GENERIC_SUFFIXES}
    added = {w for w in extra if w in GENERIC_SUFFIXES}
    return NameDifference(
        frozenset(missing - dropped), frozenset(extra - added), frozenset(added), frozenset(dropped), frozenset(loose)
    )


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

    num_a, num_b = _house_number(a), _house_number(b)
    if num_a and num_b:
        hn = "agree" if num_a == num_b else "disagree"
    else:
        hn = "unknown"
    street_sim: float | None = None
    streets_a, streets_b = address_streets(a.address, a.city), address_streets(b.address, b.city)
    if streets_a and streets_b:
        street_sim = max(fuzz.token_set_ratio(sa, sb) for sa in streets_a for sb in streets_b) / 100.0

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
        token_alignment(a.name, b.name),
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


def _same_postcode(a: MatchRecord, b: MatchRecord) -> bool:
    return normalize_postcode(a.postcode) == normalize_postcode(b.postcode)


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
        if d is None and is_fine_postcode(a.postcode) and ev["postcode"] == "agree" and _same_postcode(a, b):
            logit += FINE_POSTCODE_NO_DISTANCE_LOGIT
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
