"""A Dagster materialization of all four assets for one city, with metadata that matches the database."""

from __future__ import annotations

import dagster as dg
import pytest
from sqlalchemy import func, select

from venue_pipeline.cli import import_file
from venue_pipeline.defs.assets import discovered_photos, image_failure_report, provider_ids, uploaded_images
from venue_pipeline.defs.checks import image_invariants, provider_ids_are_real_ids
from venue_pipeline.defs.resources import ImageCdn, ProviderApis, VenueStore
from venue_pipeline.demo import limited_demo_csv
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import ProviderIdRow, VenueImageRow


def _metadata(result: dg.ExecuteInProcessResult, key: str) -> dict:
    mats = result.asset_materializations_for_node(key)
    assert mats, f"no materialization of {key}"
    return {k: v.value for k, v in mats[-1].metadata.items()}


@pytest.mark.parametrize("faults", ["none", "heavy"])
def test_materialize_all_four_assets_for_one_city(db_url, tmp_path, monkeypatch, dagster_instance, faults) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    import_file(db_url, limited_demo_csv(12, tmp_path / "subset.csv"), "open_pubs", quiet=True)
    dagster_instance.add_dynamic_partitions("cities", ["exeter"])
    resources = {
        "venue_store": VenueStore(db_url=db_url),
        "provider_apis": ProviderApis(sandbox_faults=faults),
        "image_cdn": ImageCdn(image_dir=str(tmp_path / "images")),
    }
    city = dg.materialize(
        [provider_ids, discovered_photos, uploaded_images, provider_ids_are_real_ids, image_invariants],
        partition_key="exeter",
        resources=resources,
        instance=dagster_instance,
    )
    assert city.success
    report = dg.materialize(
        [image_failure_report],
        resources=resources,
        instance=dagster_instance,
        selection=[image_failure_report],
    )
    assert report.success

    ids_meta = _metadata(city, "provider_ids")
    photos_meta = _metadata(city, "discovered_photos")
    upload_meta = _metadata(city, "uploaded_images")
    report_meta = _metadata(report, "image_failure_report")
    with session_scope(db_url) as s:
        matched = s.scalar(select(func.count()).select_from(ProviderIdRow).where(ProviderIdRow.status == "matched"))
        images = s.scalar(select(func.count(VenueImageRow.id)))
        by_status = dict(s.execute(select(VenueImageRow.status, func.count()).group_by(VenueImageRow.status)).all())
    uploaded = by_status.get("uploaded", 0)
    assert ids_meta["venues"] == 12
    assert ids_meta["ids_total_after"] == matched > 12
    assert photos_meta["photos_new"] == images > 0
    assert upload_meta["uploaded"] == uploaded == report_meta["uploaded"] > 0
    assert report_meta["total_images"] == images
    assert upload_meta["failed_will_retry"] == by_status.get("failed", 0) == report_meta["failed"]
    assert upload_meta["permanently_failed"] == by_status.get("permanently_failed", 0)
    assert "pending" not in by_status
    if faults == "heavy":
        assert upload_meta["failed_will_retry"] + upload_meta["permanently_failed"] > 0
    checks = city.get_asset_check_evaluations()
    assert len(checks) == 4 and all(c.passed for c in checks)
    assert list((tmp_path / "images").rglob("*.jpg")) or list((tmp_path / "images").rglob("*.png"))
