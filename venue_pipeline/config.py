"""Where state lives by default, read from the environment so every entry point agrees."""

from __future__ import annotations

import os
from pathlib import Path


def pipeline_home() -> Path:
    """The project-local state folder (VENUE_PIPELINE_HOME, default ./.venue_pipeline)."""
    return Path(os.environ.get("VENUE_PIPELINE_HOME") or ".venue_pipeline").resolve()


def default_db_url() -> str:
    """VENUE_DB_URL, or a SQLite file under the state folder."""
    url = os.environ.get("VENUE_DB_URL")
    if url:
        return url
    return f"sqlite:///{pipeline_home() / 'venues.db'}"


def default_image_dir() -> Path:
    """VENUE_IMAGE_DIR, or images/ under the state folder (the local image store)."""
    return Path(os.environ.get("VENUE_IMAGE_DIR") or pipeline_home() / "images").resolve()
