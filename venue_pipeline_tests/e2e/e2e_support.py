"""Plain helpers for the end-to-end tests: processes in their own groups (always stopped), the Dagster
webserver and daemon, GraphQL. pytest's default (prepend) import mode puts this folder on sys.path for the
conftest and the test modules alike, so they all `import e2e_support` and share one module."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# pytestmark of every test that starts dagster-webserver and dagster-daemon: opt-in outside CI.
DAGSTER_E2E_MARKS = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (os.environ.get("CI") or os.environ.get("VENUE_E2E_TESTS") == "1"),
        reason="starts dagster-webserver and dagster-daemon (~1 min): set VENUE_E2E_TESTS=1 (CI sets CI) to run",
    ),
]


def free_port() -> int:
    """Ask the kernel for a free loopback port so parallel runs never collide on a fixed one."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def venv_bin(name: str) -> str:
    """Console script next to the running interpreter, so tests never pick up a different install on PATH."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def start_process_group(
    cmd: Sequence[str],
    env: Mapping[str, str] | None,
    log_path: Path,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start cmd as the leader of a new session/process group (so all its children can be signalled together), output to log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(cmd),
            env=dict(env) if env is not None else None,
            cwd=str(cwd or PROJECT_ROOT),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    # .ci/run stops any group listed here if a test dies before its own teardown.
    pgid_file = os.environ.get("VENUE_CI_PGID_FILE")
    if pgid_file:
        with open(pgid_file, "a", encoding="utf-8") as fh:
            fh.write(f"{proc.pid}\n")
    return proc


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is left (a group we may not signal counts as alive)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process_group(proc: subprocess.Popen[bytes], grace_s: float = 20.0) -> None:
    """TERM the whole group (dagster spawns code servers and workers), then KILL whatever outlives the grace period."""
    pgid = proc.pid  # start_new_session=True makes the child its own group leader
    if not group_alive(pgid):
        proc.poll()
        return
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        proc.poll()  # reap the leader so a zombie does not keep the group "alive"
        if not group_alive(pgid):
            return
        time.sleep(0.2)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def log_tail(log_path: Path, lines: int = 60) -> str:
    """Last lines of a process log, for failure messages."""
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_for_http(url: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None, log_path: Path | None = None) -> None:
    """Poll url until it answers 200; fail early with the log tail if the server process exits."""
    deadline = time.monotonic() + timeout_s
    last_error = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log_tail(log_path) if log_path else ""
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(0.5)
    tail = log_tail(log_path) if log_path else ""
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f}s ({last_error})\n{tail}")


def run_cli(cmd: list[str], env: Mapping[str, str], log: Path, timeout_s: float = 240) -> None:
    """A short-lived command in its own process group, output kept in log; fails the test with its tail."""
    proc = start_process_group(cmd, env, log)
    try:
        rc = proc.wait(timeout=timeout_s)
    finally:
        stop_process_group(proc)
    assert rc == 0, f"{' '.join(cmd)} exited {rc}\n{log_tail(log)}"


def start_dagster(
    start: Callable[..., subprocess.Popen[bytes]],
    env: Mapping[str, str],
    logs: Path,
    before_daemon: Callable[[str], None] | None = None,
    workspace: str = "workspace.yaml",
) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """dagster-webserver on a free loopback port, then dagster-daemon on the same instance; returns the base URL.

    start is the process_groups fixture; before_daemon(base) runs once the webserver answers and before the
    daemon starts (e.g. to stop a sensor through the UI's mutation); workspace is the project's (the code
    location loaded in a code server of the webserver's own) or one pointing at a separate gRPC server."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web_log = logs / "webserver.log"
    web = start(
        [venv_bin("dagster-webserver"), "-w", workspace, "-h", "127.0.0.1", "-p", str(port)], env, web_log
    )
    wait_for_http(f"{base}/server_info", 90, web, web_log)
    if before_daemon is not None:
        before_daemon(base)
    daemon = start([venv_bin("dagster-daemon"), "run", "-w", workspace], env, logs / "daemon.log")
    return base, [web, daemon]


def graphql(base: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST a GraphQL document; GraphQL-level errors fail the test."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{base}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as resp:
        payload = json.loads(resp.read())
    assert not payload.get("errors"), payload["errors"]
    return payload["data"]


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


def stop_sensor(base: str, name: str) -> None:
    """The UI's sensor toggle (e.g. new_venues_sensor, whose runs would otherwise start beside a backfill)."""
    deadline = time.monotonic() + 60
    sensors: list[dict[str, Any]] = []
    repos: dict[str, Any] = {}
    while time.monotonic() < deadline and not sensors:  # the webserver may still be loading the code location
        repos = graphql(base, SENSORS)["repositoriesOrError"]
        sensors = [s for node in repos.get("nodes", []) for s in node["sensors"] if s["name"] == name]
        if not sensors:
            time.sleep(1)
    assert sensors, f"{name} not found: {repos}"
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

BACKFILL_DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def wait_for_backfill(base: str, backfill_id: str, timeout_s: float, daemon_log: Path) -> dict[str, Any]:
    """Polls the backfill as the UI does until it ends; fails the test unless it completed."""
    deadline = time.monotonic() + timeout_s
    backfill: dict[str, Any] = {}
    while time.monotonic() < deadline:
        backfill = graphql(base, BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        assert backfill["__typename"] == "PartitionBackfill", backfill
        if backfill["status"] in BACKFILL_DONE:
            break
        time.sleep(2)
    assert backfill.get("status") in ("COMPLETED", "COMPLETED_SUCCESS"), (
        f"backfill {backfill_id} not completed within {timeout_s:.0f}s: {backfill}\n{log_tail(daemon_log)}"
    )
    return backfill


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


def assert_all_stopped(procs: Sequence[subprocess.Popen[bytes]], dagster_home: str) -> None:
    """After stop_process_group: no group outlived it and no process of the instance (its children too) is left."""
    assert all(not group_alive(p.pid) for p in procs), "a dagster process group outlived its stop"
    assert processes_with_env(f"DAGSTER_HOME={dagster_home}") == [], "processes of this test are still running"
