"""Schedules: the nightly retry + report, and a bounded re-enrichment of stale venues, city by city."""

from datetime import datetime, timezone

import dagster as dg

from venue_pipeline.defs.jobs import enrich_city_job, retry_job
from venue_pipeline.defs.resources import VenueStore
from venue_pipeline.defs.run_config import venue_run_request
from venue_pipeline.store.reenrichment import due_venues

daily_retry_schedule = dg.ScheduleDefinition(
    name="daily_retry_schedule",
    job=retry_job,
    cron_schedule="0 4 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="04:00 UTC: retry every due failure, then refresh the failure report.",
)


@dg.schedule(
    job=enrich_city_job,
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "05:00 UTC: re-discover stale venues (30 days with images, 7 without) and ask again the work a daily quota "
        "deferred, a few cities per tick."
    ),
)
def reenrich_stale_venues_schedule(context: dg.ScheduleEvaluationContext, venue_store: VenueStore):  # type: ignore[no-untyped-def]
    """Quota-deferred work (the quotas reset at 00:00 UTC) and stale venues, oldest first; bounded so one tick never
    floods the providers."""
    now = context.scheduled_execution_time or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    with venue_store.session() as session:
        requests = [
            venue_run_request(f"reenrich:{now:%Y-%m-%d}:{city}", city, ids, "reenrich_stale")
            for city, ids in due_venues(session, now)
        ]
    if not requests:
        return dg.SkipReason("no stale venue: every gallery was checked recently")
    return requests


