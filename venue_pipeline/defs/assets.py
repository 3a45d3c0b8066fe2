"""The four assets: each runs one core stage for a city and turns its summary into UI metadata."""


import dagster as dg
from pydantic import Field

from venue_pipeline.core.report import build_report
from venue_pipeline.defs.metadata import (
    discovery_metadata,
    ids_metadata,
    report_metadata,
    upload_metadata,
)
from venue_pipeline.defs.partitions import cities_partitions
from venue_pipeline.defs.resources import ImageCdn, ProviderApis, VenueStore, settings_for
from venue_pipeline.pipeline import run_discovery, run_provider_ids, run_uploads
from venue_pipeline.store.reports import save_snapshot

GROUP = "venue_galleries"


class ProviderIdsConfig(dg.Config):
    """Which venues and providers the ID stage works on."""

    providers: list[str] = Field(default=[], description="Providers to ask (empty: every enabled provider).")
    venue_ids: list[int] = Field(default=[], description="Only these venues of the city (empty: all).")
    force: bool = Field(default=False, description="Search again even where a match was recently rejected.")
    dry_run: bool = Field(default=False, description="Report what would change and what it would cost; store nothing.")
    first_success_only: bool = Field(
        default=False, description="Geocode new venues until the first provider succeeds (the old fallback mode)."
    )


class DiscoveryConfig(dg.Config):
    """Which venues and providers photo discovery works on."""

    providers: list[str] = Field(default=[], description="Providers to list photos from (empty: all).")
    venue_ids: list[int] = Field(default=[], description="Only these venues of the city (empty: all).")
    force: bool = Field(default=False, description="List photos again even for venues checked recently.")
    fresh_with_images_days: int = Field(
        default=30, description="A venue with uploaded images is re-discovered after this many days."
    )
    fresh_without_images_days: int = Field(
        default=7, description="A venue without any uploaded image is re-discovered after this many days."
    )


class UploadConfig(dg.Config):
    """Which images the upload stage copies to the CDN."""

    providers: list[str] = Field(default=[], description="Only images of these providers (empty: all).")
    venue_ids: list[int] = Field(default=[], description="Only these venues (empty: the whole city).")
    image_ids: list[int] = Field(default=[], description="Only these images (empty: every pending image).")


@dg.asset(
    partitions_def=cities_partitions,
    group_name=GROUP,
    kinds={"python", "sql"},
    pool="provider_api",
)
def provider_ids(
    context: dg.AssetExecutionContext,
    config: ProviderIdsConfig,
    venue_store: VenueStore,
    provider_apis: ProviderApis,
    image_cdn: ImageCdn,
) -> dg.MaterializeResult:
    """Every provider's place ID per venue: geocode venues without coordinates, search and match the rest."""
    summary = run_provider_ids(
        settings_for(venue_store, provider_apis, image_cdn),
        context.partition_key,
        venue_ids=config.venue_ids,
        providers=config.providers,
        force=config.force,
        dry_run=config.dry_run,
        first_success_only=config.first_success_only,
        run_id=context.run_id,
    )
    for reason in summary.disabled.values():
        context.log.warning(reason)
    return dg.MaterializeResult(metadata=ids_metadata(summary, provider_apis.quotas()))


@dg.asset(
    partitions_def=cities_partitions,
    deps=[provider_ids],
    group_name=GROUP,
    kinds={"python", "sql"},
    pool="provider_api",
)
def discovered_photos(
    context: dg.AssetExecutionContext,
    config: DiscoveryConfig,
    venue_store: VenueStore,
    provider_apis: ProviderApis,
    image_cdn: ImageCdn,
) -> dg.MaterializeResult:
    """Photo references from every provider that holds the venue, stored without secrets under gallery caps."""
    summary = run_discovery(
        settings_for(venue_store, provider_apis, image_cdn),
        context.partition_key,
        venue_ids=config.venue_ids,
        providers=config.providers,
        force=config.force,
        fresh_with_images_days=config.fresh_with_images_days,
        fresh_without_images_days=config.fresh_without_images_days,
        run_id=context.run_id,
    )
    for reason in summary.disabled.values():
        context.log.warning(reason)
    return dg.MaterializeResult(metadata=discovery_metadata(summary))


@dg.asset(
    partitions_def=cities_partitions,
    deps=[discovered_photos],
    group_name=GROUP,
    kinds={"python", "sql"},
    pool="image_upload",
)
def uploaded_images(
    context: dg.AssetExecutionContext,
    config: UploadConfig,
    venue_store: VenueStore,
    provider_apis: ProviderApis,
    image_cdn: ImageCdn,
) -> dg.MaterializeResult:
    """New photos copied to the image CDN, each ending uploaded or failed with a classified error."""
    settings = settings_for(venue_store, provider_apis, image_cdn)
    summary = run_uploads(
        settings,
        context.partition_key,
        venue_ids=config.venue_ids,
        image_ids=config.image_ids,
        providers=config.providers,
        run_id=context.run_id,
    )
    return dg.MaterializeResult(metadata=upload_metadata(summary, settings))


@dg.asset(deps=[uploaded_images], group_name=GROUP, kinds={"python", "sql"})
def image_failure_report(
    context: dg.AssetExecutionContext, venue_store: VenueStore, provider_apis: ProviderApis
) -> dg.MaterializeResult:
    """Failure analytics over the whole venue database, one snapshot per materialization for trends."""
    with venue_store.session() as session:
        report = build_report(session, provider_apis.quotas())
        save_snapshot(session, report, context.run_id)
    return dg.MaterializeResult(metadata=report_metadata(report))
