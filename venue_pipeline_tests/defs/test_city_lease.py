"""One writer per city: a city run waits for (then skips) a city another run holds, other cities run beside it;
the instance template limits the run queue to one run per city."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import func, select

from venue_pipeline.cli import import_file
from venue_pipeline.defs.assets import city_galleries
from venue_pipeline.defs.partitions import CITY_RUN_TAG
from venue_pipeline.defs.resources import ImageCdn, ProviderApis, VenueStore
from venue_pipeline.demo import limited_demo_csv
from venue_pipeline.store import leases
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import ApiCallRow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def city_db(db_url, tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    import_file(db_url, limited_demo_csv(3, tmp_path / "subset.csv"), "open_pubs", quiet=True)
    return db_url


def _ids_run(
    db_url: str, instance: dg.DagsterInstance, city: str, tmp_path, keys: tuple[str, ...] = ("provider_ids",)
) -> dg.ExecuteInProcessResult:
    instance.add_dynamic_partitions("cities", [city])
    resources = {
        "venue_store": VenueStore(db_url=db_url),
        "provider_apis": ProviderApis(),
        "image_cdn": ImageCdn(image_dir=str(tmp_path / "images")),
    }
    return dg.materialize(
        [city_galleries], partition_key=city, resources=resources, instance=instance, selection=list(keys)
    )


def _meta(result: dg.ExecuteInProcessResult, key: str = "provider_ids") -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(key)]
    return events[-1].event_specific_data.materialization.metadata


def _log(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> list[str]:
    return [entry.user_message for entry in instance.all_logs(result.run_id)]


def _calls(db_url: str) -> int:
    with session_scope(db_url) as s:
        return s.scalar(select(func.count(ApiCallRow.id)))


def test_a_second_run_of_a_held_city_skips_it_with_the_reason_and_calls_nothing(
    city_db, dagster_instance, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(leases, "LEASE_WAIT_S", 0.5)
    other = leases.new_holder()
    assert leases.try_acquire(city_db, "city:exeter", other, "other-run-id") is None
    result = _ids_run(city_db, dagster_instance, "exeter", tmp_path)
    assert result.success
    meta = _meta(result)
    assert "city:exeter skipped: held by run other-ru" in meta["skipped"].value
    assert _calls(city_db) == 0
    assert any(m.startswith("city:exeter skipped: held by run other-ru") for m in _log(dagster_instance, result))
    whole = _ids_run(city_db, dagster_instance, "exeter", tmp_path, ("provider_ids", "discovered_photos", "uploaded_images"))
    for key in ("provider_ids", "discovered_photos", "uploaded_images"):  # the pipelined flow skips it too
        assert "city:exeter skipped: held by run other-ru" in _meta(whole, key)["skipped"].value
    assert _calls(city_db) == 0

    other_city = _ids_run(city_db, dagster_instance, "norwich", tmp_path)  # another city is not held up
    assert "skipped" not in _meta(other_city)
    assert _calls(city_db) > 0
    assert leases.current(city_db, "city:norwich") is None  # released at the end of the stage


def test_a_second_run_waits_for_the_city_and_then_does_its_work(city_db, dagster_instance, tmp_path) -> None:
    other = leases.new_holder()
    assert leases.try_acquire(city_db, "city:exeter", other, "other-run-id") is None
    threading.Timer(1.5, leases.release, (city_db, "city:exeter", other)).start()
    result = _ids_run(city_db, dagster_instance, "exeter", tmp_path)
    assert "skipped" not in _meta(result)
    logs = _log(dagster_instance, result)
    assert any("city:exeter is held by run other-ru" in m and "waiting up to" in m for m in logs)
    assert any(m.startswith("city:exeter acquired after waiting") for m in logs)
    assert _calls(city_db) > 0


def test_the_instance_template_queues_one_run_per_city(tmp_path) -> None:
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        queue = instance.get_concurrency_config().run_queue_config
        limits = queue.tag_concurrency_limits
        assert {"key": CITY_RUN_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_max_resume_run_attempts == 0


def test_a_city_run_carries_the_city_tag_the_queue_limits(city_db, dagster_instance, tmp_path) -> None:
    result = _ids_run(city_db, dagster_instance, "exeter", tmp_path)
    assert dagster_instance.get_run_by_id(result.run_id).tags[CITY_RUN_TAG] == "exeter"
