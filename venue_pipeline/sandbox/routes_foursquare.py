"""Foursquare Places: the new API (places-api, Bearer + version header), legacy v3, and fastly photos."""

from __future__ import annotations

import re
import zlib
from typing import Any

import httpx

from venue_pipeline.sandbox.categories import CATEGORIES
from venue_pipeline.sandbox.images import CONTENT_TYPES, render_photo
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
from venue_pipeline.sandbox.world import SimPlace
from venue_pipeline.sandbox.world_photos import FOURSQUARE_PHOTO_HOST, SimPhoto

STYLE = "foursquare"
NEW_HOST = "places-api.foursquare.com"
V3_HOST = "api.foursquare.com"
PHOTO_PREFIX = f"https://{FOURSQUARE_PHOTO_HOST}/img/general/"

_BSON_IDS = {
    13018: "4bf58dd8d48988d11b941735",
    13003: "4bf58dd8d48988d116941735",
    13034: "4bf58dd8d48988d16d941735",
    19014: "4bf58dd8d48988d1fa931735",
    13065: "4edd64a0c7ddd24ca188df1a",
    19020: "4c38df4de52ce0d596b336e1",
    17142: "4d954b0ea243a5684a65b473",
}
_ICON_GROUP = {13018: "nightlife/pub_", 13003: "nightlife/pub_", 13034: "food/cafe_", 19014: "travel/hotel_", 13065: "food/fishandchips_", 19020: "shops/parking_", 17142: "shops/conveniencestore_"}


def _auth_new(ctx: Ctx) -> httpx.Response | None:
    auth = ctx.header("authorization") or ""
    if not auth.startswith("Bearer ") or invalid_key(auth[7:]):
        return error_response(STYLE, 401, "Invalid request token.")
    if not ctx.header("x-places-api-version"):
        return error_response(STYLE, 400, "Missing required header: X-Places-Api-Version")
    return None


def _auth_v3(ctx: Ctx) -> httpx.Response | None:
    auth = ctx.header("authorization")
    if invalid_key(auth) or (auth or "").lower().startswith("bearer "):
        return error_response(STYLE, 401, "Invalid request token.")
    return None


def _is_new(ctx: Ctx) -> bool:
    return ctx.request.url.host == NEW_HOST


def _category(place: SimPlace, new: bool) -> dict[str, Any]:
    codes = CATEGORIES[place.category]
    icon = {"prefix": f"https://ss3.4sqi.net/img/categories_v2/{_ICON_GROUP.get(codes.fsq_id, 'building/default_')}", "suffix": ".png"}
    plural = codes.fsq_name + ("es" if codes.fsq_name.endswith("s") else "s")
    if new:
        return {"fsq_category_id": _BSON_IDS.get(codes.fsq_id, "4d4b7105d754a06376d81259"), "name": codes.fsq_name, "short_name": codes.fsq_name, "plural_name": plural, "icon": icon}
    return {"id": codes.fsq_id, "name": codes.fsq_name, "short_name": codes.fsq_name, "plural_name": plural, "icon": icon}


def photo_json(photo: SimPhoto) -> dict[str, Any]:
    return {
        "id": photo.key,
        "created_at": photo.created_at,
        "prefix": PHOTO_PREFIX,
        "suffix": f"/{photo.token}.jpg",
        "width": photo.width,
        "height": photo.height,
        "classifications": list(photo.classifications),
    }


