"""The generated world and Google's answers are pinned: a refactor of the sandbox must not change a single byte.

The digests were computed before world.py and routes_google.py were split into smaller modules (issue 11);
if one changes, the world (or what Google's simulated endpoints answer) changed, which a restructuring must not do. The Google digest was re-pinned once on purpose, when photo rendering got
cheaper (bilinear scaling, one grain texture per size: issue 14's benchmark machine).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx

from venue_pipeline.core.importer import parse_venues
from venue_pipeline.core.slugs import venue_slug
from venue_pipeline.core.venue import Venue
from venue_pipeline.sandbox.app import build_sandbox
from venue_pipeline.sandbox.world import PROVIDERS, SandboxConfig, World

DEMO_CSV = Path(__file__).resolve().parents[2] / "venue_pipeline" / "sandbox" / "data" / "demo_venues.csv"

WORLD_DIGEST = "f3978d70cb2de38fc2cd48a31a0ae6311addd35f379b124df6ccff551ed1aa03"
GOOGLE_DIGEST = "0cccd78c01c51614b1d8cc68a76199b3f1f99aadc805bf19951f1fbb4d9b19e7"


def demo_venues(n: int = 20) -> list[Venue]:
    parsed = parse_venues(DEMO_CSV)
    return [
        Venue(
            id=i,
            name=v.name,
            slug=venue_slug(v.name, v.city_name, v.external_id, source=v.source),
            city_slug=v.city_slug,
            city_name=v.city_name,
            address=v.address,
            postcode=v.postcode,
            country=v.country,
            lat=v.lat,
            lng=v.lng,
        )
        for i, v in enumerate(parsed.venues[:n], start=1)
    ]


def world_rows(world: World) -> list[str]:
    """Every place of every provider (address records too), with every photo field, and the truth."""
    rows = []
    for provider in PROVIDERS:
        for p in world.places(provider, include_addresses=True):
            photos = [
                (ph.key, ph.token, ph.width, ph.height, ph.fmt, ph.created_at, ph.classifications, ph.author, ph.author_uri, ph.place_id)
                for ph in p.photos
            ]
            rows.append(
                repr(
                    (
                        p.provider, p.place_id, p.name, repr(p.lat), repr(p.lng), p.address, p.category, p.venue_id,
                        p.distractor_of, p.rating, p.rating_count, p.result_type, photos,
                    )
                )
            )
    rows += [repr(("truth", provider, vid, world.truth(provider, vid))) for provider in PROVIDERS for vid in sorted(world.venues)]
    rows += [repr(("true_location", vid, world.true_location(vid))) for vid in sorted(world.venues)]
    return sorted(rows)


def digest(rows: list[str]) -> str:
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def test_the_world_of_20_demo_venues_at_seed_7_is_pinned() -> None:
    world = World.build(demo_venues(), SandboxConfig(seed=7))
    rows = world_rows(world)
    assert len(rows) > 100
    assert digest(rows) == WORLD_DIGEST


def _google_answers() -> list[str]:
    """A fixed walk over Google's legacy, New and lh3 endpoints, with every body and status recorded."""
    venues = demo_venues()
    sandbox = build_sandbox(venues, seed=7)
    out: list[str] = []
    with httpx.Client(transport=sandbox.transport()) as client:

        def record(r: httpx.Response) -> httpx.Response:
            body = r.content if not r.headers.get("content-type", "").startswith("image/") else hashlib.sha256(r.content).digest()
            out.append(repr((r.request.method, str(r.request.url), r.status_code, r.headers.get("location"), body)))
            return r

        legacy = "https://maps.googleapis.com/maps/api/place"
        new = "https://places.googleapis.com/v1/places"
        for v in venues[:6]:
            ll = f"{v.lat},{v.lng}" if v.lat is not None else "52.0,0.7"
            record(client.get(f"{legacy}/findplacefromtext/json", params={"input": v.name, "inputtype": "textquery", "locationbias": f"circle:500@{ll}", "fields": "place_id,name,photos,geometry", "key": "k"}))
            nearby = record(client.get(f"{legacy}/nearbysearch/json", params={"location": ll, "radius": "800", "keyword": v.name, "key": "k"}))
            record(client.get(f"{legacy}/textsearch/json", params={"query": f"{v.name} {v.city_name}", "key": "k"}))
            for result in nearby.json().get("results", [])[:2]:
                details = record(client.get(f"{legacy}/details/json", params={"place_id": result["place_id"], "key": "k"})).json()
                for photo in details.get("result", {}).get("photos", [])[:2]:
                    r = record(client.get(f"{legacy}/photo", params={"photo_reference": photo["photo_reference"], "maxwidth": "400", "key": "k"}))
                    if r.status_code == 302:
                        record(client.get(r.headers["location"]))
            body = {"textQuery": v.name, "locationBias": {"circle": {"center": {"latitude": v.lat or 52.0, "longitude": v.lng or 0.7}, "radius": 500.0}}}
            search = record(client.post(f"{new}:searchText", json=body, headers={"X-Goog-Api-Key": "k", "X-Goog-FieldMask": "places.id,places.displayName,places.photos,places.location"})).json()
            for place in search.get("places", [])[:2]:
                record(client.get(f"{new}/{place['id']}", headers={"X-Goog-Api-Key": "k", "X-Goog-FieldMask": "*"}))
                for photo in place.get("photos", [])[:2]:
                    r = record(client.get(f"https://places.googleapis.com/v1/{photo['name']}/media", params={"maxWidthPx": "300", "skipHttpRedirect": "true", "key": "k"}))
                    if r.status_code == 200:
                        record(client.get(r.json()["photoUri"]))
        # errors: a bad key, a missing field mask, an unknown place, a forged photo reference
        record(client.get(f"{legacy}/details/json", params={"place_id": "ChIJnope", "key": "invalid"}))
        record(client.get(f"{new}/ChIJdoesnotexist0000000", headers={"X-Goog-Api-Key": "k"}))
        record(client.get(f"{new}/ChIJdoesnotexist0000000", headers={"X-Goog-Api-Key": "k", "X-Goog-FieldMask": "id"}))
        record(client.get(f"{legacy}/photo", params={"photo_reference": "Aap_uEforged", "maxwidth": "400", "key": "k"}))
    return out


def test_google_answers_over_the_demo_world_are_pinned() -> None:
    answers = _google_answers()
    assert len(answers) > 40
    assert digest(answers) == GOOGLE_DIGEST
