"""The assets: each runs one core stage and turns its summary into UI metadata."""

import warnings
from collections.abc import Callable, Iterator
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
from venue_pipeline.defs.run_config import CITY_ASSETS
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
from venue_pipeline.pipeline.flow import run_city_flow
from venue_pipeline.pipeline.report import build_report
from venue_pipeline.services import Settings
from venue_pipeline.store import leases
from venue_pipeline.store.reports import save_snapshot

warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=dg.BetaWarning)

S = TypeVar("S", bound=StageSummary)
T = TypeVar("T")

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


class CityGalleriesConfig(dg.Config):
    """The city assets' config, one section per asset under its name (Launchpad: `ops.city_galleries.config`)."""

    provider_ids: ProviderIdsConfig = Field(default_factory=ProviderIdsConfig, description="The ID stage.")
    discovered_photos: DiscoveryConfig = Field(default_factory=DiscoveryConfig, description="Photo discovery.")
    uploaded_images: UploadConfig = Field(default_factory=UploadConfig, description="The uploads (or retries).")
    upload_worker: str = Field(
        default="auto",
        description="Where the pipelined flow runs its uploads: process (a process of their own, so they do not "
        "share one interpreter with the ID and discovery stages), thread, or auto (a process when the providers are "
        "reached over the network, live or a sandbox server; a thread with the in-process sandbox).",
    )

    def pipelined(self, selected: set[str]) -> bool:
        """The three stages run as one pipelined flow only when all three are selected, over the same venues, and
        none is a dry run, a retry-only run or a pick of single images; anything else runs stage by stage."""
        ids, discovery, uploads = self.provider_ids, self.discovered_photos, self.uploaded_images
        return (
            selected == set(CITY_ASSETS)
            and not (ids.dry_run or ids.retry_failed_only or discovery.retry_failed_only or uploads.retry_failed_only)
            and not uploads.image_ids
            and list(ids.venue_ids) == list(discovery.venue_ids) == list(uploads.venue_ids)
        )


def _ids_metadata(summary: IdsSummary, settings: Settings) -> dict[str, Any]:
    return ids_metadata(summary, {name: conf.daily_quota for name, conf in settings.provider_limits().items()})


def _spec(name: str, description: str, deps: list[str]) -> dg.AssetSpec:
    return dg.AssetSpec(name, description=description, deps=deps, group_name=GROUP, kinds={"python", "sql"})


CITY_SPECS = [
    _spec("provider_ids", "Every provider's place ID per venue: geocode venues without coordinates, search and match "
          "the rest.", []),
    _spec("discovered_photos", "Photo references from every provider that holds the venue, stored without secrets "
          "under gallery caps.", ["provider_ids"]),
    _spec("uploaded_images", "New and due photos copied to the image CDN, each ending uploaded or failed with a "
          "classified error.", ["discovered_photos"]),
]
# per asset: its config section, its stage, its metadata, and the stage named when retry_failed_only skips it
STAGES: dict[str, tuple[Callable[..., Any], Callable[[Any, Settings], dict[str, Any]], str | None]] = {
    "provider_ids": (run_provider_ids, _ids_metadata, "provider IDs"),
    "discovered_photos": (run_discovery, lambda s, _: discovery_metadata(s), "photo discovery"),
    "uploaded_images": (run_uploads, upload_metadata, None),
}


def per_city(
    context: dg.AssetExecutionContext, settings: Settings, work: Callable[[str], T]
) -> tuple[list[T], list[str]]:
    """Runs `work(city)` for each city of the run (one, or a backfill's batch), each under the city's lease (one
    writer per city across runs: a second run waits, then skips the city with the reason); returns the results
    and the skip reasons."""
    results: list[T] = []
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
            results.append(work(city))
    return results, skipped