def place_json(place: SimPlace, distance: float | None, *, new: bool, fields: list[str] | None) -> dict[str, Any]:
    a = place.address
    location = {
        "address": a.line1,
        "locality": a.city,
        "post_town": a.city,
        "postcode": a.postcode,
        "region": a.state,
        "admin_region": a.state,
        "country": a.country_code2,
        "formatted_address": f"{a.line1}, {a.city}, {a.postcode}",
    }
    location = {k: v for k, v in location.items() if v is not None}
    out: dict[str, Any] = {}
    if new:
        out["fsq_place_id"] = place.place_id
        out["latitude"] = place.lat
        out["longitude"] = place.lng
    else:
        out["fsq_id"] = place.place_id
    out["categories"] = [_category(place, new)]
    out["chains"] = []
    if new:
        out["date_created"] = "2012-05-02"
        out["date_refreshed"] = "2024-11-19"
    if distance is not None:
        out["distance"] = int(round(distance))
    if not new:
        out["geocodes"] = {"main": {"latitude": place.lat, "longitude": place.lng}, "roof": {"latitude": place.lat, "longitude": place.lng}}
    out["link"] = f"/places/{place.place_id}" if new else f"/v3/places/{place.place_id}"
    out["location"] = location
    out["name"] = place.name
    if new:
        out["placemaker_url"] = f"https://foursquare.com/placemakers/review-place/{place.place_id}"
    out["related_places"] = {}
    if not new:
        out["timezone"] = "Europe/London"
    out["tel"] = "01" + str(_tel_number(place.place_id) % 10**9).zfill(9)
    if fields:
        extra: dict[str, Any] = {
            "photos": [photo_json(p) for p in place.photos],
            "rating": round(place.rating * 2, 1),
            "stats": {"total_photos": len(place.photos), "total_ratings": place.rating_count, "total_tips": place.rating_count // 7},
            "website": None,
        }
        merged = {**out, **extra}
        return {k: merged[k] for k in fields if k in merged}
    return out


def _tel_number(place_id: str) -> int:
    """A stable number from the ID (a world file's place IDs need not be hex like generated ones)."""
    try:
        return int(place_id[:8], 16)
    except ValueError:
        return zlib.crc32(place_id.encode("utf-8"))


def _fields(ctx: Ctx) -> list[str] | None:
    raw = ctx.param("fields")
    return [f.strip() for f in raw.split(",") if f.strip()] if raw else None


def search(ctx: Ctx) -> httpx.Response:
    new = _is_new(ctx)
    limit = parse_int(ctx.param("limit"), 10)
    if limit is None or not 1 <= limit <= 50:
        return error_response(STYLE, 400, "Invalid limit: must be between 1 and 50")
    radius = parse_int(ctx.param("radius"), 22_000)
    if radius is None or not 0 <= radius <= 100_000:
        return error_response(STYLE, 400, "Invalid radius: must be between 0 and 100000")
    ll = ctx.param("ll")
    center = parse_latlng(ll)
    if ll is not None and center is None:
        return error_response(STYLE, 400, "Invalid ll parameter")
    sort = (ctx.param("sort") or "RELEVANCE").upper()
    if sort not in {"RELEVANCE", "RATING", "DISTANCE", "POPULARITY"}:
        return error_response(STYLE, 400, "Invalid sort parameter")
    query = ctx.param("query")
    fields = _fields(ctx)
    near = (ctx.param("near") or "").strip()
    if center is None and near:  # a locality ("Norwich, United Kingdom"): places in that town only
        town = near.split(",")[0].strip()
        found_near = ctx.world.geocode("foursquare", query or "", limit, include_addresses=False, city=town)
        hits = [(p, None) for p, _ in found_near]
        context: dict[str, Any] = {"geo_bounds": {"near": near}}
    elif center is None:  # no location: the real API biases by IP; the sandbox has none, so it ranks by name
        hits = [(p, None) for p, _ in ctx.world.geocode("foursquare", query or "", limit, include_addresses=False)]
        context = {}
    else:
        found = ctx.world.search("foursquare", query, center[0], center[1], float(radius), limit, sort="distance" if sort == "DISTANCE" else "relevance")
        if sort in {"RATING", "POPULARITY"}:
            found.sort(key=lambda h: (-h[0].rating, h[1]))
        hits = [(p, d) for p, d in found]
        context = {"geo_bounds": {"circle": {"center": {"latitude": center[0], "longitude": center[1]}, "radius": radius}}}
    results = [place_json(p, d, new=new, fields=fields) for p, d in hits]
    return json_response({"results": results, "context": context})


def details(ctx: Ctx) -> httpx.Response:
    place = ctx.world.place("foursquare", ctx.match.group("id"))
    if place is None:
        return error_response(STYLE, 404, "Invalid venue specified")
    return json_response(place_json(place, None, new=_is_new(ctx), fields=_fields(ctx)))


def photos(ctx: Ctx) -> httpx.Response:
    place = ctx.world.place("foursquare", ctx.match.group("id"))
    if place is None:
        return error_response(STYLE, 404, "Invalid venue specified")
    limit = parse_int(ctx.param("limit"), 10)
    if limit is None or not 1 <= limit <= 50:
        return error_response(STYLE, 400, "Invalid limit: must be between 1 and 50")
    sort = (ctx.param("sort") or "popular").lower()
    if sort not in {"popular", "newest"}:
        return error_response(STYLE, 400, "Invalid sort parameter")
    items = list(place.photos)
    if sort == "newest":
        items.sort(key=lambda p: p.created_at, reverse=True)
    wanted = ctx.param("classifications")
    if wanted:
        classes = {c.strip() for c in wanted.split(",")}
        items = [p for p in items if classes & set(p.classifications)]
    return json_response([photo_json(p) for p in items[:limit]])


_SIZE = re.compile(r"^(?:original|(?P<w>\d+)x(?P<h>\d+)|cap(?P<cap>\d+)|width(?P<width>\d+)|height(?P<height>\d+))$")


def photo_download(ctx: Ctx) -> httpx.Response:
    photo = ctx.world.photo_by_token("foursquare", ctx.match.group("token"))
    size = _SIZE.match(ctx.match.group("size"))
    if photo is None or size is None:
        return error_response("host", 404, "Not Found")
    w, h = photo.width, photo.height
    if size.group("w"):
        w, h = min(int(size.group("w")), photo.width), min(int(size.group("h")), photo.height)
    elif size.group("cap"):
        cap = int(size.group("cap"))
        scale = min(1.0, cap / max(w, h))
        w, h = round(w * scale), round(h * scale)
    elif size.group("width"):
        scale = min(1.0, int(size.group("width")) / w)
        w, h = round(w * scale), round(h * scale)
    elif size.group("height"):
        scale = min(1.0, int(size.group("height")) / h)
        w, h = round(w * scale), round(h * scale)
    if w < 1 or h < 1:
        return error_response("host", 404, "Not Found")
    body = render_photo(f"fsq:{photo.key}", w, h, photo.fmt)
    return httpx.Response(200, content=body, headers={"content-type": CONTENT_TYPES[photo.fmt], "cache-control": "max-age=31536000"})


_ID = r"(?P<id>[A-Za-z0-9]+)"
ROUTES: list[Route] = [
    route(NEW_HOST, "GET", r"^/places/search$", "foursquare", "search", STYLE, search, _auth_new),
    route(NEW_HOST, "GET", rf"^/places/{_ID}/photos$", "foursquare", "photos", STYLE, photos, _auth_new),
    route(NEW_HOST, "GET", rf"^/places/{_ID}$", "foursquare", "details", STYLE, details, _auth_new),
    route(V3_HOST, "GET", r"^/v3/places/search$", "foursquare", "search", STYLE, search, _auth_v3),
    route(V3_HOST, "GET", rf"^/v3/places/{_ID}/photos$", "foursquare", "photos", STYLE, photos, _auth_v3),
    route(V3_HOST, "GET", rf"^/v3/places/{_ID}$", "foursquare", "details", STYLE, details, _auth_v3),
    route(FOURSQUARE_PHOTO_HOST, "GET", r"^/img/general/(?P<size>[a-z0-9]+)/(?P<token>[0-9]+_[A-Za-z0-9_-]+)\.jpg$", "foursquare", "photo_download", "host", photo_download),
]
HOSTS: dict[str, str] = {NEW_HOST: STYLE, V3_HOST: STYLE, FOURSQUARE_PHOTO_HOST: "host"}
