"""Foursquare Places: the new API (places-api.foursquare.com, default) or the legacy v3 API."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Mapping
from urllib.parse import quote

import httpx

from venue_pipeline.core.errors import ErrorType, ProviderError
from venue_pipeline.core.ports import PhotoRef, Place
from venue_pipeline.providers.coords import lat_lng
from venue_pipeline.providers.http import (
    HttpProviderClient,
    as_dict,
    as_float,
    as_int,
    as_list,
    as_str,
)

PLACES_BASE_URL = "https://places-api.foursquare.com"
V3_BASE_URL = "https://api.foursquare.com/v3"
PLACES_API_VERSION = "2025-06-17"
SEARCH_LIMIT = 10
PHOTO_LIMIT = 10
# Priced at 0: the pipeline's volume is assumed to stay within Foursquare's free monthly allowance.
DEFAULT_COSTS: dict[str, float] = {"geocode": 0.0, "search": 0.0, "photos": 0.0}
PHOTO_HOSTS = frozenset({"fastly.4sqi.net", "igx.4sqi.net"})
ORIGINAL_SIZE = "original"
_HOUSE_NUMBER = re.compile(r"^(\d+[A-Za-z]?(?:[-–]\d+[A-Za-z]?)?)\s+(.+)$")  # "123 Main St" (UK, US)
_NUMBER = r"\d+\s?[A-Za-z]?(?:\s?[-–/]\s?\d+\s?[A-Za-z]?)?"
# "Oranienstraße 6", "Hauptstraße 12a", "Kastanienallee 12-14": the number after the street (DE, NL, AT, ...)
_HOUSE_NUMBER_AFTER = re.compile(rf"^(\D.*?),?\s+({_NUMBER})$")


class FoursquareClient(HttpProviderClient):
    """Foursquare: text search near a point and the place's photos (prefix + size + suffix URLs)."""

    name: ClassVar[str] = "foursquare"
    supports_photos: ClassVar[bool] = True
    photo_hosts: ClassVar[frozenset[str]] = PHOTO_HOSTS
    default_costs: ClassVar[Mapping[str, float]] = DEFAULT_COSTS

    @property
    def api(self) -> str:
        """'places' (new API) or 'v3' (legacy), from settings.options['api']."""
        api = self.settings.options.get("api", "places")
        if api not in ("places", "v3"):
            raise ValueError(f"foursquare api must be 'places' or 'v3', not {api!r}")
        return api

    @property
    def base_url(self) -> str:
        return PLACES_BASE_URL if self.api == "places" else V3_BASE_URL

    def _headers(self) -> dict[str, str]:
        key = self._api_key()
        if self.api == "places":
            return {
                "Authorization": f"Bearer {key}",
                "X-Places-Api-Version": PLACES_API_VERSION,
                "Accept": "application/json",
            }
        return {"Authorization": key, "Accept": "application/json"}  # v3: the raw key, no Bearer

    async def geocode(
        self, query: str, *, near: tuple[float, float] | None = None, locality: str | None = None
    ) -> list[Place]:
        """Foursquare has no geocoder: a place search for the text, near the point `near` when given, else
        in the named `locality` (`near=Norwich, United Kingdom`). With neither, Foursquare biases the search
        by the caller's IP address (https://docs.foursquare.com/developer/reference/place-search), i.e.
        around our server rather than the venue."""
        if not query.strip():
            return []
        params: dict[str, Any] = {"query": query, "limit": SEARCH_LIMIT}
        if near is not None:
            params["ll"] = lat_lng(*near)
        elif locality and locality.strip():
            params["near"] = locality.strip()
        payload = await self._call(
            "geocode", "GET", f"{self.base_url}/places/search", params=params, headers=self._headers()
        )
        return self._parse_search(payload, "geocode")

    async def search(self, name: str, lat: float, lng: float, *, radius_m: int = 250) -> list[Place]:
        params: dict[str, Any] = {"ll": lat_lng(lat, lng), "radius": int(radius_m), "limit": SEARCH_LIMIT}
        if name.strip():
            params["query"] = name
        payload = await self._call(
            "search", "GET", f"{self.base_url}/places/search", params=params, headers=self._headers()
        )
        return self._parse_search(payload, "search")

    async def photos(self, place_id: str) -> list[PhotoRef]:
        url = f"{self.base_url}/places/{quote(place_id, safe='')}/photos"
        params = {"limit": PHOTO_LIMIT, "sort": "popular"}
        payload = await self._call("photos", "GET", url, params=params, headers=self._headers())
        if isinstance(payload, list):
            items = payload
        elif isinstance(payload, Mapping) and isinstance(payload.get("results"), list):
            items = payload["results"]
        else:
            raise self._malformed("photos", "expected a JSON list of photos")
        return _parse_photos(items)

    def photo_request(self, ref: PhotoRef, *, max_px: int = 1600) -> httpx.Request:
        """The CDN URL at the largest size within max_px (never above the photo's own size)."""
        head, sep, tail = ref.reference.rpartition(f"/{ORIGINAL_SIZE}/")
        if not sep:
            raise ProviderError(
                ErrorType.BAD_REQUEST, "photo reference is not a Foursquare photo URL", target=self.name
            )
        return httpx.Request("GET", f"{head}/{photo_size(ref.width, ref.height, max_px)}/{tail}")

    def _parse_search(self, payload: Any, kind: str) -> list[Place]:
        if not isinstance(payload, Mapping):
            raise self._malformed(kind, "expected a JSON object with results")
        return [p for p in (_parse_place(as_dict(r)) for r in as_list(payload.get("results"))) if p]


