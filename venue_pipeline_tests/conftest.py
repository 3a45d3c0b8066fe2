"""Shared fixtures: a fresh, migrated venue database per test, on SQLite or on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from venue_pipeline.store.db import create_scratch_database, dispose_engines, drop_database, upgrade


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
    url, admin = create_scratch_database(server, "vp_test")
    upgrade(url)
    yield url
    drop_database(url, admin)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request) -> str:
    """The same test on SQLite and on PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def db_url(request, tmp_path) -> Iterator[str]:
    """The suite's database: PostgreSQL when VENUE_DB_URL points at one (CI's second pass), else SQLite."""
    configured = os.environ.get("VENUE_DB_URL", "")
    if configured.startswith("postgres"):
        url, admin = create_scratch_database(configured, "vp_test")
        upgrade(url)
        yield url
        drop_database(url, admin)
    else:
        url = f"sqlite:///{tmp_path / 'venues.db'}"
        upgrade(url)
        yield url
        dispose_engines()
