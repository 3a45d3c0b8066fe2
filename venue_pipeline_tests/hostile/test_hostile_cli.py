"""Hostile input to the command line (issue 13): every error is one `error:` line on stderr, no traceback, exit 2
for bad input and 1 when the environment fails, checked before any work so the database is left as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from venue_pipeline.cli import main
from venue_pipeline.store.db import dispose_engines

TABLES = ("venues", "provider_ids", "venue_images", "api_calls", "circuit_resets", "failure_reports", "run_leases")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch) -> Path:
    """Local state, the Dagster instance and every setting the CLI reads from the environment: the test's own."""
    home = tmp_path / "home"
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    for name in ("VENUE_DB_URL", "VENUE_SANDBOX_SEED", "VENUE_SANDBOX_FAULTS", "VENUE_SANDBOX_WORLD"):
        monkeypatch.delenv(name, raising=False)
    yield home
    dispose_engines()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str, *needles: str) -> str:
    """stderr is exactly one `error: ...` line (no traceback, no usage block) that contains every needle."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in line, (needle, line)
    return line


def row_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = [t for t in TABLES if conn.dialect.has_table(conn, t)]
            return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in names}
    finally:
        engine.dispose()


# --- the venue database URL -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["circuit", "status"], ["db", "upgrade"], ["report"], ["demo", "--faults", "none"]])
def test_a_database_url_sqlalchemy_cannot_use_is_one_usage_error(capsys, monkeypatch, command) -> None:
    monkeypatch.setenv("VENUE_DB_URL", "nonsense://")
    code, _, err = run(capsys, *command)
    assert code == 2
    one_error_line(err, "VENUE_DB_URL", "nonsense://", "not a usable database URL")


def test_an_unreachable_postgresql_server_is_one_operational_error_without_the_password(capsys) -> None:
    url = "postgresql+psycopg2://u:s3cr3t-pw@127.0.0.1:1/x"
    code, _, err = run(capsys, "--db-url", url, "circuit", "status")
    assert code == 1
    one_error_line(err, "venue database", "u:***@127.0.0.1:1/x", "Connection refused")
    assert "s3cr3t-pw" not in err


def test_a_postgresql_database_that_does_not_exist_is_one_operational_error(capsys) -> None:
    server = os.environ.get("VENUE_PG_URL")
    if not server:
        pytest.skip("VENUE_PG_URL is not set: no PostgreSQL server for this test (bash .ci/run starts one)")
    from sqlalchemy.engine import make_url

    missing = make_url(server).set(database="vp_no_such_database", password="pw-not-shown")
    url = missing.render_as_string(hide_password=False)
    for command in (["circuit", "reset", "retries"], ["db", "upgrade"], ["demo", "--limit-per-city", "1"]):
        code, _, err = run(capsys, "--db-url", url, *command)
        assert code == 1, command
        one_error_line(err, "venue database", "vp_no_such_database", "does not exist")
        assert "pw-not-shown" not in err


def test_a_sqlite_file_in_a_folder_that_cannot_be_created_is_one_operational_error(capsys, tmp_path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    db = blocker / "sub" / "venues.db"
    for command in (["db", "upgrade"], ["circuit", "status"], ["report"]):
        code, _, err = run(capsys, "--db-url", f"sqlite:///{db}", *command)
        assert code == 1, command
        one_error_line(err, "venue database", str(blocker))
    assert not db.exists() and blocker.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_sqlite_file_in_a_read_only_folder_is_one_operational_error(capsys, tmp_path) -> None:
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        code, _, err = run(capsys, "--db-url", f"sqlite:///{folder / 'venues.db'}", "db", "upgrade")
        assert code == 1
        one_error_line(err, "venue database", str(folder), "not writable")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


# --- output files ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["report", "--out", "{dir}"],
        ["report", "--out", "{dir}/missing/r.md"],
        ["report", "--format", "csv", "--failed-images", "{dir}"],
        ["report", "--failed-images", "{dir}/missing/failed.csv"],
        ["export-images", "1", "--out", "{dir}"],
        ["export-images", "1", "--out", "{dir}/missing/gallery.json"],
    ],
)
def test_an_output_file_that_is_a_folder_or_in_a_missing_folder_is_refused_before_any_work(
    capsys, tmp_path, any_db_url, command
) -> None:
    before = row_counts(any_db_url)
    argv = [a.format(dir=tmp_path) for a in command]
    code, out, err = run(capsys, "--db-url", any_db_url, *argv)
    assert code == 2 and out == ""
    option = argv[-2]
    one_error_line(err, option, argv[-1], "folder")
    assert not (tmp_path / "missing").exists()
    assert row_counts(any_db_url) == before


# --- sandbox serve -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["99999", "0", "-1", "abc"])
def test_sandbox_serve_refuses_a_port_outside_1_to_65535(capsys, port) -> None:
    code, out, err = run(capsys, "sandbox", "serve", "--port", port)
    assert code == 2 and out == ""
    one_error_line(err, "--port", port, "1-65535")


def test_sandbox_serve_on_a_port_in_use_is_one_operational_error(capsys, sqlite_url) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        code, out, err = run(capsys, "--db-url", sqlite_url, "sandbox", "serve", "--port", port)
    assert code == 1 and "listening" not in out
    one_error_line(err, f"127.0.0.1:{port}", "in use")


# --- the sandbox seed and fault mix from the environment -----------------------------------------------------------


def test_a_non_numeric_seed_stops_only_the_commands_that_use_it_naming_the_variable(
    capsys, monkeypatch, any_db_url
) -> None:
    monkeypatch.setenv("VENUE_SANDBOX_SEED", "seven")
    before = row_counts(any_db_url)
    code, out, err = run(capsys, "--db-url", any_db_url, "circuit", "status")  # does not use the seed
    assert code == 0 and err == "" and "retry success" in out
    for command in (["sandbox", "serve"], ["demo", "--limit-per-city", "1"]):
        code, out, err = run(capsys, "--db-url", any_db_url, *command)
        assert code == 2, command
        one_error_line(err, "VENUE_SANDBOX_SEED", "'seven'", "whole number")
    assert row_counts(any_db_url) == before
    code, _, err = run(capsys, "sandbox", "serve", "--seed", "x")
    assert code == 2
    one_error_line(err, "--seed", "'x'")


@pytest.mark.parametrize("source", ["argument", "environment"])
def test_an_unknown_fault_mix_lists_the_choices_and_writes_nothing(capsys, monkeypatch, any_db_url, source) -> None:
    before = row_counts(any_db_url)
    if source == "argument":
        argv, named = ["demo", "--faults", "bogus"], "--faults bogus"
    else:
        monkeypatch.setenv("VENUE_SANDBOX_FAULTS", "bogus")
        argv, named = ["demo"], "VENUE_SANDBOX_FAULTS=bogus"
    for command in (argv, ["sandbox", "serve", *argv[1:]]):
        code, out, err = run(capsys, "--db-url", any_db_url, *command)
        assert code == 2 and "importing" not in out, command
        one_error_line(err, named, "'bogus'", "none", "default", "heavy", "outage")
    assert row_counts(any_db_url) == before


# --- demo cities and limits --------------------------------------------------------------------------------------


def test_demo_with_an_unknown_city_lists_the_known_ones_and_writes_nothing(capsys, tmp_path, any_db_url) -> None:
    bath = tmp_path / "bath.csv"
    bath.write_text("name,address,city,country,lat,lng,external_id\nRed Lion,1 High St,Bath,UK,51.38,-2.36,a1\n")
    assert main(["--db-url", any_db_url, "import-venues", str(bath), "--format", "csv"]) == 0
    capsys.readouterr()
    before = row_counts(any_db_url)
    assert before["venues"] == 1

    code, out, err = run(capsys, "--db-url", any_db_url, "demo", "--city", "atlantis", "--city", "exeter")
    assert code == 2 and "importing" not in out
    one_error_line(err, "--city atlantis", "known cities: bath, exeter, norwich, nottingham")
    assert "exeter," not in err.split("known")[0]  # only the unknown city is named as the problem

    code, out, err = run(capsys, "--db-url", any_db_url, "demo", "--city", "bath", "--limit-per-city", "2")
    assert code == 2  # a limited demo runs the demo data's cities only
    one_error_line(err, "--city bath", "demo data", "exeter, norwich, nottingham")
    assert row_counts(any_db_url) == before


@pytest.mark.parametrize("limit", ["-1", "0", "two", "1.5"])
def test_demo_refuses_a_limit_that_is_not_a_positive_whole_number(capsys, any_db_url, limit) -> None:
    before = row_counts(any_db_url)
    code, out, err = run(capsys, "--db-url", any_db_url, "demo", "--limit-per-city", limit)
    assert code == 2 and out == ""
    one_error_line(err, "--limit-per-city", limit)
    assert row_counts(any_db_url) == before


def test_run_demo_itself_checks_its_arguments_before_any_work(any_db_url) -> None:
    from venue_pipeline.cli import CliError
    from venue_pipeline.demo import run_demo

    before = row_counts(any_db_url)
    for kwargs, needle in (
        ({"cities": ["atlantis"]}, "atlantis"),
        ({"limit_per_city": -1}, "-1"),
        ({"faults": "bogus"}, "bogus"),
    ):
        with pytest.raises(CliError, match=needle) as raised:
            run_demo(any_db_url, **kwargs)
        assert raised.value.code == 2
    assert row_counts(any_db_url) == before


# --- circuits ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["bogus-target", "auth:nobody", "auth:", "Retries"])
def test_circuit_reset_of_an_unknown_target_lists_the_valid_ones_and_writes_nothing(
    capsys, any_db_url, target
) -> None:
    before = row_counts(any_db_url)
    code, out, err = run(capsys, "--db-url", any_db_url, "circuit", "reset", target)
    assert code == 2 and out == ""
    one_error_line(err, target, "retries", "auth:here", "auth:geoapify", "auth:foursquare", "auth:google_places")
    assert row_counts(any_db_url) == before
    assert main(["--db-url", any_db_url, "circuit", "reset", "auth:imagekit"]) == 0  # the CDN's breaker is valid
    assert row_counts(any_db_url)["circuit_resets"] == before["circuit_resets"] + 1


# --- what README already promises about bad input ---------------------------------------------------------------


@pytest.mark.parametrize("variable, value", [("HERE_DAILY_QUOTA", "lots"), ("GEOAPIFY_RATE_PER_SECOND", "-2"),
                                             ("FOURSQUARE_BASE_URL", "ftp://proxy"), ("VENUE_PROVIDER_PLAN", "gold")])
def test_a_bad_provider_limit_stops_with_one_error_naming_the_variable(
    capsys, monkeypatch, any_db_url, variable, value
) -> None:
    monkeypatch.setenv(variable, value)
    before = row_counts(any_db_url)
    for command in (["report"], ["demo", "--limit-per-city", "1"]):
        code, out, err = run(capsys, "--db-url", any_db_url, *command)
        assert code == 2 and "importing" not in out, command
        one_error_line(err, variable)
    assert row_counts(any_db_url) == before


def test_import_of_a_missing_file_or_a_folder_is_one_usage_error(capsys, tmp_path, any_db_url) -> None:
    before = row_counts(any_db_url)
    for path, needle in ((tmp_path / "missing.csv", "does not exist"), (tmp_path, "not a regular file")):
        code, _, err = run(capsys, "--db-url", any_db_url, "import-venues", str(path))
        assert code == 2
        one_error_line(err, str(path), needle)
    assert row_counts(any_db_url) == before


@pytest.mark.parametrize("argv", [[], ["no-such-command"], ["report", "--format", "xml"], ["export-images", "one"]])
def test_bad_arguments_are_one_usage_line(capsys, argv) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    one_error_line(err, "see venue-pipeline")


# --- the installed command, as an operator runs it ----------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, env, code, needle",
    [
        (["demo", "--faults", "bogus"], {}, 2, "unknown sandbox fault preset 'bogus'"),
        (["circuit", "status"], {"VENUE_DB_URL": "nonsense://"}, 2, "VENUE_DB_URL nonsense://"),
        (["sandbox", "serve"], {"VENUE_SANDBOX_SEED": "abc"}, 2, "VENUE_SANDBOX_SEED='abc'"),
        (["circuit", "status"], {"VENUE_DB_URL": "postgresql://u:pw@127.0.0.1:1/x"}, 1, "u:***@"),
    ],
)
def test_the_command_prints_one_line_and_exits_non_zero(tmp_path, argv, env, code, needle) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("VENUE_")}
    environ.update(VENUE_PIPELINE_HOME=str(tmp_path / "home"), DAGSTER_HOME=str(tmp_path / "dh"), **env)
    proc = subprocess.run(
        [sys.executable, "-m", "venue_pipeline.cli", *argv], env=environ, capture_output=True, text=True, timeout=120,
        check=False,
    )
    assert proc.returncode == code, proc.stderr[-2000:]
    one_error_line(proc.stderr, needle)
    assert proc.stdout == ""
    assert not (tmp_path / "home" / "venues.db").exists()
