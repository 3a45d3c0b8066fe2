"""Limits and endpoints from configuration: plan presets, environment and resource overrides, validation, base
URLs that keep paths, and the values in force reaching the limiter and the run metadata (never a key)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from venue_pipeline.defs.metadata import limits_metadata
from venue_pipeline.defs.resources import (
    ImageCdn,
    ProviderApis,
    VenueStore,
    settings_for,
)
from venue_pipeline.providers.config import (
    ProviderConfigError,
    rebase,
    resolve_provider_config,
    settings_from_env,
)
from venue_pipeline.providers.here import HereClient
from venue_pipeline.providers.memory_ledger import MemoryLedger
from venue_pipeline.providers.registry import default_settings
from venue_pipeline.services import Settings, open_services

LIMIT_VARS = [
    f"{p}_{what}"
    for p in ("HERE", "GEOAPIFY", "FOURSQUARE", "GOOGLE_PLACES")
    for what in ("RATE_PER_SECOND", "DAILY_QUOTA", "BASE_URL")
] + ["VENUE_PROVIDER_PLAN"]


@pytest.fixture(autouse=True)
def _clean_limit_env(monkeypatch):
    for var in LIMIT_VARS:
        monkeypatch.delenv(var, raising=False)


def _by_name(settings):
    return {s.name: s for s in settings}


def test_plan_presets_and_environment_overrides():
    paid = _by_name(settings_from_env(environ={}))
    assert (paid["foursquare"].rate_per_second, paid["foursquare"].daily_quota) == (50.0, None)
    free = _by_name(settings_from_env(environ={"VENUE_PROVIDER_PLAN": "FREE"}))
    assert (free["foursquare"].rate_per_second, free["foursquare"].daily_quota) == (1.0, 500)
    env = {
        "VENUE_PROVIDER_PLAN": "free",
        "FOURSQUARE_RATE_PER_SECOND": "2.5",
        "FOURSQUARE_DAILY_QUOTA": "none",
        "GEOAPIFY_DAILY_QUOTA": "",  # empty: no cap
        "HERE_DAILY_QUOTA": "1_000",
        "GOOGLE_PLACES_BASE_URL": "https://egress.internal:8443/google/",
    }
    got = _by_name(settings_from_env(environ=env))
    assert (got["foursquare"].rate_per_second, got["foursquare"].daily_quota) == (2.5, None)
    assert got["geoapify"].daily_quota is None and got["geoapify"].rate_per_second == 5.0
    assert got["here"].daily_quota == 1000
    assert got["google_places"].base_url == "https://egress.internal:8443/google"


@pytest.mark.parametrize(
    "var, value, words",
    [
        ("FOURSQUARE_RATE_PER_SECOND", "fast", "number"),
        ("FOURSQUARE_RATE_PER_SECOND", "-1", "positive"),
        ("HERE_RATE_PER_SECOND", "0", "positive"),
        ("GEOAPIFY_DAILY_QUOTA", "-5", "negative"),
        ("GEOAPIFY_DAILY_QUOTA", "lots", "whole number"),
        ("GOOGLE_PLACES_BASE_URL", "ftp://files.example", "http(s)"),
        ("GOOGLE_PLACES_BASE_URL", "localhost:8000", "http(s)"),
        ("HERE_BASE_URL", "http://proxy.example/?apiKey=x", "no query"),
        ("VENUE_PROVIDER_PLAN", "gold", "paid, free"),
    ],
)
def test_a_bad_value_is_one_clear_error_naming_the_variable(var, value, words):
    with pytest.raises(ProviderConfigError) as err:
        settings_from_env(environ={var: value})
    assert var in str(err.value) and words in str(err.value)
    assert "apiKey=x" not in str(err.value)  # a query string is never echoed


def test_resource_fields_win_over_the_environment_and_are_validated(monkeypatch):
    monkeypatch.setenv("FOURSQUARE_RATE_PER_SECOND", "7")
    apis = ProviderApis(foursquare_rate_per_second=9.0, foursquare_daily_quota="250", geoapify_daily_quota="none")
    conf = resolve_provider_config("foursquare", rate_per_second=apis.foursquare_rate_per_second)
    assert conf.rate_per_second == 9.0 and conf.rate_source == "foursquare_rate_per_second"
    assert apis.quotas()["foursquare"] == 250 and apis.quotas()["geoapify"] is None
    with pytest.raises(ProviderConfigError, match="foursquare_daily_quota"):
        ProviderApis(foursquare_daily_quota="-1").quotas()
    with pytest.raises(ProviderConfigError, match="here_base_url"):
        settings_for(VenueStore(db_url="sqlite://"), ProviderApis(here_base_url="gopher://x"), ImageCdn()).provider_settings()


def test_a_base_url_replaces_scheme_and_host_and_keeps_every_path():
    base = "http://127.0.0.1:9000"
    assert rebase("https://geocode.search.hereapi.com/v1/geocode?q=a", base) == f"{base}/v1/geocode?q=a"
    assert rebase("https://discover.search.hereapi.com/v1/discover", base + "/here/") == f"{base}/here/v1/discover"
    assert rebase("https://api.foursquare.com/v3/places/search", base) == f"{base}/v3/places/search"
    assert rebase("https://places.googleapis.com/v1/places:searchText", None).startswith("https://places.")


def test_every_here_host_goes_to_the_one_base_url():
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.scheme}://{request.url.host}:{request.url.port}{request.url.path}")
        return httpx.Response(200, json={"items": []})

    settings = default_settings("here", api_key="here-key")
    from dataclasses import replace

    client = HereClient(
        replace(settings, base_url="http://proxy.local:8080", rate_per_second=1000.0),
        httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        MemoryLedger(),
    )

    async def go():
        await client.geocode("1 High St")
        await client.search("Pub", 51.5, -0.1)

    asyncio.run(go())
    assert seen == ["http://proxy.local:8080/v1/geocode", "http://proxy.local:8080/v1/discover"]


def test_environment_limits_reach_the_limiter_and_the_run_metadata(db_url, monkeypatch):
    monkeypatch.setenv("VENUE_PROVIDER_PLAN", "free")
    monkeypatch.setenv("FOURSQUARE_RATE_PER_SECOND", "7")
    monkeypatch.setenv("FOURSQUARE_DAILY_QUOTA", "123")
    monkeypatch.setenv("GEOAPIFY_DAILY_QUOTA", "none")
    monkeypatch.setenv("FOURSQUARE_BASE_URL", "http://user:pw@127.0.0.1:9/fsq")
    apis = ProviderApis(
        mode="live", foursquare_api_key="fsq-secret-key", geoapify_api_key="geo-secret-key", here_rate_per_second=3.0
    )
    settings = settings_for(VenueStore(db_url=db_url), apis, ImageCdn())

    async def limiters():
        async with open_services(settings) as services:
            return {n: (c.limiter.rate_per_second, c.limiter.daily_quota, c.settings.base_url)
                    for n, c in services.clients.items()}

    got = asyncio.run(limiters())
    assert got["foursquare"] == (7.0, 123, "http://user:pw@127.0.0.1:9/fsq")
    assert got["geoapify"] == (5.0, None, None)  # the free plan's rate, the quota lifted by the environment
    assert "here" not in got  # no key: disabled, but its configured limits still show below

    table = limits_metadata(settings)["provider_limits"]
    rows = {r.data["provider"]: r.data for r in table.records}
    assert rows["foursquare"]["rate_per_second"] == 7.0 and rows["foursquare"]["daily_quota"] == "123"
    assert rows["foursquare"]["base_url"] == "http://127.0.0.1:9/fsq"  # no userinfo
    assert rows["geoapify"]["daily_quota"] == "none" and rows["geoapify"]["plan"] == "free"
    assert rows["here"]["rate_per_second"] == 3.0 and "here_rate_per_second" in rows["here"]["set_by"]
    assert rows["google_places"]["base_url"] == "provider default"
    text = repr(table)
    assert "secret" not in text and "pw" not in text

    sandbox = Settings(db_url=db_url, quotas={"foursquare": 4})  # sandbox: paced 20x, base URL not used
    rows = {r.data["provider"]: r.data for r in limits_metadata(sandbox)["provider_limits"].records}
    assert rows["foursquare"]["rate_per_second"] == 140.0 and rows["foursquare"]["configured_rate"] == 7.0
    assert rows["foursquare"]["daily_quota"] == "4" and rows["foursquare"]["base_url"] == "sandbox (in-process)"
    assert all(s.base_url is None for s in sandbox.provider_settings())
