"""Benchmark: the whole city job (enrich_city_job) against the sandbox over an injected network delay, set
against its bound (provider rates, transfer concurrency × round trip).

What it runs, all on 127.0.0.1, in a fresh temporary VENUE_PIPELINE_HOME / DAGSTER_HOME:

1. `venue-pipeline import-venues` of the demo venues (or the --limit-per-city subset the demo would take),
   so the sandbox server's world holds them;
2. `venue-pipeline sandbox serve --port P --faults none` (a child process, its world generated from that
   database, the same seed the demo uses);
3. a TCP delay line on 127.0.0.1:Q (a thread of this process) that forwards to P and holds every chunk
   --delay-ms in each direction (default 40 ms: an 80 ms round trip), plus one round trip before a new
   connection starts forwarding (the TCP handshake; --no-handshake drops it);
4. `venue-pipeline demo --city CITY --faults none` (a child process: the Dagster job executed in process,
   exactly what `make demo` runs) with VENUE_SANDBOX_URL=http://127.0.0.1:Q, so every provider and photo
   request crosses the delay line and the rates are the plan's as configured (the in-process ×20 sandbox
   scaling applies only without VENUE_SANDBOX_URL).

It measures each stage's wall time (from the demo's progress lines, which carry the stage's duration), the
run's wall time, the requests per provider and endpoint (the sandbox's request log, split into stages by
time) and the api_calls ledger, images per second, and computes

- the bound: every provider's paced calls ÷ its rate, each provider's transfer round trips × RTT ÷ the most
  transfers it may have at once (core/adaptive.py: 16; the concurrency is adaptive, the peak reached is
  reported), and Google's billed photo requests ÷ its rate; the largest term is the bound, and total ÷ bound;
- the staged bound: the stages run one after another, so the sum over stages of each stage's largest term;
- the original sequential orchestration on the same workload (venues one at a time, each provider call in
  sequence at the round trip plus its rate wait, then uploads one at a time with a 100–500 ms sleep each),
  computed from the measured counts, and the speed-up.

With --slow-provider foursquare:10 the sandbox holds every answer of that provider 9 round trips (10 times
slower), and the report sets each provider's last uploaded photo against the run without it (enrich_<plan>.json).

Results: benchmarks/results/enrich_<plan>[_slow_<provider><N>].json and .md. Every process it starts (sandbox server, demo) is
stopped on exit, Ctrl-C or SIGTERM included; the temporary home is removed unless --keep-home.

    .venv/bin/python benchmarks/enrich_benchmark.py --plan free
    .venv/bin/python benchmarks/enrich_benchmark.py --plan paid --city exeter --delay-ms 40
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import queue
import re
import resource
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout without an installed package
    sys.path.insert(0, str(ROOT))

from venue_pipeline.core.adaptive import TransferLimits  # noqa: E402
from venue_pipeline.demo import demo_csv, limited_demo_csv  # noqa: E402
from venue_pipeline.providers.registry import PROVIDERS  # noqa: E402
from venue_pipeline.services import Settings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
# core/adaptive.py TransferLimits, used by pipeline/uploads.py run_uploads: each provider's photo transfers adapt
# between 1 and this many at once (the bound takes the most), Google's billed photo requests also under its rate
UPLOAD_PER_PROVIDER = TransferLimits.photo_maximum
BILLED_PHOTO_KINDS = frozenset({"photo_media"})  # photo requests under the provider's rate (core/upload.py)
# core/ids.py resolve_ids and core/photos.py discover_photos defaults: venues / listings in flight at once
IDS_CONCURRENCY = 16
DISCOVERY_CONCURRENCY = 16
PACED_KINDS = frozenset({"geocode", "search", "details", "photos"})  # calls that take a limiter slot
TRANSFER_KINDS = frozenset({"photo_media", "photo_download", "upload", "cdn_download", "list_files", "delete_file"})
# the stage each request kind belongs to (Google's default "new" flavour: details only for photo listings)
KIND_STAGE = {"geocode": "ids", "search": "ids", "details": "discovery", "photos": "discovery"} | {
    k: "uploads" for k in TRANSFER_KINDS
}
SEQUENTIAL_SLEEPS_S = (0.1, 0.3, 0.5)  # the original upload loop's sleep: 100-500 ms, 300 ms on average
STAGES = ("ids", "discovery", "uploads")
STAGE_LINE = {
    "ids": re.compile(r"provider IDs: .*\((?P<s>[0-9.]+)s\)\s*$"),
    "discovery": re.compile(r"photos: .*\((?P<s>[0-9.]+)s\)\s*$"),
    "uploads": re.compile(r"uploads: .*\((?P<s>[0-9.]+)s\)\s*$"),
}
CONCURRENCY = re.compile(r"at most (?P<peaks>.+?) at once")
RUN_LINE = re.compile(r"run (?P<id>[0-9a-f]+) (?P<state>ok|FAILED) in (?P<s>[0-9.]+)s")
CLEARED_ENV = (
    "VENUE_DB_URL", "VENUE_SANDBOX_URL", "VENUE_SANDBOX_WORLD", "VENUE_IMAGE_DIR", "VENUE_IMAGE_STORE",
    "VENUE_PIPELINE_HOME", "DAGSTER_HOME", "VENUE_PROVIDER_MODE",
)


# -- the delay line ---------------------------------------------------------------------------------------------


class DelayLine:
    """A TCP proxy on 127.0.0.1 that forwards to an upstream port on 127.0.0.1 and delivers every chunk
    `delay_s` after it arrived, in each direction (pure latency, no bandwidth limit); with `handshake`, a new
    connection forwards nothing until one round trip after it was accepted. Runs its own event loop thread."""

    def __init__(self, upstream_port: int, delay_s: float, *, handshake: bool = True) -> None:
        self.upstream_port = upstream_port
        self.delay_s = delay_s
        self.handshake = handshake
        self.opened: list[float] = []  # wall-clock time of every connection accepted
        self._tasks: set[asyncio.Task[None]] = set()  # asyncio's stream protocol drops its reference on close
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="delay-line", daemon=True)
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    def start(self) -> int:
        self.thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self.loop)
        self.port = fut.result(timeout=10)
        return self.port

    async def _start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, start_at: float) -> None:
        loop = asyncio.get_running_loop()
        held: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def take() -> None:
            while True:
                data = await reader.read(65536)
                await held.put((max(loop.time(), start_at) + self.delay_s, data))
                if not data:
                    return

        async def give() -> None:
            while True:
                due, data = await held.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    with contextlib.suppress(OSError, RuntimeError):
                        if writer.can_write_eof():
                            writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        taker = asyncio.create_task(take())
        try:
            await give()
        finally:
            taker.cancel()
            with contextlib.suppress(BaseException):
                await taker

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            await self._forward(client_r, client_w)
        except asyncio.CancelledError:  # stop(): end quietly (asyncio's stream callback would log a cancelled task)
            client_w.close()
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]

    async def _forward(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.opened.append(time.time())
        start_at = asyncio.get_running_loop().time() + (2 * self.delay_s if self.handshake else 0.0)
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_w.close()
            return
        try:
            await asyncio.gather(
                self._pipe(client_r, up_w, start_at), self._pipe(up_r, client_w, start_at), return_exceptions=True
            )
        finally:
            for w in (up_w, client_w):
                w.close()

    def stop(self) -> None:
        if not self.thread.is_alive():
            return

        async def shutdown() -> None:
            if self.server is not None:
                self.server.close()
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        if not self.thread.is_alive():
            self.loop.close()


# -- child processes --------------------------------------------------------------------------------------------


class Children:
    """The processes this benchmark started, each in its own session (so a terminal Ctrl-C reaches only the
    benchmark, which then stops them in order): SIGTERM to the child's own process group, SIGKILL after 10 s."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()


