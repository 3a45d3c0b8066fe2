"""When a venue's photos are due for discovery again: one rule, read by the city run and the re-enrichment schedule."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

FRESH_WITH_IMAGES = timedelta(days=30)
FRESH_WITHOUT_IMAGES = timedelta(days=7)


def due_providers(
    checked_at: datetime | None,
    has_images: bool,
    matched_at: Mapping[str, datetime],
    now: datetime,
    *,
    force: bool = False,
    fresh_with_images: timedelta = FRESH_WITH_IMAGES,
    fresh_without_images: timedelta = FRESH_WITHOUT_IMAGES,
) -> list[str]:
    """Providers whose photo list is due: all when forced, never checked, or stale (30 days with images,
    7 without); otherwise only providers whose ID was matched after the last check."""
    if force or checked_at is None:
        return sorted(matched_at)
    fresh_for = fresh_with_images if has_images else fresh_without_images
    if now - checked_at >= fresh_for:
        return sorted(matched_at)
    return sorted(p for p, when in matched_at.items() if when > checked_at)
