"""The command line's error boundary pieces: the error type and exit codes, one-line argparse errors, argument
types, and the checks and messages for databases and files (cli.main uses them; demo.py raises CliError)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from venue_pipeline.config import redact_url

USAGE = 2
"""Exit code for bad input: an argument, a setting or a name the CLI cannot use (nothing was done)."""
OPERATIONAL = 1
"""Exit code when the environment fails: the database, a file, a run."""


class CliError(Exception):
    """A failure reported as one line `error: <message>`, exiting with `code` (USAGE or OPERATIONAL)."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (`error: <command>: <problem> (see --help)`) instead of usage + message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CliError(f"{self.prog}: {message} (see {self.prog} --help)", USAGE)


def port_number(text: str) -> int:
    """argparse type: a TCP port, 1-65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (1-65535)")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not allowed: give a whole number of at least 1")
    return value


def check_output_file(path: str | None, option: str) -> None:
    """An output file must be a file in an existing folder (checked before any work, so a bad path costs nothing)."""
    if not path:
        return
    target = Path(path)
    if target.is_dir():
        raise CliError(f"{option} {path}: is a folder; give a file name", USAGE)
    parent = target.parent
    if not parent.is_dir():
        why = "is not a folder" if parent.exists() else "does not exist"
        raise CliError(f"{option} {path}: the folder {parent} {why}", USAGE)


def check_fault_preset(name: str, source: str) -> None:
    """A sandbox fault mix the sandbox knows (services.fault_preset lists the choices)."""
    from venue_pipeline.services import fault_preset

    try:
        fault_preset(name)
    except ValueError as exc:
        raise CliError(f"{source}: {exc}", USAGE) from None


def resolve_faults(args: argparse.Namespace) -> str:
    """--faults, else VENUE_SANDBOX_FAULTS, else default; validated."""
    if args.faults is not None:
        check_fault_preset(args.faults, f"--faults {args.faults}")
        return args.faults
    name = os.environ.get("VENUE_SANDBOX_FAULTS") or "default"
    check_fault_preset(name, f"VENUE_SANDBOX_FAULTS={name}")
    return name


def resolve_slowdown(spec: str | None, rtt_ms: float) -> object:
    """sandbox serve's --slow, else VENUE_SANDBOX_SLOW: a sandbox.slow.Slowdown, or one line naming the source."""
    from venue_pipeline.sandbox.slow import SLOW_ENV, parse_slowdown

    source = f"--slow {spec}" if spec is not None else f"{SLOW_ENV}={os.environ.get(SLOW_ENV, '')}"
    try:
        return parse_slowdown(spec if spec is not None else os.environ.get(SLOW_ENV), rtt_ms)
    except ValueError as exc:
        raise CliError(f"{source}: {exc}", USAGE) from None


def circuit_targets() -> list[str]:
    """What `circuit reset` can close: the retry breaker and each provider's (and the CDN's) auth breaker."""
    from venue_pipeline.cdn.imagekit import ImageKitStore
    from venue_pipeline.providers.registry import PROVIDERS
    from venue_pipeline.store.circuits import RETRY_TARGET

    return [RETRY_TARGET, *(f"auth:{p}" for p in (*PROVIDERS, ImageKitStore.name))]


def check_db_url(url: str, source: str) -> None:
    """The URL parses, names a database SQLAlchemy knows and its driver is installed (no connection yet)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from venue_pipeline.store.db import normalize_url

    try:
        dialect = make_url(normalize_url(url)).get_dialect()
    except ArgumentError as exc:
        raise CliError(f"{source} {redact_url(url)}: not a usable database URL ({one_line(exc)})", USAGE) from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise CliError(f"{source} {redact_url(url)}: its database driver is not installed ({exc})", USAGE) from None


def check_db_reachable(url: str) -> None:
    """The database answers before any work: a server is connected to; an existing SQLite file is opened, a new
    one needs a folder we can create and write (the file itself is created by the command's schema upgrade)."""
    from sqlalchemy.engine import make_url

    from venue_pipeline.store.db import get_engine, normalize_url

    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.exists():
            get_engine(url)  # creates the folder (OSError when it cannot)
            if not os.access(path.parent, os.W_OK):
                raise PermissionError(13, "folder not writable, the database file cannot be created", str(path.parent))
            return
    with get_engine(url).connect():
        pass


def one_line(exc: BaseException) -> str:
    """An exception's message on one line, without SQLAlchemy's statement echo and background link."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("[SQL:", "[parameters:", "(Background on this error"))]
    return " ".join(lines) or type(exc).__name__


def database_error(args: argparse.Namespace, exc: Exception) -> str:
    """`venue database <url without password>: <why>` for a SQLAlchemy error (the password never printed)."""
    url = getattr(args, "db_url", None) or ""
    why = one_line(exc)
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        password = make_url(url).password
    except (ArgumentError, ValueError):
        password = None
    if password:
        why = why.replace(str(password), "***")
    return f"venue database {redact_url(url)}: {why}"


def file_error(args: argparse.Namespace, exc: OSError) -> str:
    """`<file>: <why>`, prefixed with the venue database when the file is the SQLite database, its lock or folder."""
    why = exc.strerror or str(exc)
    if isinstance(exc, FileExistsError) and exc.filename and not Path(exc.filename).is_dir():
        why = "is a file, not a folder"
    if not exc.filename:
        return f"{args.command}: {why}"
    what = f"{exc.filename}: {why}"
    url = getattr(args, "db_url", None) or ""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
        database = parsed.database if parsed.get_backend_name() == "sqlite" else None
    except (ArgumentError, ValueError):
        database = None
    if database and database != ":memory:":
        db_path, failed = Path(database).absolute(), Path(exc.filename).absolute()
        if failed in (db_path, Path(f"{db_path}.lock")) or db_path.is_relative_to(failed):
            return f"venue database {redact_url(url)}: {what}"
    return what
