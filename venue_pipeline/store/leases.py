"""Run leases: one writer per name (`city:<slug>`) across processes, in the venue database.

A lease row names its holder (`host:pid:nonce`), the Dagster run and when it expires. Acquiring inserts the
row or takes over one that expired (or whose holder is a dead process on this host) in one statement;
the holder renews it from a heartbeat thread while it works and deletes it at the end. A holder that dies
without releasing stops renewing, so its lease expires after `ttl_s` (2 minutes by default) and the next
run takes it over.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import String, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Mapped, Session, mapped_column

from venue_pipeline.store.db import ensure_schema, session_scope
from venue_pipeline.store.schema import Base, UtcDateTime

log = logging.getLogger(__name__)

LEASE_TTL_S = 120.0
"""A lease nobody renews is free after this long (the bound on how long a dead holder blocks its city)."""
LEASE_WAIT_S: float | None = None
"""How long a second run of the same city waits for the lease before it skips that city (None: the
VENUE_LEASE_WAIT_S variable, read when a lease is taken, else 600 s)."""


def lease_wait_s() -> float:
    """The wait in force; a bad VENUE_LEASE_WAIT_S is one clear error naming it, when a lease is taken."""
    if LEASE_WAIT_S is not None:
        return LEASE_WAIT_S
    raw = os.environ.get("VENUE_LEASE_WAIT_S", "600").strip()
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"VENUE_LEASE_WAIT_S must be a number of seconds, not {raw!r}") from None
    if value < 0:
        raise ValueError(f"VENUE_LEASE_WAIT_S must not be negative, not {raw!r}")
    return value
PROGRESS_EVERY_S = 15.0


class RunLeaseRow(Base):
    """Who holds a named lease, for which run, until when (renewed by the holder's heartbeat)."""

    __tablename__ = "run_leases"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[str | None] = mapped_column(String(64))
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


@dataclass(frozen=True)
class LeaseInfo:
    name: str
    holder: str
    run_id: str | None
    acquired_at: datetime
    expires_at: datetime

    def describe(self) -> str:
        run = f"run {self.run_id[:8]}" if self.run_id else "a run"
        return f"{run} (holder {self.holder}) since {self.acquired_at:%H:%M:%S} UTC"


def city_lease_name(city: str) -> str:
    return f"city:{city}"


def new_holder() -> str:
    """This process, unique per acquisition: `host:pid:nonce`."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_is_dead(holder: str) -> bool:
    """True only when the holder is a process on this host that no longer exists."""
    parts = holder.split(":")
    if len(parts) < 2 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    return not pid_alive(int(parts[1]))


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _info(row: RunLeaseRow) -> LeaseInfo:
    return LeaseInfo(row.name, row.holder, row.run_id, row.acquired_at, row.expires_at)


def _get(session: Session, name: str) -> RunLeaseRow | None:
    return session.get(RunLeaseRow, name, populate_existing=True)


def _try_acquire(session: Session, name: str, holder: str, run_id: str | None, ttl_s: float) -> LeaseInfo | None:
    """One statement: insert, or take over an expired lease; returns None when we hold it now, else the
    current holder's lease."""
    now = _now()
    table = RunLeaseRow.__table__
    values = {"name": name, "holder": holder, "run_id": run_id, "acquired_at": now, "expires_at": now + timedelta(seconds=ttl_s)}
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(table).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.name],
        set_={k: stmt.excluded[k] for k in ("holder", "run_id", "acquired_at", "expires_at")},
        where=(table.c.expires_at < now) | (table.c.holder == holder),
    )
    session.execute(stmt)
    row = _get(session, name)
    if row is not None and row.holder == holder:
        return None
    if row is not None and holder_is_dead(row.holder):  # its process is gone: no need to wait for expiry
        taken = session.execute(
            update(RunLeaseRow)
            .where(RunLeaseRow.name == name, RunLeaseRow.holder == row.holder)
            .values(holder=holder, run_id=run_id, acquired_at=now, expires_at=values["expires_at"])
        )
        if taken.rowcount == 1:
            log.info("lease %s taken over from dead holder %s", name, row.holder)
            return None
        row = _get(session, name)
    if row is None:  # released between our insert and read: try again
        return _try_acquire(session, name, holder, run_id, ttl_s)
    return _info(row)


def try_acquire(url: str, name: str, holder: str, run_id: str | None = None, ttl_s: float = LEASE_TTL_S) -> LeaseInfo | None:
    """None when `holder` now holds the lease `name`; else who holds it."""
    ensure_schema(url)
    with session_scope(url) as session:
        return _try_acquire(session, name, holder, run_id, ttl_s)


