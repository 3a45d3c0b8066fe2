"""The simulated world: what each provider knows about each venue, derived from hashes of the seed.

The World class builds every provider's places and answers the routes' queries; names, addresses, photos,
IDs and categories are made in world_names, world_addresses, world_photos, world_ids and categories.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from rapidfuzz import fuzz, process

from venue_pipeline.core.venue import Venue
from venue_pipeline.sandbox.categories import category_matches
from venue_pipeline.sandbox.faults import FaultConfig
from venue_pipeline.sandbox.world_addresses import SimAddress, provider_address, random_street, venue_address
from venue_pipeline.sandbox.world_ids import here_address_id, make_place_id, seeded_rng, seeded_unit
from venue_pipeline.sandbox.world_names import (
    DISTRACTOR_TEMPLATES,
    core_name,
    distractor_spelling,
    name_key,
    name_variant,
    normalise_text,
    reserved_names,
)
from venue_pipeline.sandbox.world_photos import SimPhoto, make_photos

PROVIDERS: tuple[str, ...] = ("here", "geoapify", "foursquare", "google_places")
# HERE Geocoding & Search v7 has no photos, so the simulated HERE has none either.
PHOTO_PROVIDERS: tuple[str, ...] = ("foursquare", "google_places")
GEOCODING_PROVIDERS: frozenset[str] = frozenset({"here", "geoapify"})


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
            address = venue_address(v, seed, key)
            category = "pub" if seeded_unit(seed, "category", key) < 0.8 else "bar"
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
            lat = 50.5 + 4.0 * seeded_unit(seed, "city", v.city_slug, "lat")
            lng = -3.5 + 4.0 * seeded_unit(seed, "city", v.city_slug, "lng")
        rng = seeded_rng(seed, "truth", key)
        return offset_point(lat, lng, rng.uniform(100, 2000), rng.uniform(0, 360))

    def _add_venue_places(
        self, provider: str, v: Venue, key: str, loc: tuple[float, float], address: SimAddress, category: str
    ) -> None:
        seed = self.config.seed
        coverage = self.config.coverage.get(provider, 0.0)
        if seeded_unit(seed, provider, key, "known") < coverage:
            rng = seeded_rng(seed, provider, key, "place")
            lat, lng = offset_point(loc[0], loc[1], rng.uniform(10, 60), rng.uniform(0, 360))
            name = name_variant(v.name, rng)
            place_id = make_place_id(provider, lat, lng, name, key, "venue")
            place = SimPlace(
                provider=provider,
                place_id=place_id,
                name=name,
                lat=lat,
                lng=lng,
                address=provider_address(address, provider, rng),
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
        drng = seeded_rng(seed, "distractors", key)
        count = sum(drng.random() < mean / slots for _ in range(slots))
        templates = list(DISTRACTOR_TEMPLATES)
        drng.shuffle(templates)
        core = core_name(v.name)
        reserved = reserved_names(v)
        made = 0
        for template, category in templates:
            if made >= count:
                break
            name = template.format(core=core, name=v.name)
            if name_key(name) in reserved:
                continue
            i = made
            made += 1
            # the distractor exists in the world; each provider knows it with its coverage
            if seeded_unit(seed, provider, key, "distractor", i, "known") >= self.config.coverage.get(provider, 0.0):
                continue
            wrng = seeded_rng(seed, "distractor", key, i)
            dlat, dlng = offset_point(loc[0], loc[1], wrng.uniform(40, 300), wrng.uniform(0, 360))
            prng = seeded_rng(seed, provider, key, "distractor", i)
            lat, lng = offset_point(dlat, dlng, prng.uniform(0, 25), prng.uniform(0, 360))
            street_rng = seeded_rng(seed, "distractor-address", key, i)
            d_address = SimAddress(
                house_number=str(street_rng.randint(1, 140)),
                street=address.street if street_rng.random() < 0.5 else random_street(street_rng),
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
                    name=distractor_spelling(name, prng, reserved),
                    lat=lat,
                    lng=lng,
                    address=provider_address(d_address, provider, prng),
                    category=category,
                    distractor_of=v.id,
                    photos=self._make_photos(provider, place_id, (seed, provider, key, "distractor", i), distractor=True),
                    rating=round(prng.uniform(3.0, 4.6), 1),
                    rating_count=prng.randint(1, 400),
                )
            )

    def _add_address_record(self, provider: str, v: Venue, key: str, loc: tuple[float, float], address: SimAddress) -> None:
        """Geocoders know the venue's address even when they do not know the venue itself."""
        rng = seeded_rng(self.config.seed, provider, key, "address")
        lat, lng = offset_point(loc[0], loc[1], rng.uniform(2, 15), rng.uniform(0, 360))
        if provider == "here":
            place_id = here_address_id(self.config.seed, provider, key)
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
        photos = make_photos(provider, place_id, parts, distractor=distractor)
        for photo in photos:
            self._photos_by_token[(provider, photo.token)] = photo
            self._photos_by_key[(provider, photo.key)] = photo
        return photos

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
            if categories is not None and not any(category_matches(place.category, c) for c in categories):
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


def _distance_penalty(distance_m: float) -> float:
    """Points off a text score for distance from the bias: small nearby, capped far away."""
    return min(15.0, 5.0 * math.log10(1.0 + max(0.0, distance_m) / 100.0))
