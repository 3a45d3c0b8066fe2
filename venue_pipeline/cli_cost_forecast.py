"""`venue-pipeline cost forecast`: the next N days' calls and dollars projected from the state, no call made."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from venue_pipeline.cli_cost_simulate import _date
from venue_pipeline.cli_errors import check_db_url, check_output_file, positive_int

REENRICH_HOUR = 5  # defs/schedules.py: the re-enrichment schedule's tick, 05:00 UTC


def add_forecast(cost_sub: Any) -> None:
    """Registers `cost forecast` under `venue-pipeline cost`."""
    fc = cost_sub.add_parser(
        "forecast", help="project the schedules' calls and dollars from the state under the back-off rules (no call)"
    )
    fc.add_argument("--days", type=positive_int, default=365, help="forecast days (default 365)")
    fc.add_argument(
        "--start", type=_date, default=None,
        help="first day, YYYY-MM-DD: daily looks at its 05:00 UTC, as the re-enrichment schedule (default: now)",
    )
    fc.add_argument("--db-url", default=argparse.SUPPRESS, help="the state to read (default: the venue database)")
    fc.add_argument("--json", default=None, metavar="OUT", help="also write the forecast as JSON here")
    fc.add_argument("--plan", choices=["paid", "free"], default="", help="provider limits (default: VENUE_PROVIDER_PLAN)")
    fc.set_defaults(func=cmd_cost_forecast)


def provider_settings(db_url: str, plan: str) -> list[Any]:
    """The providers in force: in live mode those with a key in the environment, in sandbox mode all of them."""
    from venue_pipeline.providers.config import settings_from_env
    from venue_pipeline.services import Settings

    if os.environ.get("VENUE_PROVIDER_MODE", "sandbox") == "live":
        return settings_from_env()
    return Settings(db_url=db_url, plan=plan).provider_settings()


def render(out: Any) -> str:
    """The operator's table: calls and dollars per provider and endpoint, per venue-year, and the coverage kept."""
    from tabulate import tabulate

    rows = []
    for provider, by in sorted(out.calls.items()):
        for endpoint, n in sorted(by.items()):
            rows.append([provider, endpoint, f"{n:.0f}", f"{out.dollars[provider][endpoint]:.2f}"])
        rows.append([provider, "all", f"{out.total_calls(provider):.0f}", f"{out.total_dollars(provider):.2f}"])
    rows.append(["TOTAL", "", f"{out.total_calls():.0f}", f"{out.total_dollars():.2f}"])
    n = max(out.venues, 1)
    lines = [
        f"forecast of {out.days} days from {out.start:%Y-%m-%d %H:%M} UTC on {out.venues} venues (expected values)",
        tabulate(rows, headers=["provider", "endpoint", "calls", "dollars"], tablefmt="github"),
        f"per venue-year: {out.per_venue_year(out.total_calls()):.2f} calls, ${out.per_venue_year(out.total_dollars()):.4f}",
        (
            f"venues with an image: {out.with_images_start}/{out.venues} ({out.with_images_start / n:.1%}) -> "
            f"{out.with_images_end:.0f} ({out.with_images_end / n:.1%}); images per venue: "
            f"{out.gallery_start:.2f} -> {out.gallery_end:.2f}"
        ),
    ]
    from venue_pipeline.store.reenrichment import CITIES_PER_TICK, VENUES_PER_CITY_PER_TICK  # the schedule's bounds

    over = out.days_over(CITIES_PER_TICK * VENUES_PER_CITY_PER_TICK)  # the forecast does not model them
    if over:
        lines.append(
            f"warning: on {over} day{'s' if over != 1 else ''} the forecast looks at more venues than the "
            f"re-enrichment schedule can in a day ({CITIES_PER_TICK} cities x {VENUES_PER_CITY_PER_TICK} venues; peak {max(out.looks):.0f}): the schedule "
            "spreads that work over later days, so these figures are an upper bound"
        )
    if out.deferred:
        left = ", ".join(f"{p} {n:.0f}" for p, n in sorted(out.deferred.items()))
        lines.append(f"past a daily quota and still owed at the horizon: {left}")
    return "\n".join(lines)


def cmd_cost_forecast(args: argparse.Namespace) -> int:
    from venue_pipeline.pipeline.forecast import forecast_from_db
    from venue_pipeline.store.db import session_scope, upgrade

    check_output_file(args.json, "--json")
    check_db_url(args.db_url, "--db-url")
    settings = provider_settings(args.db_url, args.plan)
    upgrade(args.db_url)
    with session_scope(args.db_url) as session:
        start = args.start.replace(hour=REENRICH_HOUR) if args.start else datetime.now(UTC)
        out = forecast_from_db(session, settings, args.days, start)
    print(render(out))
    if args.json:
        Path(args.json).write_text(json.dumps(out.as_dict(), indent=2) + "\n", encoding="utf-8")
        print(f"forecast written to {args.json}", file=sys.stderr)
    return 0