def renew(url: str, name: str, holder: str, ttl_s: float = LEASE_TTL_S) -> bool:
    """Pushes the expiry on; False when the lease is no longer ours (it expired and was taken over)."""
    with session_scope(url) as session:
        result = session.execute(
            update(RunLeaseRow)
            .where(RunLeaseRow.name == name, RunLeaseRow.holder == holder)
            .values(expires_at=_now() + timedelta(seconds=ttl_s))
        )
        return result.rowcount == 1


def release(url: str, name: str, holder: str) -> bool:
    with session_scope(url) as session:
        return session.execute(delete(RunLeaseRow).where(RunLeaseRow.name == name, RunLeaseRow.holder == holder)).rowcount == 1


def release_run(url: str, run_id: str) -> list[str]:
    """Frees every lease of a run that is known dead; returns their names."""
    with session_scope(url) as session:
        names = list(session.scalars(select(RunLeaseRow.name).where(RunLeaseRow.run_id == run_id)))
        session.execute(delete(RunLeaseRow).where(RunLeaseRow.run_id == run_id))
    return names


def release_dead_holders(url: str) -> list[LeaseInfo]:
    """Frees the leases whose holder is a process of this host that no longer exists."""
    try:
        with session_scope(url) as session:
            rows = [_info(r) for r in session.scalars(select(RunLeaseRow))]
            dead = [r for r in rows if holder_is_dead(r.holder)]
            for r in dead:
                session.execute(delete(RunLeaseRow).where(RunLeaseRow.name == r.name, RunLeaseRow.holder == r.holder))
    except (OperationalError, ProgrammingError):  # a database not yet at revision 0004: nothing held
        return []
    return dead


def current(url: str, name: str) -> LeaseInfo | None:
    with session_scope(url) as session:
        row = _get(session, name)
        return _info(row) if row is not None else None


@dataclass
class Held:
    """What `hold` yields: `skipped` says why the lease was not obtained (the caller skips its work)."""

    name: str
    holder: str
    waited_s: float = 0.0
    skipped: str | None = None
    lost: bool = False


@contextmanager
def hold(
    url: str,
    name: str,
    run_id: str | None,
    *,
    wait_s: float | None = None,
    ttl_s: float = LEASE_TTL_S,
    poll_s: float = 1.0,
    progress: Callable[[str], None] | None = None,
) -> Iterator[Held]:
    """Holds lease `name` for the block: waits up to `wait_s` for another holder (a progress line every 15 s),
    renews it every ttl/4 from a heartbeat thread, releases it at the end. When the wait runs out the block
    still runs with `held.skipped` set to the reason, and the caller skips its work."""
    wait_s = lease_wait_s() if wait_s is None else wait_s
    say = progress or log.info
    holder = new_holder()
    started = time.monotonic()
    next_progress = started + PROGRESS_EVERY_S
    other = try_acquire(url, name, holder, run_id, ttl_s)
    if other is not None:
        say(f"{name} is held by {other.describe()}: waiting up to {wait_s:.0f}s")
    while other is not None:
        waited = time.monotonic() - started
        if waited >= wait_s:
            reason = f"{name} skipped: held by {other.describe()}; gave up after waiting {waited:.0f}s"
            say(reason)
            yield Held(name, holder, waited, skipped=reason)
            return
        time.sleep(min(poll_s, max(0.0, wait_s - waited)))
        other = try_acquire(url, name, holder, run_id, ttl_s)
        if other is not None and time.monotonic() >= next_progress:
            next_progress += PROGRESS_EVERY_S
            say(f"still waiting for {name}: held by {other.describe()} ({time.monotonic() - started:.0f}s so far)")
    held = Held(name, holder, time.monotonic() - started)
    if held.waited_s >= poll_s:
        say(f"{name} acquired after waiting {held.waited_s:.0f}s")
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(ttl_s / 4):
            try:
                if not renew(url, name, holder, ttl_s):
                    held.lost = True
                    log.warning("lease %s was lost (expired and taken over); the work goes on unguarded", name)
                    return
            except Exception:  # a database blip: try again on the next beat, the lease has ttl to spare
                log.warning("could not renew lease %s", name, exc_info=True)

    beat = threading.Thread(target=heartbeat, name=f"lease-{name}", daemon=True)
    beat.start()
    try:
        yield held
    finally:
        stop.set()
        beat.join(timeout=5)
        try:
            release(url, name, holder)
        except Exception:  # it expires on its own within ttl_s
            log.warning("could not release lease %s", name, exc_info=True)
