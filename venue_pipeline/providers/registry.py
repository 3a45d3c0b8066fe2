"""The one provider registry: every provider's client class, key variable, environment prefix and list-price
costs (a `ProviderSpec` each), the default settings built from them, and building the enabled clients.

Everything else that needs the provider list (services.py, providers/config.py, the Dagster resources, the
CLI) reads it from here; nothing in this module reads the environment (providers/config.py does that)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import httpx

from venue_pipeline.core.ports import CallLedger, ProviderClient
from venue_pipeline.providers import foursquare, geoapify, google_places, here
from venue_pipeline.providers.base import ProviderSettings, price
from venue_pipeline.providers.limits import DEFAULT_PLAN, PLAN_LIMITS


@dataclass(frozen=True)
class ProviderSpec:
    """What the pipeline knows about one provider before any configuration is read."""

    name: str
    client: type[ProviderClient]
    key_env: str  # the environment variable holding its API key
    env_prefix: str  # <PREFIX>_RATE_PER_SECOND, _DAILY_QUOTA, _BASE_URL (providers/config.py)
    default_costs: Mapping[str, float] = field(default_factory=dict)  # list price per call, by endpoint kind
    # The endpoint kind (ledger and cost key) each ID lookup calls; Google's depends on its API flavour.
    ask_endpoints: Mapping[str, str] = field(default_factory=dict)


SPECS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        "here", here.HereClient, "HERE_API_KEY", "HERE", here.DEFAULT_COSTS,
        {"search": "discover", "geocode": "geocode"},
    ),
    ProviderSpec(
        "geoapify", geoapify.GeoapifyClient, "GEOAPIFY_API_KEY", "GEOAPIFY", geoapify.DEFAULT_COSTS,
        {"search": "places", "geocode": "geocode"},
    ),
    ProviderSpec(
        "foursquare", foursquare.FoursquareClient, "FOURSQUARE_API_KEY", "FOURSQUARE", foursquare.DEFAULT_COSTS,
        {"search": "search", "geocode": "geocode"},
    ),
    ProviderSpec(
        "google_places", google_places.GooglePlacesClient, "GOOGLE_PLACES_API_KEY", "GOOGLE_PLACES",
        google_places.DEFAULT_COSTS, google_places.ASK_ENDPOINTS["new"],  # see ask_endpoint: legacy differs
    ),
)
PROVIDER_SPECS: dict[str, ProviderSpec] = {s.name: s for s in SPECS}
PROVIDERS: tuple[str, ...] = tuple(PROVIDER_SPECS)

# Views of the specs, by provider name, for callers that want one attribute.
PROVIDER_CLASSES: dict[str, type[ProviderClient]] = {s.name: s.client for s in SPECS}
DEFAULT_COSTS: dict[str, Mapping[str, float]] = {s.name: s.default_costs for s in SPECS}
API_KEY_ENV: dict[str, str] = {s.name: s.key_env for s in SPECS}
ENV_PREFIX: dict[str, str] = {s.name: s.env_prefix for s in SPECS}
DEFAULT_TIMEOUT_S = 10.0


def spec(name: str) -> ProviderSpec:
    """The provider's spec; a KeyError naming the known providers for any other name."""
    try:
        return PROVIDER_SPECS[name]
    except KeyError:
        raise KeyError(f"unknown provider {name!r}; known: {', '.join(PROVIDERS)}") from None


def default_settings(name: str, *, api_key: str | None = None, plan: str = DEFAULT_PLAN) -> ProviderSettings:
    """The provider's limits under a plan preset (providers/limits.py) and list-price costs; no environment read."""
    s = spec(name)
    limits = PLAN_LIMITS[plan][name]
    return ProviderSettings(
        name=name,
        api_key=api_key,
        rate_per_second=limits.rate_per_second,
        daily_quota=limits.daily_quota,
        timeout_s=DEFAULT_TIMEOUT_S,
        costs=dict(s.default_costs),
    )


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
        known = PROVIDER_SPECS.get(s.name)
        if known is None:
            reason = f"unknown provider {s.name!r}; {s.name} disabled"
        elif not s.enabled:
            reason = f"{s.name} disabled by configuration"
        elif not s.api_key:
            reason = f"{known.key_env} is not set; {s.name} disabled"
        else:
            clients[s.name] = known.client(s, http, ledger)  # type: ignore[call-arg]
            continue
        disabled[s.name] = reason
        log.log(logging.INFO if known is not None and not s.enabled else logging.WARNING, reason)
    return clients, disabled


def ask_endpoint(settings: ProviderSettings, method: str) -> str:
    """The endpoint kind one ID lookup (`search` or `geocode`) really calls: Google's depends on the API
    flavour (legacy geocodes with Find Place, not Text Search), so the client module says which."""
    if settings.name == "google_places":
        return google_places.ask_endpoint(settings.options.get("api", "new"), method)
    known = PROVIDER_SPECS.get(settings.name)
    return known.ask_endpoints.get(method, method) if known else method


def ask_cost(settings: ProviderSettings, method: str) -> float:
    """List price of one ID lookup (`search` or `geocode`) at this provider, for dry-run estimates: the price
    the client's cost() would charge, without building a client."""
    known = PROVIDER_SPECS.get(settings.name)
    return price(settings, ask_endpoint(settings, method), known.default_costs if known else {})
