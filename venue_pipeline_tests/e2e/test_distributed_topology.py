"""The production topology of deploy/ on one machine, without containers: PostgreSQL instance storage, a separate
gRPC code server, the webserver and the daemon with the queued run coordinator of deploy/dagster.yaml. A backfill
of eight cities launched as the UI's asset graph launches it runs several city runs at once; all succeed, the queue
holds its limits, and the sandbox server's request log shows every provider's rate and daily quota held across
the concurrent runs (the shared limiter in the venue database, store/limiter.py)."""

from __future__ import annotations

import json
import os
import re
import socket
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import e2e_support as e2e
import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from venue_pipeline.store.db import create_scratch_database, drop_database, upgrade

pytestmark = [
    *e2e.DAGSTER_E2E_MARKS,
    pytest.mark.postgres,
    # CI's PostgreSQL pass only (VENUE_PG_URL is set in both passes; VENUE_DB_URL is PostgreSQL in the second)
    pytest.mark.skipif(
        not (os.environ.get("VENUE_PG_URL") and os.environ.get("VENUE_DB_URL", "").startswith("postgres")),
        reason="the suite's PostgreSQL pass only: needs VENUE_PG_URL and a PostgreSQL VENUE_DB_URL",
    ),
]

DATA = Path(__file__).parent / "data" / "eight_cities.csv"  # two Open Pubs venues in each of eight cities
CITIES = ["bath-and-north-east-somerset", "brighton-and-hove", "cambridge", "canterbury",
          "cheltenham", "lancaster", "oxford", "york"]
PROVIDERS = {"here": "HERE", "geoapify": "GEOAPIFY", "foursquare": "FOURSQUARE", "google_places": "GOOGLE_PLACES"}
RATE = 2.0  # calls per second per provider, for all runs together
QUOTA = {"here": 10, "geoapify": 12, "foursquare": 8, "google_places": 16}  # calls a day; 16 venues need more
MAX_CONCURRENT_RUNS = 4
WINDOW_S = 3.0
# API endpoints paced and counted by the provider clients (photo bytes from CDN hosts are not API calls)
PACED = {"search", "geocode", "details", "photos", "text_search", "find_place", "nearby_search", "place_details"}
LOCATION = "venue_pipeline"
CITY_ASSETS = ["provider_ids", "discovered_photos", "uploaded_images"]
BACKFILL_TIMEOUT_S = 300.0

BACKFILL_RUNS = """
query BackfillRuns($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    __typename
    ... on Runs { results { runId status startTime endTime tags { key value } } }
    ... on Error { message }
  }
}
"""


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    """Scratch databases on the test server: the venue database (migrated) and the instance's."""
    server = os.environ["VENUE_PG_URL"]
    venues_url, admin = create_scratch_database(server, "vp_topo_venues")
    dagster_url, _ = create_scratch_database(server, "vp_topo_dagster")
    try:
        upgrade(venues_url)
        yield venues_url, dagster_url
    finally:
        drop_database(venues_url, admin)
        drop_database(dagster_url, admin)


def _instance_yaml(dagster_url: str) -> str:
    """deploy/dagster.yaml as production runs it, but runs launched as processes by the code server (no Docker)
    and a smaller queue; storage, queue limits, pools and run monitoring are the production file's."""
    config = yaml.safe_load((e2e.PROJECT_ROOT / "deploy" / "dagster.yaml").read_text())
    assert config["run_launcher"]["class"] == "DockerRunLauncher"
    del config["run_launcher"]  # the DefaultRunLauncher: the gRPC code server starts each run's process
    config["storage"]["postgres"]["postgres_db"]["port"] = make_url(dagster_url).port
    config["concurrency"]["runs"]["max_concurrent_runs"] = MAX_CONCURRENT_RUNS
    return yaml.safe_dump(config)


