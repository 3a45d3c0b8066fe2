"""Schedules: the nightly retry + report, and a bounded re-enrichment of stale venues, city by city."""

from datetime import datetime, timezone

import dagster as dg
from sqlalchemy import func, or_, select

from venue_pipeline.core.staleness import FRESH_WITH_IMAGES, FRESH_WITHOUT_IMAGES
from venue_pipeline.defs.jobs import enrich_city_job, retry_job
from venue_pipeline.defs.resources import VenueStore
from venue_pipeline.defs.sensors import venue_run_config
from venue_pipeline.store.schema import VenueImageRow, VenueRow

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
    description="05:00 UTC: re-discover stale venues (30 days with images, 7 without), a few cities per tick.",
)
def reenrich_stale_venues_schedule(context: dg.ScheduleEvaluationContext, venue_store: VenueStore):  # type: ignore[no-untyped-def]
    """Stale venues first, oldest check first; bounded so one tick never floods the providers."""
    now = context.scheduled_execution_time or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    has_images = (
        select(VenueImageRow.venue_id).where(VenueImageRow.status == "uploaded").distinct().scalar_subquery()
    )
    stale = or_(
        VenueRow.images_checked_at.is_(None),
        (VenueRow.id.in_(has_images)) & (VenueRow.images_checked_at <= now - FRESH_WITH_IMAGES),
        (VenueRow.id.not_in(has_images)) & (VenueRow.images_checked_at <= now - FRESH_WITHOUT_IMAGES),
    )
    with venue_store.session() as session:
        cities = session.execute(
            select(VenueRow.city_slug, func.count())
            .where(stale)
            .group_by(VenueRow.city_slug)
            .order_by(func.count().desc(), VenueRow.city_slug)
            .limit(CITIES_PER_TICK)
        ).all()
        requests = []
        for city, _count in cities:
            ids = session.scalars(
                select(VenueRow.id)
                .where(stale, VenueRow.city_slug == city)
                .order_by(VenueRow.images_checked_at.is_not(None), VenueRow.images_checked_at, VenueRow.id)
                .limit(VENUES_PER_CITY_PER_TICK)
            ).all()
            requests.append(
                dg.RunRequest(
                    run_key=f"reenrich:{now:%Y-%m-%d}:{city}",
                    partition_key=city,
                    run_config=venue_run_config(list(ids)),
                    tags={"trigger": "reenrich_stale", "venues": str(len(ids))},
                )
            )
    if not requests:
        return dg.SkipReason("no stale venue: every gallery was checked recently")
    return requests


