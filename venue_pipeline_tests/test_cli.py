"""The command line: imports with bad rows, exports that carry the asset's numbers, gallery export, circuits."""

from __future__ import annotations

import csv
import json

import dagster as dg
import pytest

from venue_pipeline.cli import main
from venue_pipeline.defs.assets import image_failure_report
from venue_pipeline.defs.resources import ImageCdn, ProviderApis, VenueStore


@pytest.fixture
def env(db_url, tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    return db_url


def test_import_reports_bad_rows_with_line_numbers_and_keeps_good_ones(env, tmp_path, capsys) -> None:
    path = tmp_path / "venues.csv"
    path.write_bytes(
        b"name,address,city,country,lat,lng,external_id\n"
        b"Red Lion,1 High St,Bath,UK,51.38,-2.36,a1\n"
        b",2 High St,Bath,UK,51.38,-2.36,a2\n"
        b"Crown,3 High St,Bath,UK,951.0,-2.36,a3\n"
        b"Swan,4 High St,Bath,UK,,,a4\n"
        b"Bad \xff bytes,5 High St,Bath,UK,51.3,-2.3,a5\n"
    )
    assert main(["--db-url", env, "import-venues", str(path), "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    assert "2 venues" in out and "1 without coordinates flagged" in out
    assert f"{path}:3: skipped" in err and f"{path}:4: skipped" in err and f"{path}:6: skipped" in err
    assert main(["--db-url", env, "import-venues", str(tmp_path / "missing.csv")]) == 2


def test_report_exports_carry_the_numbers_of_the_asset_metadata(env, tmp_path) -> None:
    assert main(["--db-url", env, "demo", "--limit-per-city", "6", "--faults", "heavy"]) == 0
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [image_failure_report],
            instance=instance,
            resources={"venue_store": VenueStore(db_url=env), "provider_apis": ProviderApis(),
                       "image_cdn": ImageCdn(image_dir=str(tmp_path / "images"))},
            selection=[image_failure_report],
        )
    metadata = {k: v.value for k, v in result.asset_materializations_for_node("image_failure_report")[0].metadata.items()}
    numeric = {k: v for k, v in metadata.items() if isinstance(v, (int, float))}
    assert numeric["failed_images"] > 0 and numeric["total_images"] > 0

    assert main(["--db-url", env, "report", "--format", "json", "--out", str(tmp_path / "r.json"),
                 "--failed-images", str(tmp_path / "failed.csv")]) == 0
    exported = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert exported == numeric

    assert main(["--db-url", env, "report", "--format", "csv", "--out", str(tmp_path / "r.csv")]) == 0
    with (tmp_path / "r.csv").open() as f:
        summary = {r["metric"]: float(r["value"]) for r in csv.DictReader(f) if r["section"] == "summary"}
    assert summary == {k: float(v) for k, v in numeric.items()}

    with (tmp_path / "failed.csv").open() as f:
        failed = list(csv.DictReader(f))
    assert len(failed) == numeric["failed_images"]
    assert all(r["error_type"] and r["status"] in ("failed", "permanently_failed") for r in failed)

    assert main(["--db-url", env, "report", "--format", "markdown", "--out", str(tmp_path / "r.md")]) == 0
    text = (tmp_path / "r.md").read_text()
    assert "## Failures by provider and error type" in text and "image_retries" in text


def test_export_images_writes_the_original_entry_shape_without_secrets(env, tmp_path, capsys) -> None:
    assert main(["--db-url", env, "demo", "--limit-per-city", "3", "--faults", "none", "--city", "exeter"]) == 0
    capsys.readouterr()
    from sqlalchemy import select

    from venue_pipeline.store.db import session_scope
    from venue_pipeline.store.schema import VenueImageRow

    with session_scope(env) as s:
        venue_id = s.scalars(select(VenueImageRow.venue_id).where(VenueImageRow.status == "uploaded")).first()
    assert main(["--db-url", env, "export-images", str(venue_id)]) == 0
    data = json.loads(capsys.readouterr().out)
    entries = data["venue_images"]
    assert entries and data["venue_id"] == venue_id
    for entry in entries:
        assert {"url", "provider", "provider_url", "upload_status", "quality_score", "fetched_at"} <= set(entry)
        assert "key=" not in entry["provider_url"] and "sandbox-key" not in json.dumps(entry)
        if entry["upload_status"] == "uploaded":
            assert entry["imagekit_path"].startswith("/venues/")
    assert main(["--db-url", env, "export-images", "999999"]) == 2


def test_circuit_reset_from_the_command_line(env, capsys) -> None:
    assert main(["--db-url", env, "circuit", "status"]) == 0
    assert "all circuits closed" in capsys.readouterr().out
    assert main(["--db-url", env, "circuit", "reset", "auth:google_places", "--note", "new key"]) == 0
    assert "circuit auth:google_places reset" in capsys.readouterr().out
