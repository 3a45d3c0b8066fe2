"""evaluate_world end to end on a hand-written world: the real ID stage against the sandbox in world-file mode."""

from __future__ import annotations

import json
from dataclasses import replace

from venue_pipeline.evaluation.world_eval import CAUSES, evaluate_world, format_world_eval
from venue_pipeline.sandbox.world_file import WorldPlace, WorldVenue
from venue_pipeline_tests.evaluation.tiny_world import CITY, _pid, tiny_world


def _misses(**kw: int) -> dict[str, int]:
    return {c: kw.get(c, 0) for c in CAUSES}


def test_tiny_world_counts_and_causes(tmp_path) -> None:
    result = evaluate_world(tiny_world(), workdir=tmp_path)
    verdicts = {o.world_venue_id: o.verdict for o in result.outcomes}
    assert verdicts == {
        1: "correct",
        2: "correct",  # one of its two true places
        3: "wrong_no_true_place",
        4: "not_returned_within_radius",
        5: "not_returned_by_search",
        6: "rejected_no_match",
    }
    every = result.metric("all", "foursquare")
    assert (every.venues, every.with_true_place, every.stored, every.correct) == (6, 5, 3, 2)
    assert (every.wrong_no_true_place, every.wrong_other_place) == (1, 0)
    assert every.precision == 2 / 3 and every.recall == 2 / 5
    assert every.misses == _misses(not_returned_within_radius=1, not_returned_by_search=1, rejected_no_match=1)

    train = result.metric("train", "foursquare")  # venues 1, 2, 6
    assert (train.venues, train.with_true_place, train.stored, train.correct, train.wrong) == (3, 3, 2, 2, 0)
    assert train.misses == _misses(rejected_no_match=1)
    valid = result.metric("valid", "foursquare")  # venues 4, 5
    assert (valid.venues, valid.with_true_place, valid.stored, valid.precision, valid.recall) == (2, 2, 0, None, 0.0)
    assert valid.misses == _misses(not_returned_within_radius=1, not_returned_by_search=1)
    test = result.metric("test", "foursquare")  # venues 2, 3, 4
    assert (test.venues, test.with_true_place, test.stored, test.correct, test.wrong_no_true_place) == (3, 2, 2, 1, 1)
    assert test.misses == _misses(not_returned_within_radius=1)
    test_only = result.metric("test-only", "foursquare")  # venue 3
    assert (test_only.venues, test_only.with_true_place, test_only.stored, test_only.wrong) == (1, 0, 1, 1)

    assert result.venues_run == 6
    # one search per venue, plus (when the stage has it) a wider one for each of the 3 venues left unmatched
    assert result.calls["foursquare"]["search"] in (6, 9) and set(result.calls) == {"foursquare"}
    assert result.calls_per_venue()["foursquare"]["search"] == result.calls["foursquare"]["search"] / 6
    text = format_world_eval(result)
    assert "| foursquare | all | 6 | 5 | 3 | 2 | 1 | 1 | 0 | 0.667 | 0.400 |" in text
    assert "no daily quota" in text
    data = json.loads(json.dumps(result.to_json()))
    assert data["metrics"][0]["precision"] == 0.6667 and data["calls_per_venue"]["foursquare"]["search"] >= 1.0


def test_one_split_runs_only_its_venues(tmp_path) -> None:
    result = evaluate_world(tiny_world(), splits=("valid",), workdir=tmp_path)
    assert result.venues_run == 2
    assert [m.split for m in result.metrics] == ["all", "valid"]
    assert result.metric("valid", "foursquare").misses == _misses(
        not_returned_within_radius=1, not_returned_by_search=1
    )


def test_wrong_place_chosen_and_a_venue_without_coordinates(tmp_path) -> None:
    """A look-alike nearer than the true place is accepted (a wrong ID that is also a miss); a venue without
    coordinates is kept and geocoded."""
    world = tiny_world()
    v1 = world.venues[0]
    world.venues = [v1, WorldVenue(7, "Blue Dog Tavern", CITY, None, None, "Main Street, 12", "15201", "US", ("train",))]
    # venue 1's true place becomes a far-off branch; its look-alike 10 m off is labelled another place
    far = world.places[0]
    world.places = [far, WorldPlace("foursquare", _pid(99), far.name, v1.lat + 0.00009, v1.lng, "12 Main St", "15201", CITY)]
    world.places[0] = replace(far, lat=v1.lat + 0.0018)  # ~200 m north: within radius but worse
    world.truth = {1: {"foursquare": [_pid(1)]}, 7: {"foursquare": [_pid(1)]}}
    result = evaluate_world(world, workdir=tmp_path)
    verdicts = {o.world_venue_id: o.verdict for o in result.outcomes}
    assert verdicts[1] == "wrong_other_place"
    assert result.metric("all", "foursquare").misses["wrong_place_chosen"] == 1
    assert result.metric("all", "foursquare").wrong_other_place == 1
    assert result.venues_run == 2
    assert result.calls["foursquare"]["geocode"] == 1 and result.calls["foursquare"]["search"] in (1, 2)
