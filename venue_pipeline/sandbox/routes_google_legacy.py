"""Google Places legacy web service (maps.googleapis.com/maps/api/place): find, nearby, text search, details and photos."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any, Callable

import httpx

from venue_pipeline.sandbox.categories import CATEGORIES
from venue_pipeline.sandbox.images import fit_within
from venue_pipeline.sandbox.routes_common import Ctx, Route, error_response, invalid_key, json_response, parse_int, parse_latlng, route
from venue_pipeline.sandbox.routes_google_common import LEGACY, LEGACY_HOST, PROVIDER, cid, formatted_address, size_limits, tokens
from venue_pipeline.sandbox.world import SimPlace
from venue_pipeline.sandbox.world_photos import GOOGLE_PHOTO_HOST, SimPhoto

PAGE_SIZE = 20


def _attribution_html(photo: SimPhoto) -> str:
    return f'<a href="{photo.author_uri}">{photo.author}</a>'


def _legacy_auth(ctx: Ctx) -> httpx.Response | None:
    if invalid_key(ctx.param("key")):
        extra = _legacy_empty(ctx)
        return error_response(LEGACY, 401, "The provided API key is invalid.", extra=extra)
    return None


def _legacy_photo_auth(ctx: Ctx) -> httpx.Response | None:
    if invalid_key(ctx.param("key")):
        return error_response("host", 403, "Forbidden")
    return None


def _legacy_empty(ctx: Ctx) -> dict[str, Any]:
    path = ctx.request.url.path
    if "findplacefromtext" in path:
        return {"candidates": []}
    if "/details/" in path:
        return {"html_attributions": []}
    return {"html_attributions": [], "results": []}


def _legacy_place(ctx: Ctx, place: SimPlace, *, max_photos: int, vicinity: bool) -> dict[str, Any]:
    a = place.address
    codes = CATEGORIES[place.category]
    lat, lng = place.lat, place.lng
    d = 0.0013
    photos = [
        {"height": p.height, "width": p.width, "html_attributions": [_attribution_html(p)], "photo_reference": tokens(ctx).issue(p, ctx.sandbox.next_nonce(), new_api=False)}
        for p in place.photos[:max_photos]
    ]
    components = [
        {"long_name": a.house_number, "short_name": a.house_number, "types": ["street_number"]} if a.house_number else None,
        {"long_name": a.street, "short_name": a.street, "types": ["route"]},
        {"long_name": a.city, "short_name": a.city, "types": ["postal_town"]},
        {"long_name": a.county, "short_name": a.county, "types": ["administrative_area_level_2", "political"]} if a.county else None,
        {"long_name": a.state, "short_name": a.state, "types": ["administrative_area_level_1", "political"]} if a.state else None,
        {"long_name": a.country, "short_name": a.country_code2, "types": ["country", "political"]},
        {"long_name": a.postcode, "short_name": a.postcode, "types": ["postal_code"]},
    ]
    out: dict[str, Any] = {
        "address_components": [c for c in components if c],
        "business_status": "OPERATIONAL",
        "formatted_address": formatted_address(place),
        "geometry": {
            "location": {"lat": lat, "lng": lng},
            "viewport": {"northeast": {"lat": round(lat + d, 7), "lng": round(lng + d, 7)}, "southwest": {"lat": round(lat - d, 7), "lng": round(lng - d, 7)}},
        },
        "icon": "https://maps.gstatic.com/mapfiles/place_api/icons/v1/png_71/bar-71.png",
        "name": place.name,
        "place_id": place.place_id,
        "rating": place.rating,
        "reference": place.place_id,
        "types": list(codes.google_types),
        "url": f"https://maps.google.com/?cid={cid(place)}",
        "user_ratings_total": place.rating_count,
        "utc_offset": 0,
    }
    if photos:
        out["photos"] = photos
    if vicinity:
        out["vicinity"] = f"{a.line1}, {a.city}"
    return out


_LEGACY_FIELDS = {
    "address_components", "adr_address", "business_status", "formatted_address", "geometry", "icon", "icon_background_color",
    "icon_mask_base_uri", "name", "photo", "photos", "place_id", "plus_code", "type", "types", "url", "utc_offset", "vicinity",
    "wheelchair_accessible_entrance", "formatted_phone_number", "international_phone_number", "opening_hours", "current_opening_hours",
    "website", "rating", "reviews", "user_ratings_total", "price_level", "reference", "editorial_summary", "permanently_closed",
}


def _legacy_select(obj: dict[str, Any], fields: str | None) -> dict[str, Any] | str:
    """Apply a legacy `fields=` list; a string return is the INVALID_REQUEST message."""
    if fields is None:
        return obj
    keys = set()
    for f in fields.split(","):
        top = f.strip().split("/")[0]
        if top not in _LEGACY_FIELDS:
            return f"Error while parsing 'fields' parameter: Unsupported field name '{f.strip()}'. "
        keys.add({"photo": "photos", "type": "types"}.get(top, top))
    return {k: v for k, v in obj.items() if k in keys}


def _invalid(ctx: Ctx, message: str) -> httpx.Response:
    body = _legacy_empty(ctx)
    body.update({"error_message": message, "status": "INVALID_REQUEST"})
    return json_response(body)


def _page(ctx: Ctx, results: list[dict[str, Any]], start: int) -> httpx.Response:
    """Pages of 20 (max 60) with next_page_token, as nearby/text search do."""
    body: dict[str, Any] = {"html_attributions": []}
    chunk = results[start : start + PAGE_SIZE]
    if start + PAGE_SIZE < min(len(results), 60):
        params = {k: v for k, v in ctx.request.url.params.items() if k not in {"key", "pagetoken"}}
        state = json.dumps({"o": start + PAGE_SIZE, "p": params}).encode()
        body["next_page_token"] = base64.urlsafe_b64encode(state).decode().rstrip("=")
    body["results"] = chunk
    body["status"] = "OK" if chunk else "ZERO_RESULTS"
    return json_response(body)


def _resume(ctx: Ctx) -> tuple[Ctx, int] | None:
    """The original search a pagetoken continues (the token carries its parameters, never the key)."""
    token = ctx.param("pagetoken")
    if not token:
        return ctx, 0
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        start, params = int(state["o"]), dict(state["p"])
    except (ValueError, KeyError, TypeError):
        return None
    params["key"] = ctx.param("key") or ""
    request = httpx.Request(ctx.request.method, ctx.request.url.copy_with(params=params), headers=ctx.request.headers)
    return replace(ctx, request=request), start


def _legacy_bias(value: str | None) -> tuple[tuple[float, float] | None, float | None] | None:
    """locationbias 'circle:r@lat,lng' | 'point:lat,lng' | 'ipbias' -> (center, radius); None if invalid."""
    if not value or value == "ipbias":
        return None, None
    if value.startswith("circle:"):
        r, _, ll = value[7:].partition("@")
        center = parse_latlng(ll)
        try:
            return (center, float(r)) if center else None
        except ValueError:
            return None
    if value.startswith("point:"):
        center = parse_latlng(value[6:])
        return (center, 1000.0) if center else None
    if value.startswith("rectangle:"):
        try:
            sw, ne = value[10:].split("|")
            a, b = parse_latlng(sw), parse_latlng(ne)
        except ValueError:
            return None
        if not a or not b:
            return None
        return ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2), 5000.0
    return None


def findplace(ctx: Ctx) -> httpx.Response:
    text = ctx.param("input")
    if not text:
        return _invalid(ctx, "Missing the input parameter.")
    if ctx.param("inputtype") not in {"textquery", "phonenumber"}:
        return _invalid(ctx, "Invalid 'inputtype' parameter.")
    bias = _legacy_bias(ctx.param("locationbias"))
    if bias is None:
        return _invalid(ctx, "Invalid 'locationbias' parameter.")
    center, radius = bias
    hits = ctx.world.geocode(
        PROVIDER,
        text,
        3,
        near=center,
        max_distance_m=max(50_000.0, radius or 0) if center else None,
        bias_radius_m=radius if center else None,
        include_addresses=False,
    )
    if hits:
        best = ctx.world.match_score(text, hits[0][0])
        hits = [h for h in hits if ctx.world.match_score(text, h[0]) >= best - 0.05]
    candidates = []
    fields = ctx.param("fields")
    for place, _ in hits:
        full = _legacy_place(ctx, place, max_photos=1, vicinity=False)
        selected = _legacy_select(full, fields) if fields else {"place_id": place.place_id}
        if isinstance(selected, str):
            return _invalid(ctx, selected)
        candidates.append(selected)
    return json_response({"candidates": candidates, "status": "OK" if candidates else "ZERO_RESULTS"})


def nearbysearch(ctx: Ctx) -> httpx.Response:
    resumed = _resume(ctx)
    if resumed is None:
        return _invalid(ctx, "Invalid pagetoken")
    ctx, start = resumed
    center = parse_latlng(ctx.param("location"))
    if center is None:
        return _invalid(ctx, "Invalid 'location' parameter.")
    rankby = ctx.param("rankby", "prominence")
    radius_raw = ctx.param("radius")
    if rankby == "distance":
        if radius_raw is not None:
            return _invalid(ctx, "rankby=distance cannot be combined with radius.")
        if not (ctx.param("keyword") or ctx.param("name") or ctx.param("type")):
            return _invalid(ctx, "rankby=distance requires keyword, name or type.")
    elif radius_raw is None:
        return _invalid(ctx, "Missing the radius parameter.")
    elif parse_int(radius_raw, 0) is None:
        return _invalid(ctx, "Invalid 'radius' parameter.")
    return _page(ctx, _nearby_results(ctx, center), start)


def _nearby_results(ctx: Ctx, center: tuple[float, float]) -> list[dict[str, Any]]:
    radius = min(50_000.0, float(parse_int(ctx.param("radius"), 50_000) or 50_000))
    query = " ".join(x for x in (ctx.param("keyword"), ctx.param("name")) if x) or None
    sort = "distance" if ctx.param("rankby") == "distance" else "relevance"
    hits = ctx.world.search(PROVIDER, query, center[0], center[1], radius, 60, sort=sort)
    wanted_type = ctx.param("type")
    if wanted_type:
        hits = [h for h in hits if wanted_type in CATEGORIES[h[0].category].google_types]
    results = []
    for place, _ in hits:
        full = _legacy_place(ctx, place, max_photos=1, vicinity=True)
        full.pop("address_components", None)
        full.pop("formatted_address", None)
        full.pop("url", None)
        full.pop("utc_offset", None)
        results.append(full)
    return results


def textsearch(ctx: Ctx) -> httpx.Response:
    resumed = _resume(ctx)
    if resumed is None:
        return _invalid(ctx, "Invalid pagetoken")
    ctx, start = resumed
    query = ctx.param("query")
    if not query:
        return _invalid(ctx, "Missing the query parameter.")
    location = ctx.param("location")
    center = parse_latlng(location) if location else None
    if location and center is None:
        return _invalid(ctx, "Invalid 'location' parameter.")
    radius = parse_int(ctx.param("radius"), 50_000)
    if radius is None:
        return _invalid(ctx, "Invalid 'radius' parameter.")
    hits = ctx.world.geocode(
        PROVIDER,
        query or "",
        60,
        near=center,
        max_distance_m=max(50_000.0, float(radius)) if center else None,
        bias_radius_m=float(radius) if center and ctx.param("radius") is not None else None,
        include_addresses=False,
    )
    results = []
    for place, _ in hits:
        full = _legacy_place(ctx, place, max_photos=1, vicinity=False)
        full.pop("address_components", None)
        full.pop("url", None)
        full.pop("utc_offset", None)
        results.append(full)
    return _page(ctx, results, start)


def details(ctx: Ctx) -> httpx.Response:
    place_id = ctx.param("place_id")
    if not place_id:
        return _invalid(ctx, "Missing the place_id parameter.")
    if not place_id.startswith("ChIJ"):
        return _invalid(ctx, "Invalid 'placeid' parameter.")
    place = ctx.world.place(PROVIDER, place_id)
    if place is None:
        return json_response({"html_attributions": [], "status": "NOT_FOUND"})
    result = _legacy_select(_legacy_place(ctx, place, max_photos=10, vicinity=True), ctx.param("fields"))
    if isinstance(result, str):
        return _invalid(ctx, result)
    return json_response({"html_attributions": [], "result": result, "status": "OK"})


def _legacy_photo_key(ctx: Ctx) -> str | None:
    key = tokens(ctx).resolve(ctx.param("photo_reference") or ctx.param("photoreference") or "", new_api=False)
    return f"photo:{key}:{ctx.param('maxwidth')}x{ctx.param('maxheight')}" if key else None


def legacy_photo(ctx: Ctx) -> httpx.Response:
    ref = ctx.param("photo_reference") or ctx.param("photoreference")
    if not ref:
        return error_response("host", 400, "Bad Request")
    limits = size_limits(ctx, "maxwidth", "maxheight", 1600)
    if isinstance(limits, str):
        return error_response("host", 400, "Bad Request")
    key = tokens(ctx).resolve(ref, new_api=False)
    photo = ctx.world.photo_by_key(PROVIDER, key) if key else None
    if photo is None:
        return error_response("host", 400, "Bad Request")
    w, h = fit_within(photo.width, photo.height, *limits)
    location = f"https://{GOOGLE_PHOTO_HOST}/places/{photo.token}=s1600-w{w}-h{h}"
    return httpx.Response(302, headers={"location": location, "content-type": "text/html; charset=UTF-8", "content-length": "0"})


def _legacy(path: str, kind: str, handler: Callable[[Ctx], httpx.Response], empty: dict[str, Any]) -> Route:
    return route(LEGACY_HOST, "GET", rf"^/maps/api/place/{path}/json$", PROVIDER, kind, LEGACY, handler, _legacy_auth, error_extra=empty)


ROUTES: list[Route] = [
    _legacy("findplacefromtext", "geocode", findplace, {"candidates": []}),
    _legacy("nearbysearch", "search", nearbysearch, {"html_attributions": [], "results": []}),
    _legacy("textsearch", "search", textsearch, {"html_attributions": [], "results": []}),
    _legacy("details", "details", details, {"html_attributions": []}),
    route(LEGACY_HOST, "GET", r"^/maps/api/place/photo$", PROVIDER, "photo_media", "google_photo", legacy_photo, _legacy_photo_auth, _legacy_photo_key),
]
