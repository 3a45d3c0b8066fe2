"""Benchmark: the database side of the pipeline at 100,000 venues in 100 cities on PostgreSQL, and its growth.

For each size (default 10,000, 30,000 and 100,000 venues; the same 100 cities, so a city grows with the
database) a child process builds a throwaway database on the server you name (Alembic schema, rows generated
by the server: INSERT ... SELECT FROM generate_series, no row travels through Python), in a realistic state:
99 cities enriched (most venues with provider IDs, ~10 images a venue with uploaded, pending, due and not-yet-due
failed and permanently failed ones, their upload attempts, 30 days of the api_calls ledger) and one new city
(`city-000`, the last N/100 venue ids) that nothing has touched yet. Then it times

1. every sensor and schedule tick the way the daemon evaluates it (`evaluate_tick` on a temporary Dagster
   instance, median of N ticks), and the venue-database queries each one runs on their own;
2. the non-network work of the first city run of `city-000`: the store calls the three city stages make
   (pipeline/ids.py, discovery.py, uploads.py), in the same transactions, with provider answers made up in
   Python instead of HTTP: selecting venues, IDs and due images, writing IDs, images and attempts, and the
   shared limiter's ledger rows of every paced call (with the paid plan's daily quotas, or `--quotas all`: a
   quota on every provider, so every paced call counts today's calls) and billed photo download;
3. the peak RSS of the child process (resource.getrusage ru_maxrss).

Per-venue time of the city run at every size says whether it grows linearly (flat = linear); EXPLAIN
ANALYZE of every sensor/schedule query at the largest size goes to results/scale_plans.txt. Results:
benchmarks/results/scale_<largest>.json and .md.

    .venv/bin/python benchmarks/scale_benchmark.py --pg-url postgresql+psycopg2://postgres@127.0.0.1:55432/venues
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout without an installed package
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_benchmark import (  # noqa: E402
    captured_statements,
    machine_info,
    peak_rss_mb,
    recreate_database,
    server_info,
    server_url,
    with_database,
)

from venue_pipeline.store.db import dispose_engines, drop_database, get_engine, upgrade  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CITIES = 100
NEW_CITY = "city-000"
TICK_TARGET_S = 1.0
LINEAR_TOLERANCE = 1.5  # per-venue time at the largest size within 1.5x of the smallest counts as linear
PHOTO_PROVIDERS = ("google_places", "foursquare")  # supports_photos in providers/
ID_PROVIDERS = ("here", "geoapify", "foursquare", "google_places")


def build_statements(venues: int) -> list[tuple[str, str]]:
    """(label, SQL) in load order: 99 enriched cities and one untouched one (the last N/100 ids)."""
    fresh_from = venues - venues // CITIES + 1
    return [
        ("venues", f"""
INSERT INTO venues (id, source, external_id, name, slug, address, postcode, city_slug, city_name, country,
                    lat, lng, needs_geocoding, geocoded_at, created_at, updated_at, images_checked_at)
SELECT g, 'open_pubs', 'scale-' || g, 'The Scale Arms ' || g,
       'the-scale-arms-' || g || '-city-' || lpad(c::text, 3, '0'),
       (g % 200 + 1) || ' High Street', 'BN' || (g % 90 + 10) || ' ' || (g % 9) || 'AB',
       'city-' || lpad(c::text, 3, '0'), 'City ' || c, 'GB',
       CASE WHEN fresh AND geo THEN NULL ELSE 50.0 + c * 0.05 + r * 0.1 END,
       CASE WHEN fresh AND geo THEN NULL ELSE -3.0 + c * 0.04 + r * 0.1 END,
       fresh AND geo, CASE WHEN geo AND NOT fresh THEN now() - interval '60 days' END,
       now() - interval '90 days', now() - interval '60 days',
       CASE WHEN fresh THEN NULL ELSE now() - r2 * interval '40 days' END
FROM (SELECT g, g >= {fresh_from} AS fresh, CASE WHEN g >= {fresh_from} THEN 0 ELSE 1 + g % {CITIES - 1} END AS c,
             random() AS r, random() AS r2, random() < 0.03 AS geo
      FROM generate_series(1, {venues}) AS g) AS s"""),
        ("provider_ids", f"""
INSERT INTO provider_ids (venue_id, provider, place_id, status, method, score, details, matched_at, next_search_at)
SELECT id, provider,
       CASE WHEN r < p_match THEN provider || ':' || md5(id || provider) END,
       CASE WHEN r < p_match THEN 'matched' WHEN r < p_match + 0.07 THEN 'no_match'
            WHEN r < p_match + 0.10 THEN 'deferred' ELSE 'ambiguous' END,
       'search', round((0.4 + 0.6 * r)::numeric, 3)::float,
       json_build_object('name', round((0.5 + 0.5 * r)::numeric, 2), 'distance_m', floor(r * 250)),
       now() - interval '45 days' - r * interval '30 days',
       CASE WHEN r >= p_match THEN now() + (r2 - 0.3) * interval '30 days' END
