"""Matcher evaluation: Geo-ER files are read tolerantly and the test splits reach the target."""

from __future__ import annotations

from pathlib import Path

import pytest

from venue_pipeline.core.match_eval import (
    EvalResult,
    evaluate_file,
    evaluate_locu_foursquare,
    format_results,
    main_match_eval,
    parse_entity,
    read_geo_er,
    shared_data_dir,
)

GOOD = (
    "COL name VAL Pittsburgh Car Detail COL latitude VAL 40.54305948908756 COL longitude VAL -80.01297978196058 "
    "COL address VAL McKnight Road, 7504 COL postalCode VAL   \t"
    "COL name VAL Pittsburgh Car Detail COL latitude VAL 40.5430468 COL longitude VAL -80.0133746 "
    "COL address VAL 7504 Mcknight Rd COL postalCode VAL 15237.0 \t1\n"
)
NEGATIVE = (
    "COL name VAL Pope's Place COL latitude VAL 40.4570786 COL longitude VAL -79.9680217 COL address VAL   "
    "COL postalCode VAL   \tCOL name VAL Donny's Place COL latitude VAL 40.459221 COL longitude VAL -79.965593 "
    "COL address VAL 1226 Herron Ave COL postalCode VAL 15219.0 \t0\n"
)


def data_dir() -> Path:
    d = shared_data_dir()
    if d is None or not (d / "geo_er").is_dir():
        pytest.skip("shared data not found (../shared/data beside the repo, or set VENUE_SHARED_DATA); "
                    "the Geo-ER / Locu data are not redistributed with the project")
    return d


def test_entity_fields_are_parsed_and_empty_values_are_none() -> None:
    r = parse_entity("COL name VAL Aldi COL latitude VAL 40.4269826 COL longitude VAL -79.967243 "
                     "COL address VAL   COL postalCode VAL   ")
    assert r.name == "Aldi" and r.lat == pytest.approx(40.4269826) and r.lng == pytest.approx(-79.967243)
    assert r.address is None and r.postcode is None


def test_entity_with_missing_coordinates_is_kept() -> None:
    r = parse_entity("COL name VAL Somewhere COL latitude VAL  COL longitude VAL  COL address VAL 1 Main St")
    assert r.lat is None and r.lng is None and r.address == "1 Main St"


def test_malformed_lines_are_skipped_with_line_numbers(tmp_path: Path) -> None:
    f = tmp_path / "pairs.txt"
    f.write_text(
        GOOD
        + "this line has no tabs at all\n"  # 2
        + NEGATIVE
        + GOOD.replace("\t1\n", "\tmaybe\n")  # 4: bad label
        + "\n"  # 5: blank, ignored
        + GOOD.replace("VAL 40.5430468", "VAL north")  # 6: bad latitude
        + "COL nom VAL x\tCOL name VAL y\t0\n",  # 7: no name field
        encoding="utf-8",
    )
    pairs, skipped = read_geo_er(f)
    assert [p.line_no for p in pairs] == [1, 3]
    assert [s.line_no for s in skipped] == [2, 4, 6, 7]
    assert "3 tab-separated" in skipped[0].reason
    result = evaluate_file(f)
    assert result.pairs == 2 and result.positives == 1 and len(result.skipped_lines) == 4
    assert result.tp == 1 and result.fp == 0 and result.fn == 0
    text = format_results([result])
    assert "skipped=4" in text and "skipped line 2" in text


def test_main_match_eval_prints_one_line_per_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "pairs.txt"
    f.write_text(GOOD + NEGATIVE, encoding="utf-8")
    assert main_match_eval([str(f)]) == 0
    out = capsys.readouterr().out
    assert "pairs.txt: pairs=2 positives=1" in out and "precision=1.000" in out
    assert main_match_eval([str(tmp_path / "missing.txt")]) == 1
    assert main_match_eval([]) == 2


@pytest.mark.parametrize("source", ["osm_fsq", "osm_yelp"])
def test_geo_er_test_split_pair_scores_stay_precise(source: str) -> None:
    """The pair model alone at its threshold (chosen on valid for 0.98); the end-to-end numbers are
    venue_pipeline_tests/evaluation's."""
    path = data_dir() / "geo_er" / source / "pit_test.txt"
    result: EvalResult = evaluate_file(path)
    assert result.skipped_lines == []
    assert result.precision >= 0.97, format_results([result])
    assert result.recall >= 0.70, format_results([result])


def test_locu_foursquare_accepted_matches_are_precise() -> None:
    d = data_dir() / "locu_foursquare_nyc"
    if not d.is_dir():
        pytest.skip("locu_foursquare_nyc not in the shared data folder")
    result = evaluate_locu_foursquare(d)
    assert result.positives == 360
    assert result.precision >= 0.97, format_results([result])
    assert result.recall >= 0.80, format_results([result])
