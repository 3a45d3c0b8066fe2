"""The Dagster resources: set by the deployment only (environment, code), never by a run's config; nothing is
read at import.

A field left empty means "the environment when the run starts": `settings_for` reads the environment once, at
run time, and packs the three resources into the one `services.Settings` every stage takes (the flow is in
docs/architecture.md). Fields are set in Python only: an operator's code (`dg.EnvVar` works) or a test.
`deployment_resources` is what the code location binds: each resource behind a definition whose config
schema is empty, so a run config (Launchpad, GraphQL, RunRequest) that sets any resource field, a key, a URL,
a folder or a database URL, is refused by Dagster's config validation before a run exists. What a run may
choose is in the ops' configs (defs/assets.py: cities' venues, providers, force, dry run).
"""


import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg
from pydantic import Field

from venue_pipeline.config import default_db_url, default_image_dir
from venue_pipeline.providers.config import UNSET, resolve_provider_config
from venue_pipeline.providers.registry import API_KEY_ENV, PROVIDERS
from venue_pipeline.services import Settings
from venue_pipeline.store.db import Session, session_scope


class VenueStore(dg.ConfigurableResource):
    """The venue database every asset reads and writes (SQLite file by default, PostgreSQL in production)."""

    db_url: str = Field(
        default="",
        description="SQLAlchemy URL of the venue database; empty: VENUE_DB_URL, else the SQLite file under "
        "VENUE_PIPELINE_HOME, read when the run starts.",
    )

    @property
    def url(self) -> str:
        """The database URL; an empty field reads VENUE_DB_URL (else the state folder's SQLite file) now."""
        return self.db_url or default_db_url()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.url) as session:
            yield session


IMAGEKIT_URL_ENDPOINT = "https://ik.imagekit.io/venue_pipeline"
IMAGEKIT_FOLDER = "/venues"
_RATE_DOC = "{p} calls per second (a positive number); empty: {p}_RATE_PER_SECOND, else the plan's."
_QUOTA_DOC = "{p} calls a day: a whole number, or 'none' for no cap; empty: {p}_DAILY_QUOTA, else the plan's."
_BASE_DOC = (
    "Live mode: an http(s) base replacing scheme and host of every {p} API URL, paths kept (a proxy, a "
    "regional endpoint, a recorded server); empty: {p}_BASE_URL, else the provider's hosts."
)