FROM (SELECT v.id, p.provider, p.p_match, random() AS r, random() AS r2
      FROM venues AS v
      CROSS JOIN (VALUES ('here', 0.86), ('geoapify', 0.70), ('foursquare', 0.80), ('google_places', 0.88))
                 AS p(provider, p_match)
      WHERE v.id < {fresh_from}) AS s"""),
        ("venue_images", f"""
INSERT INTO venue_images (venue_id, provider, photo_key, place_id, reference, reference_fetched_at, width, height,
                          quality_score, position, status, error_type, error_class, status_code, error_message,
                          attempts, next_retry_at, cdn_url, cdn_path, discovered_at, uploaded_at, updated_at)
SELECT venue_id, provider, photo_key, provider || ':' || md5(venue_id || provider),
       'https://photos.example/' || photo_key, discovered_at, 1600, 1200, round(r3::numeric, 3)::float, k,
       status,
       CASE status WHEN 'failed' THEN (ARRAY['service_unavailable', 'rate_limited', 'network_timeout'])[1 + k % 3]
                   WHEN 'permanently_failed' THEN 'not_found' END,
       CASE status WHEN 'failed' THEN 'transient' WHEN 'permanently_failed' THEN 'permanent' END,
       CASE status WHEN 'failed' THEN 503 WHEN 'permanently_failed' THEN 404 END,
       CASE WHEN status LIKE '%failed' THEN 'copy failed' END,
       CASE status WHEN 'pending' THEN 0 WHEN 'uploaded' THEN 1 + (k % 5 = 0)::int WHEN 'failed' THEN 1 + k % 2
                   ELSE 3 END,
       CASE WHEN status = 'failed' THEN now() + (r4 - 0.5) * interval '24 hours' END,
       CASE WHEN status = 'uploaded' THEN 'https://ik.imagekit.io/bench/venues/' || venue_id || '/' || photo_key END,
       CASE WHEN status = 'uploaded' THEN '/venues/' || venue_id || '/' || photo_key || '.jpg' END,
       discovered_at, CASE WHEN status = 'uploaded' THEN discovered_at + interval '1 hour' END,
       discovered_at + interval '1 hour'
FROM (SELECT *, CASE WHEN r1 < 0.85 THEN 'uploaded' WHEN r1 < 0.91 THEN 'failed'
                      WHEN r1 < 0.95 THEN 'permanently_failed' ELSE 'pending' END AS status
      FROM (SELECT v.id AS venue_id, k, (ARRAY['google_places', 'foursquare'])[1 + k % 2] AS provider,
                   md5(v.id || '-' || k) AS photo_key, random() AS r1, random() AS r3, random() AS r4,
                   v.images_checked_at - interval '1 day' AS discovered_at
            FROM venues AS v CROSS JOIN LATERAL generate_series(1, abs(hashtext(v.id::text)) % 21) AS k
            WHERE v.id < {fresh_from}) AS a) AS s"""),
        ("upload_attempts", """
INSERT INTO upload_attempts (image_id, run_id, is_retry, started_at, outcome, error_type, status_code, message,
                             duration_ms)
SELECT i.id, 'run-' || to_char(i.discovered_at, 'YYYYMMDD'), k > 1,
       least(now(), i.discovered_at + (k - 1) * interval '20 hours' + interval '5 minutes'),
       CASE WHEN i.status = 'uploaded' AND k = i.attempts THEN 'uploaded' ELSE 'failed' END,
       CASE WHEN i.status = 'uploaded' AND k = i.attempts THEN NULL ELSE coalesce(i.error_type, 'rate_limited') END,
       CASE WHEN i.status = 'uploaded' AND k = i.attempts THEN 200 ELSE coalesce(i.status_code, 429) END,
       NULL, 50 + (i.id % 1500)
FROM venue_images AS i CROSS JOIN LATERAL generate_series(1, i.attempts) AS k"""),
        ("api_calls", f"""
INSERT INTO api_calls (provider, endpoint, status_code, error_type, cost, duration_ms, run_id, called_at, day,
                       finished_at)
SELECT provider, endpoint, 200, NULL, 0.0, 200, 'run-hist', called_at,
       to_char(called_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), called_at
FROM (SELECT (ARRAY['here', 'geoapify', 'foursquare', 'google_places'])[1 + g % 4] AS provider,
             (ARRAY['search', 'photos', 'photo'])[1 + g % 3] AS endpoint,
             now() - random() * interval '30 days' AS called_at
      FROM generate_series(1, {venues * 10}) AS g) AS s
ORDER BY called_at"""),  # the ledger is appended in time order: a day's rows share pages, as in production
        ("run_failures", """
INSERT INTO run_failures (run_id, job_name, partition_key, message, failed_at)
SELECT 'failed-run-' || g, 'enrich_city_job', 'city-' || lpad((1 + g % 99)::text, 3, '0'), 'step failed',
       now() - random() * interval '30 days'
