"""A world file from a Geo-ER source folder: every OSM entity a venue, every Foursquare/Yelp entity a place."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from venue_pipeline.core.match_eval import read_geo_er
from venue_pipeline.core.matching import MatchRecord
from venue_pipeline.sandbox.world_file import WorldData, WorldPlace, WorldVenue

SPLITS = ("train", "valid", "test")
_FILE = re.compile(r"^(?P<city>[a-z]+)_(?P<split>train|valid|test)\.txt$")
# Geo-ER's four cities; others get their code as the city name.
CITY_NAMES = {"pit": "Pittsburgh", "edi": "Edinburgh", "sin": "Singapore", "tor": "Toronto"}
COUNTRY_CODES = {"pit": "US", "edi": "GB", "sin": "SG", "tor": "CA"}


def geo_er_files(source_dir: str | Path, city: str | None = None) -> dict[str, dict[str, Path]]:
    """{city code: {split: file}} for the `<city>_<split>.txt` files of a Geo-ER source folder."""
    out: dict[str, dict[str, Path]] = {}
    for path in sorted(Path(source_dir).iterdir()):
        m = _FILE.match(path.name)
        if m and (city is None or m["city"] == city):
            out.setdefault(m["city"], {})[m["split"]] = path
    return out


def _key(r: MatchRecord) -> tuple[object, ...]:
    return (r.name, r.lat, r.lng, r.address or "", r.postcode or "")


def _place_id(r: MatchRecord) -> str:
    """A stable 24-hex ID (Foursquare's shape) derived from the record itself."""
    return hashlib.sha1(repr(_key(r)).encode()).hexdigest()[:24]


def _postcode(text: str | None) -> str:
    """Geo-ER's postcodes sometimes carry a float artefact ("15212.0")."""
    text = (text or "").strip()
    return text[:-2] if re.fullmatch(r"\d+\.0", text) else text


def build_geo_er_world(source_dir: str | Path, city: str, provider: str = "foursquare") -> WorldData:
    """One city's world: venues from entity 1 (with the splits they appear in), places from entity 2, served
    as `provider`; a venue's true places are every entity 2 labelled 1 with it (it may have several)."""
    files = geo_er_files(source_dir, city).get(city)
    if not files:
        raise FileNotFoundError(f"no {city}_train/valid/test.txt files in {source_dir}")
    venues: dict[tuple[object, ...], tuple[int, MatchRecord, set[str]]] = {}
    places: dict[tuple[object, ...], tuple[str, MatchRecord]] = {}
    truth: dict[int, set[str]] = {}
    for split in SPLITS:
        if split not in files:
            continue
        pairs, _skipped = read_geo_er(files[split])
        for pair in pairs:
            ka, kb = _key(pair.a), _key(pair.b)
            if ka not in venues:
                venues[ka] = (len(venues) + 1, pair.a, set())
            venues[ka][2].add(split)
            if kb not in places and pair.b.lat is not None and pair.b.lng is not None:
                places[kb] = (_place_id(pair.b), pair.b)
            if pair.label == 1 and kb in places:
                truth.setdefault(venues[ka][0], set()).add(places[kb][0])
    city_name = CITY_NAMES.get(city, city)
    country = COUNTRY_CODES.get(city, "")
    data = WorldData(name=f"{Path(source_dir).name}/{city}")
    for venue_id, r, splits in venues.values():
        data.venues.append(
            WorldVenue(
                id=venue_id,
                name=r.name,
                city=city_name,
                lat=r.lat,
                lng=r.lng,
                address=r.address,
                postcode=_postcode(r.postcode) or None,
                country=country or None,
                splits=tuple(s for s in SPLITS if s in splits),
            )
        )
    for place_id, r in places.values():
        data.places.append(
            WorldPlace(
                provider=provider,
                place_id=place_id,
                name=r.name,
                lat=float(r.lat),  # type: ignore[arg-type]
                lng=float(r.lng),  # type: ignore[arg-type]
                address=r.address or "",
                postcode=_postcode(r.postcode),
                city=city_name,
                country_code=country or "US",
            )
        )
    data.truth = {vid: {provider: sorted(ids)} for vid, ids in truth.items()}
    return data
