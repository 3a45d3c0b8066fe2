"""Geoapify geocoding (v1) and places (v2) in Geoapify's GeoJSON / JSON shapes."""

from __future__ import annotations

import re
from typing import Any

import httpx

from venue_pipeline.sandbox.categories import CATEGORIES
from venue_pipeline.sandbox.routes_common import (
    Ctx,
    Route,
    error_response,
    invalid_key,
    json_response,
    parse_int,
    route,
)
from venue_pipeline.sandbox.world import SimPlace, haversine_m

STYLE = "geoapify"
_UK_POSTCODE = re.compile(r"\b([A-Z]{1,2}\d[A-Z\d]?)\s*(\d[A-Z]{2})\b", re.I)


def _auth(ctx: Ctx) -> httpx.Response | None:
    key = ctx.param("apiKey") or ctx.header("x-api-key")
    if invalid_key(key):
        return error_response(STYLE, 401, "Invalid apiKey")
    return None


_DATASOURCE = {
    "sourcename": "openstreetmap",
    "attribution": "© OpenStreetMap contributors",
    "license": "Open Database License",
    "url": "https://www.openstreetmap.org/copyright",
}


def _properties(
    place: SimPlace, distance: float | None, *, text: str | None, score: float | None, geocode: bool = False
) -> dict[str, Any]:
    """Properties as Geoapify documents them: Places / Place Details carry `categories[]`, `details[]` and
    `datasource.raw`; a geocoding result carries one `category` string and a `datasource` without raw
    (GeocodingResult in forward_geocoding.yaml)."""
    a = place.address
    line2 = f"{a.line1}, {a.city}, {a.postcode}, {a.country}"
    props: dict[str, Any] = {}
    if not place.is_address:
        props["name"] = place.name
    props.update(
        {
            "country": a.country,
            "country_code": a.country_code2.lower(),
            "state": a.state,
            "county": a.county,
            "city": a.city,
            "postcode": a.postcode,
            "street": a.street,
            "housenumber": a.house_number,
            "lon": place.lng,
            "lat": place.lat,
            "formatted": line2 if place.is_address else f"{place.name}, {line2}",
            "address_line1": a.line1 if place.is_address else place.name,
            "address_line2": f"{a.city}, {a.postcode}, {a.country}" if place.is_address else line2,
            "timezone": {"name": "Europe/London", "offset_STD": "+00:00", "offset_STD_seconds": 0, "offset_DST": "+01:00", "offset_DST_seconds": 3600},
            "plus_code": None,
        }
    )
    if geocode:
        props["datasource"] = dict(_DATASOURCE)
        props["category"] = CATEGORIES["address" if place.is_address else place.category].geoapify[-1]
    elif not place.is_address:
        props["categories"] = list(CATEGORIES[place.category].geoapify)
        props["details"] = []
        props["datasource"] = {
            **_DATASOURCE,
            "raw": {"name": place.name, "amenity": place.category, "osm_id": int(place.place_id[40:52], 16), "osm_type": "n"},
        }
    if distance is not None:
        props["distance"] = int(round(distance))
    props["result_type"] = "building" if place.is_address else "amenity"
    if score is not None:
        props["rank"] = {
            "importance": 0.00001,
            "popularity": round(place.rating, 2),
            "confidence": score,
            "confidence_city_level": 1,
            "confidence_street_level": 1 if score > 0.8 else 0.5,
            "match_type": "full_match" if score >= 0.95 else "inner_part",
        }
    props["place_id"] = place.place_id
    return {k: v for k, v in props.items() if v is not None}


def _feature(place: SimPlace, props: dict[str, Any]) -> dict[str, Any]:
    d = 0.0002
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "Point", "coordinates": [place.lng, place.lat]},
        "bbox": [round(place.lng - d, 7), round(place.lat - d, 7), round(place.lng + d, 7), round(place.lat + d, 7)],
    }


def _proximity(value: str | None) -> tuple[float, float] | None:
    """'proximity:lon,lat' (Geoapify is lon-first) to (lat, lng)."""
    if not value or not value.startswith("proximity:"):
        return None
    try:
        lon, lat = (float(x) for x in value[len("proximity:") :].split(",")[:2])
    except ValueError:
        return None
    return lat, lon


def _circle(value: str | None) -> tuple[float, float, float] | None:
    """'circle:lon,lat,radius_m' to (lat, lng, radius)."""
    if not value or not value.startswith("circle:"):
        return None
    try:
        lon, lat, r = (float(x) for x in value[len("circle:") :].split(",")[:3])
    except ValueError:
        return None
    return lat, lon, r


def _rect(value: str | None) -> tuple[float, float, float, float] | None:
    """'rect:lon1,lat1,lon2,lat2' (two opposite corners, in any order) to (south, west, north, east)."""
    if not value or not value.startswith("rect:"):
        return None
    try:
        lon1, lat1, lon2, lat2 = (float(x) for x in value[len("rect:") :].split(","))
    except ValueError:
        return None
    return min(lat1, lat2), min(lon1, lon2), max(lat1, lat2), max(lon1, lon2)