def _env(tmp_path: Path, venues_url: str, dagster_url: str) -> dict[str, str]:
    """The environment of every process: the instance's connection in the variables deploy/dagster.yaml reads."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(_instance_yaml(dagster_url))
    url = make_url(dagster_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VENUE_", "IMAGEKIT_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home),
        DAGSTER_POSTGRES_HOST=url.host or "127.0.0.1",
        DAGSTER_POSTGRES_USER=url.username or "postgres",
        DAGSTER_POSTGRES_PASSWORD=url.password or "",
        DAGSTER_POSTGRES_DB=url.database or "",
        VENUE_PIPELINE_HOME=str(tmp_path / "state"),
        VENUE_DB_URL=venues_url,
        VENUE_IMAGE_DIR=str(tmp_path / "images"),
        VENUE_IMAGE_STORE="local",
        VENUE_PROVIDER_MODE="sandbox",
        VENUE_SANDBOX_FAULTS="none",
        PATH=f"{Path(e2e.venv_bin('dagster')).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        VENUE_CITIES_PER_BACKFILL_RUN="1",  # one run per city: eight runs for the queue to spread
    )
    for provider, prefix in PROVIDERS.items():
        env[f"{prefix}_RATE_PER_SECOND"] = str(RATE)
        env[f"{prefix}_DAILY_QUOTA"] = str(QUOTA[provider])
    return env


def _pool_limits() -> dict[str, str]:
    """The pool limits the init step of deploy/docker-compose.yaml sets."""
    compose = yaml.safe_load((e2e.PROJECT_ROOT / "deploy" / "docker-compose.yaml").read_text())
    limits = dict(re.findall(r"dagster instance concurrency set (\S+) (\d+)", " ".join(compose["services"]["init"]["command"])))
    assert limits, "no pool limit in the compose init step"
    return limits


def _wait_for_port(port: int, proc: Any, log: Path, timeout_s: float = 90) -> None:
    """Until something accepts connections on the loopback port (the gRPC server has no HTTP probe)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"exited with {proc.returncode}\n{e2e.log_tail(log)}"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:.0f}s\n{e2e.log_tail(log)}")


