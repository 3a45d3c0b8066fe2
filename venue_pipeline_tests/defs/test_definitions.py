"""The code location loads: every job, schedule and sensor resolves, the asset graph is the documented one,
resources bind (from the deployment, not run config: test_resources_deployment.py), and importing it reads no
environment (every resource field is empty until a run starts)."""

from __future__ import annotations

import dagster as dg
import pytest

from venue_pipeline.definitions import build_definitions, defs
from venue_pipeline.defs.resources import (
    ImageCdn,
    ProviderApis,
    ReportPolicy,
    VenueStore,
    build_resources,
    settings_for,
)

JOBS = {"enrich_city_job", "retry_job", "failure_report_job", "reset_circuit_job"}
SCHEDULES = {"daily_retry_schedule", "reenrich_stale_venues_schedule"}
SENSORS = {"new_venues_sensor", "retry_after_report_sensor", "record_failed_runs_sensor", "reap_dead_runs_sensor"}
ASSETS = {"provider_ids", "discovered_photos", "uploaded_images", "image_retries", "image_failure_report"}


def test_definitions_validate_and_every_job_schedule_and_sensor_resolves():
    dg.Definitions.validate_loadable(defs)
    for name in JOBS:
        assert defs.resolve_job_def(name).name == name
    for name in SCHEDULES:
        assert defs.resolve_schedule_def(name).name == name
    for name in SENSORS:
        assert defs.resolve_sensor_def(name).name == name
    repo = defs.get_repository_def()
    assert {s.name for s in repo.schedule_defs} == SCHEDULES
    assert {s.name for s in repo.sensor_defs} == SENSORS
    assert JOBS <= {j.name for j in defs.resolve_all_job_defs()}


def test_the_asset_graph_is_the_pipeline():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == ASSETS
    upstream = {k: {p.to_user_string() for p in graph.get(dg.AssetKey(k)).parent_keys} for k in ASSETS}
    assert upstream["discovered_photos"] == {"provider_ids"}
    assert upstream["uploaded_images"] == {"discovered_photos"}
    assert upstream["image_failure_report"] >= {"image_retries"}
    assert graph.asset_check_keys  # the checks are bound to their assets


def test_resources_bind_and_importing_read_no_environment(monkeypatch):
    resources = defs.resources
    assert set(resources) == {"io_manager", "venue_store", "provider_apis", "report_policy", "image_cdn"}
    assert all(r.config_schema.config_type.fields == {} for r in resources.values())  # none is run config
    # the bound resources are the empty ones: what a run gets is read from the environment when it starts
    assert build_resources() == {"venue_store": VenueStore(), "provider_apis": ProviderApis(),
                                 "report_policy": ReportPolicy(), "image_cdn": ImageCdn()}
    monkeypatch.setenv("VENUE_DB_URL", "sqlite:///read-at-run-time.db")
    with dg.build_resources({"venue_store": resources["venue_store"]}) as built:
        assert built.venue_store == VenueStore() and built.venue_store.url == "sqlite:///read-at-run-time.db"


def test_an_empty_field_is_read_from_the_environment_when_the_run_starts(tmp_path):
    env = {
        "VENUE_DB_URL": f"sqlite:///{tmp_path / 'v.db'}",
        "VENUE_PROVIDER_MODE": "live",
        "VENUE_SANDBOX_SEED": "11",
        "VENUE_GOOGLE_API": "legacy",
        "VENUE_IMAGE_STORE": "imagekit",
        "IMAGEKIT_PRIVATE_KEY": "private_k",
        "HERE_API_KEY": "here-k",
        "FOURSQUARE_DAILY_QUOTA": "12",
    }
    s = settings_for(VenueStore(), ProviderApis(), ImageCdn(), environ=env)
    assert (s.db_url, s.provider_mode, s.sandbox_seed, s.google_api, s.foursquare_api) == (
        env["VENUE_DB_URL"], "live", 11, "legacy", "places"
    )
    assert (s.image_store, s.imagekit_private_key, s.imagekit_folder) == ("imagekit", "private_k", "/venues")
    assert s.api_keys["here"] == "here-k" and s.api_keys["geoapify"] is None
    assert s.provider_limits()["foursquare"].daily_quota == 12  # limits fall through to the same snapshot
    explicit = settings_for(
        VenueStore(db_url="sqlite://"), ProviderApis(mode="sandbox", sandbox_seed=3, here_api_key="cfg-k"),
        ImageCdn(kind="local", image_dir=str(tmp_path)), environ=env,
    )
    assert (explicit.db_url, explicit.provider_mode, explicit.sandbox_seed) == ("sqlite://", "sandbox", 3)
    assert explicit.api_keys["here"] == "cfg-k" and explicit.image_store == "local"
    with pytest.raises(ValueError, match="VENUE_SANDBOX_SEED"):
        settings_for(VenueStore(), ProviderApis(), ImageCdn(), environ={"VENUE_SANDBOX_SEED": "x"})


def test_report_policy_thresholds_come_from_the_environment_at_run_time(monkeypatch):
    monkeypatch.setenv("VENUE_MAX_TRANSIENT_OLDER_THAN_24H", "3")
    monkeypatch.setenv("VENUE_PERMANENT_RATE_WARN_PCT", "2.5")
    with dg.build_resources({"report_policy": ReportPolicy(permanent_rate_error_pct=20)}) as built:
        policy = built.report_policy
    assert (policy.max_transient_older_than_24h, policy.permanent_rate_warn_pct, policy.permanent_rate_error_pct) == (
        3, 2.5, 20.0
    )
    assert ReportPolicy().resolved({}).max_transient_older_than_24h == 25
    with pytest.raises(ValueError, match="VENUE_PERMANENT_RATE_WARN_PCT"):
        ReportPolicy().resolved({"VENUE_PERMANENT_RATE_WARN_PCT": "lots"})


def test_build_definitions_takes_resources_for_tests(dagster_instance):
    # a live instance: building Definitions reads the current instance's defs state (an earlier test's
    # closed instance_for_test would otherwise still be the current one)
    custom = build_definitions({"venue_store": VenueStore(db_url="sqlite://"), "provider_apis": ProviderApis(),
                                "report_policy": ReportPolicy(), "image_cdn": ImageCdn()})
    dg.Definitions.validate_loadable(custom)
    with dg.build_resources({"venue_store": custom.resources["venue_store"]}) as built:
        assert built.venue_store.db_url == "sqlite://"  # set in Python, still not run config
