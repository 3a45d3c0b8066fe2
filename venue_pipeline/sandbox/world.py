"""The simulated world: what each provider knows about each venue, derived from hashes of the seed."""

from __future__ import annotations

import base64
import hashlib
import math
import random
import re
import struct
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Iterable, Sequence

from rapidfuzz import fuzz, process
from rapidfuzz.utils import default_process

from venue_pipeline.core.venue import Venue
from venue_pipeline.sandbox.faults import FaultConfig

PROVIDERS: tuple[str, ...] = ("here", "geoapify", "foursquare", "google_places")
# HERE Geocoding & Search v7 has no photos, so the simulated HERE has none either.
PHOTO_PROVIDERS: tuple[str, ...] = ("foursquare", "google_places")
GEOCODING_PROVIDERS: frozenset[str] = frozenset({"here", "geoapify"})

FOURSQUARE_PHOTO_HOST = "fastly.4sqi.net"
GOOGLE_PHOTO_HOST = "lh3.googleusercontent.com"

PHOTO_DIMENSIONS: tuple[tuple[int, int], ...] = (
    (4032, 3024),
    (3024, 4032),
    (1920, 1080),
    (1080, 1350),
    (1600, 1200),
    (1440, 1080),
    (800, 600),
    (640, 640),
    (1080, 1080),
    (300, 200),
)
_DIMENSION_WEIGHTS = (14, 6, 12, 8, 8, 6, 6, 5, 4, 3)

FSQ_CLASSIFICATIONS = (
    "food_or_drink",
    "indoor_or_ambience",
    "outdoor_or_storefront",
    "menu",
    "outdoor_building_exterior",
    "indoor_general",
    "product",
    "logos",
)
_AUTHORS = (
    "Sarah Mitchell",
    "James O'Connor",
    "Priya Patel",
    "Tom Hughes",
    "Emma Clarke",
    "Dave Robinson",
    "Lucy Evans",
    "Mohammed Ali",
    "Chris Walker",
    "Hannah Wright",
    "Local Guide",
    "Gary Thompson",
)

_COUNTRIES: dict[str, tuple[str, str, str]] = {
    # lower-cased input -> (display name, alpha-2, alpha-3)
    "united kingdom": ("United Kingdom", "GB", "GBR"),
    "uk": ("United Kingdom", "GB", "GBR"),
    "gb": ("United Kingdom", "GB", "GBR"),
    "gbr": ("United Kingdom", "GB", "GBR"),
    "england": ("United Kingdom", "GB", "GBR"),
    "scotland": ("United Kingdom", "GB", "GBR"),
    "wales": ("United Kingdom", "GB", "GBR"),
    "ireland": ("Ireland", "IE", "IRL"),
    "ie": ("Ireland", "IE", "IRL"),
    "united states": ("United States", "US", "USA"),
    "usa": ("United States", "US", "USA"),
    "us": ("United States", "US", "USA"),
    "germany": ("Germany", "DE", "DEU"),
    "de": ("Germany", "DE", "DEU"),
    "france": ("France", "FR", "FRA"),
    "fr": ("France", "FR", "FRA"),
}

_APOSTROPHES = re.compile(r"['\u2018\u2019`\u00b4]")
_AMPERSAND = re.compile(r"\s*&\s*")


def normalise_text(text: str) -> str:
    """Fold case and punctuation as providers do: "Coachmaker's" matches "Coachmakers", "&" matches "and"."""
    return default_process(_AMPERSAND.sub(" and ", _APOSTROPHES.sub("", text)))


_STREET_WORDS = ("Street", "Road", "Lane", "Hill", "Square", "Row", "Place", "Way", "Green", "Parade")
_STREET_NAMES = ("High", "Church", "Market", "Station", "Mill", "Bridge", "King", "Queen", "North", "London")


# ------------------------------------------------------------------------------------------------
# hashing helpers: every property comes from (seed, provider, slug, purpose), never from order
# ------------------------------------------------------------------------------------------------
def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()


def _rng(*parts: object) -> random.Random:
    return random.Random(int.from_bytes(_digest(*parts), "big"))


def _unit(*parts: object) -> float:
    return int.from_bytes(_digest(*parts)[:8], "big") / 2**64


def _hex(n: int, *parts: object) -> str:
    out = ""
    i = 0
    while len(out) < n:
        out += _digest(*parts, i).hex()
        i += 1
    return out[:n]


