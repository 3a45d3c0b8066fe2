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
