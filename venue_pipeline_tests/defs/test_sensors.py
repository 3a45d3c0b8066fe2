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
    assert len(bath.run_config["ops"]["city_galleries"]["config"]["provider_ids"]["venue_ids"]) == 3
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
    assert len(third.run_requests[0].run_config["ops"]["city_galleries"]["config"]["provider_ids"]["venue_ids"]) == 1
    assert int(third.cursor) > int(cursor)


def test_a_run_whose_worker_died_is_failed_and_its_city_asked_for_again(db_url: str, dagster_instance) -> None:
    """A launched city run tags its worker's host and pid; once that process is gone the sensor fails the run
    within one tick (run monitoring alone would wait for the run's time limit) and requests the city again."""
    import socket
    import subprocess
    import sys

    from dagster._core.test_utils import create_run_for_test

    from venue_pipeline.defs.sensors import reap_dead_runs_sensor
    from venue_pipeline.local_runs import RUN_HOST_TAG, RUN_PID_TAG

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    tags = {RUN_HOST_TAG: socket.gethostname(), RUN_PID_TAG: str(dead.pid), "dagster/partition": "exeter"}
    run = create_run_for_test(dagster_instance, job_name="enrich_city_job", status=dg.DagsterRunStatus.STARTED, tags=tags)
    alive = create_run_for_test(
        dagster_instance, job_name="enrich_city_job", status=dg.DagsterRunStatus.STARTED,
        tags={**tags, RUN_PID_TAG: str(subprocess.os.getppid()), "dagster/partition": "norwich"},
    )
    ctx = dg.build_sensor_context(instance=dagster_instance, resources={"venue_store": VenueStore(db_url=db_url)})
    result = reap_dead_runs_sensor(ctx)
    assert dagster_instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    assert dagster_instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED
    assert [(r.partition_key, r.run_key) for r in result.run_requests] == [("exeter", f"rerun-dead:{run.run_id}")]
    again = reap_dead_runs_sensor(dg.build_sensor_context(instance=dagster_instance, resources={"venue_store": VenueStore(db_url=db_url)}))
    assert again.run_requests == [] and "no run" in again.skip_reason.skip_message


def test_a_run_is_tagged_with_the_process_that_started_it(dagster_instance) -> None:
    """Steps of a launched run run in child processes that end before the run: the tag names the run worker."""
    from venue_pipeline.local_runs import RUN_PID_TAG, run_worker_tags

    @dg.op
    def step() -> int:
        return 1

    @dg.job
    def one_step() -> None:
        step()

    result = one_step.execute_in_process(instance=dagster_instance)
    start = dagster_instance.get_records_for_run(result.run_id, of_type=dg.DagsterEventType.RUN_START).records[0]
    assert run_worker_tags(dagster_instance, result.run_id)[RUN_PID_TAG] == str(start.event_log_entry.dagster_event.pid)
