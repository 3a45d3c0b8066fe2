"""Jobs operators launch: enrich a city end to end, or refresh the failure report."""

import dagster as dg

from venue_pipeline.defs.assets import discovered_photos, image_failure_report, provider_ids, uploaded_images
from venue_pipeline.defs.partitions import cities_partitions

enrich_city_job = dg.define_asset_job(
    name="enrich_city_job",
    selection=dg.AssetSelection.assets(provider_ids, discovered_photos, uploaded_images),
    partitions_def=cities_partitions,
    description="Find provider IDs, discover photos and copy them to the CDN for one city.",
)

failure_report_job = dg.define_asset_job(
    name="failure_report_job",
    selection=dg.AssetSelection.assets(image_failure_report),
    description="Recompute the failure report over the whole venue database.",
)
