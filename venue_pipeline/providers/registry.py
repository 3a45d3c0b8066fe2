"""Which provider clients exist, their default settings, and building the enabled ones from settings."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Iterable, Mapping

import httpx

from venue_pipeline.core.ports import CallLedger, ProviderClient
from venue_pipeline.providers import foursquare, geoapify, google_places, here
from venue_pipeline.providers.base import ProviderSettings
from venue_pipeline.providers.config import resolve_provider_config
from venue_pipeline.providers.limits import DEFAULT_PLAN, PLAN_LIMITS

PROVIDER_CLASSES: dict[str, type[ProviderClient]] = {
    "here": here.HereClient,
    "geoapify": geoapify.GeoapifyClient,
    "foursquare": foursquare.FoursquareClient,
    "google_places": google_places.GooglePlacesClient,
}
DEFAULT_COSTS: dict[str, Mapping[str, float]] = {
    "here": here.DEFAULT_COSTS,
    "geoapify": geoapify.DEFAULT_COSTS,
    "foursquare": foursquare.DEFAULT_COSTS,
    "google_places": google_places.DEFAULT_COSTS,
}
API_KEY_ENV: dict[str, str] = {
    "here": "HERE_API_KEY",
    "geoapify": "GEOAPIFY_API_KEY",
    "foursquare": "FOURSQUARE_API_KEY",
    "google_places": "GOOGLE_PLACES_API_KEY",
}
DEFAULT_TIMEOUT_S = 10.0


def default_settings(name: str, *, api_key: str | None = None, plan: str = DEFAULT_PLAN) -> ProviderSettings:
    """The provider's limits under a plan preset (providers/limits.py) and list-price costs; no environment read."""
    if name not in PROVIDER_CLASSES:
        raise KeyError(f"unknown provider {name!r}; known: {', '.join(PROVIDER_CLASSES)}")
    limits = PLAN_LIMITS[plan][name]
    return ProviderSettings(
        name=name,
        api_key=api_key,
        rate_per_second=limits.rate_per_second,
        daily_quota=limits.daily_quota,
        timeout_s=DEFAULT_TIMEOUT_S,
        costs=dict(DEFAULT_COSTS[name]),
    )


def settings_from_env(
    names: Iterable[str] | None = None, environ: Mapping[str, str] | None = None
) -> list[ProviderSettings]:
    """Settings from the environment: each key, and the plan, rate, daily quota and base URL
    (VENUE_PROVIDER_PLAN, <PROVIDER>_RATE_PER_SECOND, _DAILY_QUOTA, _BASE_URL; providers/config.py)."""
    env = os.environ if environ is None else environ
    out = []
    for n in names or PROVIDER_CLASSES:
        conf = resolve_provider_config(n, environ=env)
        out.append(
            replace(
                default_settings(n, plan=conf.plan),
                api_key=env.get(API_KEY_ENV[n]) or None,
                rate_per_second=conf.rate_per_second,
                daily_quota=conf.daily_quota,
                base_url=conf.base_url,
            )
        )
    return out


def build_clients(
    settings: Iterable[ProviderSettings],
    http: httpx.AsyncClient,
    ledger: CallLedger,
    log: logging.Logger | None = None,
) -> tuple[dict[str, ProviderClient], dict[str, str]]:
    """The enabled clients, and for each provider left out the reason (logged once, one line each)."""
    log = log or logging.getLogger(__name__)
    clients: dict[str, ProviderClient] = {}
    disabled: dict[str, str] = {}
    for s in settings:
        cls = PROVIDER_CLASSES.get(s.name)
        if cls is None:
            reason = f"unknown provider {s.name!r}; {s.name} disabled"
        elif not s.enabled:
            reason = f"{s.name} disabled by configuration"
        elif not s.api_key:
            reason = f"{API_KEY_ENV[s.name]} is not set; {s.name} disabled"
        else:
            clients[s.name] = cls(s, http, ledger)
            continue
        disabled[s.name] = reason
        log.log(logging.INFO if cls is not None and not s.enabled else logging.WARNING, reason)
    return clients, disabled


ASK_ENDPOINTS: dict[str, dict[str, str]] = {
    "here": {"search": "discover", "geocode": "geocode"},
    "geoapify": {"search": "places", "geocode": "geocode"},
    "foursquare": {"search": "search", "geocode": "geocode"},
    "google_places": google_places.ASK_ENDPOINTS["new"],  # see ask_endpoint: legacy differs
}


def ask_endpoint(settings: ProviderSettings, method: str) -> str:
    """The endpoint kind one ID lookup (`search` or `geocode`) really calls: Google's depends on the API
    flavour (legacy geocodes with Find Place, not Text Search), so the client module says which."""
    if settings.name == "google_places":
        return google_places.ask_endpoint(settings.options.get("api", "new"), method)
    return ASK_ENDPOINTS.get(settings.name, {}).get(method, method)


def ask_cost(settings: ProviderSettings, method: str) -> float:
    """List price of one ID lookup (`search` or `geocode`) at this provider, for dry-run estimates."""
    return float(settings.costs.get(ask_endpoint(settings, method), 0.0))
