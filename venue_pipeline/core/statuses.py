"""The names of every state an image or a provider ID can be in, so no module spells them by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class ImageStatus(StrEnum):
    """An image's place in its life: waiting, on the CDN, failed (retryable) or retired."""

    PENDING = "pending"
    UPLOADED = "uploaded"
    FAILED = "failed"
    PERMANENTLY_FAILED = "permanently_failed"


class IdStatus(StrEnum):
    """What the ID stage concluded for a (venue, provider): an ID, a rejection, a tie, or a lookup owed."""

    MATCHED = "matched"
    NO_MATCH = "no_match"
    AMBIGUOUS = "ambiguous"
    DEFERRED = "deferred"


@dataclass(frozen=True)
class IdRecord:
    """What the ID stage concluded for one venue at one provider."""

    venue_id: int
    provider: str
    status: IdStatus
    method: str
    place_id: str | None = None
    score: float | None = None
    details: dict[str, Any] | None = None
    next_search_at: datetime | None = None
    searches: int = 0  # consecutive unsuccessful searches, this one included (core/backoff.py)
