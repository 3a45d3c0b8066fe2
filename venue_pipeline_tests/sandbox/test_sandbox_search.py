"""The sandbox's searches rank and spell like the real providers, and its look-alikes stay look-alikes."""

from __future__ import annotations

import re

import httpx
import pytest

from venue_pipeline.core.venue import Venue
from venue_pipeline.sandbox.app import Sandbox, build_sandbox
from venue_pipeline.sandbox.world import PROVIDERS, SandboxConfig, World
from venue_pipeline.sandbox.world_names import normalise_text

GOOGLE_SEARCH_TEXT = "https://places.googleapis.com/v1/places:searchText"
GOOGLE_FIND_PLACE = "https://maps.googleapis.com/maps/api/place/findplacefromtext/json"
NORWICH_GATEHOUSE = (52.6401, 1.2605)
# seed 28 spells the Norwich place "Gatehouse" while far-away places are "The Gatehouse": the hard case
GATEHOUSE_SEED = 28


def gatehouse_venues() -> list[Venue]:
    """One "The Gatehouse" in Norwich and namesakes in four other cities."""
    venues = [
        Venue(1, "The Gatehouse", "the-gatehouse-norwich", "norwich", "Norwich", "Dereham Road, Norwich", "NR5 8QJ", "United Kingdom", *NORWICH_GATEHOUSE),
        Venue(2, "Coachmaker\u2019s Arms", "coachmakers-arms-norwich", "norwich", "Norwich", "9 St Stephens Road, Norwich", "NR1 3SP", "United Kingdom", 52.6236, 1.2930),
    ]
    cities = [("nottingham", "Nottingham", 52.954, -1.158), ("exeter", "Exeter", 50.72, -3.53), ("leeds", "Leeds", 53.80, -1.55), ("bath", "Bath", 51.38, -2.36)]
    for i, (slug, city, lat, lng) in enumerate(cities):
        venues.append(Venue(10 + i, "The Gatehouse", f"the-gatehouse-{slug}", slug, city, f"{i + 3} Castle Street, {city}", "AB1 2CD", "United Kingdom", lat, lng))
    return venues


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return build_sandbox(gatehouse_venues(), seed=GATEHOUSE_SEED, coverage={p: 1.0 for p in PROVIDERS}, distractors=0.0)


@pytest.fixture()
def client(sandbox: Sandbox) -> httpx.Client:
    with httpx.Client(transport=sandbox.transport()) as c:
        yield c


def test_the_scenario_is_the_hard_one(sandbox: Sandbox) -> None:
    world = sandbox.world
    near = world.place("google_places", world.truth("google_places", 1))
    far = [world.place("google_places", world.truth("google_places", i)) for i in range(10, 14)]
    assert near is not None and all(far)
    best_far = max(world.match_score("The Gatehouse", p) for p in far if p)
    assert best_far - world.match_score("The Gatehouse", near) > 0.12, "a far place must match the text better"


def test_google_search_text_ranks_the_place_inside_the_bias_circle_first(sandbox: Sandbox, client: httpx.Client) -> None:
    lat, lng = NORWICH_GATEHOUSE
    r = client.post(
        GOOGLE_SEARCH_TEXT,
        json={"textQuery": "The Gatehouse", "locationBias": {"circle": {"center": {"latitude": lat, "longitude": lng}, "radius": 250.0}}},
        headers={"X-Goog-Api-Key": "k", "X-Goog-FieldMask": "places.id,places.displayName"},
    )
    assert r.json()["places"][0]["id"] == sandbox.world.truth("google_places", 1)


def test_google_find_place_with_a_circle_bias_finds_the_nearby_place(sandbox: Sandbox, client: httpx.Client) -> None:
    lat, lng = NORWICH_GATEHOUSE
    r = client.get(
        GOOGLE_FIND_PLACE,
        params={"input": "The Gatehouse", "inputtype": "textquery", "locationbias": f"circle:250@{lat},{lng}", "key": "k"},
    )
    assert r.json()["candidates"][0]["place_id"] == sandbox.world.truth("google_places", 1)


def test_without_a_location_the_best_text_match_wins(sandbox: Sandbox) -> None:
    hits = sandbox.world.geocode("google_places", "The Gatehouse", 5, include_addresses=False)
    assert hits[0][0].place_id != sandbox.world.truth("google_places", 1)


