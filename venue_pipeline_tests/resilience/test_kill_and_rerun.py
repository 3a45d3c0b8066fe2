"""Kill the enrichment with SIGKILL during IDs, discovery, uploads and between cities, run it again, and get
the state of an uninterrupted run: no duplicate row, no orphan file, only calls in flight repeated, quotas
held. Runs on the suite's database (SQLite, or PostgreSQL in CI's second pass)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from kill_support import env_for, read_state, run_and_kill, run_to_end, scalar

from venue_pipeline.store.db import create_scratch_database, drop_database

# The moments, each read from the run's own database or output: part of a stage's work is stored, not all.
MOMENTS = {
    "ids": "select count(*) from provider_ids",  # some venues' IDs stored
    "discovery": "select count(*) from venue_images",  # some venues' photos listed
    "uploads": "select count(*) from venue_images where status = 'uploaded'",  # some images copied
}
KILL_AFTER = 3  # rows of progress before the kill
SECOND_CITY = re.compile(r"^\s*\[2/2\] ", re.M)  # between cities: the first city's run is over


def moment(name: str, db_url: str) -> Callable[[str], bool]:
    if name == "between_cities":
        return lambda output: bool(SECOND_CITY.search(output))
    return lambda _output: scalar(db_url, MOMENTS[name]) >= KILL_AFTER


# What a SIGKILL may lose or repeat: the requests in flight. The ID stage works on at most 16 venues at once,
# each asking 4 providers up to twice (the 500 m second search); the other stages keep fewer open.
IN_FLIGHT = 16 * 4 * 2
FOURSQUARE_QUOTA = 15  # well below what the two cities want, so the quota is tested across the kill


def _fresh_db(tmp: Path, name: str) -> tuple[str, tuple[str, str] | None]:
    server = os.environ.get("VENUE_DB_URL", "")
    if server.startswith("postgres"):
        url, admin = create_scratch_database(server, f"vp_{name}")
        return url, (url, admin)
    return f"sqlite:///{tmp / f'{name}.db'}", None


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("uninterrupted")
    url, drop = _fresh_db(base, "base")
    env = env_for(base, url)
    try:
        run_to_end(env, base / "demo.log")
        yield read_state(url, base / "images")
    finally:
        if drop:
            drop_database(*drop)


@pytest.mark.parametrize("name", [*MOMENTS, "between_cities"])
def test_a_killed_run_then_a_rerun_equals_an_uninterrupted_run(uninterrupted, tmp_path, name):  # type: ignore[no-untyped-def]
    url, drop = _fresh_db(tmp_path, name)
    env = env_for(tmp_path, url)
    try:
        run_and_kill(env, tmp_path / "killed.log", moment(name, url))
        if name in MOMENTS:  # the kill landed inside the stage: part of its work stored, not all
            done = scalar(url, MOMENTS[name])
            full = {"ids": len(uninterrupted.ids), "discovery": len(uninterrupted.images),
                    "uploads": sum(1 for s, _ in uninterrupted.images.values() if s == "uploaded")}[name]
            assert KILL_AFTER <= done < full, f"killed at {done} of {full}"
        run_to_end(env, tmp_path / "rerun.log")
        after = read_state(url, tmp_path / "images")
    finally:
        if drop:
            drop_database(*drop)
    base = uninterrupted
    assert after.duplicate_rows == 0
    assert after.ids == base.ids, f"provider IDs differ after the kill at {name}"
    assert after.images == base.images, f"images differ after the kill at {name}"
    stored = {path for status, path in after.images.values() if status == "uploaded"}
    assert after.files == stored, f"orphan files {sorted(after.files - stored)[:5]}, missing {sorted(stored - after.files)[:5]}"
    # calls: the rerun repeats only what was in flight when the process died
    extra = sum(after.calls.values()) - sum(base.calls.values())
    assert extra <= IN_FLIGHT, f"{extra} more calls than an uninterrupted run: {after.calls - base.calls}"


def test_a_daily_quota_holds_across_a_kill_and_a_rerun(tmp_path):  # type: ignore[no-untyped-def]
    """Which venues get the quota's lookups depends on timing, so this checks the count, not the state."""
    url, drop = _fresh_db(tmp_path, "quota")
    env = env_for(tmp_path, url, FOURSQUARE_DAILY_QUOTA=str(FOURSQUARE_QUOTA))
    try:
        run_and_kill(env, tmp_path / "killed.log", moment("ids", url))
        run_to_end(env, tmp_path / "rerun.log")
        after = read_state(url, tmp_path / "images")
    finally:
        if drop:
            drop_database(*drop)
    used = {day: n for (prov, day), n in after.calls_per_day.items() if prov == "foursquare"}
    assert used and all(n <= FOURSQUARE_QUOTA for n in used.values()), used
    deferred = [k for k, (status, _) in after.ids.items() if k[1] == "foursquare" and status == "deferred"]
    assert deferred, "the quota deferred no lookup: the test does not reach the quota"
    assert after.duplicate_rows == 0


def test_two_runs_of_one_city_at_once_end_as_one_run_with_its_calls(uninterrupted, tmp_path):  # type: ignore[no-untyped-def]
    """Both started on a fresh state (so their first set-ups race too): one works, the other waits for the
    city's lease and then finds nothing left to do; both succeed and the Dagster storage stays usable."""
    import subprocess

    from kill_support import PROJECT_ROOT, demo_cmd

    url, drop = _fresh_db(tmp_path, "twice")
    env = env_for(tmp_path, url)
    try:
        logs = [tmp_path / f"run{i}.log" for i in (1, 2)]
        procs = [
            subprocess.Popen(demo_cmd(), env=env, cwd=PROJECT_ROOT, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
            for log in logs
        ]
        try:
            codes = [p.wait(timeout=600) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
        assert codes == [0, 0], "\n".join(log.read_text(errors="replace")[-2000:] for log in logs)
        after = read_state(url, tmp_path / "images")
        third = run_to_end(env, tmp_path / "run3.log")  # the instance and the database still work afterwards
    finally:
        if drop:
            drop_database(*drop)
    assert after.duplicate_rows == 0
    assert after.ids == uninterrupted.ids and after.images == uninterrupted.images
    assert sum(after.calls.values()) <= sum(uninterrupted.calls.values()) + IN_FLIGHT
    assert "run " in third
