"""Choosing among a search's candidates: a model fitted on real worlds, reading each candidate beside the others.

A wrong match puts a neighbour's photos in the gallery, so the chooser accepts a candidate only when the
fitted probability (gradient-boosted trees) that it is the venue reaches CHOOSER_THRESHOLD; the probability weighs the fitted pair
score (core.matching.score_pair) with what the other candidates say: the margin over the runner-up, rank
by name score and by distance, how many share its core name and whether it is the nearest of those, and
the words and address parts that differ. Model and threshold come from scripts/fit_chooser.py (Geo-ER
Pittsburgh worlds: fitted on train venues, threshold on valid venues, test never used); see docs/matching.md.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from rapidfuzz import fuzz

from venue_pipeline.core.matching import (
    FEATURE_NAMES,
    THRESHOLD,
    MatchDecision,
    MatchRecord,
    ScoreBreakdown,
    haversine_m,
    name_difference,
    score_pair,
)
from venue_pipeline.core.normalize import core_name

# Two core names this alike (token-sort ratio) are "the same name": two branches, or one place twice.
SAME_NAME_RATIO = 90
# Logit clip, so one saturated pair score does not swamp the rest.
LOGIT_CLIP = 12.0
# Margin given to a lone candidate: nothing else near competes with it.
LONE_MARGIN = 8.0

CHOOSER_FEATURES: tuple[str, ...] = FEATURE_NAMES + (
    "pair_logit",
    "margin_over_runner_up",
    "lone_candidate",
    "pair_rank_first",
    "distance_rank_first",
    "same_name_others",
    "nearest_of_same_name",
    "name_words_differ",
    "kind_word_added",
    "kind_word_dropped",
    "loose_words",
    "other_street",
    "log_candidates",
    "address_agrees",
    "core_name_first_word_agrees",
)

# Words that name another kind of business when a candidate adds them to the venue's name ("The Red Cow" /
# "Red Cow Café", "Plough Stores"): kind-of-place words of normalize.GENERIC_SUFFIXES plus shop words.
OTHER_BUSINESS_WORDS: frozenset[str] = frozenset({"stores", "store", "shop", "shops", "supermarket", "market"})
# Words that name a sibling of a place when added to its name ("Old Red Lion", "New Inn", "Little Chef").
SIBLING_WORDS: frozenset[str] = frozenset({"old", "new", "little", "great", "upper", "lower"})
# A venue without coordinates (geocoding) is outside what the chooser was fitted on (searches near a
# point), so there the pair score decides, and the best pair must beat any other by this much log-odds.
GEOCODE_MARGIN = 2.0
# Two acceptable places of one name this close to each other are one place listed twice at the provider
# ("Cogo's" / "Co Go's", "AutoZone" / "Auto Zone" at one address), not two branches: either is the venue.
# On the Geo-ER Pittsburgh train/valid worlds every such pair within 50 m was two listings of the venue.
DUPLICATE_LISTING_M = 50.0

# The fitted model: gradient-boosted trees over CHOOSER_FEATURES, written by scripts/fit_chooser.py (which
# needs scikit-learn; evaluating the trees here needs nothing). Re-run the script to refit.
MODEL_PATH = Path(__file__).with_name("chooser_model.json")


@dataclass(frozen=True, slots=True)
class _Tree:
    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]

    def predict(self, x: Sequence[float]) -> float:
        node = 0
        while self.left[node] != -1:  # sklearn's rule: x[feature] <= threshold goes left
            node = self.left[node] if x[self.feature[node]] <= self.threshold[node] else self.right[node]
        return self.value[node]


@dataclass(frozen=True, slots=True)
class ChooserModel:
    """Boosted trees: log-odds = init + learning_rate * sum of the trees' leaves."""

    features: tuple[str, ...]
    init: float
    learning_rate: float
    trees: tuple[_Tree, ...]
    threshold: float

    def log_odds(self, x: Sequence[float]) -> float:
        return self.init + self.learning_rate * sum(t.predict(x) for t in self.trees)

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> ChooserModel:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")), str(path))

    @classmethod
    def from_json(cls, raw: dict[str, Any], origin: str = "chooser model") -> ChooserModel:
        trees = tuple(
            _Tree(*(tuple(t[k]) for k in ("feature", "threshold", "left", "right", "value"))) for t in raw["trees"]
        )
        model = cls(tuple(raw["features"]), float(raw["init"]), float(raw["learning_rate"]), trees, float(raw["threshold"]))
        if model.features != CHOOSER_FEATURES:
            raise ValueError(f"{origin} was fitted on other features than CHOOSER_FEATURES: re-run scripts/fit_chooser.py")
        return model


