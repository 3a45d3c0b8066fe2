"""Photos in the sandbox world: how many a place has, their keys, host tokens, real dimensions and attribution."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from venue_pipeline.sandbox.world_ids import seeded_b64, seeded_hex, seeded_rng

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


def make_photos(provider: str, place_id: str, parts: tuple[object, ...], *, distractor: bool) -> tuple[SimPhoto, ...]:
    """A place's photos at one provider (none at HERE), derived from the hash parts alone."""
    rng = seeded_rng(*parts)
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
            key = seeded_hex(24, *parts, i)
            token = f"{rng.randint(1_000_000, 999_999_999)}_{seeded_b64(43, *parts, i, 'tok')}"
            fmt = "jpeg"
            classes = tuple(sorted(rng.sample(FSQ_CLASSIFICATIONS, rng.randint(0, 2))))
            author_uri = None
        elif provider == "google_places":
            key = seeded_b64(32, *parts, i)
            token = "AJQcZq" + seeded_b64(90, *parts, i, "lh3")
            fmt = "png" if rng.random() < 0.1 else "jpeg"
            classes = ()
            author_uri = f"https://maps.google.com/maps/contrib/{rng.randint(10**20, 10**21 - 1)}"
        else:
            key = seeded_hex(32, *parts, i)
            token = key
            fmt = "jpeg"
            classes = ()
            author_uri = None
        photos.append(
            SimPhoto(
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
        )
    return tuple(photos)
