"""The one Definitions object of the code location (nothing here does I/O at import)."""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from venue_pipeline.defs.assets import city_galleries, image_failure_report, image_retries
from venue_pipeline.defs.checks import image_invariants, provider_ids_are_real_ids, report_alerts
from venue_pipeline.defs.jobs import enrich_city_job, failure_report_job, reset_circuit_job, retry_job
from venue_pipeline.defs.resources import build_resources, deployment_resources
from venue_pipeline.defs.schedules import daily_retry_schedule, reenrich_stale_venues_schedule
from venue_pipeline.defs.sensors import (
    new_venues_sensor,
    reap_dead_runs_sensor,
    record_failed_runs_sensor,
    retry_after_report_sensor,
)


def build_definitions(resources: Mapping[str, Any] | None = None) -> dg.Definitions:
    """The code location; resources default to build_resources(): every field empty, so each run reads the
    environment when it starts (tests, or an operator's own code location, pass resources built in Python,
    `dg.EnvVar` fields included). Either way they are bound through `deployment_resources`: no resource
    field, and not the IO manager's folder, is run config, so the Launchpad cannot set a key, URL, path or
    database."""
    return dg.Definitions(
        assets=[city_galleries, image_retries, image_failure_report],
        asset_checks=[provider_ids_are_real_ids, image_invariants, report_alerts],
        jobs=[enrich_city_job, retry_job, failure_report_job, reset_circuit_job],
        schedules=[daily_retry_schedule, reenrich_stale_venues_schedule],
        sensors=[new_venues_sensor, retry_after_report_sensor, record_failed_runs_sensor, reap_dead_runs_sensor],
        resources=deployment_resources(resources if resources is not None else build_resources()),
    )


defs = build_definitions()