FROM generate_series(1, 100) AS g"""),
    ]


def load(db_url: str, venues: int) -> dict[str, float]:
    """Alembic schema, then the server-side inserts; VACUUM ANALYZE as autovacuum would have by then."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    upgrade(db_url)
    seconds["alembic_upgrade"] = round(time.perf_counter() - started, 2)
    engine = get_engine(db_url)
    for label, sql in build_statements(venues):
        started = time.perf_counter()
        with engine.begin() as conn:
            cursor = conn.connection.dbapi_connection.cursor()  # raw: no parameter formatting of '%'
            cursor.execute("SELECT setseed(0.16)")
            cursor.execute(sql)
            cursor.close()
        seconds[label] = round(time.perf_counter() - started, 2)
    for table in ("venues", "venue_images", "upload_attempts", "api_calls"):
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)")
    seconds["vacuum_analyze"] = round(time.perf_counter() - started, 2)
    return seconds


def row_counts(db_url: str) -> dict[str, int]:
    with get_engine(db_url).connect() as conn:
        counts = {
            t: int(conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one())
            for t in ("venues", "provider_ids", "venue_images", "upload_attempts", "api_calls")
        }
        for status, n in conn.exec_driver_sql("SELECT status, count(*) FROM venue_images GROUP BY 1"):
            counts[f"images_{status}"] = int(n)
        counts["images_failed_due"] = int(conn.exec_driver_sql(
            "SELECT count(*) FROM venue_images WHERE status = 'failed' AND next_retry_at <= now()").scalar_one())
        counts["venues_with_ids"] = int(conn.exec_driver_sql(
            "SELECT count(DISTINCT venue_id) FROM provider_ids").scalar_one())
        counts["cities"] = int(conn.exec_driver_sql("SELECT count(DISTINCT city_slug) FROM venues").scalar_one())
    return counts


def median_of(fn: Callable[[], Any], runs: int) -> tuple[float, list[float], Any]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times, result


def cpu_seconds(db_url: str) -> float | None:
    """CPU time so far of this process plus every server backend connected to the benchmark database (read from
    /proc: the server runs on this machine). Unlike wall time it barely moves when other work shares the cores."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    total = own.ru_utime + own.ru_stime
    try:
        with get_engine(db_url).connect() as conn:
            pids = [r[0] for r in conn.exec_driver_sql(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")]
        tick = os.sysconf("SC_CLK_TCK")
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    except (OSError, ValueError, IndexError):
        return None
    return total


def median_cpu_of(db_url: str, fn: Callable[[], Any], runs: int) -> tuple[float, list[float], float | None, Any]:
    """Median wall time, all wall times, median CPU time (benchmark + its server backends; None when unreadable)."""
    times, cpus, result = [], [], None
    for _ in range(runs):
        cpu0 = cpu_seconds(db_url)
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
        cpu1 = cpu_seconds(db_url)
        if cpu0 is not None and cpu1 is not None:
            cpus.append(cpu1 - cpu0)
    return statistics.median(times), times, (statistics.median(cpus) if len(cpus) == runs else None), result


# -- sensors and schedules ---------------------------------------------------------------------------------------


@contextmanager
def dagster_instance() -> Iterator[Any]:
    import dagster as dg

    with tempfile.TemporaryDirectory(prefix="scale_bench_dh_") as home:
        with dg.instance_for_test(temp_dir=home) as instance:
            yield instance


def store_queries(db_url: str, venues: int) -> dict[str, Callable[[], Any]]:
    """The venue-database work of each tick on its own, exactly the store calls the sensor bodies make."""
    from venue_pipeline.defs.schedules import CITIES_PER_TICK, VENUES_PER_CITY_PER_TICK
    from venue_pipeline.defs.sensors import NEW_VENUES_PER_TICK
    from venue_pipeline.pipeline.retries import circuit_state
    from venue_pipeline.store import images, leases, provider_ids, reports
    from venue_pipeline.store import venues as venue_store
    from venue_pipeline.store.db import session_scope

    cursor = venues - venues // CITIES  # the id before the new city's venues: the tick that finds them

    def new_venues() -> Any:
        with session_scope(db_url) as s:
            scanned = venue_store.venues_after(s, cursor, NEW_VENUES_PER_TICK)
            provider_ids.venues_with_ids(s, [v for v, _ in scanned])
            return venue_store.count_venues_after(s, cursor)

    def retry_after_report() -> Any:
        with session_scope(db_url) as s:
            return images.due_failure_count(s), circuit_state(s)

    def reenrich() -> Any:  # the body of defs/schedules.py reenrich_stale_venues_schedule, without Dagster
        now = datetime.now(timezone.utc)
        with session_scope(db_url) as s:
            due = dict(provider_ids.owed_cities(s, CITIES_PER_TICK))
            for city, count in venue_store.stale_cities(s, now, CITIES_PER_TICK):
                due[city] = due.get(city, 0) + count
            return [
                len(provider_ids.owed_venue_ids(s, city, VENUES_PER_CITY_PER_TICK))
                + len(venue_store.stale_venue_ids(s, city, now, VENUES_PER_CITY_PER_TICK))
                for city in sorted(due, key=lambda c: (-due[c], c))[:CITIES_PER_TICK]
            ]

    def record_failed_run() -> Any:
        with session_scope(db_url) as s:
            return reports.record_run_failure(s, f"bench-{time.perf_counter_ns()}", "enrich_city_job", "city-001", "x")

    return {
        "new_venues_sensor": new_venues,
        "retry_after_report_sensor": retry_after_report,
        "reenrich_stale_venues_schedule": reenrich,
        "record_failed_runs_sensor": record_failed_run,
        "reap_dead_runs_sensor": lambda: leases.release_dead_holders(db_url),
    }


def time_ticks(db_url: str, venues: int, runs: int) -> dict[str, Any]:
    """Each sensor and schedule evaluated as the daemon does (evaluate_tick), and its store queries alone."""
    import dagster as dg

    from venue_pipeline.definitions import defs
    from venue_pipeline.defs.resources import VenueStore
    from venue_pipeline.defs.schedules import daily_retry_schedule, reenrich_stale_venues_schedule
    from venue_pipeline.defs.sensors import new_venues_sensor, reap_dead_runs_sensor, retry_after_report_sensor

    store = VenueStore(db_url=db_url)
    out: dict[str, Any] = {"evaluate_tick": {}, "store_queries": {}}
    with dagster_instance() as instance:
        instance.add_dynamic_partitions("cities", [f"city-{c:03d}" for c in range(CITIES)])  # evaluate_tick validates keys
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="image_failure_report"))
        repo = defs.get_repository_def()
        cursor = str(venues - venues // CITIES)

        def sensor_tick(sensor: Any, cursor_value: str | None = None) -> Callable[[], Any]:
            return lambda: sensor.evaluate_tick(dg.build_sensor_context(
                instance=instance, cursor=cursor_value, resources={"venue_store": store}, definitions=defs))

        def schedule_tick(schedule: Any) -> Callable[[], Any]:
            return lambda: schedule.evaluate_tick(dg.build_schedule_context(
                instance=instance, scheduled_execution_time=datetime.now(timezone.utc),
                resources={"venue_store": store}, repository_def=repo))

        ticks = {
            "new_venues_sensor (finds the new city)": sensor_tick(new_venues_sensor, cursor),
            "new_venues_sensor (from cursor 0: 500 known venues)": sensor_tick(new_venues_sensor, "0"),
            "retry_after_report_sensor": sensor_tick(retry_after_report_sensor),
            "reap_dead_runs_sensor": sensor_tick(reap_dead_runs_sensor),
            "reenrich_stale_venues_schedule": schedule_tick(reenrich_stale_venues_schedule),
            "daily_retry_schedule": schedule_tick(daily_retry_schedule),
        }
        for name, tick in ticks.items():
            with dg.partition_loading_context(dynamic_partitions_store=instance):
                tick()  # warm: imports, Dagster's definition caches, connection pool
                med, times, cpu, result = median_cpu_of(db_url, tick, runs)
            out["evaluate_tick"][name] = {
                "median_s": round(med, 4), "max_s": round(max(times), 4),
                "median_cpu_s": None if cpu is None else round(cpu, 4),
                "run_requests": len(result.run_requests or []),
                "skip": (result.skip_message or "")[:120] or None,
            }
    for name, fn in store_queries(db_url, venues).items():
        fn()
        med, times, cpu, _ = median_cpu_of(db_url, fn, runs)
        out["store_queries"][name] = {"median_s": round(med, 4), "max_s": round(max(times), 4),
                                      "median_cpu_s": None if cpu is None else round(cpu, 4)}
    return out


def explain_ticks(db_url: str, venues: int) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of every SELECT the ticks' store queries send (captured from SQLAlchemy)."""
    engine = get_engine(db_url)
    lines: list[str] = []
    for name, fn in store_queries(db_url, venues).items():
        with captured_statements(engine) as seen:
            fn()
        for statement, params in seen:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            with engine.connect() as conn:
                plan = [r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params or {})]
            lines += [f"=== {name}", statement.strip(), f"-- params: {params}", *plan, ""]
    return lines


