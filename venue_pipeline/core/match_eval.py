"""Measures the matcher on labelled public data (Geo-ER pairs, Locu-Foursquare NYC), read in place."""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from venue_pipeline.core.chooser import choose
from venue_pipeline.core.matching import THRESHOLD, MatchRecord, haversine_m, score_pair

# Candidates for a Locu venue are the Foursquare records within this radius.
LOCU_CANDIDATE_RADIUS_M = 1000.0

_FIELD_RE = re.compile(r"COL\s+(\w+)\s+VAL\s?(.*?)(?=\s*COL\s+\w+\s+VAL|\s*$)", re.DOTALL)


def shared_data_dir() -> Path | None:
    """The shared data folder (../shared/data beside the repo, or $VENUE_SHARED_DATA), if present."""
    repo_root = Path(__file__).resolve().parents[2]
    candidates = [repo_root.parent / "shared" / "data"]
    env = os.environ.get("VENUE_SHARED_DATA")
    if env:
        candidates.append(Path(env))
    for c in candidates:
        if c.is_dir():
            return c
    return None


@dataclass(frozen=True, slots=True)
class LabelledPair:
    """One Geo-ER line: two records and whether they are the same place."""

    line_no: int
    a: MatchRecord
    b: MatchRecord
    label: int


@dataclass(frozen=True, slots=True)
class SkippedLine:
    """A line that could not be read, kept so the report says where and why."""

    line_no: int
    reason: str


@dataclass(frozen=True, slots=True)
class EvalResult:
    """Confusion counts and rates of the matcher on one labelled file."""

    path: str
    pairs: int
    positives: int
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    skipped_lines: list[SkippedLine] = field(default_factory=list)


