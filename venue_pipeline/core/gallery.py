"""The units of gallery work passed between the store and the upload core."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ImageTask:
    """One stored image to copy to the CDN: everything needed without calling a provider API."""

    image_id: int
    venue_id: int
    venue_slug: str
    provider: str
    photo_key: str
    reference: str
    width: int | None
    height: int | None
    attempts: int
    reference_fetched_at: datetime | None = None
    place_id: str | None = None


@dataclass(frozen=True, slots=True)
class UploadOutcome:
    """How one upload attempt ended."""

    image_id: int
    provider: str
    ok: bool
    started_at: datetime
    duration_ms: int
    cdn_url: str | None = None
    cdn_path: str | None = None
    width: int | None = None
    height: int | None = None
    error_type: str | None = None
    status_code: int | None = None
    message: str | None = None
