"""Google Places: the Places API (New) by default, or the legacy web service; keys only at request time."""

from __future__ import annotations

import hashlib
import re
from typing import Any, ClassVar, Mapping
from urllib.parse import quote

import httpx

from venue_pipeline.core.errors import ErrorType, ProviderError
from venue_pipeline.core.ports import PhotoRef, Place
from venue_pipeline.providers import google_errors
from venue_pipeline.providers.coords import lat_lng
from venue_pipeline.providers.http import (
    HttpProviderClient,
    as_dict,
    as_float,
    as_int,
    as_list,
    as_str,
)

NEW_BASE_URL = "https://places.googleapis.com/v1"
# SKUs (docs/providers.md, "Google SKUs per call"): the Places API (New) bills each request at the tier of the
# most expensive field in its field mask (Essentials IDs Only < Essentials < Pro < Enterprise).
NEW_TEXT_SEARCH_URL = f"{NEW_BASE_URL}/places:searchText"
# SKU: Text Search Pro. displayName, formattedAddress, location, types and addressComponents are what the matcher
# scores (core/matching.py) and each is a Pro field of Text Search; without them only "IDs Only" (id) is cheaper,
# and an ID alone cannot be matched. Nothing Enterprise (rating, phone, hours) or Atmosphere is asked.
NEW_SEARCH_FIELD_MASK = (
    "places.id,places.displayName,places.formattedAddress,places.location,"
    "places.types,places.addressComponents"
)
# SKU: Place Details Essentials (IDs Only): id and photos are both IDs-Only fields of Place Details (New), the
# cheapest Details tier; adding any address, name or contact field would raise the whole call to its tier.
NEW_PHOTOS_FIELD_MASK = "id,photos"
NEW_MAX_PHOTO_PX = 4800

LEGACY_BASE_URL = "https://maps.googleapis.com/maps/api/place"
LEGACY_NEARBY_URL = f"{LEGACY_BASE_URL}/nearbysearch/json"
LEGACY_FIND_PLACE_URL = f"{LEGACY_BASE_URL}/findplacefromtext/json"
LEGACY_DETAILS_URL = f"{LEGACY_BASE_URL}/details/json"
LEGACY_PHOTO_URL = f"{LEGACY_BASE_URL}/photo"
# SKUs (legacy web service, the 'legacy' api option): Nearby Search answers every field, so it is billed Nearby
# Search plus the Contact and Atmosphere data SKUs; Find Place with these Basic-data fields is billed Find Place
# only; Details with fields=photos (Basic data) is billed Place Details only; a photo is Places Photo.
LEGACY_FIND_FIELDS = "place_id,name,formatted_address,geometry,types"
LEGACY_MAX_PHOTO_PX = 1600

SEARCH_LIMIT = 10
GEOCODE_BIAS_RADIUS_M = 5000
MAX_BIAS_RADIUS_M = 50000
MAX_PHOTOS = 10
# List prices per call, USD: Google's per-1,000-request prices / 1,000 (Text/Nearby Search $32, Find Place and
# Details $17, Place Photo $7; https://developers.google.com/maps/billing-and-pricing/pricing). Check there.
# The ledger charges "details" $17 under both api options: that is the legacy Details price and an upper bound for
# the New IDs-Only Details call (docs/providers.md says why it is not lowered here).
DEFAULT_COSTS: dict[str, float] = {
    "text_search": 0.032,
    "nearby_search": 0.032,
    "find_place": 0.017,
    "details": 0.017,
    "photo": 0.007,
}
PHOTO_HOSTS = frozenset(
    {
        "maps.googleapis.com",
        "places.googleapis.com",
        "lh3.googleusercontent.com",
        "lh4.googleusercontent.com",
        "lh5.googleusercontent.com",
        "lh6.googleusercontent.com",
    }
)
# The endpoint kind (ledger and cost key) each ID lookup calls, per API flavour: legacy geocodes with
# Find Place and searches with Nearby Search; New does both with Text Search.
ASK_ENDPOINTS: dict[str, dict[str, str]] = {
    "new": {"search": "text_search", "geocode": "text_search"},
    "legacy": {"search": "nearby_search", "geocode": "find_place"},
}


