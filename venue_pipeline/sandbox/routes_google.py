"""Google Places: legacy web service, Places API (New) and lh3 photos, with rotating photo tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import replace
from typing import Any, Callable

import httpx

from venue_pipeline.sandbox.images import CONTENT_TYPES, fit_within, render_photo
from venue_pipeline.sandbox.routes_common import (
    GOOGLE_HELP_FIELD_MASK,
    Ctx,
    Route,
    error_response,
    invalid_key,
    json_response,
    parse_int,
    parse_latlng,
    route,
)
from venue_pipeline.sandbox.world import CATEGORIES, GOOGLE_PHOTO_HOST, SimPhoto, SimPlace

LEGACY = "google_legacy"
NEW = "google_new"
PROVIDER = "google_places"
LEGACY_HOST = "maps.googleapis.com"
NEW_HOST = "places.googleapis.com"
PAGE_SIZE = 20
_LEGACY_PREFIX = "Aap_uE"
_NEW_PREFIX = "AXCi2Q"


# ---- rotating photo tokens --------------------------------------------------------------------------
class PhotoTokens:
    """Opaque photo references that change on every call yet resolve statelessly (nonce + MAC)."""

    def __init__(self, seed: int) -> None:
        self._secret = hashlib.sha256(f"google-photo-tokens|{seed}".encode()).digest()

    def _stream(self, nonce: bytes, n: int) -> bytes:
        out = b""
        i = 0
        while len(out) < n:
            out += hashlib.sha256(self._secret + nonce + i.to_bytes(4, "big")).digest()
            i += 1
        return out[:n]

    def issue(self, photo: SimPhoto, nonce: int, *, new_api: bool) -> str:
        nb = hashlib.sha256(self._secret + nonce.to_bytes(8, "big")).digest()[:8]
        payload = photo.key.encode()
        enc = bytes(a ^ b for a, b in zip(payload, self._stream(nb, len(payload))))
        mac = hmac.new(self._secret, nb + payload + (b"N" if new_api else b"L"), hashlib.sha256).digest()[:9]
        body = base64.urlsafe_b64encode(nb + enc + mac).decode().rstrip("=")
        return (_NEW_PREFIX if new_api else _LEGACY_PREFIX) + body

    def resolve(self, token: str, *, new_api: bool) -> str | None:
        """The photo key a token was issued for, or None if it is not ours (or from the other API)."""
        prefix = _NEW_PREFIX if new_api else _LEGACY_PREFIX
        if not token.startswith(prefix):
            return None
        raw_b64 = token[len(prefix) :]
        try:
            raw = base64.urlsafe_b64decode(raw_b64 + "=" * (-len(raw_b64) % 4))
        except (ValueError, TypeError):
            return None
        if len(raw) < 8 + 9 + 1:
            return None
        nb, enc, mac = raw[:8], raw[8:-9], raw[-9:]
        payload = bytes(a ^ b for a, b in zip(enc, self._stream(nb, len(enc))))
        expected = hmac.new(self._secret, nb + payload + (b"N" if new_api else b"L"), hashlib.sha256).digest()[:9]
        if not hmac.compare_digest(mac, expected):
            return None
        return payload.decode(errors="replace")


def _tokens(ctx: Ctx) -> PhotoTokens:
    return ctx.sandbox.google_tokens


# ---- shared pieces -----------------------------------------------------------------------------------
def _cid(place: SimPlace) -> int:
    return int(hashlib.sha256(place.place_id.encode()).hexdigest()[:15], 16)


def _formatted(place: SimPlace) -> str:
    a = place.address
    country = "UK" if a.country_code2 == "GB" else a.country
    return f"{a.line1}, {a.city} {a.postcode}, {country}"


def _attribution_html(photo: SimPhoto) -> str:
    return f'<a href="{photo.author_uri}">{photo.author}</a>'


def _size_limits(ctx: Ctx, wname: str, hname: str, maximum: int) -> tuple[int | None, int | None] | str:
    """Parsed max width/height, or an error message."""
    w_raw, h_raw = ctx.param(wname), ctx.param(hname)
    if w_raw is None and h_raw is None:
        return f"Missing {wname} or {hname}"
    out: list[int | None] = []
    for name, raw in ((wname, w_raw), (hname, h_raw)):
        if raw is None:
            out.append(None)
            continue
        value = parse_int(raw, 0)
        if value is None or not 1 <= value <= maximum:
            return f"{name} must be an integer between 1 and {maximum}"
        out.append(value)
    return out[0], out[1]


# ---- legacy -----------------------------------------------------------------------------------------
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
        {"height": p.height, "width": p.width, "html_attributions": [_attribution_html(p)], "photo_reference": _tokens(ctx).issue(p, ctx.sandbox.next_nonce(), new_api=False)}
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
        "formatted_address": _formatted(place),
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
        "url": f"https://maps.google.com/?cid={_cid(place)}",
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
    key = _tokens(ctx).resolve(ctx.param("photo_reference") or ctx.param("photoreference") or "", new_api=False)
    return f"photo:{key}:{ctx.param('maxwidth')}x{ctx.param('maxheight')}" if key else None


def legacy_photo(ctx: Ctx) -> httpx.Response:
    ref = ctx.param("photo_reference") or ctx.param("photoreference")
    if not ref:
        return error_response("host", 400, "Bad Request")
    limits = _size_limits(ctx, "maxwidth", "maxheight", 1600)
    if isinstance(limits, str):
        return error_response("host", 400, "Bad Request")
    key = _tokens(ctx).resolve(ref, new_api=False)
    photo = ctx.world.photo_by_key(PROVIDER, key) if key else None
    if photo is None:
        return error_response("host", 400, "Bad Request")
    w, h = fit_within(photo.width, photo.height, *limits)
    location = f"https://{GOOGLE_PHOTO_HOST}/places/{photo.token}=s1600-w{w}-h{h}"
    return httpx.Response(302, headers={"location": location, "content-type": "text/html; charset=UTF-8", "content-length": "0"})


# ---- Places API (New) -------------------------------------------------------------------------------
def _new_auth(ctx: Ctx) -> httpx.Response | None:
    key = ctx.header("x-goog-api-key") or ctx.param("key")
    if invalid_key(key):
        return error_response(NEW, 401, "API key not valid. Please pass a valid API key.", reason_code="API_KEY_INVALID")
    return None


def _field_mask(ctx: Ctx, prefix: str) -> set[str] | None:
    raw = ctx.header("x-goog-fieldmask") or ctx.param("$fields") or ctx.param("fields")
    if not raw:
        return None
    out = set()
    for entry in raw.split(","):
        entry = entry.strip()
        if entry == "*":
            return {"*"}
        if prefix and entry.startswith(prefix):
            entry = entry[len(prefix) :]
        out.add(entry.split(".")[0])
    return out


def _new_place(ctx: Ctx, place: SimPlace, mask: set[str]) -> dict[str, Any]:
    a = place.address
    codes = CATEGORIES[place.category]
    lat, lng = place.lat, place.lng
    d = 0.0013
    full: dict[str, Any] = {"name": f"places/{place.place_id}", "id": place.place_id, "types": list(codes.google_types)}
    components = [
        ({"longText": a.house_number, "shortText": a.house_number, "types": ["street_number"], "languageCode": "en"} if a.house_number else None),
        {"longText": a.street, "shortText": a.street, "types": ["route"], "languageCode": "en"},
        {"longText": a.city, "shortText": a.city, "types": ["postal_town"], "languageCode": "en"},
        {"longText": a.country, "shortText": a.country_code2, "types": ["country", "political"], "languageCode": "en"},
        {"longText": a.postcode, "shortText": a.postcode, "types": ["postal_code"], "languageCode": "en"},
    ]
    full.update(
        {
            "formattedAddress": _formatted(place),
            "addressComponents": [c for c in components if c],
            "location": {"latitude": lat, "longitude": lng},
            "viewport": {"low": {"latitude": round(lat - d, 7), "longitude": round(lng - d, 7)}, "high": {"latitude": round(lat + d, 7), "longitude": round(lng + d, 7)}},
            "rating": place.rating,
            "googleMapsUri": f"https://maps.google.com/?cid={_cid(place)}",
            "businessStatus": "OPERATIONAL",
            "userRatingCount": place.rating_count,
            "displayName": {"text": place.name, "languageCode": "en"},
            "primaryType": codes.google_primary,
            "primaryTypeDisplayName": {"text": codes.google_primary.replace("_", " ").title(), "languageCode": "en"},
            "shortFormattedAddress": f"{a.line1}, {a.city}",
        }
    )
    if ("*" in mask or "photos" in mask) and place.photos:
        photos = []
        for p in place.photos:
            ref = _tokens(ctx).issue(p, ctx.sandbox.next_nonce(), new_api=True)
            photos.append(
                {
                    "name": f"places/{place.place_id}/photos/{ref}",
                    "widthPx": p.width,
                    "heightPx": p.height,
                    "authorAttributions": [{"displayName": p.author, "uri": p.author_uri, "photoUri": f"//lh3.googleusercontent.com/a-/{p.key[:20]}=s100-p-k-no-mo"}],
                    "flagContentUri": f"https://www.google.com/local/imagery/report/?cb_client=maps_api_places&image_key=!1e10!2s{ref[:24]}",
                    "googleMapsUri": f"https://www.google.com/maps/place//data=!3m4!1e2!3m2!1s{ref[:24]}!2e10",
                }
            )
        full["photos"] = photos
    if "*" in mask:
        return full
    return {k: v for k, v in full.items() if k in mask}


def _mask_error() -> httpx.Response:
    return error_response(NEW, 400, GOOGLE_HELP_FIELD_MASK)


def search_text(ctx: Ctx) -> httpx.Response:
    mask = _field_mask(ctx, "places.")
    if mask is None:
        return _mask_error()
    try:
        body = ctx.json_body()
    except ValueError:
        return error_response(NEW, 400, "Invalid JSON payload received.")
    if not isinstance(body, dict) or not str(body.get("textQuery") or "").strip():
        return error_response(NEW, 400, "Empty text_query is not allowed.")
    # searchText documents pageSize; maxResultCount is deprecated and ignored when pageSize is given.
    # 0 or absent means 20, above 20 is coerced to 20, negative is INVALID_ARGUMENT.
    name, size = ("page_size", body["pageSize"]) if "pageSize" in body else ("max_result_count", body.get("maxResultCount", 0))
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return error_response(NEW, 400, f"{name} must be a non-negative integer.")
    size = min(size or 20, 20)
    center: tuple[float, float] | None = None
    radius = 50_000.0
    circle = (body.get("locationBias") or {}).get("circle") if isinstance(body.get("locationBias"), dict) else None
    if circle is not None:
        try:
            c = circle["center"]
            center = (float(c["latitude"]), float(c["longitude"]))
            radius = float(circle.get("radius", 0.0))
        except (KeyError, TypeError, ValueError):
            return error_response(NEW, 400, "Invalid location_bias.circle.")
        if not 0.0 <= radius <= 50_000.0:
            return error_response(NEW, 400, "location_bias.circle.radius must be between 0.0 and 50000.0, inclusive.")
    hits = ctx.world.geocode(
        PROVIDER,
        body["textQuery"],
        size,
        near=center,
        max_distance_m=max(radius * 10, 50_000.0) if center else None,
        bias_radius_m=radius if center else None,
        include_addresses=False,
    )
    included = body.get("includedType")
    if included:
        hits = [h for h in hits if included in CATEGORIES[h[0].category].google_types]
    places = [_new_place(ctx, p, mask) for p, _ in hits]
    return json_response({"places": places} if places else {})


def new_details(ctx: Ctx) -> httpx.Response:
    mask = _field_mask(ctx, "")
    if mask is None:
        return _mask_error()
    place_id = ctx.match.group("id")
    if not place_id.startswith("ChIJ"):
        return error_response(NEW, 400, f"Not a valid Place ID: {place_id}")
    place = ctx.world.place(PROVIDER, place_id)
    if place is None:
        return error_response(NEW, 404, f"Place '{place_id}' not found.")
    return json_response(_new_place(ctx, place, mask))


def _new_photo_key(ctx: Ctx) -> str | None:
    key = _tokens(ctx).resolve(ctx.match.group("ref"), new_api=True)
    return f"photo:{key}:{ctx.param('maxWidthPx')}x{ctx.param('maxHeightPx')}:{ctx.param('skipHttpRedirect')}" if key else None


def new_photo_media(ctx: Ctx) -> httpx.Response:
    limits = _size_limits(ctx, "maxWidthPx", "maxHeightPx", 4800)
    if isinstance(limits, str):
        return error_response(NEW, 400, limits)
    key = _tokens(ctx).resolve(ctx.match.group("ref"), new_api=True)
    photo = ctx.world.photo_by_key(PROVIDER, key) if key else None
    if photo is None or photo.place_id != ctx.match.group("id"):
        return error_response(NEW, 400, "The photo resource in the request is invalid. Please make sure the photo resource name is valid.")
    w, h = fit_within(photo.width, photo.height, *limits)
    uri = f"https://{GOOGLE_PHOTO_HOST}/place-photos/{photo.token}=s4800-w{w}-h{h}"
    if (ctx.param("skipHttpRedirect") or "").lower() == "true":
        name = f"places/{ctx.match.group('id')}/photos/{ctx.match.group('ref')}/media"
        return json_response({"name": name, "photoUri": uri})
    return httpx.Response(302, headers={"location": uri, "content-length": "0"})


# ---- lh3 photo host ---------------------------------------------------------------------------------
_SPEC = re.compile(r"(?P<k>[swh])(?P<v>\d+)")


def lh3(ctx: Ctx) -> httpx.Response:
    photo = ctx.world.photo_by_token(PROVIDER, ctx.match.group("token"))
    if photo is None:
        return error_response("host", 404, "Not Found")
    w, h = photo.width, photo.height
    limits: dict[str, int] = {}
    for part in (ctx.match.group("spec") or "").split("-"):
        m = _SPEC.fullmatch(part)
        if m:
            limits[m.group("k")] = int(m.group("v"))
    if "s" in limits:
        w, h = fit_within(w, h, limits["s"], limits["s"])
    w, h = fit_within(w, h, limits.get("w"), limits.get("h"))
    body = render_photo(f"google:{photo.key}", w, h, photo.fmt)
    return httpx.Response(200, content=body, headers={"content-type": CONTENT_TYPES[photo.fmt], "cache-control": "public, max-age=86400, no-transform"})


def _legacy(path: str, kind: str, handler: Callable[[Ctx], httpx.Response], empty: dict[str, Any]) -> Route:
    return route(LEGACY_HOST, "GET", rf"^/maps/api/place/{path}/json$", PROVIDER, kind, LEGACY, handler, _legacy_auth, error_extra=empty)


ROUTES: list[Route] = [
    _legacy("findplacefromtext", "geocode", findplace, {"candidates": []}),
    _legacy("nearbysearch", "search", nearbysearch, {"html_attributions": [], "results": []}),
    _legacy("textsearch", "search", textsearch, {"html_attributions": [], "results": []}),
    _legacy("details", "details", details, {"html_attributions": []}),
    route(LEGACY_HOST, "GET", r"^/maps/api/place/photo$", PROVIDER, "photo_media", "google_photo", legacy_photo, _legacy_photo_auth, _legacy_photo_key),
    route(NEW_HOST, "POST", r"^/v1/places:searchText$", PROVIDER, "search", NEW, search_text, _new_auth),
    route(NEW_HOST, "GET", r"^/v1/places/(?P<id>[A-Za-z0-9_-]+)/photos/(?P<ref>[A-Za-z0-9_-]+)/media$", PROVIDER, "photo_media", NEW, new_photo_media, _new_auth, _new_photo_key),
    route(NEW_HOST, "GET", r"^/v1/places/(?P<id>[A-Za-z0-9_-]+)$", PROVIDER, "details", NEW, new_details, _new_auth),
    route(GOOGLE_PHOTO_HOST, "GET", r"^/(?:places|place-photos)/(?P<token>[A-Za-z0-9_-]+)(?:=(?P<spec>[a-z0-9-]+))?$", PROVIDER, "photo_download", "host", lh3),
]
HOSTS: dict[str, str] = {LEGACY_HOST: LEGACY, NEW_HOST: NEW, GOOGLE_PHOTO_HOST: "host"}
