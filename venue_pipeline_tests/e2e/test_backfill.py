"""End to end with a real Dagster daemon: a backfill over every demo city, launched the way the UI's asset graph
launches "Materialize all → all partitions", completes in ceil(cities / CITIES_PER_BACKFILL_RUN) runs."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path
from typing import Any

import e2e_support as e2e
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from venue_pipeline.defs.partitions import CITIES_PER_BACKFILL_RUN
from venue_pipeline.demo import limited_demo_csv
from venue_pipeline.store.schema import VenueImageRow, VenueRow

pytestmark = e2e.DAGSTER_E2E_MARKS

CITIES = ["exeter", "norwich", "nottingham"]
VENUES_PER_CITY = 3
CITY_ASSETS = ["provider_ids", "discovered_photos", "uploaded_images"]
BACKFILL_TIMEOUT_S = 240.0


# ---- GraphQL documents (the shapes the UI sends); process and Dagster helpers are in e2e_support.py ----

BACKFILL_RUNS = """
query BackfillRuns($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    __typename
    ... on Runs { results { runId status tags { key value } } }
    ... on Error { message }
  }
}
"""

def _stop_new_venues_sensor(base: str) -> None:
    """Imported venues would otherwise get sensor-launched city runs beside the backfill."""
    e2e.stop_sensor(base, "new_venues_sensor")


def test_backfill_over_all_cities_completes_in_bounded_runs(
    dagster_env: dict[str, str], tmp_path: Path, process_groups: Any
) -> None:
    env, logs, db_url = dagster_env, tmp_path / "logs", dagster_env["VENUE_DB_URL"]
    # New cities in the venue DB and as Dagster partitions, none enriched yet: the backfill does all the work.
    venues_csv = limited_demo_csv(VENUES_PER_CITY, tmp_path / "venues.csv")  # the demo CSV's Open Pubs columns
    e2e.run_cli(
        [e2e.venv_bin("venue-pipeline"), "import-venues", str(venues_csv), "--format", "open_pubs"],
        env,
        logs / "import.log",
    )

    daemon_log = logs / "daemon.log"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        base, procs = e2e.start_dagster(process_groups, env, logs, before_daemon=_stop_new_venues_sensor)

        # Asset graph → "Materialize all" → all partitions: an asset backfill (not a job backfill), so the
        # assets' BackfillPolicy.multi_run groups the cities into runs.
        launched = e2e.graphql(
            base,
            e2e.LAUNCH_BACKFILL,
            {
                "params": {
                    "assetSelection": [{"path": [key]} for key in CITY_ASSETS],
                    "partitionNames": CITIES,
                    "fromFailure": False,
                }
            },
        )["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]

        e2e.wait_for_backfill(base, backfill_id, BACKFILL_TIMEOUT_S, daemon_log)

        runs = e2e.graphql(base, BACKFILL_RUNS, {"id": backfill_id})["runsOrError"]
        assert runs["__typename"] == "Runs", runs
        results = runs["results"]
    finally:
        for proc in reversed(procs):
            e2e.stop_process_group(proc)

    e2e.assert_all_stopped(procs, env["DAGSTER_HOME"])
    expected_runs = math.ceil(len(CITIES) / CITIES_PER_BACKFILL_RUN)
    assert len(results) == expected_runs, f"expected {expected_runs} backfill run(s), got {results}"
    assert [r["status"] for r in results] == ["SUCCESS"] * expected_runs, results
    for run in results:  # each run covers a range of cities, never one run per city
        tags = {t["key"]: t["value"] for t in run["tags"]}
        assert "dagster/asset_partition_range_start" in tags, tags

    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            uploaded = dict(
                session.execute(
                    select(VenueRow.city_slug, func.count(VenueImageRow.id))
                    .join(VenueImageRow, VenueImageRow.venue_id == VenueRow.id)
                    .where(VenueImageRow.status == "uploaded")
                    .group_by(VenueRow.city_slug)
                ).all()
            )
    finally:
        engine.dispose()
    assert sorted(city for city, n in uploaded.items() if n > 0) == CITIES, f"uploaded images per city: {uploaded}"
