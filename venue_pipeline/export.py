"""A venue's gallery as JSON in the original `venue_images` entry shape, for applications that read that format."""

from __future__ import annotations

from typing import Any

import httpx

from venue_pipeline.core.errors import PipelineError
from venue_pipeline.core.ports import PhotoRef
from venue_pipeline.core.statuses import ImageStatus
from venue_pipeline.providers.memory_ledger import MemoryLedger
from venue_pipeline.providers.registry import PROVIDER_CLASSES, default_settings
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.images import venue_gallery
from venue_pipeline.store.schema import VenueImageRow
from venue_pipeline.store.venues import get_venue

SECRET_PARAMS = {"key", "apikey", "api_key", "signature", "sig", "token", "access_token", "client_secret"}
_PLACEHOLDER = "REDACTED-KEY"


def provider_url(provider: str, reference: str, width: int | None = None) -> str | None:
    """The provider's photo URL for a stored reference, with every secret parameter removed."""
    cls = PROVIDER_CLASSES.get(provider)
    if cls is None:
        return None
    client = cls(default_settings(provider, api_key=_PLACEHOLDER), httpx.AsyncClient(), MemoryLedger())
    try:
        request = client.photo_request(PhotoRef(provider, "", reference, width, None))
    except (NotImplementedError, ValueError, PipelineError):
        return None
    url = request.url
    params = [(k, v) for k, v in url.params.multi_items() if k.lower() not in SECRET_PARAMS and v != _PLACEHOLDER]
    return str(url.copy_with(params=params or None))


def _entry(row: VenueImageRow) -> dict[str, Any]:
    source = provider_url(row.provider, row.reference, row.width)
    entry: dict[str, Any] = {
        "url": row.cdn_url if row.status == ImageStatus.UPLOADED else source,
        "provider_url": source,
        "imagekit_path": row.cdn_path if row.status == ImageStatus.UPLOADED else None,
        "provider": row.provider,
        "width": row.width,
        "height": row.height,
        "quality_score": round(row.quality_score, 4),
        "position": row.position,
        "attribution": row.attribution,
        "fetched_at": (row.reference_fetched_at or row.discovered_at).isoformat(timespec="seconds"),
        "upload_status": row.status,
        "retry_count": max(row.attempts - 1, 0),
    }
    if row.error_type:
        entry["error_details"] = {
            "error": row.error_message,
            "error_type": row.error_type,
            "error_class": row.error_class,
            "status_code": row.status_code,
            "timestamp": row.updated_at.isoformat(timespec="seconds"),
            "retry_attempt": row.attempts,
            "next_retry_at": row.next_retry_at.isoformat(timespec="seconds") if row.next_retry_at else None,
        }
    return {k: v for k, v in entry.items() if v is not None}


def export_venue_images(db_url: str, venue_id: int) -> dict[str, Any]:
    """{venue_id, slug, name, venue_images: [...]} ordered like the gallery (position, best first)."""
    with session_scope(db_url) as session:
        venue = get_venue(session, venue_id)
        if venue is None:
            raise LookupError(f"no venue with id {venue_id}")
        rows = venue_gallery(session, venue_id)
        return {
            "venue_id": venue.id,
            "slug": venue.slug,
            "name": venue.name,
            "venue_images": [_entry(r) for r in rows],
        }
