"""`venue-pipeline match-eval --world`: a world file, a Geo-ER folder, and clear errors."""

from __future__ import annotations

import json

import pytest

from venue_pipeline.cli import main
from venue_pipeline.core.match_eval import shared_data_dir
from venue_pipeline.sandbox.world_file import save_world
from venue_pipeline_tests.evaluation.tiny_world import tiny_world


def test_world_file(tmp_path, capsys) -> None:
    path = save_world(tiny_world(), tmp_path / "tiny.json")
    out_json = tmp_path / "out.json"
    assert main(["match-eval", "--world", str(path), "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "| foursquare | all | 6 | 5 | 3 | 2 | 1 | 1 | 0 | 0.667 | 0.400 |" in out
    assert "| foursquare | test-only | 1 | 0 | 1 | 0 | 1 | 1 | 0 | 0.000 | n/a |" in out
    data = json.loads(out_json.read_text())
    assert data[0]["world"] == "tiny" and data[0]["calls"]["foursquare"]["search"] in (6, 9)

    assert main(["match-eval", "--world", str(path), "--split", "valid"]) == 0
    out = capsys.readouterr().out
    assert "| foursquare | valid | 2 | 2 | 0 |" in out and "| train |" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--world", "{tmp}/missing"], "does not exist"),
        (["--world", "{tmp}"], "no <city>_{train,valid,test}.txt files in"),
        (["--world", "{tmp}", "--city", "edi"], "no edi_{train,valid,test}.txt files"),
        (["--world", "{tmp}/bad.json"], "not a world file"),
        (["--world", "{tmp}/bad.json", "--city", "pit"], "--city applies to a Geo-ER folder"),
        (["--world", "{tmp}/bad.json", "some_pairs.txt"], "either labelled-pair FILEs or --world"),
        ([], "needs labelled-pair FILEs or --world"),
    ],
)
def test_errors_are_one_line_exit_2(tmp_path, capsys, args: list[str], message: str) -> None:
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    assert main(["match-eval", *[a.format(tmp=tmp_path) for a in args]]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


@pytest.mark.parametrize("world", ["osm_fsq", "osm_yelp"])
def test_real_geo_er_pit_test_split(world: str, tmp_path, capsys) -> None:
    """The pit test split of a Geo-ER world through the whole stage keeps issue 9's bar (precision 0.98, recall
    0.85); the chooser was fitted on train and its threshold chosen on valid, so this only guards against
    regressions (docs/matching.md holds the numbers and how often test was read)."""
    shared = shared_data_dir()
    source = shared / "geo_er" / world if shared else None
    if source is None or not (source / "pit_test.txt").is_file():
        pytest.skip(f"Geo-ER {world} data not found (../shared/data/geo_er/{world} or $VENUE_SHARED_DATA): not in the repo")
    out_json = tmp_path / "pit.json"
    assert main(["match-eval", "--world", str(source), "--city", "pit", "--split", "test", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert f"{world}/pit" in out and "| foursquare | test-only |" in out
    [result] = json.loads(out_json.read_text())
    metrics = {m["split"]: m for m in result["metrics"]}
    assert set(metrics) == {"all", "test", "test-only"}
    test = metrics["test"]
    assert test["venues"] == result["venues_run"] > 1000  # every venue of the test split
    assert 400 < test["with_true_place"] < test["venues"]
    assert test["precision"] >= 0.98 and test["recall"] >= 0.85
    assert test["correct"] + test["wrong"] == test["stored"]
    assert test["correct"] + sum(test["misses"].values()) == test["with_true_place"]
    assert test["misses"]["error_or_deferred"] == 0  # no faults, no quota
    assert metrics["test-only"]["venues"] < test["venues"]
    assert 1.0 <= result["calls_per_venue"]["foursquare"]["search"] <= 2.0  # a wider second search at most
