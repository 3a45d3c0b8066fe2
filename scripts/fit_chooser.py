"""Fits the candidate chooser on real worlds: Geo-ER Pittsburgh train venues, threshold on valid, never test.

Usage: .venv/bin/python scripts/fit_chooser.py [--data DIR] [--target-precision 0.985] [--write]
For every venue of the osm_fsq and osm_yelp Pittsburgh worlds it asks the shipped Foursquare client,
through the sandbox serving the world in Foursquare's wire format, for the candidates the provider-ID
stage would see (250 m, and 500 m as the stage's wider second search), labels each candidate by the
world's truth, fits a ridge logistic regression over core.chooser.CHOOSER_FEATURES on train venues and
picks the lowest threshold whose end-to-end precision on valid venues (both sources pooled) is at least
the target for it and every higher threshold. --write stores weights and threshold in core/chooser.py.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fit_matcher import fit  # noqa: E402

from venue_pipeline.core import chooser  # noqa: E402
from venue_pipeline.core.ids import SEARCH_RADIUS_M, WIDE_SEARCH_RADIUS_M  # noqa: E402
from venue_pipeline.core.match_eval import shared_data_dir  # noqa: E402
from venue_pipeline.core.matching import MatchRecord  # noqa: E402
from venue_pipeline.evaluation.geo_er_world import build_geo_er_world  # noqa: E402
from venue_pipeline.providers.base import ProviderSettings  # noqa: E402
from venue_pipeline.providers.foursquare import FoursquareClient  # noqa: E402
from venue_pipeline.providers.memory_ledger import MemoryLedger  # noqa: E402
from venue_pipeline.sandbox.app import Sandbox  # noqa: E402
from venue_pipeline.sandbox.world_file import world_from_data  # noqa: E402

SOURCES = ("osm_fsq", "osm_yelp")
# A margin over the 0.98: valid holds ~900 venues, so its precision is known to about ±0.5 points.
TARGET_PRECISION = 0.985

Searches = list[tuple[list[str], np.ndarray, list[bool]]]


async def _candidate_sets(source_dir: Path) -> list[tuple[tuple[str, ...], Searches, frozenset[str]]]:
    data = build_geo_er_world(source_dir, "pit")
    sandbox = Sandbox(world_from_data(data))
    out = []
    async with httpx.AsyncClient(transport=sandbox.transport()) as http:
        client = FoursquareClient(
            ProviderSettings("foursquare", api_key="fit", rate_per_second=1e6), http, MemoryLedger()
        )
        gate = asyncio.Semaphore(32)

        async def one(v):  # type: ignore[no-untyped-def]
            if v.lat is None or v.lng is None:
                return None
            record = MatchRecord(v.name, v.lat, v.lng, v.address, v.postcode, city=v.city)
            truth = data.true_ids(v.id, "foursquare")
            searches: Searches = []
            async with gate:
                for radius in (SEARCH_RADIUS_M, WIDE_SEARCH_RADIUS_M):
                    places = await client.search(v.name, v.lat, v.lng, radius_m=radius)
                    views = chooser.candidate_views(record, [MatchRecord.from_place(p) for p in places])
                    x = np.array([vw.vector for vw in views]).reshape(len(views), len(chooser.CHOOSER_FEATURES))
                    ids = [p.place_id for p in places]
                    searches.append((ids, x, [i in truth for i in ids]))
            return v.splits, searches, truth

        for row in await asyncio.gather(*(one(v) for v in data.venues)):
            if row is not None:
                out.append(row)
    return out


def decide(searches: Searches, w: np.ndarray, threshold: float) -> str | None:
    """The stage's rule: the best candidate of the near search, else of the wide one, if it reaches the threshold."""
    for ids, x, _ in searches:
        if not ids:
            continue
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        i = int(np.argmax(p))
        if p[i] >= threshold:
            return ids[i]
    return None


def scores(rows, split: str, w: np.ndarray, threshold: float) -> tuple[float, float, int, int, int]:  # type: ignore[no-untyped-def]
    stored = correct = positives = 0
    for splits, searches, truth in rows:
        if split not in splits:
            continue
        positives += bool(truth)
        chosen = decide(searches, w, threshold)
        if chosen is not None:
            stored += 1
            correct += chosen in truth
    return (correct / stored if stored else 1.0), (correct / positives if positives else 1.0), stored, correct, positives


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=shared_data_dir())
    ap.add_argument("--target-precision", type=float, default=TARGET_PRECISION)
    ap.add_argument("--write", action="store_true", help="store the result in core/chooser.py")
    args = ap.parse_args()
    if args.data is None:
        raise SystemExit("shared data not found: pass --data or set VENUE_SHARED_DATA")
    rows = {src: asyncio.run(_candidate_sets(args.data / "geo_er" / src)) for src in SOURCES}
    xs, ys = [], []
    for src in SOURCES:
        for splits, searches, _truth in rows[src]:
            if "train" in splits:
                for ids, x, y in searches:
                    if ids:
                        xs.append(x)
                        ys.extend(y)
    w = fit(np.vstack(xs), np.array(ys, dtype=float))
    pooled = [r for src in SOURCES for r in rows[src]]
    threshold = 1.0
    for t in np.round(np.arange(0.99, 0.05, -0.01), 2):
        p, *_ = scores(pooled, "valid", w, float(t))
        if p < args.target_precision:
            break
        threshold = float(t)
    print("CHOOSER_COEFFICIENTS:")
    for name, coef in zip(chooser.CHOOSER_FEATURES, w):
        print(f"    {coef: .4f},  # {name}")
    print(f"CHOOSER_THRESHOLD = {threshold:.2f}")
    for src in SOURCES:
        for split in ("train", "valid"):
            p, r, stored, correct, positives = scores(rows[src], split, w, threshold)
            print(f"# {src} {split}: precision {p:.3f} recall {r:.3f} (stored {stored}, correct {correct}, venues with a true place {positives})")
    if args.write:
        write_module(w, threshold)


def write_module(w: np.ndarray, threshold: float) -> None:
    """Replace CHOOSER_COEFFICIENTS and CHOOSER_THRESHOLD in core/chooser.py."""
    path = Path(chooser.__file__)
    text = path.read_text(encoding="utf-8")
    body = "".join(f"    {c:.4f},  # {n}\n" for n, c in zip(chooser.CHOOSER_FEATURES, w))
    text, n1 = re.subn(
        r"CHOOSER_COEFFICIENTS: tuple\[float, \.\.\.\] = \(.*?\n\)\n",
        lambda _: f"CHOOSER_COEFFICIENTS: tuple[float, ...] = (\n{body})\n",
        text,
        count=1,
        flags=re.DOTALL,
    )
    text, n2 = re.subn(r"^CHOOSER_THRESHOLD = .*$", f"CHOOSER_THRESHOLD = {threshold:.2f}", text, count=1, flags=re.M)
    if n1 != 1 or n2 != 1:
        raise SystemExit("could not find CHOOSER_COEFFICIENTS / CHOOSER_THRESHOLD in core/chooser.py")
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