def photo_size(width: int | None, height: int | None, max_px: int) -> str:
    """'original' when it fits in max_px (or the size is unknown), else a scaled '{w}x{h}'."""
    if not width or not height or max(width, height) <= max_px:
        return ORIGINAL_SIZE
    scale = max_px / max(width, height)
    return f"{max(1, int(width * scale))}x{max(1, int(height * scale))}"


def split_house_number(line: str | None) -> tuple[str | None, str | None]:
    """(house number, street) of a Foursquare address line, with the number before or after the street."""
    if not line:
        return None, line
    if m := _HOUSE_NUMBER.match(line):
        return m.group(1), m.group(2)
    if m := _HOUSE_NUMBER_AFTER.match(line):
        return m.group(2).replace(" ", ""), m.group(1).strip()
    return None, line


def _parse_place(item: Mapping[str, Any]) -> Place | None:
    """One result of either API: fsq_place_id/fsq_id; top-level lat/lng or geocodes.main."""
    place_id = as_str(item.get("fsq_place_id")) or as_str(item.get("fsq_id"))
    if place_id is None:
        return None
    lat, lng = as_float(item.get("latitude")), as_float(item.get("longitude"))
    if lat is None or lng is None:
        main = as_dict(as_dict(item.get("geocodes")).get("main"))
        lat, lng = as_float(main.get("latitude")), as_float(main.get("longitude"))
    location = as_dict(item.get("location"))
    line = as_str(location.get("address"))
    house_number, street = split_house_number(line)
    categories = tuple(
        n for n in (as_str(as_dict(c).get("name")) for c in as_list(item.get("categories"))) if n
    )
    return Place(
        provider="foursquare",
        place_id=place_id,
        name=as_str(item.get("name")) or "",
        lat=lat,
        lng=lng,
        address=as_str(location.get("formatted_address")) or line,
        house_number=house_number,
        street=street,
        postcode=as_str(location.get("postcode")),
        city=as_str(location.get("locality")) or as_str(location.get("post_town")),
        categories=categories,
        result_type="place",  # Foursquare only returns POIs
    )


def _parse_photos(items: list[Any]) -> list[PhotoRef]:
    """Photos with id, prefix and suffix; the reference is the 'original' URL (no secret in it)."""
    refs: list[PhotoRef] = []
    seen: set[str] = set()
    for photo in map(as_dict, items):
        photo_id, prefix, suffix = (as_str(photo.get(k)) for k in ("id", "prefix", "suffix"))
        if not photo_id or not prefix or not suffix or photo_id in seen:
            continue
        seen.add(photo_id)
        refs.append(
            PhotoRef(
                provider="foursquare",
                photo_key=photo_id,
                reference=f"{prefix.rstrip('/')}/{ORIGINAL_SIZE}/{suffix.lstrip('/')}",
                width=as_int(photo.get("width")),
                height=as_int(photo.get("height")),
                attribution="Foursquare",
            )
        )
    return refs
