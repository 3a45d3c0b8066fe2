"""HERE Geocoding & Search v7: IDs are always the `id` (here:pds:place:...), never address.label.

HERE keeps IDs only: Geocoding & Search v7 has no photos ("we do not support photos of locations", HERE
developer FAQ, https://www.here.com/docs/bundle/geocoding-and-search-api-developer-guide/page/topics/faq.html),
so the client lists none and discovery never asks it (supports_photos is False)."""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

from venue_pipeline.core.ports import Place
from venue_pipeline.providers.coords import lat_lng
from venue_pipeline.providers.http import (
    HttpProviderClient,
    as_dict,
    as_float,
    as_list,
    as_str,
)

GEOCODE_URL = "https://geocode.search.hereapi.com/v1/geocode"
DISCOVER_URL = "https://discover.search.hereapi.com/v1/discover"
GEOCODE_LIMIT = 5
SEARCH_LIMIT = 10
# Priced at 0: our volume stays within HERE's free monthly allowance (https://www.here.com/get-started/pricing).
DEFAULT_COSTS: dict[str, float] = {"geocode": 0.0, "discover": 0.0}


class HereClient(HttpProviderClient):
    """HERE: geocode and discover near a point; IDs only, no photos."""

    name: ClassVar[str] = "here"
    supports_photos: ClassVar[bool] = False
    default_costs: ClassVar[Mapping[str, float]] = DEFAULT_COSTS

    async def geocode(
        self, query: str, *, near: tuple[float, float] | None = None, locality: str | None = None
    ) -> list[Place]:
        # locality is ignored: the query already carries the address, postcode and country
        if not query.strip():
            return []
        params: dict[str, Any] = {"q": query, "limit": GEOCODE_LIMIT, "apiKey": self._api_key()}
        if near is not None:
            params["at"] = lat_lng(near[0], near[1])  # {latitude},{longitude}
        payload = await self._call("geocode", "GET", GEOCODE_URL, params=params)
        return _parse_items(self._items(payload, "geocode"))

    async def search(self, name: str, lat: float, lng: float, *, radius_m: int = 250) -> list[Place]:
        if not name.strip():  # discover answers a blank q with nothing; do not pay for it
            return []
        params = {
            "q": name,
            "in": f"circle:{lat_lng(lat, lng)};r={int(radius_m)}",
            "limit": SEARCH_LIMIT,
            "apiKey": self._api_key(),
        }
        payload = await self._call("discover", "GET", DISCOVER_URL, params=params)
        return _parse_items(self._items(payload, "discover"))

    def _items(self, payload: Any, kind: str) -> list[Any]:
        if not isinstance(payload, Mapping):
            raise self._malformed(kind, "expected a JSON object with items")
        return as_list(payload.get("items"))


def _parse_items(items: list[Any]) -> list[Place]:
    return [p for p in (_parse_item(as_dict(i)) for i in items) if p is not None]


def _parse_item(item: Mapping[str, Any]) -> Place | None:
    """One HERE item; None without an id (a label is never used as an ID)."""
    place_id = as_str(item.get("id"))
    if place_id is None:
        return None
    address = as_dict(item.get("address"))
    position = as_dict(item.get("position"))
    cats = sorted(as_list(item.get("categories")), key=lambda c: not as_dict(c).get("primary"))
    categories = tuple(
        n for n in (as_str(as_dict(c).get("name")) for c in cats + as_list(item.get("foodTypes"))) if n
    )
    return Place(
        provider="here",
        place_id=place_id,
        name=as_str(item.get("title")) or "",
        lat=as_float(position.get("lat")),
        lng=as_float(position.get("lng")),
        address=as_str(address.get("label")),
        house_number=as_str(address.get("houseNumber")),
        street=as_str(address.get("street")),
        postcode=as_str(address.get("postalCode")),
        city=as_str(address.get("city")) or as_str(address.get("district")) or as_str(address.get("county")),
        categories=categories,
        result_type=as_str(item.get("resultType")),
    )