class ProviderApis(dg.ConfigurableResource):
    """Provider access: the in-process sandbox by default, the real APIs with keys in live mode."""

    mode: str = Field(
        default="", description="sandbox (simulated providers) or live (real APIs); empty: VENUE_PROVIDER_MODE or sandbox."
    )
    here_api_key: str | None = Field(default=None, description="Empty: HERE_API_KEY when the run starts.")
    geoapify_api_key: str | None = Field(default=None, description="Empty: GEOAPIFY_API_KEY when the run starts.")
    foursquare_api_key: str | None = Field(default=None, description="Empty: FOURSQUARE_API_KEY when the run starts.")
    google_places_api_key: str | None = Field(
        default=None, description="Empty: GOOGLE_PLACES_API_KEY when the run starts."
    )
    sandbox_seed: int | None = Field(
        default=None, description="Seed of the sandbox world and its faults; empty: VENUE_SANDBOX_SEED, else 7."
    )
    sandbox_faults: str = Field(
        default="",
        description="Sandbox fault mix: none, default, heavy or outage; empty: VENUE_SANDBOX_FAULTS or default.",
    )
    sandbox_url: str | None = Field(
        default=None, description="A loopback sandbox server to use instead; empty: VENUE_SANDBOX_URL, else none."
    )
    sandbox_world: str | None = Field(
        default=None,
        description="A world file served by the sandbox instead of a world generated from the venues; empty: "
        "VENUE_SANDBOX_WORLD, else none.",
    )
    google_api: str = Field(
        default="", description="Google Places API flavour: new or legacy; empty: VENUE_GOOGLE_API, else new."
    )
    foursquare_api: str = Field(
        default="", description="Foursquare host: places (current) or v3; empty: VENUE_FOURSQUARE_API, else places."
    )

    # Limits and endpoints (providers/config.py). Empty fields are read from the environment when the run
    # starts (<PROVIDER>_RATE_PER_SECOND, _DAILY_QUOTA, _BASE_URL, VENUE_PROVIDER_PLAN), else the plan preset.
    plan: str = Field(
        default="",
        description="Limit preset: paid (each provider's published paid plan) or free (the original free-tier "
        "numbers: Foursquare 1/s and 500 a day, Geoapify 5/s and 3,000 a day); empty: VENUE_PROVIDER_PLAN, else paid.",
    )
    here_rate_per_second: float | None = Field(default=None, description=_RATE_DOC.format(p="HERE"))
    here_daily_quota: str = Field(default="", description=_QUOTA_DOC.format(p="HERE"))
    here_base_url: str = Field(default="", description=_BASE_DOC.format(p="HERE"))
    geoapify_rate_per_second: float | None = Field(default=None, description=_RATE_DOC.format(p="GEOAPIFY"))
    geoapify_daily_quota: str = Field(default="", description=_QUOTA_DOC.format(p="GEOAPIFY"))
    geoapify_base_url: str = Field(default="", description=_BASE_DOC.format(p="GEOAPIFY"))
    foursquare_rate_per_second: float | None = Field(default=None, description=_RATE_DOC.format(p="FOURSQUARE"))
    foursquare_daily_quota: str = Field(default="", description=_QUOTA_DOC.format(p="FOURSQUARE"))
    foursquare_base_url: str = Field(default="", description=_BASE_DOC.format(p="FOURSQUARE"))
    google_places_rate_per_second: float | None = Field(
        default=None, description=_RATE_DOC.format(p="GOOGLE_PLACES")
    )
    google_places_daily_quota: str = Field(default="", description=_QUOTA_DOC.format(p="GOOGLE_PLACES"))
    google_places_base_url: str = Field(default="", description=_BASE_DOC.format(p="GOOGLE_PLACES"))

    def resolved_mode(self, environ: Mapping[str, str] | None = None) -> str:
        return self.mode or _env(environ).get("VENUE_PROVIDER_MODE") or "sandbox"

    def resolved_faults(self, environ: Mapping[str, str] | None = None) -> str:
        return self.sandbox_faults or _env(environ).get("VENUE_SANDBOX_FAULTS") or "default"

    def resolved_seed(self, environ: Mapping[str, str] | None = None) -> int:
        if self.sandbox_seed is not None:
            return self.sandbox_seed
        raw = _env(environ).get("VENUE_SANDBOX_SEED", "").strip()
        try:
            return int(raw) if raw else 7
        except ValueError:
            raise ValueError(f"VENUE_SANDBOX_SEED={raw!r}: the sandbox seed must be a whole number") from None

    def api_keys(self, environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
        """Each provider's key: the field when code sets it (never run config), else its variable (registry.API_KEY_ENV)."""
        env = _env(environ)
        return {p: getattr(self, f"{p}_api_key") or env.get(API_KEY_ENV[p]) or None for p in PROVIDERS}

    def limit_settings(self) -> dict[str, object]:
        """The Settings fields for limits and endpoints: only what this resource sets (the rest falls through)."""
        quotas = {p: getattr(self, f"{p}_daily_quota") for p in PROVIDERS if getattr(self, f"{p}_daily_quota").strip()}
        return {
            "plan": self.plan,
            "rates": {p: getattr(self, f"{p}_rate_per_second") for p in PROVIDERS},
            "quotas": quotas,
            "base_urls": {p: getattr(self, f"{p}_base_url") or None for p in PROVIDERS},
        }

    def quotas(self) -> dict[str, int | None]:
        """Each provider's daily quota in force (None: no cap), for the report's quota-use column."""
        kw = self.limit_settings()
        return {
            p: resolve_provider_config(
                p,
                plan=kw["plan"] or None,  # type: ignore[arg-type]
                rate_per_second=kw["rates"][p],  # type: ignore[index]
                daily_quota=kw["quotas"].get(p, UNSET),  # type: ignore[attr-defined]
            ).daily_quota
            for p in PROVIDERS
        }


class ImageCdn(dg.ConfigurableResource):
    """Where photos are copied: a local folder by default, ImageKit when configured."""

    kind: str = Field(default="", description="local or imagekit; empty: VENUE_IMAGE_STORE, else local.")
    image_dir: str = Field(
        default="", description="Folder of the local image store; empty: VENUE_IMAGE_DIR, else images/ of the state folder."
    )
    imagekit_private_key: str | None = Field(default=None, description="Empty: IMAGEKIT_PRIVATE_KEY when the run starts.")
    imagekit_url_endpoint: str = Field(
        default="", description=f"ImageKit URL endpoint; empty: IMAGEKIT_URL_ENDPOINT, else {IMAGEKIT_URL_ENDPOINT}."
    )
    imagekit_folder: str = Field(
        default="", description=f"Root folder on ImageKit; empty: IMAGEKIT_FOLDER, else {IMAGEKIT_FOLDER}."
    )


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def settings_for(
    store: VenueStore, apis: ProviderApis, cdn: ImageCdn, environ: Mapping[str, str] | None = None
) -> Settings:
    """The stages' settings from the three resources: each empty field from the environment, read here, once,
    when the run starts (`environ` defaults to a snapshot of os.environ; the same snapshot resolves the
    provider limits later, so one run sees one environment)."""
    env = dict(os.environ) if environ is None else dict(environ)
    return Settings(
        db_url=store.db_url or default_db_url(env),
        provider_mode=apis.resolved_mode(env),
        api_keys=apis.api_keys(env),
        sandbox_seed=apis.resolved_seed(env),
        sandbox_faults=apis.resolved_faults(env),
        sandbox_url=apis.sandbox_url or env.get("VENUE_SANDBOX_URL") or None,
        sandbox_world=apis.sandbox_world or env.get("VENUE_SANDBOX_WORLD") or None,
        image_store=cdn.kind or env.get("VENUE_IMAGE_STORE") or "local",
        image_dir=cdn.image_dir or str(default_image_dir(env)),
        imagekit_private_key=cdn.imagekit_private_key or env.get("IMAGEKIT_PRIVATE_KEY") or None,
        imagekit_url_endpoint=cdn.imagekit_url_endpoint or env.get("IMAGEKIT_URL_ENDPOINT") or IMAGEKIT_URL_ENDPOINT,
        imagekit_folder=cdn.imagekit_folder or env.get("IMAGEKIT_FOLDER") or IMAGEKIT_FOLDER,
        google_api=apis.google_api or env.get("VENUE_GOOGLE_API") or "new",
        foursquare_api=apis.foursquare_api or env.get("VENUE_FOURSQUARE_API") or "places",
        environ=env,
        **apis.limit_settings(),  # type: ignore[arg-type]
    )


class ReportPolicy(dg.ConfigurableResource):
    """Alert thresholds of the failure report's checks; an empty field is read from its VENUE_* variable when
    the run starts, else the default. The checks receive the resolved copy (create_resource)."""

    max_transient_older_than_24h: int | None = Field(
        default=None,
        description="Transient failures on images older than 24 h tolerated before the check fails; empty: "
        "VENUE_MAX_TRANSIENT_OLDER_THAN_24H, else 25.",
    )
    permanent_rate_warn_pct: float | None = Field(
        default=None, description="Permanent failure rate that raises a WARN; empty: VENUE_PERMANENT_RATE_WARN_PCT, else 5."
    )
    permanent_rate_error_pct: float | None = Field(
        default=None,
        description="Permanent failure rate that raises an ERROR; empty: VENUE_PERMANENT_RATE_ERROR_PCT, else 15.",
    )

    def resolved(self, environ: Mapping[str, str] | None = None) -> "ReportPolicy":
        """A copy with every empty threshold filled from the environment, else the default."""
        env = _env(environ)

        def pick(value: float | None, var: str, default: float, kind: type) -> float:
            if value is not None:
                return kind(value)
            raw = env.get(var, "").strip()
            try:
                return kind(raw) if raw else kind(default)
            except ValueError:
                raise ValueError(f"{var}={raw!r}: expected a number") from None

        return ReportPolicy(
            max_transient_older_than_24h=pick(
                self.max_transient_older_than_24h, "VENUE_MAX_TRANSIENT_OLDER_THAN_24H", 25, int
            ),
            permanent_rate_warn_pct=pick(self.permanent_rate_warn_pct, "VENUE_PERMANENT_RATE_WARN_PCT", 5.0, float),
            permanent_rate_error_pct=pick(self.permanent_rate_error_pct, "VENUE_PERMANENT_RATE_ERROR_PCT", 15.0, float),
        )

    def create_resource(self, context: dg.InitResourceContext) -> "ReportPolicy":
        return self.resolved()


def build_resources() -> dict[str, dg.ConfigurableResource]:
    """The resources with every field empty: each is read from the environment when a run starts (no
    environment read here, so importing the code location reads nothing)."""
    return {
        "venue_store": VenueStore(),
        "provider_apis": ProviderApis(),
        "report_policy": ReportPolicy(),
        "image_cdn": ImageCdn(),
    }


DEPLOYMENT_NOTE = (
    "Set by the deployment (environment variables, the code location's resource definitions), not by run "
    "config: a run config setting any of its fields is refused."
)


def deployment_resource(resource: dg.ConfigurableResource) -> dg.ResourceDefinition:
    """`resource` as the code location binds it: a definition with an empty config schema (run config can set
    no field: Dagster rejects `resources: {<key>: {config: {...}}}` as an unexpected entry) that hands each run
    the resource as built in Python, `dg.EnvVar` fields resolved when the run starts."""

    @dg.resource(config_schema={}, description=f"{(resource.__doc__ or '').strip()} {DEPLOYMENT_NOTE}")
    def from_deployment(_context: dg.InitResourceContext) -> Iterator[Any]:
        with resource.process_config_and_initialize_cm() as value:
            yield value

    return from_deployment


@dg.io_manager(
    config_schema={},
    description="Dagster's filesystem IO manager under the instance's storage folder (DAGSTER_HOME); the "
    f"folder is not run config. {DEPLOYMENT_NOTE}",
)
def instance_storage_io_manager(context: dg.InitResourceContext) -> dg.IOManager:
    """Dagster's default IO manager without its `base_dir` field, which would let a run config write anywhere."""
    return dg.FilesystemIOManager().create_io_manager(context)


def deployment_resources(resources: Mapping[str, Any]) -> dict[str, Any]:
    """What the Definitions bind: every configurable resource behind `deployment_resource`, and the IO manager
    fixed to the instance's storage unless one is given (also without run config)."""
    bound: dict[str, Any] = {"io_manager": instance_storage_io_manager}
    for key, resource in resources.items():
        bound[key] = deployment_resource(resource) if isinstance(resource, dg.ConfigurableResource) else resource
    return bound
