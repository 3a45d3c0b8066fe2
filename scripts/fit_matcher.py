"""Refits the pair model's logistic-regression weights on Geo-ER train and its threshold on valid (never test).

Usage: .venv/bin/python scripts/fit_matcher.py [--data DIR] [--target-precision 0.98] [--write]
Prints the fitted COEFFICIENTS and THRESHOLD and the per-split numbers; --write stores them in
venue_pipeline/core/matching.py. Only numpy is needed (it comes with pandas); no scikit-learn.
Only score_pair()'s weights are fitted: choose()'s candidate penalties, the category and fine-postcode
nudges are hand-set (docs/matching.md, "Choosing among candidates") and this script leaves them alone.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from venue_pipeline.core.match_eval import read_geo_er, shared_data_dir
from venue_pipeline.core.matching import FEATURE_NAMES, MAX_DISTANCE_M, distance_m, features

SOURCES = ("osm_fsq", "osm_yelp")
L2 = 1.0  # ridge penalty on every weight but the bias


def load(data: Path, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature matrix, labels and a hard-reject mask for both sources' `split` files."""
    xs, ys, keep = [], [], []
    for src in SOURCES:
        pairs, skipped = read_geo_er(data / "geo_er" / src / f"pit_{split}.txt")
        assert not skipped, skipped[:3]
        for p in pairs:
            xs.append(features(p.a, p.b)[0])
            ys.append(p.label)
            d = distance_m(p.a, p.b)
            keep.append(d is None or d <= MAX_DISTANCE_M)
    return np.array(xs, dtype=float), np.array(ys, dtype=float), np.array(keep, dtype=bool)


def fit(x: np.ndarray, y: np.ndarray, l2: float = L2, iters: int = 50) -> np.ndarray:
    """Ridge logistic regression by Newton-Raphson (IRLS)."""
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) + penalty * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty) + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return w


def predict(x: np.ndarray, w: np.ndarray, keep: np.ndarray) -> np.ndarray:
    return np.where(keep, 1.0 / (1.0 + np.exp(-(x @ w))), 0.0)


def pr(scores: np.ndarray, y: np.ndarray, t: float) -> tuple[float, float]:
    pred = scores >= t
    tp = float(np.sum(pred & (y == 1)))
    fp = float(np.sum(pred & (y == 0)))
    return (tp / (tp + fp) if tp + fp else 1.0), tp / float(np.sum(y == 1))


def pick_threshold(scores: np.ndarray, y: np.ndarray, target_precision: float) -> float:
    """The lowest threshold whose precision, and that of every higher threshold, meets the target."""
    best = 1.0
    for t in np.round(np.arange(0.99, 0.0, -0.01), 2):
        p, _ = pr(scores, y, float(t))
        if p < target_precision:
            break
        best = float(t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=shared_data_dir())
    ap.add_argument("--target-precision", type=float, default=0.98)
    ap.add_argument("--write", action="store_true", help="store the result in core/matching.py")
    args = ap.parse_args()
    if args.data is None:
        raise SystemExit("shared data not found: pass --data or set VENUE_SHARED_DATA")

    x_tr, y_tr, k_tr = load(args.data, "train")
    x_va, y_va, k_va = load(args.data, "valid")
    # Weights from train only; the threshold from valid, which the weights never saw.
    w = fit(x_tr[k_tr], y_tr[k_tr])
    threshold = pick_threshold(predict(x_va, w, k_va), y_va, args.target_precision)
    print("FEATURE_NAMES / COEFFICIENTS:")
    for name, coef in zip(FEATURE_NAMES, w):
        print(f"    {coef: .4f},  # {name}")
    print(f"THRESHOLD = {threshold:.2f}")
    for split, (xs, ys, ks) in {"train": (x_tr, y_tr, k_tr), "valid": (x_va, y_va, k_va)}.items():
        p, r = pr(predict(xs, w, ks), ys, threshold)
        print(f"# {split} precision {p:.3f} recall {r:.3f}")
    if args.write:
        write_module(w, threshold)


def write_module(w: np.ndarray, threshold: float) -> None:
    """Replace the COEFFICIENTS tuple and THRESHOLD constant in core/matching.py."""
    path = Path(__file__).resolve().parents[1] / "venue_pipeline" / "core" / "matching.py"
    text = path.read_text(encoding="utf-8")
    body = "".join(f"    {c:.4f},  # {n}\n" for n, c in zip(FEATURE_NAMES, w))
    text, n1 = re.subn(
        r"COEFFICIENTS: tuple\[float, \.\.\.\] = \(.*?\n\)\n",
        lambda _: f"COEFFICIENTS: tuple[float, ...] = (\n{body})\n",
        text,
        count=1,
        flags=re.DOTALL,
    )
    text, n2 = re.subn(r"^THRESHOLD = .*$", f"THRESHOLD = {threshold:.2f}", text, count=1, flags=re.MULTILINE)
    if n1 != 1 or n2 != 1:
        raise SystemExit("could not find COEFFICIENTS / THRESHOLD in matching.py")
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
