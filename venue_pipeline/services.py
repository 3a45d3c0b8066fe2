"""The composition root: builds provider clients, the HTTP transport, the call ledger and the image store
from settings, so Dagster resources, the CLI and tests wire things the same way."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import func, select

from venue_pipeline.cdn.imagekit import ImageKitStore
from venue_pipeline.cdn.local import LocalImageStore
from venue_pipeline.core.download import redact_httpx_logs
from venue_pipeline.core.ports import ImageStore, ProviderClient
from venue_pipeline.providers.base import ProviderSettings
from venue_pipeline.providers.config import UNSET, ProviderLimitsConfig, display_url, resolve_provider_config
from venue_pipeline.providers.registry import PROVIDER_SPECS, PROVIDERS, build_clients, default_settings
from venue_pipeline.store.calls import DbCallLedger
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import VenueRow
from venue_pipeline.store.venues import list_venues

if TYPE_CHECKING:  # the simulator is imported only where the sandbox is built, never by production wiring
    from venue_pipeline.sandbox.app import Sandbox
    from venue_pipeline.sandbox.faults import FaultConfig

log = logging.getLogger(__name__)

SANDBOX_KEY = "sandbox-key"


def fault_preset(name: str) -> FaultConfig:
    """Named fault mixes for the sandbox: none, default (the demo's), heavy, or outage (heavy faults that clear)."""
    from venue_pipeline.sandbox.faults import FaultConfig

    presets = {
        "none": FaultConfig.none,
        "default": FaultConfig.default,
        "heavy": FaultConfig.heavy,
        "outage": FaultConfig.outage,
    }
    if name not in presets:
        raise ValueError(f"unknown sandbox fault preset {name!r}; choose one of {sorted(presets)}")
    return presets[name]()


@dataclass
class Settings:
    """Everything the pipeline needs to talk to the outside world; secrets arrive from the environment."""

    db_url: str
    provider_mode: str = "sandbox"
    api_keys: dict[str, str | None] = field(default_factory=dict)
    providers: tuple[str, ...] = PROVIDERS
    sandbox_seed: int = 7
    sandbox_faults: str = "default"
    sandbox_url: str | None = None
    sandbox_world: str | None = None  # a world file (sandbox/world_file.py) served instead of a generated world
    image_store: str = "local"
    image_dir: str = ".venue_pipeline/images"
    imagekit_private_key: str | None = None
    imagekit_url_endpoint: str = "https://ik.imagekit.io/venue_pipeline"
    imagekit_folder: str = "/venues"
    google_api: str = "new"
    foursquare_api: str = "places"
    sandbox_rate_scale: float = 20.0
    sandbox_fill_keys: bool = True
    # Limits and endpoints (providers/config.py): an entry here wins over the environment
    # (<PROVIDER>_RATE_PER_SECOND, _DAILY_QUOTA, _BASE_URL), which wins over the plan preset.
    # plan: paid or free; empty: VENUE_PROVIDER_PLAN, else paid. quotas: None is "no cap"; a missing entry
    # falls through. base_urls are honoured in live mode only (the sandbox routes by the real hosts).
    quotas: dict[str, int | str | None] = field(default_factory=dict)
    plan: str = ""
    rates: dict[str, float | None] = field(default_factory=dict)
    base_urls: dict[str, str | None] = field(default_factory=dict)
    # The environment the limits fall through to: a snapshot taken once when a run starts
    # (defs/resources.py settings_for); None reads os.environ when the limits are resolved.
    environ: Mapping[str, str] | None = field(default=None, repr=False)

    def provider_limits(self) -> dict[str, ProviderLimitsConfig]:
        """Each provider's plan, rate, daily quota and base URL as configured (validated; before sandbox scaling)."""
        out = {}
        for name in self.providers:
            if name not in PROVIDER_SPECS:
                raise ValueError(f"unknown provider {name!r}; known: {sorted(PROVIDER_SPECS)}")
            out[name] = resolve_provider_config(
                name,
                plan=self.plan or None,
                rate_per_second=self.rates.get(name),
                daily_quota=self.quotas.get(name, UNSET),
                base_url=self.base_urls.get(name),
                environ=self.environ,
            )
        return out

    def endpoint_in_force(self, name: str, conf: ProviderLimitsConfig) -> str:
        """Where this provider's calls go, safe to show (no userinfo or query): for run metadata."""
        if self.provider_mode != "live":
            return f"sandbox {display_url(self.sandbox_url)}" if self.sandbox_url else "sandbox (in-process)"
        return display_url(conf.base_url) if conf.base_url else "provider default"

    def provider_settings(self) -> list[ProviderSettings]:
        """Per-provider settings: plan limits (or configured ones), the selected API flavour, the base URL
        (live mode) and the key (a sandbox key in sandbox mode)."""
        out = []
        for name, conf in self.provider_limits().items():
            base = default_settings(name, plan=conf.plan)
            key = self.api_keys.get(name)
            if not key and self.provider_mode == "sandbox" and self.sandbox_fill_keys:
                key = SANDBOX_KEY
            options = dict(base.options)
            if name == "google_places":
                options["api"] = self.google_api
            if name == "foursquare":
                options["api"] = self.foursquare_api
            rate = conf.rate_per_second
            if self.provider_mode == "sandbox" and not self.sandbox_url:
                rate *= self.sandbox_rate_scale  # the simulator is in-process: don't wait real-world seconds
            out.append(
                ProviderSettings(
                    name=name,
                    api_key=key or None,
                    enabled=base.enabled,
                    rate_per_second=rate,
                    daily_quota=conf.daily_quota,
                    timeout_s=base.timeout_s,
                    costs=base.costs,
                    options=options,
                    base_url=conf.base_url if self.provider_mode == "live" else None,
                )
            )
        return out


@dataclass
class Services:
    """Open connections for one run: clients, the shared HTTP client, the ledger and the image store."""

    clients: dict[str, ProviderClient]
    disabled: dict[str, str]
    http: httpx.AsyncClient
    ledger: DbCallLedger
    image_store: ImageStore
    sandbox: Sandbox | None


_SANDBOXES: dict[tuple[str, int, str, str | None], tuple[tuple[object, ...], Sandbox]] = {}
_SANDBOX_LOCK = threading.Lock()


def build_world_sandbox(settings: Settings) -> Sandbox:
    """The in-process simulator: its world read from settings.sandbox_world when set, else generated from every
    venue in the store and the seed."""
    from venue_pipeline.sandbox.app import Sandbox, build_sandbox

    if settings.sandbox_world:
        from venue_pipeline.sandbox.world import SandboxConfig
        from venue_pipeline.sandbox.world_file import read_world, world_from_data

        faults = fault_preset(settings.sandbox_faults)
        config = SandboxConfig(seed=settings.sandbox_seed, faults=faults)
        return Sandbox(world_from_data(read_world(settings.sandbox_world), config))
    with session_scope(settings.db_url) as session:
        venues = list_venues(session, as_imported=True)  # the world must not move when we geocode
    return build_sandbox(venues, seed=settings.sandbox_seed, faults=fault_preset(settings.sandbox_faults))


def shared_sandbox(settings: Settings) -> Sandbox:
    """One simulator per (database, seed, fault mix, world file) per process, rebuilt only when the venues (or
    the world file) change, so its fault sequence carries on across stages and retry cycles like a real
    provider's would."""
    key = (settings.db_url, settings.sandbox_seed, settings.sandbox_faults, settings.sandbox_world)
    signature: tuple[object, ...]
    if settings.sandbox_world:
        stat = Path(settings.sandbox_world).stat()
        signature = (stat.st_size, stat.st_mtime_ns)
    else:
        with session_scope(settings.db_url) as session:
            signature = tuple(
                session.execute(
                    select(func.count(VenueRow.id), func.max(VenueRow.id), func.max(VenueRow.created_at))
                ).one()
            )
    with _SANDBOX_LOCK:
        cached = _SANDBOXES.get(key)
        if cached is not None and cached[0] == signature:
            return cached[1]
        sandbox = build_world_sandbox(settings)
        _SANDBOXES[key] = (signature, sandbox)
        return sandbox


def _transport(settings: Settings, sandbox: Sandbox | None) -> httpx.AsyncBaseTransport | None:
    if settings.provider_mode == "live":
        return None
    if settings.sandbox_url:
        from venue_pipeline.sandbox.server import LoopbackTransport

        return LoopbackTransport(settings.sandbox_url)
    assert sandbox is not None
    return sandbox.transport()


@asynccontextmanager
async def open_services(
    settings: Settings,
    run_id: str | None = None,
    sandbox: Sandbox | None = None,
    clock: Callable[[], datetime] | None = None,
) -> AsyncIterator[Services]:
    """Opens everything a stage needs and always closes it, flushing the call ledger; `clock` is the stage's
    injected time for the ledger (store/calls.py), None the real one."""
    if settings.provider_mode not in ("sandbox", "live"):
        raise ValueError(f"VENUE_PROVIDER_MODE must be 'sandbox' or 'live', not {settings.provider_mode!r}")
    if settings.provider_mode == "sandbox" and sandbox is None and not settings.sandbox_url:
        sandbox = shared_sandbox(settings)
    redact_httpx_logs()
    transport = _transport(settings, sandbox)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
    http = httpx.AsyncClient(transport=transport, limits=limits, timeout=httpx.Timeout(15.0))
    ledger = DbCallLedger(settings.db_url, run_id=run_id, clock=clock)
    try:
        clients, disabled = build_clients(settings.provider_settings(), http, ledger, log)
        yield Services(clients, disabled, http, ledger, build_image_store(settings, http, ledger), sandbox)
    finally:
        ledger.flush()
        await http.aclose()


def build_image_store(settings: Settings, http: httpx.AsyncClient, ledger: DbCallLedger) -> ImageStore:
    """The local folder store by default; ImageKit when configured with its private key."""
    if settings.image_store == "local":
        return LocalImageStore(Path(settings.image_dir))
    if settings.image_store == "imagekit":
        key = settings.imagekit_private_key
        if not key and settings.provider_mode == "sandbox":
            key = SANDBOX_KEY
        if not key:
            raise ValueError("VENUE_IMAGE_STORE=imagekit needs IMAGEKIT_PRIVATE_KEY in the environment")
        return ImageKitStore(
            key, settings.imagekit_url_endpoint, http, folder_root=settings.imagekit_folder, ledger=ledger
        )
    raise ValueError(f"VENUE_IMAGE_STORE must be 'local' or 'imagekit', not {settings.image_store!r}")
