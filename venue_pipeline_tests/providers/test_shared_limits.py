"""providers/limits.py with the database's ledger: the call path takes its quota and slot from the shared store,
writes the call's row ahead and finishes it, shares Retry-After pauses, and leaves no row for a call never sent.
(Across processes: venue_pipeline_tests/store/test_limiter.py.)"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
import pytest
from provider_fakes import SECRET, Recorder, json_response, run
from sqlalchemy import select

from venue_pipeline.core.errors import QuotaExhausted
from venue_pipeline.providers.geoapify import GeoapifyClient
from venue_pipeline.providers.limits import ProviderLimiter
from venue_pipeline.providers.memory_ledger import MemoryLedger
from venue_pipeline.providers.registry import default_settings
from venue_pipeline.store.calls import DbCallLedger
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import ApiCallRow, ProviderPacingRow

OK = {"type": "FeatureCollection", "features": []}


def _client(url: str, *responses: object, **overrides: object) -> tuple[GeoapifyClient, Recorder, DbCallLedger]:
    ledger = DbCallLedger(url, run_id="run-x")
    recorder = Recorder(*responses)
    settings = replace(
        default_settings("geoapify", api_key=SECRET),
        rate_per_second=1000.0,
        options={"retry_backoff_s": "0"},
        **overrides,
    )
    return GeoapifyClient(settings, httpx.AsyncClient(transport=httpx.MockTransport(recorder)), ledger), recorder, ledger


def _rows(url: str) -> list[ApiCallRow]:
    with session_scope(url) as s:
        return list(s.scalars(select(ApiCallRow).order_by(ApiCallRow.id)))


def test_the_database_ledger_gives_the_shared_limiter_and_memory_the_local_one(sqlite_url: str) -> None:
    assert ProviderLimiter("here", rate_per_second=5, daily_quota=None, ledger=DbCallLedger(sqlite_url)).shared
    assert not ProviderLimiter("here", rate_per_second=5, daily_quota=None, ledger=MemoryLedger()).shared


def test_each_attempt_is_one_finished_row_tagged_with_the_run(any_db_url: str) -> None:
    limited = json_response({"message": "slow down"}, 429, {"Retry-After": "0"})
    client, rec, ledger = _client(any_db_url, limited, json_response(OK), costs={"places": 0.25})
    assert run(client.search("The Crown", 51.5, -0.1)) == []
    rows = _rows(any_db_url)
    assert [(r.status_code, r.error_type, r.cost, r.run_id) for r in rows] == [
        (429, "rate_limited", 0.0, "run-x"), (200, None, 0.25, "run-x")]
    assert all(r.finished_at is not None and r.endpoint == "places" for r in rows)
    assert [c.status_code for c in ledger.recorded] == [429, 200]  # the run's summary still sees its calls


def test_the_quota_counts_every_process_rows_and_refuses_before_any_request(any_db_url: str) -> None:
    other, _, _ = _client(any_db_url, json_response(OK), daily_quota=2)
    run(other.search("a", 51.5, -0.1))  # another run's call, already in the ledger
    client, rec, _ = _client(any_db_url, json_response(OK), daily_quota=2)

    async def three() -> list[object]:
        return await asyncio.gather(*(client.search(n, 51.5, -0.1) for n in "abc"), return_exceptions=True)

    results = run(three())
    assert sum(isinstance(r, QuotaExhausted) for r in results) == 2
    assert len(rec.requests) == 1 and len(_rows(any_db_url)) == 2


def test_a_retry_after_pause_is_shared_through_the_store(any_db_url: str) -> None:
    limited = json_response({"message": "slow down"}, 429, {"Retry-After": "1"})
    client, _, _ = _client(any_db_url, limited, json_response(OK))
    assert run(client.search("a", 51.5, -0.1)) == []
    first, retry = _rows(any_db_url)
    assert (first.status_code, retry.status_code) == (429, 200)
    assert (retry.called_at - first.called_at).total_seconds() >= 0.9  # the retry's slot waited out the pause
    # and any other process's next slot of this provider waits it out too
    client.limiter.pause_for(1.0)
    slot = DbCallLedger(any_db_url).take_slot("geoapify", "places", rate_per_second=1000, daily_quota=None)
    assert 0.8 < slot.delay_s <= 1.0


def test_a_call_cancelled_while_waiting_for_its_slot_leaves_no_row(any_db_url: str) -> None:
    ledger = DbCallLedger(any_db_url)
    ledger.push_back("geoapify", 5.0)  # the next slot is 5 s away
    client, rec, _ = _client(any_db_url, json_response(OK))

    async def cancel_soon() -> None:
        task = asyncio.create_task(client.search("a", 51.5, -0.1))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(cancel_soon())
    assert rec.requests == [] and _rows(any_db_url) == []
    with session_scope(any_db_url) as s:
        assert s.scalar(select(ProviderPacingRow.next_slot_at)) > 0


def test_an_in_memory_database_takes_its_slots_on_its_one_connection() -> None:
    from venue_pipeline.store.db import dispose_engines, upgrade

    url = "sqlite://"
    upgrade(url)
    try:
        client, rec, ledger = _client(url, json_response(OK))
        assert not ledger.thread_safe and client.limiter.shared
        assert run(client.search("a", 51.5, -0.1)) == []
        assert [r.status_code for r in _rows(url)] == [200]
    finally:
        dispose_engines()
