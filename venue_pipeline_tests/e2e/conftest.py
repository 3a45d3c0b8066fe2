"""Process helpers for end-to-end tests: every server a test starts gets its own process group and is always stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


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


def _group_alive(pgid: int) -> bool:
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
    if not _group_alive(pgid):
        proc.poll()
        return
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        proc.poll()  # reap the leader so a zombie does not keep the group "alive"
        if not _group_alive(pgid):
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


@pytest.fixture
def process_groups() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Factory fixture: start_process_group(...) whose processes are always stopped at teardown, even when the test fails."""
    started: list[subprocess.Popen[bytes]] = []

    def start(
        cmd: Sequence[str], env: Mapping[str, str] | None, log_path: Path, cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        proc = start_process_group(cmd, env, log_path, cwd)
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in reversed(started):
            stop_process_group(proc)
