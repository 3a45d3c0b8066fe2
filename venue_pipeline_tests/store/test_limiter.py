"""store/limiter.py and the shared limiter across processes: rates and daily quotas hold for every process sharing
the venue database (SQLite file or PostgreSQL), and a process killed mid-batch leaves every completed call in
api_calls. The multi-process tests run limiter_worker.py as child processes against the same database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from venue_pipeline.core.errors import QuotaExhausted
from venue_pipeline.core.ports import ApiCall
from venue_pipeline.store import limiter
from venue_pipeline.store.calls import DbCallLedger, utc_day
from venue_pipeline.store.db import get_engine, session_scope, upgrade
from venue_pipeline.store.schema import ApiCallRow, ProviderPacingRow

WORKER = Path(__file__).with_name("limiter_worker.py")


def _rows(url: str, provider: str = "geoapify") -> list[ApiCallRow]:
    with session_scope(url) as s:
        return list(s.scalars(select(ApiCallRow).where(ApiCallRow.provider == provider).order_by(ApiCallRow.id)))


def _next_slot(url: str, provider: str) -> float:
    with session_scope(url) as s:
        return s.scalar(select(ProviderPacingRow.next_slot_at).where(ProviderPacingRow.provider == provider))


# -- one process -------------------------------------------------------------------------------------------


def test_slots_are_one_interval_apart_and_rows_written_ahead(any_db_url: str) -> None:
    engine = get_engine(any_db_url)
    slots = [
        limiter.take_slot(engine, "here", "search", rate_per_second=10.0, daily_quota=None, run_id="r1")
        for _ in range(3)
    ]
    assert slots[0].delay_s < 0.05
    assert [round((b.at - a.at).total_seconds(), 3) for a, b in zip(slots, slots[1:])] == [0.1, 0.1]
    rows = _rows(any_db_url, "here")
    assert [r.id for r in rows] == [s.call_id for s in slots]
    assert all(r.finished_at is None and r.status_code is None and r.run_id == "r1" for r in rows)
    assert [r.called_at for r in rows] == [s.at for s in slots]
    assert DbCallLedger(any_db_url).calls_today("here") == 3  # in flight, counted by anyone


def test_finish_fills_the_outcome_and_forget_drops_only_an_unsent_call(any_db_url: str) -> None:
    ledger = DbCallLedger(any_db_url, run_id="r1")
    sent = ledger.take_slot("foursquare", "search", rate_per_second=100.0, daily_quota=None)
    unsent = ledger.take_slot("foursquare", "search", rate_per_second=100.0, daily_quota=None)
    call = ApiCall("foursquare", "search", 503, "service_unavailable", 0.0, 42, datetime.now(timezone.utc))
    ledger.finish(sent.call_id, call)
    ledger.forget(unsent.call_id)
    ledger.forget(sent.call_id)  # a finished call is never forgotten
    (row,) = _rows(any_db_url, "foursquare")
    assert (row.id, row.status_code, row.error_type, row.duration_ms) == (sent.call_id, 503, "service_unavailable", 42)
    assert row.finished_at is not None and row.called_at == sent.at
    assert ledger.recorded == [call]


def test_a_used_up_quota_refuses_without_a_row_or_a_slot(any_db_url: str) -> None:
    ledger = DbCallLedger(any_db_url)
    ledger.record(ApiCall("geoapify", "places", 200, None, 0.0, 5, datetime.now(timezone.utc)))
    ledger.take_slot("geoapify", "places", rate_per_second=1.0, daily_quota=2)  # in flight: counts
    before = _next_slot(any_db_url, "geoapify")
    with pytest.raises(QuotaExhausted):
        ledger.take_slot("geoapify", "places", rate_per_second=1.0, daily_quota=2)
    assert len(_rows(any_db_url)) == 2
    assert _next_slot(any_db_url, "geoapify") == before


def test_push_back_delays_every_later_slot(any_db_url: str) -> None:
    ledger = DbCallLedger(any_db_url)
    ledger.push_back("here", 0.5)
    slot = ledger.take_slot("here", "search", rate_per_second=1000.0, daily_quota=None)
    assert 0.4 < slot.delay_s <= 0.5
    ledger.push_back("here", 0.01)  # a shorter pause never brings the next slot forward
    assert ledger.take_slot("here", "search", rate_per_second=1000.0, daily_quota=None).delay_s > 0.4


def test_migration_0005_marks_stored_calls_finished(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0004")
    called = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    with get_engine(url).begin() as conn:
        conn.execute(insert(ApiCallRow.__table__).values(
            provider="here", endpoint="search", cost=0.0, duration_ms=1, called_at=called, day=utc_day(called)))
    upgrade(url)
    (row,) = _rows(url, "here")
    assert row.finished_at == called


# -- several processes ------------------------------------------------------------------------------------


def _spawn(url: str, answered: Path, **opts: object) -> subprocess.Popen[str]:
    args = [sys.executable, str(WORKER), "--db", url, "--answered", str(answered)]
    for key, value in opts.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _start_together(procs: list[subprocess.Popen[str]]) -> float:
    """Waits until every child is connected ('ready'), then gives them one start time, just ahead."""
    for proc in procs:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.strip() == "ready", (line, proc.communicate(timeout=10)[1][-2000:])
    start = time.time() + 0.2
    for proc in procs:
        proc.stdin.write(f"{start}\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
    return start


def _result(proc: subprocess.Popen[str], timeout: float = 20) -> dict[str, int]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1])


def _sent(path: Path) -> list[float]:
    return sorted(float(x) for x in path.read_text().split()) if path.exists() else []


def test_two_processes_share_one_rate(any_db_url: str, tmp_path: Path) -> None:
    rate, seconds = 20.0, 2.0
    procs = [
        _spawn(any_db_url, tmp_path / f"sent{i}.txt", rate=rate, seconds=seconds, workers=4, run_id=f"p{i}")
        for i in range(2)
    ]
    start = _start_together(procs)
    results = [_result(p) for p in procs]
    assert all(r["errors"] == 0 and r["answered"] > 0 for r in results), results  # both processes called
    # the ledger: consecutive slots one interval apart, whichever process took them
    slots = sorted(r.called_at.timestamp() for r in _rows(any_db_url))
    assert len(slots) == sum(r["answered"] for r in results)
    assert min(b - a for a, b in zip(slots, slots[1:])) >= 1 / rate - 1e-4
    assert sum(1 for s in slots if start <= s < start + seconds) <= rate * seconds + 1
    # the fake servers: what was really sent in the window, both processes together (alone, each would send R*t)
    sent = _sent(tmp_path / "sent0.txt") + _sent(tmp_path / "sent1.txt")
    in_window = sum(1 for t in sent if start <= t < start + seconds)
    assert rate * seconds * 0.6 <= in_window <= rate * seconds + 1, (in_window, results)
    assert {r.run_id for r in _rows(any_db_url)} == {"p0", "p1"}


def test_two_processes_share_one_daily_quota(any_db_url: str, tmp_path: Path) -> None:
    quota, attempts = 15, 20
    procs = [
        _spawn(any_db_url, tmp_path / f"sent{i}.txt", rate=200, quota=quota, calls=attempts, workers=4)
        for i in range(2)
    ]
    _start_together(procs)
    results = [_result(p) for p in procs]
    assert sum(r["answered"] for r in results) == quota, results
    assert sum(r["deferred"] for r in results) == 2 * attempts - quota  # the rest deferred: QuotaExhausted
    assert sum(r["errors"] for r in results) == 0
    rows = _rows(any_db_url)
    assert len(rows) == quota and all(r.finished_at is not None and r.status_code == 200 for r in rows)
    assert len(_sent(tmp_path / "sent0.txt") + _sent(tmp_path / "sent1.txt")) == quota


def test_a_killed_process_leaves_every_completed_call_in_the_ledger(any_db_url: str, tmp_path: Path) -> None:
    workers = 4
    answered = tmp_path / "sent.txt"
    proc = _spawn(any_db_url, answered, rate=60, start=time.time(), calls=10_000, workers=workers, server_delay=0.02)
    try:
        deadline = time.time() + 15
        while len(_sent(answered)) < 40 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        os.kill(proc.pid, signal.SIGKILL)  # in the middle of a batch: calls in flight, no clean exit
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    served = len(_sent(answered))
    assert served >= 40
    rows = _rows(any_db_url)
    finished = [r for r in rows if r.finished_at is not None]
    # every call the server answered has its row (written ahead); at most the calls in flight are unfinished,
    # and at most the calls in flight or waiting for their slot have a row but no answer yet
    assert len(rows) >= served
    assert served - len(finished) <= workers
    assert len(rows) - served <= workers
    assert all(r.status_code == 200 and r.cost >= 0 for r in finished)
    with session_scope(any_db_url) as s:  # the quota counts them all, unfinished ones included
        assert s.scalar(select(func.count(ApiCallRow.id)).where(ApiCallRow.day == utc_day())) == len(rows)
