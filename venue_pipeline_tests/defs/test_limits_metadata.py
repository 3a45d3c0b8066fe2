"""The limits in force (plan, rate, daily quota, base URL) are in the metadata of every city asset that calls
providers, set from the environment and the ProviderApis resource; no key is in it."""

from __future__ import annotations

import dagster as dg

from venue_pipeline.cli import import_file
from venue_pipeline.defs.assets import city_galleries
from venue_pipeline.defs.resources import ImageCdn, ProviderApis, VenueStore
from venue_pipeline.demo import limited_demo_csv


def test_city_assets_show_the_limits_in_force(db_url, tmp_path, monkeypatch, dagster_instance) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    monkeypatch.setenv("VENUE_PROVIDER_PLAN", "free")
    monkeypatch.setenv("GEOAPIFY_DAILY_QUOTA", "77")
    import_file(db_url, limited_demo_csv(3, tmp_path / "subset.csv"), "open_pubs", quiet=True)
    dagster_instance.add_dynamic_partitions("cities", ["exeter"])
    resources = {
        "venue_store": VenueStore(db_url=db_url),
        "provider_apis": ProviderApis(sandbox_faults="none", foursquare_daily_quota="none", here_rate_per_second=2.0),
        "image_cdn": ImageCdn(image_dir=str(tmp_path / "images")),
    }
    result = dg.materialize(
        [city_galleries],
        partition_key="exeter",
        resources=resources,
        instance=dagster_instance,
    )
    assert result.success
    meta = {
        e.asset_key.to_user_string(): e.event_specific_data.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    for key in ("provider_ids", "discovered_photos", "uploaded_images"):
        table = meta[key]["provider_limits"]
        rows = {r.data["provider"]: r.data for r in table.records}
        assert rows["geoapify"]["daily_quota"] == "77" and rows["geoapify"]["plan"] == "free"
        assert rows["foursquare"]["daily_quota"] == "none" and rows["foursquare"]["configured_rate"] == 1.0
        assert rows["here"]["configured_rate"] == 2.0 and rows["here"]["rate_per_second"] == 40.0  # sandbox 20x
        assert all(r["base_url"] == "sandbox (in-process)" for r in rows.values())
        assert "sandbox-key" not in repr(table)
    ids_table = meta["provider_ids"]["per_provider"]
    quotas = {r.data["provider"]: r.data["daily_quota"] for r in ids_table.records}
    assert quotas["geoapify"] == "77" and quotas["foursquare"] == "none"
