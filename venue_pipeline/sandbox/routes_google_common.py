"""What Google's legacy and New (v1) simulated endpoints share: hosts, API styles, the photo tokens, address and size helpers."""

from __future__ import annotations

import hashlib

from venue_pipeline.sandbox.google_photo_tokens import PhotoTokens
from venue_pipeline.sandbox.routes_common import Ctx, parse_int
from venue_pipeline.sandbox.world import SimPlace

LEGACY = "google_legacy"
NEW = "google_new"
PROVIDER = "google_places"
LEGACY_HOST = "maps.googleapis.com"
NEW_HOST = "places.googleapis.com"


def tokens(ctx: Ctx) -> PhotoTokens:
    """The sandbox's photo-token issuer (one per sandbox, keyed by its seed)."""
    return ctx.sandbox.google_tokens


def cid(place: SimPlace) -> int:
    """The numeric place id of Google Maps URLs (?cid=...)."""
    return int(hashlib.sha256(place.place_id.encode()).hexdigest()[:15], 16)


def formatted_address(place: SimPlace) -> str:
    """The one-line address Google shows ("7 Market Hill, Sudbury CO10 2EA, UK")."""
    a = place.address
    country = "UK" if a.country_code2 == "GB" else a.country
    return f"{a.line1}, {a.city} {a.postcode}, {country}"


def size_limits(ctx: Ctx, wname: str, hname: str, maximum: int) -> tuple[int | None, int | None] | str:
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