def stage_result(
    context: dg.AssetExecutionContext,
    key: str,
    summaries: list[S],
    skipped: list[str],
    metadata: Callable[[S, Settings], dict[str, Any]],
    settings: Settings,
) -> dg.MaterializeResult:
    """One city asset's materialization: its summaries added up (logging why any provider was disabled), its
    metadata with the provider limits in force, and the cities its lease made it skip."""
    lease_note = {"skipped": dg.MetadataValue.text("; ".join(skipped))} if skipped else {}
    if not summaries:
        return dg.MaterializeResult(asset_key=key, metadata=lease_note)
    summary = merge(summaries)
    for reason in summary.disabled.values():
        context.log.warning(reason)
    return dg.MaterializeResult(
        asset_key=key, metadata={**metadata(summary, settings), **limits_metadata(settings), **lease_note}
    )


def stage_by_stage(
    context: dg.AssetExecutionContext, key: str, config: CityStageConfig, settings_of: Callable[[], Settings]
) -> dg.MaterializeResult:
    """One selected city asset run on its own, as before the flow: its stage per city; with retry_failed_only the
    ID and discovery stages skip themselves (before reading any setting) and uploads retry the city's failures."""
    stage, metadata, skip = STAGES[key]
    if config.retry_failed_only:
        if skip:
            return dg.MaterializeResult(asset_key=key, metadata={"skipped": dg.MetadataValue.text(f"{skip} skipped: retry_failed_only")})
        stage, metadata = run_retries, lambda s, _: retry_metadata(s)  # from stored references: no provider search
    settings = settings_of()
    options = config.stage_options()
    summaries, skipped = per_city(context, settings, lambda city: stage(settings, city=city, run_id=context.run_id, **options))
    return stage_result(context, key, summaries, skipped, metadata, settings)


def pipelined(
    context: dg.AssetExecutionContext, config: CityGalleriesConfig, settings: Settings
) -> Iterator[dg.MaterializeResult]:
    """The three city assets as one pipelined flow per city (pipeline/flow.py), one materialization each."""
    flows, skipped = per_city(
        context,
        settings,
        lambda city: run_city_flow(
            settings,
            city,
            ids=config.provider_ids.stage_options(),
            discovery=config.discovered_photos.stage_options(),
            uploads=config.uploaded_images.stage_options(),
            run_id=context.run_id,
            upload_worker=config.upload_worker,
        ),
    )
    by_stage = {"provider_ids": [f.ids for f in flows], "discovered_photos": [f.discovery for f in flows],
                "uploaded_images": [f.uploads for f in flows]}
    for key in CITY_ASSETS:
        yield stage_result(context, key, by_stage[key], skipped, STAGES[key][1], settings)


@dg.multi_asset(
    name="city_galleries",
    specs=CITY_SPECS,
    can_subset=True,
    partitions_def=cities_partitions,
    backfill_policy=BACKFILL_POLICY,
    pool="provider_api",
)
def city_galleries(
    context: dg.AssetExecutionContext,
    config: CityGalleriesConfig,
    venue_store: VenueStore,
    provider_apis: ProviderApis,
    image_cdn: ImageCdn,
) -> Iterator[dg.MaterializeResult]:
    """A city's galleries: provider IDs, discovered photos and uploads, pipelined venue by venue when all three run."""
    selected = {key.to_user_string() for key in context.selected_asset_keys}

    def settings_of() -> Settings:
        return settings_for(venue_store, provider_apis, image_cdn)

    if config.pipelined(selected):
        yield from pipelined(context, config, settings_of())
        return
    for key in CITY_ASSETS:
        if key in selected:
            yield stage_by_stage(context, key, getattr(config, key), settings_of)


@dg.asset(deps=["uploaded_images"], group_name=GROUP, kinds={"python", "sql"}, pool="image_upload")
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


@dg.asset(deps=["uploaded_images", image_retries], group_name=GROUP, kinds={"python", "sql"})
def image_failure_report(
    context: dg.AssetExecutionContext, venue_store: VenueStore, provider_apis: ProviderApis
) -> dg.MaterializeResult:
    """Failure analytics over the whole venue database, one snapshot per materialization for trends."""
    with venue_store.session() as session:
        report = build_report(session, provider_apis.quotas())
        save_snapshot(session, report, context.run_id)
    return dg.MaterializeResult(metadata=report_metadata(report))