@pytest.mark.parametrize(
    ("a", "b"),
    [("Coachmaker's Arms", "Coachmakers Arms"), ("Coachmaker\u2019s Arms", "COACHMAKERS ARMS"), ("Slug & Lettuce", "Slug and Lettuce")],
)
def test_apostrophes_and_ampersands_do_not_change_a_name(a: str, b: str) -> None:
    assert normalise_text(a) == normalise_text(b)


def test_an_apostrophe_variant_matches_fully(sandbox: Sandbox) -> None:
    world = sandbox.world
    for provider in PROVIDERS:
        place = world.place(provider, world.truth(provider, 2))
        assert place is not None
        assert world.match_score("Coachmakers Arms", place) == 1.0, (provider, place.name)


# ---- distractors ---------------------------------------------------------------------------------------
def name_key(name: str) -> str:
    return re.sub(r"^the\s+", "", normalise_text(name))


DISTRACTOR_VENUES = [
    Venue(1, "Mecca Bingo", "mecca-bingo-exeter", "exeter", "Exeter", "12 North Street, Exeter, Devon", "EX4 3QS", "United Kingdom", 50.7236, -3.5339),
    Venue(2, "The Vernon", "the-vernon-nottingham", "nottingham", "Nottingham", "Vernon Hotel, 200 Vernon Road, Nottingham", "NG6 0AR", "United Kingdom", 52.9858, -1.1897),
    Venue(3, "The Plough Inn", "the-plough-inn-norwich", "norwich", "Norwich", "58 St Benedicts Street, Norwich", "NR2 4AR", "United Kingdom", 52.6302, 1.2888),
    Venue(4, "Royal Oak", "royal-oak-exeter", "exeter", "Exeter", "Royal Oak Hotel, 68 Okehampton Street, Exeter", "EX4 1DL", "United Kingdom", 50.7200, -3.5400),
]
RESERVED = {1: {"mecca bingo"}, 2: {"vernon", "vernon hotel"}, 3: {"plough inn", "plough"}, 4: {"royal oak", "royal oak hotel"}}


@pytest.mark.parametrize("seed", range(1, 9))
def test_distractors_look_alike_but_never_carry_the_venues_name(seed: int) -> None:
    world = World.build(DISTRACTOR_VENUES, SandboxConfig(seed=seed, coverage={p: 1.0 for p in PROVIDERS}, distractors=4.0))
    seen = 0
    for provider in PROVIDERS:
        for place in world.places(provider):
            if place.distractor_of is None:
                continue
            seen += 1
            assert name_key(place.name) not in RESERVED[place.distractor_of], (provider, place.name)
            truth = world.place(provider, world.truth(provider, place.distractor_of) or "")
            assert truth is None or name_key(truth.name) != name_key(place.name), (provider, truth.name, place.name)
    assert seen >= 20, "distractors=4 should still create look-alikes"


# ---- addresses -----------------------------------------------------------------------------------------
ADDRESS_CASES = [
    ("Prince Of Wales, 8 - 14 Prince Of Wales Road, Norwich", "8-14", "Prince Of Wales Road"),
    ("27 - 28 Tombland, Norwich", "27-28", "Tombland"),
    ("Walnut Tree Shades, Old Post Office Court, Norwich", None, "Old Post Office Court"),
    ("Unit 3b, Davisella House, Lower Eldon Street, Nottingham", None, "Lower Eldon Street"),
    ("Living Accommodation Over, The Moon And Stars Public House, 47 Main Street, Nottingham", "47", "Main Street"),
    ("Reeves Yard, St Benedicts Street, Norwich", None, "St Benedicts Street"),
    ("Dale Hotel, Sneinton Dale, Nottingham", None, "Sneinton Dale"),
]


@pytest.mark.parametrize(("line", "house", "street"), ADDRESS_CASES)
def test_the_street_comes_from_the_street_part_of_the_address(line: str, house: str | None, street: str) -> None:
    city = line.rsplit(", ", 1)[1]
    venue = Venue(1, "Some Bar", "some-bar", city.lower(), city, line, "NR1 1AA", "United Kingdom", 52.63, 1.29)
    world = World.build([venue], SandboxConfig(seed=7, coverage={p: 1.0 for p in PROVIDERS}, distractors=0.0))
    records = [p for p in world.places("here", include_addresses=True) if p.is_address]
    assert len(records) == 1
    address = records[0].address
    assert address.street == street
    if house is not None:
        assert address.house_number == house