def _b64(n: int, *parts: object) -> str:
    out = ""
    i = 0
    while len(out) < n:
        out += base64.urlsafe_b64encode(_digest(*parts, i)).decode().rstrip("=")
        i += 1
    return out[:n]


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres."""
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(a)))


def offset_point(lat: float, lng: float, distance_m: float, bearing_deg: float) -> tuple[float, float]:
    """A point `distance_m` from (lat, lng) on a bearing (flat-earth; fine below a few km)."""
    b = math.radians(bearing_deg)
    dlat = distance_m * math.cos(b) / 111_320.0
    dlng = distance_m * math.sin(b) / (111_320.0 * max(0.01, math.cos(math.radians(lat))))
    return round(lat + dlat, 7), round(lng + dlng, 7)


# ------------------------------------------------------------------------------------------------
# data model
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SandboxConfig:
    """Knobs of the simulated world: seed, per-provider coverage, distractors, faults."""

    seed: int = 7
    coverage: dict[str, float] = field(
        default_factory=lambda: {"here": 0.9, "geoapify": 0.9, "foursquare": 0.85, "google_places": 0.9}
    )
    distractors: float = 1.0
    faults: FaultConfig = field(default_factory=FaultConfig.none)


@dataclass(frozen=True)
class SimAddress:
    """A postal address in the parts every provider's address shape is built from."""

    house_number: str | None
    street: str
    postcode: str
    city: str
    county: str | None
    state: str | None
    country: str
    country_code2: str
    country_code3: str

    @property
    def line1(self) -> str:
        return f"{self.house_number} {self.street}" if self.house_number else self.street


@dataclass(frozen=True)
class SimPhoto:
    """One provider photo: stable key, host token, real dimensions, attribution."""

    provider: str
    key: str
    place_id: str
    token: str
    width: int
    height: int
    fmt: str
    created_at: str
    classifications: tuple[str, ...] = ()
    author: str | None = None
    author_uri: str | None = None


@dataclass(frozen=True)
class SimPlace:
    """A place as one provider holds it: the venue itself, a distractor, or an address record."""

    provider: str
    place_id: str
    name: str
    lat: float
    lng: float
    address: SimAddress
    category: str
    venue_id: int | None = None
    distractor_of: int | None = None
    photos: tuple[SimPhoto, ...] = ()
    rating: float = 4.2
    rating_count: int = 100
    result_type: str = "place"

    @property
    def is_address(self) -> bool:
        return self.result_type != "place"


# ------------------------------------------------------------------------------------------------
# provider ID formats
# ------------------------------------------------------------------------------------------------
_TILE_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _here_id(*parts: object) -> str:
    d = _digest(*parts, "tile")
    tile = "".join(_TILE_ALPHABET[b % 36] for b in d[:8])
    return f"here:pds:place:{tile}-{_hex(32, *parts, 'id')}"


def _google_id(*parts: object) -> str:
    return "ChIJ" + _b64(23, *parts)


def _foursquare_id(*parts: object) -> str:
    return _hex(24, *parts)


def _geoapify_id(lat: float, lng: float, name: str, *parts: object) -> str:
    """Geoapify-like: lon/lat doubles, an OSM-ish id and the name in hex, as real IDs appear to hold."""
    name_bytes = name.encode()[:26]
    return (
        "51"
        + struct.pack("<d", lng).hex()
        + "59"
        + struct.pack("<d", lat).hex()
        + "f00103f9"
        + _hex(16, *parts)
        + "92"
        + "03"
        + f"{len(name_bytes):02x}"
        + name_bytes.hex()
    )


def make_place_id(provider: str, lat: float, lng: float, name: str, *parts: object) -> str:
    """A provider-realistic place ID from hash parts."""
    if provider == "here":
        return _here_id(provider, *parts)
    if provider == "google_places":
        return _google_id(provider, *parts)
    if provider == "foursquare":
        return _foursquare_id(provider, *parts)
    if provider == "geoapify":
        return _geoapify_id(lat, lng, name, provider, *parts)
    raise ValueError(f"unknown provider {provider!r}")


# ------------------------------------------------------------------------------------------------
# name variants and distractors
# ------------------------------------------------------------------------------------------------
def _toggle_the(name: str, rng: random.Random) -> str:
    if name.lower().startswith("the "):
        return name[4:]
    return "The " + name


def _ampersand(name: str, rng: random.Random) -> str:
    if "&" in name:
        return re.sub(r"\s*&\s*", " and ", name)
    if re.search(r"\band\b", name, re.I):
        return re.sub(r"\s+and\s+", " & ", name, count=1, flags=re.I)
    return name


