"""Run config and run requests shared by the sensors and the schedules that launch the city job for a list of venues."""

import dagster as dg

CITY_ASSETS = ("provider_ids", "discovered_photos", "uploaded_images")
CITY_OP = "city_galleries"  # the multi-asset that computes the three (defs/assets.py)


def venue_run_config(venue_ids: list[int]) -> dict:
    """Run config limiting the three city assets to the given venues: one section per asset under the op."""
    sections = {name: {"venue_ids": venue_ids} for name in CITY_ASSETS}
    return {"ops": {CITY_OP: {"config": sections}}}


def venue_run_request(run_key: str, city: str, venue_ids: list[int], trigger: str) -> dg.RunRequest:
    """One city partition's run limited to these venues, tagged with what launched it and how many venues it has."""
    return dg.RunRequest(
        run_key=run_key,
        partition_key=city,
        run_config=venue_run_config(venue_ids),
        tags={"trigger": trigger, "venues": str(len(venue_ids))},
    )
