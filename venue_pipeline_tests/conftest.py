"""Shared fixtures: a fresh, migrated venue database per test, on SQLite or on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from venue_pipeline.store.db import dispose_engines, normalize_url, upgrade


def _fresh_pg_database(server_url: str) -> tuple[str, str]:
    """Creates an empty database on the server of `server_url`; returns (its URL, admin URL)."""
    base = make_url(normalize_url(server_url))
    admin = base.set(database="postgres").render_as_string(hide_password=False)
    name = f"vp_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False), admin


def _drop_pg_database(url: str, admin: str) -> None:
    name = make_url(url).database
    dispose_engines()
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'venues.db'}"
    upgrade(url)
    yield url
    dispose_engines()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL database (needs VENUE_PG_URL, which .ci/run sets)."""
    server = os.environ.get("VENUE_PG_URL")
    if not server:
        pytest.skip("VENUE_PG_URL is not set: no PostgreSQL server for this test (bash .ci/run starts one)")
    url, admin = _fresh_pg_database(server)
    upgrade(url)
    yield url
    _drop_pg_database(url, admin)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request) -> str:
    """The same test on SQLite and on PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def db_url(request, tmp_path) -> Iterator[str]:
    """The suite's database: PostgreSQL when VENUE_DB_URL points at one (CI's second pass), else SQLite."""
    configured = os.environ.get("VENUE_DB_URL", "")
    if configured.startswith("postgres"):
        url, admin = _fresh_pg_database(configured)
        upgrade(url)
        yield url
        _drop_pg_database(url, admin)
    else:
        url = f"sqlite:///{tmp_path / 'venues.db'}"
        upgrade(url)
        yield url
        dispose_engines()
