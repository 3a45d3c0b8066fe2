"""Benchmark: streaming a million-row Open Pubs file into the venue database with bounded memory.

Generates N rows (default 1,000,000) in the Open Pubs shape in a temporary file (a few hundred local
authorities, 5 % of rows without coordinates, a multi-line quoted address every 1,000 rows, 0.1 % bad
rows), upgrades a fresh database, then imports the file in a child process
(`venue_pipeline.store.venues.import_venue_file`, the code `venue-pipeline import-venues` runs) and records
its wall time and peak memory (ru_maxrss of that child, read with RUSAGE_CHILDREN). A fresh SQLite
database always; a throwaway PostgreSQL database too when --pg-url (or VENUE_PG_URL) is given. Results go
to benchmarks/results/import_<scale>.json and .md. Exit status 0 when every peak is under --max-rss-mb
(300), 1 otherwise. It is not a test.

    .venv/bin/python benchmarks/import_benchmark.py [--rows 1000000] [--pg-url postgresql+psycopg2://...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout without an installed package
    sys.path.insert(0, str(ROOT))

HEADER = "fas_id,name,address,postcode,easting,northing,latitude,longitude,local_authority\n"
NAMES = ("Red Lion", "Crown", "Royal Oak", "White Hart", "Swan", "Plough", "Bell", "King's Head", "Railway", "George")


def generate(path: Path, rows: int, seed: int = 7) -> dict[str, int]:
    """Writes the file; returns what it holds (rows, bad rows, rows without coordinates)."""
    rnd = random.Random(seed)
    cities = [f"Authority {i:03d}" for i in range(380)]
    bad = no_coords = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(HEADER)
        for i in range(1, rows + 1):
            name = f"{rnd.choice(NAMES)} {i % 977}"
            address = f'"{i % 300} High Street, Town {i % 5000}"'
            if i % 1000 == 0:
                address = f'"{i % 300} High Street\nTown {i % 5000}"'
            lat, lng = f"{rnd.uniform(50.0, 58.0):.6f}", f"{rnd.uniform(-5.0, 1.7):.6f}"
            if i % 20 == 0:
                lat = lng = "\\N"
                no_coords += 1
            if i % 1000 == 501:
                lat, bad = "north", bad + 1
            fh.write(f"{i},{name},{address},AB{i % 99} {i % 9}CD,{i},{i},{lat},{lng},{cities[i % len(cities)]}\n")
    return {"rows": rows, "bad_rows": bad, "without_coordinates": no_coords}


def child(db_url: str, path: str) -> None:
    """The measured import, in its own process; prints its summary as JSON on stdout."""
    from venue_pipeline.store.venues import import_venue_file

    started = time.monotonic()
    summary = import_venue_file(db_url, path, "open_pubs")
    seconds = time.monotonic() - started
    self_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "import_seconds": round(seconds, 1),
                "venues": summary.venues,
                "inserted": summary.result.inserted,
                "bad_rows": summary.errors.count,
                "flagged": summary.flagged,
                "cities": len(summary.result.cities),
                "self_peak_rss_mb": round(self_rss_kb / 1024, 1),
            }
        )
    )


def measure(db_url: str, path: Path) -> dict[str, Any]:
    """Runs the import in a child process: wall time and the child's peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", db_url, str(path)], capture_output=True, text=True, check=False
    )
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"import child failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out.update(
        wall_seconds=round(wall, 1),
        peak_rss_mb=round(peak_kb / 1024, 1),
        peak_is_this_child=peak_kb > before,  # RUSAGE_CHILDREN is the max over every child waited for
        rows_per_second=round(out["venues"] / max(out["import_seconds"], 1e-9)),
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg-url", default=os.environ.get("VENUE_PG_URL"), help="a PostgreSQL server (optional)")
    parser.add_argument("--max-rss-mb", type=float, default=300.0)
    parser.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--child", nargs=2, metavar=("DB_URL", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0

    from venue_pipeline.store.db import create_scratch_database, dispose_engines, drop_database, upgrade

    results: dict[str, Any] = {
        "benchmark": "import",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "target_peak_rss_mb": args.max_rss_mb,
        "databases": {},
    }
    with tempfile.TemporaryDirectory(prefix="import-bench-") as tmp:
        path = Path(tmp) / "open_pubs.csv"
        t0 = time.monotonic()
        results["file"] = generate(path, args.rows)
        results["file"].update(bytes=path.stat().st_size, generate_seconds=round(time.monotonic() - t0, 1))
        print(f"generated {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB)", file=sys.stderr)

        sqlite_url = f"sqlite:///{Path(tmp) / 'venues.db'}"
        upgrade(sqlite_url)
        dispose_engines()
        results["databases"]["sqlite"] = measure(sqlite_url, path)
        print(f"sqlite: {results['databases']['sqlite']}", file=sys.stderr)
        if args.pg_url:
            url, admin = create_scratch_database(args.pg_url, "bench_import")
            try:
                upgrade(url)
                dispose_engines()
                results["databases"]["postgresql"] = measure(url, path)
                print(f"postgresql: {results['databases']['postgresql']}", file=sys.stderr)
            finally:
                drop_database(url, admin)

    ok = all(db["peak_rss_mb"] < args.max_rss_mb for db in results["databases"].values())
    results["under_target"] = ok
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scale = f"{args.rows // 1_000_000}m" if args.rows % 1_000_000 == 0 else str(args.rows)
    (out_dir / f"import_{scale}.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (out_dir / f"import_{scale}.md").write_text(_markdown(results), encoding="utf-8")
    print(f"results in {out_dir}/import_{scale}.json and .md; under {args.max_rss_mb:g} MB: {ok}", file=sys.stderr)
    return 0 if ok else 1


def _markdown(results: dict[str, Any]) -> str:
    f = results["file"]
    lines = [
        f"# Import benchmark ({f['rows']:,} Open Pubs rows, {f['bytes'] / 1e6:.0f} MB)",
        "",
        f"Measured {results['when']} on {results['machine']['cpus']} CPUs, Python {results['machine']['python']}. "
        f"Target: peak RSS of the importing process under {results['target_peak_rss_mb']:g} MB.",
        "",
        "| database | venues | bad rows | flagged | import s | rows/s | child wall s | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, db in results["databases"].items():
        lines.append(
            f"| {name} | {db['venues']:,} | {db['bad_rows']:,} | {db['flagged']:,} | {db['import_seconds']} | "
            f"{db['rows_per_second']:,} | {db['wall_seconds']} | {db['peak_rss_mb']} |"
        )
    lines += ["", f"Under target: {'yes' if results['under_target'] else 'no'}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
