"""Cities are the partition key: a city run processes all its venues in one run."""

import dagster as dg

cities_partitions = dg.DynamicPartitionsDefinition(name="cities")
