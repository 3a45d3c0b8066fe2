"""World files: round trip, clear errors, and the sandbox serving one (Settings.sandbox_world)."""

from __future__ import annotations

import json

import httpx
import pytest

from venue_pipeline.sandbox.world_file import FORMAT, WorldData, providers_of, read_world, save_world, world_from_data
from venue_pipeline.services import Settings, build_world_sandbox, shared_sandbox
from venue_pipeline_tests.evaluation.tiny_world import _pid, tiny_world


def test_round_trip(tmp_path) -> None:
    data = tiny_world()
    back = read_world(save_world(data, tmp_path / "w.json"))
    assert back == data
    assert back.true_ids(2, "foursquare") == {_pid(2), _pid(3)}
    assert back.true_ids(3, "foursquare") == frozenset()
    assert providers_of(back) == ["foursquare"]
    world = world_from_data(back)
    assert len(world.places("foursquare")) == 7 and world.places("here") == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "a world file is a JSON object"),
        ('{"format": "other"}', "not a world file"),
        (json.dumps({"format": FORMAT, "venues": [{"id": 1}]}), "malformed world file"),
        (json.dumps({"format": FORMAT, "places": [{"provider": "foursquare", "place_id": "a", "name": "A"}]}), "malformed"),
    ],
)
def test_read_world_errors(tmp_path, content: str, message: str) -> None:
    path = tmp_path / "w.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        read_world(path)


def test_unknown_provider_and_missing_file(tmp_path) -> None:
    place = {"provider": "yelp", "place_id": "a", "name": "A", "lat": 1.0, "lng": 2.0}
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"format": FORMAT, "places": [place]}))
    with pytest.raises(ValueError, match="unknown provider 'yelp'"):
        read_world(path)
    with pytest.raises(ValueError, match="cannot read"):
        read_world(tmp_path / "missing.json")


def test_sandbox_serves_the_world_file(tmp_path, sqlite_url) -> None:
    path = save_world(tiny_world(), tmp_path / "w.json")
    settings = Settings(db_url=sqlite_url, sandbox_faults="none", sandbox_world=str(path))
    sandbox = build_world_sandbox(settings)
    place = sandbox.world.place("foursquare", _pid(1))
    with httpx.Client(transport=sandbox.transport()) as client:
        response = client.get(
            "https://places-api.foursquare.com/places/search",
            params={"ll": f"{place.lat},{place.lng}", "radius": 250, "query": "Blue Dog Tavern"},
            headers={"Authorization": "Bearer sandbox-key", "X-Places-Api-Version": "2025-06-17"},
        )
    assert response.status_code == 200, response.text
    assert [r["fsq_place_id"] for r in response.json()["results"]] == [_pid(1)]
    # one simulator per world file, rebuilt when the file changes
    assert shared_sandbox(settings) is shared_sandbox(settings)
    other = save_world(WorldData("empty"), tmp_path / "empty.json")
    assert shared_sandbox(Settings(db_url=sqlite_url, sandbox_faults="none", sandbox_world=str(other))) is not shared_sandbox(settings)
