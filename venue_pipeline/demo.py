"""`make demo`: imports the shipped pubs, runs the city job for every demo city on the Dagster instance,
and prints what happened, so a newcomer sees the whole pipeline in one command."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from tabulate import tabulate

PROGRESS_LOGGER = "venue_pipeline.progress"
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def _progress_to_stdout() -> None:
    """Stage progress lines go to the terminal while Dagster's own console logging stays quiet."""
    logger = logging.getLogger(PROGRESS_LOGGER)
    if not any(getattr(h, "_venue_demo", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("    %(message)s"))
        handler._venue_demo = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def demo_csv() -> Path:
    from venue_pipeline.sandbox.data import DEMO_VENUES_CSV

    return Path(DEMO_VENUES_CSV)


def limited_demo_csv(limit: int, dest: Path) -> Path:
    """The first `limit` demo venues of each city (quick demos and browser tests)."""
    import csv

    with demo_csv().open(newline="", encoding="utf-8") as src:
        reader = csv.reader(src)
        header = next(reader)
        seen: Counter[str] = Counter()
        rows = []
        for row in reader:
            city = row[-1]
            if seen[city] < limit:
                seen[city] += 1
                rows.append(row)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return dest


def demo_cities() -> list[str]:
    """The city slugs of the shipped demo venues."""
    from venue_pipeline.core.importer import parse_venues

    return sorted({v.city_slug for v in parse_venues(demo_csv(), "open_pubs").venues})


def database_cities(db_url: str) -> list[str]:
    """The city slugs already in the venue database, read only (none before its schema exists)."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from venue_pipeline.store.db import get_engine, normalize_url, session_scope
    from venue_pipeline.store.venues import cities as list_cities

    parsed = make_url(normalize_url(db_url))
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        return []
    if not inspect(get_engine(db_url)).has_table("venues"):
        return []
    with session_scope(db_url) as session:
        return [slug for slug, _, _ in list_cities(session)]


def check_demo_args(
    db_url: str, *, limit_per_city: int | None, faults: str, cities: Sequence[str] | None
) -> None:
    """The demo's arguments, checked before anything is imported or run (cli.CliError, exit 2, on a bad one):
    a limit of at least 1, a known fault mix, and cities the demo would enrich (the demo data's, and with no
    limit also the venue database's)."""
    from venue_pipeline.cli_errors import USAGE, CliError
    from venue_pipeline.services import fault_preset

    if limit_per_city is not None and limit_per_city < 1:
        raise CliError(f"--limit-per-city {limit_per_city}: give a whole number of at least 1", USAGE)
    try:
        fault_preset(faults)
    except ValueError as exc:
        raise CliError(f"--faults {faults}: {exc}", USAGE) from None
    if cities:
        known = set(demo_cities())
        if limit_per_city is None:
            known |= set(database_cities(db_url))
        unknown = [c for c in dict.fromkeys(cities) if c not in known]
        if unknown:
            where = "the demo data" if limit_per_city is not None else "the demo data or the venue database"
            raise CliError(
                f"--city {', '.join(unknown)}: not a city of {where}; known cities: {', '.join(sorted(known))}",
                USAGE,
            )


def summary_rows(db_url: str, city_slugs: Sequence[str]) -> tuple[list[list[object]], dict[str, object]]:
    """The summary table (one row per city plus a total) from the venue database."""
    from venue_pipeline.services import PROVIDERS
    from venue_pipeline.store import reports
    from venue_pipeline.store.db import session_scope

    rows: list[list[object]] = []
    totals: Counter[str] = Counter()
    with session_scope(db_url) as session:
        for city in city_slugs:
            summary = reports.city_summary(session, city)
            ids = summary.matched_ids
            row = [city, summary.venues, *[ids.get(p, 0) for p in PROVIDERS], summary.discovered, summary.uploaded]
            row += [summary.failed, summary.venues_with_image]
            rows.append(row)
            totals.update(
                venues=summary.venues, discovered=summary.discovered, uploaded=summary.uploaded, failed=summary.failed
            )
            totals.update(with_image=summary.venues_with_image, **{p: ids.get(p, 0) for p in PROVIDERS})
        errors = reports.failed_images_by_error_type(session)
        calls = reports.calls_by_provider(session)
        deferred = reports.deferred_ids_by_provider(session)
    rows.append(
        ["TOTAL", totals["venues"], *[totals[p] for p in PROVIDERS], totals["discovered"], totals["uploaded"]]
        + [totals["failed"], totals["with_image"]]
    )
    extra = {"errors": errors, "calls": calls, "deferred": deferred, "totals": dict(totals)}
    return rows, extra


def run_demo(
    db_url: str,
    *,
    limit_per_city: int | None = None,
    faults: str = "default",
    cities: Sequence[str] | None = None,
) -> int:
    """Import, enrich every city through the Dagster job, refresh the report, print the summary."""
    from venue_pipeline.cli import ensure_dagster_home, import_file
    from venue_pipeline.config import pipeline_home
    from venue_pipeline.services import PROVIDERS

    check_demo_args(db_url, limit_per_city=limit_per_city, faults=faults, cities=cities)
    started = time.monotonic()
    home = ensure_dagster_home()
    os.environ["VENUE_DB_URL"] = db_url
    os.environ["VENUE_SANDBOX_FAULTS"] = faults
    _progress_to_stdout()
    print(f"venue database: {db_url}\nDagster instance: {home}")
    source = demo_csv()
    if limit_per_city:
        source = limited_demo_csv(limit_per_city, pipeline_home() / "demo_subset.csv")
    print(f"1/3 importing {source.name} (Open Pubs, Open Government Licence v3.0)")
    import_file(db_url, source, "open_pubs")

    from venue_pipeline.store.db import session_scope
    from venue_pipeline.store.venues import cities as list_cities

    with session_scope(db_url) as session:
        known = [slug for slug, _, _ in list_cities(session)]
    if limit_per_city:
        from venue_pipeline.core.importer import parse_venues

        known = sorted({v.city_slug for v in parse_venues(source, "open_pubs").venues})
    selected = [c for c in known if not cities or c in cities]

    from venue_pipeline.definitions import defs
    from venue_pipeline.local_runs import local_run_tags, open_instance, reap_dead_runs

    job = defs.resolve_job_def("enrich_city_job")
    report_job = defs.resolve_job_def("failure_report_job")
    failed_runs = 0
    with open_instance() as instance:
        for run_id in reap_dead_runs(instance, db_url):  # a killed demo's runs: FAILED, leases free again
            print(f"  run {run_id[:8]} of an earlier demo was killed: marked FAILED, its city leases released")
        print(f"2/3 enriching {len(selected)} cities with the sandbox providers (fault mix: {faults})")
        for i, city in enumerate(selected, 1):
            t0 = time.monotonic()
            print(f"  [{i}/{len(selected)}] {city}")
            result = job.execute_in_process(
                partition_key=city,
                instance=instance,
                run_config=QUIET_RUN_CONFIG,
                raise_on_error=False,
                tags=local_run_tags(),
            )
            state = "ok" if result.success else "FAILED"
            failed_runs += 0 if result.success else 1
            print(f"    run {result.run_id[:8]} {state} in {time.monotonic() - t0:.1f}s")
        print("3/3 refreshing the failure report")
        report_job.execute_in_process(
            instance=instance, run_config=QUIET_RUN_CONFIG, raise_on_error=False, tags=local_run_tags()
        )

    rows, extra = summary_rows(db_url, selected)
    headers = ["city", "venues", *[f"ids:{p}" for p in PROVIDERS], "photos", "uploaded", "failed", "venues w/ image"]
    print()
    print(tabulate(rows, headers=headers, tablefmt="github"))
    errors = extra["errors"]
    print("\nfailed images by error type: " + (", ".join(f"{e}={n}" for e, n in errors) or "none"))
    if extra["deferred"]:
        print(
            "ID lookups deferred by a daily quota (asked again when it resets): "
            + ", ".join(f"{p}={n}" for p, n in extra["deferred"])
        )
    calls = extra["calls"]
    print(
        "calls made: "
        + ", ".join(f"{p}={n} (${c or 0:.2f})" for p, n, c in sorted(calls))
        + f"; elapsed {time.monotonic() - started:.1f}s"
    )
    print("\nOpen the Dagster UI on this state: make ui  (then http://127.0.0.1:3000)")
    return 1 if failed_runs else 0
