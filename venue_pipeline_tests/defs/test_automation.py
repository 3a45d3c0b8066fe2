"""Schedules and sensors evaluated with Dagster's test contexts: run requests, run keys, skip reasons, cursors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dagster as dg
from sqlalchemy import select, update

from venue_pipeline.core.importer import VenueInput
from venue_pipeline.defs.resources import VenueStore
from venue_pipeline.defs.schedules import daily_retry_schedule, reenrich_stale_venues_schedule
from venue_pipeline.defs.sensors import record_failed_runs_sensor, retry_after_report_sensor
from venue_pipeline.store import circuits
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import ProviderIdRow, RunFailureRow, UploadAttemptRow, VenueImageRow, VenueRow
from venue_pipeline.store.venues import list_venues, upsert_venues

NOW = datetime.now(timezone.utc)


def _seed(db_url: str, failed: int = 3, due: bool = True) -> int:
    with session_scope(db_url) as s:
        upsert_venues(s, [VenueInput("csv", "1", "Red Lion", "1 High St", None, "Bath", "bath", "UK", 51.38, -2.36, False)])
        venue = list_venues(s)[0]
        for i in range(failed):
            s.add(VenueImageRow(
                venue_id=venue.id, provider="foursquare", photo_key=f"p{i}", reference="ref", status="failed",
                error_type="service_unavailable", error_class="transient", attempts=1, quality_score=0.5,
                next_retry_at=NOW - timedelta(minutes=1) if due else NOW + timedelta(hours=1),
                discovered_at=NOW, updated_at=NOW,
            ))
        return venue.id


def _report_event(instance: dg.DagsterInstance) -> dg.EventLogEntry:
    """A real materialization of image_failure_report in the instance's event log."""
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="image_failure_report"))
    record = instance.get_latest_materialization_event(dg.AssetKey("image_failure_report"))
    assert record is not None
    return record


def _evaluate(instance, db_url, event):  # type: ignore[no-untyped-def]
    """One tick, the way the daemon evaluates it (the sensor reads the newest report from the event log)."""
    from venue_pipeline.definitions import defs

    ctx = dg.build_sensor_context(
        instance=instance, resources={"venue_store": VenueStore(db_url=db_url)}, definitions=defs
    )
    return retry_after_report_sensor.evaluate_tick(ctx)


def test_retry_sensor_requests_one_run_per_report_with_due_failures(db_url, dagster_instance) -> None:
    _seed(db_url)
    event = _report_event(dagster_instance)
    result = _evaluate(dagster_instance, db_url, event)
    assert len(result.run_requests) == 1
    assert result.run_requests[0].run_key == f"retry-after-report:runless@{event.timestamp:.3f}"
    assert result.run_requests[0].tags["due"] == "3"


def test_retry_sensor_skips_without_due_failures(db_url, dagster_instance) -> None:
    _seed(db_url, due=False)
    result = _evaluate(dagster_instance, db_url, _report_event(dagster_instance))
    assert not result.run_requests and "no retryable failure is due" in result.skip_message


def test_retry_sensor_never_starts_a_second_retry_run(db_url, dagster_instance) -> None:
    _seed(db_url)
    dagster_instance.create_run_for_job(
        job_def=dg.GraphDefinition(name="noop", node_defs=[]).to_job(name="retry_job"),
        status=dg.DagsterRunStatus.STARTED,
    )
    result = _evaluate(dagster_instance, db_url, _report_event(dagster_instance))
    assert not result.run_requests and "still in progress" in result.skip_message


def test_circuit_breaker_opens_in_the_skip_reason_and_closes_on_reset(db_url, dagster_instance) -> None:
    vid = _seed(db_url)
    with session_scope(db_url) as s:
        image_id = s.query(VenueImageRow.id).filter(VenueImageRow.venue_id == vid).first()[0]
        for i in range(20):  # 5 of the last 20 retries succeeded: 25 %
            s.add(UploadAttemptRow(image_id=image_id, run_id="r", is_retry=True, started_at=NOW - timedelta(seconds=i),
                                   outcome="uploaded" if i % 4 == 0 else "failed", duration_ms=1))
    opened = _evaluate(dagster_instance, db_url, _report_event(dagster_instance))
    assert not opened.run_requests
    assert "retry circuit open: 25% of the last 20 retry attempts succeeded" in opened.skip_message
    with session_scope(db_url) as s:
        circuits.reset(s, circuits.RETRY_TARGET, "fixed")
    closed = _evaluate(dagster_instance, db_url, _report_event(dagster_instance))
    assert len(closed.run_requests) == 1


def _schedule_ctx(db_url: str, instance: dg.DagsterInstance) -> dg.ScheduleEvaluationContext:
    from venue_pipeline.definitions import defs

    instance.add_dynamic_partitions("cities", ["bath", "york", "leeds"])
    return dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=NOW,
        resources={"venue_store": VenueStore(db_url=db_url)},
        repository_def=defs.get_repository_def(),
    )


