"""Schedules: the nightly retry + report, and a bounded re-enrichment of stale venues, city by city."""

from datetime import datetime, timezone

import dagster as dg

from venue_pipeline.defs.jobs import enrich_city_job, retry_job
from venue_pipeline.defs.resources import VenueStore
from venue_pipeline.defs.run_config import venue_run_config
from venue_pipeline.store.provider_ids import owed_cities, owed_venue_ids
from venue_pipeline.store.venues import stale_cities, stale_venue_ids

daily_retry_schedule = dg.ScheduleDefinition(
    name="daily_retry_schedule",
    job=retry_job,
    cron_schedule="0 4 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="04:00 UTC: retry every due failure, then refresh the failure report.",
)

CITIES_PER_TICK = 5
VENUES_PER_CITY_PER_TICK = 200


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
        requests = []
        due: dict[str, int] = dict(owed_cities(session, CITIES_PER_TICK))  # quota-deferred work, the next day
        for city, count in stale_cities(session, now, CITIES_PER_TICK):
            due[city] = due.get(city, 0) + count
        for city in sorted(due, key=lambda c: (-due[c], c))[:CITIES_PER_TICK]:
            owed = owed_venue_ids(session, city, VENUES_PER_CITY_PER_TICK)
            stale = [v for v in stale_venue_ids(session, city, now, VENUES_PER_CITY_PER_TICK) if v not in owed]
            ids = sorted((owed + stale)[:VENUES_PER_CITY_PER_TICK])
            requests.append(
                dg.RunRequest(
                    run_key=f"reenrich:{now:%Y-%m-%d}:{city}",
                    partition_key=city,
                    run_config=venue_run_config(ids),
                    tags={"trigger": "reenrich_stale", "venues": str(len(ids))},
                )
            )
    if not requests:
        return dg.SkipReason("no stale venue: every gallery was checked recently")
    return requests


