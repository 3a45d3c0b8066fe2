"""Hostile venue files through the real command (`venue_pipeline.cli.main`), on SQLite and PostgreSQL: every
case ends with a one-line message, no traceback, the right exit code, and only the good rows in the database."""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from venue_pipeline.cli import main
from venue_pipeline.core.importer import ImportFormatError
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import VenueRow
from venue_pipeline.store.venues import import_venue_file

HEADER = b"fas_id,name,address,postcode,easting,northing,latitude,longitude,local_authority\n"


def row(fas_id: str, name: str = "Red Lion", city: str = "Norwich", **over: str) -> bytes:
    fields = {"address": "1 High St", "postcode": "NR1 1AA", "lat": "52.6", "lng": "1.29", **over}
    return (
        f"{fas_id},{name},{fields['address']},{fields['postcode']},1,1,{fields['lat']},{fields['lng']},{city}\n"
    ).encode()


@pytest.fixture
def db(any_db_url, tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    return any_db_url


def venues(url: str) -> list[tuple[str, str, str, str]]:
    with session_scope(url) as session:
        rows = session.execute(select(VenueRow.source, VenueRow.external_id, VenueRow.name, VenueRow.slug))
        return sorted(tuple(r) for r in rows)  # type: ignore[misc]


def run(url: str, path: Path | str, capsys, *extra: str) -> tuple[int, str, str]:
    code = main(["--db-url", url, "import-venues", str(path), *extra])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def refused(url: str, path: Path | str, capsys) -> str:
    """The file is refused: exit 2, one `error:` line, nothing else on stderr, the database unchanged."""
    before = venues(url)
    code, out, err = run(url, path, capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert venues(url) == before
    return lines[0]


def seed(url: str, tmp_path: Path, capsys) -> list[tuple[str, str, str, str]]:
    path = tmp_path / "seed.csv"
    path.write_bytes(HEADER + row("900", "Seed Inn"))
    assert run(url, path, capsys)[0] == 0
    return venues(url)


def colliding_ids() -> tuple[str, str]:
    """Two Open Pubs ids whose slugs' 6-hex-digit hashes collide (a birthday search, about 5,000 tries)."""
    seen: dict[str, str] = {}
    for n in itertools.count(1):
        fas_id = str(n)
        short = hashlib.sha1(f"open_pubs:{fas_id}".encode()).hexdigest()[:6]
        if short in seen:
            return seen[short], fas_id
        seen[short] = fas_id
    raise AssertionError


# --------------------------------------------------------------------------- slug collisions


def test_colliding_slugs_are_resolved_the_same_whatever_the_row_order(db, tmp_path, capsys) -> None:
    a, b = colliding_ids()
    forward, backward = tmp_path / "f.csv", tmp_path / "b.csv"
    forward.write_bytes(HEADER + row(a) + row(b))
    backward.write_bytes(HEADER + row(b) + row(a))
    code, out, err = run(db, forward, capsys)
    assert code == 0 and err == "" and "2 venues (2 new" in out
    first = venues(db)
    assert len({slug for *_, slug in first}) == 2
    short = {slug for *_, slug in first if len(slug.rsplit("-", 1)[1]) == 6}
    assert short == {f"red-lion-norwich-{hashlib.sha1(f'open_pubs:{min(a, b)}'.encode()).hexdigest()[:6]}"}
    # re-imports (either order) change nothing
    assert run(db, backward, capsys)[0] == 0 and run(db, forward, capsys)[0] == 0
    assert venues(db) == first


def test_colliding_slugs_across_batches_of_one_import_keep_the_order_independence(any_db_url, tmp_path) -> None:
    a, b = colliding_ids()
    results = []
    for order in ((a, b), (b, a)):
        path = tmp_path / "v.csv"
        path.write_bytes(HEADER + row(order[0]) + row(order[1]))
        with session_scope(any_db_url) as session:
            session.query(VenueRow).delete()
        summary = import_venue_file(any_db_url, path, batch_size=1)  # each row in its own batch
        assert summary.venues == 2 and summary.errors.count == 0
        results.append(venues(any_db_url))
    assert results[0] == results[1]


def test_collision_with_a_venue_of_an_earlier_import_keeps_its_slug(db, tmp_path, capsys) -> None:
    a, b = colliding_ids()
    high = max(a, b, key=lambda x: (x,))
    low = min(a, b)
    (tmp_path / "1.csv").write_bytes(HEADER + row(high))
    (tmp_path / "2.csv").write_bytes(HEADER + row(low))
    assert run(db, tmp_path / "1.csv", capsys)[0] == 0
    stored = venues(db)
    assert run(db, tmp_path / "2.csv", capsys)[0] == 0
    after = venues(db)
    assert stored[0] in after and len(after) == 2  # the stored slug never moves


# --------------------------------------------------------------------------- rows every database refuses


def test_values_no_column_can_hold_are_line_numbered_skips_on_every_database(db, tmp_path, capsys) -> None:
    before = seed(db, tmp_path, capsys)
    path = tmp_path / "hostile.csv"
    path.write_bytes(
        HEADER
        + row("1", "Good One")  # 2
        + row("2", "Nul\x00Bar")  # 3
        + row("3", "N" * 300)  # 4
        + row("4", "Escape", address="1 \x1b[31m St")  # 5
        + row("5", "Long Postcode", postcode="P" * 33)  # 6
        + row("6" * 129, "Long Id")  # 7
        + row("7", "Long City", city="C" * 256)  # 8
        + row("8", "Bad \xff UTF8".encode("latin-1").decode("latin-1")).replace(b"\xc3\xbf", b"\xff")  # 9
        + row("9", "N" * 255)  # 10: exactly at the limit
        + row("10", "Del\x7fChar")  # 11
    )
    code, out, err = run(db, path, capsys)
    assert code == 0
    assert err.splitlines() == [
        f"{path}:3: skipped: control character U+0000 in name",
        f"{path}:4: skipped: name is 300 characters long, at most 255",
        f"{path}:5: skipped: control character U+001B in address",
        f"{path}:6: skipped: postcode is 33 characters long, at most 32",
        f"{path}:7: skipped: external_id is 129 characters long, at most 128",
        f"{path}:8: skipped: city is 256 characters long, at most 255",
        f"{path}:9: skipped: invalid UTF-8 at byte 6",
        f"{path}:11: skipped: control character U+007F in name",
    ]
    assert "2 venues (2 new" in out and "8 bad rows skipped" in out
    added = sorted(set(venues(db)) - set(before))
    assert [(ext, name) for _, ext, name, _ in added] == [("1", "Good One"), ("9", "N" * 255)]


def test_more_than_100_bad_rows_lists_100_and_counts_the_rest(db, tmp_path, capsys) -> None:
    path = tmp_path / "many.csv"
    path.write_bytes(HEADER + b"".join(row(str(i), "") for i in range(250)) + row("ok", "Fine"))
    code, out, err = run(db, path, capsys)
    assert code == 0
    lines = err.splitlines()
    assert len(lines) == 101 and lines[0] == f"{path}:2: skipped: missing name"
    assert lines[-1] == f"{path}: 150 more bad rows skipped (the first 100 are listed)"
    assert "1 venues" in out and "250 bad rows skipped" in out


# --------------------------------------------------------------------------- sizes


def test_a_very_wide_header_is_refused_quickly(db, tmp_path, capsys) -> None:
    before = seed(db, tmp_path, capsys)
    path = tmp_path / "wide.csv"
    with path.open("wb") as fh:  # a 20 MB header: 2.5 million columns
        fh.write(b"name,address,city,country," + b"col," * 5_000_000 + b"x\n" + row("1"))
    started = time.monotonic()
    line = refused(db, path, capsys)
    assert time.monotonic() - started < 30
    assert line.endswith("header line too long: more than 65536 bytes"), line
    assert venues(db) == before


def test_more_than_64_columns_is_refused(db, tmp_path, capsys) -> None:
    path = tmp_path / "cols.csv"
    path.write_bytes(HEADER.rstrip(b"\n") + b"".join(b",extra%d" % i for i in range(56)) + b"\n" + row("1"))
    assert refused(db, path, capsys).endswith("header has 65 columns, at most 64")


def test_a_20_mb_line_is_one_bad_row_and_the_rest_is_imported(db, tmp_path, capsys) -> None:
    path = tmp_path / "long.csv"
    with path.open("wb") as fh:
        fh.write(HEADER + row("1", "Before"))
        huge = b"2,Huge," + b"x" * 20_000_000 + b",NR1,1,1,52.6,1.29,Norwich\n"
        fh.write(huge)
        fh.write(row("3", "After"))
    started = time.monotonic()
    code, out, err = run(db, path, capsys)
    assert time.monotonic() - started < 30
    assert code == 0
    assert err.splitlines() == [f"{path}:3: skipped: line too long: {len(huge)} bytes, at most 65536"]
    assert [name for _, _, name, _ in venues(db)] == ["Before", "After"]


# --------------------------------------------------------------------------- not a regular file


@pytest.mark.parametrize("kind", ["directory", "dev_zero", "fifo"])
def test_non_regular_files_are_refused_with_one_line(db, tmp_path, capsys, kind) -> None:
    before = seed(db, tmp_path, capsys)
    if kind == "directory":
        target: Path | str = tmp_path / "a_folder"
        Path(target).mkdir()
    elif kind == "dev_zero":
        target = "/dev/zero"
    else:
        target = tmp_path / "pipe"
        os.mkfifo(target)
    line = refused(db, target, capsys)
    assert str(target) in line
    assert venues(db) == before
    # the import layer refuses it too, whoever calls it (never opened: a FIFO would block)
    with pytest.raises(ImportFormatError, match="not a regular file"):
        import_venue_file(db, target)


def test_symlink_to_dev_zero_is_refused(db, tmp_path, capsys) -> None:
    link = tmp_path / "zero.csv"
    link.symlink_to("/dev/zero")
    refused(db, link, capsys)
    with pytest.raises(ImportFormatError, match="a character device"):
        import_venue_file(db, link)
