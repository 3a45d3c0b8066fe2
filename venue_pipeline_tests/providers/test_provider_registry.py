"""Registry: default limits and costs, and a missing key disabling only that provider, logged once."""

from __future__ import annotations

import logging
from dataclasses import replace

import httpx
import pytest

from venue_pipeline.providers.foursquare import FoursquareClient
from venue_pipeline.providers.google_places import GooglePlacesClient
from venue_pipeline.providers.memory_ledger import MemoryLedger
from venue_pipeline.providers.config import ENV_PREFIX, settings_from_env
from venue_pipeline.providers.registry import (
    API_KEY_ENV,
    PROVIDER_CLASSES,
    PROVIDER_SPECS,
    PROVIDERS,
    build_clients,
    default_settings,
)


def test_default_settings_hold_the_documented_limits_and_costs():
    assert set(PROVIDER_CLASSES) == {"here", "geoapify", "foursquare", "google_places"}
    fsq = default_settings("foursquare")  # the paid plan by default: 50 QPS, billed per call, no daily cap
    assert (fsq.rate_per_second, fsq.daily_quota) == (50.0, None)
    geo = default_settings("geoapify")  # Geoapify "API 10": 12 req/s, 10,000 credits a day
    assert (geo.rate_per_second, geo.daily_quota) == (12.0, 10000)
    free_fsq, free_geo = default_settings("foursquare", plan="free"), default_settings("geoapify", plan="free")
    assert (free_fsq.rate_per_second, free_fsq.daily_quota) == (1.0, 500)  # the original free-tier seed
    assert (free_geo.rate_per_second, free_geo.daily_quota) == (5.0, 3000)
    assert default_settings("here").daily_quota is None
    google = default_settings("google_places")
    assert google.rate_per_second == 50.0 and google.daily_quota is None
    assert google.costs["text_search"] == 0.032 and google.costs["details"] == 0.017 and google.costs["photo"] == 0.007
    assert all(v == 0.0 for v in default_settings("here").costs.values())
    with pytest.raises(KeyError):
        default_settings("mapbox")


def test_missing_key_disables_that_provider_with_one_log_line(caplog):
    settings = [
        default_settings("here"),
        default_settings("foursquare", api_key="k1"),
        replace(default_settings("geoapify", api_key="k2"), enabled=False),
        default_settings("google_places", api_key="k3"),
    ]
    with caplog.at_level(logging.INFO, logger="test.registry"):
        clients, disabled = build_clients(settings, httpx.AsyncClient(), MemoryLedger(), logging.getLogger("test.registry"))
    assert set(clients) == {"foursquare", "google_places"}
    assert isinstance(clients["foursquare"], FoursquareClient) and isinstance(clients["google_places"], GooglePlacesClient)
    assert disabled == {
        "here": "HERE_API_KEY is not set; here disabled",
        "geoapify": "geoapify disabled by configuration",
    }
    assert [r.getMessage() for r in caplog.records] == list(disabled.values())
    assert all("k1" not in r.getMessage() for r in caplog.records)


def test_settings_from_env_reads_each_key():
    settings = {s.name: s for s in settings_from_env(environ={"FOURSQUARE_API_KEY": "abc", "HERE_API_KEY": ""})}
    assert settings["foursquare"].api_key == "abc"
    assert settings["here"].api_key is None and settings["google_places"].api_key is None


def test_one_spec_per_provider_is_the_source_of_every_table():
    assert PROVIDERS == ("here", "geoapify", "foursquare", "google_places")
    for name, spec in PROVIDER_SPECS.items():
        assert spec.name == name == spec.client.name
        assert PROVIDER_CLASSES[name] is spec.client
        assert API_KEY_ENV[name] == spec.key_env == f"{spec.env_prefix}_API_KEY"
        assert ENV_PREFIX[name] == spec.env_prefix
        assert dict(default_settings(name).costs) == dict(spec.default_costs)
        assert set(spec.ask_endpoints) == {"search", "geocode"}
