"""Where state lives by default, read from the environment (when called, never at import) so every entry point
agrees; `environ` lets a caller resolve against one snapshot of the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def pipeline_home(environ: Mapping[str, str] | None = None) -> Path:
    """The project-local state folder (VENUE_PIPELINE_HOME, default ./.venue_pipeline)."""
    return Path(_env(environ).get("VENUE_PIPELINE_HOME") or ".venue_pipeline").resolve()


def default_db_url(environ: Mapping[str, str] | None = None) -> str:
    """VENUE_DB_URL, or a SQLite file under the state folder."""
    url = _env(environ).get("VENUE_DB_URL")
    if url:
        return url
    return f"sqlite:///{pipeline_home(environ) / 'venues.db'}"


def default_image_dir(environ: Mapping[str, str] | None = None) -> Path:
    """VENUE_IMAGE_DIR, or images/ under the state folder (the local image store)."""
    return Path(_env(environ).get("VENUE_IMAGE_DIR") or pipeline_home(environ) / "images").resolve()


SANDBOX_SEED_ENV = "VENUE_SANDBOX_SEED"
DEFAULT_SANDBOX_SEED = 7


class ConfigError(ValueError):
    """A setting from the environment that cannot be used; the message names the variable and what it accepts."""


def sandbox_seed(environ: Mapping[str, str] | None = None) -> int:
    """VENUE_SANDBOX_SEED as a whole number (default 7); anything else raises ConfigError naming the variable."""
    raw = _env(environ).get(SANDBOX_SEED_ENV, "").strip()
    if not raw:
        return DEFAULT_SANDBOX_SEED
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{SANDBOX_SEED_ENV}={raw!r}: the sandbox seed must be a whole number") from None


def redact_url(url: str) -> str:
    """A database URL safe to print: the password (if any) replaced by ***, even when the URL does not parse."""
    import re

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # not a URL SQLAlchemy understands: mask whatever sits between user: and @
        return re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", url)