def test_daily_retry_schedule_runs_the_retry_job_at_four_utc() -> None:
    assert daily_retry_schedule.cron_schedule == "0 4 * * *"
    assert daily_retry_schedule.execution_timezone == "UTC"
    assert daily_retry_schedule.job_name == "retry_job"
    from venue_pipeline.definitions import defs

    ctx = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 22, 4, tzinfo=timezone.utc),
        repository_def=defs.get_repository_def(),
    )
    requests = daily_retry_schedule.evaluate_tick(ctx).run_requests
    assert len(requests) == 1


def test_reenrich_schedule_requests_stale_venues_city_by_city(db_url, dagster_instance) -> None:
    with session_scope(db_url) as s:
        upsert_venues(s, [
            VenueInput("csv", str(i), f"Pub {i}", "x", None, city.title(), city, "UK", 51.0, -1.0, False)
            for i, city in enumerate(["bath", "bath", "york", "leeds"])
        ])
        s.execute(update(VenueRow).where(VenueRow.city_slug == "leeds").values(images_checked_at=NOW))
        s.execute(update(VenueRow).where(VenueRow.external_id == "1").values(images_checked_at=NOW - timedelta(days=8)))
    ctx = _schedule_ctx(db_url, dagster_instance)
    result = reenrich_stale_venues_schedule.evaluate_tick(ctx)
    by_city = {r.partition_key: r for r in result.run_requests}
    assert sorted(by_city) == ["bath", "york"]  # leeds was checked today
    assert len(by_city["bath"].run_config["ops"]["city_galleries"]["config"]["discovered_photos"]["venue_ids"]) == 2
    assert by_city["bath"].run_key == f"reenrich:{NOW:%Y-%m-%d}:bath"


def test_reenrich_schedule_asks_quota_deferred_work_the_next_day(db_url, dagster_instance) -> None:
    """Issue 17: a venue checked yesterday whose Foursquare lookup or listing a quota deferred is asked again the
    next day (after the quota reset), not when its gallery goes stale in 30 days."""
    with session_scope(db_url) as s:
        upsert_venues(s, [
            VenueInput("csv", str(i), f"Pub {i}", "x", None, city.title(), city, "UK", 51.0, -1.0, False)
            for i, city in enumerate(["bath", "bath", "york", "leeds"])
        ])
        s.execute(update(VenueRow).values(images_checked_at=NOW - timedelta(days=1)))
        ids = {v.external_id: v.id for v in s.scalars(select(VenueRow))}
        yesterday = NOW - timedelta(days=1)
        s.add(ProviderIdRow(venue_id=ids["0"], provider="foursquare", status="deferred", method="search", matched_at=yesterday))
        # matched after the last listing, whose own listing the quota deferred
        s.add(ProviderIdRow(venue_id=ids["2"], provider="foursquare", status="matched", method="search", place_id="fsq1",
                            matched_at=yesterday + timedelta(minutes=5)))
        s.add(ProviderIdRow(venue_id=ids["3"], provider="foursquare", status="matched", method="search", place_id="fsq2",
                            matched_at=yesterday - timedelta(minutes=5)))  # listed since: nothing owed
    ctx = _schedule_ctx(db_url, dagster_instance)
    result = reenrich_stale_venues_schedule.evaluate_tick(ctx)
    by_city = {r.partition_key: r for r in result.run_requests}
    assert sorted(by_city) == ["bath", "york"]
    assert by_city["bath"].run_config["ops"]["city_galleries"]["config"]["discovered_photos"]["venue_ids"] == [ids["0"]]
    assert by_city["york"].run_config["ops"]["city_galleries"]["config"]["provider_ids"]["venue_ids"] == [ids["2"]]


def test_reenrich_schedule_skips_when_everything_is_fresh(db_url, dagster_instance) -> None:
    with session_scope(db_url) as s:
        upsert_venues(s, [VenueInput("csv", "1", "Pub", "x", None, "Bath", "bath", "UK", 51.0, -1.0, False)])
        s.execute(update(VenueRow).values(images_checked_at=NOW))
    ctx = _schedule_ctx(db_url, dagster_instance)
    result = reenrich_stale_venues_schedule.evaluate_tick(ctx)
    assert not result.run_requests and "no stale venue" in result.skip_message


def test_run_failure_sensor_records_the_failed_run(db_url, dagster_instance) -> None:
    @dg.op
    def boom() -> None:
        raise RuntimeError("provider outage")

    @dg.job
    def failing_job() -> None:
        boom()

    result = failing_job.execute_in_process(instance=dagster_instance, raise_on_error=False)
    assert not result.success
    run = dagster_instance.get_run_by_id(result.run_id)
    failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    ctx = dg.build_run_status_sensor_context(
        sensor_name="record_failed_runs_sensor", dagster_event=failure, dagster_instance=dagster_instance,
        dagster_run=run, resources={"venue_store": VenueStore(db_url=db_url)},
    ).for_run_failure()
    record_failed_runs_sensor(ctx)
    record_failed_runs_sensor(ctx)  # idempotent
    with session_scope(db_url) as s:
        rows = s.query(RunFailureRow).all()
    assert [(r.run_id, r.job_name) for r in rows] == [(result.run_id, "failing_job")]