def ask_endpoint(api: str, method: str) -> str:
    """The endpoint kind `geocode` or `search` really calls under `api` ('new' or 'legacy')."""
    return ASK_ENDPOINTS[api][method]


_PLACE_TYPES = frozenset({"establishment", "point_of_interest"})
_NEW_PHOTO_NAME = re.compile(r"^places/[^/?#]+/photos/[^/?#]+$")


class GooglePlacesClient(HttpProviderClient):
    """Google Places: text search near a point, place photos, and key-bearing photo downloads."""

    name: ClassVar[str] = "google_places"
    supports_photos: ClassVar[bool] = True
    photo_hosts: ClassVar[frozenset[str]] = PHOTO_HOSTS
    default_costs: ClassVar[Mapping[str, float]] = DEFAULT_COSTS

    # -- Google's error forms (providers/google_errors.py) -------------------------------------
    def payload_error_type(self, payload: Any) -> tuple[str, ErrorType] | None:
        """Legacy web services answer HTTP 200 with the error in "status" (OVER_QUERY_LIMIT, REQUEST_DENIED...)."""
        return google_errors.legacy_status_error_type(payload)

    def status_error_type(self, payload: Any) -> ErrorType | None:
        """Places API (New) errors: the RPC status, or auth_error when an ErrorInfo reason refuses the key."""
        return google_errors.rpc_error_type(payload)

    @property
    def api(self) -> str:
        """'new' (Places API New) or 'legacy', from settings.options['api']."""
        api = self.settings.options.get("api", "new")
        if api not in ("new", "legacy"):
            raise ValueError(f"google_places api must be 'new' or 'legacy', not {api!r}")
        return api

    # -- geocode / search ---------------------------------------------------------------------
    async def geocode(
        self, query: str, *, near: tuple[float, float] | None = None, locality: str | None = None
    ) -> list[Place]:
        # locality is ignored: the query already carries the address, postcode and country
        if not query.strip():
            return []
        if self.api == "new":
            bias = (near[0], near[1], GEOCODE_BIAS_RADIUS_M) if near else None
            return await self._new_text_search(query, bias)
        params: dict[str, Any] = {
            "input": query,
            "inputtype": "textquery",
            "fields": LEGACY_FIND_FIELDS,
            "key": self._api_key(),
        }
        if near is not None:
            params["locationbias"] = f"circle:{GEOCODE_BIAS_RADIUS_M}@{near[0]},{near[1]}"
        # SKU: Find Place (legacy), Basic data fields only (LEGACY_FIND_FIELDS)
        payload = await self._call(ask_endpoint("legacy", "geocode"), "GET", LEGACY_FIND_PLACE_URL, params=params)
        return _parse_legacy_places(self._object(payload, "find_place"), "candidates")

    async def search(self, name: str, lat: float, lng: float, *, radius_m: int = 250) -> list[Place]:
        if not name.strip():
            return []
        if self.api == "new":
            return await self._new_text_search(name, (lat, lng, radius_m))
        params = {
            "location": lat_lng(lat, lng),
            "radius": min(int(radius_m), MAX_BIAS_RADIUS_M),
            "keyword": name,
            "key": self._api_key(),
        }
        # SKU: Nearby Search (legacy) + Contact Data + Atmosphere Data: it has no fields parameter
        payload = await self._call(ask_endpoint("legacy", "search"), "GET", LEGACY_NEARBY_URL, params=params)
        return _parse_legacy_places(self._object(payload, "nearby_search"), "results")

    async def _new_text_search(
        self, text: str, bias: tuple[float, float, float] | None
    ) -> list[Place]:
        # pageSize: maxResultCount is deprecated for searchText ("Deprecated: Use page_size instead",
        # https://developers.google.com/maps/documentation/places/web-service/reference/rest/v1/places/searchText)
        body: dict[str, Any] = {"textQuery": text, "pageSize": SEARCH_LIMIT}
        if bias is not None:
            lat, lng, radius = bias
            body["locationBias"] = {
                "circle": {
                    "center": {"latitude": lat, "longitude": lng},
                    "radius": float(min(radius, MAX_BIAS_RADIUS_M)),
                }
            }
        headers = {  # SKU: Text Search Pro (NEW_SEARCH_FIELD_MASK)
            "X-Goog-Api-Key": self._api_key(),
            "X-Goog-FieldMask": NEW_SEARCH_FIELD_MASK,
            "Content-Type": "application/json",
        }
        payload = await self._call("text_search", "POST", NEW_TEXT_SEARCH_URL, headers=headers, json=body)
        places = as_list(self._object(payload, "text_search").get("places"))
        return [p for p in (_parse_new_place(as_dict(x)) for x in places) if p is not None]

    # -- photos -------------------------------------------------------------------------------
    async def photos(self, place_id: str) -> list[PhotoRef]:
        if self.api == "new":
            # SKU: Place Details Essentials (IDs Only) (NEW_PHOTOS_FIELD_MASK)
            headers = {"X-Goog-Api-Key": self._api_key(), "X-Goog-FieldMask": NEW_PHOTOS_FIELD_MASK}
            url = f"{NEW_BASE_URL}/places/{quote(place_id, safe='')}"
            payload = await self._call("details", "GET", url, headers=headers)
            raw = as_list(self._object(payload, "details").get("photos"))
            return _parse_new_photos(place_id, raw[:MAX_PHOTOS])
        # SKU: Place Details (legacy), Basic data only (photos)
        params = {"place_id": place_id, "fields": "photos", "key": self._api_key()}
        payload = await self._call("details", "GET", LEGACY_DETAILS_URL, params=params)
        raw = as_list(as_dict(self._object(payload, "details").get("result")).get("photos"))
        return _parse_legacy_photos(place_id, raw[:MAX_PHOTOS])

    def photo_request(self, ref: PhotoRef, *, max_px: int = 1600) -> httpx.Request:
        """The media request with the key added now; the stored reference never holds it.

        The API of the reference decides the URL (a New photo name starts with places/), so
        references stored under one api setting still download after switching.
        """
        key = self._api_key()
        if ref.reference.startswith("places/"):
            if not _NEW_PHOTO_NAME.match(ref.reference):
                raise ProviderError(
                    ErrorType.BAD_REQUEST, "not a Places API photo name", target=self.name
                )
            # SKU: Place Details Photos (New), one per stored photo downloaded: discovery stores only what fits
            # under the gallery caps (store/images.py), and only stored images are ever downloaded
            width = max(1, min(int(max_px), NEW_MAX_PHOTO_PX))
            return httpx.Request(
                "GET",
                f"{NEW_BASE_URL}/{ref.reference}/media",
                params={"maxWidthPx": width, "key": key},
            )
        width = max(1, min(int(max_px), LEGACY_MAX_PHOTO_PX))  # SKU: Places Photo (legacy)
        return httpx.Request(
            "GET",
            LEGACY_PHOTO_URL,
            params={"maxwidth": width, "photo_reference": ref.reference, "key": key},
        )

    def _object(self, payload: Any, kind: str) -> Mapping[str, Any]:
        if not isinstance(payload, Mapping):
            raise self._malformed(kind, "expected a JSON object")
        return payload


