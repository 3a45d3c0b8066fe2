"""`venue-pipeline`: what lives outside Dagster (schema, imports, the demo, the sandbox server, evaluations, exports).

Errors: every failure the CLI knows about is reported as one line `error: <what>: <why>` on stderr (database URLs
with the password masked) and the process exits 2 for bad input (arguments, settings from the environment,
unknown names; checked before any work, so nothing is written) or 1 when the environment fails (database
unreachable or missing, a file that cannot be written, a failed run)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from venue_pipeline.cli_errors import (  # the error boundary's pieces (CliError and the exit codes re-exported)
    OPERATIONAL, USAGE, CliError, Parser, check_db_reachable, check_db_url, check_output_file, circuit_targets,
    database_error, file_error, port_number, positive_int, resolve_faults, resolve_slowdown,
)
from venue_pipeline.cli_cost import add_cost_parser
from venue_pipeline.config import ConfigError, default_db_url, pipeline_home, sandbox_seed

log = logging.getLogger("venue_pipeline.cli")

def ensure_dagster_home() -> Path:
    """DAGSTER_HOME, defaulting to the project-local instance the UI (`make ui`) also opens (set up under a
    file lock: local_runs.ensure_dagster_home)."""
    from venue_pipeline.local_runs import ensure_dagster_home as ensure

    return ensure()


def add_city_partitions(cities: Sequence[str]) -> None:
    """New cities become Dagster partitions of the city-partitioned assets."""
    from venue_pipeline.defs.partitions import cities_partitions
    from venue_pipeline.local_runs import open_instance

    with open_instance() as instance:
        existing = set(instance.get_dynamic_partitions(cities_partitions.name))
        new = [c for c in cities if c not in existing]
        if new:
            instance.add_dynamic_partitions(cities_partitions.name, new)


def reap_dead_runs(db_url: str) -> list[str]:
    """On start: runs this host executed in-process that are still STARTED but whose process is gone are
    marked FAILED and their city leases released (only when a Dagster instance was set up before)."""
    home = os.environ.get("DAGSTER_HOME")
    path = Path(home).resolve() if home else pipeline_home() / "dagster_home"
    if not (path / "dagster.yaml").exists():
        return []
    from venue_pipeline import local_runs

    try:
        with local_runs.open_instance() as instance:
            reaped = local_runs.reap_dead_runs(instance, db_url)
    except Exception as exc:  # never stop a command over housekeeping
        log.warning("could not check for dead runs: %s", exc)
        return []
    for run_id in reaped:
        print(f"run {run_id[:8]} was killed (its process is gone): marked FAILED, its leases released", file=sys.stderr)
    return reaped


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from venue_pipeline.store.db import upgrade

    revision = upgrade(args.db_url)
    print(f"venue database at revision {revision}")
    return 0


def import_file(db_url: str, path: Path, fmt: str | None, *, quiet: bool = False) -> tuple[int, int]:
    """Streams one file into the database (store.venues.import_venue_file: batches, bounded memory), lists the
    first 100 bad rows, registers new cities; returns (venues, bad rows)."""
    from venue_pipeline.store.db import upgrade
    from venue_pipeline.store.venues import import_venue_file

    upgrade(db_url)
    summary = import_venue_file(db_url, path, fmt)  # type: ignore[arg-type]
    for error in summary.errors.listed:
        print(f"{path}:{error.line}: skipped: {error.reason}", file=sys.stderr)
    if summary.errors.unlisted:
        listed = len(summary.errors.listed)
        print(f"{path}: {summary.errors.unlisted} more bad rows skipped (the first {listed} are listed)", file=sys.stderr)
    result = summary.result
    add_city_partitions(sorted(result.cities))
    if not quiet:
        cities = sorted(result.cities)
        shown = ", ".join(cities[:20]) + (f" and {len(cities) - 20} more" if len(cities) > 20 else "")
        print(
            f"{path.name}: {summary.venues} venues ({result.inserted} new, {result.updated} updated, "
            f"{result.unchanged} unchanged), {summary.errors.count} bad rows skipped, "
            f"{summary.flagged} without coordinates flagged for geocoding, cities: {shown}"
        )
    return summary.venues, summary.errors.count


def cmd_import(args: argparse.Namespace) -> int:
    from venue_pipeline.core.importer import ImportFormatError

    path = Path(args.file)
    if not path.exists():
        print(f"error: {path} does not exist", file=sys.stderr)
        return 2
    try:
        import_file(args.db_url, path, args.format)
    except ImportFormatError as exc:
        print(f"error: {path}: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from venue_pipeline.demo import run_demo

    return run_demo(args.db_url, limit_per_city=args.limit_per_city, faults=args.faults, cities=args.city)


def cmd_sandbox_serve(args: argparse.Namespace) -> int:
    from venue_pipeline.sandbox.server import serve
    from venue_pipeline.services import Settings, build_world_sandbox

    if args.world and not Path(args.world).is_file():
        print(f"error: world file {args.world} does not exist", file=sys.stderr)
        return 2
    seed, faults = args.seed, args.faults  # resolved and checked by validate()
    settings = Settings(db_url=args.db_url, sandbox_seed=seed, sandbox_faults=faults, sandbox_world=args.world or None)
    try:
        sandbox = build_world_sandbox(settings)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sandbox.slowdown = args.slowdown  # parsed by validate()
    served = f"world file {args.world}" if args.world else "a world generated from the venue database"
    try:
        running = serve(sandbox, host="127.0.0.1", port=args.port)
    except OSError as exc:  # the port is taken, or not ours to bind
        raise CliError(f"sandbox serve --port {args.port}: 127.0.0.1:{args.port}: {exc.strerror or exc}", OPERATIONAL)
    print(f"sandbox listening on http://127.0.0.1:{args.port} (seed {seed}, faults {faults}, {served}; "
          f"{args.slowdown.describe()})", flush=True)
    print(f"point the pipeline at it with VENUE_SANDBOX_URL=http://127.0.0.1:{args.port}", flush=True)
    try:
        running.thread.join()
    except KeyboardInterrupt:  # Ctrl-C is how the server is stopped
        pass
    finally:
        running.stop()
    return 0


def cmd_match_eval(args: argparse.Namespace) -> int:
    from venue_pipeline.core.match_eval import main_match_eval

    if args.world:
        if args.files:
            print("error: give either labelled-pair FILEs or --world, not both", file=sys.stderr)
            return 2
        return cmd_world_eval(args)
    if not args.files:
        print("error: match-eval needs labelled-pair FILEs or --world DIR_OR_FILE", file=sys.stderr)
        return 2
    return main_match_eval(list(args.files))


def cmd_world_eval(args: argparse.Namespace) -> int:
    """`match-eval --world`: the real provider-ID stage against worlds from a Geo-ER folder or a world file."""
    import tempfile

    from venue_pipeline.evaluation.geo_er_world import SPLITS, build_geo_er_world, geo_er_files
    from venue_pipeline.evaluation.world_eval import evaluate_world, format_world_eval, results_to_json
    from venue_pipeline.sandbox.world_file import read_world

    source = Path(args.world)
    splits = list(SPLITS) if args.split == "all" else [args.split]
    if not source.exists():
        print(f"error: {source} does not exist", file=sys.stderr)
        return 2
    worlds = []
    if source.is_dir():
        files = geo_er_files(source, args.city)
        if not files:
            which = f"{args.city}_" if args.city else "<city>_"
            print(f"error: no {which}{{train,valid,test}}.txt files in {source}", file=sys.stderr)
            return 2
        print(f"Geo-ER source {source}: cities {', '.join(files)}; every entity 2 served as the Foursquare provider")
        for city in files:
            worlds.append(build_geo_er_world(source, city))
    else:
        if args.city:
            print("error: --city applies to a Geo-ER folder, not to a world file", file=sys.stderr)
            return 2
        try:
            worlds.append(read_world(source))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    results = []
    for data in worlds:
        with tempfile.TemporaryDirectory(prefix="venue-match-eval-") as workdir:
            try:
                result = evaluate_world(data, splits=splits, workdir=workdir)
            except ValueError as exc:
                print(f"error: {data.name}: {exc}", file=sys.stderr)
                return 2
        results.append(result)
        print(format_world_eval(result))
    if args.json:
        Path(args.json).write_text(results_to_json(results) + "\n", encoding="utf-8")
        print(f"results written to {args.json}", file=sys.stderr)
    return 0


def cmd_export_images(args: argparse.Namespace) -> int:
    import json

    from venue_pipeline.export import export_venue_images

    try:
        data = export_venue_images(args.db_url, args.venue_id)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from venue_pipeline.core import report as rep
    from venue_pipeline.pipeline.report import build_report
    from venue_pipeline.providers.config import settings_from_env
    from venue_pipeline.store.db import session_scope, upgrade
    from venue_pipeline.store.reports import failed_images

    upgrade(args.db_url)
    with session_scope(args.db_url) as session:
        data = build_report(session, {p.name: p.daily_quota for p in settings_from_env()})
        failed = failed_images(session) if args.failed_images else []
    render = {"json": rep.to_json, "csv": rep.to_csv, "markdown": rep.to_markdown}[args.format]
    text = render(data)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"report written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if args.failed_images:
        Path(args.failed_images).write_text(rep.failed_images_csv(failed), encoding="utf-8")
        print(f"{len(failed)} failed images written to {args.failed_images}", file=sys.stderr)
    return 0


def cmd_circuit(args: argparse.Namespace) -> int:
    from venue_pipeline.pipeline import circuit_state
    from venue_pipeline.store import circuits
    from venue_pipeline.store.db import session_scope, upgrade

    upgrade(args.db_url)
    with session_scope(args.db_url) as session:
        if args.circuit_command == "reset":
            at = circuits.reset(session, args.target, args.note)
            print(f"circuit {args.target} reset at {at:%Y-%m-%d %H:%M:%S} UTC")
        state = circuit_state(session)
    rate = "n/a" if state.success_rate is None else f"{state.success_rate:.0%}"
    print(f"retry success over the last {state.attempts} retry attempts: {rate}")
    print(state.reason)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="venue-pipeline", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", default=None, help="venue database URL (default: VENUE_DB_URL or SQLite)")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="venue database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="create or upgrade the schema in place").set_defaults(func=cmd_db_upgrade)

    imp = sub.add_parser("import-venues", help="import venues from a CSV file")
    imp.add_argument("file")
    imp.add_argument("--format", choices=["open_pubs", "csv"], default=None, help="default: from the header")
    imp.set_defaults(func=cmd_import)

    demo = sub.add_parser("demo", help="import the demo venues and enrich every demo city")
    demo.add_argument(
        "--limit-per-city", type=positive_int, default=None, help="only the first N (at least 1) venues of each city"
    )
    demo.add_argument("--faults", default=None, help="none, default, heavy or outage (default: VENUE_SANDBOX_FAULTS)")
    demo.add_argument("--city", action="append", default=None, help="only this city slug (repeatable)")
    demo.set_defaults(func=cmd_demo)

    sandbox = sub.add_parser("sandbox", help="the provider simulator")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", required=True)
    serve = sandbox_sub.add_parser("serve", help="serve the simulator on a loopback port")
    serve.add_argument("--port", type=port_number, default=8765, help="1-65535")
    serve.add_argument("--seed", type=int, default=None, help="default: VENUE_SANDBOX_SEED, else 7")
    serve.add_argument("--faults", default=None, help="none, default, heavy or outage (default: VENUE_SANDBOX_FAULTS)")
    serve.add_argument(
        "--world",
        default=os.environ.get("VENUE_SANDBOX_WORLD") or None,
        metavar="FILE",
        help="serve this world file instead of a world generated from the venue database",
    )
    serve.add_argument("--slow", default=None, metavar="PROVIDER:N[,...]",
                       help="answer N times slower: each answer held (N-1) round trips (default: VENUE_SANDBOX_SLOW)")
    serve.add_argument("--slow-rtt-ms", type=float, default=80.0, help="the round trip --slow multiplies (80)")
    serve.set_defaults(func=cmd_sandbox_serve)

    exp = sub.add_parser("export-images", help="a venue's gallery as JSON (original venue_images entry shape)")
    exp.add_argument("venue_id", type=int)
    exp.add_argument("--out", default=None, help="write to this file instead of stdout")
    exp.set_defaults(func=cmd_export_images)

    rep = sub.add_parser("report", help="the failure report as JSON, CSV or markdown")
    rep.add_argument("--format", choices=["json", "csv", "markdown"], default="markdown")
    rep.add_argument("--out", default=None, help="write to this file instead of stdout")
    rep.add_argument("--failed-images", default=None, metavar="CSV", help="also write every failed image here")
    rep.set_defaults(func=cmd_report)

    circ = sub.add_parser("circuit", help="circuit breakers: status, or reset after fixing the cause")
    circ_sub = circ.add_subparsers(dest="circuit_command", required=True)
    circ_sub.add_parser("status", help="show the breakers").set_defaults(func=cmd_circuit)
    reset = circ_sub.add_parser("reset", help="close a breaker: 'retries' or 'auth:<provider>'")
    reset.add_argument("target")
    reset.add_argument("--note", default=None)
    reset.set_defaults(func=cmd_circuit)

    runs = sub.add_parser("runs", help="Dagster runs this host executed in-process")
    runs_sub = runs.add_subparsers(dest="runs_command", required=True)
    runs_sub.add_parser("reap", help="mark killed runs FAILED and release their leases").set_defaults(
        func=cmd_runs_reap
    )

    ev = sub.add_parser(
        "match-eval",
        help="precision/recall of the place matcher on labelled pairs, or (--world) of the whole ID stage",
    )
    ev.add_argument("files", nargs="*", help="Geo-ER pair files or a Locu-Foursquare folder")
    ev.add_argument(
        "--world",
        default=None,
        metavar="DIR_OR_FILE",
        help="run the real provider-ID stage against a world: a Geo-ER source folder or a world JSON file",
    )
    ev.add_argument("--city", default=None, help="with a Geo-ER folder: only this city code (e.g. pit)")
    ev.add_argument("--split", choices=["train", "valid", "test", "all"], default="all")
    ev.add_argument("--json", default=None, metavar="OUT", help="also write the results as JSON here")
    ev.set_defaults(func=cmd_match_eval)
    add_cost_parser(sub)
    return parser


REAPING_COMMANDS = {"db", "import-venues", "report", "circuit", "export-images", "runs"}
"""Commands that first fail this host's dead in-process runs (the demo does it itself, on its instance)."""


