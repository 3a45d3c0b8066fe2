"""Addresses in the sandbox world: a venue's postal address parsed from its address line (or invented), and each provider's take on it."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Sequence

from venue_pipeline.core.venue import Venue
from venue_pipeline.sandbox.world_ids import seeded_rng


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

_STREET_WORDS = ("Street", "Road", "Lane", "Hill", "Square", "Row", "Place", "Way", "Green", "Parade")
_STREET_NAMES = ("High", "Church", "Market", "Station", "Mill", "Bridge", "King", "Queen", "North", "London")


def random_street(rng: random.Random) -> str:
    """An invented, ordinary English street name ("Church Lane")."""
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


def venue_address(v: Venue, seed: int, key: str) -> SimAddress:
    """The venue's true postal address, parsed from its address line (Open Pubs style) or invented."""
    rng = seeded_rng(seed, "address", key)
    parts = [p.strip() for p in (v.address or "").split(",") if p.strip()]
    house, street = _house_and_street(parts, v.city_name)
    if street is None:
        street = random_street(rng)
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


def provider_address(a: SimAddress, provider: str, rng: random.Random) -> SimAddress:
    """Providers disagree a little: one drops the house number, another abbreviates the street."""
    house = a.house_number
    street = a.street
    if house and rng.random() < 0.12:
        house = None
    if rng.random() < 0.15:
        street = re.sub(r"\bStreet\b", "St", re.sub(r"\bRoad\b", "Rd", street))
    return SimAddress(house, street, a.postcode, a.city, a.county, a.state, a.country, a.country_code2, a.country_code3)
