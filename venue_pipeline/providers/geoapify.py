"""Geoapify geocoding and Places v2: an ID-only provider (no photo API), IDs are `place_id`, never `formatted`."""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

from venue_pipeline.core.ports import Place
from venue_pipeline.providers.coords import lon_lat
from venue_pipeline.providers.http import HttpProviderClient, as_dict, as_float, as_list, as_str

GEOCODE_URL = "https://api.geoapify.com/v1/geocode/search"
PLACES_URL = "https://api.geoapify.com/v2/places"
PLACE_CATEGORIES = "catering.pub,catering.bar,catering.restaurant,catering.cafe"
GEOCODE_LIMIT = 5
SEARCH_LIMIT = 20
# Priced at 0: within the 3,000 credits a day of Geoapify's free plan (https://www.geoapify.com/pricing).
DEFAULT_COSTS: dict[str, float] = {"geocode": 0.0, "places": 0.0}


class GeoapifyClient(HttpProviderClient):
    """Geoapify: forward geocoding (format=json) and catering places in a circle (GeoJSON)."""

    name: ClassVar[str] = "geoapify"
    supports_photos: ClassVar[bool] = False
    default_costs: ClassVar[Mapping[str, float]] = DEFAULT_COSTS

    async def geocode(
        self, query: str, *, near: tuple[float, float] | None = None, locality: str | None = None
    ) -> list[Place]:
        # locality is ignored: the query already carries the address, postcode and country
        if not query.strip():
            return []
        params: dict[str, Any] = {
            "text": query,
            "format": "json",
            "limit": GEOCODE_LIMIT,
            "apiKey": self._api_key(),
        }
        if near is not None:
            params["bias"] = f"proximity:{lon_lat(near[0], near[1])}"  # Geoapify wants lon,lat
        payload = await self._call("geocode", "GET", GEOCODE_URL, params=params)
        return self._parse(payload, "geocode")

    async def search(self, name: str, lat: float, lng: float, *, radius_m: int = 250) -> list[Place]:
        params: dict[str, Any] = {
            "categories": PLACE_CATEGORIES,
            "filter": f"circle:{lon_lat(lat, lng)},{int(radius_m)}",  # circle:lon,lat,radiusMeters
            "bias": f"proximity:{lon_lat(lat, lng)}",
            "limit": SEARCH_LIMIT,
            "apiKey": self._api_key(),
        }
        if name.strip():
            params["name"] = name
        payload = await self._call("places", "GET", PLACES_URL, params=params)
        # Every /v2/places result is a catering POI; Geoapify gives it no result_type of its own.
        return self._parse(payload, "places", default_type="amenity")

    def _parse(self, payload: Any, kind: str, *, default_type: str | None = None) -> list[Place]:
        if not isinstance(payload, Mapping):
            raise self._malformed(kind, "expected a JSON object")
        return _parse_collection(payload, default_type)


def _parse_collection(payload: Mapping[str, Any], default_type: str | None = None) -> list[Place]:
    """Both shapes: format=json {"results": [flat]} and GeoJSON {"features": [{properties, geometry}]}."""
    rows: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = [
        (as_dict(r), {}) for r in as_list(payload.get("results"))
    ]
    for feature in map(as_dict, as_list(payload.get("features"))):
        rows.append((as_dict(feature.get("properties")), as_dict(feature.get("geometry"))))
    places = (_parse_properties(props, geom, default_type) for props, geom in rows)
    return [p for p in places if p is not None]


def _parse_properties(
    props: Mapping[str, Any], geometry: Mapping[str, Any], default_type: str | None = None
) -> Place | None:
    """One result; None without a place_id. Coordinates fall back to a GeoJSON Point."""
    place_id = as_str(props.get("place_id"))
    if place_id is None:
        return None
    lat, lng = as_float(props.get("lat")), as_float(props.get("lon"))
    coords = as_list(geometry.get("coordinates"))
    if (lat is None or lng is None) and geometry.get("type") == "Point" and len(coords) >= 2:
        lng, lat = as_float(coords[0]), as_float(coords[1])
    categories = tuple(c for c in (as_str(c) for c in as_list(props.get("categories"))) if c)
    if not categories and as_str(props.get("category")):
        categories = (str(props["category"]),)
    return Place(
        provider="geoapify",
        place_id=place_id,
        name=as_str(props.get("name")) or "",
        lat=lat,
        lng=lng,
        address=as_str(props.get("formatted")),
        house_number=as_str(props.get("housenumber")),
        street=as_str(props.get("street")),
        postcode=as_str(props.get("postcode")),
        city=as_str(props.get("city")) or as_str(props.get("town")) or as_str(props.get("village")),
        categories=categories,
        result_type=as_str(props.get("result_type")) or default_type,
    )
