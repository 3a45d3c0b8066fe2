"""Per-provider limits and endpoints from configuration: the plan preset, rate, daily quota and base URL.

Precedence for each value: an explicit setting (a `ProviderApis` resource field, a `Settings` entry) wins over
the environment (`<PREFIX>_RATE_PER_SECOND`, `<PREFIX>_DAILY_QUOTA`, `<PREFIX>_BASE_URL`), which wins over the
plan preset (`VENUE_PROVIDER_PLAN=paid|free`, providers/limits.py). Every value is validated here, and a bad
one raises one `ProviderConfigError` naming where it came from (variable or field) and what is accepted.

A base URL replaces the scheme and host of every API URL the provider's client builds and keeps the path:
`FOURSQUARE_BASE_URL=http://127.0.0.1:9000` sends `/places/search` to `http://127.0.0.1:9000/places/search`;
a path in the base is a prefix (`https://egress.internal/here` + `/v1/discover`). One base covers every host
of a provider (HERE's geocode., discover. and lookup.search.hereapi.com differ by host, not by path, so a
proxy that routes by path works). It applies in live mode only and never to photo downloads from CDN hosts.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from venue_pipeline.providers.base import (
    ProviderSettings,
    rebase,  # noqa: F401 - re-exported: the rule base URLs follow
)
from venue_pipeline.providers.limits import DEFAULT_PLAN, PLAN_LIMITS, PLANS
from venue_pipeline.providers.registry import (
    API_KEY_ENV,
    ENV_PREFIX,
    PROVIDERS,
    default_settings,
)

PLAN_ENV = "VENUE_PROVIDER_PLAN"
NO_CAP_WORDS = frozenset({"", "none"})


class ProviderConfigError(ValueError):
    """A provider limit or endpoint setting that cannot be used, with where it came from."""


def rate_env(provider: str) -> str:
    return f"{ENV_PREFIX[provider]}_RATE_PER_SECOND"


def quota_env(provider: str) -> str:
    return f"{ENV_PREFIX[provider]}_DAILY_QUOTA"


def base_url_env(provider: str) -> str:
    return f"{ENV_PREFIX[provider]}_BASE_URL"


def parse_plan(value: str | None, source: str = PLAN_ENV) -> str:
    """'paid' or 'free' (any case); empty or None: the default plan."""
    plan = (value or "").strip().lower() or DEFAULT_PLAN
    if plan not in PLANS:
        raise ProviderConfigError(f"{source}={value!r}: the provider plan must be one of {', '.join(PLANS)}")
    return plan


def parse_rate(value: str | float, source: str) -> float:
    """Calls per second: a positive, finite number (fractions allowed: 0.5 = one call every 2 s)."""
    try:
        rate = float(str(value).strip()) if not isinstance(value, (int, float)) else float(value)
    except ValueError:
        raise ProviderConfigError(f"{source}={value!r}: a rate must be a number of calls per second") from None
    if isinstance(value, bool) or not math.isfinite(rate) or rate <= 0:
        raise ProviderConfigError(f"{source}={value!r}: a rate must be a positive number of calls per second")
    return rate


def parse_quota(value: str | int | None, source: str) -> int | None:
    """Calls a day: a whole number >= 0 (0 stops every call; lookups are deferred), or empty/'none' for no cap."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ProviderConfigError(f"{source}={value!r}: a daily quota must be a whole number or 'none'")
    if isinstance(value, int):
        quota = value
    else:
        text = str(value).strip().lower()
        if text in NO_CAP_WORDS:
            return None
        try:
            quota = int(text.replace("_", ""))
        except ValueError:
            raise ProviderConfigError(
                f"{source}={value!r}: a daily quota must be a whole number of calls, or 'none' (or empty) for no cap"
            ) from None
    if quota < 0:
        raise ProviderConfigError(f"{source}={value!r}: a daily quota cannot be negative (use 'none' for no cap)")
    return quota


