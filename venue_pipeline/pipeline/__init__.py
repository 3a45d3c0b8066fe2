"""The stages (provider IDs, discovery, upload, retry) from store to core and back; Dagster assets and the CLI
both call these, so both behave the same."""

from venue_pipeline.pipeline.common import record_outcome, with_retry
from venue_pipeline.pipeline.discovery import DiscoverySummary, run_discovery
from venue_pipeline.pipeline.ids import IdsSummary, run_provider_ids
from venue_pipeline.pipeline.retries import (
    GOOGLE_REFERENCE_LIFETIME,
    RetrySummary,
    circuit_state,
    run_retries,
)
from venue_pipeline.pipeline.stage import StageSummary, merge
from venue_pipeline.pipeline.uploads import UploadSummary, run_uploads

__all__ = [
    "GOOGLE_REFERENCE_LIFETIME",
    "DiscoverySummary",
    "IdsSummary",
    "RetrySummary",
    "StageSummary",
    "UploadSummary",
    "circuit_state",
    "merge",
    "record_outcome",
    "run_discovery",
    "run_provider_ids",
    "run_retries",
    "run_uploads",
    "with_retry",
]
