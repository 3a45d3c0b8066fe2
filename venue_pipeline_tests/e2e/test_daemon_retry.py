"""End to end with a real Dagster daemon: a failure report with due failed images makes the retry sensor
launch retry_job, which re-uploads from stored references and succeeds; every process started is stopped."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import create_engine, delete, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from venue_pipeline.store.schema import ApiCallRow, UploadAttemptRow, VenueImageRow, VenueRow


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

SENSOR = "retry_after_report_sensor"
CITY = "exeter"
RETRY_TIMEOUT_S = 180.0


# ---- instance and environment (the same shape in test_backfill.py; test modules cannot share code) ----


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
        VENUE_SANDBOX_FAULTS="default",
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


def _start_dagster(start: Any, env: dict[str, str], logs: Path) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """dagster-webserver on a free loopback port and dagster-daemon on the same instance; returns the base URL."""
    port = helpers.free_port()
    web_log, daemon_log = logs / "webserver.log", logs / "daemon.log"
    web = start(
        [helpers.venv_bin("dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        env,
        web_log,
    )
    daemon = start([helpers.venv_bin("dagster-daemon"), "run", "-w", "workspace.yaml"], env, daemon_log)
    base = f"http://127.0.0.1:{port}"
    helpers.wait_for_http(f"{base}/server_info", 90, web, web_log)
    return base, [web, daemon]


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


# ---- the test ---------------------------------------------------------------------------------------

RETRY_RUNS = """
query RetryRuns($sensor: String!) {
  runsOrError(filter: {pipelineName: "retry_job", tags: [{key: "dagster/sensor_name", value: $sensor}]}) {
    __typename
    ... on Runs { results { runId status } }
    ... on PythonError { message }
  }
}
"""


def _make_failures_due(db_url: str, city: str) -> int:
    """Failed images wait for next_retry_at; move it into the past so the sensor finds them due.

    The demo imports every demo city but enriches only `city`; the others' venues are dropped so that
    new_venues_sensor does not launch unrelated city runs that would compete with the retry run."""
    engine = create_engine(db_url)
    try:
        with Session(engine) as session, session.begin():
            session.execute(delete(VenueRow).where(VenueRow.city_slug != city))
            result = session.execute(
                update(VenueImageRow)
                .where(VenueImageRow.status == "failed")
                .values(next_retry_at=datetime.now(timezone.utc) - timedelta(minutes=1))
            )
            return int(result.rowcount or 0)
    finally:
        engine.dispose()


def test_daemon_sensor_launches_a_retry_run_that_succeeds(
    dagster_env: dict[str, str], tmp_path: Path, process_groups: Any
) -> None:
    env, logs, db_url = dagster_env, tmp_path / "logs", dagster_env["VENUE_DB_URL"]
    cli = helpers.venv_bin("venue-pipeline")
    due = 0
    for limit in (4, 8):  # a sandbox outage on a few venues leaves failed images; more venues if it did not
        _run_cli(
            [cli, "demo", "--limit-per-city", str(limit), "--city", CITY, "--faults", "outage"],
            {**env, "VENUE_SANDBOX_FAULTS": "outage"},
            logs / f"demo_{limit}.log",
        )
        due = _make_failures_due(db_url, CITY)
        if due:
            break
    assert due > 0, f"the outage demo left no failed image to retry\n{helpers.log_tail(logs / 'demo_8.log')}"

    # The outage is over for the daemon's runs: the retry run fetches the photos from their stored references.
    env = {**env, "VENUE_SANDBOX_FAULTS": "none"}
    # A fresh report while failures are due: the event the asset sensor reacts to.
    _run_cli(
        [helpers.venv_bin("dagster"), "asset", "materialize", "-m", "venue_pipeline.definitions",
         "--select", "image_failure_report"],
        env,
        logs / "report.log",
    )
    procs: list[subprocess.Popen[bytes]] = []
    try:
        base, procs = _start_dagster(process_groups, env, logs)
        deadline = time.monotonic() + RETRY_TIMEOUT_S
        retry_run: str | None = None
        runs: list[dict[str, str]] = []
        while time.monotonic() < deadline and retry_run is None:
            result = graphql(base, RETRY_RUNS, {"sensor": SENSOR})["runsOrError"]
            assert result["__typename"] == "Runs", result
            runs = result["results"]
            bad = [r for r in runs if r["status"] in ("FAILURE", "CANCELED")]
            assert not bad, f"sensor-launched retry run failed: {bad}\n{helpers.log_tail(logs / 'daemon.log')}"
            retry_run = next((r["runId"] for r in runs if r["status"] == "SUCCESS"), None)
            if retry_run is None:
                time.sleep(2)
        assert retry_run, (
            f"no successful {SENSOR} retry_job run within {RETRY_TIMEOUT_S:.0f}s (runs: {runs})\n"
            f"{helpers.log_tail(logs / 'daemon.log')}"
        )
    finally:
        for proc in reversed(procs):
            helpers.stop_process_group(proc)

    assert all(_group_gone(p.pid) for p in procs), "a dagster process group outlived its stop"
    assert processes_with_env(f"DAGSTER_HOME={env['DAGSTER_HOME']}") == [], "processes of this test are still running"

    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            attempts = session.execute(
                select(UploadAttemptRow.is_retry).where(UploadAttemptRow.run_id == retry_run)
            ).scalars().all()
            endpoints = set(session.scalars(select(ApiCallRow.endpoint).where(ApiCallRow.run_id == retry_run)))
            still_due = session.scalar(
                select(func.count()).select_from(VenueImageRow).where(
                    VenueImageRow.status == "failed",
                    VenueImageRow.next_retry_at <= datetime.now(timezone.utc),
                )
            )
    finally:
        engine.dispose()
    assert attempts and all(attempts), f"retry run {retry_run} recorded no retry attempts ({attempts})"
    assert endpoints <= {"photo"}, f"the retry run searched or listed photos again: {sorted(endpoints)}"
    assert still_due == 0, "a retry run left due failed images behind"
