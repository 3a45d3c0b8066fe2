"""The venue as the domain sees it, detached from the database row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Venue:
    """A venue to enrich; lat/lng are None until it is geocoded."""

    id: int
    name: str
    slug: str
    city_slug: str
    city_name: str
    address: str | None = None
    postcode: str | None = None
    country: str | None = None
    lat: float | None = None
    lng: float | None = None
    updated_at: datetime | None = None  # last change of name, address or coordinates: a rejected search retries

    @property
    def has_coordinates(self) -> bool:
        return self.lat is not None and self.lng is not None

    @property
    def full_address(self) -> str:
        """The one-line address providers geocode: address, postcode and country."""
        parts = [p for p in (self.address, self.postcode, self.country) if p]
        return ", ".join(parts) if parts else f"{self.name}, {self.city_name}"

    @property
    def locality(self) -> str | None:
        """The town as a place search names it: "Norwich, United Kingdom" (city, plus country when known)."""
        city = (self.city_name or "").strip()
        if not city:
            return None
        return f"{city}, {self.country.strip()}" if self.country and self.country.strip() else city
