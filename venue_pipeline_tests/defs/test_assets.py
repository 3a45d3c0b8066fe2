"""A Dagster materialization of all four assets for one city, with metadata that matches the database; the city
job in retry-only mode."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
from sqlalchemy import func, select, update

from venue_pipeline.cli import import_file
from venue_pipeline.core.statuses import ImageStatus
from venue_pipeline.definitions import build_definitions
from venue_pipeline.defs.assets import city_galleries, image_failure_report
from venue_pipeline.defs.checks import image_invariants, provider_ids_are_real_ids
from venue_pipeline.defs.resources import (
    ImageCdn,
    ProviderApis,
    VenueStore,
    build_resources,
)
from venue_pipeline.defs.run_config import CITY_ASSETS, CITY_OP
from venue_pipeline.demo import limited_demo_csv
from venue_pipeline.pipeline import run_discovery, run_provider_ids
from venue_pipeline.services import Settings
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import (
    ApiCallRow,
    ProviderIdRow,
    UploadAttemptRow,
    VenueImageRow,
)


def _metadata(result: dg.ExecuteInProcessResult, key: str) -> dict:
    events = result.get_asset_materialization_events()
    mats = [e.event_specific_data.materialization for e in events if e.asset_key == dg.AssetKey(key)]
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
        [city_galleries, provider_ids_are_real_ids, image_invariants],  # all three: the pipelined flow
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


def test_enrich_city_job_with_retry_failed_only_retries_the_city_without_provider_lookups(
    db_url, tmp_path, monkeypatch, dagster_instance
) -> None:
    """docs/operations.md "A city": the three city assets with retry_failed_only; the ID and discovery assets
    skip themselves and say so, uploaded_images retries the city's due failures from stored references."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    import_file(db_url, limited_demo_csv(6, tmp_path / "subset.csv"), "open_pubs", quiet=True)
    settings = Settings(db_url=db_url, sandbox_faults="none", image_dir=str(tmp_path / "images"))
    run_provider_ids(settings, "exeter")
    run_discovery(settings, "exeter")
    with session_scope(db_url) as s:  # every photo failed once and its retry is due
        failed = s.execute(
            update(VenueImageRow).values(
                status=ImageStatus.FAILED,
                attempts=1,
                error_type="service_unavailable",
                error_class="transient",
                next_retry_at=datetime.now(timezone.utc) - timedelta(minutes=1),
            )
        ).rowcount
    assert failed > 0
    dagster_instance.add_dynamic_partitions("cities", ["exeter"])
    resources = {
        "venue_store": VenueStore(db_url=db_url),
        "provider_apis": ProviderApis(sandbox_faults="none"),
        "image_cdn": ImageCdn(image_dir=str(tmp_path / "images")),
    }
    job = build_definitions({**build_resources(), **resources}).resolve_job_def("enrich_city_job")
    run_config = {"ops": {CITY_OP: {"config": {name: {"retry_failed_only": True} for name in CITY_ASSETS}}}}
    result = job.execute_in_process(run_config=run_config, partition_key="exeter", instance=dagster_instance)
    assert result.success

    assert _metadata(result, "provider_ids") == {"skipped": "provider IDs skipped: retry_failed_only"}
    assert _metadata(result, "discovered_photos") == {"skipped": "photo discovery skipped: retry_failed_only"}
    retried = _metadata(result, "uploaded_images")
    assert retried["due"] == retried["attempted"] == retried["uploaded"] == failed
    assert retried["still_failed"] == retried["permanently_failed"] == retried["reference_refresh_calls"] == 0
    assert "provider_limits" in retried
    with session_scope(db_url) as s:
        statuses = dict(s.execute(select(VenueImageRow.status, func.count()).group_by(VenueImageRow.status)).all())
        attempts = s.scalars(select(UploadAttemptRow.is_retry).where(UploadAttemptRow.run_id == result.run_id)).all()
        endpoints = set(s.scalars(select(ApiCallRow.endpoint).where(ApiCallRow.run_id == result.run_id)).all())
    assert statuses == {ImageStatus.UPLOADED: failed}
    assert len(attempts) == failed and all(attempts)  # each recorded as a retry
    assert endpoints <= {"photo"}  # no search, details or photo-list call: stored references only


def test_one_city_asset_selected_runs_its_stage_alone(db_url, tmp_path, monkeypatch, dagster_instance) -> None:
    """An operator materialising one city asset (a subset of the multi-asset) gets that stage as before: the ID
    stage alone lists no photo, then discovery alone uploads nothing."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    import_file(db_url, limited_demo_csv(4, tmp_path / "subset.csv"), "open_pubs", quiet=True)
    dagster_instance.add_dynamic_partitions("cities", ["exeter"])
    resources = {
        "venue_store": VenueStore(db_url=db_url),
        "provider_apis": ProviderApis(sandbox_faults="none"),
        "image_cdn": ImageCdn(image_dir=str(tmp_path / "images")),
    }
    job = build_definitions({**build_resources(), **resources}).resolve_job_def("enrich_city_job")
    ids = job.execute_in_process(
        partition_key="exeter", instance=dagster_instance, asset_selection=[dg.AssetKey("provider_ids")]
    )
    assert ids.success and _metadata(ids, "provider_ids")["venues"] == 4
    assert {e.asset_key for e in ids.get_asset_materialization_events()} == {dg.AssetKey("provider_ids")}
    with session_scope(db_url) as s:
        assert s.scalar(select(func.count(VenueImageRow.id))) == 0
    photos = job.execute_in_process(
        partition_key="exeter", instance=dagster_instance, asset_selection=[dg.AssetKey("discovered_photos")],
        run_config={"ops": {CITY_OP: {"config": {"discovered_photos": {"venue_ids": []}}}}},
    )
    assert photos.success and _metadata(photos, "discovered_photos")["photos_new"] > 0
    with session_scope(db_url) as s:
        assert set(s.scalars(select(VenueImageRow.status)).all()) == {ImageStatus.PENDING}


def test_the_city_runs_pipelined_only_with_all_three_assets_over_the_same_venues() -> None:
    from venue_pipeline.defs.assets import CityGalleriesConfig, DiscoveryConfig, ProviderIdsConfig, UploadConfig

    every = set(CITY_ASSETS)
    assert CityGalleriesConfig().pipelined(every)
    same = CityGalleriesConfig(
        provider_ids=ProviderIdsConfig(venue_ids=[1]),
        discovered_photos=DiscoveryConfig(venue_ids=[1], force=True),
        uploaded_images=UploadConfig(venue_ids=[1], providers=["google_places"]),
    )
    assert same.pipelined(every)
    assert not CityGalleriesConfig().pipelined({"provider_ids", "discovered_photos"})
    assert not CityGalleriesConfig(provider_ids=ProviderIdsConfig(dry_run=True)).pipelined(every)
    assert not CityGalleriesConfig(uploaded_images=UploadConfig(retry_failed_only=True)).pipelined(every)
    assert not CityGalleriesConfig(uploaded_images=UploadConfig(image_ids=[5])).pipelined(every)
    assert not CityGalleriesConfig(discovered_photos=DiscoveryConfig(venue_ids=[2])).pipelined(every)