def _case(name: str, rng: random.Random) -> str:
    return name.upper() if rng.random() < 0.3 else name.title() if name != name.title() else name.lower().capitalize()


def _suffix(name: str, rng: random.Random) -> str:
    m = re.search(r"\s+(Inn|Pub|Bar|Tavern)$", name, re.I)
    if m:
        # "Rose Inn" may be listed as "Rose", but "New Inn" is never just "New"
        return name[: m.start()] if len(re.sub(r"(?i)^the\s+|\W", "", name[: m.start()])) >= 4 else name
    return name + rng.choice((" Pub", " Inn", " Bar"))


def _apostrophe(name: str, rng: random.Random) -> str:
    if "'" in name:
        return name.replace("'", "" if rng.random() < 0.6 else "\u2019")
    if "\u2019" in name:
        return name.replace("\u2019", "'")
    m = re.search(r"\b(\w+?)(s)\b", name)
    # a possessive, as people misspell it ("Chaucer's"), never "Cros's", "Marqui's" or "Wheatsheave's"
    plural_or_not_possessive = m is not None and m.group(1).lower().endswith(("s", "i", "u", "ve"))
    if m and len(m.group(1)) >= 3 and not plural_or_not_possessive and m.group(0).lower() not in {"arms", "this", "his", "was"}:
        return name[: m.start(2)] + "'" + name[m.start(2) :]
    return name


_VARIANT_OPS = (_toggle_the, _ampersand, _case, _suffix, _apostrophe)


def name_variant(name: str, rng: random.Random) -> str:
    """The venue's name as one provider spells it: 0-2 realistic edits."""
    k = rng.choices((0, 1, 2), weights=(40, 45, 15))[0]
    ops = rng.sample(_VARIANT_OPS, k)
    out = name
    for op in ops:
        out = op(out, rng).strip() or out
    return re.sub(r"\s+", " ", out)


def _core_name(name: str) -> str:
    core = re.sub(r"^the\s+", "", name.strip(), flags=re.I)
    core = re.sub(r"\s+(inn|pub|bar|tavern|hotel)$", "", core, flags=re.I)
    return core or name


def _name_key(name: str) -> str:
    """A name as a person compares it: case, a leading "The", punctuation and "&"/"and" ignored."""
    return re.sub(r"^the\s+", "", normalise_text(name))


def _reserved_names(v: Venue) -> frozenset[str]:
    """Name keys no distractor may take: the venue's name, its core, and the building name in its address."""
    names = [v.name, _core_name(v.name)]
    first = (v.address or "").split(",")[0].strip()
    if first and not first[:1].isdigit():
        names += [first, _core_name(first)]
    return frozenset(k for k in map(_name_key, names) if k)


_DISTRACTOR_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("The {core}", "pub"),
    ("{name} Car Park", "parking"),
    ("{core} Café", "cafe"),
    ("{core} Hotel", "hotel"),
    ("Old {core}", "pub"),
    ("{core} Fish Bar", "restaurant"),
    ("{core} Stores", "shop"),
    ("{core} Tavern", "pub"),
    ("{name} Beer Garden", "bar"),
)


def _distractor_spelling(name: str, rng: random.Random, reserved: frozenset[str]) -> str:
    """Sometimes a provider's own spelling of a distractor, but never one that turns it into the venue."""
    if rng.random() >= 0.3:
        return name
    variant = name_variant(name, rng)
    return name if _name_key(variant) in reserved else variant


# ------------------------------------------------------------------------------------------------
# the world
# ------------------------------------------------------------------------------------------------
_CELL = 0.01  # degrees; the spatial grid that keeps radius searches cheap


@dataclass
class _ProviderIndex:
    """A provider's places with a spatial grid and pre-processed texts for fuzzy matching."""

    places: dict[str, SimPlace] = field(default_factory=dict)
    grid: dict[tuple[int, int], list[SimPlace]] = field(default_factory=lambda: defaultdict(list))
    geocode_rows: list[SimPlace] = field(default_factory=list)
    geocode_texts: list[str] = field(default_factory=list)
    geocode_name_free: list[str] = field(default_factory=list)


def _cell(lat: float, lng: float) -> tuple[int, int]:
    return math.floor(lat / _CELL), math.floor(lng / _CELL)


def _place_text(place: SimPlace) -> str:
    a = place.address
    parts = [] if place.is_address else [place.name]
    parts += [a.line1, a.city, a.postcode, a.country]
    return normalise_text(", ".join(parts))