def lines_of(proc: subprocess.Popen[str]) -> queue.Queue[tuple[float, str | None]]:
    """The child's output lines, each stamped with the wall-clock time it arrived (None at the end)."""
    out: queue.Queue[tuple[float, str | None]] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        with contextlib.suppress(ValueError, OSError):
            for line in proc.stdout:
                out.put((time.time(), line.rstrip("\n")))
        out.put((time.time(), None))

    threading.Thread(target=pump, daemon=True).start()
    return out


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds a running process has used so far (/proc/<pid>/stat; 0 when unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    """User + system CPU seconds of this process's finished (waited-for) children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli() -> list[str]:
    return [sys.executable, "-m", "venue_pipeline.cli"]


def run_quiet(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[2:])} failed ({done.returncode}): {done.stdout}{done.stderr}")


def start_sandbox(
    children: Children, env: dict[str, str], seed: int, faults: str, slow: str | None = None, rtt_ms: float = 80.0
) -> int:
    port = free_port()
    argv = [*cli(), "sandbox", "serve", "--port", str(port), "--seed", str(seed), "--faults", faults]
    if slow:
        argv += ["--slow", slow, "--slow-rtt-ms", f"{rtt_ms:g}"]
    proc = children.start(argv, env)
    out = lines_of(proc)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            _, line = out.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            raise RuntimeError(f"sandbox serve exited with {proc.wait()}")
        if line.startswith("sandbox listening on"):
            threading.Thread(target=drain, args=(out,), daemon=True).start()
            return port
    raise RuntimeError("sandbox serve did not start within 120 s")


def drain(out: queue.Queue[tuple[float, str | None]]) -> None:
    """Reads the rest of a child's output so its pipe never fills."""
    while out.get()[1] is not None:
        pass


def request_log(port: int) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__sandbox__/requests", timeout=30) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


# -- measuring --------------------------------------------------------------------------------------------------


def run_demo(children: Children, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    argv = [*shlex.split(args.profile_with), *cli(), "demo", "--city", args.city, "--faults", args.faults]
    if args.limit_per_city:
        argv += ["--limit-per-city", str(args.limit_per_city)]
    t0 = time.time()
    proc = children.start(argv, env)
    out = lines_of(proc)
    lines: list[tuple[float, str]] = []
    stages: dict[str, dict[str, Any]] = {}
    run: dict[str, Any] = {}
    deadline = time.monotonic() + args.timeout
    while True:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the demo ran past --timeout {args.timeout} s")
        try:
            t, line = out.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        lines.append((t, line))
        print(f"  | {line}", flush=True)
        for stage, pattern in STAGE_LINE.items():
            m = pattern.search(line)
            if m and stage not in stages:
                seconds = float(m.group("s"))
                stages[stage] = {"seconds": seconds, "end": t, "start": t - seconds, "line": line.strip()}
        m = RUN_LINE.search(line)
        if m:
            run = {"run_id": m.group("id"), "state": m.group("state"), "seconds": float(m.group("s")), "end": t}
            run["start"] = t - run["seconds"]
    code = proc.wait()
    for stage in stages.values():  # when each stage began and ended, seconds after the Dagster run began
        if run:
            stage["from_s"] = round(stage["start"] - run["start"], 1)
            stage["to_s"] = round(stage["end"] - run["start"], 1)
    return {
        "exit_code": code, "stages": stages, "run": run, "demo_seconds": round(time.time() - t0, 2),
        "output": [line for _, line in lines],
    }


def split_requests(rows: list[dict[str, Any]], since: float) -> dict[str, Any]:
    """Requests the sandbox answered during the run, per stage (by the request's kind: the pipelined flow runs the
    stages at the same time, so time no longer tells them apart), provider and endpoint kind."""
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        if row["t"] < since:
            continue
        per[KIND_STAGE.get(row["kind"], "other")][f"{row['provider']}/{row['kind']}"] += 1
    return {stage: dict(sorted(c.items())) for stage, c in sorted(per.items())}


def ledger_counts(db_path: Path) -> dict[str, Any]:
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        calls = conn.execute(
            "SELECT provider, endpoint, count(*), sum(status_code IS NOT NULL AND status_code >= 400), "
            "round(sum(cost), 4) FROM api_calls GROUP BY provider, endpoint ORDER BY provider, endpoint"
        ).fetchall()
        images = conn.execute("SELECT provider, status, count(*) FROM venue_images GROUP BY provider, status").fetchall()
    return {
        "api_calls": [
            {"provider": p, "endpoint": e, "calls": n, "errors": int(err or 0), "cost_usd": c}
            for p, e, n, err, c in calls
        ],
        "images": [{"provider": p, "status": s, "count": n} for p, s, n in images],
    }


def last_photos(db_path: Path, run_start: float) -> dict[str, dict[str, Any]]:
    """Per provider: photos uploaded, and when (seconds after the run started) its first and its last upload
    ended (upload_attempts.started_at + duration_ms of the attempts that uploaded)."""
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        rows = conn.execute(
            "SELECT i.provider, a.started_at, a.duration_ms FROM upload_attempts a "
            "JOIN venue_images i ON i.id = a.image_id WHERE a.outcome = 'uploaded'"
        ).fetchall()
    ends: dict[str, list[float]] = defaultdict(list)
    for provider, started, duration_ms in rows:
        at = datetime.fromisoformat(str(started))
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        ends[provider].append(at.timestamp() + (duration_ms or 0) / 1000.0 - run_start)
    return {
        p: {"photos": len(v), "first_s": round(min(v), 1), "last_s": round(max(v), 1)} for p, v in sorted(ends.items())
    }


def compare_with(baseline_path: Path, last: dict[str, dict[str, Any]], slowed: dict[str, float]) -> dict[str, Any]:
    """Each provider's last upload against the same benchmark without the slowed provider (its results file),
    when that file exists: the others should end within 25 % of their time there."""
    if not baseline_path.is_file():
        return {}
    base = json.loads(baseline_path.read_text()).get("last_photo_by_provider") or {}
    rows = {}
    for p, now in last.items():
        if p in base and base[p]["last_s"]:
            ratio = now["last_s"] / base[p]["last_s"]
            rows[p] = {
                "baseline_last_s": base[p]["last_s"], "last_s": now["last_s"], "ratio": round(ratio, 2),
                "slowed": p in slowed, "within_25pct": ratio <= 1.25,
            }
    return {"baseline": baseline_path.name, "providers": rows}


def provider_of(key: str) -> str:
    return key.split("/", 1)[0]


def kind_of(key: str) -> str:
    return key.split("/", 1)[1]


def bound_analysis(
    requests: dict[str, dict[str, int]], rates: dict[str, float], rtt: float, images: int, venues: int
) -> dict[str, Any]:
    """Each term a lower bound on some part of the run; see the module docstring."""
    paced_total: Counter[str] = Counter()
    terms_by_stage: dict[str, dict[str, float]] = {}
    for stage in STAGES:
        reqs = requests.get(stage, {})
        terms: dict[str, float] = {}
        paced: Counter[str] = Counter()
        transfers: Counter[str] = Counter()
        for key, n in reqs.items():
            if kind_of(key) in PACED_KINDS:
                paced[provider_of(key)] += n
            elif kind_of(key) in TRANSFER_KINDS:
                transfers[provider_of(key)] += n
        paced_total.update(paced)
        for p, n in paced.items():
            if p in rates:
                terms[f"{p} rate ({n} calls ÷ {rates[p]:g}/s)"] = n / rates[p]
        if stage == "ids" and paced:
            terms[f"round trips ({venues} venues × RTT ÷ {IDS_CONCURRENCY})"] = venues * rtt / IDS_CONCURRENCY
        if stage == "discovery" and paced:
            n = sum(paced.values())
            terms[f"round trips ({n} listings × RTT ÷ {DISCOVERY_CONCURRENCY})"] = n * rtt / DISCOVERY_CONCURRENCY
        if stage == "uploads" and transfers:
            for p, n in sorted(transfers.items()):
                if p in rates:  # photo sources (the CDN's own requests are not a provider's)
                    terms[f"transfers of {p} ({n} round trips × RTT ÷ {UPLOAD_PER_PROVIDER})"] = (
                        n * rtt / UPLOAD_PER_PROVIDER
                    )
            for key, n in reqs.items():
                p = provider_of(key)
                if kind_of(key) in BILLED_PHOTO_KINDS and p in rates:
                    terms[f"{p} photo requests ({n} ÷ {rates[p]:g}/s)"] = n / rates[p]
        terms_by_stage[stage] = {k: round(v, 2) for k, v in terms.items()}
    billed: Counter[str] = Counter()  # billed photo requests take a turn of the provider's limiter (photo_turn)
    for key, n in requests.get("uploads", {}).items():
        if kind_of(key) in BILLED_PHOTO_KINDS and provider_of(key) in rates:
            billed[provider_of(key)] += n
    whole: dict[str, float] = {}
    for p in sorted(set(paced_total) | set(billed)):
        if p in rates:
            n, m = paced_total[p], billed[p]
            label = f"{p} rate ({n} calls" + (f" + {m} photo requests" if m else "") + f" ÷ {rates[p]:g}/s)"
            whole[label] = round((n + m) / rates[p], 2)
    for stage_terms in terms_by_stage.values():
        for k, v in stage_terms.items():
            if k.startswith("transfers"):
                whole[k] = v
    name, value = max(whole.items(), key=lambda kv: kv[1])
    staged = {stage: max(t.values()) if t else 0.0 for stage, t in terms_by_stage.items()}
    return {
        "terms": whole,
        "bound_s": value,
        "bound_term": name,
        "terms_by_stage": terms_by_stage,
        "staged_bound_s": round(sum(staged.values()), 2),
        "staged_bound_by_stage_s": staged,
        "paced_calls": dict(sorted(paced_total.items())),
    }


def sequential_estimate(
    requests: dict[str, dict[str, int]], rates: dict[str, float], rtt: float, venues: int, images: int,
    transfer_round_trips: int,
) -> dict[str, Any]:
    """The original orchestration on the measured workload: venue after venue, its ID calls and then its photo
    listings one at a time, provider after provider; a call starts at max(now, that provider's previous start +
    1/rate) and takes one RTT. Then the uploads one at a time, each k RTT (k = measured transfer round trips per
    image) plus a sleep s of 100-500 ms: images × (k·RTT + s)."""
    venues = max(1, venues)
    order = [p for p in PROVIDERS if p in rates]
    per_venue: list[list[tuple[str, int]]] = []
    for stage in ("ids", "discovery"):
        paced: Counter[str] = Counter()
        for key, n in requests.get(stage, {}).items():
            if kind_of(key) in PACED_KINDS:
                paced[provider_of(key)] += n
        per_venue.append([(p, paced[p]) for p in order])
    now = 0.0
    last: dict[str, float] = {p: -1e9 for p in order}
    calls = 0
    for v in range(venues):
        for stage_calls in per_venue:
            for p, total in stage_calls:
                # spread `total` calls over the venues as evenly as possible
                n = total // venues + (1 if v < total % venues else 0)
                for _ in range(n):
                    start = max(now, last[p] + 1.0 / rates[p])
                    last[p] = start
                    now = start + rtt
                    calls += 1
    k = transfer_round_trips / images if images else 1.0
    uploads = {f"sleep {int(s * 1000)} ms": round(images * (k * rtt + s), 1) for s in SEQUENTIAL_SLEEPS_S}
    return {
        "calls_s": round(now, 1),
        "calls": calls,
        "round_trips_per_image": round(k, 3),
        "uploads_s": uploads,
        "total_s": {label: round(now + u, 1) for label, u in uploads.items()},
    }


# -- report -----------------------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "platform": platform.platform()}


def fmt_s(x: float) -> str:
    return f"{x:,.1f}"


def last_photo_lines(r: dict[str, Any]) -> list[str]:
    """When each provider's photos were uploaded (seconds after the run started), against the run without the
    slowed provider when there is one."""
    slowed = r.get("slow_provider") or {}
    against = (r.get("against_run_without_slowdown") or {}).get("providers", {})
    title = "Photos uploaded per provider (s after the run started)"
    if slowed:
        title += ", with " + ", ".join(f"{p} {f:g}× slower" for p, f in slowed.items())
        title += f", against `{r['against_run_without_slowdown']['baseline']}`" if against else " (no baseline run found)"
    lines = [f"**{title}**", "", "| provider | photos | first s | last s |" + (" last s without slowdown | ratio |" if against else ""),
             "|---|---:|---:|---:|" + ("---:|---:|" if against else "")]
    for p, v in r.get("last_photo_by_provider", {}).items():
        row = f"| {p}{' (slowed)' if p in slowed else ''} | {v['photos']} | {v['first_s']} | {v['last_s']} |"
        if against:
            a = against.get(p)
            row += f" {a['baseline_last_s']} | {a['ratio']:.2f} |" if a else " - | - |"
        lines.append(row)
    return lines


def _span(stage: dict[str, Any] | None) -> str:
    if not stage:
        return "-"
    if "from_s" not in stage:
        return fmt_s(stage["seconds"])
    return f"{fmt_s(stage['seconds'])} ({stage['from_s']:g}–{stage['to_s']:g})"


def write_markdown(path: Path, r: dict[str, Any]) -> None:
    b, seq, st = r["bound"], r["sequential_estimate"], r["stages"]
    total = r["run"]["seconds"]
    lines = [
        f"# Enrichment benchmark: {r['city']} ({r['venues']} venues), plan `{r['plan']}`, "
        f"{r['delay_ms']:g} ms each way (RTT {r['rtt_ms']:g} ms)",
        "",
        f"{r['date']} · {r['machine']['cores']} cores ({r['machine']['cpu']}) · load average "
        f"{r['load_average_1m']['before']}→{r['load_average_1m']['after']} · faults `{r['faults']}` · "
        f"command: `{r['command']}`",
        "",
        "Rates in force (calls/s): " + ", ".join(f"{p} {v:g}" for p, v in r["rates"].items()),
        "",
        "The stages run at the same time (the pipelined city flow): each stage's wall time runs from the start of the "
        "flow to its own end, seconds after the Dagster run began in brackets.",
        "",
        "| stage | wall s (from–to) | paced calls | transfer round trips | stage bound s | bound term |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for stage in STAGES:
        reqs = r["requests_by_stage"].get(stage, {})
        paced = sum(n for k, n in reqs.items() if kind_of(k) in PACED_KINDS)
        transfers = sum(n for k, n in reqs.items() if kind_of(k) in TRANSFER_KINDS)
        terms = b["terms_by_stage"].get(stage, {})
        top = max(terms.items(), key=lambda kv: kv[1]) if terms else ("", 0.0)
        lines.append(
            f"| {stage} | {_span(st.get(stage))} | {paced} | {transfers} | "
            f"{fmt_s(top[1])} | {top[0]} |"
        )
    lines += [
        f"| **whole run** (Dagster run incl. overhead) | **{fmt_s(total)}** | | | **{fmt_s(b['bound_s'])}** "
        f"| the bound: {b['bound_term']} |",
        "",
        "| provider | requests (sandbox log) | paced calls | rate /s | calls ÷ rate s | ledger rows |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for p, n in r["requests_by_provider"].items():
        paced = b["paced_calls"].get(p, 0)
        rate = r["rates"].get(p)
        lines.append(
            f"| {p} | {n} | {paced} | {rate if rate is not None else '-'} | "
            f"{fmt_s(paced / rate) if rate else '-'} | {r['ledger_by_provider'].get(p, 0)} |"
        )
    lines += [
        "",
        "Connections opened through the delay line during the run (each one round trip of handshake): "
        + ", ".join(f"{v}" for v in r["connections_by_stage"].values()) + ".",
        "",
        f"Images: {r['images']['uploaded']} uploaded of {r['images']['total']} "
        f"({r['images']['per_second_upload_stage']:.2f}/s over the upload stage, "
        f"{r['images']['per_second_run']:.2f}/s over the whole run).",
        "",
        f"**Bound** (largest single term): {fmt_s(b['bound_s'])} s, {b['bound_term']}; "
        f"total ÷ bound = **{r['ratio_total_to_bound']:.2f}**. Were the stages run one after another (before the "
        f"pipelined flow), the staged bound would be {fmt_s(b['staged_bound_s'])} s; total ÷ staged bound = "
        f"{r['ratio_total_to_staged_bound']:.2f}.",
        "",
        "All terms: " + "; ".join(f"{k} = {v:g} s" for k, v in b["terms"].items()),
        "",
        f"CPU during the run: the demo process (pipeline and Dagster, with its upload worker) {r['cpu']['demo_s']:g} s, the sandbox server "
        f"(answers and renders every photo) {r['cpu']['sandbox_s']:g} s, on {r['cpu']['cores']} cores shared with "
        f"other work: together {(r['cpu']['demo_s'] + r['cpu']['sandbox_s']) / r['cpu']['cores']:.1f} s of the "
        "cores' wall time.",
        "",
        "Upload concurrency reached (adaptive, core/adaptive.py): "
        + (", ".join(f"{k} {v}" for k, v in r.get("upload_concurrency_reached", {}).items()) or "not reported") + ".",
        "",
        *last_photo_lines(r),
        "",
        f"**Original sequential orchestration** (estimated from these counts): provider calls {fmt_s(seq['calls_s'])} s "
        f"({seq['calls']} calls) + uploads " + ", ".join(f"{v:,.0f} s ({k})" for k, v in seq["uploads_s"].items())
        + f" ({seq['round_trips_per_image']} round trips per image) = "
        + ", ".join(f"{v:,.0f} s" for v in seq["total_s"].values())
        + f"; speed-up of the measured run: **{r['speedup']['sleep 300 ms']:.1f}×** at a 300 ms sleep "
        f"({r['speedup']['sleep 100 ms']:.1f}× to {r['speedup']['sleep 500 ms']:.1f}×).",
    ]
    path.write_text("\n".join(lines) + "\n")


# -- main -------------------------------------------------------------------------------------------------------


def slowdown_factors(spec: str | None) -> dict[str, float]:
    """--slow-provider parsed as sandbox serve --slow parses it (ValueError when malformed)."""
    from venue_pipeline.sandbox.slow import parse_slowdown

    return dict(parse_slowdown(spec).factors)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--plan", choices=("paid", "free"), default="paid", help="VENUE_PROVIDER_PLAN of the run")
    p.add_argument("--city", default="exeter", help="a demo city (exeter, norwich, nottingham)")
    p.add_argument("--limit-per-city", type=int, default=None, help="only the first N demo venues of each city")
    p.add_argument("--delay-ms", type=float, default=40.0, help="delay added in each direction (RTT = 2×)")
    p.add_argument("--no-handshake", action="store_true", help="no extra round trip when a connection opens")
    p.add_argument("--faults", default="none", help="sandbox fault mix (server and demo)")
    p.add_argument("--seed", type=int, default=7, help="sandbox seed (the demo's default is 7)")
    p.add_argument(
        "--profile-with", default="", metavar="CMD",
        help="a command the demo runs under, e.g. 'py-spy record --subprocesses --gil --format raw -o prof.txt --' "
        "(its CPU then counts as the demo's)",
    )
    p.add_argument("--timeout", type=float, default=1800.0, help="give up on the demo after this many seconds")
    p.add_argument("--out-dir", type=Path, default=RESULTS)
    p.add_argument("--keep-home", action="store_true", help="keep the temporary VENUE_PIPELINE_HOME")
    p.add_argument(
        "--slow-provider", default=None, metavar="PROVIDER:N[,...]",
        help="make a provider N times slower (sandbox serve --slow, each answer held (N-1) round trips) and report "
             "when each provider's last photo was uploaded against the run without it",
    )
    return p.parse_args(argv)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def interrupts_as_keyboard() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP all end the benchmark through the finally blocks that stop everything (SIGINT
    too when it was inherited as ignored, as in a background job of a script)."""
    old = {s: signal.signal(s, _raise_interrupt) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        slowdown_factors(args.slow_provider)
    except ValueError as exc:
        print(f"error: --slow-provider {args.slow_provider}: {exc}", file=sys.stderr)
        return 2
    args.out_dir.mkdir(parents=True, exist_ok=True)
    rtt = 2 * args.delay_ms / 1000.0
    home = Path(tempfile.mkdtemp(prefix="enrich_bench_"))
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env.update(
        VENUE_PIPELINE_HOME=str(home), DAGSTER_HOME=str(home / "dagster_home"), VENUE_PROVIDER_PLAN=args.plan,
        VENUE_SANDBOX_FAULTS=args.faults, VENUE_SANDBOX_SEED=str(args.seed), PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
    )
    db_path = home / "venues.db"
    rates = {
        name: conf.rate_per_second
        for name, conf in Settings(db_url=f"sqlite:///{db_path}", plan=args.plan, environ=env).provider_limits().items()
    }
    try:
        return measure(args, env, home, db_path, rates, rtt)
    finally:
        if args.keep_home:
            print(f"kept {home}", flush=True)
        else:
            shutil.rmtree(home, ignore_errors=True)


def measure(
    args: argparse.Namespace, env: dict[str, str], home: Path, db_path: Path, rates: dict[str, float], rtt: float
) -> int:
    """Starts the sandbox and the delay line, runs the demo through them, stops both, writes the results."""
    children = Children()
    line: DelayLine | None = None
    with interrupts_as_keyboard():
        try:
            source = demo_csv()
            if args.limit_per_city:  # the file the demo itself imports with this limit: the same world
                source = limited_demo_csv(args.limit_per_city, home / "demo_subset.csv")
            print(f"home {home}; importing {source.name}", flush=True)
            run_quiet([*cli(), "import-venues", str(source), "--format", "open_pubs"], env)
            sandbox_port = start_sandbox(
                children, env, args.seed, args.faults, args.slow_provider, 2 * args.delay_ms if args.delay_ms > 0 else 80.0
            )
            line = DelayLine(sandbox_port, args.delay_ms / 1000.0, handshake=not args.no_handshake)
            proxy_port = line.start()
            print(
                f"sandbox on 127.0.0.1:{sandbox_port}; delay line 127.0.0.1:{proxy_port} -> {sandbox_port}, "
                f"{args.delay_ms:g} ms each way; plan {args.plan}: "
                + ", ".join(f"{p} {r:g}/s" for p, r in rates.items()),
                flush=True,
            )
            env["VENUE_SANDBOX_URL"] = f"http://127.0.0.1:{proxy_port}"
            sandbox_pid = children.procs[-1].pid
            load_before = round(os.getloadavg()[0], 2)
            cpu_before = (children_cpu_s(), process_cpu_s(sandbox_pid))
            since = time.time()
            demo = run_demo(children, env, args)
            load_after = round(os.getloadavg()[0], 2)
            cpu = {  # the demo child (the pipeline, Dagster included) and the sandbox server (renders every photo)
                "demo_s": round(children_cpu_s() - cpu_before[0], 1),
                "sandbox_s": round(process_cpu_s(sandbox_pid) - cpu_before[1], 1),
                "cores": os.cpu_count() or 1,
            }
            if demo["exit_code"] != 0 or not demo["run"] or demo["run"]["state"] != "ok":
                print(f"the demo failed (exit {demo['exit_code']})", file=sys.stderr)
                return 1
            rows = request_log(sandbox_port)
        finally:
            if line is not None:
                line.stop()
            children.stop_all()
    stages, run = demo["stages"], demo["run"]
    assert line is not None
    connections = Counter("run" for t in line.opened if t >= since)  # stages overlap: one count for the run
    in_run = [row for row in rows if run["start"] - 0.05 <= row["t"] <= run["end"] + 0.05]
    requests = split_requests(in_run, since)
    by_provider = Counter(row["provider"] for row in in_run)
    ledger = ledger_counts(db_path)
    ledger_by_provider: Counter[str] = Counter()
    for row in ledger["api_calls"]:
        ledger_by_provider[row["provider"]] += row["calls"]
    images_total = sum(i["count"] for i in ledger["images"])
    uploaded = sum(i["count"] for i in ledger["images"] if i["status"] == "uploaded")
    venues_m = re.search(r"provider IDs: (\d+) venues", stages.get("ids", {}).get("line", ""))
    venues = int(venues_m.group(1)) if venues_m else 0
    transfer_rt = sum(n for k, n in requests.get("uploads", {}).items() if kind_of(k) in TRANSFER_KINDS)
    bound = bound_analysis(requests, rates, rtt, images_total, venues)
    seq = sequential_estimate(requests, rates, rtt, venues, images_total, transfer_rt)
    up_s = stages.get("uploads", {}).get("seconds") or 0.0
    command = "python benchmarks/enrich_benchmark.py --plan " + args.plan + (
        f" --city {args.city}" if args.city != "exeter" else "") + (
        f" --limit-per-city {args.limit_per_city}" if args.limit_per_city else "") + (
        f" --delay-ms {args.delay_ms:g}" if args.delay_ms != 40 else "") + (
        " --no-handshake" if args.no_handshake else "") + (
        f" --slow-provider {args.slow_provider}" if args.slow_provider else "")
    peaks_m = CONCURRENCY.search(stages.get("uploads", {}).get("line", ""))
    pairs = (item.rsplit(" ", 1) for item in peaks_m.group("peaks").split(" / ")) if peaks_m else ()
    peaks = {name: int(n) for name, n in pairs}
    last = last_photos(db_path, run["start"])
    result: dict[str, Any] = {
        "benchmark": "enrich_city_job over a delay line to the sandbox server",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "how": "venue-pipeline demo --city CITY --faults none in a child process (the Dagster job executed "
               "in process), VENUE_SANDBOX_URL at the delay line in front of venue-pipeline sandbox serve",
        "machine": machine_info(),
        "load_average_1m": {"before": load_before, "after": load_after},
        "plan": args.plan, "city": args.city, "limit_per_city": args.limit_per_city, "venues": venues,
        "faults": args.faults, "delay_ms": args.delay_ms, "rtt_ms": 2 * args.delay_ms,
        "handshake_round_trip": not args.no_handshake, "rates": rates,
        "connections_by_stage": dict(sorted(connections.items())),
        "stages": {
            k: {kk: vv for kk, vv in v.items() if kk in ("seconds", "from_s", "to_s", "line")} for k, v in stages.items()
        },
        "run": {"run_id": run["run_id"], "seconds": run["seconds"]},
        "demo_seconds": demo["demo_seconds"],
        "requests_by_stage": requests,
        "requests_by_provider": dict(sorted(by_provider.items())),
        "ledger": ledger,
        "ledger_by_provider": dict(sorted(ledger_by_provider.items())),
        "images": {
            "total": images_total, "uploaded": uploaded,
            "per_second_upload_stage": round(uploaded / up_s, 3) if up_s else None,
            "per_second_run": round(uploaded / run["seconds"], 3),
        },
        "bound": bound,
        "ratio_total_to_bound": round(run["seconds"] / bound["bound_s"], 2) if bound["bound_s"] else None,
        "ratio_total_to_staged_bound": (
            round(run["seconds"] / bound["staged_bound_s"], 2) if bound["staged_bound_s"] else None
        ),
        "sequential_estimate": seq,
        "speedup": {k: round(v / run["seconds"], 2) for k, v in seq["total_s"].items()},
        "upload_concurrency_reached": peaks,
        "slow_provider": slowdown_factors(args.slow_provider),
        "last_photo_by_provider": last,
        "cpu": cpu,
    }
    base_stem = f"enrich_{args.plan}" + (f"_limit{args.limit_per_city}" if args.limit_per_city else "") + (
        f"_delay{args.delay_ms:g}" if args.delay_ms != 40 else "")
    stem = base_stem
    if args.slow_provider:
        stem += "_slow_" + "_".join(f"{p}{f:g}" for p, f in sorted(result["slow_provider"].items()))
        result["against_run_without_slowdown"] = compare_with(
            args.out_dir / f"{base_stem}.json", last, result["slow_provider"]
        )
    json_path = args.out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    write_markdown(args.out_dir / f"{stem}.md", result)
    print((args.out_dir / f"{stem}.md").read_text(), flush=True)
    print(f"results in {json_path}", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: the sandbox server, the delay line and the demo were stopped", file=sys.stderr)
        sys.exit(130)
