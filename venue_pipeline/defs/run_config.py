"""Run config shared by the sensors and the schedules that launch the city job for a list of venues."""

CITY_ASSETS = ("provider_ids", "discovered_photos", "uploaded_images")
CITY_OP = "city_galleries"  # the multi-asset that computes the three (defs/assets.py)


def venue_run_config(venue_ids: list[int]) -> dict:
    """Run config limiting the three city assets to the given venues: one section per asset under the op."""
    sections = {name: {"venue_ids": venue_ids} for name in CITY_ASSETS}
    return {"ops": {CITY_OP: {"config": sections}}}