class World:
    """Every provider's view of the venues; read-only once built, so threads may share it."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.venues: dict[int, Venue] = {}
        self._index: dict[str, _ProviderIndex] = {p: _ProviderIndex() for p in PROVIDERS}
        self._truth: dict[tuple[str, int], str] = {}
        self._true_location: dict[int, tuple[float, float]] = {}
        self._photos_by_token: dict[tuple[str, str], SimPhoto] = {}
        self._photos_by_key: dict[tuple[str, str], SimPhoto] = {}

    # ---- construction ----------------------------------------------------------------------------
    @classmethod
    def build(cls, venues: Sequence[Venue], config: SandboxConfig | None = None) -> World:
        """Derive the world from venues; each venue's places depend only on (seed, provider, slug)."""
        world = cls(config or SandboxConfig())
        seed = world.config.seed
        city_points: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for v in venues:
            if v.has_coordinates:
                city_points[v.city_slug].append((float(v.lat), float(v.lng)))  # type: ignore[arg-type]
        seen_slugs: set[str] = set()
        for v in venues:
            key = v.slug if v.slug not in seen_slugs else f"{v.slug}#{v.id}"
            seen_slugs.add(v.slug)
            world.venues[v.id] = v
            loc = world._locate(v, key, city_points.get(v.city_slug, []))
            world._true_location[v.id] = loc
            address = _venue_address(v, seed, key)
            category = "pub" if _unit(seed, "category", key) < 0.8 else "bar"
            for provider in PROVIDERS:
                world._add_venue_places(provider, v, key, loc, address, category)
        for provider in PROVIDERS:
            world._finish_index(provider)
        return world

    def _locate(self, v: Venue, key: str, city_points: list[tuple[float, float]]) -> tuple[float, float]:
        """Real coordinates when known; else a deterministic point near the mean of the city's venues."""
        if v.has_coordinates:
            return float(v.lat), float(v.lng)  # type: ignore[arg-type]
        seed = self.config.seed
        if city_points:
            lat = sum(p[0] for p in city_points) / len(city_points)
            lng = sum(p[1] for p in city_points) / len(city_points)
        else:
            lat = 50.5 + 4.0 * _unit(seed, "city", v.city_slug, "lat")
            lng = -3.5 + 4.0 * _unit(seed, "city", v.city_slug, "lng")
        rng = _rng(seed, "truth", key)
        return offset_point(lat, lng, rng.uniform(100, 2000), rng.uniform(0, 360))

    def _add_venue_places(
        self, provider: str, v: Venue, key: str, loc: tuple[float, float], address: SimAddress, category: str
    ) -> None:
        seed = self.config.seed
        coverage = self.config.coverage.get(provider, 0.0)
        if _unit(seed, provider, key, "known") < coverage:
            rng = _rng(seed, provider, key, "place")
            lat, lng = offset_point(loc[0], loc[1], rng.uniform(10, 60), rng.uniform(0, 360))
            name = name_variant(v.name, rng)
            place_id = make_place_id(provider, lat, lng, name, key, "venue")
            place = SimPlace(
                provider=provider,
                place_id=place_id,
                name=name,
                lat=lat,
                lng=lng,
                address=_provider_address(address, provider, rng),
                category=category,
                venue_id=v.id,
                photos=self._make_photos(provider, place_id, (seed, provider, key, "photos"), distractor=False),
                rating=round(rng.uniform(3.4, 4.8), 1),
                rating_count=rng.randint(5, 1500),
            )
            self._add(place)
            self._truth[(provider, v.id)] = place_id
        self._add_distractors(provider, v, key, loc, address)
        if provider in GEOCODING_PROVIDERS:
            self._add_address_record(provider, v, key, loc, address)

    def _add_distractors(self, provider: str, v: Venue, key: str, loc: tuple[float, float], address: SimAddress) -> None:
        seed = self.config.seed
        mean = max(0.0, self.config.distractors)
        slots = max(3, math.ceil(2 * mean))
        drng = _rng(seed, "distractors", key)
        count = sum(drng.random() < mean / slots for _ in range(slots))
        templates = list(_DISTRACTOR_TEMPLATES)
        drng.shuffle(templates)
        core = _core_name(v.name)
        reserved = _reserved_names(v)
        made = 0
        for template, category in templates:
            if made >= count:
                break
            name = template.format(core=core, name=v.name)
            if _name_key(name) in reserved:
                continue
            i = made
            made += 1
            # the distractor exists in the world; each provider knows it with its coverage
            if _unit(seed, provider, key, "distractor", i, "known") >= self.config.coverage.get(provider, 0.0):
                continue
            wrng = _rng(seed, "distractor", key, i)
            dlat, dlng = offset_point(loc[0], loc[1], wrng.uniform(40, 300), wrng.uniform(0, 360))
            prng = _rng(seed, provider, key, "distractor", i)
            lat, lng = offset_point(dlat, dlng, prng.uniform(0, 25), prng.uniform(0, 360))
            street_rng = _rng(seed, "distractor-address", key, i)
            d_address = SimAddress(
                house_number=str(street_rng.randint(1, 140)),
                street=address.street if street_rng.random() < 0.5 else _random_street(street_rng),
                postcode=address.postcode,
                city=address.city,
                county=address.county,
                state=address.state,
                country=address.country,
                country_code2=address.country_code2,
                country_code3=address.country_code3,
            )
            place_id = make_place_id(provider, lat, lng, name, key, "distractor", i)
            self._add(
                SimPlace(
                    provider=provider,
                    place_id=place_id,
                    name=_distractor_spelling(name, prng, reserved),
                    lat=lat,
                    lng=lng,
                    address=_provider_address(d_address, provider, prng),
                    category=category,
                    distractor_of=v.id,
                    photos=self._make_photos(provider, place_id, (seed, provider, key, "distractor", i), distractor=True),
                    rating=round(prng.uniform(3.0, 4.6), 1),
                    rating_count=prng.randint(1, 400),
                )
            )

    def _add_address_record(self, provider: str, v: Venue, key: str, loc: tuple[float, float], address: SimAddress) -> None:
        """Geocoders know the venue's address even when they do not know the venue itself."""
        rng = _rng(self.config.seed, provider, key, "address")
        lat, lng = offset_point(loc[0], loc[1], rng.uniform(2, 15), rng.uniform(0, 360))
        if provider == "here":
            place_id = f"here:af:streetsection:{_b64(22, self.config.seed, provider, key, 'addr')}:CgcIBCC{_b64(12, key, 'hn')}"
        else:
            place_id = make_place_id(provider, lat, lng, address.line1, key, "address")
        self._add(
            SimPlace(
                provider=provider,
                place_id=place_id,
                name=address.line1,
                lat=lat,
                lng=lng,
                address=address,
                category="address",
                result_type="houseNumber" if address.house_number else "street",
            )
        )

    def _make_photos(self, provider: str, place_id: str, parts: tuple[object, ...], *, distractor: bool) -> tuple[SimPhoto, ...]:
        rng = _rng(*parts)
        if provider == "foursquare":
            n = rng.randint(0, 4 if distractor else 10)
        elif provider == "google_places":
            n = rng.randint(0, 4 if distractor else 10)
        else:
            n = 0
        photos = []
        base = datetime(2024, 12, 31, tzinfo=timezone.utc)
        for i in range(n):
            w, h = rng.choices(PHOTO_DIMENSIONS, weights=_DIMENSION_WEIGHTS)[0]
            created = base - timedelta(days=rng.randint(0, 3000), seconds=rng.randint(0, 86399))
            created_at = created.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            author = rng.choice(_AUTHORS)
            if provider == "foursquare":
                key = _hex(24, *parts, i)
                token = f"{rng.randint(1_000_000, 999_999_999)}_{_b64(43, *parts, i, 'tok')}"
                fmt = "jpeg"
                classes = tuple(sorted(rng.sample(FSQ_CLASSIFICATIONS, rng.randint(0, 2))))
                author_uri = None
            elif provider == "google_places":
                key = _b64(32, *parts, i)
                token = "AJQcZq" + _b64(90, *parts, i, "lh3")
                fmt = "png" if rng.random() < 0.1 else "jpeg"
                classes = ()
                author_uri = f"https://maps.google.com/maps/contrib/{rng.randint(10**20, 10**21 - 1)}"
            else:
                key = _hex(32, *parts, i)
                token = key
                fmt = "jpeg"
                classes = ()
                author_uri = None
            photo = SimPhoto(
                provider=provider,
                key=key,
                place_id=place_id,
                token=token,
                width=w,
                height=h,
                fmt=fmt,
                created_at=created_at,
                classifications=classes,
                author=author,
                author_uri=author_uri,
            )
            photos.append(photo)
            self._photos_by_token[(provider, token)] = photo
            self._photos_by_key[(provider, key)] = photo
        return tuple(photos)

    def _add(self, place: SimPlace) -> None:
        index = self._index[place.provider]
        index.places[place.place_id] = place
        index.grid[_cell(place.lat, place.lng)].append(place)

    def _finish_index(self, provider: str) -> None:
        index = self._index[provider]
        index.geocode_rows = sorted(index.places.values(), key=lambda p: p.place_id)
        index.geocode_texts = [_place_text(p) for p in index.geocode_rows]
        index.geocode_name_free = [
            normalise_text(", ".join([p.address.line1, p.address.city, p.address.postcode, p.address.country]))
            for p in index.geocode_rows
        ]

    # ---- truth API (tests and evaluation) --------------------------------------------------------
    def truth(self, provider: str, venue_id: int) -> str | None:
        """The right place_id of a venue at a provider, or None if the provider does not know it."""
        return self._truth.get((provider, venue_id))

    def is_distractor(self, provider: str, place_id: str) -> bool:
        place = self._index[provider].places.get(place_id)
        return place is not None and place.distractor_of is not None

    def places(self, provider: str, *, include_addresses: bool = False) -> list[SimPlace]:
        """A provider's places (POIs; address records only when asked), in a stable order."""
        rows = self._index[provider].geocode_rows
        return [p for p in rows if include_addresses or not p.is_address]

    def place(self, provider: str, place_id: str) -> SimPlace | None:
        return self._index[provider].places.get(place_id)

    def true_location(self, venue_id: int) -> tuple[float, float]:
        """Where the venue really is (its coordinates, or the sandbox's hidden truth when it has none)."""
        return self._true_location[venue_id]

    def photo_by_token(self, provider: str, token: str) -> SimPhoto | None:
        return self._photos_by_token.get((provider, token))

    def photo_by_key(self, provider: str, key: str) -> SimPhoto | None:
        return self._photos_by_key.get((provider, key))

    # ---- queries the routes answer ---------------------------------------------------------------
    def nearby(self, provider: str, lat: float, lng: float, radius_m: float) -> list[tuple[SimPlace, float]]:
        """POIs within radius with their distance, via the grid (full scan for huge radii)."""
        index = self._index[provider]
        dlat = radius_m / 111_320.0
        dlng = radius_m / (111_320.0 * max(0.01, math.cos(math.radians(lat))))
        lo, hi = _cell(lat - dlat, lng - dlng), _cell(lat + dlat, lng + dlng)
        n_cells = (hi[0] - lo[0] + 1) * (hi[1] - lo[1] + 1)
        candidates: Iterable[SimPlace]
        if n_cells > 4 * max(1, len(index.grid)):
            candidates = index.places.values()
        else:
            candidates = (
                p for i in range(lo[0], hi[0] + 1) for j in range(lo[1], hi[1] + 1) for p in index.grid.get((i, j), ())
            )
        out = []
        for p in candidates:
            if p.is_address:
                continue
            d = haversine_m(lat, lng, p.lat, p.lng)
            if d <= radius_m:
                out.append((p, d))
        return out

    def search(
        self,
        provider: str,
        query: str | None,
        lat: float,
        lng: float,
        radius_m: float,
        limit: int,
        *,
        sort: str = "relevance",
        categories: Sequence[str] | None = None,
    ) -> list[tuple[SimPlace, float]]:
        """Places near a point whose names fuzzy-resemble the query, ranked by name and distance."""
        q = normalise_text(query or "")
        ranked: list[tuple[float, float, str, SimPlace]] = []
        for place, dist in self.nearby(provider, lat, lng, radius_m):
            if categories is not None and not any(_category_matches(place, c) for c in categories):
                continue
            if q:
                name = normalise_text(place.name)
                score = 0.5 * fuzz.token_set_ratio(q, name) + 0.5 * fuzz.token_sort_ratio(q, name)
                if fuzz.token_set_ratio(q, name) < 60:
                    continue
            else:
                score = 100.0
            rank = score - 12.0 * dist / max(radius_m, 1.0) + place.rating
            ranked.append((rank, dist, place.place_id, place))
        if sort == "distance":
            ranked.sort(key=lambda r: (r[1], r[2]))
        else:
            ranked.sort(key=lambda r: (-r[0], r[1], r[2]))
        return [(r[3], r[1]) for r in ranked[: max(0, limit)]]

    def geocode(
        self,
        provider: str,
        text: str,
        limit: int,
        *,
        near: tuple[float, float] | None = None,
        max_distance_m: float | None = None,
        bias_radius_m: float | None = None,
        include_addresses: bool = True,
        city: str | None = None,
    ) -> list[tuple[SimPlace, float]]:
        """Places (and address records) whose name+address fuzzy-match the text, best first.

        As at the real providers, a location (HERE `at`, Geoapify proximity, Google's bias circle)
        is weighed before the relevance cut, so a far-away better text match never hides a nearby
        one; with a bias radius, matches inside the circle rank ahead of every match outside it. With
        a city (Foursquare's `near` locality), only places whose address is in that city count.
        """
        wanted_city = city.strip().casefold() if city and city.strip() else None
        index = self._index[provider]
        q = normalise_text(text or "")
        if not q or not index.geocode_rows:
            return []
        # inside a bias circle a looser match still counts ("Rose Inn" finds "The Rose" next door)
        cutoff, near_cutoff = 70.0, (60.0 if near is not None and bias_radius_m is not None else 70.0)
        hits = process.extract(q, index.geocode_texts, scorer=fuzz.token_set_ratio, processor=None, score_cutoff=near_cutoff, limit=None)
        rows: list[tuple[int, float, float, float, str, SimPlace]] = []
        for _text, score, i in hits:
            place = index.geocode_rows[i]
            if place.is_address and not include_addresses:
                continue
            if wanted_city is not None and place.address.city.casefold() != wanted_city:
                continue
            dist = haversine_m(near[0], near[1], place.lat, place.lng) if near else 0.0
            if near and max_distance_m is not None and dist > max_distance_m:
                continue
            radius = max(0.0, bias_radius_m or 0.0)
            inside = near is not None and bias_radius_m is not None and dist <= radius
            if score < cutoff and not inside:
                continue
            rank = score - (_distance_penalty(dist - radius) if near and not inside else 0.0)
            # ties (a postcode or street every nearby place shares) go to the place whose name matches
            name_score = fuzz.token_set_ratio(q, normalise_text(place.name))
            secondary = name_score + fuzz.token_sort_ratio(q, index.geocode_texts[i]) / 1000.0
            rows.append((0 if inside else 1, rank, secondary, dist, place.place_id, place))
        # the relevance cut: every match inside the bias circle; outside it, only those near the best
        outside = [r[1] for r in rows if r[0] == 1]
        cut = max(outside, default=0.0) - 12.0
        kept = [r for r in rows if r[0] == 0 or r[1] >= cut]
        kept.sort(key=lambda r: (r[0], -r[1], -r[2], r[3], r[4]))
        return [(r[5], r[3]) for r in kept[: max(0, limit)]]

    def match_score(self, text: str, place: SimPlace) -> float:
        """0..1 relevance of a text to a place, as providers report it (Geoapify rank, HERE scoring)."""
        return round(fuzz.token_set_ratio(normalise_text(text), _place_text(place)) / 100.0, 2)


