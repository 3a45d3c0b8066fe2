"""End to end with a real Dagster daemon: a backfill over every demo city, launched the way the UI's asset graph
launches "Materialize all → all partitions", completes in ceil(cities / CITIES_PER_BACKFILL_RUN) runs."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import subprocess
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from venue_pipeline.defs.partitions import CITIES_PER_BACKFILL_RUN
from venue_pipeline.demo import demo_csv
from venue_pipeline.store.schema import VenueImageRow, VenueRow


def _e2e_helpers() -> ModuleType:
    """The process helpers of e2e/conftest.py, loaded by path: several conftest modules share the name 'conftest'."""
    path = Path(__file__).with_name("conftest.py")
    spec = importlib.util.spec_from_file_location("venue_e2e_process_helpers", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


helpers = _e2e_helpers()
PROJECT_ROOT: Path = helpers.PROJECT_ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (os.environ.get("CI") or os.environ.get("VENUE_E2E_TESTS") == "1"),
        reason="starts dagster-webserver and dagster-daemon (~1 min): set VENUE_E2E_TESTS=1 (CI sets CI) to run",
    ),
]

CITIES = ["exeter", "norwich", "nottingham"]
VENUES_PER_CITY = 3
CITY_ASSETS = ["provider_ids", "discovered_photos", "uploaded_images"]
BACKFILL_TIMEOUT_S = 240.0


# ---- instance and environment (the same shape in test_daemon_retry.py; test modules cannot share code) ----


def _fresh_pg_database(server_url: str) -> tuple[str, str]:
    """An empty database next to the one in server_url (nothing shared is wiped); returns (its URL, admin URL)."""
    base = make_url(server_url)
    admin = base.set(database="postgres").render_as_string(hide_password=False)
    name = f"vp_dagster_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False), admin


def _drop_pg_database(url: str, admin: str) -> None:
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def dagster_env(tmp_path: Path, db_url: str) -> Iterator[dict[str, str]]:
    """Env for every process of the test: a private DAGSTER_HOME (SQLite storage, or a throwaway PostgreSQL
    database when CI's PostgreSQL pass provides DAGSTER_PG_URL), the test's venue DB, local images, sandbox."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    instance_yaml = (PROJECT_ROOT / "dagster.yaml").read_text()
    pg_server = os.environ.get("DAGSTER_PG_URL", "")
    pg_db: tuple[str, str] | None = None
    if pg_server and db_url.startswith("postgres"):
        pg_db = _fresh_pg_database(pg_server)
        instance_yaml += "\nstorage:\n  postgres:\n    postgres_url:\n      env: DAGSTER_PG_URL\n"
    (home / "dagster.yaml").write_text(instance_yaml)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VENUE_", "IMAGEKIT_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home),
        VENUE_PIPELINE_HOME=str(tmp_path / "state"),
        VENUE_DB_URL=db_url,
        VENUE_IMAGE_DIR=str(tmp_path / "images"),
        VENUE_IMAGE_STORE="local",
        VENUE_PROVIDER_MODE="sandbox",
        VENUE_SANDBOX_FAULTS="none",
        PATH=f"{Path(helpers.venv_bin('dagster')).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
    )
    if pg_db:
        env["DAGSTER_PG_URL"] = pg_db[0]
    try:
        yield env
    finally:
        if pg_db:
            _drop_pg_database(*pg_db)


def _run_cli(cmd: list[str], env: dict[str, str], log: Path, timeout_s: float = 240) -> None:
    """A short-lived command in its own process group, output kept in log; fails the test with its tail."""
    proc = helpers.start_process_group(cmd, env, log)
    try:
        rc = proc.wait(timeout=timeout_s)
    finally:
        helpers.stop_process_group(proc)
    assert rc == 0, f"{' '.join(cmd)} exited {rc}\n{helpers.log_tail(log)}"


def graphql(base: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST a GraphQL document; GraphQL-level errors fail the test."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{base}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as resp:
        payload = json.loads(resp.read())
    assert not payload.get("errors"), payload["errors"]
    return payload["data"]


def processes_with_env(marker: str) -> list[int]:
    """Pids whose environment holds marker (e.g. our DAGSTER_HOME): anything the test started and left behind."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


# ---- GraphQL documents (the shapes the UI sends) -----------------------------------------------------

SENSORS = """
{
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes { sensors { name jobOriginId sensorState { id selectorId status } } }
    }
  }
}
"""

STOP_SENSOR = """
mutation StopSensor($id: String, $jobOriginId: String, $jobSelectorId: String) {
  stopSensor(id: $id, jobOriginId: $jobOriginId, jobSelectorId: $jobSelectorId) {
    __typename
    ... on StopSensorMutationResult { instigationState { status } }
    ... on Error { message }
  }
}
"""

LAUNCH_BACKFILL = """
mutation LaunchBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""

