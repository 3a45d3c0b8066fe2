"""URL- and CDN-safe slugs (``^[a-z0-9-]+$``), stable across runs so folder paths never move."""

from __future__ import annotations

import hashlib
import itertools
import re
import unicodedata
from collections.abc import Iterator

MAX_SLUG_LENGTH = 80
"""Long names are cut at a hyphen so CDN paths stay readable."""

# Letters NFKD does not decompose into ASCII; without these "Straße" would become "strae".
_TRANSLITERATE = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "þ": "th",
        "Þ": "TH",
        "ı": "i",
        "&": " and ",
        "@": " at ",
    }
)
# Apostrophes join words ("King's" -> "kings") instead of splitting them ("king-s").
_APOSTROPHES = re.compile(r"['\u2019\u2018`\u00b4]")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def slugify(text: str | None, max_length: int = MAX_SLUG_LENGTH) -> str:
    """ASCII, lower-case, hyphen-separated; "" when nothing sluggable is left."""
    if not text:
        return ""
    text = _APOSTROPHES.sub("", text.translate(_TRANSLITERATE))
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _NON_ALNUM.sub("-", ascii_text.lower()).strip("-")
    if len(slug) > max_length:
        cut = slug[:max_length]
        slug = cut.rsplit("-", 1)[0] if "-" in cut else cut
    return slug


def is_slug(text: str) -> bool:
    """Whether text is already a valid slug (what the CDN folder check demands)."""
    return bool(_SLUG.match(text))


def city_slug(city_name: str) -> str:
    """The city's slug; a name with no sluggable characters gets a hash so it is never empty."""
    return slugify(city_name) or f"city-{_short_hash(city_name)}"


def venue_slug(name: str, city: str, external_id: str, *, source: str = "open_pubs") -> str:
    """name-city plus a hash of (source, external id): two "Red Lion"s in one city get two slugs."""
    return next(venue_slug_candidates(name, city, external_id, source=source))


def venue_slug_candidates(name: str, city: str, external_id: str, *, source: str = "open_pubs") -> Iterator[str]:
    """The venue's slugs in order of preference, each a function of the venue alone: name-city-hash with
    6 hex digits of sha1(source:external_id), then 12, then all 40, then the 40 with -2, -3, ... appended.
    When two venues' 6-digit hashes collide, the second one takes its next free candidate
    (store/venues.py decides which is second, the same way whatever the order of the rows)."""
    base = "-".join(part for part in (slugify(name, 60), slugify(city, 40)) if part) or "venue"
    digest = hashlib.sha1(f"{source}:{external_id}".encode()).hexdigest()
    yield f"{base}-{digest[:6]}"
    yield f"{base}-{digest[:12]}"
    yield f"{base}-{digest}"
    for n in itertools.count(2):
        yield f"{base}-{digest}-{n}"


def _short_hash(text: str, length: int = 6) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:length]