@dataclass(frozen=True)
class CategoryCodes:
    """How each provider names one kind of place."""

    here_id: str
    here_name: str
    fsq_id: int
    fsq_name: str
    geoapify: tuple[str, ...]
    google_types: tuple[str, ...]
    google_primary: str


CATEGORIES: dict[str, CategoryCodes] = {
    "pub": CategoryCodes("200-2000-0011", "Bar or Pub", 13018, "Pub", ("catering", "catering.pub"), ("bar", "food", "point_of_interest", "establishment"), "pub"),
    "bar": CategoryCodes("200-2000-0011", "Bar or Pub", 13003, "Bar", ("catering", "catering.bar"), ("bar", "point_of_interest", "establishment"), "bar"),
    "cafe": CategoryCodes("100-1100-0010", "Coffee Shop", 13034, "Café", ("catering", "catering.cafe"), ("cafe", "food", "point_of_interest", "establishment"), "cafe"),
    "hotel": CategoryCodes("500-5000-0053", "Hotel", 19014, "Hotel", ("accommodation", "accommodation.hotel"), ("lodging", "point_of_interest", "establishment"), "hotel"),
    "restaurant": CategoryCodes("100-1000-0000", "Restaurant", 13065, "Restaurant", ("catering", "catering.fast_food", "catering.fast_food.fish_and_chips"), ("restaurant", "meal_takeaway", "food", "point_of_interest", "establishment"), "fish_and_chips_restaurant"),
    "parking": CategoryCodes("800-8500-0000", "Parking", 19020, "Parking", ("parking", "parking.cars"), ("parking", "point_of_interest", "establishment"), "parking"),
    "shop": CategoryCodes("600-6300-0066", "Grocery", 17142, "Convenience Store", ("commercial", "commercial.convenience"), ("convenience_store", "store", "point_of_interest", "establishment"), "convenience_store"),
    "address": CategoryCodes("", "", 0, "", ("building",), ("premise",), "premise"),
}


