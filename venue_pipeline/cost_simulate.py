"""A simulated year (issue 15): the schedules replayed day by day on a copy of the state against the in-process
sandbox, every stage on the simulated clock, so an operator sees what a year costs before it is spent.

Each simulated day does what the deployment would launch that day, through the same stage functions the Dagster
assets call (not Dagster itself):

- at the start, the new-venues sensor: a city run (IDs, discovery, uploads) for the venues without any provider row;
- 04:00 UTC, the daily retry schedule: `run_retries` when a failure is due;
- 05:00 UTC, the re-enrichment schedule: quota-deferred work and stale venues, `CITIES_PER_TICK` cities and
  `VENUES_PER_CITY_PER_TICK` venues each (store/reenrichment.py due_venues, the deployed schedule's own selection), each
  city through `run_provider_ids` -> `run_discovery` -> `run_uploads` on its venues.

A day with nothing due runs no stage (a few indexed counts). The calls are the copy's `api_calls` ledger rows of the
simulated days, priced per call by the provider clients (providers/registry.py, Google's SKUs in docs/providers.md).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import datetime, time as dtime, timedelta, timezone
from pathlib import Path
from typing import Any

from venue_pipeline.providers.registry import PROVIDERS
from venue_pipeline.store.simulation import EndpointCalls

RETRY_AT = dtime(4, 0)
REENRICH_AT = dtime(5, 0)
DAY = timedelta(days=1)
RUN_PREFIX = "sim:"  # every simulated run's id: its calls are told from the copied state's own


class SimulationError(ValueError):
    """State the simulation cannot copy or use (e.g. a database that is not SQLite)."""


@dataclass
class StateFigures:
    """Coverage and gallery size of a state: venues, those with an uploaded image, uploaded images."""

    venues: int
    with_image: int
    images: int

    @property
    def coverage(self) -> float:
        """Share of venues with at least one uploaded image."""
        return self.with_image / self.venues if self.venues else 0.0

    @property
    def gallery_mean(self) -> float:
        """Uploaded images per venue (every venue counted: a venue without images has a gallery of 0)."""
        return self.images / self.venues if self.venues else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "coverage": round(self.coverage, 4), "gallery_mean": round(self.gallery_mean, 3)}


@dataclass
class YearResult:
    """What the simulated days spent (per provider and endpoint, ledger list prices) and the galleries they left."""

    start: datetime
    days: int
    venues: int
    calls: dict[str, int]
    dollars: dict[str, float]
    endpoints: list[EndpointCalls]
    before: StateFigures
    after: StateFigures
    active_days: int = 0
    stage_runs: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    state_url: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def total_dollars(self) -> float:
        return round(sum(self.dollars.values()), 2)

    @property
    def calls_per_venue(self) -> float:
        """Provider calls per venue over the simulated days."""
        return self.total_calls / self.venues if self.venues else 0.0

    @property
    def calls_per_venue_year(self) -> float:
        """Calls per venue scaled to 365 days."""
        return self.calls_per_venue * 365 / self.days if self.days else 0.0

    @property
    def coverage(self) -> float:
        return self.after.coverage

    @property
    def gallery(self) -> float:
        return self.after.gallery_mean

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(), "days": self.days, "venues": self.venues,
            "calls": self.calls, "dollars": self.dollars, "total_calls": self.total_calls,
            "total_dollars": self.total_dollars, "calls_per_venue": round(self.calls_per_venue, 3),
            "calls_per_venue_year": round(self.calls_per_venue_year, 3),
            "endpoints": [asdict(e) for e in self.endpoints],
            "before": self.before.as_dict(), "after": self.after.as_dict(), "active_days": self.active_days,
            "stage_runs": self.stage_runs, "elapsed_s": round(self.elapsed_s, 1), "state_url": self.state_url,
            "settings": self.settings,
        }


def copy_state(db_url: str, dest: Path) -> str:
    """A copy of the venue database as a SQLite file at `dest`; returns its URL. SQLite state is copied with SQLite's
    backup API (consistent while others write), any other database table by table into a migrated file
    (store/simulation.py copy_tables). The simulation never touches the real state."""
    from sqlalchemy.engine import make_url

    from venue_pipeline.store.db import normalize_url, upgrade
    from venue_pipeline.store.simulation import copy_tables

    url = make_url(normalize_url(db_url))
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        dest.unlink()
    copy_url = f"sqlite:///{dest.resolve()}"
    if url.get_backend_name() != "sqlite":
        upgrade(copy_url)
        copy_tables(db_url, copy_url)
        return copy_url
    if not url.database or url.database == ":memory:":
        raise SimulationError("an in-memory SQLite database cannot be copied: give a file")
    source = Path(url.database)
    if not source.is_file():
        raise SimulationError(f"{source}: no venue database there")
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(dest)) as out:
        src.backup(out)
    return copy_url


def _day_start(start: datetime, index: int) -> datetime:
    day = (start.astimezone(timezone.utc) + index * DAY).date()
    return datetime.combine(day, dtime(0, 0), timezone.utc)


def _at(day: datetime, when: dtime) -> datetime:
    return datetime.combine(day.date(), when, timezone.utc)


def _figures(db_url: str) -> StateFigures:
    from venue_pipeline.store.db import session_scope
    from venue_pipeline.store.simulation import gallery_figures

    with session_scope(db_url) as session:
        return StateFigures(*gallery_figures(session))


def _schedule_requests(db_url: str, now: datetime) -> list[tuple[str, list[int]]]:
    """What reenrich_stale_venues_schedule would launch at `now`: (city, venue ids), by the schedule's own selection."""
    from venue_pipeline.store.db import session_scope
    from venue_pipeline.store.reenrichment import due_venues

    with session_scope(db_url) as session:
        return due_venues(session, now)