# -- one city run, network replaced by made-up answers ------------------------------------------------------------


class Clock:
    """Wall time per bucket of database work."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    @contextmanager
    def __call__(self, bucket: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[bucket] += time.perf_counter() - started
            self.calls[bucket] += 1


def _h(*parts: Any) -> int:
    return int(hashlib.md5("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def server_work(db_url: str, reset: bool = False) -> dict[str, float] | None:
    """pg_stat_statements totals of this database (top-level statements): execution time and buffer pages
    touched, which the machine's load does not change; None when the server does not preload the extension."""
    engine = get_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            if reset:
                conn.exec_driver_sql("SELECT pg_stat_statements_reset()")
                return None
            row = conn.exec_driver_sql(
                "SELECT coalesce(sum(calls), 0), coalesce(sum(total_exec_time), 0), "
                "coalesce(sum(shared_blks_hit + shared_blks_read), 0), "
                "coalesce(sum(total_exec_time) FILTER (WHERE query LIKE 'SELECT count(*) FROM api_calls%%'), 0), "
                "coalesce(sum(shared_blks_hit + shared_blks_read) "
                "         FILTER (WHERE query LIKE 'SELECT count(*) FROM api_calls%%'), 0) "
                "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).one()
    except Exception:  # noqa: BLE001 - not preloaded (shared_preload_libraries): report without it
        return None
    # the quota check (store/limiter.py _COUNT_DAY) apart: it counts today's calls, so it grows with them
    return {"statements": int(row[0]), "exec_ms": float(row[1]), "buffer_pages": int(row[2]),
            "quota_count_exec_ms": float(row[3]), "quota_count_buffer_pages": int(row[4])}


def city_run(db_url: str, city: str, quota_mode: str = "paid") -> dict[str, Any]:
    """The store calls of provider_ids, discovered_photos and uploaded_images for one city, in the stages' order
    and transactions (pipeline/ids.py, discovery.py, uploads.py, transfers.py), timed by kind of work."""
    from venue_pipeline.core.gallery import UploadOutcome
    from venue_pipeline.core.ports import ApiCall, PhotoRef
    from venue_pipeline.core.quality import quality_score
    from venue_pipeline.core.staleness import due_providers
    from venue_pipeline.core.statuses import IdRecord, IdStatus, ImageStatus
    from venue_pipeline.pipeline.common import record_outcome, with_retry
    from venue_pipeline.pipeline.ids import _id_counts
    from venue_pipeline.providers.limits import PAID_LIMITS
    from venue_pipeline.store import images as images_db
    from venue_pipeline.store import provider_ids as id_store
    from venue_pipeline.store.calls import DbCallLedger
    from venue_pipeline.store.db import session_scope
    from venue_pipeline.store.venues import images_checked, list_venues, mark_images_checked, set_coordinates

    clock = Clock()
    server_work(db_url, reset=True)
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    all_cpu_before = cpu_seconds(db_url)
    run_id = f"bench-{city}"
    ledger = DbCallLedger(db_url, run_id)
    quotas = {p: (10**9 if quota_mode == "all" else PAID_LIMITS[p].daily_quota) for p in ID_PROVIDERS}

    def paced_call(provider: str, endpoint: str) -> None:
        with clock("ledger (slot + finish per paced call)"):
            slot = ledger.take_slot(provider, endpoint, rate_per_second=1e6, daily_quota=quotas[provider])
            ledger.finish(slot.call_id, ApiCall(provider, endpoint, 200, None, 0.0, 120, slot.at))

    # provider_ids
    with clock("select: venues and their IDs"), session_scope(db_url) as session:
        venues = list_venues(session, city_slug=city)
        ids = [v.id for v in venues]
        _id_counts(session, ids)
        id_store.ids_for(session, ids)
    now = datetime.now(timezone.utc)
    for venue in venues:
        records = []
        for provider in ID_PROVIDERS:
            paced_call(provider, "search" if venue.has_coordinates else "geocode")
            r = _h(venue.id, provider) % 100
            status = IdStatus.MATCHED if r < 80 else IdStatus.NO_MATCH if r < 92 else IdStatus.AMBIGUOUS
            records.append(IdRecord(
                venue.id, provider, status, "search" if venue.has_coordinates else "geocode",
                place_id=f"{provider}:{_h(venue.id, provider, 'p'):08x}" if status == IdStatus.MATCHED else None,
                score=0.5 + r / 200, details={"name": 0.9, "distance_m": 12},
                next_search_at=None if status == IdStatus.MATCHED else now + timedelta(days=30),
            ))
        point = None if venue.has_coordinates else (51.5, -0.1)

        def save(session: Any, records: list = records, point: Any = point, vid: int = venue.id) -> None:
            if point is not None:
                set_coordinates(session, vid, *point)
            id_store.save(session, records)

        with clock("write: IDs (one transaction per venue)"):
            with_retry(db_url, save)
    with clock("select: venues and their IDs"), session_scope(db_url) as session:
        _id_counts(session, ids)

    # discovered_photos
    with clock("select: due venues for discovery"), session_scope(db_url) as session:
        venues = list_venues(session, city_slug=city)
        all_ids = [v.id for v in venues]
        rows = id_store.ids_for(session, all_ids)
        checked = images_checked(session, all_ids)
    place_ids: dict[int, dict[str, str]] = {}
    now = datetime.now(timezone.utc)
    for vid in all_ids:
        matched = {p: r for p, r in rows.get(vid, {}).items() if r.status == IdStatus.MATCHED and r.place_id}
        checked_at, has_images = checked.get(vid, (None, False))
        due = due_providers(checked_at, has_images, {p: r.matched_at for p, r in matched.items()}, now)
        due = [p for p in due if p in PHOTO_PROVIDERS]
        if due:
            place_ids[vid] = {p: matched[p].place_id for p in due}
    for vid, per_provider in place_ids.items():
        listings = []
        for provider, place_id in per_provider.items():
            paced_call(provider, "photos")
            refs = [
                PhotoRef(provider, f"{_h(vid, provider, k):08x}{k}", f"https://photos.example/{vid}/{provider}/{k}",
                         400 + _h(vid, k) % 3600, 300 + _h(k, vid) % 2700)
                for k in range(1 + _h(vid, provider) % 8)
            ]
            listings.append((provider, place_id, refs))

        def save_photos(session: Any, vid: int = vid, listings: list = listings) -> None:
            images_db.lock_venue(session, vid)
            for provider, place_id, refs in listings:
                images_db.save_discovered(session, vid, provider, place_id, refs, quality_score)
            mark_images_checked(session, [vid])

        with clock("write: discovered images (one transaction per venue)"):
            with_retry(db_url, save_photos)
    with clock("write: discovered images (one transaction per venue)"), session_scope(db_url) as session:
        mark_images_checked(session, [v for v in all_ids if v not in place_ids])

    # uploaded_images
    with clock("select: images to upload and their folders"):
        with session_scope(db_url) as session:
            tasks = images_db.upload_tasks(
                session, city_slug=city, statuses=(ImageStatus.PENDING, ImageStatus.FAILED),
                due_before=datetime.now(timezone.utc),
            )
        with session_scope(db_url) as session:
            images_db.folder_rows(session, sorted({t.venue_id for t in tasks}), [])
    for task in tasks:
        ok = _h(task.image_id, "upload") % 10 != 0
        started = datetime.now(timezone.utc)
        if task.provider == "google_places":  # a billed photo download: one ledger row (core/upload.py)
            with clock("ledger (billed photo downloads)"):
                ledger.record(ApiCall(task.provider, "photo", 200 if ok else 503,
                                      None if ok else "service_unavailable", 0.007 if ok else 0.0, 300, started))
        path = f"/venues/{task.venue_slug}/{task.provider.replace('_', '-')}-{task.photo_key[:16]}.jpg"
        outcome = UploadOutcome(
            task.image_id, task.provider, ok, started, 300,
            cdn_url=f"https://ik.imagekit.io/bench{path}" if ok else None, cdn_path=path if ok else None,
            width=task.width, height=task.height,
            error_type=None if ok else "service_unavailable", status_code=None if ok else 503,
            message=None if ok else "503 from the photo host",
        )
        with clock("write: upload attempts and statuses (one transaction per image)"):
            record_outcome(db_url, outcome, run_id=run_id, is_retry=task.attempts > 0)
    total = sum(clock.seconds.values())
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    all_cpu_after = cpu_seconds(db_url)  # the pool keeps its backends, so their CPU counters span the run
    server = server_work(db_url)
    n = max(1, len(venues))
    all_cpu = None if all_cpu_before is None or all_cpu_after is None else all_cpu_after - all_cpu_before
    return {
        "city": city,
        "venues": len(venues),
        "due_for_discovery": len(place_ids),
        "images_uploaded_or_failed": len(tasks),
        "paced_calls": clock.calls["ledger (slot + finish per paced call)"],
        "seconds": {k: round(v, 3) for k, v in clock.seconds.items()},
        "transactions": dict(clock.calls),
        "total_s": round(total, 3),
        "per_venue_ms": round(1000 * total / max(1, len(venues)), 3),
        "per_venue_ms_by_kind": {k: round(1000 * v / n, 3) for k, v in clock.seconds.items()},
        # less sensitive to other processes on the machine than wall time:
        "client_cpu_s": round(cpu_s, 3),
        "client_cpu_ms_per_venue": round(1000 * cpu_s / n, 3),
        "cpu_s": None if all_cpu is None else round(all_cpu, 3),
        "cpu_ms_per_venue": None if all_cpu is None else round(1000 * all_cpu / n, 3),
        "server": server,
        "server_exec_ms_per_venue": round(server["exec_ms"] / n, 3) if server else None,
        "server_buffer_pages_per_venue": round(server["buffer_pages"] / n, 1) if server else None,
        "server_statements_per_venue": round(server["statements"] / n, 1) if server else None,
        "server_buffer_pages_per_venue_without_quota_count":
            round((server["buffer_pages"] - server["quota_count_buffer_pages"]) / n, 1) if server else None,
    }


def one_size(args: argparse.Namespace) -> int:
    """Child process: build, time and drop one database; writes its JSON to --json."""
    url = server_url(args)
    venues = args.one
    name = f"{args.db_name}_{venues}"
    db_url = with_database(url, name)
    result: dict[str, Any] = {"venues": venues}
    try:
        print(f"[{venues:,}] building database {name}", flush=True)
        recreate_database(url, name)
        result["load_seconds"] = load(db_url, venues)
        result["rows"] = row_counts(db_url)
        print(f"[{venues:,}] loaded in {sum(result['load_seconds'].values()):.1f} s: {result['rows']}", flush=True)
        result["server"] = server_info(db_url)
        load_before = os.getloadavg()[0]
        result["ticks"] = time_ticks(db_url, venues, args.runs)
        for kind in ("evaluate_tick", "store_queries"):
            for tick, v in result["ticks"][kind].items():
                print(f"[{venues:,}] {kind:<13} {tick:<55} median {v['median_s']:.4f} s", flush=True)
        if args.explain:
            Path(args.explain).write_text("\n".join(explain_ticks(db_url, venues)))
        result["city_run"] = city_run(db_url, NEW_CITY, args.quotas)
        cr = result["city_run"]
        print(f"[{venues:,}] city run {cr['city']}: {cr['venues']} venues, {cr['images_uploaded_or_failed']} images, "
              f"{cr['total_s']:.2f} s of database work, {cr['per_venue_ms']:.2f} ms a venue", flush=True)
        result["load_average_1m"] = {"before_timing": round(load_before, 2), "after_timing": round(os.getloadavg()[0], 2)}
        result["peak_rss_mb"] = peak_rss_mb()
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
        return 0
    finally:
        dispose_engines()
        if not args.keep:
            drop_database(db_url, with_database(url, "postgres"))


def label(venues: int) -> str:
    return f"{venues // 1000}k" if venues % 1000 == 0 else str(venues)


def summarize(sizes: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-venue cost of the city run, largest size vs smallest (flat = linear), and the slowest tick at the
    largest size. Linearity is judged on the measures other processes barely move (buffer pages the server
    touched and the benchmark's own CPU per venue) when the server reports them; wall time is shown beside."""
    small, large = sizes[0]["city_run"], sizes[-1]["city_run"]
    keys = ["per_venue_ms", "cpu_ms_per_venue", "client_cpu_ms_per_venue", "server_exec_ms_per_venue",
            "server_buffer_pages_per_venue", "server_buffer_pages_per_venue_without_quota_count",
            "server_statements_per_venue"]
    ratios = {k: round(large[k] / small[k], 3) for k in keys if large.get(k) and small.get(k)}
    judged = [k for k in ("cpu_ms_per_venue", "server_buffer_pages_per_venue") if k in ratios] or ["per_venue_ms"]
    ticks = sizes[-1]["ticks"]["evaluate_tick"]
    slowest = max(ticks, key=lambda k: ticks[k]["median_s"])
    return {
        "per_venue_ratio_largest_vs_smallest": ratios,
        "linearity_judged_on": judged,
        "linear": all(ratios[k] <= LINEAR_TOLERANCE for k in judged),
        "slowest_tick_at_largest": slowest,
        "slowest_tick_median_s": ticks[slowest]["median_s"],
        "ticks_under_target": all(v["median_s"] < TICK_TARGET_S for v in ticks.values()),
        "tick_target_s": TICK_TARGET_S,
        "linear_tolerance": LINEAR_TOLERANCE,
    }


def write_markdown(path: Path, result: dict[str, Any]) -> None:
    sizes = result["sizes"]
    s, m = result["summary"], result["machine"]
    head = " | ".join(f"{label(z['venues'])} venues" for z in sizes)
    sep = "|---|" + "---:|" * len(sizes)

    def row(name: str, values: list[Any]) -> str:
        return f"| {name} | " + " | ".join(str(v) for v in values) + " |"

    cr = [z["city_run"] for z in sizes]
    kinds = list(cr[-1]["seconds"])
    ticks = list(sizes[-1]["ticks"]["evaluate_tick"])
    queries = list(sizes[-1]["ticks"]["store_queries"])
    lines = [
        f"# Scale benchmark: the database side at {sizes[-1]['venues']:,} venues in {CITIES} cities "
        f"(PostgreSQL {sizes[-1]['server']['postgresql_version']})",
        "",
        f"{result['date']} · {m['cores']} cores ({m['cpu']}) · {m['memory_gb']} GB RAM · `{result['command']}`",
        "",
        f"| rows | {head} |", sep,
        *[row(k, [f"{z['rows'].get(k, 0):,}" for z in sizes]) for k in sizes[-1]["rows"]],
        "",
        f"## First city run of {NEW_CITY} (non-network work: store calls of the three city stages)",
        "",
        f"| | {head} |", sep,
        row("venues in the city", [c["venues"] for c in cr]),
        row("images uploaded or failed", [c["images_uploaded_or_failed"] for c in cr]),
        row("paced provider calls", [c["paced_calls"] for c in cr]),
        *[row(f"{k} (s)", [f"{c['seconds'].get(k, 0):.2f}" for c in cr]) for k in kinds],
        row("**database time of the city run (s)**", [f"**{c['total_s']:.2f}**" for c in cr]),
        row("**per venue (ms)**", [f"**{c['per_venue_ms']:.2f}**" for c in cr]),
        row("**per venue: CPU, benchmark + its PostgreSQL backends (ms)**",
            [f"**{c['cpu_ms_per_venue']:.2f}**" if c.get("cpu_ms_per_venue") else "n/a" for c in cr]),
        row("per venue: benchmark process CPU (ms)", [f"{c['client_cpu_ms_per_venue']:.2f}" for c in cr]),
        row("per venue: server execution time (ms, pg_stat_statements)",
            [f"{c['server_exec_ms_per_venue']:.2f}" if c["server"] else "n/a" for c in cr]),
        row("per venue: buffer pages touched (pg_stat_statements)",
            [f"{c['server_buffer_pages_per_venue']:.1f}" if c["server"] else "n/a" for c in cr]),
        row("per venue: buffer pages, without the quota count",
            [f"{c['server_buffer_pages_per_venue_without_quota_count']:.1f}" if c["server"] else "n/a" for c in cr]),
        row("quota count (limiter _COUNT_DAY): server ms in all",
            [f"{c['server']['quota_count_exec_ms']:.0f}" if c["server"] else "n/a" for c in cr]),
        row("per venue: SQL statements", [c["server_statements_per_venue"] if c["server"] else "n/a" for c in cr]),
        *[row(f"per venue: {k} (ms)", [f"{c['per_venue_ms_by_kind'].get(k, 0):.2f}" for c in cr]) for k in kinds],
        "",
        "## Sensor and schedule ticks (evaluate_tick, median)",
        "",
        f"| tick (s) | {head} |", sep,
        *[row(t, [f"{z['ticks']['evaluate_tick'][t]['median_s']:.3f}" for z in sizes]) for t in ticks],
        "",
        f"| tick CPU, benchmark + PostgreSQL backends (s) | {head} |", sep,
        *[row(t, [f"{z['ticks']['evaluate_tick'][t]['median_cpu_s']:.3f}"
                  if z["ticks"]["evaluate_tick"][t].get("median_cpu_s") is not None else "n/a" for z in sizes])
          for t in ticks],
        "",
        f"| their venue-database queries alone, wall (CPU) s | {head} |", sep,
        *[row(q, [f"{z['ticks']['store_queries'][q]['median_s']:.4f} ({z['ticks']['store_queries'][q]['median_cpu_s']})"
                  for z in sizes]) for q in queries],
        "",
        f"| | {head} |", sep,
        row("peak RSS of the benchmark process (MB)", [z["peak_rss_mb"] for z in sizes]),
        row("building the database (s)", [f"{sum(z['load_seconds'].values()):.1f}" for z in sizes]),
        row("load average before → after timing", [
            f"{z['load_average_1m']['before_timing']}→{z['load_average_1m']['after_timing']}" for z in sizes]),
        "",
        "Per-venue cost of the city run, largest size ÷ smallest: "
        + ", ".join(f"{k} {v}x" for k, v in s["per_venue_ratio_largest_vs_smallest"].items())
        + f". Linear (judged on {', '.join(s['linearity_judged_on'])}, within {s['linear_tolerance']}x): "
        f"**{'yes' if s['linear'] else 'NO'}**. Slowest tick at "
        f"{label(sizes[-1]['venues'])}: {s['slowest_tick_at_largest']} {s['slowest_tick_median_s']:.3f} s (target "
        f"under {s['tick_target_s']:.0f} s: **{'PASS' if s['ticks_under_target'] else 'FAIL'}**).",
    ]
    path.write_text("\n".join(lines) + "\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--pg-url", help="PostgreSQL server URL (default: $VENUE_PG_URL); its database part is ignored")
    p.add_argument("--db-name", default="bench_scale", help="prefix of the per-size databases (dropped after)")
    p.add_argument("--sizes", default="10000,30000,100000", help="venue counts, comma-separated, smallest first")
    p.add_argument("--runs", type=int, default=5, help="timed ticks per sensor/schedule (the median is reported)")
    p.add_argument("--keep", action="store_true", help="keep the benchmark databases afterwards")
    p.add_argument("--quotas", choices=("paid", "all"), default="paid",
                   help="daily quotas of the paced calls: the paid plan's (Geoapify only), or one on every provider")
    p.add_argument("--out-dir", type=Path, default=RESULTS)
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child mode: one size
    p.add_argument("--json", help=argparse.SUPPRESS)
    p.add_argument("--explain", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one:
        return one_size(args)
    url = server_url(args)
    sizes = sorted(int(x) for x in args.sizes.split(","))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    tag = label(sizes[-1]) + ("" if args.quotas == "paid" else f"_quotas_{args.quotas}")
    results = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="scale_bench_") as tmp:
        for n in sizes:
            out = Path(tmp) / f"{n}.json"
            cmd = [sys.executable, __file__, "--pg-url", url, "--db-name", args.db_name, "--runs", str(args.runs),
                   "--quotas", args.quotas,
                   "--one", str(n), "--json", str(out)]
            if n == sizes[-1]:
                cmd += ["--explain", str(args.out_dir / f"scale_{tag}_plans.txt")]
            if args.keep:
                cmd.append("--keep")
            rc = subprocess.run(cmd).returncode  # a child per size: its own peak RSS, nothing shared
            if rc != 0:
                print(f"scale_benchmark: the {n:,}-venue run failed (exit {rc})", file=sys.stderr)
                return 2
            results.append(json.loads(out.read_text()))
    result = {
        "benchmark": "database side of a city run, sensors and schedules (venue_pipeline.store)",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "benchmarks/scale_benchmark.py --sizes " + ",".join(map(str, sizes)) + f" --quotas {args.quotas}",
        "quotas": args.quotas,
        "machine": machine_info(),
        "wall_s": round(time.perf_counter() - started, 1),
        "sizes": results,
        "summary": summarize(results),
    }
    (args.out_dir / f"scale_{tag}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    write_markdown(args.out_dir / f"scale_{tag}.md", result)
    s = result["summary"]
    for z in results:
        print(f"{z['venues']:>7,} venues: city run {z['city_run']['total_s']:.2f} s "
              f"({z['city_run']['per_venue_ms']:.2f} ms a venue), slowest tick "
              f"{max(v['median_s'] for v in z['ticks']['evaluate_tick'].values()):.3f} s, peak RSS {z['peak_rss_mb']} MB")
    print(f"linear: {s['linear']} ({s['per_venue_ratio_largest_vs_smallest']}); ticks under "
          f"{TICK_TARGET_S:.0f} s: {s['ticks_under_target']}; {result['wall_s']} s in all; "
          f"results in {args.out_dir}/scale_{tag}.md", flush=True)
    return 0 if s["linear"] and s["ticks_under_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