def _launch_backfill(base: str, cities: list[str]) -> str:
    """The asset graph's "Materialize" of the city assets for some partitions, launched as a backfill (each run's
    steps in its run worker: the in_process executor keeps CI lean; production runs the default executor)."""
    params = {
        "assetSelection": [{"path": [key]} for key in CITY_ASSETS],
        "partitionNames": cities,
        "fromFailure": False,
        "runConfigData": {"execution": {"config": {"in_process": {}}}},
    }
    launched = e2e.graphql(base, e2e.LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return str(launched["backfillId"])


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one moment."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


def _busiest_window(times: list[float], window_s: float = WINDOW_S) -> int:
    """The most calls in any window_s seconds."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] > window_s:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_backfill_of_eight_cities_on_the_production_topology(
    databases: tuple[str, str], tmp_path: Path, process_groups: Any
) -> None:
    venues_url, dagster_url = databases
    env, logs = _env(tmp_path, venues_url, dagster_url), tmp_path / "logs"
    e2e.run_cli([e2e.venv_bin("venue-pipeline"), "import-venues", str(DATA), "--format", "open_pubs"], env,
                logs / "import.log")

    procs: list[Any] = []
    try:
        sandbox_port, grpc_port = e2e.free_port(), e2e.free_port()
        sandbox_log = logs / "sandbox.log"
        procs.append(process_groups([e2e.venv_bin("venue-pipeline"), "sandbox", "serve", "--port", str(sandbox_port),
                                     "--faults", "none"], env, sandbox_log))
        request_log = f"http://127.0.0.1:{sandbox_port}/__sandbox__/requests"
        e2e.wait_for_http(request_log, 60, procs[-1], sandbox_log)
        env["VENUE_SANDBOX_URL"] = f"http://127.0.0.1:{sandbox_port}"

        # The deployment's init step: explicit pool limits before any run (two runs creating a pool's row at
        # once fail on PostgreSQL in Dagster 1.13: docs/deployment.md).
        for pool, limit in _pool_limits().items():
            e2e.run_cli([e2e.venv_bin("dagster"), "instance", "concurrency", "set", pool, str(limit)], env,
                        logs / "pools.log")
        # The code server of deploy/ (the image's entry point), separate from the webserver and the daemon.
        grpc_log = logs / "code_server.log"
        procs.append(process_groups([e2e.venv_bin("dagster"), "api", "grpc", "-m", "venue_pipeline.definitions",
                                     "--host", "127.0.0.1", "--port", str(grpc_port)], env, grpc_log))
        _wait_for_port(grpc_port, procs[-1], grpc_log)
        workspace = tmp_path / "workspace.yaml"
        workspace.write_text(yaml.safe_dump({"load_from": [{"grpc_server": {
            "host": "127.0.0.1", "port": grpc_port, "location_name": LOCATION}}]}))
        # The UI and the daemon hold no provider setting: runs take theirs from the code server's environment.
        ui_env = {k: v for k, v in env.items() if not k.startswith(("VENUE_", *PROVIDERS.values()))}
        base, dagster_procs = e2e.start_dagster(
            process_groups, ui_env, logs, before_daemon=lambda b: e2e.stop_sensor(b, "new_venues_sensor"),
            workspace=str(workspace),
        )
        procs += dagster_procs

        started = time.monotonic()
        backfill_id = _launch_backfill(base, CITIES)
        again_id = _launch_backfill(base, ["york"])  # a second York run: the queue must hold it back
        e2e.wait_for_backfill(base, backfill_id, BACKFILL_TIMEOUT_S, logs / "daemon.log")
        e2e.wait_for_backfill(base, again_id, 120, logs / "daemon.log")
        elapsed = time.monotonic() - started
        runs = []
        for bid in (backfill_id, again_id):
            answer = e2e.graphql(base, BACKFILL_RUNS, {"id": bid})["runsOrError"]
            assert answer["__typename"] == "Runs", answer
            runs += answer["results"]
        requests = json.loads(urllib.request.urlopen(request_log, timeout=10).read())
    finally:
        for proc in reversed(procs):
            e2e.stop_process_group(proc)
    e2e.assert_all_stopped(procs, env["DAGSTER_HOME"])

    # Every city ran once in the backfill, York once more; all succeeded.
    tags = [{t["key"]: t["value"] for t in r["tags"]} for r in runs]
    city_of = [t.get("dagster/asset_partition_range_start") for t in tags]
    assert all(t.get("dagster/asset_partition_range_end") == c for t, c in zip(tags, city_of, strict=True)), tags
    assert sorted(city_of) == sorted([*CITIES, "york"]), runs
    assert {r["status"] for r in runs} == {"SUCCESS"}, [(c, r["status"]) for c, r in zip(city_of, runs, strict=True)]
    # Several runs at once, never more than the queue allows, never two of one city.
    intervals = [(float(r["startTime"]), float(r["endTime"])) for r in runs]
    at_once = _most_at_once(intervals)
    assert 2 <= at_once <= MAX_CONCURRENT_RUNS, f"{at_once} runs at once: {intervals}"
    york = sorted(i for c, i in zip(city_of, intervals, strict=True) if c == "york")
    assert york[0][1] <= york[1][0], f"two York runs overlapped: {york}"

    # The providers' own view (the sandbox server's request log): each rate and each daily quota held.
    times: dict[str, list[float]] = defaultdict(list)
    for row in requests:
        if row["kind"] in PACED:
            times[row["provider"]].append(row["t"])
    assert set(times) == set(PROVIDERS), sorted(times)
    allowed = int(RATE * WINDOW_S + max(1.0, RATE)) + 1  # the rate over the window, one bucket's burst, rounding
    busiest = {p: _busiest_window(t) for p, t in times.items()}
    assert all(n <= allowed for n in busiest.values()), f"calls in the busiest {WINDOW_S:.0f} s: {busiest} (allowed {allowed})"
    # The limiter hands out slots 1/RATE apart (no burst): n calls of all runs together span (n - 1) / RATE seconds
    # (1 s allowed for the way to the server); runs pacing on their own would need about a quarter of that.
    span = {p: round(max(t) - min(t), 1) for p, t in times.items()}
    assert all(span[p] >= (len(t) - 1) / RATE - 1.0 for p, t in times.items()), f"spans {span} of calls {times}"
    # Slots 1/RATE apart put at most RATE + 1 calls in any second; one more for the way to the server. Runs that
    # paced on their own would put up to RATE per run there.
    busiest_second = {p: _busiest_window(t, 1.0) for p, t in times.items()}
    assert all(n <= int(RATE) + 2 for n in busiest_second.values()), f"calls in the busiest second: {busiest_second}"
    calls = {p: len(t) for p, t in times.items()}
    assert all(calls[p] <= QUOTA[p] for p in PROVIDERS), f"calls {calls} over the daily quotas {QUOTA}"
    engine = create_engine(venues_url)
    try:
        with engine.connect() as conn:
            # every billed call takes a quota check, Google's photo downloads included (core/upload.py photo_turn)
            ledger = dict(conn.execute(text("select provider, count(*) from api_calls group by provider")).all())
            deferred = dict(conn.execute(text(
                "select provider, count(*) from provider_ids where status = 'deferred' group by provider")).all())
    finally:
        engine.dispose()
    assert all(ledger.get(p, 0) <= QUOTA[p] for p in PROVIDERS), f"ledger {ledger} over the daily quotas {QUOTA}"
    assert set(deferred) == set(PROVIDERS), f"every quota was reached (lookups deferred): {deferred}, calls {calls}"
    print(f"8 cities + 1 in {elapsed:.0f}s, {at_once} runs at once; calls {calls}; busiest {busiest}, per second {busiest_second}; spans {span}; deferred {deferred}")
