"""Cross-provider consensus: where two providers agree on a venue, that agreement judges a third.

When at least two providers matched the venue with high confidence, at places within a few tens of
metres of each other and with the same core name, their mean position is very likely the venue.
Another provider's choice is then checked against it: a matched place far from it (or differently
named and not next to it) is contradicted and becomes a rejection; a rejection (no_match or
ambiguous) whose candidates hold exactly one place right at the consensus with the same core name is
rescued. Everything else is left as the chooser decided. Pure domain: no I/O, no store, no provider.

The thresholds are conservative on the side of accepting (a wrong ID puts a neighbour's photos in a
gallery, a missed one only loses one provider's photos).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from venue_pipeline.core.matching import haversine_m
from venue_pipeline.core.normalize import ADDABLE_WORDS, FILLER_WORDS, core_name, normalize_name

# A match counts towards a consensus only this sure: well above the chooser's 0.81 acceptance.
HIGH_CONFIDENCE = 0.95
# Providers agree when their places are this close: pins of one building rarely differ by more.
AGREE_RADIUS_M = 50.0
# A matched place farther than this from the consensus is another place: two pins of one venue
# (each up to ~60 m off the door) are never this far apart, a neighbour down the street is.
CONTRADICT_RADIUS_M = 150.0
# A differently named place farther than this from the consensus is not the venue (same rule as agreeing).
CONTRADICT_OTHER_NAME_M = AGREE_RADIUS_M
# A rejected provider's candidate is rescued only this close to the consensus: inside the building.
RESCUE_RADIUS_M = 30.0
# ... and only if the chooser still gave it at least even odds of being the venue.
RESCUE_MIN_SCORE = 0.5

MATCHED = "matched"
AGREED = "agreed"  # one of the providers that make the consensus
CONFIRMED = "confirmed"  # a matched provider whose place agrees with the consensus
CONTRADICTED = "contradicted"  # a matched provider whose place disagrees: reject it
RESCUED = "rescued"  # a rejected provider with exactly one candidate at the consensus: accept it
NOT_RESCUED = "not_rescued"  # a rejected provider the consensus cannot help (kept as it was)
NO_CONSENSUS = "no_consensus"  # fewer than two providers agree (or two groups disagree)
STATUSES = (AGREED, CONFIRMED, CONTRADICTED, RESCUED, NOT_RESCUED, NO_CONSENSUS)


@dataclass(frozen=True)
class Candidate:
    """One place a provider returned for the venue, as far as consensus needs it."""

    place_id: str
    name: str
    lat: float | None
    lng: float | None
    score: float | None = None  # the chooser's assessed score, when known

    @property
    def located(self) -> bool:
        return self.lat is not None and self.lng is not None


@dataclass(frozen=True)
class ProviderChoice:
    """What one provider's chooser decided for the venue, with every candidate it chose among."""

    provider: str
    status: str  # "matched" | "no_match" | "ambiguous"
    chosen: Candidate | None = None  # the matched place
    score: float | None = None
    candidates: Sequence[Candidate] = ()


@dataclass(frozen=True)
class Consensus:
    """Two or more providers agreeing on the venue: who, where (their mean) and under which core name."""

    providers: tuple[str, ...]
    lat: float
    lng: float
    core: str
    spread_m: float  # largest distance between two agreeing places


@dataclass(frozen=True)
class Verdict:
    """What the consensus says about one provider's choice."""

    provider: str
    status: str
    place_id: str | None = None  # the rescued place, or the contradicted one
    score: float | None = None  # the rescued place's chooser score
    distance_m: float | None = None  # of the provider's (rescued or matched) place from the consensus
    reason: str = ""
    consensus: Consensus | None = None

    def evidence(self) -> dict[str, Any]:
        """The JSON a provider_ids record keeps under details["consensus"]."""
        out: dict[str, Any] = {"status": self.status}
        if self.consensus is not None:
            out["agreeing"] = list(self.consensus.providers)
            out["location"] = [round(self.consensus.lat, 6), round(self.consensus.lng, 6)]
            out["core_name"] = self.consensus.core
        if self.distance_m is not None:
            out["distance_m"] = round(self.distance_m, 1)
        if self.place_id is not None:
            out["place_id"] = self.place_id
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass
class ConsensusResult:
    consensus: Consensus | None
    verdicts: dict[str, Verdict] = field(default_factory=dict)


def same_core_name(a: str | None, b: str | None) -> bool:
    """Both names reduce to the same non-empty core ("The Anchor" and "Anchor Inn")."""
    ca = core_name(a)
    return bool(ca) and ca == core_name(b)


def _distance(a: Candidate, lat: float, lng: float) -> float:
    assert a.lat is not None and a.lng is not None
    return haversine_m(a.lat, a.lng, lat, lng)


def _group(choices: Sequence[ProviderChoice]) -> Consensus | None:
    places = {c.provider: c.chosen for c in choices if c.chosen is not None}
    providers = sorted(places)
    best: list[tuple[float, tuple[str, ...]]] = []
    for size in range(len(providers), 1, -1):
        for group in combinations(providers, size):
            pairs = [(places[a], places[b]) for a, b in combinations(group, 2)]
            if all(same_core_name(a.name, b.name) for a, b in pairs):
                spread = max(_distance(a, b.lat, b.lng) for a, b in pairs)  # type: ignore[arg-type]
                if spread <= AGREE_RADIUS_M:
                    best.append((spread, group))
        if best:
            break
    if not best:
        return None
    consensuses = []
    for spread, group in sorted(best):
        pts = [places[p] for p in group]
        lat = sum(p.lat for p in pts) / len(pts)  # type: ignore[misc]
        lng = sum(p.lng for p in pts) / len(pts)  # type: ignore[misc]
        consensuses.append(Consensus(group, lat, lng, core_name(pts[0].name), spread))
    first = consensuses[0]
    # two equally large groups that are not one place (or not one name): nobody is outvoted
    for other in consensuses[1:]:
        if other.core != first.core or haversine_m(first.lat, first.lng, other.lat, other.lng) > AGREE_RADIUS_M:
            return None
    return first


