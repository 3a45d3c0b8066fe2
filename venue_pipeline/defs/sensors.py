"""Sensors: new venues get their city partition and an enrichment run without anyone pressing a button."""

import dagster as dg

from venue_pipeline.defs.jobs import enrich_city_job
from venue_pipeline.defs.partitions import cities_partitions
from venue_pipeline.defs.resources import VenueStore
from venue_pipeline.defs.run_config import venue_run_request
from venue_pipeline.local_runs import reap_dead_runs
from venue_pipeline.store import images, provider_ids, reports, venues

NEW_VENUES_PER_TICK = 500


@dg.sensor(
    job=enrich_city_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New venues (by id, past the cursor) add their city partition and launch that city's run.",
)
def new_venues_sensor(context: dg.SensorEvaluationContext, venue_store: VenueStore) -> dg.SensorResult:
    """Cursor = the highest venue id already scanned, so each tick does bounded work and nothing repeats;
    only venues with no provider ID row yet count as new, and each run is limited to those venues."""
    cursor = int(context.cursor or 0)
    with venue_store.session() as session:
        scanned = venues.venues_after(session, cursor, NEW_VENUES_PER_TICK)
        if not scanned:
            return dg.SensorResult(skip_reason=f"no venue newer than id {cursor}")
        ids = [vid for vid, _ in scanned]
        with_ids = provider_ids.venues_with_ids(session, ids)
        backlog = venues.count_venues_after(session, cursor)
    last = ids[-1]
    fresh = [(vid, city) for vid, city in scanned if vid not in with_ids]
    if not fresh:
        return dg.SensorResult(skip_reason=f"venues up to id {last} already have provider IDs", cursor=str(last))
    by_city: dict[str, list[int]] = {}
    for vid, city in fresh:
        by_city.setdefault(city, []).append(vid)
    known = set(context.instance.get_dynamic_partitions(cities_partitions.name))
    new_cities = [c for c in sorted(by_city) if c not in known]
    context.log.info(f"{len(fresh)} new venues (backlog {backlog}) in {len(by_city)} cities; cursor {cursor} -> {last}")
    return dg.SensorResult(
        run_requests=[
            venue_run_request(f"new-venues:{city}:{last}", city, venue_ids, "new_venues")
            for city, venue_ids in sorted(by_city.items())
        ],
        dynamic_partitions_requests=[cities_partitions.build_add_request(new_cities)] if new_cities else [],
        cursor=str(last),
    )


RETRY_JOB_NAME = "retry_job"
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


@dg.asset_sensor(
    asset_key=dg.AssetKey("image_failure_report"),
    job_name=RETRY_JOB_NAME,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After each failure report with due retryable failures, launch the retry job (one at a time; "
    "skipped while a circuit breaker is open).",
)
def retry_after_report_sensor(
    context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry, venue_store: VenueStore
) -> dg.SensorResult:
    """The run key names the report (its run and time), so one report launches at most one retry run, ever."""
    from venue_pipeline.pipeline import circuit_state

    report_id = f"{asset_event.run_id or 'runless'}@{asset_event.timestamp:.3f}"
    in_flight = context.instance.get_run_records(
        dg.RunsFilter(job_name=RETRY_JOB_NAME, statuses=IN_FLIGHT), limit=1
    )
    if in_flight:
        return dg.SensorResult(skip_reason=f"retry run {in_flight[0].dagster_run.run_id[:8]} is still in progress")
    with venue_store.session() as session:
        due = images.due_failure_count(session)
        state = circuit_state(session)
    if state.retries_open:
        return dg.SensorResult(skip_reason=state.reason)
    if not due:
        return dg.SensorResult(skip_reason=f"report {report_id}: no retryable failure is due")
    note = f"; {state.reason}" if state.auth_open else ""
    context.log.info(f"report {report_id}: {due} due failures{note}")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=f"retry-after-report:{report_id}", tags={"trigger": "failure_report", "due": str(due)})
        ]
    )


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records failed runs in the venue database so the failure report counts them.",
)
def record_failed_runs_sensor(context: dg.RunFailureSensorContext, venue_store: VenueStore) -> None:
    """Failed runs are operational failures too; the report's failed_runs comes from here."""
    run = context.dagster_run
    message = context.failure_event.message if context.failure_event else None
    with venue_store.session() as session:
        reports.record_run_failure(
            session, run.run_id, run.job_name, run.tags.get("dagster/partition"), message
        )


@dg.sensor(
    job=enrich_city_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Runs whose worker process died (killed, out of memory) are marked failed and their city run again.",
)
def reap_dead_runs_sensor(context: dg.SensorEvaluationContext, venue_store: VenueStore) -> dg.SensorResult:
    """Dagster's default launcher cannot tell a dead run worker from a slow one; each city run tags itself with
    its host and pid, so a run whose process is gone is failed within one tick and its city asked for again."""
    reaped = reap_dead_runs(context.instance, venue_store.url)
    requests = []
    for run_id in reaped:
        run = context.instance.get_run_by_id(run_id)
        city = run.tags.get("dagster/partition") if run else None
        if run is not None and run.job_name == enrich_city_job.name and city:
            requests.append(dg.RunRequest(run_key=f"rerun-dead:{run_id}", partition_key=city, tags={"trigger": "dead_run"}))
    if not reaped:
        return dg.SensorResult(skip_reason="no run of this host whose process is gone")
    return dg.SensorResult(run_requests=requests)
