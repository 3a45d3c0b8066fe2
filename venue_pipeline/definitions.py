"""The one Definitions object of the code location (nothing here does I/O at import)."""

import dagster as dg

from venue_pipeline.defs.assets import discovered_photos, image_failure_report, provider_ids, uploaded_images
from venue_pipeline.defs.jobs import enrich_city_job, failure_report_job
from venue_pipeline.defs.resources import build_resources

defs = dg.Definitions(
    assets=[provider_ids, discovered_photos, uploaded_images, image_failure_report],
    jobs=[enrich_city_job, failure_report_job],
    resources=build_resources(),
)
