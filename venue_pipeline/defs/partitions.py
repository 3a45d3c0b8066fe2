"""Cities are the partition key: a city run processes all its venues in one run."""

import os
from collections.abc import Mapping

import dagster as dg

from venue_pipeline.config import ConfigError

cities_partitions = dg.DynamicPartitionsDefinition(name="cities")

CITIES_PER_BACKFILL_RUN_ENV = "VENUE_CITIES_PER_BACKFILL_RUN"
DEFAULT_CITIES_PER_BACKFILL_RUN = 10


def cities_per_backfill_run(environ: Mapping[str, str] | None = None) -> int:
    """How many cities one backfill run takes: read when the code location loads, because a backfill policy is
    part of the definitions; a deployment with many run workers lowers it to spread a backfill over more runs."""
    raw = (os.environ if environ is None else environ).get(CITIES_PER_BACKFILL_RUN_ENV, "").strip()
    if not raw:
        return DEFAULT_CITIES_PER_BACKFILL_RUN
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{CITIES_PER_BACKFILL_RUN_ENV}={raw!r}: the cities per backfill run must be a whole number >= 1")
    return int(raw)


CITIES_PER_BACKFILL_RUN = cities_per_backfill_run()
"""A backfill over many cities groups them, so 300 cities cost 30 runs, not 300 (VENUE_CITIES_PER_BACKFILL_RUN)."""

CITY_RUN_TAG = "dagster/partition"
"""The tag Dagster puts on every single-partition run: the city slug. dagster.yaml's run queue limits it to one
run per value (tag_concurrency_limits with applyLimitPerUniqueValue); multi-city backfill runs carry a
partition range instead and are kept apart per city by the city lease (store/leases.py)."""
