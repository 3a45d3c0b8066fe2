"""Two cities enriched at once by two processes against one sandbox server: together they keep each provider's
rate, as the server's own request log shows (one process alone would take the whole rate)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

from kill_support import PROJECT_ROOT, _kill_group, _register, cli, env_for

from venue_pipeline.demo import limited_demo_csv

RATE = 2.0  # calls per second per provider, for every process together
WINDOW_S = 3.0
# API endpoints paced by the provider clients (photo bytes from CDN hosts are not API calls)
PACED = {"search", "geocode", "details", "photos", "text_search", "find_place", "nearby_search", "place_details"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _busiest_window(times: list[float]) -> int:
    """The most calls in any WINDOW_S seconds."""
    times.sort()
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] > WINDOW_S:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_two_cities_at_once_share_each_providers_rate(tmp_path: Path, db_url: str) -> None:
    env = env_for(tmp_path, db_url, **{f"{p}_RATE_PER_SECOND": str(RATE) for p in ("HERE", "GEOAPIFY", "FOURSQUARE", "GOOGLE_PLACES")})
    csv = limited_demo_csv(6, tmp_path / "venues.csv")
    subprocess.run([*cli(), "import-venues", str(csv)], env=env, cwd=PROJECT_ROOT, check=True, capture_output=True)
    port = _free_port()
    server = subprocess.Popen([*cli(), "sandbox", "serve", "--port", str(port), "--faults", "none"], env=env, cwd=PROJECT_ROOT,
                              stdout=open(tmp_path / "sandbox.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    _register(server.pid)
    runs: list[subprocess.Popen[bytes]] = []
    try:
        log_url = f"http://127.0.0.1:{port}/__sandbox__/requests"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(log_url, timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "sandbox.log").read_text()
                time.sleep(0.2)
        env["VENUE_SANDBOX_URL"] = f"http://127.0.0.1:{port}"
        for city in ("exeter", "norwich"):
            cmd = [*cli(), "demo", "--city", city, "--limit-per-city", "6", "--faults", "none"]
            runs.append(subprocess.Popen(cmd, env=env, cwd=PROJECT_ROOT, stdout=open(tmp_path / f"{city}.log", "wb"),
                                         stderr=subprocess.STDOUT, start_new_session=True))
            _register(runs[-1].pid)
        codes = [r.wait(timeout=600) for r in runs]
        assert codes == [0, 0], [(tmp_path / f"{c}.log").read_text()[-2000:] for c in ("exeter", "norwich")]
        log = json.loads(urllib.request.urlopen(log_url, timeout=10).read())
    finally:
        for proc in [*runs, server]:
            _kill_group(proc)
    times: dict[str, list[float]] = defaultdict(list)
    for row in log:
        if row["kind"] in PACED:
            times[row["provider"]].append(row["t"])
    assert set(times) >= {"here", "geoapify", "foursquare", "google_places"}, sorted(times)
    allowed = int(RATE * WINDOW_S + max(1.0, RATE)) + 1  # the rate over the window, one bucket's burst, rounding
    busiest = {p: _busiest_window(t) for p, t in times.items()}
    assert all(n <= allowed for n in busiest.values()), f"calls in the busiest {WINDOW_S:.0f} s: {busiest} (allowed {allowed})"
