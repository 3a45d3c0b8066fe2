"""End to end with a real Dagster daemon: a failure report with due failed images makes the retry sensor
launch retry_job, which re-uploads from stored references and succeeds; every process started is stopped."""

from __future__ import annotations

import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import e2e_support as e2e
import pytest
from sqlalchemy import create_engine, delete, func, select, update
from sqlalchemy.orm import Session

from venue_pipeline.store.schema import ApiCallRow, UploadAttemptRow, VenueImageRow, VenueRow

pytestmark = e2e.DAGSTER_E2E_MARKS

SENSOR = "retry_after_report_sensor"
CITY = "exeter"
RETRY_TIMEOUT_S = 180.0


@pytest.fixture
def sandbox_faults() -> str:
    """dagster_env's fault mix for this test (the demo step runs with an outage, the daemon with none)."""
    return "default"


# ---- the test ---------------------------------------------------------------------------------------

RETRY_RUNS = """
query RetryRuns($sensor: String!) {
  runsOrError(filter: {pipelineName: "retry_job", tags: [{key: "dagster/sensor_name", value: $sensor}]}) {
    __typename
    ... on Runs { results { runId status } }
    ... on PythonError { message }
  }
}
"""


def _make_failures_due(db_url: str, city: str) -> int:
    """Failed images wait for next_retry_at; move it into the past so the sensor finds them due.

    The demo imports every demo city but enriches only `city`; the others' venues are dropped so that
    new_venues_sensor does not launch unrelated city runs that would compete with the retry run."""
    engine = create_engine(db_url)
    try:
        with Session(engine) as session, session.begin():
            session.execute(delete(VenueRow).where(VenueRow.city_slug != city))
            result = session.execute(
                update(VenueImageRow)
                .where(VenueImageRow.status == "failed")
                .values(next_retry_at=datetime.now(timezone.utc) - timedelta(minutes=1))
            )
            return int(result.rowcount or 0)
    finally:
        engine.dispose()


def test_daemon_sensor_launches_a_retry_run_that_succeeds(
    dagster_env: dict[str, str], tmp_path: Path, process_groups: Any
) -> None:
    env, logs, db_url = dagster_env, tmp_path / "logs", dagster_env["VENUE_DB_URL"]
    cli = e2e.venv_bin("venue-pipeline")
    due = 0
    for limit in (4, 8):  # a sandbox outage on a few venues leaves failed images; more venues if it did not
        e2e.run_cli(
            [cli, "demo", "--limit-per-city", str(limit), "--city", CITY, "--faults", "outage"],
            {**env, "VENUE_SANDBOX_FAULTS": "outage"},
            logs / f"demo_{limit}.log",
        )
        due = _make_failures_due(db_url, CITY)
        if due:
            break
    assert due > 0, f"the outage demo left no failed image to retry\n{e2e.log_tail(logs / 'demo_8.log')}"

    # The outage is over for the daemon's runs: the retry run fetches the photos from their stored references.
    env = {**env, "VENUE_SANDBOX_FAULTS": "none"}
    # A fresh report while failures are due: the event the asset sensor reacts to.
    e2e.run_cli(
        [e2e.venv_bin("dagster"), "asset", "materialize", "-m", "venue_pipeline.definitions",
         "--select", "image_failure_report"],
        env,
        logs / "report.log",
    )
    procs: list[subprocess.Popen[bytes]] = []
    try:
        base, procs = e2e.start_dagster(process_groups, env, logs)
        deadline = time.monotonic() + RETRY_TIMEOUT_S
        retry_run: str | None = None
        runs: list[dict[str, str]] = []
        while time.monotonic() < deadline and retry_run is None:
            result = e2e.graphql(base, RETRY_RUNS, {"sensor": SENSOR})["runsOrError"]
            assert result["__typename"] == "Runs", result
            runs = result["results"]
            bad = [r for r in runs if r["status"] in ("FAILURE", "CANCELED")]
            assert not bad, f"sensor-launched retry run failed: {bad}\n{e2e.log_tail(logs / 'daemon.log')}"
            retry_run = next((r["runId"] for r in runs if r["status"] == "SUCCESS"), None)
            if retry_run is None:
                time.sleep(2)
        assert retry_run, (
            f"no successful {SENSOR} retry_job run within {RETRY_TIMEOUT_S:.0f}s (runs: {runs})\n"
            f"{e2e.log_tail(logs / 'daemon.log')}"
        )
    finally:
        for proc in reversed(procs):
            e2e.stop_process_group(proc)

    e2e.assert_all_stopped(procs, env["DAGSTER_HOME"])

    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            attempts = session.execute(
                select(UploadAttemptRow.is_retry).where(UploadAttemptRow.run_id == retry_run)
            ).scalars().all()
            endpoints = set(session.scalars(select(ApiCallRow.endpoint).where(ApiCallRow.run_id == retry_run)))
            still_due = session.scalar(
                select(func.count()).select_from(VenueImageRow).where(
                    VenueImageRow.status == "failed",
                    VenueImageRow.next_retry_at <= datetime.now(timezone.utc),
                )
            )
    finally:
        engine.dispose()
    assert attempts and all(attempts), f"retry run {retry_run} recorded no retry attempts ({attempts})"
    assert endpoints <= {"photo"}, f"the retry run searched or listed photos again: {sorted(endpoints)}"
    assert still_due == 0, "a retry run left due failed images behind"