def parse_base_url(value: str | None, source: str) -> str | None:
    """An http(s) URL with a host and no query or fragment, without its trailing slash; empty: None."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ProviderConfigError(f"{source}: {display_url(text)!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProviderConfigError(
            f"{source}: {display_url(text)!r} is not an http(s) URL with a host (e.g. https://proxy.example:8443)"
        )
    if parts.query or parts.fragment:
        raise ProviderConfigError(f"{source}: a base URL takes no query string or fragment ({display_url(text)!r})")
    return text.rstrip("/")


def display_url(url: str | None) -> str:
    """A URL safe to show: scheme://host[:port]/path, without userinfo, query or fragment."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable url>"
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


@dataclass(frozen=True, slots=True)
class ProviderLimitsConfig:
    """The limits and endpoint in force for one provider, and where each came from (for metadata and logs)."""

    provider: str
    plan: str
    rate_per_second: float
    daily_quota: int | None
    base_url: str | None
    rate_source: str
    quota_source: str
    base_url_source: str


_UNSET = object()


def resolve_provider_config(
    provider: str,
    *,
    plan: str | None = None,
    rate_per_second: float | str | None = None,
    daily_quota: object = _UNSET,
    base_url: str | None = None,
    environ: Mapping[str, str] | None = None,
    field_prefix: str = "",
) -> ProviderLimitsConfig:
    """One provider's limits: explicit values, else the environment, else the plan preset (all validated).

    `daily_quota` is left out (or passed as UNSET) to fall through; `None` is an explicit "no cap"; a string is
    parsed like the environment variable. `field_prefix` names the explicit values in error messages.
    """
    if provider not in ENV_PREFIX:
        raise ProviderConfigError(f"unknown provider {provider!r}; known: {', '.join(ENV_PREFIX)}")
    env = os.environ if environ is None else environ
    if plan is None or not str(plan).strip():
        plan = parse_plan(env.get(PLAN_ENV), PLAN_ENV)
    else:
        plan = parse_plan(plan, f"{field_prefix}plan" if field_prefix else "plan")
    preset = PLAN_LIMITS[plan][provider]

    if rate_per_second is not None and str(rate_per_second).strip() != "":
        name = f"{field_prefix}{provider}_rate_per_second"
        rate, rate_source = parse_rate(rate_per_second, name), name
    elif (raw := env.get(rate_env(provider), "").strip()) != "":
        rate, rate_source = parse_rate(raw, rate_env(provider)), rate_env(provider)
    else:
        rate, rate_source = preset.rate_per_second, f"plan {plan}"

    if daily_quota is not _UNSET:
        name = f"{field_prefix}{provider}_daily_quota"
        quota, quota_source = parse_quota(daily_quota, name), name  # type: ignore[arg-type]
    elif quota_env(provider) in env:
        quota, quota_source = parse_quota(env[quota_env(provider)], quota_env(provider)), quota_env(provider)
    else:
        quota, quota_source = preset.daily_quota, f"plan {plan}"

    if base_url is not None and base_url.strip():
        name = f"{field_prefix}{provider}_base_url"
        url, url_source = parse_base_url(base_url, name), name
    elif env.get(base_url_env(provider), "").strip():
        url, url_source = parse_base_url(env[base_url_env(provider)], base_url_env(provider)), base_url_env(provider)
    else:
        url, url_source = None, "provider default"
    return ProviderLimitsConfig(provider, plan, rate, quota, url, rate_source, quota_source, url_source)


UNSET = _UNSET


def api_key_from_env(provider: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The provider's key from its variable (registry.API_KEY_ENV); empty counts as unset."""
    env = os.environ if environ is None else environ
    return env.get(API_KEY_ENV[provider]) or None


def settings_from_env(
    names: Iterable[str] | None = None, environ: Mapping[str, str] | None = None
) -> list[ProviderSettings]:
    """Settings from the environment alone (no resource, no sandbox): each key, and the plan, rate, daily quota
    and base URL (VENUE_PROVIDER_PLAN, <PROVIDER>_RATE_PER_SECOND, _DAILY_QUOTA, _BASE_URL). The CLI's
    `report` reads the quotas in force from it."""
    env = os.environ if environ is None else environ
    out = []
    for n in names or PROVIDERS:
        conf = resolve_provider_config(n, environ=env)
        out.append(
            replace(
                default_settings(n, plan=conf.plan),
                api_key=api_key_from_env(n, env),
                rate_per_second=conf.rate_per_second,
                daily_quota=conf.daily_quota,
                base_url=conf.base_url,
            )
        )
    return out
