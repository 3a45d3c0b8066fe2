"""Quality ranks gallery-worthy photos first: big landscape beats small, strips and thumbnails sink."""

from __future__ import annotations

import pytest

from venue_pipeline.core.quality import UNKNOWN_SCORE, quality_score


def test_unknown_dimensions_score_point_one() -> None:
    assert quality_score(None, None) == UNKNOWN_SCORE == 0.1
    assert quality_score(0, 600) == 0.1 and quality_score(800, None) == 0.1


def test_scores_stay_in_unit_interval() -> None:
    for w, h in [(1, 1), (100_000, 100_000), (10_000, 10), (10, 10_000), (4000, 3000)]:
        assert 0.0 <= quality_score(w, h) <= 1.0


def test_full_resolution_landscape_scores_one() -> None:
    assert quality_score(4000, 3000) == 1.0  # 12 MP, 4:3 (original formula: 0.7 + 0.3)


def test_gallery_ordering() -> None:
    ranked = [
        (4000, 3000),  # big 4:3
        (1920, 1080),  # 16:9 full HD
        (1600, 1200),  # Google's 1600 px 4:3
        (1200, 1600),  # portrait 3:4, same pixels: the landscape wins
        (1000, 1000),  # square
        (800, 600),  # small but fine
        (4000, 1000),  # panorama strip
        (600, 2000),  # very tall
    ]
    scores = [quality_score(w, h) for w, h in ranked]
    assert scores == sorted(scores, reverse=True), list(zip(ranked, scores, strict=True))
    assert len(set(scores)) == len(scores)


def test_tiny_images_rank_below_unknown_ones() -> None:
    for w, h in [(399, 300), (300, 200), (399, 709), (399, 100_000), (150, 100)]:
        assert quality_score(w, h) < UNKNOWN_SCORE, (w, h)
    assert quality_score(533, 400) > UNKNOWN_SCORE


@pytest.mark.parametrize(("w", "h"), [(800, 600), (1066, 600), (640, 400), (400, 711)[::-1]])
def test_sweet_spot_aspect_beats_same_area_square(w: int, h: int) -> None:
    side = int((w * h) ** 0.5)
    assert quality_score(w, h) > quality_score(side, side)


def test_very_wide_and_very_tall_are_poor() -> None:
    assert quality_score(4000, 1000) <= 0.5 and quality_score(1000, 4000) <= 0.5
    assert quality_score(4000, 1000) < quality_score(1600, 1200)
