"""World-file mode: a sandbox world read from real records (venues, each provider's places, the truth) instead of generated."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from venue_pipeline.sandbox.world import PROVIDERS, SandboxConfig, SimPlace, World
from venue_pipeline.sandbox.world_addresses import SimAddress

FORMAT = "venue_pipeline.world/1"


@dataclass(frozen=True, slots=True)
class WorldVenue:
    """A venue of a world file: what we import, plus the splits of the labelled data it came from."""

    id: int
    name: str
    city: str
    lat: float | None = None
    lng: float | None = None
    address: str | None = None
    postcode: str | None = None
    country: str | None = None
    splits: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WorldPlace:
    """A provider's place as the world serves it: the address line exactly as the source wrote it."""

    provider: str
    place_id: str
    name: str
    lat: float
    lng: float
    address: str = ""
    postcode: str = ""
    city: str = ""
    country_code: str = "US"
    category: str = "restaurant"


@dataclass
class WorldData:
    """The whole content of a world file: venues, places, and every venue's true place IDs per provider."""

    name: str
    venues: list[WorldVenue] = field(default_factory=list)
    places: list[WorldPlace] = field(default_factory=list)
    truth: dict[int, dict[str, list[str]]] = field(default_factory=dict)

    def true_ids(self, venue_id: int, provider: str) -> frozenset[str]:
        return frozenset(self.truth.get(venue_id, {}).get(provider, ()))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": self.name,
            "venues": [_slots(v) for v in self.venues],
            "places": [_slots(p) for p in self.places],
            "truth": {str(k): v for k, v in self.truth.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorldData:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a world file (format {data.get('format')!r}, expected {FORMAT!r})")
        try:
            return cls._from_json(data)
        except (TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"malformed world file: {exc}") from None

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> WorldData:
        venues = [
            WorldVenue(**{**v, "splits": tuple(v.get("splits", ()))}) for v in data.get("venues", [])
        ]
        places = [WorldPlace(**p) for p in data.get("places", [])]
        for p in places:
            if p.provider not in PROVIDERS:
                raise ValueError(f"world file place {p.place_id!r} names unknown provider {p.provider!r}")
        truth = {int(k): {p: list(ids) for p, ids in v.items()} for k, v in data.get("truth", {}).items()}
        return cls(str(data.get("name", "world")), venues, places, truth)


def _slots(obj: Any) -> dict[str, Any]:
    return _drop_none({name: getattr(obj, name) for name in obj.__slots__})


def _drop_none(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items() if v is not None}


def save_world(data: WorldData, path: str | Path) -> Path:
    """Writes a world file (JSON)."""
    path = Path(path)
    path.write_text(json.dumps(data.to_json(), ensure_ascii=False), encoding="utf-8")
    return path


def read_world(path: str | Path) -> WorldData:
    """Reads a world file; a clear ValueError when it is not one."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read ({exc})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a world file is a JSON object")
    try:
        return WorldData.from_json(raw)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def world_from_data(data: WorldData, config: SandboxConfig | None = None) -> World:
    """A sandbox World holding exactly the file's places (no generated places, distractors or photos)."""
    world = World(config or SandboxConfig())
    for p in data.places:
        address = SimAddress(
            house_number=None,
            street=p.address,
            postcode=p.postcode,
            city=p.city,
            county=None,
            state=None,
            country=p.country_code,
            country_code2=p.country_code,
            country_code3=p.country_code,
        )
        world._add(SimPlace(p.provider, p.place_id, p.name, p.lat, p.lng, address, p.category))
    for provider in PROVIDERS:
        world._finish_index(provider)
    for venue_id, per_provider in data.truth.items():
        for provider, ids in per_provider.items():
            if ids:
                world._truth[(provider, venue_id)] = ids[0]
    return world


def providers_of(data: WorldData) -> Sequence[str]:
    """The providers that hold places in this world, in the usual order."""
    present = {p.provider for p in data.places}
    return [p for p in PROVIDERS if p in present]
