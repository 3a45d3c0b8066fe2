"""Google Places in the sandbox: the legacy web service, Places API (New) and the lh3 photo host.

The legacy and New endpoints live in routes_google_legacy and routes_google_new (sharing routes_google_common
and the rotating photo tokens of google_photo_tokens); this module answers the lh3 photo host and lists the routes.
"""

from __future__ import annotations

import re

import httpx

from venue_pipeline.sandbox import routes_google_legacy, routes_google_new
from venue_pipeline.sandbox.images import CONTENT_TYPES, fit_within, render_photo
from venue_pipeline.sandbox.routes_common import Ctx, Route, error_response, route
from venue_pipeline.sandbox.routes_google_common import LEGACY, LEGACY_HOST, NEW, NEW_HOST, PROVIDER
from venue_pipeline.sandbox.world_photos import GOOGLE_PHOTO_HOST

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


ROUTES: list[Route] = [
    *routes_google_legacy.ROUTES,
    *routes_google_new.ROUTES,
    route(GOOGLE_PHOTO_HOST, "GET", r"^/(?:places|place-photos)/(?P<token>[A-Za-z0-9_-]+)(?:=(?P<spec>[a-z0-9-]+))?$", PROVIDER, "photo_download", "host", lh3),
]
HOSTS: dict[str, str] = {LEGACY_HOST: LEGACY, NEW_HOST: NEW, GOOGLE_PHOTO_HOST: "host"}
