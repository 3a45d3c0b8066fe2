"""Choosing among a search's candidates: a model fitted on real worlds, reading each candidate beside the others.

A wrong match puts a neighbour's photos in the gallery, so the chooser accepts a candidate only when the
fitted probability that it is the venue reaches CHOOSER_THRESHOLD; the probability weighs the fitted pair
score (core.matching.score_pair) with what the other candidates say: the margin over the runner-up, rank
by name score and by distance, how many share its core name and whether it is the nearest of those, and
the words and address parts that differ. Weights and threshold come from scripts/fit_chooser.py (Geo-ER
Pittsburgh worlds: fitted on train venues, threshold on valid venues, test never used); see docs/matching.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from rapidfuzz import fuzz

from venue_pipeline.core.matching import (
    FEATURE_NAMES,
    THRESHOLD,
    MatchDecision,
    MatchRecord,
    ScoreBreakdown,
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

# Fitted by scripts/fit_chooser.py (order of CHOOSER_FEATURES). Re-run it to refit.
CHOOSER_COEFFICIENTS: tuple[float, ...] = (
    -3.7396,  # bias
    0.7758,  # name_sort
    1.7799,  # name_set
    -0.5780,  # name_core
    -0.5225,  # name_partial
    0.8810,  # name_aligned
    -0.7302,  # name_exact
    -0.9270,  # name_low
    0.6004,  # name_id_mismatch
    0.2077,  # name_contained
    0.4042,  # name_extra_sub_place
    -0.2820,  # name_contained_x_log_distance
    0.9671,  # log_distance
    0.1580,  # near_50m
    -0.0277,  # far_300m
    0.7569,  # house_number_agree
    0.7157,  # house_number_disagree
    -0.8013,  # street_similarity
    0.1711,  # postcode_agree
    1.0402,  # postcode_disagree
    -0.3564,  # name_x_log_distance
    1.0297,  # pair_logit
    0.0976,  # margin_over_runner_up
    -0.1279,  # lone_candidate
    0.5710,  # pair_rank_first
    -0.0708,  # distance_rank_first
    0.0047,  # same_name_others
    -0.0972,  # nearest_of_same_name
    -0.0819,  # name_words_differ
    0.1610,  # kind_word_added
    0.8485,  # kind_word_dropped
    -0.3743,  # loose_words
    -0.9012,  # other_street
    -0.7490,  # log_candidates
    -0.6748,  # address_agrees
    0.3806,  # core_name_first_word_agrees
)

# The lowest threshold whose end-to-end precision on the valid worlds is >= 0.985 (and for every higher one).
CHOOSER_THRESHOLD = 0.87


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


def probabilities(venue: MatchRecord, candidates: Sequence[MatchRecord]) -> list[tuple[float, CandidateView]]:
    """Each candidate's fitted probability of being the venue, given all the others."""
    views = candidate_views(venue, candidates)
    return [
        (0.0 if v.pair.rejected else _sigmoid(sum(w * x for w, x in zip(CHOOSER_COEFFICIENTS, v.vector))), v)
        for v in views
    ]


def adds_another_kind(venue: MatchRecord, candidate: MatchRecord, pair: ScoreBreakdown | None = None) -> bool:
    """Whether the candidate's name adds a kind of business to the venue's ("Red Cow Café" for "The Red Cow")
    without the address to vouch for it (the same house number). Our venues' own names are authoritative,
    so such a candidate is a neighbour, not the venue; on the Geo-ER worlds this rule costs about one point
    of recall and no precision (docs/matching.md)."""
    diff = name_difference(venue.name, candidate.name, venue.city)
    added = diff.kind_added or (diff.extra & OTHER_BUSINESS_WORDS)
    if not added:
        return False
    pair = pair or score_pair(venue, candidate)
    return pair.house_number != "agree"


def choose(
    venue: MatchRecord,
    candidates: Sequence[tuple[str, MatchRecord]],
    *,
    threshold: float = CHOOSER_THRESHOLD,
) -> MatchDecision:
    """The one candidate that is clearly this venue, or none: never "the first result".

    Matched when the best candidate that does not add another kind of business to the venue's name
    (adds_another_kind) reaches `threshold`; otherwise `ambiguous` when two
    or more candidates are each a plausible pair (pair score at least matching.THRESHOLD), else
    `no_match`. The same place listed twice counts once (its better listing)."""
    unique: dict[str, MatchRecord] = {}
    for place_id, record in candidates:
        unique.setdefault(place_id, record)
    if not unique:
        return MatchDecision("no_match", None, 0.0, 0.0, [])
    ids = list(unique)
    scored = sorted(
        ((pid, p, view) for pid, (p, view) in zip(ids, probabilities(venue, list(unique.values())))),
        key=lambda t: t[1],
        reverse=True,
    )
    ranked = [(pid, p) for pid, p, _ in scored]
    best_id, best, _ = scored[0]
    runner_up = scored[1][1] if len(scored) > 1 else 0.0
    for pid, p, view in scored:
        if p < threshold:
            break
        if adds_another_kind(venue, unique[pid], view.pair):
            continue
        core = core_name(unique[pid].name)
        twins = [
            other
            for other, q, _ in scored
            if other != pid and q >= threshold and fuzz.token_sort_ratio(core, core_name(unique[other].name)) >= SAME_NAME_RATIO
        ]
        if twins:  # two acceptable places of one name (two branches): a coin flip is not a match
            return MatchDecision("ambiguous", None, p, max(q for o, q, _ in scored if o in twins), ranked)
        others = max((q for other, q, _ in scored if other != pid), default=0.0)
        return MatchDecision("matched", pid, p, others, ranked)
    plausible = sum(1 for _, _, view in scored if not view.pair.rejected and view.pair.score >= THRESHOLD)
    status = "ambiguous" if plausible >= 2 else "no_match"
    return MatchDecision(status, None, best, runner_up, ranked)
