"""Google Places API (New), places.googleapis.com/v1: searchText, place details and photo media, with field masks."""

from __future__ import annotations

from typing import Any

import httpx

from venue_pipeline.sandbox.categories import CATEGORIES
from venue_pipeline.sandbox.images import fit_within
from venue_pipeline.sandbox.routes_common import GOOGLE_HELP_FIELD_MASK, Ctx, Route, error_response, invalid_key, json_response, route
from venue_pipeline.sandbox.routes_google_common import NEW, NEW_HOST, PROVIDER, cid, formatted_address, size_limits, tokens
from venue_pipeline.sandbox.world import SimPlace
from venue_pipeline.sandbox.world_photos import GOOGLE_PHOTO_HOST


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
            "formattedAddress": formatted_address(place),
            "addressComponents": [c for c in components if c],
            "location": {"latitude": lat, "longitude": lng},
            "viewport": {"low": {"latitude": round(lat - d, 7), "longitude": round(lng - d, 7)}, "high": {"latitude": round(lat + d, 7), "longitude": round(lng + d, 7)}},
            "rating": place.rating,
            "googleMapsUri": f"https://maps.google.com/?cid={cid(place)}",
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
            ref = tokens(ctx).issue(p, ctx.sandbox.next_nonce(), new_api=True)
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
    key = tokens(ctx).resolve(ctx.match.group("ref"), new_api=True)
    return f"photo:{key}:{ctx.param('maxWidthPx')}x{ctx.param('maxHeightPx')}:{ctx.param('skipHttpRedirect')}" if key else None


def new_photo_media(ctx: Ctx) -> httpx.Response:
    limits = size_limits(ctx, "maxWidthPx", "maxHeightPx", 4800)
    if isinstance(limits, str):
        return error_response(NEW, 400, limits)
    key = tokens(ctx).resolve(ctx.match.group("ref"), new_api=True)
    photo = ctx.world.photo_by_key(PROVIDER, key) if key else None
    if photo is None or photo.place_id != ctx.match.group("id"):
        return error_response(NEW, 400, "The photo resource in the request is invalid. Please make sure the photo resource name is valid.")
    w, h = fit_within(photo.width, photo.height, *limits)
    uri = f"https://{GOOGLE_PHOTO_HOST}/place-photos/{photo.token}=s4800-w{w}-h{h}"
    if (ctx.param("skipHttpRedirect") or "").lower() == "true":
        name = f"places/{ctx.match.group('id')}/photos/{ctx.match.group('ref')}/media"
        return json_response({"name": name, "photoUri": uri})
    return httpx.Response(302, headers={"location": uri, "content-length": "0"})


ROUTES: list[Route] = [
    route(NEW_HOST, "POST", r"^/v1/places:searchText$", PROVIDER, "search", NEW, search_text, _new_auth),
    route(NEW_HOST, "GET", r"^/v1/places/(?P<id>[A-Za-z0-9_-]+)/photos/(?P<ref>[A-Za-z0-9_-]+)/media$", PROVIDER, "photo_media", NEW, new_photo_media, _new_auth, _new_photo_key),
    route(NEW_HOST, "GET", r"^/v1/places/(?P<id>[A-Za-z0-9_-]+)$", PROVIDER, "details", NEW, new_details, _new_auth),
]