@lru_cache(maxsize=1)
def model() -> ChooserModel:
    """The shipped model, read once."""
    return ChooserModel.load()


# The lowest threshold whose end-to-end precision on the valid worlds is >= 0.985 (and for every higher one).
CHOOSER_THRESHOLD: float = model().threshold if MODEL_PATH.exists() else 0.5

@dataclass(frozen=True, slots=True)
class CandidateView:
    """One candidate as the chooser sees it: its pair score and its place among the others."""

    pair: ScoreBreakdown
    vector: tuple[float, ...]


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1.0 - 1e-9)
    return max(-LOGIT_CLIP, min(LOGIT_CLIP, math.log(p / (1.0 - p))))


def candidate_views(venue: MatchRecord, candidates: Sequence[MatchRecord]) -> list[CandidateView]:
    """Every candidate's feature vector (order of CHOOSER_FEATURES), pair evidence beside relative evidence."""
    pairs = [score_pair(venue, c) for c in candidates]
    logits = [(-LOGIT_CLIP if p.rejected else _logit(p.score)) for p in pairs]
    dists = [p.distance_m if p.distance_m is not None else math.inf for p in pairs]
    cores = [core_name(c.name) for c in candidates]
    n = len(candidates)
    views: list[CandidateView] = []
    for i, (cand, pair) in enumerate(zip(candidates, pairs)):
        others = [logits[j] for j in range(n) if j != i]
        margin = logits[i] - max(others) if others else LONE_MARGIN
        same = [j for j in range(n) if j != i and cores[j] and fuzz.token_sort_ratio(cores[i], cores[j]) >= SAME_NAME_RATIO]
        nearest_same = all(dists[i] <= dists[j] for j in same)
        diff = name_difference(venue.name, cand.name, venue.city)
        vector = pair.features + (
            logits[i],
            max(-LOGIT_CLIP, min(LOGIT_CLIP, margin)),
            1.0 if n == 1 else 0.0,
            1.0 if logits[i] >= max(logits) else 0.0,
            1.0 if dists[i] <= min(dists) else 0.0,
            float(min(len(same), 3)),
            1.0 if same and nearest_same else 0.0,
            float(min(diff.distinct, 3)),
            float(min(len(diff.kind_added), 2)),
            float(min(len(diff.kind_dropped), 2)),
            float(min(len(diff.loose), 2)),
            1.0 if pair.street_similarity is not None and pair.street_similarity < 0.5 else 0.0,
            math.log(n),
            1.0 if pair.house_number == "agree" and (pair.street_similarity or 0.0) >= 0.8 else 0.0,
            1.0 if cores[i] and core_name(venue.name).split()[:1] == cores[i].split()[:1] else 0.0,
        )
        views.append(CandidateView(pair, vector))
    return views


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def probabilities(
    venue: MatchRecord, candidates: Sequence[MatchRecord], fitted: ChooserModel | None = None
) -> list[tuple[float, CandidateView]]:
    """Each candidate's fitted probability of being the venue, given all the others."""
    fitted = fitted or model()
    views = candidate_views(venue, candidates)
    return [
        (0.0 if v.pair.rejected else _sigmoid(fitted.log_odds(v.vector)), v)
        for v in views
    ]


def adds_another_kind(venue: MatchRecord, candidate: MatchRecord, pair: ScoreBreakdown | None = None) -> bool:
    """Whether the candidate's name adds a kind of business to the venue's ("Red Cow Café" for "The Red Cow")
    or names a sibling ("Old Red Cow")
    without the address to vouch for it (the same house number). Our venues' own names are authoritative,
    so such a candidate is a neighbour, not the venue; on the Geo-ER worlds this rule costs about one point
    of recall and no precision (docs/matching.md)."""
    diff = name_difference(venue.name, candidate.name, venue.city)
    added = diff.kind_added or (diff.extra & (OTHER_BUSINESS_WORDS | SIBLING_WORDS))
    if not added:
        return False
    pair = pair or score_pair(venue, candidate)
    return pair.house_number != "agree"


@dataclass(frozen=True, slots=True)
class Ranked:
    """One distinct candidate, scored: what decide() needs at any threshold."""

    place_id: str
    probability: float
    core: str
    another_kind: bool
    plausible_pair: bool
    lat: float | None = None
    lng: float | None = None

    def near(self, other: Ranked, metres: float) -> bool:
        """Whether both have coordinates and lie within `metres` of each other."""
        if None in (self.lat, self.lng, other.lat, other.lng):
            return False
        return haversine_m(self.lat, self.lng, other.lat, other.lng) <= metres  # type: ignore[arg-type]