def stable_photo_key(place_id: str, width: int | None, height: int | None, author: str | None) -> str:
    """A photo key that survives Google's rotating references.

    Google's photo_reference (legacy) and photo name (New) change between calls for the same
    photo, so keying on them would make every re-discovery look like new photos and store duplicates.
    What stays put is the place, the pixel size and the contributing author, so the
    key is a short sha1 of those.
    """
    raw = f"{place_id}|{width or ''}|{height or ''}|{author or ''}"
    return hashlib.sha1(raw.encode("utf-8")).hexdigest()[:16]


def _keyed(place_id: str, signatures: list[tuple[int | None, int | None, str | None]]) -> list[str]:
    """Stable keys; photos that share a signature get an ordinal so none is collapsed into another."""
    counts: dict[str, int] = {}
    keys = []
    for width, height, author in signatures:
        base = stable_photo_key(place_id, width, height, author)
        n = counts.get(base, 0)
        counts[base] = n + 1
        keys.append(base if n == 0 else f"{base}-{n}")
    return keys


def _parse_new_photos(place_id: str, photos: list[Any]) -> list[PhotoRef]:
    """photos[]: {name, widthPx, heightPx, authorAttributions[{displayName, uri}]}."""
    rows = []
    for photo in map(as_dict, photos):
        name = as_str(photo.get("name"))
        if not name or not _NEW_PHOTO_NAME.match(name):
            continue
        authors = [as_dict(a) for a in as_list(photo.get("authorAttributions"))]
        first = authors[0] if authors else {}
        author = "|".join(filter(None, (as_str(first.get("displayName")), as_str(first.get("uri")))))
        names = [n for n in (as_str(a.get("displayName")) for a in authors) if n]
        rows.append((name, as_int(photo.get("widthPx")), as_int(photo.get("heightPx")), author, names))
    keys = _keyed(place_id, [(w, h, a) for _, w, h, a, _ in rows])
    return [
        PhotoRef(
            provider="google_places",
            photo_key=key,
            reference=name,
            width=w,
            height=h,
            attribution=" | ".join(names) or None,
        )
        for key, (name, w, h, _, names) in zip(keys, rows)
    ]


