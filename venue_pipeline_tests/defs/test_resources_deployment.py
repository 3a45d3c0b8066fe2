"""Resources come from the deployment, never from run config (issue 13): the Definitions' run-config schema has
no resource field (no key, URL, folder or database URL, nor the IO manager's folder), a run config that sets
one is refused by Dagster's config validation naming the field, the ops' narrowing configs still validate, and
resources built in Python (dg.EnvVar included) still reach the run, resolved when it starts."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from venue_pipeline.definitions import build_definitions, defs
from venue_pipeline.defs.resources import (
    ImageCdn,
    ProviderApis,
    ReportPolicy,
    VenueStore,
    build_resources,
    deployment_resource,
)

JOBS = ["enrich_city_job", "retry_job", "failure_report_job", "reset_circuit_job"]
RESOURCE_KEYS = {"io_manager", "venue_store", "provider_apis", "report_policy", "image_cdn"}


def hostile_run_config(listener: str, tmp: Path) -> dict:
    """The hostile tester's run config: a sandbox URL of their own, a key read from the database URL's
    variable, and writes redirected elsewhere on disk."""
    return {
        "resources": {
            "provider_apis": {
                "config": {"sandbox_url": listener, "google_places_api_key": {"env": "DAGSTER_PG_URL"}}
            },
            "image_cdn": {"config": {"image_dir": str(tmp / "elsewhere")}},
            "venue_store": {"config": {"db_url": f"sqlite:///{tmp / 'other.db'}"}},
        }
    }


def _resource_config_fields(job_name: str) -> dict[str, list[str]]:
    resources = defs.resolve_job_def(job_name).run_config_schema.config_type.fields["resources"].config_type
    return {key: sorted(field.config_type.fields["config"].config_type.fields) for key, field in resources.fields.items()}


@pytest.mark.parametrize("job_name", JOBS)
def test_no_resource_field_is_run_config(job_name: str) -> None:
    fields = _resource_config_fields(job_name)
    assert set(fields) <= RESOURCE_KEYS and "io_manager" in fields
    assert fields == {key: [] for key in fields}, f"run config can set resource fields: {fields}"


def test_a_run_config_setting_keys_urls_paths_or_databases_is_refused(tmp_path: Path) -> None:
    job = defs.resolve_job_def("enrich_city_job")
    with pytest.raises(dg.DagsterInvalidConfigError) as refused:
        dg.validate_run_config(job, hostile_run_config("http://127.0.0.1:9", tmp_path))
    message = str(refused.value)
    for field in ("sandbox_url", "google_places_api_key", "image_dir", "db_url"):
        assert field in message, message
    assert "unexpected config entr" in message
    with pytest.raises(dg.DagsterInvalidConfigError, match="base_dir"):
        dg.validate_run_config(job, {"resources": {"io_manager": {"config": {"base_dir": str(tmp_path / "x")}}}})
    for key, config in {
        "provider_apis": {"here_base_url": "http://127.0.0.1:9"},
        "image_cdn": {"imagekit_url_endpoint": "http://127.0.0.1:9", "imagekit_private_key": "k"},
        "report_policy": {"permanent_rate_error_pct": 99.0},
    }.items():
        with pytest.raises(dg.DagsterInvalidConfigError, match=next(iter(config))):
            dg.validate_run_config(job, {"resources": {key: {"config": config}}})


def test_a_refused_run_starts_nothing_and_writes_nowhere(tmp_path: Path, dagster_instance) -> None:
    job = defs.resolve_job_def("enrich_city_job")
    dagster_instance.add_dynamic_partitions("cities", ["exeter"])
    with pytest.raises(dg.DagsterInvalidConfigError, match="sandbox_url"):
        job.execute_in_process(
            run_config=hostile_run_config("http://127.0.0.1:9", tmp_path), partition_key="exeter",
            instance=dagster_instance,
        )
    assert not (tmp_path / "elsewhere").exists() and not (tmp_path / "other.db").exists()
    assert dagster_instance.get_runs() == []


def test_narrowing_configs_still_validate() -> None:
    narrowing = {
        "ops": {
            "city_galleries": {
                "config": {
                    "provider_ids": {"venue_ids": [1, 2], "providers": ["here"], "dry_run": True, "force": True},
                    "discovered_photos": {"venue_ids": [1, 2], "providers": ["here"], "force": True},
                    "uploaded_images": {"venue_ids": [1, 2], "providers": ["here"]},
                }
            }
        }
    }
    assert dg.validate_run_config(defs.resolve_job_def("enrich_city_job"), narrowing)
    retry = {"ops": {"image_retries": {"config": {"city": "exeter", "image_ids": [3], "reopen_permanent": True}}}}
    assert dg.validate_run_config(defs.resolve_job_def("retry_job"), retry)
    # an empty resource config is harmless (a scaffolded Launchpad config may carry one)
    assert dg.validate_run_config(
        defs.resolve_job_def("failure_report_job"), {"resources": {"venue_store": {"config": {}}}}
    )


def test_resources_built_in_python_reach_the_run_with_env_vars_resolved_when_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator's way: resources configured in code, secrets with dg.EnvVar, read at run time."""
    seen: dict[str, object] = {}

    @dg.asset
    def probe(venue_store: VenueStore, provider_apis: ProviderApis, image_cdn: ImageCdn, report_policy: ReportPolicy):
        seen.update(
            db_url=venue_store.url, key=provider_apis.api_keys()["here"], sandbox_url=provider_apis.sandbox_url,
            image_dir=image_cdn.image_dir, threshold=report_policy.max_transient_older_than_24h,
        )

    custom = build_definitions({
        **build_resources(),
        "venue_store": VenueStore(db_url=f"sqlite:///{tmp_path / 'v.db'}"),
        "provider_apis": ProviderApis(here_api_key=dg.EnvVar("OPERATOR_HERE_KEY")),
        "image_cdn": ImageCdn(image_dir=str(tmp_path / "images")),
    })
    monkeypatch.setenv("OPERATOR_HERE_KEY", "set-after-import")  # after the Definitions were built
    monkeypatch.setenv("VENUE_MAX_TRANSIENT_OLDER_THAN_24H", "4")
    probe_defs = dg.Definitions(assets=[probe], resources=custom.resources)
    with dg.instance_for_test() as instance:
        result = probe_defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance)
    assert result.success
    assert seen == {
        "db_url": f"sqlite:///{tmp_path / 'v.db'}", "key": "set-after-import", "sandbox_url": None,
        "image_dir": str(tmp_path / "images"), "threshold": 4,
    }


def test_deployment_resource_describes_itself_and_has_no_schema() -> None:
    definition = deployment_resource(ProviderApis())
    assert definition.config_schema.config_type.fields == {}
    assert "not by run config" in (definition.description or "")