def _parsed(text: str) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    m = _UK_POSTCODE.search(text)
    if m:
        parsed["postcode"] = f"{m.group(1)} {m.group(2)}".lower()
    first = text.split(",")[0].strip()
    hn = re.match(r"^(\d+[a-z]?)\s+(.+)$", first, re.I)
    if hn:
        parsed["housenumber"], parsed["street"] = hn.group(1), hn.group(2).lower()
        parsed["expected_type"] = "building"
    else:
        parsed["expected_type"] = "amenity"
    return parsed


def geocode_search(ctx: Ctx) -> httpx.Response:
    text = ctx.param("text")
    if not text:
        structured = [ctx.param(k) for k in ("name", "housenumber", "street", "postcode", "city", "country")]
        text = ", ".join(s for s in structured if s)
    if not text:
        return error_response(STYLE, 400, '"text" is required')
    fmt = ctx.param("format", "geojson")
    if fmt not in {"json", "geojson"}:
        return error_response(STYLE, 400, '"format" must be one of [json, geojson]; xml is not available in the sandbox')
    limit = parse_int(ctx.param("limit"), 5)
    if limit is None or not 1 <= limit <= 100:
        return error_response(STYLE, 400, '"limit" must be a number between 1 and 100')
    near = _proximity(ctx.param("bias"))
    circle = _circle(ctx.param("filter"))
    if circle:
        near = (circle[0], circle[1])
    hits = ctx.world.geocode("geoapify", text, limit, near=near, max_distance_m=circle[2] if circle else None)
    query = {"text": text, "parsed": _parsed(text)}
    rows = [(p, _properties(p, d if near else None, text=text, score=ctx.world.match_score(text, p), geocode=True)) for p, d in hits]
    if fmt == "json":
        results = []
        for place, props in rows:
            f = _feature(place, props)
            lon1, lat1, lon2, lat2 = f["bbox"]
            results.append({**props, "bbox": {"lon1": lon1, "lat1": lat1, "lon2": lon2, "lat2": lat2}})
        return json_response({"results": results, "query": query})
    return json_response({"type": "FeatureCollection", "features": [_feature(p, props) for p, props in rows], "query": query})


def places(ctx: Ctx) -> httpx.Response:
    categories = ctx.param("categories")
    if not categories:
        return error_response(STYLE, 400, '"categories" is required')
    circle = _circle(ctx.param("filter"))
    rect = _rect(ctx.param("filter"))
    bias = _proximity(ctx.param("bias"))
    if rect is not None:  # searched as the circle around the rectangle, then cut to it (a hard filter)
        south, west, north, east = rect
        circle = ((south + north) / 2, (west + east) / 2, haversine_m(south, west, north, east) / 2 + 1)
    if ctx.param("filter") and circle is None:
        return error_response(STYLE, 400, '"filter" is invalid; the sandbox supports circle:lon,lat,radiusMeters and rect:lon1,lat1,lon2,lat2')
    if circle is None and bias is None:
        return error_response(STYLE, 400, 'Either "filter" or "bias" is required')
    limit = parse_int(ctx.param("limit"), 20)
    if limit is None or not 1 <= limit <= 500:
        return error_response(STYLE, 400, '"limit" must be a number between 1 and 500')
    offset = parse_int(ctx.param("offset"), 0) or 0
    lat, lng, radius = circle if circle else (bias[0], bias[1], 5000.0)  # type: ignore[index]
    cats = [c.strip() for c in categories.split(",") if c.strip()]
    hits = ctx.world.search("geoapify", ctx.param("name"), lat, lng, radius, offset + limit, sort="distance", categories=cats)
    if rect is not None:
        hits = [(p, d) for p, d in hits if rect[0] <= p.lat <= rect[2] and rect[1] <= p.lng <= rect[3]]
    hits = hits[offset:]
    ref = bias or (lat, lng)
    features = [_feature(p, _properties(p, haversine_m(ref[0], ref[1], p.lat, p.lng), text=None, score=None)) for p, _ in hits]
    return json_response({"type": "FeatureCollection", "features": features})


def place_details(ctx: Ctx) -> httpx.Response:
    place_id = ctx.param("id")
    if not place_id:
        return error_response(STYLE, 400, '"id" or "lat"/"lon" is required')
    place = ctx.world.place("geoapify", place_id)
    if place is None:
        return error_response(STYLE, 400, "Invalid Place ID")
    props = _properties(place, None, text=None, score=None)
    props["feature_type"] = "details"
    return json_response({"type": "FeatureCollection", "features": [_feature(place, props)]})


ROUTES: list[Route] = []
HOSTS: dict[str, str] = {}
for _host in ("api.geoapify.com", "api-eu.geoapify.com"):
    ROUTES += [
        route(_host, "GET", r"^/v1/geocode/search$", "geoapify", "geocode", STYLE, geocode_search, _auth),
        route(_host, "GET", r"^/v2/places$", "geoapify", "search", STYLE, places, _auth),
        route(_host, "GET", r"^/v2/place-details$", "geoapify", "details", STYLE, place_details, _auth),
    ]
    HOSTS[_host] = STYLE
