"""Cities are the partition key: a city run processes all its venues in one run."""

import dagster as dg

cities_partitions = dg.DynamicPartitionsDefinition(name="cities")

CITIES_PER_BACKFILL_RUN = 10
"""A backfill over many cities groups them, so 300 cities cost 30 runs, not 300."""

CITY_RUN_TAG = "dagster/partition"
"""The tag Dagster puts on every single-partition run: the city slug. dagster.yaml's run queue limits it to one
run per value (tag_concurrency_limits with applyLimitPerUniqueValue); multi-city backfill runs carry a
partition range instead and are kept apart per city by the city lease (store/leases.py)."""
