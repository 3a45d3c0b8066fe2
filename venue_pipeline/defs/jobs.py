"""Jobs operators launch: enrich a city, retry failures, refresh the report, reset a circuit breaker."""

import dagster as dg
from pydantic import Field

from venue_pipeline.defs.assets import city_galleries, image_failure_report, image_retries
from venue_pipeline.defs.partitions import cities_partitions
from venue_pipeline.defs.resources import VenueStore
from venue_pipeline.store import circuits

enrich_city_job = dg.define_asset_job(
    name="enrich_city_job",
    selection=dg.AssetSelection.assets(city_galleries),
    partitions_def=cities_partitions,
    description="Find provider IDs, discover photos and copy them to the CDN for one city, venue by venue: a "
    "venue's photos are listed and uploaded while the ID stage works on the others. Config: "
    "ops.city_galleries.config.{provider_ids,discovered_photos,uploaded_images}.",
)

retry_job = dg.define_asset_job(
    name="retry_job",
    selection=dg.AssetSelection.assets(image_retries, image_failure_report),
    description="Retry due failed images from their stored references (no provider search or photo-list "
    "call), then refresh the failure report. Config: city, venue_ids, image_ids, providers, reopen_permanent.",
    tags={"venue_pipeline/kind": "retry"},
)

failure_report_job = dg.define_asset_job(
    name="failure_report_job",
    selection=dg.AssetSelection.assets(image_failure_report),
    description="Recompute the failure report over the whole venue database.",
)


class ResetCircuitConfig(dg.Config):
    """Which breaker to close."""

    target: str = Field(
        default="retries",
        description="'retries' for the retry-success breaker, or 'auth:<provider>' (e.g. auth:google_places, "
        "auth:imagekit) after fixing a refused key.",
    )
    note: str = Field(default="", description="Why it is safe to resume (kept with the reset).")


@dg.op
def reset_circuit(context: dg.OpExecutionContext, config: ResetCircuitConfig, venue_store: VenueStore) -> None:
    """Closes a circuit breaker: only evidence after this moment can open it again."""
    with venue_store.session() as session:
        at = circuits.reset(session, config.target, config.note or None)
    context.log.info(f"circuit {config.target} reset at {at:%Y-%m-%d %H:%M:%S} UTC")


@dg.job(description="Close a circuit breaker after fixing its cause (the retry sensor resumes on its next tick).")
def reset_circuit_job() -> None:
    reset_circuit()
