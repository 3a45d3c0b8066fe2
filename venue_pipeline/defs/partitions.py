"""Cities are the partition key: a city run processes all its venues in one run."""

import dagster as dg

cities_partitions = dg.DynamicPartitionsDefinition(name="cities")

CITIES_PER_BACKFILL_RUN = 10
"""A backfill over many cities groups them, so 300 cities cost 30 runs, not 300."""
