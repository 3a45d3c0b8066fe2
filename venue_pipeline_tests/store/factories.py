"""Small builders shared by the store tests: venue inputs, photo refs and hand-made image rows."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy.orm import Session

from venue_pipeline.core.importer import VenueInput
from venue_pipeline.core.ports import PhotoRef
from venue_pipeline.core.statuses import ImageStatus
from venue_pipeline.store.schema import VenueImageRow

NOW = datetime.now(timezone.utc)


def venue_input(ext: str, name: str = "Anchor Inn", lat: float | None = 52.0, city: str = "Exeter") -> VenueInput:
    return VenueInput(
        source="open_pubs",
        external_id=ext,
        name=name,
        address="1 High Street, EXETER",
        postcode="EX1 1AA",
        city_name=city,
        city_slug=city.lower(),
        country="United Kingdom",
        lat=lat,
        lng=None if lat is None else -3.5,
        needs_geocoding=lat is None,
    )


def refs(n: int, provider: str = "foursquare", size: tuple[int, int] = (1600, 1200)) -> list[PhotoRef]:
    return [PhotoRef(provider, f"p{i}", f"https://fastly.4sqi.net/img/general/{{size}}/p{i}.jpg", *size) for i in range(n)]


def add_image(
    session: Session,
    venue_id: int,
    photo_key: str,
    status: str = ImageStatus.PENDING,
    *,
    provider: str = "foursquare",
    error_type: str | None = None,
    error_class: str | None = None,
    next_retry_at: datetime | None = None,
    discovered_at: datetime = NOW,
    reference: str = "ref",
    cdn_url: str | None = None,
    cdn_path: str | None = None,
    position: int | None = None,
    quality_score: float = 0.5,
) -> VenueImageRow:
    """One venue_images row exactly as given (no gallery logic), flushed so it has an id."""
    row = VenueImageRow(
        venue_id=venue_id, provider=provider, photo_key=photo_key, reference=reference, status=status,
        error_type=error_type, error_class=error_class, attempts=1 if error_type else 0, quality_score=quality_score,
        next_retry_at=next_retry_at, cdn_url=cdn_url, cdn_path=cdn_path, position=position,
        discovered_at=discovered_at, updated_at=discovered_at,
    )
    session.add(row)
    session.flush()
    return row
