"""Runs `venue-pipeline demo` in its own process group, kills it with SIGKILL at a moment named by its progress
output, and reads the state a run leaves: image rows, provider IDs, stored files, calls."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CITIES = ("exeter", "norwich")
VENUES_PER_CITY = 10


def cli() -> list[str]:
    script = Path(sys.executable).parent / "venue-pipeline"
    return [str(script)] if script.exists() else [sys.executable, "-m", "venue_pipeline.cli"]


def demo_cmd() -> list[str]:
    cmd = [*cli(), "demo", "--limit-per-city", str(VENUES_PER_CITY), "--faults", "none"]
    for city in CITIES:
        cmd += ["--city", city]
    return cmd


# Every provider paced at 0.25 calls/s (the in-process sandbox runs 20x faster: 5/s), so each stage of a
# 10-venue city lasts seconds and a kill lands inside it.
SLOW_RATES = {f"{p}_RATE_PER_SECOND": "0.25" for p in ("HERE", "GEOAPIFY", "FOURSQUARE", "GOOGLE_PLACES")}


def env_for(base: Path, db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VENUE_", "IMAGEKIT_", "DAGSTER_"))}
    home = base / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    env.update(
        DAGSTER_HOME=str(home),
        VENUE_PIPELINE_HOME=str(base / "state"),
        VENUE_DB_URL=db_url,
        VENUE_IMAGE_DIR=str(base / "images"),
        VENUE_IMAGE_STORE="local",
        VENUE_PROVIDER_MODE="sandbox",
        PYTHONUNBUFFERED="1",
    )
    env.update(SLOW_RATES)
    env.update(extra)
    return env


def _register(pid: int) -> None:
    pgid_file = os.environ.get("VENUE_CI_PGID_FILE")  # .ci/run stops these groups if a test dies first
    if pgid_file:
        with open(pgid_file, "a", encoding="utf-8") as fh:
            fh.write(f"{pid}\n")


def run_to_end(env: dict[str, str], log: Path, timeout_s: float = 300) -> str:
    """One whole demo run; its output."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(demo_cmd(), env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        _register(proc.pid)
        try:
            rc = proc.wait(timeout=timeout_s)
        finally:
            _kill_group(proc)
    text_out = log.read_text(errors="replace")
    assert rc == 0, f"demo exited {rc}:\n{text_out[-3000:]}"
    return text_out


def scalar(db_url: str, sql: str) -> int:
    """One number from the run's database (0 while its tables do not exist yet)."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as c:
            return int(c.execute(text(sql)).scalar_one() or 0)
    except Exception:  # noqa: BLE001 - before the first migration there is nothing to count
        return 0
    finally:
        engine.dispose()


def run_and_kill(env: dict[str, str], log: Path, reached: Callable[[str], bool], timeout_s: float = 300) -> str:
    """Starts a demo run and SIGKILLs its whole process group as soon as `reached(output)` is true (a stage's
    progress in the database, or a line of output); returns the output up to the kill."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(demo_cmd(), env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    _register(proc.pid)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if reached(log.read_text(errors="replace")):
                break
            if proc.poll() is not None:
                raise AssertionError(f"the run ended before the moment:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.05)
        else:
            raise AssertionError(f"the moment never came:\n{log.read_text(errors='replace')[-3000:]}")
        assert proc.poll() is None, "the run ended before the kill"
    finally:
        _kill_group(proc, sig=signal.SIGKILL)
    return log.read_text(errors="replace")


def _kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass


@dataclass
class State:
    """What a run leaves behind, in comparable form (external ids, not row ids)."""

    images: dict[tuple[str, str, str], tuple[str, str | None]]
    ids: dict[tuple[str, str], tuple[str, str | None]]
    files: set[str]
    calls: Counter[tuple[str, str]]
    calls_per_day: Counter[tuple[str, str]]
    duplicate_rows: int


def read_state(db_url: str, image_dir: Path) -> State:
    engine = create_engine(db_url)
    try:
        with engine.connect() as c:
            images = {
                (ext, prov, key): (status, path)
                for ext, prov, key, status, path in c.execute(text(
                    "select v.external_id, i.provider, i.photo_key, i.status, i.cdn_path "
                    "from venue_images i join venues v on v.id = i.venue_id"))
            }
            dup = c.execute(text(
                "select count(*) from (select venue_id, provider, photo_key from venue_images "
                "group by venue_id, provider, photo_key having count(*) > 1) d")).scalar_one()
            ids = {
                (ext, prov): (status, place)
                for ext, prov, status, place in c.execute(text(
                    "select v.external_id, p.provider, p.status, p.place_id "
                    "from provider_ids p join venues v on v.id = p.venue_id"))
            }
            calls: Counter[tuple[str, str]] = Counter()
            per_day: Counter[tuple[str, str]] = Counter()
            for prov, endpoint, day, n in c.execute(text(
                    "select provider, endpoint, day, count(*) from api_calls group by provider, endpoint, day")):
                calls[(prov, endpoint)] += n
                per_day[(prov, day)] += n
    finally:
        engine.dispose()
    files = {"/" + str(p.relative_to(image_dir)) for p in image_dir.rglob("*") if p.is_file()} if image_dir.exists() else set()
    return State(images, ids, files, calls, per_day, int(dup))
