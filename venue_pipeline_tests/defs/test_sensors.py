"""The new-venues sensor: partitions for new cities, one bounded run per city, a cursor that never repeats."""

from __future__ import annotations

import dagster as dg

from venue_pipeline.core.importer import VenueInput
from venue_pipeline.defs.resources import VenueStore
from venue_pipeline.defs.sensors import new_venues_sensor
from venue_pipeline.store import provider_ids
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.venues import list_venues, upsert_venues


def _venues(city: str, n: int, start: int = 0) -> list[VenueInput]:
    return [
        VenueInput("csv", f"{city}-{i}", f"Pub {i}", f"{i} High St", None, city.title(), city, "UK", 51.0, -1.0, False)
        for i in range(start, start + n)
    ]


def test_new_venues_add_partitions_and_one_run_per_city(db_url: str, dagster_instance) -> None:
    with session_scope(db_url) as s:
        upsert_venues(s, _venues("bath", 3) + _venues("york", 2))
    store = VenueStore(db_url=db_url)
    ctx = dg.build_sensor_context(instance=dagster_instance, resources={"venue_store": store})
    result = new_venues_sensor(ctx)
    keys = sorted(r.partition_key for r in result.run_requests)
    assert keys == ["bath", "york"]
    assert result.dynamic_partitions_requests[0].partition_keys == ["bath", "york"]
    bath = next(r for r in result.run_requests if r.partition_key == "bath")
    assert len(bath.run_config["ops"]["provider_ids"]["config"]["venue_ids"]) == 3
    assert bath.run_key.startswith("new-venues:bath:")
    cursor = result.cursor

    # nothing new: a skip with a reason, cursor unchanged
    again = new_venues_sensor(dg.build_sensor_context(instance=dagster_instance, cursor=cursor, resources={"venue_store": store}))
    assert not again.run_requests
    assert "no venue newer" in again.skip_reason.skip_message

    # venues that already have provider IDs are not new; fresh ones are
    with session_scope(db_url) as s:
        upsert_venues(s, _venues("bath", 2, start=10))
        newest = list_venues(s, city_slug="bath")[-1]
        provider_ids.save(s, [provider_ids.IdRecord(newest.id, "here", "matched", "manual", "here:pds:place:x", 1.0)])
    third = new_venues_sensor(dg.build_sensor_context(instance=dagster_instance, cursor=cursor, resources={"venue_store": store}))
    assert [r.partition_key for r in third.run_requests] == ["bath"]
    assert len(third.run_requests[0].run_config["ops"]["provider_ids"]["config"]["venue_ids"]) == 1
    assert int(third.cursor) > int(cursor)