def _float_or_none(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a number: {text[:40]!r}") from None
    return value if value == value else None  # NaN means missing


def parse_entity(text: str) -> MatchRecord:
    """A Geo-ER entity ("COL name VAL ... COL latitude VAL ...") as a MatchRecord."""
    fields = {m.group(1): m.group(2).strip() for m in _FIELD_RE.finditer(text)}
    if "name" not in fields:
        raise ValueError("entity has no 'COL name VAL' field")
    lat = _float_or_none(fields.get("latitude", ""))
    lng = _float_or_none(fields.get("longitude", ""))
    if lat is not None and not -90 <= lat <= 90 or lng is not None and not -180 <= lng <= 180:
        raise ValueError("coordinates out of range")
    return MatchRecord(
        name=fields["name"],
        lat=lat,
        lng=lng,
        address=fields.get("address") or None,
        postcode=fields.get("postalCode") or fields.get("postcode") or None,
    )


def parse_geo_er_line(line: str, line_no: int) -> LabelledPair:
    """One `entity1 TAB entity2 TAB label` line; raises ValueError saying what is wrong."""
    parts = line.rstrip("\r\n").split("\t")
    if len(parts) != 3:
        raise ValueError(f"expected 3 tab-separated fields, found {len(parts)}")
    label_text = parts[2].strip()
    if label_text not in {"0", "1"}:
        raise ValueError(f"label must be 0 or 1, found {label_text[:20]!r}")
    return LabelledPair(line_no, parse_entity(parts[0]), parse_entity(parts[1]), int(label_text))


def read_geo_er(path: str | Path) -> tuple[list[LabelledPair], list[SkippedLine]]:
    """All readable pairs of a Geo-ER file, and the lines skipped with their line numbers."""
    pairs: list[LabelledPair] = []
    skipped: list[SkippedLine] = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                pairs.append(parse_geo_er_line(line, line_no))
            except ValueError as exc:
                skipped.append(SkippedLine(line_no, str(exc)))
    return pairs, skipped


def _result(path: str, labels: Sequence[int], predictions: Sequence[bool], skipped: list[SkippedLine]) -> EvalResult:
    tp = sum(1 for y, p in zip(labels, predictions) if y and p)
    fp = sum(1 for y, p in zip(labels, predictions) if not y and p)
    fn = sum(1 for y, p in zip(labels, predictions) if y and not p)
    return _counts(path, len(labels), sum(labels), tp, fp, fn, skipped)


def _counts(path: str, pairs: int, positives: int, tp: int, fp: int, fn: int, skipped: list[SkippedLine]) -> EvalResult:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return EvalResult(path, pairs, positives, tp, fp, fn, precision, recall, f1, skipped)


def evaluate_file(path: str | Path, threshold: float = THRESHOLD) -> EvalResult:
    """Precision/recall of score_pair >= threshold on one Geo-ER file."""
    pairs, skipped = read_geo_er(path)
    labels = [p.label for p in pairs]
    predictions = [score_pair(p.a, p.b).score >= threshold for p in pairs]
    return _result(str(path), labels, predictions, skipped)


def _locu_records(path: Path) -> Iterator[tuple[str, MatchRecord]]:
    for row in json.loads(path.read_text(encoding="utf-8")):
        yield str(row["id"]), MatchRecord(
            name=row.get("name") or "",
            lat=row.get("latitude"),
            lng=row.get("longitude"),
            address=row.get("street_address") or None,
            postcode=row.get("postal_code") or None,
        )


def evaluate_locu_foursquare(directory: str | Path) -> EvalResult:
    """choose() for each Locu venue among Foursquare venues within 1 km, scored against matches_train.csv."""
    directory = Path(directory)
    locu = list(_locu_records(directory / "locu_train.json"))
    fsq = list(_locu_records(directory / "foursquare_train.json"))
    with open(directory / "matches_train.csv", encoding="utf-8", newline="") as fh:
        truth = {row["locu_id"]: row["foursquare_id"] for row in csv.DictReader(fh)}
    tp = fp = 0
    for locu_id, venue in locu:
        if venue.has_coordinates:
            candidates = [
                (fid, rec)
                for fid, rec in fsq
                if rec.has_coordinates
                and haversine_m(venue.lat, venue.lng, rec.lat, rec.lng) <= LOCU_CANDIDATE_RADIUS_M  # type: ignore[arg-type]
            ]
        else:
            candidates = []
        decision = choose(venue, candidates)
        if decision.status != "matched":
            continue
        if truth.get(locu_id) == decision.place_id:
            tp += 1
        else:
            fp += 1
    positives = len(truth)
    fn = positives - tp
    return _counts(str(directory), len(locu), positives, tp, fp, fn, [])


def format_results(results: Sequence[EvalResult]) -> str:
    """One line per file: counts, precision, recall, F1, skipped lines."""
    lines = []
    for r in results:
        lines.append(
            f"{r.path}: pairs={r.pairs} positives={r.positives} tp={r.tp} fp={r.fp} fn={r.fn} "
            f"precision={r.precision:.3f} recall={r.recall:.3f} f1={r.f1:.3f} skipped={len(r.skipped_lines)}"
        )
        for s in r.skipped_lines[:10]:
            lines.append(f"  skipped line {s.line_no}: {s.reason}")
        if len(r.skipped_lines) > 10:
            lines.append(f"  ... and {len(r.skipped_lines) - 10} more skipped lines")
    return "\n".join(lines)


def main_match_eval(paths: list[str]) -> int:
    """`venue-pipeline match-eval FILE...`: Geo-ER files, or a Locu-Foursquare folder; 0 on success."""
    if not paths:
        print("match-eval: give one or more Geo-ER pair files or a locu_foursquare_nyc folder", file=sys.stderr)
        return 2
    results: list[EvalResult] = []
    for p in paths:
        path = Path(p)
        try:
            if path.is_dir():
                results.append(evaluate_locu_foursquare(path))
            else:
                results.append(evaluate_file(path))
        except (OSError, KeyError, json.JSONDecodeError) as exc:
            print(f"match-eval: cannot read {p}: {exc}", file=sys.stderr)
            return 1
    print(format_results(results))
    return 0