def _distance_penalty(distance_m: float) -> float:
    """Points off a text score for distance from the bias: small nearby, capped far away."""
    return min(15.0, 5.0 * math.log10(1.0 + max(0.0, distance_m) / 100.0))


def _category_matches(place: SimPlace, category: str) -> bool:
    codes = CATEGORIES[place.category].geoapify
    return any(c == category or c.startswith(category + ".") for c in codes)


def _random_street(rng: random.Random) -> str:
    return f"{rng.choice(_STREET_NAMES)} {rng.choice(_STREET_WORDS)}"


def _country(v: Venue) -> tuple[str, str, str]:
    raw = (v.country or "United Kingdom").strip()
    if raw.lower() in _COUNTRIES:
        return _COUNTRIES[raw.lower()]
    return raw, raw[:2].upper(), raw[:3].upper()


_HOUSE_STREET = re.compile(r"^(\d+[A-Za-z]?(?:\s*[-\u2013/]\s*\d+[A-Za-z]?)?)\s+([A-Za-z].*)$")
_STREET_PARTS = tuple(
    re.compile(rf"\b(?:{words})(?:\s+(?:North|South|East|West))?$", re.I)
    for words in (
        "Street|Road|Lane|Avenue|Drive|Close|Way|Row|Hill|Gate|Walk|Place|Square|Terrace|Crescent|Boulevard|"
        "Grove|Vale|Green|Parade|Alley|Plain|Quay|Mews|Rise",
        "Court|Yard|Wharf|Bridge|Gardens",  # also names of buildings, so only when no plainer street is given
    )
)


