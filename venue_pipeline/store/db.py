"""Engine, sessions and schema upgrades for the venue database (SQLite or PostgreSQL)."""

from __future__ import annotations

import fcntl
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def normalize_url(url: str) -> str:
    """Pins psycopg2 for bare postgresql:// URLs: SQLAlchemy 2.1 would pick psycopg 3, which we don't ship."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


def _configure_sqlite(engine: Engine) -> None:
    """WAL and a busy timeout let a run and the UI read while another process writes."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()


def get_engine(url: str) -> Engine:
    """One pooled engine per URL per process."""
    url = normalize_url(url)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            parsed = make_url(url)
            if parsed.get_backend_name() == "sqlite":
                if parsed.database and parsed.database != ":memory:":
                    Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
                engine = create_engine(url, connect_args={"timeout": 30})
                _configure_sqlite(engine)
            else:
                engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    """Closes every pooled connection (tests, and before a process forks)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def create_scratch_database(server_url: str, prefix: str) -> tuple[str, str]:
    """An empty database beside the one in server_url, so tests and tools never wipe a shared one.

    Returns (its URL, the admin URL of the server's `postgres` database) for drop_database."""
    base = make_url(normalize_url(server_url))
    admin = base.set(database="postgres").render_as_string(hide_password=False)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")  # CREATE DATABASE refuses a transaction
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False), admin


def drop_database(url: str, admin_url: str) -> None:
    """Drops the database of url even while other processes hold connections to it (PostgreSQL 13+)."""
    url = normalize_url(url)
    with _lock:
        pooled = _engines.pop(url, None)
    if pooled is not None:
        pooled.dispose()
    engine = create_engine(normalize_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    finally:
        engine.dispose()


def _alembic_config(engine: Engine) -> Config:
    # Alembic is imported where a migration is read or run, not with every store user (a quarter of a second
    # of start-up for each process, the flow's upload worker among them)
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


MIGRATION_LOCK_KEY = 0x76656E7565  # "venue": the PostgreSQL advisory lock every schema upgrade takes (env.py)


IMPORT_LOCK_KEY = 0x76656E7566  # the PostgreSQL advisory lock an import batch holds for its transaction


def lock_for_writing(session: Session, key: int, table: str) -> None:
    """Takes the database's write lock for `key` before the transaction reads anything, so two writers that
    read-then-insert (two imports of one file) run one after the other instead of racing on a unique key.
    PostgreSQL: a transaction-scoped advisory lock. SQLite: a no-op UPDATE on `table`, which takes the single
    writer lock at once (the busy timeout makes the other writer wait); reads that follow see what it committed."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    else:
        session.execute(text(f"UPDATE {table} SET id = id WHERE 1 = 0"))


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on `path` (created if missing), held for the block; other processes (and other open
    file descriptions in this one) wait. The kernel drops it when the holder dies, so it never goes stale."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def in_memory(url: str) -> bool:
    """An in-memory SQLite database: only its one connection, in one process, sees its tables."""
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def _sqlite_lock_path(url: str) -> Path | None:
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite" or in_memory(url):
        return None
    return Path(f"{parsed.database}.lock")


def upgrade(url: str, revision: str = "head") -> str | None:
    """Creates or upgrades the schema in place; returns the revision now applied.

    Serialised across processes, so two first runs on a fresh database both succeed and apply each
    revision once: SQLite takes an flock on `<db>.lock` around the whole upgrade, PostgreSQL takes the
    transaction-scoped advisory lock MIGRATION_LOCK_KEY inside the migration connection (migrations/env.py)
    before Alembic reads or creates alembic_version."""
    from alembic import command

    engine = get_engine(url)
    lock_path = _sqlite_lock_path(url)
    if lock_path is None:
        command.upgrade(_alembic_config(engine), revision)
    else:
        with file_lock(lock_path):
            command.upgrade(_alembic_config(engine), revision)
    _upgraded.add(normalize_url(url))
    return current_revision(url)


_upgraded: set[str] = set()


def ensure_schema(url: str) -> None:
    """Upgrades to head once per process and URL (callers that may be first to touch a database)."""
    if normalize_url(url) not in _upgraded:
        upgrade(url)


def current_revision(url: str) -> str | None:
    """The schema revision the database is at (None before the first upgrade)."""
    from alembic.runtime.migration import MigrationContext

    with get_engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """The newest revision this version of the code ships."""
    from alembic.script import ScriptDirectory

    engine = create_engine("sqlite://")
    return ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()


def session_factory(url: str) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (results outlive the transaction)."""
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
