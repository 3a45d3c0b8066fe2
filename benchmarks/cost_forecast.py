"""Issue 15's forecast check: the cost forecast for the next N days against what the simulated days then spend.

    .venv/bin/python benchmarks/cost_forecast.py [--days 365] [--start 2027-01-01] [--plan paid] [--faults default]

On the demo's 528 venues: a first enrichment (one simulated day from a fresh import: the new-venues sensor's city
runs), then for the state after it and again for the state after a simulated year, `forecast` (pipeline/forecast.py,
read from that state only) and `simulate` (cost_simulate.py) of the next --days from the day after. Writes
benchmarks/results/cost_forecast.json (per provider and endpoint, totals, the relative error of each). Exit status 0
when total calls and dollars of both years are within 10 %. Runs in a scratch folder it removes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
TOLERANCE = 0.10


def _error(forecast: float, actual: float) -> float | None:
    return None if actual == 0 else round((forecast - actual) / actual, 4)


def compare(url: str, days: int, start: datetime, faults: str, plan: str, keep: Path | None) -> dict[str, Any]:
    """Forecast the state at `url`, then simulate the same days on a copy of it; both per provider and endpoint."""
    from venue_pipeline.cost_simulate import simulate
    from venue_pipeline.pipeline.forecast import forecast_from_db
    from venue_pipeline.services import Settings
    from venue_pipeline.store.db import session_scope

    t0 = time.monotonic()
    with session_scope(url) as session:
        ahead = forecast_from_db(session, Settings(db_url=url, plan=plan).provider_settings(), days,
                                 start + timedelta(hours=5))  # the re-enrichment schedule's tick
    forecast_s = time.monotonic() - t0
    t0 = time.monotonic()
    year = simulate(url, days, start, faults=faults, plan=plan, state_dir=keep)
    simulate_s = time.monotonic() - t0
    rows = []
    seen = set()
    for e in year.endpoints:
        seen.add((e.provider, e.endpoint))
        fc = ahead.calls.get(e.provider, {}).get(e.endpoint, 0.0)
        fd = ahead.dollars.get(e.provider, {}).get(e.endpoint, 0.0)
        rows.append({"provider": e.provider, "endpoint": e.endpoint, "simulated_calls": e.calls,
                     "forecast_calls": round(fc, 1), "simulated_dollars": round(e.dollars, 4),
                     "forecast_dollars": round(fd, 4)})
    for provider, by in ahead.calls.items():
        for endpoint, n in by.items():
            if (provider, endpoint) not in seen and n >= 0.05:
                rows.append({"provider": provider, "endpoint": endpoint, "simulated_calls": 0,
                             "forecast_calls": round(n, 1), "simulated_dollars": 0.0,
                             "forecast_dollars": round(ahead.dollars[provider][endpoint], 4)})
    return {
        "start": start.date().isoformat(),
        "days": days,
        "venues": ahead.venues,
        "simulated": {"calls": year.total_calls, "dollars": round(year.total_dollars, 4),
                      "with_image": year.after.with_image, "gallery_mean": round(year.after.gallery_mean, 3)},
        "forecast": {"calls": round(ahead.total_calls(), 1), "dollars": round(ahead.total_dollars(), 4),
                     "with_image": round(ahead.with_images_end, 1), "gallery_mean": round(ahead.gallery_end, 3)},
        "error": {"calls": _error(ahead.total_calls(), year.total_calls),
                  "dollars": _error(ahead.total_dollars(), year.total_dollars)},
        "endpoints": sorted(rows, key=lambda r: (r["provider"], r["endpoint"])),
        "forecast_s": round(forecast_s, 2),
        "simulate_s": round(simulate_s, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--start", default="2027-01-01")
    parser.add_argument("--plan", choices=["paid", "free"], default="paid")
    parser.add_argument("--faults", default="default")
    parser.add_argument("--out", default=str(RESULTS / "cost_forecast.json"))
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="cost-forecast-"))
    os.environ["VENUE_PIPELINE_HOME"] = str(scratch)
    os.environ.setdefault("DAGSTER_HOME", str(scratch / "dagster_home"))
    from venue_pipeline.cli import import_file
    from venue_pipeline.cost_simulate import simulate
    from venue_pipeline.demo import demo_csv
    from venue_pipeline.store.db import upgrade

    try:
        fresh = f"sqlite:///{scratch / 'fresh.db'}"
        upgrade(fresh)
        import_file(fresh, demo_csv(), "open_pubs", quiet=True)
        day0 = datetime.fromisoformat(args.start).replace(tzinfo=UTC)
        simulate(fresh, 1, day0, faults=args.faults, plan=args.plan, state_dir=scratch / "enriched")
        enriched = f"sqlite:///{scratch / 'enriched' / 'venues.db'}"
        print("first enrichment done; forecasting and simulating year 1", file=sys.stderr)
        first = compare(enriched, args.days, day0 + timedelta(days=1), args.faults, args.plan, scratch / "year1")
        print(json.dumps({k: first[k] for k in ("simulated", "forecast", "error")}), file=sys.stderr)
        after = f"sqlite:///{scratch / 'year1' / 'venues.db'}"
        second = compare(after, args.days, day0 + timedelta(days=1 + args.days), args.faults, args.plan, None)
        print(json.dumps({k: second[k] for k in ("simulated", "forecast", "error")}), file=sys.stderr)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result = {
        "command": "benchmarks/cost_forecast.py " + " ".join(sys.argv[1:]),
        "plan": args.plan,
        "faults": args.faults,
        "after_first_enrichment": first,
        "after_a_simulated_year": second,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    ok = all(abs(r["error"][k] or 0.0) <= TOLERANCE for r in (first, second) for k in ("calls", "dollars"))
    print(f"written {args.out}; within {TOLERANCE:.0%}: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