class _Replay:
    """The stages of one simulated deployment on a copy: each call names its simulated time."""

    def __init__(self, settings: Any, say: Callable[[str], None]) -> None:
        self.settings = settings
        self.say = say
        self.runs: Counter[str] = Counter()

    def city_run(self, city: str, venue_ids: list[int], now: datetime, trigger: str) -> None:
        """enrich_city_job for one city's venues: IDs, discovery, uploads, all at `now`."""
        from venue_pipeline.pipeline import run_discovery, run_provider_ids, run_uploads

        run_id = f"{RUN_PREFIX}{now:%Y-%m-%d}:{trigger}:{city}"
        ids = run_provider_ids(self.settings, city, venue_ids=venue_ids, run_id=run_id, now=now)
        found = run_discovery(self.settings, city, venue_ids=venue_ids, run_id=run_id, now=now)
        up = run_uploads(self.settings, city, venue_ids=venue_ids, run_id=run_id, now=now)
        self.runs[trigger] += 1
        calls = sum(ids.calls.values()) + sum(found.calls.values()) + sum(up.calls.values())
        self.say(f"{now:%Y-%m-%d %H:%M} {trigger} {city}: {len(venue_ids)} venues, {calls} calls")

    def retries(self, now: datetime) -> None:
        from venue_pipeline.pipeline import run_retries
        from venue_pipeline.store.db import session_scope
        from venue_pipeline.store.images import due_failure_count

        with session_scope(self.settings.db_url) as session:
            due = due_failure_count(session, now)
        if not due:
            return
        summary = run_retries(self.settings, run_id=f"{RUN_PREFIX}{now:%Y-%m-%d}:retry", now=now)
        self.runs["retry"] += 1
        self.say(f"{now:%Y-%m-%d %H:%M} retry: {summary.due} due, {sum(summary.uploaded.values())} uploaded")

    def day(self, day: datetime, first: bool, start: datetime) -> bool:
        """One simulated day; True when any stage ran."""
        from venue_pipeline.store.db import session_scope
        from venue_pipeline.store.simulation import new_venues_by_city

        before = sum(self.runs.values())
        if first:  # the new-venues sensor (venues appear only by import, and none is imported while simulating)
            with session_scope(self.settings.db_url) as session:
                fresh = new_venues_by_city(session)
            for city, ids in sorted(fresh.items()):
                self.city_run(city, ids, start, "new_venues")
        if _at(day, RETRY_AT) >= start:
            self.retries(_at(day, RETRY_AT))
        if _at(day, REENRICH_AT) >= start:
            for city, ids in _schedule_requests(self.settings.db_url, _at(day, REENRICH_AT)):
                self.city_run(city, ids, _at(day, REENRICH_AT), "reenrich")
        return sum(self.runs.values()) > before


def simulate(
    db_url: str,
    days: int,
    start: datetime,
    *,
    faults: str = "default",
    seed: int = 7,
    plan: str = "",
    state_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> YearResult:
    """Replays `days` days of the schedules from `start` (UTC) on a SQLite copy of the state at `db_url` (kept in
    `state_dir`, else a temporary folder removed afterwards) against the in-process sandbox (`faults`, `seed`) with
    the provider plan `plan` (empty: VENUE_PROVIDER_PLAN, else paid). The state at `db_url` is never written."""
    from venue_pipeline.services import Settings
    from venue_pipeline.store.db import session_scope, upgrade
    from venue_pipeline.store.simulation import calls_between

    if days < 1:
        raise SimulationError(f"days must be at least 1, got {days}")
    start = start.replace(tzinfo=timezone.utc) if start.tzinfo is None else start.astimezone(timezone.utc)
    t0 = time.monotonic()
    scratch = None if state_dir is not None else Path(tempfile.mkdtemp(prefix="venue-cost-sim-"))
    folder = state_dir if state_dir is not None else scratch
    assert folder is not None
    try:
        url = copy_state(db_url, folder / "venues.db")
        upgrade(url)
        settings = Settings(
            db_url=url, sandbox_seed=seed, sandbox_faults=faults, image_dir=str(folder / "images"), plan=plan,
        )
        before = _figures(url)
        replay = _Replay(settings, progress or (lambda _line: None))
        active = 0
        for index in range(days):
            active += replay.day(_day_start(start, index), index == 0, start)
        with session_scope(url) as session:
            endpoints = calls_between(
                session, start.strftime("%Y-%m-%d"), (start + days * DAY).strftime("%Y-%m-%d"), RUN_PREFIX
            )
        endpoints = [e for e in endpoints if e.provider in PROVIDERS]
        calls: Counter[str] = Counter()
        dollars: Counter[str] = Counter()
        for e in endpoints:
            calls[e.provider] += e.calls
            dollars[e.provider] += e.dollars
        return YearResult(
            start=start, days=days, venues=before.venues, calls=dict(sorted(calls.items())),
            dollars={p: round(d, 2) for p, d in sorted(dollars.items())}, endpoints=endpoints, before=before,
            after=_figures(url), active_days=active, stage_runs=dict(replay.runs), elapsed_s=time.monotonic() - t0,
            state_url=url if scratch is None else "",
            settings={"faults": faults, "seed": seed, "plan": plan or os.environ.get("VENUE_PROVIDER_PLAN") or "paid"},
        )
    finally:
        if scratch is not None:
            from venue_pipeline.store.db import get_engine

            get_engine(f"sqlite:///{(scratch / 'venues.db').resolve()}").dispose()  # its files go next
            shutil.rmtree(scratch, ignore_errors=True)
