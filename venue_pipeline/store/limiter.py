"""The shared limiter's SQL: provider rates and daily quotas that hold across processes and machines.

Every process that shares the venue database takes its call slots from one `provider_pacing` row per
provider, in one short transaction per call (`take_slot`):

1. lock the provider's row (PostgreSQL: `SELECT ... FOR UPDATE`; SQLite: `BEGIN IMMEDIATE`, the database's
   one write lock, which is correct across processes on one machine);
2. with a daily quota, count today's `api_calls` rows of the provider, calls still in flight included (their
   rows are written ahead, below), and refuse with QuotaExhausted when the quota is used up;
3. hand out the next slot, GCRA style: slot = max(now, next_slot_at); next_slot_at = slot + 1/rate;
4. insert the call's `api_calls` row ahead of the request (finished_at NULL), so it is counted by every
   process while it is in flight and stays counted if the process dies before it ends.

The caller sleeps until its slot, sends, and then `finish_call` fills in the outcome (or `forget_call`
deletes the row of an attempt that was cancelled before it was sent). "Now" is the database server's
clock on PostgreSQL (machines whose clocks differ still agree on the slots) and this machine's on SQLite.

The statements are plain driver SQL, built once per dialect: SQLAlchemy's statement building and cache keys cost
about ten times the database work of these one-row statements, and they run once or twice per provider call.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine

from venue_pipeline.core.errors import QuotaExhausted
from venue_pipeline.core.ports import ApiCall


def utc_day(when: datetime | None = None) -> str:
    """Quota days are UTC days."""
    return (when or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class Slot:
    """A granted call: its ledger row (written ahead) and how long to wait before sending it."""

    call_id: int
    delay_s: float
    at: datetime


_LOCK = {
    "sqlite": "SELECT next_slot_at FROM provider_pacing WHERE provider = :provider",
    "postgresql": "SELECT next_slot_at, extract(epoch FROM clock_timestamp()) FROM provider_pacing "
    "WHERE provider = :provider FOR UPDATE",
}
_CREATE = "INSERT INTO provider_pacing (provider, next_slot_at) VALUES (:provider, 0) ON CONFLICT DO NOTHING"
_SET_NEXT = "UPDATE provider_pacing SET next_slot_at = :next_slot_at WHERE provider = :provider"
_COUNT_DAY = "SELECT count(*) FROM api_calls WHERE provider = :provider AND day = :day"
_INSERT_CALL = (
    "INSERT INTO api_calls (provider, endpoint, status_code, error_type, cost, duration_ms, run_id, called_at, day, "
    "finished_at) VALUES (:provider, :endpoint, :status_code, :error_type, :cost, :duration_ms, :run_id, :called_at, "
    ":day, :finished_at)"
)
_FINISH_CALL = (
    "UPDATE api_calls SET status_code = :status_code, error_type = :error_type, cost = :cost, "
    "duration_ms = :duration_ms, finished_at = :finished_at WHERE id = :id"
)
_FORGET_CALL = "DELETE FROM api_calls WHERE id = :id AND finished_at IS NULL"


@lru_cache(maxsize=64)
def _in_style(sql: str, dialect: str, paramstyle: str) -> str:
    """`:name` placeholders in the driver's style: sqlite3 takes them as they are (with a dict of parameters),
    psycopg2 wants %(name)s."""
    if dialect == "sqlite":
        return sql
    if paramstyle == "pyformat":
        return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql)
    raise NotImplementedError(f"{dialect} driver paramstyle {paramstyle!r}")


def _run(conn: Connection, sql: str, params: Mapping[str, Any]) -> Any:
    return conn.exec_driver_sql(_in_style(sql, conn.dialect.name, conn.dialect.paramstyle), dict(params))


def _when(conn: Connection, value: datetime) -> Any:
    """A UTC datetime as the schema's UtcDateTime stores it: naive UTC text on SQLite, timestamptz on PostgreSQL."""
    value = value.astimezone(timezone.utc)
    if _is_sqlite(conn):
        return value.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def _is_sqlite(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One short write transaction; on SQLite it takes the write lock at BEGIN (BEGIN IMMEDIATE), so a
    transaction that reads first never has to upgrade its lock (the busy timeout then covers every wait)."""
    with engine.connect() as conn:
        if _is_sqlite(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn
        conn.commit()


def _begin_locked(conn: Connection, provider: str) -> tuple[float, float]:
    """Locks the provider's pacing row inside a write transaction; returns (now, next_slot_at) in epoch seconds."""
    lock = _LOCK["sqlite" if _is_sqlite(conn) else "postgresql"]
    row = _run(conn, lock, {"provider": provider}).first()
    if row is None:  # first call of this provider on this database: create its row, then lock it
        _run(conn, _CREATE, {"provider": provider})
        row = _run(conn, lock, {"provider": provider}).first()
        assert row is not None
    now = time.time() if _is_sqlite(conn) else float(row[1])
    return now, float(row[0])


def take_slot(
    engine: Engine,
    provider: str,
    endpoint: str,
    *,
    rate_per_second: float,
    daily_quota: int | None,
    run_id: str | None,
    stamp: datetime | None = None,
) -> Slot:
    """Checks the quota, takes the provider's next call slot and writes the call's row ahead, in one transaction.

    Raises QuotaExhausted (nothing written, no slot used) when today's rows, in-flight calls included,
    already reach `daily_quota`. `stamp` (a stage's injected clock) replaces the slot's time as the call's
    `called_at` and quota day, so a simulated day has its own quota; the pacing itself stays on the real clock."""
    if rate_per_second <= 0:
        raise ValueError(f"rate_per_second must be positive, got {rate_per_second}")
    with write_transaction(engine) as conn:
        now, next_slot = _begin_locked(conn, provider)
        slot = max(now, next_slot)
        at = datetime.fromtimestamp(slot, timezone.utc)
        day = utc_day(stamp or at)
        if daily_quota is not None:
            used = _run(conn, _COUNT_DAY, {"provider": provider, "day": day}).scalar_one()
            if used >= daily_quota:
                raise QuotaExhausted(provider, daily_quota)  # rolled back: no slot taken, nothing written
        _run(conn, _SET_NEXT, {"provider": provider, "next_slot_at": slot + 1.0 / rate_per_second})
        values = {
            "provider": provider, "endpoint": endpoint, "status_code": None, "error_type": None, "cost": 0.0,
            "duration_ms": 0, "run_id": run_id, "called_at": _when(conn, stamp or at), "day": day, "finished_at": None,
        }
        call_id = _run(conn, _INSERT_CALL + " RETURNING id", values).scalar_one()
    return Slot(int(call_id), slot - now, at)


def push_back(engine: Engine, provider: str, seconds: float) -> None:
    """No call of this provider, in any process, is given a slot earlier than `seconds` from now (Retry-After)."""
    if seconds <= 0:
        return
    with write_transaction(engine) as conn:
        now, next_slot = _begin_locked(conn, provider)
        if now + seconds > next_slot:
            _run(conn, _SET_NEXT, {"provider": provider, "next_slot_at": now + seconds})


def record_call(engine: Engine, call: ApiCall, run_id: str | None, finished: datetime | None = None) -> None:
    """Writes a call that did not go through a slot (one INSERT), as it completes (`finished`: default now)."""
    with write_transaction(engine) as conn:
        _run(conn, _INSERT_CALL, {
            "provider": call.provider, "endpoint": call.endpoint, "status_code": call.status_code,
            "error_type": call.error_type, "cost": call.cost, "duration_ms": call.duration_ms, "run_id": run_id,
            "called_at": _when(conn, call.called_at), "day": utc_day(call.called_at),
            "finished_at": _when(conn, finished or datetime.now(timezone.utc)),
        })


def finish_call(engine: Engine, call_id: int, call: ApiCall, finished: datetime | None = None) -> None:
    """Fills in the outcome of a call whose row was written ahead (its slot time stays its called_at)."""
    with write_transaction(engine) as conn:
        _run(conn, _FINISH_CALL, {
            "id": call_id, "status_code": call.status_code, "error_type": call.error_type, "cost": call.cost,
            "duration_ms": call.duration_ms, "finished_at": _when(conn, finished or datetime.now(timezone.utc)),
        })


def forget_call(engine: Engine, call_id: int) -> None:
    """Deletes the row of a call that was never sent (cancelled while it waited for its slot)."""
    with write_transaction(engine) as conn:
        _run(conn, _FORGET_CALL, {"id": call_id})
