"""Benchmark: the upload stage alone, with and without one provider made N times slower, so what the stage itself
does to the other providers is seen without the stages before it (enrich_benchmark.py measures the whole job).

For each of --rounds rounds, and for each setting (no slowdown, then --slow-provider), in a fresh temporary home:
import the first --venues demo venues of exeter, serve the sandbox (a world generated from them) on 127.0.0.1 in
this process behind enrich_benchmark.DelayLine (--delay-ms each way), run the ID and discovery stages, then set
the slowdown and time `run_uploads`; per provider, when its first and last photo was uploaded (upload_attempts).
Results: benchmarks/results/upload_stage_slow_<provider><N>.json and .md. Everything started is stopped and the
temporary homes are removed. Not a test.

    .venv/bin/python benchmarks/upload_stage_benchmark.py --slow-provider foursquare:10
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, Path(__file__).resolve().parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from enrich_benchmark import DelayLine, last_photos, machine_info  # noqa: E402

from venue_pipeline.sandbox.slow import Slowdown, parse_slowdown  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def one_run(venues: int, slowdown: Slowdown, delay_s: float) -> dict[str, Any]:
    """One fresh home: IDs and photo lists without slowdown, then the timed upload stage with it."""
    home = Path(tempfile.mkdtemp(prefix="upload_bench_"))
    old_env = {k: os.environ.get(k) for k in ("VENUE_PIPELINE_HOME", "DAGSTER_HOME")}
    os.environ.update(VENUE_PIPELINE_HOME=str(home), DAGSTER_HOME=str(home / "dagster_home"))
    try:
        from venue_pipeline.cli import import_file
        from venue_pipeline.demo import limited_demo_csv
        from venue_pipeline.pipeline import run_discovery, run_provider_ids, run_uploads
        from venue_pipeline.sandbox.server import serve
        from venue_pipeline.services import Settings, build_world_sandbox

        db = f"sqlite:///{home}/venues.db"
        import_file(db, limited_demo_csv(venues, home / "subset.csv"), "open_pubs", quiet=True)
        sandbox = build_world_sandbox(Settings(db_url=db, sandbox_faults="none"))
        line: DelayLine | None = None
        with serve(sandbox) as server:
            try:
                line = DelayLine(server.port, delay_s)
                url = f"http://127.0.0.1:{line.start()}"
                settings = Settings(db_url=db, sandbox_faults="none", image_dir=str(home / "images"), sandbox_url=url)
                run_provider_ids(settings, "exeter")
                run_discovery(settings, "exeter")
                sandbox.slowdown = slowdown
                started = time.time()
                summary = run_uploads(settings, "exeter")
                seconds = time.time() - started
            finally:
                if line is not None:
                    line.stop()
        return {
            "upload_stage_s": round(seconds, 2), "images": summary.images,
            "uploaded": sum(summary.uploaded.values()), "concurrency": dict(summary.concurrency),
            "by_provider": last_photos(home / "venues.db", started), "load_average_1m": round(os.getloadavg()[0], 2),
        }
    finally:
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        with contextlib.suppress(Exception):
            from venue_pipeline.store.db import dispose_engines

            dispose_engines()
        shutil.rmtree(home, ignore_errors=True)


def write_markdown(path: Path, r: dict[str, Any]) -> None:
    slowed = ", ".join(f"{p} {f:g}× slower" for p, f in r["slow_provider"].items())
    lines = [
        f"# Upload stage alone: {r['venues']} exeter venues, RTT {2 * r['delay_ms']:g} ms, {slowed} against none",
        "",
        f"{r['date']} · {r['machine']['cores']} cores ({r['machine']['cpu']}) · command: `{r['command']}`",
        "",
        "| round | setting | stage s | load | " + " | ".join(f"{p} last s" for p in r["providers"]) + " |",
        "|---:|---|---:|---:|" + "---:|" * len(r["providers"]),
    ]
    for run in r["runs"]:
        lines.append(
            f"| {run['round']} | {run['setting']} | {run['upload_stage_s']} | {run['load_average_1m']} | "
            + " | ".join(str(run["by_provider"].get(p, {}).get("last_s", "-")) for p in r["providers"]) + " |"
        )
    lines += ["", "Median last photo per provider (s after the stage started):", ""]
    for p, m in r["median_last_s"].items():
        ratio = m["slowed"] / m["none"] if m["none"] else float("nan")
        lines.append(f"- {p}{' (slowed)' if p in r['slow_provider'] else ''}: {m['none']} s without, "
                     f"{m['slowed']} s with the slowdown ({ratio:.2f}×)")
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--slow-provider", default="foursquare:10", metavar="PROVIDER:N")
    p.add_argument("--venues", type=int, default=40, help="the first N exeter demo venues")
    p.add_argument("--delay-ms", type=float, default=40.0, help="each way (RTT = 2x)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out-dir", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    try:
        slow = parse_slowdown(args.slow_provider, 2 * args.delay_ms if args.delay_ms > 0 else 80.0)
    except ValueError as exc:
        print(f"error: --slow-provider {args.slow_provider}: {exc}", file=sys.stderr)
        return 2
    runs = []
    for n in range(1, args.rounds + 1):
        for setting, slowdown in (("none", Slowdown()), ("slowed", slow)):
            run = {"round": n, "setting": setting, **one_run(args.venues, slowdown, args.delay_ms / 1000.0)}
            print(json.dumps(run), flush=True)
            runs.append(run)
    providers = sorted({q for run in runs for q in run["by_provider"]})
    median = {
        q: {s: statistics.median(r["by_provider"][q]["last_s"] for r in runs if r["setting"] == s and q in r["by_provider"])
            for s in ("none", "slowed")}
        for q in providers
    }
    result = {
        "benchmark": "upload stage alone, one provider slowed", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/upload_stage_benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine_info(), "venues": args.venues, "delay_ms": args.delay_ms,
        "slow_provider": dict(slow.factors), "providers": providers, "runs": runs, "median_last_s": median,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = "upload_stage_slow_" + "_".join(f"{q}{f:g}" for q, f in sorted(slow.factors.items()))
    (args.out_dir / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    write_markdown(args.out_dir / f"{stem}.md", result)
    print((args.out_dir / f"{stem}.md").read_text(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
