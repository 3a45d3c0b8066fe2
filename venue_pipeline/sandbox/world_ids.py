"""Seeded hashing and provider place-ID formats: every property of the world comes from (seed, provider, slug, purpose), never from order."""

from __future__ import annotations

import base64
import hashlib
import random
import struct


# ------------------------------------------------------------------------------------------------
# hashing helpers
# ------------------------------------------------------------------------------------------------
def seeded_digest(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()


def seeded_rng(*parts: object) -> random.Random:
    return random.Random(int.from_bytes(seeded_digest(*parts), "big"))


def seeded_unit(*parts: object) -> float:
    return int.from_bytes(seeded_digest(*parts)[:8], "big") / 2**64


def seeded_hex(n: int, *parts: object) -> str:
    out = ""
    i = 0
    while len(out) < n:
        out += seeded_digest(*parts, i).hex()
        i += 1
    return out[:n]


def seeded_b64(n: int, *parts: object) -> str:
    out = ""
    i = 0
    while len(out) < n:
        out += base64.urlsafe_b64encode(seeded_digest(*parts, i)).decode().rstrip("=")
        i += 1
    return out[:n]


# ------------------------------------------------------------------------------------------------
# provider ID formats
# ------------------------------------------------------------------------------------------------
_TILE_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _here_id(*parts: object) -> str:
    d = seeded_digest(*parts, "tile")
    tile = "".join(_TILE_ALPHABET[b % 36] for b in d[:8])
    return f"here:pds:place:{tile}-{seeded_hex(32, *parts, 'id')}"


def _google_id(*parts: object) -> str:
    return "ChIJ" + seeded_b64(23, *parts)


def _foursquare_id(*parts: object) -> str:
    return seeded_hex(24, *parts)


def _geoapify_id(lat: float, lng: float, name: str, *parts: object) -> str:
    """Geoapify-like: lon/lat doubles, an OSM-ish id and the name in hex, as real IDs appear to hold."""
    name_bytes = name.encode()[:26]
    return (
        "51"
        + struct.pack("<d", lng).hex()
        + "59"
        + struct.pack("<d", lat).hex()
        + "f00103f9"
        + seeded_hex(16, *parts)
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


def here_address_id(seed: int, provider: str, key: str) -> str:
    """HERE's ID of an address record (a street section with a house number)."""
    return f"here:af:streetsection:{seeded_b64(22, seed, provider, key, 'addr')}:CgcIBCC{seeded_b64(12, key, 'hn')}"
