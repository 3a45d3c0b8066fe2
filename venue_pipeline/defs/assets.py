"""The assets: each runs one core stage and turns its summary into UI metadata."""

import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import dagster as dg
from pydantic import Field

from venue_pipeline.defs.metadata import (
    discovery_metadata,
    ids_metadata,
    limits_metadata,
    report_metadata,
    retry_metadata,
    upload_metadata,
)
from venue_pipeline.defs.partitions import CITIES_PER_BACKFILL_RUN, cities_partitions
from venue_pipeline.defs.resources import (
    ImageCdn,
    ProviderApis,
    VenueStore,
    settings_for,
)
from venue_pipeline.local_runs import RUN_PID_TAG, run_worker_tags
from venue_pipeline.pipeline import (
    IdsSummary,
    StageSummary,
    merge,
    run_discovery,
    run_provider_ids,
    run_retries,
    run_uploads,
)
from venue_pipeline.pipeline.common import progress_log
from venue_pipeline.pipeline.report import build_report
from venue_pipeline.services import Settings
from venue_pipeline.store import leases
from venue_pipeline.store.reports import save_snapshot

warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=dg.BetaWarning)

S = TypeVar("S", bound=StageSummary)

GROUP = "venue_galleries"
BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=CITIES_PER_BACKFILL_RUN)

PROVIDERS_FIELD = Field(default=[], description="Only these providers (empty: every enabled provider).")
VENUE_IDS_FIELD = Field(default=[], description="Only these venues of the city (empty: all).")
RETRY_ONLY_FIELD = Field(
    default=False,
    description="Retry failed images of the city from their stored references instead of discovering: "
    "no provider search or photo-list call.",
)


class CityStageConfig(dg.Config):
    """What every city asset's config holds: the providers to use and the retry-only switch; the other fields
    of a subclass are its stage's keyword arguments, by name."""

    providers: list[str] = PROVIDERS_FIELD
    retry_failed_only: bool = RETRY_ONLY_FIELD

    def stage_options(self) -> dict[str, Any]:
        """The keyword arguments of the stage: every field but retry_failed_only, which picks the path."""
        return self.model_dump(exclude={"retry_failed_only"})


class ProviderIdsConfig(CityStageConfig):
    """Which venues and providers the ID stage works on."""

    venue_ids: list[int] = VENUE_IDS_FIELD
    force: bool = Field(default=False, description="Search again even where a match was recently rejected.")
    dry_run: bool = Field(default=False, description="Report what would change and what it would cost; store nothing.")


class DiscoveryConfig(CityStageConfig):
    """Which venues and providers photo discovery works on."""

    venue_ids: list[int] = VENUE_IDS_FIELD
    force: bool = Field(default=False, description="List photos again even for venues checked recently.")
    fresh_with_images_days: int = Field(
        default=30, description="A venue with uploaded images is re-discovered after this many days."
    )
    fresh_without_images_days: int = Field(
        default=7, description="A venue without any uploaded image is re-discovered after this many days."
    )


class UploadConfig(CityStageConfig):
    """Which images the upload stage copies to the CDN."""

    venue_ids: list[int] = Field(default=[], description="Only these venues (empty: the whole city).")
    image_ids: list[int] = Field(default=[], description="Only these images (empty: every pending or due image).")


class RetryConfig(dg.Config):
    """Which failed images to retry; empty fields mean every due failure in the database."""

    city: str = Field(default="", description="Only this city slug (e.g. 'exeter'); empty: every city.")
    venue_ids: list[int] = Field(default=[], description="Only these venues' failed images.")
    image_ids: list[int] = Field(
        default=[], description="Only these images, retried now even if their backoff has not passed."
    )
    providers: list[str] = Field(default=[], description="Only images of these providers.")
    reopen_permanent: bool = Field(
        default=False,
        description="Re-open permanently failed images in the selection (operator override) and retry them.",
    )


CITY_ASSET: dict[str, Any] = {
    "partitions_def": cities_partitions,
    "backfill_policy": BACKFILL_POLICY,
    "group_name": GROUP,
    "kinds": {"python", "sql"},
}


def per_city(
    context: dg.AssetExecutionContext, stage: Callable[..., S], settings: Settings, config: CityStageConfig
) -> tuple[S | None, list[str]]:
    """Runs a stage with the config's options for each city of the run (one, or a backfill's batch), each
    under the city's lease (one writer per city across runs: a second run waits, then skips the city with
    the reason), adds up the summaries, logs why any provider was disabled; returns (summary, skip reasons)."""
    options = config.stage_options()
    summaries: list[S] = []
    skipped: list[str] = []

    def say(line: str) -> None:
        context.log.info(line)
        progress_log.info(line)

    if RUN_PID_TAG not in context.run.tags:  # a launched run: say which process works it, for the reaper
        context.instance.add_run_tags(context.run_id, run_worker_tags(context.instance, context.run_id))
    for city in context.partition_keys:
        with leases.hold(settings.db_url, leases.city_lease_name(city), context.run_id, progress=say) as lease:
            if lease.skipped:
                context.log.warning(lease.skipped)
                skipped.append(lease.skipped)
                continue
            summaries.append(stage(settings, city=city, run_id=context.run_id, **options))
    summary = merge(summaries) if summaries else None
    for reason in summary.disabled.values() if summary else ():
        context.log.warning(reason)
    return summary, skipped