BACKFILL_STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status numPartitions error { message } }
    ... on Error { message }
  }
}
"""

BACKFILL_RUNS = """
query BackfillRuns($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    __typename
    ... on Runs { results { runId status tags { key value } } }
    ... on Error { message }
  }
}
"""

DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def _subset_csv(dest: Path) -> Path:
    """The first VENUES_PER_CITY demo venues of each city (Open Pubs columns; the city is local_authority)."""
    with demo_csv().open(newline="", encoding="utf-8") as src:
        reader = csv.reader(src)
        header = next(reader)
        seen: Counter[str] = Counter()
        rows = []
        for row in reader:
            if seen[row[-1]] < VENUES_PER_CITY:
                seen[row[-1]] += 1
                rows.append(row)
    with dest.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return dest


def _stop_new_venues_sensor(base: str) -> None:
    """The UI's sensor toggle: imported venues would otherwise get sensor-launched city runs beside the backfill."""
    deadline = time.monotonic() + 60
    sensors: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not sensors:  # the webserver may still be loading the code location
        repos = graphql(base, SENSORS)["repositoriesOrError"]
        sensors = [s for node in repos.get("nodes", []) for s in node["sensors"] if s["name"] == "new_venues_sensor"]
        if not sensors:
            time.sleep(1)
    assert sensors, f"new_venues_sensor not found: {repos}"
    sensor = sensors[0]
    result = graphql(
        base,
        STOP_SENSOR,
        {
            "id": sensor["sensorState"]["id"],
            "jobOriginId": sensor["jobOriginId"],
            "jobSelectorId": sensor["sensorState"]["selectorId"],
        },
    )["stopSensor"]
    assert result["__typename"] == "StopSensorMutationResult", result
    assert result["instigationState"]["status"] == "STOPPED", result


def test_backfill_over_all_cities_completes_in_bounded_runs(
    dagster_env: dict[str, str], tmp_path: Path, process_groups: Any
) -> None:
    env, logs, db_url = dagster_env, tmp_path / "logs", dagster_env["VENUE_DB_URL"]
    # New cities in the venue DB and as Dagster partitions, none enriched yet: the backfill does all the work.
    _run_cli(
        [helpers.venv_bin("venue-pipeline"), "import-venues", str(_subset_csv(tmp_path / "venues.csv")),
         "--format", "open_pubs"],
        env,
        logs / "import.log",
    )

    port = helpers.free_port()
    base = f"http://127.0.0.1:{port}"
    web_log, daemon_log = logs / "webserver.log", logs / "daemon.log"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            process_groups(
                [helpers.venv_bin("dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
                env,
                web_log,
            )
        )
        helpers.wait_for_http(f"{base}/server_info", 90, procs[0], web_log)
        _stop_new_venues_sensor(base)
        procs.append(process_groups([helpers.venv_bin("dagster-daemon"), "run", "-w", "workspace.yaml"], env, daemon_log))

        # Asset graph → "Materialize all" → all partitions: an asset backfill (not a job backfill), so the
        # assets' BackfillPolicy.multi_run groups the cities into runs.
        launched = graphql(
            base,
            LAUNCH_BACKFILL,
            {
                "params": {
                    "assetSelection": [{"path": [key]} for key in CITY_ASSETS],
                    "partitionNames": CITIES,
                    "fromFailure": False,
                }
            },
        )["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]

        deadline = time.monotonic() + BACKFILL_TIMEOUT_S
        backfill: dict[str, Any] = {}
        while time.monotonic() < deadline:
            backfill = graphql(base, BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
            assert backfill["__typename"] == "PartitionBackfill", backfill
            if backfill["status"] in DONE:
                break
            time.sleep(2)
        assert backfill.get("status") in ("COMPLETED", "COMPLETED_SUCCESS"), (
            f"backfill {backfill_id} not completed within {BACKFILL_TIMEOUT_S:.0f}s: {backfill}\n"
            f"{helpers.log_tail(daemon_log)}"
        )

        runs = graphql(base, BACKFILL_RUNS, {"id": backfill_id})["runsOrError"]
        assert runs["__typename"] == "Runs", runs
        results = runs["results"]
    finally:
        for proc in reversed(procs):
            helpers.stop_process_group(proc)

    assert all(_group_gone(p.pid) for p in procs), "a dagster process group outlived its stop"
    assert processes_with_env(f"DAGSTER_HOME={env['DAGSTER_HOME']}") == [], "processes of this test are still running"
    expected_runs = math.ceil(len(CITIES) / CITIES_PER_BACKFILL_RUN)
    assert len(results) == expected_runs, f"expected {expected_runs} backfill run(s), got {results}"
    assert [r["status"] for r in results] == ["SUCCESS"] * expected_runs, results
    for run in results:  # each run covers a range of cities, never one run per city
        tags = {t["key"]: t["value"] for t in run["tags"]}
        assert "dagster/asset_partition_range_start" in tags, tags

    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            uploaded = dict(
                session.execute(
                    select(VenueRow.city_slug, func.count(VenueImageRow.id))
                    .join(VenueImageRow, VenueImageRow.venue_id == VenueRow.id)
                    .where(VenueImageRow.status == "uploaded")
                    .group_by(VenueRow.city_slug)
                ).all()
            )
    finally:
        engine.dispose()
    assert sorted(city for city, n in uploaded.items() if n > 0) == CITIES, f"uploaded images per city: {uploaded}"