def _parse_legacy_photos(place_id: str, photos: list[Any]) -> list[PhotoRef]:
    """photos[]: {photo_reference, width, height, html_attributions[]}."""
    rows = []
    for photo in map(as_dict, photos):
        ref = as_str(photo.get("photo_reference"))
        if not ref:
            continue
        attributions = [a for a in (as_str(x) for x in as_list(photo.get("html_attributions"))) if a]
        rows.append(
            (ref, as_int(photo.get("width")), as_int(photo.get("height")), attributions)
        )
    keys = _keyed(place_id, [(w, h, a[0] if a else None) for _, w, h, a in rows])
    return [
        PhotoRef(
            provider="google_places",
            photo_key=key,
            reference=ref,
            width=w,
            height=h,
            attribution=" | ".join(attrs) or None,
        )
        for key, (ref, w, h, attrs) in zip(keys, rows)
    ]


def _result_type(types: tuple[str, ...]) -> str | None:
    """'place' for businesses and POIs, else Google's first type (street_address, route...)."""
    if _PLACE_TYPES & set(types):
        return "place"
    return types[0] if types else None


def _components(raw: list[Any], long_key: str) -> dict[str, str]:
    """address component type -> long name (first one wins)."""
    out: dict[str, str] = {}
    for comp in map(as_dict, raw):
        text = as_str(comp.get(long_key))
        for t in as_list(comp.get("types")):
            if text and isinstance(t, str):
                out.setdefault(t, text)
    return out


def _parse_new_place(item: Mapping[str, Any]) -> Place | None:
    place_id = as_str(item.get("id"))
    if place_id is None:
        return None
    location = as_dict(item.get("location"))
    types = tuple(t for t in as_list(item.get("types")) if isinstance(t, str))
    comps = _components(as_list(item.get("addressComponents")), "longText")
    return Place(
        provider="google_places",
        place_id=place_id,
        name=as_str(as_dict(item.get("displayName")).get("text")) or "",
        lat=as_float(location.get("latitude")),
        lng=as_float(location.get("longitude")),
        address=as_str(item.get("formattedAddress")),
        house_number=comps.get("street_number"),
        street=comps.get("route"),
        postcode=comps.get("postal_code"),
        city=comps.get("locality") or comps.get("postal_town") or comps.get("administrative_area_level_2"),
        categories=types,
        result_type=_result_type(types),
    )


def _parse_legacy_places(payload: Mapping[str, Any], list_key: str) -> list[Place]:
    """results[] (nearby/text search) or candidates[] (find place); ZERO_RESULTS has none."""
    places = []
    for item in map(as_dict, as_list(payload.get(list_key))):
        place_id = as_str(item.get("place_id"))
        if place_id is None:
            continue
        location = as_dict(as_dict(item.get("geometry")).get("location"))
        types = tuple(t for t in as_list(item.get("types")) if isinstance(t, str))
        comps = _components(as_list(item.get("address_components")), "long_name")
        places.append(
            Place(
                provider="google_places",
                place_id=place_id,
                name=as_str(item.get("name")) or "",
                lat=as_float(location.get("lat")),
                lng=as_float(location.get("lng")),
                address=as_str(item.get("formatted_address")) or as_str(item.get("vicinity")),
                house_number=comps.get("street_number"),
                street=comps.get("route"),
                postcode=comps.get("postal_code"),
                city=comps.get("locality") or comps.get("postal_town"),
                categories=types,
                result_type=_result_type(types),
            )
        )
    return places
