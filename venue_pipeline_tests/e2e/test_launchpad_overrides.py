"""End to end with a real webserver and daemon (issue 13): the Launchpad cannot exfiltrate secrets or redirect
writes. A run config that points the providers at a listener of ours, reads a key from the database URL's
variable and moves the image folder and the venue database elsewhere is refused, the UI's way (GraphQL launchRun
and launchPartitionBackfill): the listener on 127.0.0.1 receives nothing and no file appears at those paths.
A narrowing config (one city's venues, one provider) still launches and succeeds. Every process is stopped."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import e2e_support as e2e
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from venue_pipeline.demo import limited_demo_csv
from venue_pipeline.store.schema import VenueRow

pytestmark = e2e.DAGSTER_E2E_MARKS

CITY = "exeter"
CITY_ASSETS = ["provider_ids", "discovered_photos", "uploaded_images"]
CANARY = "postgresql://canary:do-not-send@127.0.0.1:1/canary"
RUN_TIMEOUT_S = 180.0
REFUSED_FIELDS = ("sandbox_url", "google_places_api_key", "image_dir", "db_url")

REPOSITORIES = """
{
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes { name location { name } }
    }
  }
}
"""


LAUNCH_RUN = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on RunConfigValidationInvalid { errors { __typename message path reason } }
    ... on PythonError { message }
    ... on Error { message }
  }
}
"""


BACKFILL_RUNS = """
query BackfillRuns($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    __typename
    ... on Runs { results { runId status } }
    ... on Error { message }
  }
}
"""

RUN_STATUS = """
query Run($id: ID!) {
  runOrError(runId: $id) {
    __typename
    ... on Run { status }
    ... on Error { message }
  }
}
"""

BACKFILL_DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
RUN_DONE = {"SUCCESS", "FAILURE", "CANCELED"}


class Listener:
    """The hostile tester's server: a TCP listener on loopback that records every connection and its bytes."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1.0)
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                self.received.append(data or b"(connection)")
                try:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    try:
        yield server
    finally:
        server.close()


def _hostile_run_config(listener_url: str, elsewhere: Path, other_db: Path) -> dict[str, Any]:
    return {
        "resources": {
            "provider_apis": {
                "config": {"sandbox_url": listener_url, "google_places_api_key": {"env": "DAGSTER_PG_URL"}}
            },
            "image_cdn": {"config": {"image_dir": str(elsewhere)}},
            "venue_store": {"config": {"db_url": f"sqlite:///{other_db}"}},
        }
    }


def _repository(base: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while True:  # the webserver may still be loading the code location
        repos = e2e.graphql(base, REPOSITORIES)["repositoriesOrError"]
        nodes = repos.get("nodes", [])
        if nodes or time.monotonic() > deadline:
            assert nodes, f"no repository loaded: {repos}"
            return nodes[0]
        time.sleep(1)


def _launch_run(base: str, repo: dict[str, Any], run_config: dict[str, Any]) -> dict[str, Any]:
    """The Launchpad's launch of enrich_city_job for one city partition."""
    params = {
        "selector": {
            "repositoryLocationName": repo["location"]["name"],
            "repositoryName": repo["name"],
            "jobName": "enrich_city_job",
        },
        "runConfigData": run_config,
        "mode": "default",
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": CITY}]},
    }
    return e2e.graphql(base, LAUNCH_RUN, {"executionParams": params})["launchRun"]


def _city_venue_ids(db_url: str) -> list[int]:
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(VenueRow.id).where(VenueRow.city_slug == CITY).order_by(VenueRow.id)))
    finally:
        engine.dispose()


