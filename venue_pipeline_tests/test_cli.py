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


OPEN_INSTANCE = (
    "import sys, time\n"
    "from venue_pipeline.local_runs import open_instance\n"
    "time.sleep(max(0.0, float(sys.argv[1]) - time.time()))\n"
    "with open_instance() as instance:\n"
    "    instance.add_dynamic_partitions('cities', [sys.argv[2]])\n"
    "    print(len(instance.get_runs()))\n"
)


def _two_first_starts(home, extra_env: dict[str, str] | None = None) -> None:
    import os
    import subprocess
    import sys
    import time

    env = {**os.environ, "DAGSTER_HOME": str(home), **(extra_env or {})}
    start = f"{time.time() + 3.0:.3f}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_INSTANCE, start, city],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for city in ("exeter", "bath")
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    with dg.DagsterInstance.from_config(str(home)) as instance:  # usable after: both partitions, runs readable
        assert sorted(instance.get_dynamic_partitions("cities")) == ["bath", "exeter"]
        assert instance.get_runs() == []


def test_two_first_starts_at_once_on_a_fresh_dagster_home_both_succeed(tmp_path) -> None:
    _two_first_starts(tmp_path / "fresh_home")
    assert (tmp_path / "fresh_home" / "dagster.yaml").read_text().startswith("# Instance template")


def test_two_first_starts_at_once_on_fresh_postgresql_run_storage_both_succeed(tmp_path, monkeypatch) -> None:
    import os

    from sqlalchemy import create_engine

    from venue_pipeline.store.db import create_scratch_database, drop_database

    server = os.environ.get("DAGSTER_PG_URL")
    if not server:
        pytest.skip("DAGSTER_PG_URL is not set: no PostgreSQL server for this test (bash .ci/run starts one)")
    url, admin = create_scratch_database(server, "dg_race")
    monkeypatch.setenv("RACE_PG_URL", url)
    home = tmp_path / "pg_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "storage:\n  postgres:\n    postgres_url:\n      env: RACE_PG_URL\ntelemetry:\n  enabled: false\n"
    )
    try:
        _two_first_starts(home)
        engine = create_engine(url)
        with engine.connect() as conn:  # one Alembic head for Dagster's storage, not two
            assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
        engine.dispose()
    finally:
        drop_database(url, admin)


HANGING_CITY_RUN = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "import venue_pipeline.pipeline.flow as flow\n"
    "def hang(settings, city=None, *, run_id, **options):\n"
    "    Path(sys.argv[2]).write_text(run_id)\n"
    "    time.sleep(600)\n"
    "flow.run_provider_ids = hang\n"  # the ID stage of this run (the pipelined flow's) never ends: killed mid-stage
    "from venue_pipeline.definitions import defs\n"
    "from venue_pipeline.local_runs import local_run_tags, open_instance\n"
    "with open_instance() as instance:\n"
    "    defs.resolve_job_def('enrich_city_job').execute_in_process(\n"
    "        partition_key=sys.argv[1], instance=instance, tags=local_run_tags(), raise_on_error=False)\n"
)


def test_a_killed_run_is_failed_on_the_next_start_its_lease_freed_and_its_city_runs_again(env, tmp_path, monkeypatch) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from venue_pipeline.cli import import_file
    from venue_pipeline.definitions import defs
    from venue_pipeline.demo import limited_demo_csv
    from venue_pipeline.local_runs import local_run_tags, open_instance
    from venue_pipeline.store import leases

    import_file(env, limited_demo_csv(3, tmp_path / "subset.csv"), "open_pubs", quiet=True)
    marker = tmp_path / "started"
    child = subprocess.Popen(
        [sys.executable, "-c", HANGING_CITY_RUN, "exeter", str(marker)],
        env={**os.environ, "VENUE_DB_URL": env, "VENUE_PROVIDER_MODE": "sandbox"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the child run never reached its ID stage"
            time.sleep(0.2)
        run_id = marker.read_text()
        assert leases.current(env, "city:exeter").run_id == run_id  # held mid-stage
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    with open_instance() as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED  # what a kill leaves

    assert main(["--db-url", env, "runs", "reap"]) == 0  # the next CLI start

    assert leases.current(env, "city:exeter") is None
    with open_instance() as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        monkeypatch.setenv("VENUE_DB_URL", env)  # the job's resources read it at run time
        result = defs.resolve_job_def("enrich_city_job").execute_in_process(
            partition_key="exeter", instance=instance, tags=local_run_tags(), raise_on_error=False
        )
    assert result.success
    ids = result.asset_materializations_for_node("city_galleries")[0].metadata  # provider_ids comes first
    assert "skipped" not in ids
