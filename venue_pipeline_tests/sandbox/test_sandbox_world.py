"""The simulated world is a pure function of the seed and each venue, with realistic provider data."""

from __future__ import annotations

import re

from venue_pipeline.core.venue import Venue
from venue_pipeline.sandbox.world import PROVIDERS, SandboxConfig, World, haversine_m


def make_venues() -> list[Venue]:
    return [
        Venue(1, "Anchor Inn", "anchor-inn-sudbury", "sudbury", "Sudbury", "7 Market Hill, SUDBURY, Suffolk", "CO10 2EA", "United Kingdom", 52.0380, 0.7305),
        Venue(2, "The Red Lion", "the-red-lion-sudbury", "sudbury", "Sudbury", "Church Street, SUDBURY, Suffolk", "CO10 6BL", "United Kingdom", 52.0366, 0.7262),
        Venue(3, "Rose & Crown", "rose-and-crown-sudbury", "sudbury", "Sudbury", "12 Friars Street, SUDBURY, Suffolk", "CO10 2AA", "United Kingdom", 52.0352, 0.7311),
        Venue(4, "Kings Arms", "kings-arms-sudbury", "sudbury", "Sudbury", "41 Ballingdon Street, SUDBURY, Suffolk", "CO10 2DA", "United Kingdom"),
        Venue(5, "The Bell", "the-bell-lavenham", "lavenham", "Lavenham", "Market Place, LAVENHAM, Suffolk", "CO10 9QZ", "United Kingdom", 52.1086, 0.7969),
    ]


def snapshot(world: World) -> dict[str, list[tuple]]:
    return {
        p: [(pl.place_id, pl.name, pl.lat, pl.lng, pl.address, pl.category, pl.venue_id, tuple(ph.key for ph in pl.photos)) for pl in world.places(p)]
        for p in PROVIDERS
    }


def test_same_seed_builds_the_same_world_and_another_seed_does_not() -> None:
    a = World.build(make_venues(), SandboxConfig(seed=7))
    b = World.build(list(reversed(make_venues())), SandboxConfig(seed=7))
    c = World.build(make_venues(), SandboxConfig(seed=8))
    assert snapshot(a) == snapshot(b)
    assert snapshot(a) != snapshot(c)
    assert [a.truth("here", v.id) for v in make_venues()] == [b.truth("here", v.id) for v in make_venues()]


def test_adding_a_venue_leaves_existing_places_unchanged() -> None:
    base = World.build(make_venues(), SandboxConfig(seed=7))
    more = make_venues() + [Venue(6, "Black Horse", "black-horse-ipswich", "ipswich", "Ipswich", "1 Main Road, IPSWICH, Suffolk", "IP1 1AA", "United Kingdom", 52.05, 1.15)]
    grown = World.build(more, SandboxConfig(seed=7))
    for provider in PROVIDERS:
        before = {p.place_id: p for p in base.places(provider, include_addresses=True)}
        after = {p.place_id: p for p in grown.places(provider, include_addresses=True)}
        assert before.items() <= after.items()
        for v in make_venues():
            assert base.truth(provider, v.id) == grown.truth(provider, v.id)


def test_place_ids_have_each_providers_shape() -> None:
    world = World.build(make_venues(), SandboxConfig(seed=7, coverage={p: 1.0 for p in PROVIDERS}))
    ids = {p: world.truth(p, 1) for p in PROVIDERS}
    assert re.fullmatch(r"here:pds:place:[0-9a-z]{8}-[0-9a-f]{32}", ids["here"])
    assert re.fullmatch(r"ChIJ[A-Za-z0-9_-]{23}", ids["google_places"])
    assert re.fullmatch(r"[0-9a-f]{24}", ids["foursquare"])
    assert re.fullmatch(r"[0-9a-f]{80,140}", ids["geoapify"])


def test_known_places_sit_near_the_venue_with_a_recognisable_name() -> None:
    world = World.build(make_venues(), SandboxConfig(seed=7, coverage={p: 1.0 for p in PROVIDERS}))
    for provider in PROVIDERS:
        place = world.place(provider, world.truth(provider, 1))
        assert place is not None and place.venue_id == 1
        assert 5 <= haversine_m(52.0380, 0.7305, place.lat, place.lng) <= 65
        assert "anchor" in place.name.lower()
        assert place.address.postcode == "CO10 2EA"
        assert place.address.city == "Sudbury"


def test_coverage_zero_means_unknown_and_distractors_are_flagged() -> None:
    world = World.build(make_venues(), SandboxConfig(seed=7, coverage={"here": 0.0, "foursquare": 1.0}, distractors=2.0))
    assert all(world.truth("here", v.id) is None for v in make_venues())
    distractors = [p for p in world.places("foursquare") if p.distractor_of is not None]
    assert distractors, "distractors=2 should create nearby look-alikes"
    for d in distractors:
        assert world.is_distractor("foursquare", d.place_id)
        venue_loc = world.true_location(d.distractor_of)
        assert 10 <= haversine_m(venue_loc[0], venue_loc[1], d.lat, d.lng) <= 330
    assert not world.is_distractor("foursquare", world.truth("foursquare", 1))


def test_venue_without_coordinates_gets_a_hidden_location_near_its_city() -> None:
    world = World.build(make_venues(), SandboxConfig(seed=7))
    lat, lng = world.true_location(4)
    assert haversine_m(lat, lng, 52.0366, 0.7293) < 2500
    assert world.true_location(4) == World.build(make_venues(), SandboxConfig(seed=7)).true_location(4)


def test_photos_exist_only_where_the_provider_has_them() -> None:
    venues = [Venue(i, f"Pub {i}", f"pub-{i}", "town", "Town", None, None, None, 52.0 + i * 0.01, 0.5) for i in range(1, 80)]
    world = World.build(venues, SandboxConfig(seed=3, coverage={p: 1.0 for p in PROVIDERS}))
    assert all(not p.photos for p in world.places("geoapify"))
    assert all(not p.photos for p in world.places("here"))  # HERE Geocoding & Search has no photos
    fsq = [len(p.photos) for p in world.places("foursquare")]
    assert max(fsq) <= 10 and sum(fsq) > 0
    dims = {(ph.width, ph.height) for p in world.places("google_places") for ph in p.photos}
    assert len(dims) >= 4
