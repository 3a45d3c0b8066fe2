"""HERE Geocoding & Search v7: IDs are always the `id` (here:pds:place:...), never address.label."""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar, Mapping

import httpx

from venue_pipeline.providers.base import PhotoRef, Place
from venue_pipeline.providers.http import (
    HttpProviderClient,
    as_dict,
    as_float,
    as_int,
    as_list,
    as_str,
)

GEOCODE_URL = "https://geocode.search.hereapi.com/v1/geocode"
DISCOVER_URL = "https://discover.search.hereapi.com/v1/discover"
LOOKUP_URL = "https://lookup.search.hereapi.com/v1/lookup"
GEOCODE_LIMIT = 5
SEARCH_LIMIT = 10
# Within the 250k/month free tier (original_system.md §1.3).
DEFAULT_COSTS: dict[str, float] = {"geocode": 0.0, "discover": 0.0, "lookup": 0.0}
# Rich-content image hosts ([U] in provider_apis.md §3: legacy HERE Places media and TripAdvisor).
PHOTO_HOSTS = frozenset(
    {"download.vcdn.data.here.com", "download.vcdn.nokia.com", "media-cdn.tripadvisor.com"}
)


class HereClient(HttpProviderClient):
    """HERE: geocode, discover near a point, and lookup (which may carry rich-content images)."""

    name: ClassVar[str] = "here"
    supports_photos: ClassVar[bool] = True
    photo_hosts: ClassVar[frozenset[str]] = PHOTO_HOSTS
    default_costs: ClassVar[Mapping[str, float]] = DEFAULT_COSTS

    async def geocode(
        self, query: str, *, near: tuple[float, float] | None = None, locality: str | None = None
    ) -> list[Place]:
        # locality is ignored: the query already carries the address, postcode and country
        if not query.strip():
            return []
        params: dict[str, Any] = {"q": query, "limit": GEOCODE_LIMIT, "apiKey": self._api_key()}
        if near is not None:
            params["at"] = f"{near[0]},{near[1]}"
        payload = await self._call("geocode", "GET", GEOCODE_URL, params=params)
        return _parse_items(self._items(payload, "geocode"))

    async def search(self, name: str, lat: float, lng: float, *, radius_m: int = 250) -> list[Place]:
        if not name.strip():  # discover answers a blank q with nothing; do not pay for it
            return []
        params = {
            "q": name,
            "in": f"circle:{lat},{lng};r={int(radius_m)}",
            "limit": SEARCH_LIMIT,
            "apiKey": self._api_key(),
        }
        payload = await self._call("discover", "GET", DISCOVER_URL, params=params)
        return _parse_items(self._items(payload, "discover"))

    async def photos(self, place_id: str) -> list[PhotoRef]:
        params = {"id": place_id, "apiKey": self._api_key()}
        payload = await self._call("lookup", "GET", LOOKUP_URL, params=params)
        if not isinstance(payload, Mapping):
            raise self._malformed("lookup", "expected a JSON object")
        # lookup answers with the item itself; tolerate an {"items": [...]} wrapper too.
        items = payload.get("items")
        item = as_dict(items[0]) if isinstance(items, list) and items else payload
        return _parse_images(item)

    def photo_request(self, ref: PhotoRef, *, max_px: int = 1600) -> httpx.Request:
        """The image href as listed (no key is needed or added); the downloader checks the host."""
        return httpx.Request("GET", ref.reference)

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


def _parse_images(item: Mapping[str, Any]) -> list[PhotoRef]:
    """Images from `media.images.items[]` (href) or a top-level `images[]` (url/src); else none."""
    raw = as_list(as_dict(as_dict(item.get("media")).get("images")).get("items")) or as_list(
        item.get("images")
    )
    refs: list[PhotoRef] = []
    seen: set[str] = set()
    for image in map(as_dict, raw):
        href = as_str(image.get("href")) or as_str(image.get("url")) or as_str(image.get("src"))
        if href is None or not href.startswith(("https://", "http://")):
            continue
        key = as_str(image.get("id")) or hashlib.sha1(href.encode()).hexdigest()[:16]
        if key in seen:
            continue
        seen.add(key)
        supplier = as_dict(image.get("supplier"))
        refs.append(
            PhotoRef(
                provider="here",
                photo_key=key,
                reference=href,
                width=as_int(image.get("width")),
                height=as_int(image.get("height")),
                attribution=as_str(image.get("attribution"))
                or as_str(supplier.get("title"))
                or as_str(supplier.get("id"))
                or "HERE",
            )
        )
    return refs