def find_consensus(choices: Sequence[ProviderChoice]) -> Consensus | None:
    """The largest group (≥ 2) of providers matched with score ≥ HIGH_CONFIDENCE whose places are
    mutually within AGREE_RADIUS_M and share one core name; None if there is none or two disagree."""
    strong = [
        c
        for c in choices
        if c.status == MATCHED
        and c.chosen is not None
        and c.chosen.located
        and c.score is not None
        and c.score >= HIGH_CONFIDENCE
    ]
    return _group(strong) if len(strong) >= 2 else None


def _judge_matched(choice: ProviderChoice, cons: Consensus) -> Verdict:
    chosen = choice.chosen
    assert chosen is not None
    if not chosen.located:
        return Verdict(choice.provider, NO_CONSENSUS, reason="matched place has no coordinates", consensus=cons)
    d = _distance(chosen, cons.lat, cons.lng)
    agreeing = " and ".join(cons.providers)
    if d > CONTRADICT_RADIUS_M:
        reason = f"{chosen.name!r} is {d:.0f} m from where {agreeing} agree (more than {CONTRADICT_RADIUS_M:.0f} m)"
        return Verdict(choice.provider, CONTRADICTED, chosen.place_id, choice.score, d, reason, cons)
    if not same_core_name(chosen.name, cons.core) and d > CONTRADICT_OTHER_NAME_M:
        reason = (
            f"{chosen.name!r} is named unlike {cons.core!r} and {d:.0f} m from where {agreeing} agree "
            f"(more than {CONTRADICT_OTHER_NAME_M:.0f} m)"
        )
        return Verdict(choice.provider, CONTRADICTED, chosen.place_id, choice.score, d, reason, cons)
    return Verdict(choice.provider, CONFIRMED, chosen.place_id, choice.score, d, consensus=cons)


def _adds_a_kind(name: str, core: str) -> bool:
    """Whether a name adds to the agreed core name a word other than those providers add to a pub's name
    ("Anchor Inn" for "Anchor" may be rescued; "Ribs Of Beef Café" or "… Tavern" next door may not)."""
    extra = set(normalize_name(name).split()) - set(core.split())
    return bool(extra - ADDABLE_WORDS - FILLER_WORDS)


def _judge_rejected(choice: ProviderChoice, cons: Consensus) -> Verdict:
    same_name = [c for c in choice.candidates if c.located and same_core_name(c.name, cons.core)]
    near = {
        c.place_id: c
        for c in same_name
        if _distance(c, cons.lat, cons.lng) <= RESCUE_RADIUS_M and not _adds_a_kind(c.name, cons.core)
    }
    if len(near) != 1:
        why = "no candidate" if not near else f"{len(near)} candidates"
        reason = f"{why} named {cons.core!r} within {RESCUE_RADIUS_M:.0f} m of the consensus"
        return Verdict(choice.provider, NOT_RESCUED, reason=reason, consensus=cons)
    (cand,) = near.values()
    d = _distance(cand, cons.lat, cons.lng)
    # a twin with the same core name a little farther away (the "… Café" next door) makes it a guess
    twins = {c.place_id for c in same_name if _distance(c, cons.lat, cons.lng) <= CONTRADICT_RADIUS_M} - {cand.place_id}
    if twins:
        reason = f"another place named {cons.core!r} within {CONTRADICT_RADIUS_M:.0f} m of the consensus"
        return Verdict(choice.provider, NOT_RESCUED, cand.place_id, cand.score, d, reason, cons)
    if cand.score is None or cand.score < RESCUE_MIN_SCORE:
        reason = f"{cand.name!r} scored {cand.score} by the chooser (below {RESCUE_MIN_SCORE})"
        return Verdict(choice.provider, NOT_RESCUED, cand.place_id, cand.score, d, reason, cons)
    reason = (
        f"was {choice.status}; {cand.name!r} is the only place named {cons.core!r} within "
        f"{RESCUE_RADIUS_M:.0f} m of where {' and '.join(cons.providers)} agree"
    )
    return Verdict(choice.provider, RESCUED, cand.place_id, cand.score, d, reason, cons)


def judge(choices: Sequence[ProviderChoice]) -> ConsensusResult:
    """The consensus (if any) and a verdict for every provider's choice."""
    cons = find_consensus(choices)
    out = ConsensusResult(cons)
    for choice in choices:
        if cons is None:
            out.verdicts[choice.provider] = Verdict(choice.provider, NO_CONSENSUS)
        elif choice.provider in cons.providers:
            d = _distance(choice.chosen, cons.lat, cons.lng)  # type: ignore[arg-type]
            place_id = choice.chosen.place_id if choice.chosen else None
            out.verdicts[choice.provider] = Verdict(choice.provider, AGREED, place_id, choice.score, d, consensus=cons)
        elif choice.status == MATCHED and choice.chosen is not None:
            out.verdicts[choice.provider] = _judge_matched(choice, cons)
        else:
            out.verdicts[choice.provider] = _judge_rejected(choice, cons)
    return out


def candidates_from(places: Sequence[Any], scores: Mapping[str, float] | None = None) -> list[Candidate]:
    """Candidates from any objects with place_id, name, lat and lng (providers' Places, MatchRecords)."""
    scores = scores or {}
    return [
        Candidate(p.place_id, p.name or "", p.lat, p.lng, scores.get(p.place_id))
        for p in places
        if getattr(p, "place_id", None)
    ]
