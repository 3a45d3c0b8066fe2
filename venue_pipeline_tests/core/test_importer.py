"""Venue files: good rows survive, each bad row is reported with its physical line and a reason."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from venue_pipeline.core.importer import (
    ImportFormatError,
    ParseResult,
    RowError,
    derive_external_id,
    detect_format,
    parse_venues,
)
from venue_pipeline.sandbox.data import DEMO_AUTHORITIES, DEMO_VENUES_CSV

OPEN_PUBS_HEADER = "fas_id,name,address,postcode,easting,northing,latitude,longitude,local_authority\n"
SHIPPED_SOURCE = Path(__file__).resolve().parents[3] / "shared" / "data" / "open_pubs" / "open_pubs.csv"


def write(tmp_path: Path, data: bytes | str, name: str = "venues.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def errors_by_line(result: ParseResult) -> dict[int, str]:
    return {e.line: e.reason for e in result.errors}


# --------------------------------------------------------------------------- Open Pubs format


def test_good_open_pubs_file_parses(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        OPEN_PUBS_HEADER
        + '24,Anchor Inn,"Upper Street, Stratford St Mary, COLCHESTER, Essex",CO7 6LW,604748,234405,51.97039,0.979328,Babergh\n'
        + "63,Black Boy Hotel,\"7 Market Hill, SUDBURY, Suffolk\",CO10 2EA,587356,241327,52.038683,0.730226,Babergh\n",
    )
    result = parse_venues(path, "open_pubs")
    assert result.errors == []
    anchor, black_boy = result.venues
    assert anchor.source == "open_pubs"
    assert anchor.external_id == "24"
    assert anchor.name == "Anchor Inn"
    assert anchor.address == "Upper Street, Stratford St Mary, COLCHESTER, Essex"
    assert anchor.postcode == "CO7 6LW"
    assert (anchor.city_name, anchor.city_slug, anchor.country) == ("Babergh", "babergh", "United Kingdom")
    assert (anchor.lat, anchor.lng, anchor.needs_geocoding) == (51.97039, 0.979328, False)
    assert black_boy.slug.startswith("black-boy-hotel-babergh-")


def test_backslash_n_coordinates_are_kept_and_flagged(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        OPEN_PUBS_HEADER
        + '30970,The Shoe Maker,"1 The Lastings, Sandy Lane, Norwich",NR4 6EF,622675,-5527598,\\N,\\N,Norwich\n'
        + "5,Empty Coords,1 Road,NR1 1AA,,,,,Norwich\n",
    )
    result = parse_venues(path, "open_pubs")
    assert result.errors == []
    assert [(v.external_id, v.lat, v.lng, v.needs_geocoding) for v in result.venues] == [
        ("30970", None, None, True),
        ("5", None, None, True),
    ]


def test_each_bad_row_kind_is_reported_and_good_rows_survive(tmp_path: Path) -> None:
    good = "{id},Good {id},1 High St,NR1 1AA,1,1,52.6,1.29,Norwich\n"
    lines = [
        OPEN_PUBS_HEADER.encode(),  # 1
        good.format(id=1).encode(),  # 2
        b"2,,1 High St,NR1 1AA,1,1,52.6,1.29,Norwich\n",  # 3 missing name
        b"3,Too Few,1 High St,NR1 1AA,52.6,1.29,Norwich\n",  # 4 wrong column count
        b"4,Caf\xe9 Bar,1 High St,NR1 1AA,1,1,52.6,1.29,Norwich\n",  # 5 latin-1, not UTF-8
        good.format(id=5).encode(),  # 6
        b"6,Far North,1 High St,NR1 1AA,1,1,95.0,1.29,Norwich\n",  # 7 lat out of range
        b"7,Far East,1 High St,NR1 1AA,1,1,52.6,181,Norwich\n",  # 8 lng out of range
        b"8,Half,1 High St,NR1 1AA,1,1,52.6,\\N,Norwich\n",  # 9 one of the pair missing
        b"9,Null Island,1 High St,NR1 1AA,1,1,0,0.0,Norwich\n",  # 10 (0, 0)
        b"10,Words,1 High St,NR1 1AA,1,1,north,1.29,Norwich\n",  # 11 non-numeric
        b"11,NaN,1 High St,NR1 1AA,1,1,nan,1.29,Norwich\n",  # 12 non-numeric too
        b"12,No City,1 High St,NR1 1AA,1,1,52.6,1.29,\n",  # 13 missing authority
        good.format(id=13).encode(),  # 14
    ]
    result = parse_venues(write(tmp_path, b"".join(lines)), "open_pubs")

    assert [v.external_id for v in result.venues] == ["1", "5", "13"]
    found = errors_by_line(result)
    assert found == {
        3: "missing name",
        4: "wrong column count: 7 columns, expected 9",
        5: "invalid UTF-8 at byte 5",
        7: "latitude 95.0 out of range [-90, 90]",
        8: "longitude 181 out of range [-180, 180]",
        9: "only latitude given: latitude and longitude must come as a pair",
        10: "coordinates (0, 0) are a placeholder, not a venue's location",
        11: "non-numeric latitude 'north'",
        12: "non-numeric latitude 'nan'",
        13: "missing local_authority (city)",
    }
    bad_utf8 = next(e for e in result.errors if e.line == 5)
    assert "Caf" in bad_utf8.raw and "Bar" in bad_utf8.raw


def test_multiline_quoted_address_keeps_physical_line_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        OPEN_PUBS_HEADER  # 1
        + '1,The Lamb,"2 Lamb Yard,\nOrford Place\nNorwich",NR1 3RU,1,1,52.627,1.295,Norwich\n'  # 2-4
        + "2,,no name,NR1 1AA,1,1,52.6,1.29,Norwich\n"  # 5
        + '3,Quoted "Name",x,NR1 1AA,1,1,52.6,1.29,Norwich\r\n',  # 6 (lenient quote, CRLF)
    )
    result = parse_venues(path, "open_pubs")
    assert [v.external_id for v in result.venues] == ["1", "3"]
    lamb = result.venues[0]
    assert lamb.address == "2 Lamb Yard, Orford Place, Norwich"
    assert errors_by_line(result) == {5: "missing name"}


def test_invalid_utf8_inside_a_multiline_record_drops_only_that_record(tmp_path: Path) -> None:
    data = (
        OPEN_PUBS_HEADER.encode()  # 1
        + b'1,The Lamb,"2 Lamb Yard\nOrf\xffrd Place",NR1 3RU,1,1,52.627,1.295,Norwich\n'  # 2-3
        + b"2,Good,x,NR1 1AA,1,1,52.6,1.29,Norwich\n"  # 4
    )
    result = parse_venues(write(tmp_path, data), "open_pubs")
    assert [v.external_id for v in result.venues] == ["2"]
    assert errors_by_line(result) == {3: "invalid UTF-8 at byte 3 (in the record spanning lines 2-3)"}


def test_unbalanced_quote_costs_one_row_not_the_rest_of_the_file(tmp_path: Path) -> None:
    rows = [OPEN_PUBS_HEADER, '1,"Broken,x,NR1 1AA,1,1,52.6,1.29,Norwich\n']  # line 2
    rows += [f"{i},Pub {i},x,NR1 1AA,1,1,52.6,1.29,Norwich\n" for i in range(2, 40)]  # 3..40
    result = parse_venues(write(tmp_path, "".join(rows)), "open_pubs")
    assert [v.external_id for v in result.venues] == [str(i) for i in range(2, 40)]
    assert [e.line for e in result.errors] == [2]
    assert result.errors[0].reason.startswith("unbalanced quote")


def test_unbalanced_quote_at_end_of_file(tmp_path: Path) -> None:
    data = OPEN_PUBS_HEADER + "1,Ok,x,NR1 1AA,1,1,52.6,1.29,Norwich\n" + '2,"Broken,x\n3,Last,x,NR1 1AA,1,1,52.6,1.29,Norwich\n'
    result = parse_venues(write(tmp_path, data), "open_pubs")
    assert [v.external_id for v in result.venues] == ["1", "3"]
    assert [e.line for e in result.errors] == [3]
    assert "unbalanced quote" in result.errors[0].reason


def test_duplicate_external_id_keeps_the_last(tmp_path: Path) -> None:
    data = (
        OPEN_PUBS_HEADER
        + "7,Old Name,x,NR1 1AA,1,1,52.6,1.29,Norwich\n"  # 2
        + "8,Other,x,NR1 1AA,1,1,52.6,1.29,Norwich\n"  # 3
        + "7,Middle Name,x,NR1 1AA,1,1,52.6,1.29,Norwich\n"  # 4
        + "7,New Name,x,NR1 1AA,1,1,52.61,1.29,Norwich\n"  # 5
    )
    result = parse_venues(write(tmp_path, data), "open_pubs")
    assert [(v.external_id, v.name) for v in result.venues] == [("8", "Other"), ("7", "New Name")]
    assert errors_by_line(result) == {
        2: "duplicate external id '7' (line 5 wins)",
        4: "duplicate external id '7' (line 5 wins)",
    }


def test_blank_lines_bom_and_binary_file_objects(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + OPEN_PUBS_HEADER.encode() + b"\n1,Pub,x,NR1 1AA,1,1,52.6,1.29,Norwich\n\n"
    result = parse_venues(io.BytesIO(data), "open_pubs")
    assert [v.name for v in result.venues] == ["Pub"] and result.errors == []


def test_format_is_detected_when_not_given(tmp_path: Path) -> None:
    path = write(tmp_path, OPEN_PUBS_HEADER + "1,Pub,x,NR1 1AA,1,1,52.6,1.29,Norwich\n")
    assert parse_venues(path).venues[0].source == "open_pubs"
    assert detect_format(OPEN_PUBS_HEADER) == "open_pubs"
    assert detect_format(["name", "address", "city", "country"]) == "csv"
    with pytest.raises(ImportFormatError):
        detect_format("id,title")


def test_file_level_problems_raise(tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match="empty"):
        parse_venues(write(tmp_path, b""), "open_pubs")
    with pytest.raises(ImportFormatError, match="local_authority"):
        parse_venues(write(tmp_path, "fas_id,name,address,postcode,latitude,longitude\n"), "open_pubs")
    with pytest.raises(ImportFormatError, match="city"):
        parse_venues(write(tmp_path, OPEN_PUBS_HEADER), "csv")


# --------------------------------------------------------------------------- plain CSV format


def test_plain_csv_with_optional_columns(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name,address,city,country,lat,lng,external_id\n"  # 1
        "Blue Bar,1 Main St,Lisboa,Portugal,38.71,-9.14,bb-1\n"  # 2
        "Café Zoë,2 Rua Nova,Lisboa,Portugal,,,\n"  # 3 no coords, no id
        "No Coords Either,3 Rua,Porto,Portugal,\\N,\\N,\n"  # 4
        ",4 Rua,Porto,Portugal,41.1,-8.6,x\n"  # 5 missing name
        "Nameless City,5 Rua,,Portugal,41.1,-8.6,y\n"  # 6 missing city
        "Bad,6 Rua,Porto,Portugal,41.1,-200,z\n",  # 7
    )
    result = parse_venues(path, "csv")
    blue, cafe, porto = result.venues
    assert (blue.source, blue.external_id, blue.lat, blue.lng, blue.country) == ("csv", "bb-1", 38.71, -9.14, "Portugal")
    assert cafe.city_slug == "lisboa" and cafe.needs_geocoding and cafe.lat is None
    assert cafe.external_id == derive_external_id("Café Zoë", "2 Rua Nova", "Lisboa")
    assert cafe.slug.startswith("cafe-zoe-lisboa-")
    assert porto.needs_geocoding
    assert errors_by_line(result) == {
        5: "missing name",
        6: "missing city",
        7: "longitude -200 out of range [-180, 180]",
    }


def test_plain_csv_without_coordinate_or_id_columns_and_derived_id_duplicates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "city,name,country,address\n"  # column order does not matter
        "Lisboa,Blue Bar,Portugal,1 Main St\n"
        "Lisboa,  blue   BAR ,Portugal,1 main st\n",  # same place, other spelling -> same id
    )
    result = parse_venues(path)
    assert [v.name for v in result.venues] == ["blue BAR"]
    assert result.venues[0].needs_geocoding
    assert [e.line for e in result.errors] == [2]
    assert "(line 3 wins)" in result.errors[0].reason


def test_derived_external_id_is_stable() -> None:
    first = derive_external_id("Blue Bar", "1 Main St", "Lisboa")
    assert first == derive_external_id("Blue Bar", "1 Main St", "Lisboa")
    assert first == derive_external_id(" blue  bar", "1 MAIN ST", "lisboa")
    assert first != derive_external_id("Blue Bar", "2 Main St", "Lisboa")
    assert first.startswith("h-") and len(first) == 18


# --------------------------------------------------------------------------- shipped demo data


def test_shipped_demo_file_parses_cleanly() -> None:
    result = parse_venues(DEMO_VENUES_CSV, "open_pubs")
    assert result.errors == []
    assert len(result.venues) >= 500
    assert {v.city_name for v in result.venues} == set(DEMO_AUTHORITIES)
    assert len(DEMO_AUTHORITIES) >= 3
    assert 1 <= sum(v.needs_geocoding for v in result.venues) <= 8
    assert len({v.slug for v in result.venues}) == len(result.venues)
    assert len({v.external_id for v in result.venues}) == len(result.venues)


@pytest.mark.skipif(not SHIPPED_SOURCE.exists(), reason=f"Open Pubs source not found at {SHIPPED_SOURCE}")
def test_demo_file_is_a_byte_identical_reproducible_cut(tmp_path: Path) -> None:
    import importlib.util

    script = DEMO_VENUES_CSV.parent / "scripts" / "make_demo_venues.py"
    spec = importlib.util.spec_from_file_location("make_demo_venues", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.DEMO_AUTHORITIES == DEMO_AUTHORITIES
    out = tmp_path / "demo.csv"
    assert module.main(["--source", str(SHIPPED_SOURCE), "--out", str(out)]) == 0
    assert out.read_bytes() == DEMO_VENUES_CSV.read_bytes()
    source_lines = set(SHIPPED_SOURCE.read_bytes().splitlines(keepends=True))
    assert all(line in source_lines for line in DEMO_VENUES_CSV.read_bytes().splitlines(keepends=True))


def test_row_error_shape() -> None:
    error = RowError(line=3, reason="missing name", raw="2,,x")
    assert (error.line, error.reason, error.raw) == (3, "missing name", "2,,x")


# --------------------------------------------------------------------------- hostile input (issue 13)


def test_field_limits_match_the_venue_columns() -> None:
    from venue_pipeline.core.importer import FIELD_LIMITS
    from venue_pipeline.store.schema import VenueRow

    columns = {"city_name": "city_name"}
    for attr, limit in FIELD_LIMITS.items():
        assert VenueRow.__table__.c[columns.get(attr, attr)].type.length == limit, attr


def test_control_characters_and_overlong_fields_are_row_errors(tmp_path: Path) -> None:
    data = (
        OPEN_PUBS_HEADER
        + "1,Nul\x00Pub,x,NR1 1AA,1,1,52.6,1.29,Norwich\n"
        + f"2,{'n' * 256},x,NR1 1AA,1,1,52.6,1.29,Norwich\n"
        + "3,Fine,x\x07y,NR1 1AA,1,1,52.6,1.29,Norwich\n"
        + "4,Tabs\tare\tspaces,x,NR1 1AA,1,1,52.6,1.29,Norwich\n"
    )
    result = parse_venues(write(tmp_path, data), "open_pubs")
    assert errors_by_line(result) == {
        2: "control character U+0000 in name",
        3: "name is 256 characters long, at most 255",
        4: "control character U+0007 in address",
    }
    assert [v.name for v in result.venues] == ["Tabs are spaces"]


def test_an_overlong_line_is_one_bad_row_even_inside_a_quoted_field(tmp_path: Path) -> None:
    long = "9," + "x" * 70_000 + ",x,NR1 1AA,1,1,52.6,1.29,Norwich\n"
    data = (
        OPEN_PUBS_HEADER
        + '1,Open,"starts a quote\n'  # 2
        + long  # 3
        + "5,After,x,NR1 1AA,1,1,52.6,1.29,Norwich\n"  # 4
    )
    result = parse_venues(write(tmp_path, data), "open_pubs")
    assert [v.name for v in result.venues] == ["After"]
    found = errors_by_line(result)
    assert found[3] == f"line too long: {len(long)} bytes, at most 65536"
    assert 2 in found


def test_header_caps(tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match="header line too long"):
        parse_venues(write(tmp_path, "a," * 40_000 + "\n"))
    with pytest.raises(ImportFormatError, match="header has 65 columns, at most 64"):
        parse_venues(write(tmp_path, ",".join(f"c{i}" for i in range(65)) + "\n"))


def test_capped_lines_reads_a_huge_line_in_bounded_chunks() -> None:
    from venue_pipeline.core.import_lines import capped_lines

    data = b"short\n" + b"y" * 1_000_000 + b"\nlast"
    assert [(line[:6], n) for line, n in capped_lines(io.BytesIO(data), limit=100)] == [
        (b"short\n", 6),
        (b"yyyyyy", 1_000_001),
        (b"last", 4),
    ]
    assert [n for _, n in capped_lines(io.BytesIO(b"x" * 100), limit=100)] == [100]


def test_venue_batches_let_the_last_row_win_across_batches(tmp_path: Path) -> None:
    from venue_pipeline.core.importer import ErrorLog, open_venues, venue_batches

    data = OPEN_PUBS_HEADER + "".join(
        f"{i % 3},Pub {n},x,NR1 1AA,1,1,52.6,1.29,Norwich\n" for n, i in enumerate(range(7))
    )
    errors = ErrorLog(keep=2)
    with open_venues(write(tmp_path, data)) as venues:
        batches = [[(line, v.external_id) for line, v in b] for b in venue_batches(venues, errors, size=2)]
    assert batches == [[(2, "0"), (3, "1")], [(4, "2"), (5, "0")], [(6, "1"), (7, "2")], [(8, "0")]]
    assert errors.count == 4 and errors.unlisted == 2
    assert [(e.line, e.reason) for e in errors.listed] == [
        (2, "duplicate external id '0' (line 5 wins)"),
        (3, "duplicate external id '1' (line 6 wins)"),
    ]
