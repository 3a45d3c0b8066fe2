"""How many cities a backfill run takes: the deployment's knob, read when the code location loads."""

from __future__ import annotations

import pytest

from venue_pipeline.config import ConfigError
from venue_pipeline.defs.partitions import (
    CITIES_PER_BACKFILL_RUN_ENV,
    DEFAULT_CITIES_PER_BACKFILL_RUN,
    cities_per_backfill_run,
)


def test_ten_cities_per_backfill_run_by_default() -> None:
    assert cities_per_backfill_run({}) == DEFAULT_CITIES_PER_BACKFILL_RUN == 10
    assert cities_per_backfill_run({CITIES_PER_BACKFILL_RUN_ENV: " "}) == 10


def test_the_variable_sets_it() -> None:
    assert cities_per_backfill_run({CITIES_PER_BACKFILL_RUN_ENV: "1"}) == 1
    assert cities_per_backfill_run({CITIES_PER_BACKFILL_RUN_ENV: " 25 "}) == 25


@pytest.mark.parametrize("raw", ["0", "-3", "2.5", "ten", "1e3"])
def test_a_bad_value_is_refused_naming_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError, match=CITIES_PER_BACKFILL_RUN_ENV):
        cities_per_backfill_run({CITIES_PER_BACKFILL_RUN_ENV: raw})