def _house_and_street(parts: Sequence[str], city: str) -> tuple[str | None, str | None]:
    """The "<number> <street>" part of an address line, else the part named like a street; never a building name."""
    lines = [p for p in parts[:-1] if p.lower() != city.lower() and not p.isupper()] if len(parts) > 1 else list(parts)
    for part in lines:
        m = _HOUSE_STREET.match(part)
        if m:
            return re.sub(r"\s*[-\u2013]\s*", "-", m.group(1)), m.group(2)
    for pattern in _STREET_PARTS:
        for part in lines:
            if pattern.search(part) and not part.lower().startswith(("unit ", "flat ", "street record")):
                return None, part
    # "Elmside House, Elmside" / "Dale Hotel, Sneinton Dale": the line after the building name
    return None, lines[-1] if len(lines) >= 2 else None


def _venue_address(v: Venue, seed: int, key: str) -> SimAddress:
    """The venue's true postal address, parsed from its address line (Open Pubs style) or invented."""
    rng = _rng(seed, "address", key)
    parts = [p.strip() for p in (v.address or "").split(",") if p.strip()]
    house, street = _house_and_street(parts, v.city_name)
    if street is None:
        street = _random_street(rng)
    if house is None and rng.random() < 0.6:
        house = str(rng.randint(1, 120))
    county = parts[-1] if len(parts) >= 3 else None
    # Open Pubs style lines carry the post town in capitals ("..., SUDBURY, Suffolk"); prefer it
    town = next((p for p in reversed(parts[1:]) if p.isupper() and len(p) > 2), None)
    city = (town or v.city_name).title() if (town or v.city_name).isupper() else (town or v.city_name)
    postcode = v.postcode or (
        f"{rng.choice('BCDEGHLMNSTW')}{rng.choice('ABEHLMNRSTY')}{rng.randint(1, 20)} "
        f"{rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
    )
    name, cc2, cc3 = _country(v)
    state = "England" if cc2 == "GB" else None
    return SimAddress(house, street.title() if street.isupper() else street, postcode.upper(), city, county, state, name, cc2, cc3)


def _provider_address(a: SimAddress, provider: str, rng: random.Random) -> SimAddress:
    """Providers disagree a little: one drops the house number, another abbreviates the street."""
    house = a.house_number
    street = a.street
    if house and rng.random() < 0.12:
        house = None
    if rng.random() < 0.15:
        street = re.sub(r"\bStreet\b", "St", re.sub(r"\bRoad\b", "Rd", street))
    return SimAddress(house, street, a.postcode, a.city, a.county, a.state, a.country, a.country_code2, a.country_code3)
