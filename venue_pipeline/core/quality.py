"""How good a photo is for a venue gallery, from its dimensions alone (so it can rank before download)."""

from __future__ import annotations

UNKNOWN_SCORE = 0.1
FULL_RESOLUTION_PX = 4_000_000
MIN_SHORT_SIDE = 400

_EPS = 1e-9


def aspect_part(ratio: float) -> float:
    """The 0..0.3 aspect term: 4:3..16:9 landscape is what a gallery shows best."""
    if 4 / 3 - _EPS <= ratio <= 16 / 9 + _EPS:
        return 0.30
    if 1.0 <= ratio < 4 / 3:
        return 0.25
    if 16 / 9 < ratio <= 2.4:
        return 0.20
    if 0.75 <= ratio < 1.0:
        return 0.15
    return 0.0


def quality_score(width: int | None, height: int | None) -> float:
    """Gallery quality in [0, 1]; the original's formula with tiny, very tall and very wide images pushed down.

    Unknown or non-positive dimensions score 0.1 (the original's value). Otherwise, with
    r = width / height and short = min(width, height):

        score = 0.7 * min(width * height / 4_000_000, 1) + aspect(r)

        aspect(r) = 0.30  if 4/3 <= r <= 16/9   (the gallery sweet spot)
                    0.25  if 1   <= r <  4/3    (square-ish)
                    0.20  if 16/9 < r <= 2.4    (wide)
                    0.15  if 0.75 <= r < 1      (mild portrait)
                    0.00  otherwise             (very tall r < 0.75, very wide r > 2.4)

        score *= 0.5                    if r < 0.75 or r > 2.4  (strips crop badly in a gallery)
        score *= 0.25 * short / 400     if short < 400          (thumbnails look broken when shown)

    So a known-tiny image (short side < 400 px) always scores under 0.1, below one of unknown
    size; a strip scores at most 0.5; a 4:3..16:9 image with a short side of 400 px or more
    scores at least 0.3.
    """
    if not width or not height or width <= 0 or height <= 0:
        return UNKNOWN_SCORE
    ratio = width / height
    short = min(width, height)
    score = 0.7 * min(width * height / FULL_RESOLUTION_PX, 1.0) + aspect_part(ratio)
    if ratio < 0.75 or ratio > 2.4:
        score *= 0.5
    if short < MIN_SHORT_SIDE:
        score *= 0.25 * short / MIN_SHORT_SIDE
    return round(min(max(score, 0.0), 1.0), 4)