def city_asset(
    context: dg.AssetExecutionContext,
    config: CityStageConfig,
    resources: tuple[VenueStore, ProviderApis, ImageCdn],
    stage: Callable[..., S],
    metadata: Callable[[S, Settings], dict[str, Any]],
    *,
    skip: str | None = None,
) -> dg.MaterializeResult:
    """A city asset's run: its stage per city and its metadata with the provider limits in force; with
    retry_failed_only, a stage named by `skip` skips itself (before reading any setting) and says so."""
    if skip and config.retry_failed_only:
        return dg.MaterializeResult(metadata={"skipped": dg.MetadataValue.text(f"{skip} skipped: retry_failed_only")})
    settings = settings_for(*resources)
    summary, skipped = per_city(context, stage, settings, config)
    lease_note = {"skipped": dg.MetadataValue.text("; ".join(skipped))} if skipped else {}
    if summary is None:
        return dg.MaterializeResult(metadata=lease_note)
    return dg.MaterializeResult(metadata={**metadata(summary, settings), **limits_metadata(settings), **lease_note})


def _ids_metadata(summary: IdsSummary, settings: Settings) -> dict[str, Any]:
    return ids_metadata(summary, {name: conf.daily_quota for name, conf in settings.provider_limits().items()})


@dg.asset(**CITY_ASSET, pool="provider_api")
def provider_ids(
    context: dg.AssetExecutionContext,
    config: ProviderIdsConfig,
    venue_store: VenueStore,
    provider_apis: ProviderApis,
    image_cdn: ImageCdn,
) -> dg.MaterializeResult:
    """Every provider's place ID per venue: geocode venues without coordinates, search and match the rest."""
    resources = (venue_store, provider_apis, image_cdn)
    return city_asset(context, config, resources, run_provider_ids, _ids_metadata, skip="provider IDs")


@dg.asset(**CITY_ASSET, deps=[provider_ids], pool="provider_api")
def discovered_photos(
    context: dg.AssetExecutionContext,
    config: DiscoveryConfig,
    venue_store: VenueStore,
    provider_apis: ProviderApis,
    image_cdn: ImageCdn,
) -> dg.MaterializeResult:
    """Photo references from every provider that holds the venue, stored without secrets under gallery caps."""
    resources = (venue_store, provider_apis, image_cdn)
    return city_asset(
        context, config, resources, run_discovery, lambda s, _: discovery_metadata(s), skip="photo discovery"
    )


@dg.asset(**CITY_ASSET, deps=[discovered_photos], pool="image_upload")
def uploaded_images(
    context: dg.AssetExecutionContext,
    config: UploadConfig,
    venue_store: VenueStore,
    provider_apis: ProviderApis,
    image_cdn: ImageCdn,
) -> dg.MaterializeResult:
    """New and due photos copied to the image CDN, each ending uploaded or failed with a classified error."""
    resources = (venue_store, provider_apis, image_cdn)
    if config.retry_failed_only:  # the city's due failures from their stored references: no provider search
        return city_asset(context, config, resources, run_retries, lambda s, _: retry_metadata(s))
    return city_asset(context, config, resources, run_uploads, upload_metadata)


@dg.asset(deps=[uploaded_images], group_name=GROUP, kinds={"python", "sql"}, pool="image_upload")
def image_retries(
    context: dg.AssetExecutionContext,
    config: RetryConfig,
    venue_store: VenueStore,
    provider_apis: ProviderApis,
    image_cdn: ImageCdn,
) -> dg.MaterializeResult:
    """Due failures retried from their stored references: transient ones with backoff, ambiguous ones once."""
    summary = run_retries(
        settings_for(venue_store, provider_apis, image_cdn),
        city=config.city or None,
        venue_ids=config.venue_ids,
        image_ids=config.image_ids,
        providers=config.providers,
        reopen_permanent=config.reopen_permanent,
        run_id=context.run_id,
    )
    if summary.circuit_note:
        context.log.warning(summary.circuit_note)
    return dg.MaterializeResult(metadata=retry_metadata(summary))


@dg.asset(deps=[uploaded_images, image_retries], group_name=GROUP, kinds={"python", "sql"})
def image_failure_report(
    context: dg.AssetExecutionContext, venue_store: VenueStore, provider_apis: ProviderApis
) -> dg.MaterializeResult:
    """Failure analytics over the whole venue database, one snapshot per materialization for trends."""
    with venue_store.session() as session:
        report = build_report(session, provider_apis.quotas())
        save_snapshot(session, report, context.run_id)
    return dg.MaterializeResult(metadata=report_metadata(report))
