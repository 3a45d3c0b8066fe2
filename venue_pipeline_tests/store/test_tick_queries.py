"""The store queries sensors and schedules run every tick (store/circuits.py, images.py, venues.py) and migration
0006: each reads only the rows it needs, so a tick costs about the same at 100,000 venues as at 100
(benchmarks/scale_benchmark.py measures them; these hold the plans)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, inspect

from venue_pipeline.store import circuits, images, venues
from venue_pipeline.store.db import dispose_engines, get_engine, session_scope, upgrade
from venue_pipeline.store.schema import ApiCallRow

NEW_INDEXES = {"venue_images": "ix_venue_images_status_next_retry_at", "api_calls": "ix_api_calls_provider_called_at"}


def _indexes(url: str, table: str) -> set[str]:
    return {ix["name"] for ix in inspect(get_engine(url)).get_indexes(table)}


def test_migration_0006_adds_the_tick_indexes_and_its_downgrade_drops_them(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    upgrade(url, "0005")
    assert all(name not in _indexes(url, table) for table, name in NEW_INDEXES.items())
    upgrade(url)
    assert all(name in _indexes(url, table) for table, name in NEW_INDEXES.items())
    from alembic import command

    from venue_pipeline.store.db import _alembic_config

    command.downgrade(_alembic_config(get_engine(url)), "0005")
    assert all(name not in _indexes(url, table) for table, name in NEW_INDEXES.items())
    dispose_engines()


def test_the_tick_indexes_exist_at_head(any_db_url: str) -> None:
    assert all(name in _indexes(any_db_url, table) for table, name in NEW_INDEXES.items())


def test_auth_failed_targets_counts_any_auth_failure_among_calls_tied_for_latest(any_db_url: str) -> None:
    at = datetime.now(timezone.utc).replace(microsecond=0)
    with session_scope(any_db_url) as s:
        for provider, error in [("here", None), ("here", "auth_error"), ("geoapify", None), ("zeta", "rate_limited")]:
            s.add(ApiCallRow(provider=provider, endpoint="search", status_code=200, error_type=error, cost=0.0,
                             duration_ms=1, called_at=at, day=at.strftime("%Y-%m-%d")))
    with session_scope(any_db_url) as s:
        assert circuits.auth_failed_targets(s) == {"here": at}
        assert circuits._targets(s) == ["geoapify", "here", "zeta"]


# -- PostgreSQL plans on a table big enough that the planner would rather scan when it has no index -------------

FILL = [
    """INSERT INTO venues (id, source, external_id, name, slug, city_slug, city_name, needs_geocoding, created_at,
                          updated_at, images_checked_at)
       SELECT g, 't', 'e' || g, 'V ' || g, 'v-' || g, 'city-' || (g % 20), 'City', false, now(), now(),
              now() - (g % 40) * interval '1 day'
       FROM generate_series(1, 4000) AS g""",
    """INSERT INTO venue_images (venue_id, provider, photo_key, reference, quality_score, status, attempts,
                                next_retry_at, discovered_at, updated_at)
       SELECT 1 + g % 4000, 'foursquare', 'k' || g, 'https://x/' || g, 0.5,
              CASE WHEN g % 20 = 0 THEN 'failed' WHEN g % 20 = 1 THEN 'pending' ELSE 'uploaded' END, 1,
              CASE WHEN g % 20 = 0 THEN now() + (g % 3 - 1) * interval '1 hour' END, now(), now()
       FROM generate_series(1, 60000) AS g""",
    """INSERT INTO api_calls (provider, endpoint, status_code, cost, duration_ms, called_at, day)
       SELECT (ARRAY['here', 'geoapify', 'foursquare', 'google_places', 'imagekit'])[1 + g % 5], 'search', 200, 0,
              1, now() - g * interval '1 second', to_char(now(), 'YYYY-MM-DD')
       FROM generate_series(1, 60000) AS g""",
]


def _plans(url: str, query: Callable[[Any], Any]) -> list[str]:
    """EXPLAIN of every SELECT `query` sends, with its own parameters."""
    engine = get_engine(url)
    seen: list[tuple[str, Any]] = []

    def grab(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        with session_scope(url) as s:
            query(s)
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    out = []
    with engine.connect() as conn:
        for statement, parameters in seen:
            if statement.lstrip().upper().startswith("SELECT"):
                out.append("\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters or {})))
    assert out
    return out


@pytest.fixture
def filled_pg(pg_url: str) -> str:
    engine = get_engine(pg_url)
    with engine.begin() as conn:
        for sql in FILL:
            conn.exec_driver_sql(sql.replace("%", "%%"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)")
    return pg_url


def test_the_retry_sensor_reads_no_table_whole(filled_pg: str) -> None:
    """due_failure_count and auth_failed_targets answer from their indexes (before 0006: a bitmap heap scan of
    every failed image, and a sequential scan of the whole api_calls ledger with a GROUP BY)."""
    due = _plans(filled_pg, images.due_failure_count)
    assert "ix_venue_images_status_next_retry_at" in due[0], due[0]
    for plan in _plans(filled_pg, circuits.auth_failed_targets):
        assert "Seq Scan" not in plan, plan


def test_the_staleness_queries_read_venue_images_at_most_once(filled_pg: str) -> None:
    """stale_venue_ids looks up uploaded images per venue of the city (venue_id = venues.id); stale_cities, which
    judges every venue, reads venue_images at most once (before: IN and NOT IN over every uploaded image, two
    full reads per query, in each of the schedule's six queries)."""
    now = datetime.now(timezone.utc) + timedelta(minutes=1)
    (per_city,) = _plans(filled_pg, lambda s: venues.stale_venue_ids(s, "city-3", now, 200))
    assert "venue_id = venues.id" in per_city and "hashed SubPlan" not in per_city, per_city
    (all_cities,) = _plans(filled_pg, lambda s: venues.stale_cities(s, now, 5))
    assert all_cities.count("on venue_images") <= 1, all_cities
