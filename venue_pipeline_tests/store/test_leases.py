"""Run leases: one holder per name, expiry of a silent holder, heartbeat, waiting, skipping, dead holders."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from venue_pipeline.store import leases


def test_one_holder_at_a_time_and_release_frees_it(any_db_url: str) -> None:
    a, b = leases.new_holder(), leases.new_holder()
    assert leases.try_acquire(any_db_url, "city:exeter", a, "run-a") is None
    assert leases.try_acquire(any_db_url, "city:exeter", a, "run-a") is None  # re-entrant for its holder
    other = leases.try_acquire(any_db_url, "city:exeter", b, "run-b")
    assert other is not None and other.holder == a and other.run_id == "run-a"
    assert leases.try_acquire(any_db_url, "city:bath", b, "run-b") is None  # other cities are free
    assert leases.release(any_db_url, "city:exeter", a)
    assert leases.try_acquire(any_db_url, "city:exeter", b, "run-b") is None
    assert leases.current(any_db_url, "city:exeter").holder == b


def test_a_lease_nobody_renews_expires_and_is_taken_over(any_db_url: str) -> None:
    a, b = "otherhost:1:x", leases.new_holder()  # a holder on another host: only expiry frees it
    assert leases.try_acquire(any_db_url, "city:exeter", a, "run-a", ttl_s=0.3) is None
    assert leases.try_acquire(any_db_url, "city:exeter", b, "run-b") is not None
    time.sleep(0.5)
    assert leases.try_acquire(any_db_url, "city:exeter", b, "run-b") is None
    assert not leases.renew(any_db_url, "city:exeter", a)  # the old holder learns it lost the lease
    assert not leases.release(any_db_url, "city:exeter", a)  # and cannot free the new holder's lease


def test_the_heartbeat_keeps_a_long_holder_ahead_of_expiry(any_db_url: str) -> None:
    with leases.hold(any_db_url, "city:exeter", "run-a", ttl_s=0.4) as held:
        assert held.skipped is None
        time.sleep(1.0)  # 2.5 times the ttl: only renewals keep it
        assert leases.try_acquire(any_db_url, "city:exeter", leases.new_holder(), "run-b") is not None
        assert not held.lost
    assert leases.current(any_db_url, "city:exeter") is None  # released at the end


def test_a_second_holder_waits_with_progress_then_gets_the_lease(any_db_url: str, monkeypatch) -> None:
    monkeypatch.setattr(leases, "PROGRESS_EVERY_S", 0.2)
    first = leases.new_holder()
    assert leases.try_acquire(any_db_url, "city:exeter", first, "run-a") is None
    threading.Timer(0.8, leases.release, (any_db_url, "city:exeter", first)).start()
    lines: list[str] = []
    with leases.hold(any_db_url, "city:exeter", "run-b", wait_s=10, poll_s=0.1, progress=lines.append) as held:
        assert held.skipped is None and held.waited_s >= 0.7
        assert leases.current(any_db_url, "city:exeter").run_id == "run-b"
    assert "waiting up to 10s" in lines[0] and "run-a" in lines[0]
    assert any(line.startswith("still waiting for city:exeter") for line in lines)
    assert lines[-1].startswith("city:exeter acquired after waiting")


def test_a_second_holder_skips_with_the_reason_when_the_wait_runs_out(any_db_url: str) -> None:
    assert leases.try_acquire(any_db_url, "city:exeter", leases.new_holder(), "run-a") is None
    with leases.hold(any_db_url, "city:exeter", "run-b", wait_s=0.3, poll_s=0.1, progress=lambda _: None) as held:
        assert held.skipped and "city:exeter skipped: held by run run-a" in held.skipped
    assert leases.current(any_db_url, "city:exeter").run_id == "run-a"  # the skipper frees nothing


def test_a_dead_process_on_this_host_loses_its_lease_at_once(any_db_url: str) -> None:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = f"{leases.new_holder().split(':')[0]}:{int(child.stdout)}:x"
    assert leases.holder_is_dead(dead) and not leases.holder_is_dead(leases.new_holder())
    assert leases.try_acquire(any_db_url, "city:exeter", dead, "run-dead") is None
    assert leases.try_acquire(any_db_url, "city:bath", dead, "run-dead") is None
    assert leases.try_acquire(any_db_url, "city:exeter", leases.new_holder(), "run-b") is None  # no wait
    assert [lease.name for lease in leases.release_dead_holders(any_db_url)] == ["city:bath"]
    assert leases.current(any_db_url, "city:bath") is None


def test_release_run_frees_every_lease_of_a_run(any_db_url: str) -> None:
    holder = leases.new_holder()
    for city in ("exeter", "bath"):
        assert leases.try_acquire(any_db_url, leases.city_lease_name(city), holder, "run-a") is None
    assert sorted(leases.release_run(any_db_url, "run-a")) == ["city:bath", "city:exeter"]


def test_a_bad_lease_wait_is_one_clear_error_when_a_lease_is_taken(monkeypatch) -> None:
    """Importing the module never reads the variable: a typo cannot break every command."""
    import pytest as _pytest

    from venue_pipeline.store import leases as lease_mod

    monkeypatch.setenv("VENUE_LEASE_WAIT_S", "ten minutes")
    with _pytest.raises(ValueError, match="VENUE_LEASE_WAIT_S must be a number"):
        lease_mod.lease_wait_s()
    monkeypatch.setenv("VENUE_LEASE_WAIT_S", "5")
    assert lease_mod.lease_wait_s() == 5.0
