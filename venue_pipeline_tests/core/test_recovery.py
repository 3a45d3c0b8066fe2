"""core/recovery.py: jittered exponential backoff, and what a failure does to an image (retry later or retire)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from venue_pipeline.core.recovery import AMBIGUOUS_ATTEMPTS, BASE_DELAY, MAX_ATTEMPTS, MAX_DELAY, after_failure, backoff
from venue_pipeline.core.statuses import ImageStatus

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("attempts, ceiling", [(0, BASE_DELAY), (1, BASE_DELAY), (2, 2 * BASE_DELAY), (3, 4 * BASE_DELAY)])
def test_backoff_doubles_and_jitters_between_half_and_all_of_the_ceiling(attempts, ceiling):
    waits = [backoff(attempts, rng=random.Random(seed)) for seed in range(50)]
    assert all(ceiling / 2 <= w <= ceiling for w in waits)
    assert len(set(waits)) > 1  # jittered: one burst of failures does not retry in lockstep


def test_backoff_is_capped_and_reproducible_with_a_seeded_rng():
    assert all(backoff(40, rng=random.Random(s)) <= MAX_DELAY for s in range(20))
    assert backoff(3, rng=random.Random(1)) == backoff(3, rng=random.Random(1))
    assert backoff(1, base=timedelta(seconds=10), rng=random.Random(0)) <= timedelta(seconds=10)


def test_a_permanent_error_retires_the_image_at_once():
    assert after_failure("not_found", 1, NOW) == (ImageStatus.PERMANENTLY_FAILED, None)
    assert after_failure("file_too_large", 1, NOW, max_attempts=10) == (ImageStatus.PERMANENTLY_FAILED, None)


def test_a_transient_error_is_retried_until_max_attempts():
    for attempts in range(1, MAX_ATTEMPTS):
        status, when = after_failure("rate_limited", attempts, NOW, rng=random.Random(0))
        assert status is ImageStatus.FAILED and when is not None and when > NOW
    assert after_failure("rate_limited", MAX_ATTEMPTS, NOW) == (ImageStatus.PERMANENTLY_FAILED, None)
    status, _ = after_failure("service_unavailable", MAX_ATTEMPTS, NOW, max_attempts=MAX_ATTEMPTS + 1)
    assert status is ImageStatus.FAILED


@pytest.mark.parametrize("error_type", ["server_error", "download_failed", None, "no_such_type"])
def test_ambiguous_and_unknown_errors_get_one_retry(error_type):
    status, when = after_failure(error_type, AMBIGUOUS_ATTEMPTS - 1, NOW, rng=random.Random(0))
    assert status is ImageStatus.FAILED and when is not None
    assert after_failure(error_type, AMBIGUOUS_ATTEMPTS, NOW) == (ImageStatus.PERMANENTLY_FAILED, None)
    assert after_failure(error_type, 1, NOW, max_attempts=1) == (ImageStatus.PERMANENTLY_FAILED, None)