def cmd_runs_reap(args: argparse.Namespace) -> int:
    """`venue-pipeline runs reap`: the start-up check on its own (main() has already run it)."""
    print("no dead runs left in progress")
    return 0


def validate(args: argparse.Namespace) -> None:
    """Checks of the arguments that need no database, before any work (a failure has written nothing)."""
    if args.command == "report":
        check_output_file(args.out, "--out")
        check_output_file(args.failed_images, "--failed-images")
    elif args.command == "export-images":
        check_output_file(args.out, "--out")
    elif args.command == "match-eval":
        check_output_file(args.json, "--json")
    elif args.command == "circuit" and args.circuit_command == "reset" and args.target not in circuit_targets():
        raise CliError(
            f"circuit reset {args.target}: unknown circuit; choose one of {', '.join(circuit_targets())}", USAGE
        )
    elif args.command == "sandbox":
        if args.seed is None:
            args.seed = sandbox_seed()  # read once, only by the commands that use it
        args.faults = resolve_faults(args)
        args.slowdown = resolve_slowdown(args.slow, args.slow_rtt_ms)
    elif args.command == "demo":
        args.faults = resolve_faults(args)
        sandbox_seed()  # the demo's runs read it: a bad value stops here, not in every run
    if args.command in ("report", "demo"):
        from venue_pipeline.providers.config import settings_from_env

        settings_from_env()  # limits and base URLs from the environment (ProviderConfigError names the variable)


