"""The Dagster instance of the CLI and the demo, and the runs they execute in their own process.

Setting the instance up (DAGSTER_HOME, its dagster.yaml, creating or migrating its storage) happens under
an flock in DAGSTER_HOME, so two first starts at once both succeed. Runs executed in-process carry the
pid and host of their process in tags; on the next start, runs still STARTED whose process is gone are
marked FAILED through the instance and their city leases are released, so the city is picked up again.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from venue_pipeline.config import pipeline_home
from venue_pipeline.store.db import file_lock

log = logging.getLogger(__name__)

MINIMAL_INSTANCE_YAML = "telemetry:\n  enabled: false\n"
INSTANCE_LOCK = ".venue_instance.lock"
RUN_HOST_TAG = "venue_pipeline/host"
RUN_PID_TAG = "venue_pipeline/pid"


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME, defaulting to the project-local instance the UI (`make ui`) also opens; its dagster.yaml
    is written once (atomically, under the instance lock) from the repository's template."""
    home = os.environ.get("DAGSTER_HOME")
    path = Path(home).resolve() if home else pipeline_home() / "dagster_home"
    path.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(path)
    config = path / "dagster.yaml"
    if not config.exists():
        with file_lock(path / INSTANCE_LOCK):
            if not config.exists():
                template = Path(__file__).resolve().parent.parent / "dagster.yaml"
                tmp = path / f".dagster.yaml.{os.getpid()}"
                tmp.write_text(template.read_text() if template.exists() else MINIMAL_INSTANCE_YAML)
                tmp.replace(config)
    return path


@contextmanager
def open_instance() -> Iterator["dg.DagsterInstance"]:  # type: ignore[name-defined]  # noqa: F821
    """The instance in DAGSTER_HOME; created (storage tables, schema migrations) under the instance lock, so
    two processes starting on a fresh DAGSTER_HOME never create the same tables or Alembic heads twice."""
    import dagster as dg

    home = ensure_dagster_home()
    with file_lock(home / INSTANCE_LOCK):
        instance = dg.DagsterInstance.get()
    try:
        yield instance
    finally:
        instance.dispose()


def local_run_tags() -> dict[str, str]:
    """Tags of a run this process executes in-process: who to ask whether it is still alive."""
    return {RUN_HOST_TAG: socket.gethostname(), RUN_PID_TAG: str(os.getpid())}


def run_worker_tags(instance: "dg.DagsterInstance", run_id: str) -> dict[str, str]:  # type: ignore[name-defined]  # noqa: F821
    """Tags naming the run's worker process: the process that logged RUN_START (a step may run in a child
    process of it, under the multiprocess executor, and ends long before the run does)."""
    import dagster as dg

    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
    event = records[0].event_log_entry.dagster_event if records else None
    pid = event.pid if event is not None and event.pid else os.getpid()
    return {RUN_HOST_TAG: socket.gethostname(), RUN_PID_TAG: str(pid)}


def reap_dead_runs(instance: "dg.DagsterInstance", db_url: str | None) -> list[str]:  # type: ignore[name-defined]  # noqa: F821
    """Marks FAILED every run of this host still in progress whose process is gone (or is this very process,
    which has just started, so the pid was reused), releases its leases; returns their run ids."""
    import dagster as dg

    from venue_pipeline.store import leases

    statuses = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=statuses, tags={RUN_HOST_TAG: socket.gethostname()})
    )
    reaped = []
    for record in records:
        run = record.dagster_run
        pid_tag = run.tags.get(RUN_PID_TAG, "")
        if not pid_tag.isdigit():
            continue
        pid = int(pid_tag)
        if pid != os.getpid() and leases.pid_alive(pid):
            continue
        message = f"run worker process {pid} on {socket.gethostname()} is gone: the run was killed; marked failed"
        instance.report_run_failed(run, message)
        reaped.append(run.run_id)
        if db_url:
            try:
                freed = leases.release_run(db_url, run.run_id)
            except Exception:  # the database may be elsewhere or not migrated; leases expire on their own
                log.warning("could not release the leases of run %s", run.run_id, exc_info=True)
                freed = []
            log.warning("%s%s", message, f"; released {', '.join(freed)}" if freed else "")
    if db_url:
        try:
            leases.release_dead_holders(db_url)
        except Exception:
            log.warning("could not release leases of dead processes", exc_info=True)
    return reaped
