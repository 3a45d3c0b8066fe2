"""Issue 15's figures: two simulated years on the demo's 528 venues (cost_simulate.simulate), from a fresh import.

    .venv/bin/python benchmarks/cost_year.py [--days 365] [--start 2027-01-01] [--plan paid|free] [--legacy]

Year 1 starts from the demo venues imported into an empty database (the first enrichment included); year 2 continues
from year 1's end state. Writes benchmarks/results/cost_year1.json and cost_year2.json (--plan free: cost_free_year*;
--legacy: cost_legacy_year*, the baseline: every stale venue's matched photo providers listed and every rejected
search asked again after a flat 30 days, i.e. the rules before issue 15's back-off; the rest of the code is today's).
Runs in a scratch folder it removes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def legacy_rules() -> None:
    """The baseline: no per-provider listing back-off, a flat 30-day re-search cooldown (patched in this process)."""
    from venue_pipeline.core import ids as core_ids
    from venue_pipeline.pipeline import discovery

    discovery.listing_due = lambda state, now: True  # type: ignore[assignment]
    core_ids.search_cooldown = lambda searches: timedelta(days=30)  # type: ignore[assignment]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--start", default="2027-01-01")
    parser.add_argument("--plan", choices=["paid", "free"], default="paid")
    parser.add_argument("--faults", default="default")
    parser.add_argument("--legacy", action="store_true", help="the baseline rules (see the module docstring)")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="cost-year-"))
    os.environ["VENUE_PIPELINE_HOME"] = str(scratch)
    os.environ["DAGSTER_HOME"] = str(scratch / "dagster_home")
    (scratch / "dagster_home").mkdir()
    from venue_pipeline.cli import import_file
    from venue_pipeline.cli_cost_simulate import render
    from venue_pipeline.cost_simulate import simulate
    from venue_pipeline.demo import demo_csv

    if args.legacy:
        legacy_rules()
    say = lambda line: print(f"  {line}", file=sys.stderr, flush=True)  # noqa: E731
    try:
        url = f"sqlite:///{scratch / 'fresh.db'}"
        import_file(url, demo_csv(), "open_pubs", quiet=True)
        start = datetime.strptime(args.start, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        prefix = "cost_" + ("legacy_" if args.legacy else "") + ("free_" if args.plan == "free" else "") + "year"
        for year in (1, 2):
            result = simulate(
                url, args.days, start, faults=args.faults, plan=args.plan, state_dir=scratch / f"year{year}", progress=say
            )
            print(f"year {year}{' (legacy rules)' if args.legacy else ''}:\n{render(result)}\n", flush=True)
            data = result.as_dict() | {"command": " ".join(["benchmarks/cost_year.py", *sys.argv[1:]]), "year": year}
            data["state_url"] = ""  # a scratch path, removed below
            RESULTS.mkdir(exist_ok=True)
            (RESULTS / f"{prefix}{year}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
            url, start = result.state_url, start + timedelta(days=args.days)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
