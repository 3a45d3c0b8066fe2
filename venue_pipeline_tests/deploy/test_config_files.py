"""deploy/ checked without Docker or Kubernetes: the production dagster.yaml loads as a Dagster instance with the
integration packages installed, and the compose file, the Helm values, the Dockerfile and docs/deployment.md
name the same image, ports, variables and limits (the doc's tables are parsed, not copied here)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes.config_class import ConfigurableClassData
from sqlalchemy.engine import make_url

from venue_pipeline.definitions import defs
from venue_pipeline.providers.registry import API_KEY_ENV

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOC = ROOT / "docs" / "deployment.md"
INSTANCE_ENV = ("DAGSTER_POSTGRES_HOST", "DAGSTER_POSTGRES_USER", "DAGSTER_POSTGRES_PASSWORD", "DAGSTER_POSTGRES_DB")


def _yaml(name: str) -> Any:
    return yaml.safe_load((DEPLOY / name).read_text())


def _doc_table(heading: str) -> list[dict[str, str]]:
    """The first markdown table under `## heading` in docs/deployment.md, one dict per row, backticks removed."""
    text = DOC.read_text()
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    header, rows = cells[0], [r for r in cells[2:]]
    return [{h: c.replace("`", "") for h, c in zip(header, row, strict=True)} for row in rows]


def _services() -> dict[str, dict[str, str]]:
    return {row["service"]: row for row in _doc_table("Services")}


def _variables() -> dict[str, dict[str, str]]:
    return {row["variable"]: row for row in _doc_table("Environment variables")}


def _compose() -> dict[str, Any]:
    return _yaml("docker-compose.yaml")["services"]


def _user_deployment() -> dict[str, Any]:
    (deployment,) = _yaml("helm/values.yaml")["dagster-user-deployments"]["deployments"]
    return deployment


def _pools_used() -> set[str]:
    """Every concurrency pool an asset of the code location declares."""
    graph = defs.resolve_asset_graph()
    return {pool for key in graph.get_all_asset_keys() for pool in graph.get(key).pools or ()}


# ---- the production instance ----


@pytest.fixture
def instance_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in INSTANCE_ENV:
        monkeypatch.setenv(name, "placeholder")


def test_the_production_instance_config_loads_with_the_docker_launcher(tmp_path: Path, instance_env: None) -> None:
    shutil.copy(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))  # validates every section against Dagster's schema
    assert set(config["storage"]["postgres"]["postgres_db"]) >= {"hostname", "username", "password", "db_name"}
    assert {v["env"] for k, v in config["storage"]["postgres"]["postgres_db"].items() if isinstance(v, dict)} == set(
        INSTANCE_ENV
    )
    for section, expected in (("run_launcher", "DockerRunLauncher"), ("run_coordinator", "QueuedRunCoordinator")):
        block = config[section]
        built = ConfigurableClassData(block["module"], block["class"], yaml.safe_dump(block.get("config") or {})).rehydrate()
        assert type(built).__name__ == expected
    assert config["run_monitoring"]["enabled"] is True
    assert config["run_monitoring"]["max_resume_run_attempts"] == 0


@pytest.mark.postgres
def test_the_production_instance_starts_on_postgresql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from venue_pipeline.store.db import create_scratch_database, drop_database

    server = os.environ.get("VENUE_PG_URL")
    if not server:
        pytest.skip("VENUE_PG_URL is not set: no PostgreSQL server for this test (bash .ci/run starts one)")
    url, admin = create_scratch_database(server, "vp_deploy_instance")
    try:
        parsed = make_url(url)
        config = _yaml("dagster.yaml")
        config["storage"]["postgres"]["postgres_db"]["port"] = parsed.port
        (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
        for name, value in zip(INSTANCE_ENV, (parsed.host, parsed.username, parsed.password or "", parsed.database),
                               strict=True):
            monkeypatch.setenv(name, str(value))
        instance = dg.DagsterInstance.from_config(str(tmp_path))
        try:
            assert type(instance.run_launcher).__name__ == "DockerRunLauncher"
            assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
            queue = instance.get_concurrency_config().run_queue_config
            assert queue is not None and queue.max_concurrent_runs == config["concurrency"]["runs"]["max_concurrent_runs"]
            assert queue.tag_concurrency_limits == config["concurrency"]["runs"]["tag_concurrency_limits"]
            assert instance.get_runs() == []  # the storage answers
        finally:
            instance.dispose()
    finally:
        drop_database(url, admin)


def test_the_helm_run_launcher_config_is_valid_for_the_k8s_launcher() -> None:
    """The chart turns runLauncher.config.k8sRunLauncher into K8sRunLauncher config; the mapped keys validate."""
    from dagster._config import process_config
    from dagster_k8s import K8sRunLauncher

    values = _yaml("helm/values.yaml")["runLauncher"]
    assert values["type"] == "K8sRunLauncher"
    k8s = values["config"]["k8sRunLauncher"]
    config = {
        "image_pull_policy": k8s["imagePullPolicy"],
        "load_incluster_config": k8s["loadInclusterConfig"],
        "env_secrets": [s["name"] for s in k8s["envSecrets"]],
        "run_k8s_config": {"container_config": k8s["runK8sConfig"]["containerConfig"]},
        # what the chart itself fills in
        "instance_config_map": "dagster-instance",
        "service_account_name": "dagster",
        "dagster_home": "/opt/dagster/dagster_home",
        "postgres_password_secret": "dagster-postgresql-secret",
    }
    result = process_config(K8sRunLauncher.config_type(), config)
    assert result.success, result.errors


# ---- one image, one set of ports ----


def test_every_service_runs_the_image_and_ports_of_the_doc() -> None:
    services, compose = _services(), _compose()
    assert set(compose) == set(services)
    for name, row in services.items():
        assert compose[name]["image"] == row["image"], name
        if row["port"] != "–" and name != "postgres":
            assert row["port"] in compose[name]["command"], (name, compose[name]["command"])
    assert compose["webserver"]["ports"] == [f"{services['webserver']['port']}:{services['webserver']['port']}"]
    assert compose["user_code"]["expose"] == [services["user_code"]["port"]]
    assert compose["user_code"]["environment"]["DAGSTER_CURRENT_IMAGE"] == services["user_code"]["image"]
    assert services["user_code"]["command"] == " ".join(compose["user_code"]["command"])
    for name in ("webserver", "daemon"):
        assert services[name]["command"] == " ".join(compose[name]["command"])


def test_the_dockerfile_and_the_workspace_serve_the_code_server_of_the_doc() -> None:
    code_server = _services()["user_code"]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    assert cmd and " ".join(yaml.safe_load(cmd.group(1))) == code_server["command"]
    assert re.search(rf"^EXPOSE {code_server['port']}$", dockerfile, re.MULTILINE)
    assert re.search(r"^USER dagster$", dockerfile, re.MULTILINE), "the image runs as a non-root user"
    (location,) = _yaml("workspace.yaml")["load_from"]
    assert location["grpc_server"]["host"] == "user_code"
    assert str(location["grpc_server"]["port"]) == code_server["port"]


def test_the_helm_user_deployment_runs_the_same_image_and_port() -> None:
    services, deployment = _services(), _user_deployment()
    image = f"{deployment['image']['repository']}:{deployment['image']['tag']}"
    assert image == services["user_code"]["image"]
    assert str(deployment["port"]) == services["user_code"]["port"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "venue_pipeline.definitions"]
    web = _yaml("helm/values.yaml")["dagsterWebserver"]["service"]
    assert str(web["port"]) == services["webserver"]["port"]


# ---- one set of variables, no secret in a file ----


def test_each_service_sets_exactly_the_variables_the_doc_lists_for_it() -> None:
    variables, compose = _variables(), _compose()
    for name, service in compose.items():
        documented = {v for v, row in variables.items() if name in [s.strip() for s in row["compose"].split(",")]}
        assert set(service.get("environment") or {}) == documented, name


def test_the_run_launcher_passes_only_variables_the_daemon_has() -> None:
    env_vars = _yaml("dagster.yaml")["run_launcher"]["config"]["env_vars"]
    daemon = set(_compose()["daemon"]["environment"])
    assert set(env_vars) <= daemon
    assert set(env_vars) == daemon, "a variable of the daemon would not reach the runs"


def test_the_helm_values_take_the_variables_from_the_doc() -> None:
    variables, deployment = _variables(), _user_deployment()
    from_env = {v for v, row in variables.items() if row["Kubernetes (Helm)"] == "env"}
    assert {e["name"] for e in deployment["env"]} == from_env
    secrets = {row["Kubernetes (Helm)"].removeprefix("Secret ") for row in variables.values()
               if row["Kubernetes (Helm)"].startswith("Secret ")}
    assert {s["name"] for s in deployment["envSecrets"]} == secrets
    launcher = _yaml("helm/values.yaml")["runLauncher"]["config"]["k8sRunLauncher"]
    assert {s["name"] for s in launcher["envSecrets"]} == secrets
    assert _yaml("helm/values.yaml")["global"]["postgresqlSecretName"] in DOC.read_text()


def test_every_key_the_code_reads_is_a_secret_from_the_environment() -> None:
    variables, compose = _variables(), _compose()
    keys = {*API_KEY_ENV.values(), "IMAGEKIT_PRIVATE_KEY"}
    assert keys <= set(variables)
    for key in keys:
        assert variables[key]["secret"] == "yes"
        assert variables[key]["Kubernetes (Helm)"] == "Secret venue-pipeline-provider-keys"
    secret = {v for v, row in variables.items() if row["secret"] == "yes"}
    for name, service in compose.items():
        for var, value in (service.get("environment") or {}).items():
            if var in secret:  # compose interpolates it from deploy/.env or the shell; nothing literal
                assert re.fullmatch(r".*\$\{[A-Z_]+:?[-?][^}]*\}.*", str(value)), (name, var)
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert not [v for v in secret if re.search(rf"^(ENV|ARG)\b.*\b{v}\b", dockerfile, re.MULTILINE)]
    example = (DEPLOY / "env.example").read_text()
    assert not re.search(r"(KEY|PASSWORD)=\S", example), "env.example holds a value for a secret"
    assert ".env" in (DEPLOY / ".gitignore").read_text().split()


def test_the_image_context_leaves_out_local_state_and_secrets() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore, "everything is excluded unless listed"
    assert "**/.env" in ignore
    assert not [ln for ln in ignore if ln.startswith("!") and (".venue_pipeline" in ln or ".env" in ln)]


# ---- one set of limits ----


def test_the_helm_run_queue_has_the_limits_of_the_production_instance() -> None:
    runs = _yaml("dagster.yaml")["concurrency"]["runs"]
    queue = _yaml("helm/values.yaml")["dagsterDaemon"]["runCoordinator"]
    assert queue["type"] == "QueuedRunCoordinator"
    helm = queue["config"]["queuedRunCoordinator"]
    assert helm["maxConcurrentRuns"] == runs["max_concurrent_runs"]
    assert helm["tagConcurrencyLimits"] == runs["tag_concurrency_limits"]
    coordinator = _yaml("dagster.yaml")["run_coordinator"]["config"]
    assert helm["dequeueUseThreads"] == coordinator["dequeue_use_threads"]
    assert helm["dequeueNumWorkers"] == coordinator["dequeue_num_workers"]


def test_the_queue_limits_the_tags_the_city_runs_carry() -> None:
    from venue_pipeline.defs.partitions import CITY_RUN_TAG

    limits = {limit["key"]: limit for limit in _yaml("dagster.yaml")["concurrency"]["runs"]["tag_concurrency_limits"]}
    for key in (CITY_RUN_TAG, "dagster/asset_partition_range_start"):
        assert limits[key]["limit"] == 1 and limits[key]["value"] == {"applyLimitPerUniqueValue": True}


def test_the_init_step_sets_a_limit_for_every_pool_the_code_uses() -> None:
    init = " ".join(_compose()["init"]["command"])
    limits = dict(re.findall(r"dagster instance concurrency set (\S+) (\d+)", init))
    assert set(limits) == _pools_used() == {"provider_api", "image_upload"}
    helm_comment = (DEPLOY / "helm" / "values.yaml").read_text()
    for pool, limit in limits.items():
        assert f"dagster instance concurrency set {pool} {limit}" in helm_comment
        assert f"dagster instance concurrency set {pool} {limit}" in DOC.read_text()
