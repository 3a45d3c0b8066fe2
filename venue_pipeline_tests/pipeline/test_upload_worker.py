"""The flow's uploads in a worker process (pipeline/upload_worker.py): the same stored result as the thread, the
worker's errors raised by the flow, and no worker left behind when the flow's process is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from venue_pipeline.cli import import_file
from venue_pipeline.demo import limited_demo_csv
from venue_pipeline.pipeline.flow import run_city_flow
from venue_pipeline.pipeline.handoff import Handoff
from venue_pipeline.pipeline.upload_worker import _portable, run_uploads_in_worker, uses_process
from venue_pipeline.services import Settings
from venue_pipeline.store.db import session_scope, upgrade
from venue_pipeline.store.schema import UploadAttemptRow, VenueImageRow


def _settings(db_url: str, tmp_path: Path, name: str, **kw: object) -> Settings:
    return Settings(db_url=db_url, sandbox_faults="none", image_dir=str(tmp_path / name), **kw)  # type: ignore[arg-type]


def _images(db_url: str) -> Counter:
    with session_scope(db_url) as s:
        return Counter(s.execute(select(VenueImageRow.provider, VenueImageRow.status, VenueImageRow.cdn_path)).all())


def test_uploads_in_a_worker_process_store_what_the_thread_stores(city_db, tmp_path, monkeypatch) -> None:
    started: list[list[str]] = []
    popen = subprocess.Popen

    def recording(argv, *args, **kwargs):  # type: ignore[no-untyped-def]
        started.append(list(argv))
        return popen(argv, *args, **kwargs)

    monkeypatch.setattr("venue_pipeline.pipeline.upload_worker.subprocess.Popen", recording)
    worker = run_city_flow(_settings(city_db, tmp_path, "worker_images"), "exeter", upload_worker="process")
    assert [argv[-1] for argv in started] == ["venue_pipeline.pipeline.upload_worker"]  # one worker, this city's
    started.clear()
    other = f"sqlite:///{tmp_path / 'thread.db'}"
    upgrade(other)
    import_file(other, limited_demo_csv(8, tmp_path / "subset2.csv"), "open_pubs", quiet=True)
    thread = run_city_flow(_settings(other, tmp_path, "thread_images"), "exeter", upload_worker="thread")
    assert started == []  # the thread mode starts no process
    assert _images(city_db) == _images(other)
    assert worker.uploads.uploaded == thread.uploads.uploaded and sum(worker.uploads.uploaded.values()) > 0
    assert worker.uploads.calls == thread.uploads.calls and worker.uploads.images == thread.uploads.images
    assert sorted(p.name for p in (tmp_path / "worker_images").rglob("*")) == sorted(
        p.name for p in (tmp_path / "thread_images").rglob("*")
    )
    with session_scope(city_db) as s:  # one attempt per image: the worker recorded each outcome once
        assert s.query(UploadAttemptRow).count() == sum(worker.uploads.uploaded.values())


def test_auto_runs_the_worker_only_when_providers_are_reached_over_the_network(tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'v.db'}"
    assert not uses_process(Settings(db_url=db), "auto")  # the in-process sandbox lives in this process
    assert uses_process(Settings(db_url=db, sandbox_url="http://127.0.0.1:9"), "auto")
    assert uses_process(Settings(db_url=db, provider_mode="live"), "auto")
    assert not uses_process(Settings(db_url="sqlite://", provider_mode="live"), "auto")  # private in-memory db
    assert uses_process(Settings(db_url=db), "process") and not uses_process(Settings(db_url=db), "thread")
    with pytest.raises(ValueError, match="in-memory SQLite"):
        uses_process(Settings(db_url="sqlite://"), "process")
    with pytest.raises(ValueError, match="upload_worker must be one of auto, thread, process, not 'fork'"):
        uses_process(Settings(db_url=db), "fork")


def test_the_workers_error_is_raised_in_the_flows_process(city_db, tmp_path) -> None:
    parts = Handoff()
    parts.put(1)
    parts.close()
    with pytest.raises(ValueError, match="VENUE_IMAGE_STORE must be 'local' or 'imagekit', not 'ftp'"):
        run_uploads_in_worker(_settings(city_db, tmp_path, "img", image_store="ftp"), "exeter", venues_from=parts)


def test_an_error_that_cannot_cross_the_pipe_comes_back_as_its_text() -> None:
    class Odd(Exception):
        def __init__(self) -> None:
            super().__init__("odd failure")
            self.lock = threading.Lock()  # not picklable

    back = _portable(Odd())
    assert isinstance(back, RuntimeError) and str(back).startswith("upload worker: Odd: odd failure")


_FLOW_PROCESS = textwrap.dedent(
    """
    import sys
    from venue_pipeline.pipeline.handoff import Handoff
    from venue_pipeline.pipeline.upload_worker import run_uploads_in_worker
    from venue_pipeline.services import Settings

    parts = Handoff()  # never closed: the worker waits for more parts until this process dies
    parts.put(1)
    print("started", flush=True)
    run_uploads_in_worker(Settings(db_url=sys.argv[1], sandbox_faults="none", image_dir=sys.argv[2]),
                          "exeter", venues_from=parts)
    """
)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"venue_pipeline.pipeline.upload_worker" in cmdline:
            found.append(int(entry.name))
    return found


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")  # exited (a zombie waits only for its new parent to reap it)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc (Linux)")
def test_the_worker_ends_when_the_flows_process_is_killed(city_db, tmp_path) -> None:
    flow = subprocess.Popen(
        [sys.executable, "-c", _FLOW_PROCESS, city_db, str(tmp_path / "img")],
        stdout=subprocess.PIPE, text=True, env=os.environ.copy(),
    )
    worker: list[int] = []
    try:
        assert flow.stdout is not None and flow.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 60
        while not worker and time.monotonic() < deadline:
            worker = _children(flow.pid)
            time.sleep(0.1)
        assert len(worker) == 1, "the flow's process started no upload worker"
        time.sleep(1.0)
        assert not _gone(worker[0]), "the worker must wait for more parts while its flow lives"
        flow.send_signal(signal.SIGKILL)
        flow.wait(timeout=10)
        deadline = time.monotonic() + 20
        while not _gone(worker[0]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(worker[0]), "the upload worker outlived the killed flow"
    finally:
        if flow.poll() is None:
            flow.kill()
            flow.wait()
        for pid in worker:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
