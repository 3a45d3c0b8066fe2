"""Applies cross-provider consensus (core/consensus.py) to one venue's provider ID records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from venue_pipeline.core import consensus as cs
from venue_pipeline.core.ports import Place
from venue_pipeline.core.statuses import IdRecord, IdStatus


def _choice(record: IdRecord, places: Sequence[Place]) -> cs.ProviderChoice:
    scores = {c["place_id"]: c["score"] for c in (record.details or {}).get("candidates", []) if "place_id" in c}
    candidates = cs.candidates_from(places, scores)
    chosen = next((c for c in candidates if c.place_id == record.place_id), None) if record.status == IdStatus.MATCHED else None
    return cs.ProviderChoice(record.provider, record.status, chosen, record.score, candidates)


def apply_consensus(
    records: Sequence[IdRecord],
    places: Mapping[str, Sequence[Place]],
    *,
    now: datetime,
    cooldown: timedelta,
) -> tuple[list[IdRecord], cs.ConsensusResult | None]:
    """One venue's records, re-decided by consensus: a contradicted match becomes no_match, a rescued
    rejection becomes matched; every judged record keeps the evidence under details["consensus"].
    Records without their candidates (deferrals, other venues) pass through unchanged."""
    judged = [r for r in records if r.status in (IdStatus.MATCHED, IdStatus.NO_MATCH, IdStatus.AMBIGUOUS) and r.provider in places]
    if not judged:
        return list(records), None
    result = cs.judge([_choice(r, places[r.provider]) for r in judged])
    judged_ids = {id(r) for r in judged}
    out: list[IdRecord] = []
    for record in records:
        verdict = result.verdicts.get(record.provider) if id(record) in judged_ids else None
        if verdict is None:
            out.append(record)
            continue
        details = {**(record.details or {}), "consensus": verdict.evidence()}
        if verdict.status == cs.CONTRADICTED:
            details["consensus"]["was"] = record.status
            details["consensus"]["rejected_place_id"] = record.place_id
            out.append(
                replace(record, status=IdStatus.NO_MATCH, place_id=None, details=details, next_search_at=now + cooldown)
            )
        elif verdict.status == cs.RESCUED:
            details["consensus"]["was"] = record.status
            out.append(
                replace(
                    record,
                    status=IdStatus.MATCHED,
                    place_id=verdict.place_id,
                    score=verdict.score,
                    details=details,
                    next_search_at=None,
                )
            )
        else:
            out.append(replace(record, details=details))
    return out, result
