"""HERE Geocoding & Search v7 (geocode, discover, lookup) in HERE's shapes; like the real API, no photos."""

from __future__ import annotations

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
    parse_latlng,
    route,
)
from venue_pipeline.sandbox.world import SimPlace, haversine_m

STYLE = "here"


def _auth(ctx: Ctx) -> httpx.Response | None:
    auth = ctx.header("authorization") or ""
    if auth.lower().startswith("bearer ") and not invalid_key(auth[7:]):
        return None
    if invalid_key(ctx.param("apiKey")):
        return error_response(STYLE, 401)
    return None


def _duplicate_params(ctx: Ctx) -> httpx.Response | None:
    """HERE rejects a repeated query parameter with 400."""
    keys = [k for k, _ in ctx.request.url.params.multi_items()]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup:
        return error_response(STYLE, 400, f"Duplicate parameter '{dup}'")
    return None


def _label(place: SimPlace) -> str:
    a = place.address
    tail = f"{a.line1}, {a.city} {a.postcode}, {a.country}"
    return tail if place.is_address else f"{place.name}, {tail}"


def item(place: SimPlace, distance: float | None = None, *, score: float | None = None) -> dict[str, Any]:
    """A HERE result item (place or houseNumber)."""
    a = place.address
    address: dict[str, Any] = {
        "label": _label(place),
        "countryCode": a.country_code3,
        "countryName": a.country,
        "state": a.state,
        "county": a.county,
        "city": a.city,
        "street": a.street,
        "postalCode": a.postcode,
    }
    if a.house_number:
        address["houseNumber"] = a.house_number
    address = {k: v for k, v in address.items() if v is not None}
    out: dict[str, Any] = {
        "title": _label(place) if place.is_address else place.name,
        "id": place.place_id,
        "language": "en",
        "resultType": place.result_type,
    }
    if place.is_address:
        out["houseNumberType"] = "PA"
    else:
        out["ontologyId"] = "here:cm:ontology:" + ("bar_pub" if place.category in {"pub", "bar"} else place.category)
    out["address"] = address
    out["position"] = {"lat": place.lat, "lng": place.lng}
    out["access"] = [{"lat": round(place.lat + 0.00003, 6), "lng": round(place.lng - 0.00004, 6)}]
    if place.is_address:  # HERE OpenAPI: "place typed results have no mapView"; address results have one
        d = 0.0009
        out["mapView"] = {"west": round(place.lng - d, 5), "south": round(place.lat - d, 5), "east": round(place.lng + d, 5), "north": round(place.lat + d, 5)}
    if distance is not None:
        out["distance"] = int(round(distance))
    if not place.is_address:
        codes = CATEGORIES[place.category]
        out["categories"] = [{"id": codes.here_id, "name": codes.here_name, "primary": True}]
        out["contacts"] = [{"phone": [{"value": "+44" + place.place_id[-10:].translate(str.maketrans("abcdef", "123456"))}]}]
    if score is not None:
        out["scoring"] = {"queryScore": score, "fieldScore": {"city": 1.0, "streets": [score]}}
    return out


def geocode(ctx: Ctx) -> httpx.Response:
    if (bad := _duplicate_params(ctx)) is not None:
        return bad
    q = ctx.param("q") or ctx.param("qq")
    if not q or not q.strip():
        return error_response(STYLE, 400, "Illegal input for parameter 'q'")
    at = ctx.param("at")
    near = parse_latlng(at)
    if at is not None and near is None:
        return error_response(STYLE, 400, "Illegal input for parameter 'at'")
    limit = parse_int(ctx.param("limit"), 20)
    if limit is None or not 1 <= limit <= 100:
        return error_response(STYLE, 400, "Illegal input for parameter 'limit'")
    hits = ctx.world.geocode("here", q, limit, near=near)
    items = [item(p, d if near else None, score=ctx.world.match_score(q, p)) for p, d in hits]
    return json_response({"items": items})


def discover(ctx: Ctx) -> httpx.Response:
    if (bad := _duplicate_params(ctx)) is not None:
        return bad
    q = ctx.param("q")
    if q is None or q == "":
        return error_response(STYLE, 400, "Illegal input for parameter 'q'")
    at, inside = ctx.param("at"), ctx.param("in")
    if (at is None) == (inside is None):
        return error_response(STYLE, 400, "Exactly one of 'at', 'in=circle' or 'in=bbox' must be provided")
    radius = 10_000.0
    if at is not None:
        center = parse_latlng(at)
    else:
        center = None
        assert inside is not None
        if inside.startswith("circle:"):
            spec = inside[len("circle:") :]
            loc, _, r = spec.partition(";r=")
            center = parse_latlng(loc)
            try:
                radius = float(r)
            except ValueError:
                center = None
        elif inside.startswith("bbox:"):
            try:
                w, s, e, n = (float(x) for x in inside[5:].split(","))
                center = ((s + n) / 2, (w + e) / 2)
                radius = haversine_m(s, w, n, e) / 2
            except ValueError:
                center = None
    if center is None:
        return error_response(STYLE, 400, "Illegal input for parameter 'at' or 'in'")
    limit = parse_int(ctx.param("limit"), 20)
    if limit is None or not 1 <= limit <= 100:
        return error_response(STYLE, 400, "Illegal input for parameter 'limit'")
    if not q.strip():
        return json_response({"items": []})
    hits = ctx.world.search("here", q, center[0], center[1], radius, limit)
    return json_response({"items": [item(p, d) for p, d in hits]})


def lookup(ctx: Ctx) -> httpx.Response:
    if (bad := _duplicate_params(ctx)) is not None:
        return bad
    place_id = ctx.param("id")
    if not place_id or not place_id.startswith("here:"):
        return error_response(STYLE, 400, "Illegal input for parameter 'id'")
    place = ctx.world.place("here", place_id)
    if place is None:
        return error_response(STYLE, 404, "Not found")
    return json_response(item(place))


ROUTES: list[Route] = [
    route("geocode.search.hereapi.com", "GET", r"^/v1/geocode$", "here", "geocode", STYLE, geocode, _auth),
    route("discover.search.hereapi.com", "GET", r"^/v1/discover$", "here", "search", STYLE, discover, _auth),
    route("lookup.search.hereapi.com", "GET", r"^/v1/lookup$", "here", "details", STYLE, lookup, _auth),
]
HOSTS: dict[str, str] = {
    "geocode.search.hereapi.com": STYLE,
    "discover.search.hereapi.com": STYLE,
    "lookup.search.hereapi.com": STYLE,
}
