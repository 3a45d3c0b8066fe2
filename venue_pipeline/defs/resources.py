"""Resources built from the environment; secrets stay EnvVar references so the UI never shows them."""


import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import Field
from sqlalchemy.orm import Session

from venue_pipeline.config import default_db_url, default_image_dir
from venue_pipeline.providers.config import UNSET, resolve_provider_config
from venue_pipeline.services import KEY_ENV, PROVIDERS, Settings
from venue_pipeline.store.db import session_scope


class VenueStore(dg.ConfigurableResource):
    """The venue database every asset reads and writes (SQLite file by default, PostgreSQL in production)."""

    db_url: str = Field(
        default="",
        description="SQLAlchemy URL of the venue database; empty: VENUE_DB_URL, else the SQLite file under "
        "VENUE_PIPELINE_HOME, read when the run starts.",
    )

    @property
    def url(self) -> str:
        return self.db_url or default_db_url()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.url) as session:
            yield session


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
    here_api_key: str | None = None
    geoapify_api_key: str | None = None
    foursquare_api_key: str | None = None
    google_places_api_key: str | None = None
    sandbox_seed: int = Field(default=7, description="Seed of the sandbox world and its faults.")
    sandbox_faults: str = Field(
        default="",
        description="Sandbox fault mix: none, default, heavy or outage; empty: VENUE_SANDBOX_FAULTS or default.",
    )

    def resolved_mode(self) -> str:
        return self.mode or os.environ.get("VENUE_PROVIDER_MODE") or "sandbox"

    def resolved_faults(self) -> str:
        return self.sandbox_faults or os.environ.get("VENUE_SANDBOX_FAULTS") or "default"
    sandbox_url: str | None = Field(default=None, description="A loopback sandbox server to use instead.")
    sandbox_world: str | None = Field(
        default=None, description="A world file served by the sandbox instead of a world generated from the venues."
    )
    google_api: str = Field(default="new", description="Google Places API flavour: new or legacy.")
    foursquare_api: str = Field(default="places", description="Foursquare host: places (current) or v3.")

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

    def api_keys(self) -> dict[str, str | None]:
        return {
            "here": self.here_api_key,
            "geoapify": self.geoapify_api_key,
            "foursquare": self.foursquare_api_key,
            "google_places": self.google_places_api_key,
        }

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

    kind: str = Field(default="local", description="local or imagekit (VENUE_IMAGE_STORE).")
    image_dir: str = Field(
        default="", description="Folder of the local image store; empty: VENUE_IMAGE_DIR, else images/ of the state folder."
    )
    imagekit_private_key: str | None = None
    imagekit_url_endpoint: str = "https://ik.imagekit.io/venue_pipeline"
    imagekit_folder: str = "/venues"


def settings_for(store: VenueStore, apis: ProviderApis, cdn: ImageCdn) -> Settings:
    """The core's settings from the three resources."""
    return Settings(
        db_url=store.url,
        provider_mode=apis.resolved_mode(),
        api_keys=apis.api_keys(),
        sandbox_seed=apis.sandbox_seed,
        sandbox_faults=apis.resolved_faults(),
        sandbox_url=apis.sandbox_url,
        sandbox_world=apis.sandbox_world,
        image_store=cdn.kind,
        image_dir=cdn.image_dir or str(default_image_dir()),
        imagekit_private_key=cdn.imagekit_private_key,
        imagekit_url_endpoint=cdn.imagekit_url_endpoint,
        imagekit_folder=cdn.imagekit_folder,
        google_api=apis.google_api,
        foursquare_api=apis.foursquare_api,
        **apis.limit_settings(),  # type: ignore[arg-type]
    )


def _env(name: str, default: str | None = None) -> str | dg.EnvVar | None:
    """An EnvVar when the variable is set (resolved at run time, hidden in the UI), else the default."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def build_resources() -> dict[str, dg.ConfigurableResource]:  # noqa: D401
    """Resources from the environment: sandbox providers, local images and SQLite unless configured."""
    keys = {f"{p}_api_key": _env(env) for p, env in KEY_ENV.items()}
    return {
        "venue_store": VenueStore(db_url=_env("VENUE_DB_URL", "")),
        "provider_apis": ProviderApis(
            mode=_env("VENUE_PROVIDER_MODE", ""),
            sandbox_seed=int(os.environ.get("VENUE_SANDBOX_SEED", "7")),
            sandbox_faults=_env("VENUE_SANDBOX_FAULTS", ""),
            sandbox_url=_env("VENUE_SANDBOX_URL"),
            sandbox_world=_env("VENUE_SANDBOX_WORLD"),
            google_api=_env("VENUE_GOOGLE_API", "new"),
            foursquare_api=_env("VENUE_FOURSQUARE_API", "places"),
            **keys,
        ),
        "report_policy": ReportPolicy(
            max_transient_older_than_24h=int(os.environ.get("VENUE_MAX_TRANSIENT_OLDER_THAN_24H", "25")),
            permanent_rate_warn_pct=float(os.environ.get("VENUE_PERMANENT_RATE_WARN_PCT", "5")),
            permanent_rate_error_pct=float(os.environ.get("VENUE_PERMANENT_RATE_ERROR_PCT", "15")),
        ),
        "image_cdn": ImageCdn(
            kind=_env("VENUE_IMAGE_STORE", "local"),
            image_dir=_env("VENUE_IMAGE_DIR", ""),
            imagekit_private_key=_env("IMAGEKIT_PRIVATE_KEY"),
            imagekit_url_endpoint=_env("IMAGEKIT_URL_ENDPOINT", "https://ik.imagekit.io/venue_pipeline"),
            imagekit_folder=_env("IMAGEKIT_FOLDER", "/venues"),
        ),
    }


class ReportPolicy(dg.ConfigurableResource):
    """Alert thresholds of the failure report's checks (VENUE_* variables override the defaults)."""

    max_transient_older_than_24h: int = Field(
        default=25, description="Transient failures on images older than 24 h tolerated before the check fails."
    )
    permanent_rate_warn_pct: float = Field(default=5.0, description="Permanent failure rate that raises a WARN.")
    permanent_rate_error_pct: float = Field(default=15.0, description="Permanent failure rate that raises an ERROR.")
