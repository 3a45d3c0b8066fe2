"""A hand-written world whose every outcome is known: the fixtures of the world evaluation tests."""

from __future__ import annotations

from venue_pipeline.sandbox.world import offset_point
from venue_pipeline.sandbox.world_file import WorldData, WorldPlace, WorldVenue

CITY = "Testburgh"
BASE = (40.4400, -79.9900)


def _pid(n: int) -> str:
    """Foursquare-shaped IDs (24 hex)."""
    return f"{n:024x}"


def _at(north_m: float, east_m: float) -> tuple[float, float]:
    lat, lng = offset_point(BASE[0], BASE[1], north_m, 0.0)
    return offset_point(lat, lng, east_m, 90.0)


def _venue(vid: int, name: str, where: tuple[float, float] | None, address: str, splits: tuple[str, ...]) -> WorldVenue:
    lat, lng = where if where else (None, None)
    return WorldVenue(vid, name, CITY, lat, lng, address, "15201", "US", splits)


def _place(n: int, name: str, where: tuple[float, float], address: str) -> WorldPlace:
    return WorldPlace("foursquare", _pid(n), name, where[0], where[1], address, "15201", CITY, "US")


def tiny_world() -> WorldData:
    """Six venues 2 km apart from each other:

    1 Blue Dog Tavern (train): its place 20 m off, same name and address -> correct.
    2 Iron City Brewing (train, test): TWO true places, the brewery 15 m off and its gift shop 120 m off
      -> the brewery is stored, correct.
    3 Smithfield Street Diner (test only): no true place, but "Smithfield Street Diner" 25 m off is another
      business in the labels -> stored, wrong (venue has no true place).
    4 Allegheny Bowling Lanes (valid, test): its true place 800 m off, beyond the search radius (250 m, and
      the 500 m of a wider second search) -> missed.
    5 Carnegie Hall Annex (valid): its true place 30 m off under an unrelated name the search does not return
      -> missed (not returned by search).
    6 Penn Avenue Pharmacy (train): labelled the same as "Penn Avenue Fish Company" 20 m off at another house
      number; the search returns it (the names share words), the matcher rejects it -> missed (no_match).
    """
    venues = [
        _venue(1, "Blue Dog Tavern", _at(0, 0), "Main Street, 12", ("train",)),
        _venue(2, "Iron City Brewing", _at(2000, 0), "Liberty Avenue, 3340", ("train", "test")),
        _venue(3, "Smithfield Street Diner", _at(4000, 0), "Smithfield Street, 500", ("test",)),
        _venue(4, "Allegheny Bowling Lanes", _at(6000, 0), "Ohio River Boulevard, 900", ("valid", "test")),
        _venue(5, "Carnegie Hall Annex", _at(0, 2000), "Forbes Avenue, 4400", ("valid",)),
        _venue(6, "Penn Avenue Pharmacy", _at(0, 4000), "Penn Avenue, 200", ("train",)),
    ]
    places = [
        _place(1, "Blue Dog Tavern", _at(20, 0), "12 Main St"),
        _place(2, "Iron City Brewing", _at(2015, 0), "3340 Liberty Ave"),
        _place(3, "Iron City Brewing Gift Shop", _at(2000, 120), "3350 Liberty Ave"),
        _place(4, "Smithfield Street Diner", _at(4025, 0), "500 Smithfield St"),
        _place(5, "Allegheny Bowling Lanes", _at(6800, 0), "900 Ohio River Blvd"),
        _place(6, "Mellon Events Office", _at(30, 2000), "4400 Forbes Ave"),
        _place(7, "Penn Avenue Fish Company", _at(20, 4000), "212 Penn Ave"),
    ]
    truth = {
        1: {"foursquare": [_pid(1)]},
        2: {"foursquare": [_pid(2), _pid(3)]},
        4: {"foursquare": [_pid(5)]},
        5: {"foursquare": [_pid(6)]},
        6: {"foursquare": [_pid(7)]},
    }
    return WorldData("tiny", venues, places, truth)
