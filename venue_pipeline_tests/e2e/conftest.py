"""Fixtures of the end-to-end tests: started processes are always stopped; each test gets a private Dagster
instance and venue database. Plain helpers live in e2e_support.py."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from e2e_support import PROJECT_ROOT, start_process_group, stop_process_group, venv_bin

from venue_pipeline.store.db import create_scratch_database, drop_database


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


@pytest.fixture
def sandbox_faults() -> str:
    """The sandbox fault mix dagster_env gives every process; a test module overrides this fixture to change it."""
    return "none"


@pytest.fixture
def dagster_env(tmp_path: Path, db_url: str, sandbox_faults: str) -> Iterator[dict[str, str]]:
    """Env for every process of the test: a private DAGSTER_HOME (SQLite storage, or a throwaway PostgreSQL
    database when CI's PostgreSQL pass provides DAGSTER_PG_URL), the test's venue DB, local images, sandbox."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    instance_yaml = (PROJECT_ROOT / "dagster.yaml").read_text()
    pg_server = os.environ.get("DAGSTER_PG_URL", "")
    pg_db: tuple[str, str] | None = None
    if pg_server and db_url.startswith("postgres"):
        pg_db = create_scratch_database(pg_server, "vp_dagster")
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
        VENUE_SANDBOX_FAULTS=sandbox_faults,
        PATH=f"{Path(venv_bin('dagster')).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
    )
    if pg_db:
        env["DAGSTER_PG_URL"] = pg_db[0]
    try:
        yield env
    finally:
        if pg_db:
            drop_database(*pg_db)