def test_the_launchpad_cannot_redirect_resources_but_can_narrow_a_run(
    dagster_env: dict[str, str], tmp_path: Path, process_groups: Any, listener: Listener
) -> None:
    env, logs = dict(dagster_env), tmp_path / "logs"
    env.setdefault("DAGSTER_PG_URL", CANARY)  # the secret the hostile config asks for (the real one in CI's PG pass)
    elsewhere, other_db = tmp_path / "elsewhere", tmp_path / "other.db"
    hostile = _hostile_run_config(listener.url, elsewhere, other_db)
    e2e.run_cli(
        [e2e.venv_bin("venue-pipeline"), "import-venues", str(limited_demo_csv(2, tmp_path / "venues.csv")),
         "--format", "open_pubs"],
        env,
        logs / "import.log",
    )
    venue_ids = _city_venue_ids(env["VENUE_DB_URL"])[:1]
    assert venue_ids, f"no {CITY} venue imported"

    procs: list[subprocess.Popen[bytes]] = []
    try:
        base, procs = e2e.start_dagster(process_groups, env, logs, before_daemon=lambda base: e2e.stop_sensor(base, "new_venues_sensor"))
        repo = _repository(base)

        # 1. The Launchpad's Launch Run with the hostile resources: refused by config validation, no run.
        refused = _launch_run(base, repo, hostile)
        assert refused["__typename"] == "RunConfigValidationInvalid", refused
        messages = " ".join(error["message"] for error in refused["errors"])
        for field in REFUSED_FIELDS:
            assert field in messages, messages

        # 2. The asset graph's Materialize → backfill with the same run config: its run is never created.
        launched = e2e.graphql(
            base,
            e2e.LAUNCH_BACKFILL,
            {
                "params": {
                    "assetSelection": [{"path": [key]} for key in CITY_ASSETS],
                    "partitionNames": [CITY],
                    "fromFailure": False,
                    "runConfigData": hostile,
                }
            },
        )["launchPartitionBackfill"]
        backfill_runs: list[dict[str, Any]] = []
        if launched["__typename"] == "LaunchBackfillSuccess":  # accepted as a request: the daemon refuses its runs
            backfill_id = launched["backfillId"]
            deadline = time.monotonic() + RUN_TIMEOUT_S
            backfill: dict[str, Any] = {}
            while time.monotonic() < deadline:
                backfill = e2e.graphql(base, e2e.BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
                if backfill.get("status") in BACKFILL_DONE:
                    break
                time.sleep(2)
            assert backfill.get("status") in ("FAILED", "COMPLETED_FAILED"), (
                f"{backfill}\n{e2e.log_tail(logs / 'daemon.log')}"
            )
            error = (backfill.get("error") or {}).get("message", "")
            assert any(field in error for field in REFUSED_FIELDS), backfill
            backfill_runs = e2e.graphql(base, BACKFILL_RUNS, {"id": backfill_id})["runsOrError"]["results"]
        else:
            assert any(field in launched.get("message", "") for field in REFUSED_FIELDS), launched
        assert all(run["status"] not in ("STARTED", "SUCCESS") for run in backfill_runs), backfill_runs

        # 3. A narrowing config (one venue of the city, one provider) launches and succeeds.
        sections = {name: {"venue_ids": venue_ids, "providers": ["here", "foursquare", "google_places"]} for name in CITY_ASSETS}
        narrowing = {"ops": {"city_galleries": {"config": sections}}}
        ok = _launch_run(base, repo, narrowing)
        assert ok["__typename"] == "LaunchRunSuccess", ok
        run_id, status = ok["run"]["runId"], ""
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline:
            status = e2e.graphql(base, RUN_STATUS, {"id": run_id})["runOrError"]["status"]
            if status in RUN_DONE:
                break
            time.sleep(2)
        assert status == "SUCCESS", f"run {run_id}: {status}\n{e2e.log_tail(logs / 'daemon.log')}"
    finally:
        for proc in reversed(procs):
            e2e.stop_process_group(proc)

    e2e.assert_all_stopped(procs, env["DAGSTER_HOME"])
    assert listener.received == [], f"the listener was called: {listener.received[:3]}"
    assert not elsewhere.exists(), "an image folder appeared where the run config pointed"
    assert not other_db.exists(), "a database appeared where the run config pointed"
    assert any((tmp_path / "images").rglob("*.*")), "the narrowing run stored no image in the deployment's folder"