DB_COMMANDS = REAPING_COMMANDS | {"demo", "sandbox"}


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; every known failure ends as one `error:` line on stderr and exit code 2 or 1."""
    from sqlalchemy.exc import ArgumentError, DBAPIError

    from venue_pipeline.providers.config import ProviderConfigError

    started = time.monotonic()
    args = argparse.Namespace(command=None, db_url=None)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.db_url:
            source = "--db-url"
        else:
            source = "VENUE_DB_URL" if os.environ.get("VENUE_DB_URL") else "venue database"
            args.db_url = default_db_url()
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
        )
        validate(args)
        if args.command in DB_COMMANDS and not getattr(args, "world", None):
            check_db_url(args.db_url, source)
            check_db_reachable(args.db_url)
        if args.command in REAPING_COMMANDS:
            reap_dead_runs(args.db_url)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"interrupted after {time.monotonic() - started:.1f}s", file=sys.stderr)
        return 130
    except CliError as exc:
        message, code = exc.message, exc.code
    except (ConfigError, ProviderConfigError) as exc:
        message, code = str(exc), USAGE
    except ArgumentError as exc:  # an URL or option SQLAlchemy refuses (NoSuchModuleError: unknown database)
        message, code = database_error(args, exc), USAGE
    except DBAPIError as exc:  # OperationalError and friends: unreachable server, missing database, unwritable file
        message, code = database_error(args, exc), OPERATIONAL
    except OSError as exc:
        message, code = file_error(args, exc), OPERATIONAL
    print(f"error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":  # `python -m venue_pipeline.cli`: the package's module, so its error types are the ones raised
    from venue_pipeline.cli import main as package_main

    raise SystemExit(package_main())
