"""store/db.py: migrations to head (and in place from 0001), URL normalisation, engines and transactions."""

from __future__ import annotations

import pytest
from sqlalchemy import func, inspect, select, text

from venue_pipeline.store.db import (
    current_revision,
    get_engine,
    head_revision,
    normalize_url,
    session_scope,
    upgrade,
)
from venue_pipeline.store.schema import VenueRow
from venue_pipeline.store.venues import list_venues, upsert_venues
from venue_pipeline_tests.store.factories import venue_input


def test_schema_is_at_head_and_upgrade_is_idempotent(any_db_url: str) -> None:
    assert current_revision(any_db_url) == head_revision()
    assert upgrade(any_db_url) == head_revision()
    tables = set(inspect(get_engine(any_db_url)).get_table_names())
    assert {"venues", "provider_ids", "venue_images", "upload_attempts", "api_calls", "failure_reports"} <= tables
    assert {"run_failures", "circuit_resets"} <= tables


@pytest.mark.parametrize("bad", ["postgresql://u@h/db", "postgres://u@h/db"])
def test_bare_postgres_urls_use_psycopg2(bad: str) -> None:
    assert normalize_url(bad).startswith("postgresql+psycopg2://")


def test_other_urls_are_left_alone() -> None:
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
    assert normalize_url("postgresql+psycopg2://u:pw@h/db") == "postgresql+psycopg2://u:pw@h/db"


def test_one_engine_per_url(any_db_url: str) -> None:
    assert get_engine(any_db_url) is get_engine(any_db_url)


def test_session_scope_commits_on_success_and_rolls_back_on_error(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        upsert_venues(s, [venue_input("1")])
    with pytest.raises(RuntimeError), session_scope(any_db_url) as s:
        upsert_venues(s, [venue_input("2", name="Red Lion")])
        raise RuntimeError("boom")
    with session_scope(any_db_url) as s:
        assert s.scalar(select(func.count(VenueRow.id))) == 1


def test_an_existing_database_is_upgraded_in_place_keeping_its_rows(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    assert upgrade(url, "0001") == "0001"
    with session_scope(url) as s:  # a row written by the first schema version, in its own columns
        s.execute(
            text(
                "INSERT INTO venues (source, external_id, name, slug, city_slug, city_name, needs_geocoding, "
                "created_at, updated_at) VALUES ('csv', '1', 'Old Pub', 'old-pub', 'bath', 'Bath', false, "
                "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
    assert upgrade(url) == head_revision()
    with session_scope(url) as s:
        venues = list_venues(s)
    assert [v.name for v in venues] == ["Old Pub"]


UPGRADE_ONCE = (
    "import sys, time\n"
    "from venue_pipeline.store.db import upgrade\n"
    "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"  # all start together
    "print(upgrade(sys.argv[1]))\n"
)


def _upgrade_at_once(url: str, processes: int = 4) -> list[str]:
    import subprocess
    import sys
    import time

    start = f"{time.time() + 3.0:.3f}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADE_ONCE, url, start], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(processes)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * processes, [err[-2000:] for _, err in outs]
    return [out.strip() for out, _ in outs]


def _assert_at_head_once(url: str) -> None:
    with get_engine(url).connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]
        assert "run_leases" in inspect(conn).get_table_names()


def test_four_first_upgrades_at_once_on_a_fresh_sqlite_file_all_succeed(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert _upgrade_at_once(url) == [head_revision()] * 4
    _assert_at_head_once(url)


def test_four_first_upgrades_at_once_on_a_fresh_postgresql_database_all_succeed() -> None:
    import os

    from venue_pipeline.store.db import create_scratch_database, drop_database

    server = os.environ.get("VENUE_PG_URL")
    if not server:
        pytest.skip("VENUE_PG_URL is not set: no PostgreSQL server for this test (bash .ci/run starts one)")
    url, admin = create_scratch_database(server, "vp_race")
    try:
        assert _upgrade_at_once(url) == [head_revision()] * 4
        _assert_at_head_once(url)
    finally:
        drop_database(url, admin)
