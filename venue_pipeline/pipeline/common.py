"""Plumbing the stages share: short retried transactions (one per upload outcome), the progress logger."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import OperationalError

from venue_pipeline.core.gallery import UploadOutcome
from venue_pipeline.store import images as images_db
from venue_pipeline.store.db import session_scope

progress_log = logging.getLogger("venue_pipeline.progress")


def with_retry(db_url: str, work: Callable[[Any], Any], attempts: int = 4) -> Any:
    """Runs `work(session)` in its own transaction, again if the database chose it as a deadlock or
    serialization victim (concurrent runs on PostgreSQL touching the same venues)."""
    for attempt in range(1, attempts + 1):
        try:
            with session_scope(db_url) as session:
                return work(session)
        except OperationalError as exc:
            transient = any(w in str(exc).lower() for w in ("deadlock", "could not serialize", "database is locked"))
            if not transient or attempt == attempts:
                raise
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


def record_outcome(
    db_url: str, outcome: UploadOutcome, *, run_id: str | None, is_retry: bool, now: datetime | None = None
) -> str | None:
    """One outcome, one short transaction, so parallel runs never hold locks on many images at once; `now` is the
    stage's injected time (None: real time)."""
    return with_retry(
        db_url,
        lambda session: images_db.apply_outcome(session, outcome, run_id=run_id, is_retry=is_retry, now=now),
    )