def rank(
    venue: MatchRecord, candidates: Sequence[tuple[str, MatchRecord]], fitted: ChooserModel | None = None
) -> list[Ranked]:
    """The distinct candidates (a place listed twice counts once), most probable first."""
    unique: dict[str, MatchRecord] = {}
    for place_id, record in candidates:
        unique.setdefault(place_id, record)
    scored = [
        Ranked(
            pid,
            p,
            core_name(record.name),
            adds_another_kind(venue, record, view.pair),
            not view.pair.rejected and view.pair.score >= THRESHOLD,
            record.lat,
            record.lng,
        )
        for (pid, record), (p, view) in zip(unique.items(), probabilities(venue, list(unique.values()), fitted))
    ]
    return sorted(scored, key=lambda r: r.probability, reverse=True)


def decide(ranked: Sequence[Ranked], threshold: float = CHOOSER_THRESHOLD) -> MatchDecision:
    """Matched when the best candidate that does not add another kind of business to the venue's name
    reaches `threshold` and no other place of the same name more than DUPLICATE_LISTING_M away does too
    (two branches: `ambiguous`);
    otherwise `ambiguous` when two or more candidates are each a plausible pair, else `no_match`."""
    if not ranked:
        return MatchDecision("no_match", None, 0.0, 0.0, [])
    scores = [(r.place_id, r.probability) for r in ranked]
    for r in ranked:
        if r.probability < threshold:
            break
        if r.another_kind:
            continue
        twins = [
            o.probability
            for o in ranked
            if o is not r
            and o.probability >= threshold
            and fuzz.token_sort_ratio(r.core, o.core) >= SAME_NAME_RATIO
            and not r.near(o, DUPLICATE_LISTING_M)  # one place listed twice is no coin flip
        ]
        if twins:  # two acceptable places of one name (two branches): a coin flip is not a match
            return MatchDecision("ambiguous", None, r.probability, max(twins), scores)
        others = max((o.probability for o in ranked if o is not r), default=0.0)
        return MatchDecision("matched", r.place_id, r.probability, others, scores)
    runner_up = ranked[1].probability if len(ranked) > 1 else 0.0
    status = "ambiguous" if sum(r.plausible_pair for r in ranked) >= 2 else "no_match"
    return MatchDecision(status, None, ranked[0].probability, runner_up, scores)


def choose(
    venue: MatchRecord,
    candidates: Sequence[tuple[str, MatchRecord]],
    *,
    threshold: float = CHOOSER_THRESHOLD,
) -> MatchDecision:
    """The one candidate that is clearly this venue, or none: never "the first result" (see decide())."""
    if not venue.has_coordinates:
        return _choose_by_pair(venue, candidates)
    return decide(rank(venue, candidates), threshold)


def _choose_by_pair(venue: MatchRecord, candidates: Sequence[tuple[str, MatchRecord]]) -> MatchDecision:
    """Geocoding: the best pair at or above matching.THRESHOLD, GEOCODE_MARGIN log-odds clear of the next,
    and not another kind of business; name, address and (UK) postcode carry it since distance cannot."""
    unique: dict[str, MatchRecord] = {}
    for place_id, record in candidates:
        unique.setdefault(place_id, record)
    pairs = sorted(((pid, score_pair(venue, r)) for pid, r in unique.items()), key=lambda t: t[1].score, reverse=True)
    scores = [(pid, pair.score) for pid, pair in pairs]
    if not pairs:
        return MatchDecision("no_match", None, 0.0, 0.0, [])
    best_id, best = pairs[0]
    runner_up = pairs[1][1].score if len(pairs) > 1 else 0.0
    if best.score < THRESHOLD or adds_another_kind(venue, unique[best_id], best):
        return MatchDecision("no_match", None, best.score, runner_up, scores)
    # a neighbour of another kind ("Brickworks Hotel") is no rival to the venue's own listing
    rivals = [pair.score for pid, pair in pairs[1:] if not adds_another_kind(venue, unique[pid], pair)]
    if rivals and _logit(best.score) - _logit(rivals[0]) < GEOCODE_MARGIN:
        return MatchDecision("ambiguous", None, best.score, runner_up, scores)
    return MatchDecision("matched", best_id, best.score, runner_up, scores)
