"""services.py, the composition root: fault presets, per-provider settings in sandbox and live mode, and
open_services opening and always closing the HTTP client and flushing the call ledger."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from venue_pipeline.cdn.local import LocalImageStore
from venue_pipeline.core.ports import ApiCall
from venue_pipeline.providers.limits import PAID_LIMITS
from venue_pipeline.providers.registry import PROVIDERS
from venue_pipeline.sandbox.app import build_sandbox
from venue_pipeline.sandbox.faults import FaultConfig
from venue_pipeline.services import SANDBOX_KEY, Settings, fault_preset, open_services
from venue_pipeline.store.calls import DbCallLedger

NO_ENV: dict[str, str] = {}  # limits from the plan preset alone, whatever this machine's environment holds


@pytest.mark.parametrize("name", ["none", "default", "heavy", "outage"])
def test_every_fault_preset_is_a_fault_config(name):
    assert isinstance(fault_preset(name), FaultConfig)


def test_an_unknown_fault_preset_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown sandbox fault preset 'chaos'.*'default'.*'heavy'"):
        fault_preset("chaos")


def _by_name(settings: Settings):
    return {s.name: s for s in settings.provider_settings()}


def test_sandbox_settings_fill_keys_scale_rates_and_ignore_base_urls():
    settings = Settings(
        db_url="sqlite://", api_keys={"here": "real-here-key"}, base_urls={"foursquare": "http://proxy.example"},
        google_api="legacy", foursquare_api="v3", environ=NO_ENV,
    )
    got = _by_name(settings)
    assert tuple(got) == PROVIDERS
    assert got["here"].api_key == "real-here-key" and got["geoapify"].api_key == SANDBOX_KEY
    assert got["foursquare"].rate_per_second == PAID_LIMITS["foursquare"].rate_per_second * settings.sandbox_rate_scale
    assert got["foursquare"].base_url is None  # the sandbox routes by the real hosts
    assert got["google_places"].options["api"] == "legacy" and got["foursquare"].options["api"] == "v3"
    assert settings.endpoint_in_force("here", settings.provider_limits()["here"]) == "sandbox (in-process)"


def test_a_loopback_sandbox_is_not_rate_scaled_and_keys_can_be_left_missing():
    settings = Settings(db_url="sqlite://", sandbox_url="http://127.0.0.1:8765", sandbox_fill_keys=False, environ=NO_ENV)
    got = _by_name(settings)
    assert got["here"].rate_per_second == PAID_LIMITS["here"].rate_per_second
    assert all(s.api_key is None for s in got.values())
    assert settings.endpoint_in_force("here", settings.provider_limits()["here"]) == "sandbox http://127.0.0.1:8765"


def test_live_settings_keep_only_real_keys_plain_rates_and_the_base_url():
    settings = Settings(
        db_url="sqlite://", provider_mode="live", api_keys={"foursquare": "fsq-key"},
        base_urls={"foursquare": "http://user:pw@proxy.example:8080/fsq"}, rates={"here": 2.0}, environ=NO_ENV,
    )
    got = _by_name(settings)
    assert got["foursquare"].api_key == "fsq-key" and got["here"].api_key is None
    assert got["here"].rate_per_second == 2.0
    assert got["foursquare"].base_url == "http://user:pw@proxy.example:8080/fsq"
    conf = settings.provider_limits()["foursquare"]
    assert settings.endpoint_in_force("foursquare", conf) == "http://proxy.example:8080/fsq"  # no userinfo shown
    assert settings.endpoint_in_force("here", settings.provider_limits()["here"]) == "provider default"


def test_limits_fall_through_to_the_snapshot_not_the_live_environment(monkeypatch):
    monkeypatch.setenv("FOURSQUARE_DAILY_QUOTA", "5")
    assert Settings(db_url="sqlite://", environ=NO_ENV).provider_limits()["foursquare"].daily_quota is None
    snap = {"FOURSQUARE_DAILY_QUOTA": "9"}
    assert Settings(db_url="sqlite://", environ=snap).provider_limits()["foursquare"].daily_quota == 9
    assert Settings(db_url="sqlite://").provider_limits()["foursquare"].daily_quota == 5  # None: os.environ


def test_unknown_provider_or_mode_is_refused(db_url):
    with pytest.raises(ValueError, match="unknown provider 'mapbox'"):
        Settings(db_url="sqlite://", providers=("mapbox",)).provider_limits()

    async def go():
        async with open_services(Settings(db_url=db_url, provider_mode="offline")):
            pass

    with pytest.raises(ValueError, match="VENUE_PROVIDER_MODE must be 'sandbox' or 'live'"):
        asyncio.run(go())


def _call(provider: str = "here") -> ApiCall:
    return ApiCall(provider, "geocode", 200, None, 0.0, 3, datetime.now(timezone.utc))


def test_open_services_builds_clients_closes_http_and_flushes_the_ledger(db_url, tmp_path):
    sandbox = build_sandbox([], seed=7, faults=fault_preset("none"))
    settings = Settings(db_url=db_url, image_dir=str(tmp_path / "images"), environ=NO_ENV)
    seen = {}

    async def go():
        async with open_services(settings, run_id="run-1", sandbox=sandbox) as services:
            seen["services"] = services
            assert set(services.clients) == set(PROVIDERS) and services.disabled == {}
            assert services.sandbox is sandbox and isinstance(services.image_store, LocalImageStore)
            assert not services.http.is_closed
            services.ledger.record(_call())

    asyncio.run(go())
    services = seen["services"]
    assert services.http.is_closed
    assert DbCallLedger(db_url).calls_today("here") == 1  # flushed to the store on the way out


def test_open_services_closes_and_flushes_when_the_stage_fails(db_url, tmp_path):
    settings = Settings(db_url=db_url, provider_mode="live", image_dir=str(tmp_path / "images"), environ=NO_ENV)
    seen = {}

    async def go():
        async with open_services(settings) as services:
            seen["services"] = services
            assert services.clients == {} and set(services.disabled) == set(PROVIDERS)  # live, no keys
            assert services.sandbox is None
            services.ledger.record(_call("geoapify"))
            raise RuntimeError("stage failed")

    with pytest.raises(RuntimeError, match="stage failed"):
        asyncio.run(go())
    assert seen["services"].http.is_closed
    assert DbCallLedger(db_url).calls_today("geoapify") == 1


def test_image_store_choice_is_checked(db_url, tmp_path):
    async def open_with(**kw):
        async with open_services(Settings(db_url=db_url, provider_mode="live", environ=NO_ENV, **kw)) as services:
            return type(services.image_store).__name__

    assert asyncio.run(open_with(image_store="imagekit", imagekit_private_key="private_x")) == "ImageKitStore"
    with pytest.raises(ValueError, match="IMAGEKIT_PRIVATE_KEY"):
        asyncio.run(open_with(image_store="imagekit"))
    with pytest.raises(ValueError, match="'local' or 'imagekit'"):
        asyncio.run(open_with(image_store="s3"))


def test_an_http_request_does_not_go_through_the_import_system():
    """httpcore imports sniffio on every lock and event it sets up (encode/httpcore#1103): without the package a
    failed import, never cached, scanned sys.path several times a request (issue 14's throughput)."""
    import sys

    from httpcore._synchronization import AsyncEvent, AsyncLock

    looked_up: list[str] = []

    class Recorder:
        def find_spec(self, name, path=None, target=None):  # noqa: ANN001 - the meta path finder protocol
            looked_up.append(name)
            return None

    async def primitives() -> None:
        for _ in range(20):
            async with AsyncLock():
                event = AsyncEvent()
                event.set()
                await event.wait()

    sys.meta_path.insert(0, Recorder())
    try:
        asyncio.run(primitives())
    finally:
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, Recorder)]
    assert "sniffio" not in looked_up
