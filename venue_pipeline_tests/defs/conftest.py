"""A Dagster instance for the defs tests: PostgreSQL storage in CI's PostgreSQL pass, else a temp SQLite one."""

from __future__ import annotations

import os
from collections.abc import Iterator

import dagster as dg
import pytest


@pytest.fixture
def dagster_instance() -> Iterator[dg.DagsterInstance]:
    pg = os.environ.get("DAGSTER_PG_URL")
    on_pg = os.environ.get("VENUE_DB_URL", "").startswith("postgres")
    overrides = {"storage": {"postgres": {"postgres_url": pg}}} if (pg and on_pg) else None
    with dg.instance_for_test(overrides=overrides) as instance:
        if overrides:  # a shared PostgreSQL instance: start every test from empty run and event storage
            instance.wipe()
        yield instance
        if overrides:
            instance.wipe()
