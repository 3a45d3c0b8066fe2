"""What happens to an image after a failed attempt: retry later with backoff, or retire it."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from venue_pipeline.core.errors import ErrorClass, classify
from venue_pipeline.core.statuses import ImageStatus

MAX_ATTEMPTS = 3
AMBIGUOUS_ATTEMPTS = 2
BASE_DELAY = timedelta(minutes=5)
MAX_DELAY = timedelta(hours=12)


def backoff(attempts: int, *, base: timedelta = BASE_DELAY, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with full jitter, so many failures of one burst don't retry in lockstep."""
    rng = rng or random.Random()
    # The exponent is capped (2**32 base delays is far past MAX_DELAY) so a large count cannot overflow timedelta.
    ceiling = min(MAX_DELAY, base * (2 ** min(max(attempts - 1, 0), 32)))
    return timedelta(seconds=ceiling.total_seconds() * (0.5 + rng.random() / 2))


def after_failure(
    error_type: str | None,
    attempts: int,
    now: datetime,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    rng: random.Random | None = None,
) -> tuple[str, datetime | None]:
    """(status, next_retry_at) after `attempts` failed attempts: permanent errors retire at once,
    ambiguous ones get one retry, transient ones up to max_attempts."""
    error_class = classify(error_type)
    if error_class is ErrorClass.PERMANENT:
        return ImageStatus.PERMANENTLY_FAILED, None
    limit = min(max_attempts, AMBIGUOUS_ATTEMPTS) if error_class is ErrorClass.AMBIGUOUS else max_attempts
    if attempts >= limit:
        return ImageStatus.PERMANENTLY_FAILED, None
    return ImageStatus.FAILED, now + backoff(attempts, rng=rng)
