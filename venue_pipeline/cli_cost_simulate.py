"""`venue-pipeline cost simulate`: a simulated year of the schedules on a copy of the state (cost_simulate.py)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from venue_pipeline.cli_errors import USAGE, CliError, check_db_url, check_output_file, positive_int, resolve_faults


def _date(text: str) -> datetime:
    """argparse type: a YYYY-MM-DD day, midnight UTC."""
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day as YYYY-MM-DD") from None


def add_simulate(cost_sub: Any) -> None:
    """Registers `cost simulate` under `venue-pipeline cost`."""
    sim = cost_sub.add_parser(
        "simulate", help="replay the schedules day by day on a copy of the state against the sandbox"
    )
    sim.add_argument("--days", type=positive_int, default=365, help="simulated days (default 365)")
    sim.add_argument("--start", type=_date, default=None, help="first simulated day, YYYY-MM-DD (default: today, UTC)")
    sim.add_argument("--db-url", default=argparse.SUPPRESS, help="the state to copy (default: the venue database)")
    sim.add_argument("--json", default=None, metavar="OUT", help="also write the result as JSON here")
    sim.add_argument("--faults", default=None, help="sandbox fault mix (default: VENUE_SANDBOX_FAULTS, else default)")
    sim.add_argument("--seed", type=int, default=7, help="sandbox seed (default 7)")
    sim.add_argument("--plan", choices=["paid", "free"], default="", help="provider limits (default: VENUE_PROVIDER_PLAN)")
    sim.add_argument(
        "--keep-state", default=None, metavar="DIR",
        help="keep the simulated end state in DIR (venues.db, images/), e.g. to simulate the year after it",
    )
    sim.add_argument("--quiet", action="store_true", help="no line per simulated stage run")
    sim.set_defaults(func=cmd_cost_simulate)


def render(result: Any) -> str:
    """The operator's table: calls and dollars per provider and endpoint, per venue, coverage and galleries."""
    from tabulate import tabulate

    rows = [[e.provider, e.endpoint, e.calls, f"{e.dollars:.2f}"] for e in result.endpoints]
    rows += [[p, "all", n, f"{result.dollars.get(p, 0.0):.2f}"] for p, n in result.calls.items()]
    rows.append(["TOTAL", "", result.total_calls, f"{result.total_dollars:.2f}"])
    b, a = result.before, result.after
    lines = [
        f"simulated {result.days} days from {result.start:%Y-%m-%d} on {result.venues} venues "
        f"({result.active_days} days with work, runs {result.stage_runs}, {result.elapsed_s:.0f} s)",
        tabulate(rows, headers=["provider", "endpoint", "calls", "dollars"], tablefmt="github"),
        f"calls per venue: {result.calls_per_venue:.2f} ({result.calls_per_venue_year:.2f} a venue-year); "
        f"dollars per venue: {result.total_dollars / max(result.venues, 1):.4f}",
        f"venues with an image: {b.with_image}/{b.venues} ({b.coverage:.1%}) -> {a.with_image}/{a.venues} "
        f"({a.coverage:.1%}); images per venue: {b.gallery_mean:.2f} -> {a.gallery_mean:.2f}",
    ]
    if result.state_url:
        lines.append(f"end state kept: {result.state_url}")
    return "\n".join(lines)


def cmd_cost_simulate(args: argparse.Namespace) -> int:
    from venue_pipeline.cost_simulate import SimulationError, simulate

    check_output_file(args.json, "--json")
    faults = resolve_faults(args)
    check_db_url(args.db_url, "--db-url")
    start = args.start or datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    keep = Path(args.keep_state) if args.keep_state else None
    say = (lambda _line: None) if args.quiet else (lambda line: print(f"  {line}", file=sys.stderr))
    try:
        result = simulate(
            args.db_url, args.days, start, faults=faults, seed=args.seed, plan=args.plan, state_dir=keep, progress=say
        )
    except SimulationError as exc:
        raise CliError(f"cost simulate: {exc}", USAGE) from None
    print(render(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result.as_dict(), indent=2) + "\n", encoding="utf-8")
        print(f"result written to {args.json}", file=sys.stderr)
    return 0
