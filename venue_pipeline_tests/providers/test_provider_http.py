"""The shared call path: quota, Retry-After, retries, error mapping, ledger rows, no key leaks."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from provider_fakes import SECRET, json_response, run

from venue_pipeline.core.errors import ErrorType, ProviderError, QuotaExhausted
from venue_pipeline.core.ports import ApiCall
from venue_pipeline.providers.geoapify import GeoapifyClient
from venue_pipeline.providers.http import body_snippet, error_message_of, parse_retry_after
from venue_pipeline.providers.limits import ProviderLimiter
from venue_pipeline.providers.memory_ledger import MemoryLedger

OK = {"type": "FeatureCollection", "features": []}


def _call(when: datetime, provider: str = "geoapify") -> ApiCall:
    return ApiCall(provider, "places", 200, None, 0.0, 5, when)


def test_quota_from_ledger_raises_without_any_request(make_client, ledger):
    now = datetime.now(timezone.utc)
    for _ in range(3):
        ledger.record(_call(now))
    ledger.record(_call(now - timedelta(days=1)))  # yesterday does not count
    ledger.record(_call(now, provider="here"))  # another provider does not count
    client, rec = make_client(GeoapifyClient, json_response(OK), daily_quota=3)
    with pytest.raises(QuotaExhausted) as info:
        run(client.search("The Crown", 51.5, -0.1))
    assert info.value.error_type is ErrorType.QUOTA_EXHAUSTED
    assert rec.requests == []
    assert len(ledger.calls) == 5  # nothing recorded for the refused call


def test_quota_counts_calls_made_in_this_process(make_client, ledger):
    client, rec = make_client(GeoapifyClient, json_response(OK), daily_quota=2)

    async def three() -> None:
        await client.search("a", 51.5, -0.1)
        await client.search("b", 51.5, -0.1)
        await client.search("c", 51.5, -0.1)

    with pytest.raises(QuotaExhausted):
        run(three())
    assert len(rec.requests) == 2
    assert len(ledger.calls) == 2


def test_429_with_retry_after_is_retried_and_every_attempt_recorded(make_client, ledger):
    limited = json_response({"statusCode": 429, "error": "Too Many Requests", "message": "Quota exceeded"}, 429, {"Retry-After": "0"})
    client, rec = make_client(GeoapifyClient, limited, json_response(OK), costs={"places": 0.25})
    assert run(client.search("The Crown", 51.5, -0.1)) == []
    assert len(rec.requests) == 2
    first, second = ledger.calls
    assert (first.status_code, first.error_type, first.cost) == (429, "rate_limited", 0.0)
    assert (second.status_code, second.error_type, second.cost) == (200, None, 0.25)
    assert first.provider == "geoapify" and first.endpoint == "places"
    assert first.called_at.tzinfo is not None


def test_persistent_429_gives_up_after_three_attempts(make_client, ledger):
    limited = json_response({"message": "Quota exceeded"}, 429, {"Retry-After": "0"})
    client, rec = make_client(GeoapifyClient, limited)
    with pytest.raises(ProviderError) as info:
        run(client.search("The Crown", 51.5, -0.1))
    assert info.value.error_type is ErrorType.RATE_LIMITED
    assert info.value.status_code == 429
    assert info.value.retry_after == 0.0
    assert "Quota exceeded" in str(info.value)
    assert len(rec.requests) == 3
    assert [c.error_type for c in ledger.calls] == ["rate_limited"] * 3


def test_long_retry_after_pauses_the_provider_and_is_not_waited_inside_the_call(make_client):
    limited = json_response({"message": "slow down"}, 429, {"Retry-After": "120"})
    client, rec = make_client(GeoapifyClient, limited, options={"max_retry_after_s": "10"})
    with pytest.raises(ProviderError) as info:
        run(client.search("The Crown", 51.5, -0.1))
    assert info.value.retry_after == 120.0
    assert len(rec.requests) == 1
    assert 0 < client.limiter.paused_for <= 10


def test_503_is_retried_500_is_not(make_client):
    client, rec = make_client(GeoapifyClient, httpx.Response(503, text="busy"), json_response(OK))
    assert run(client.search("x", 51.5, -0.1)) == []
    assert len(rec.requests) == 2

    client, rec = make_client(GeoapifyClient, json_response({"statusCode": 500, "error": "Internal Server Error", "message": "Request failed, please try again later"}, 500))
    with pytest.raises(ProviderError) as info:
        run(client.search("x", 51.5, -0.1))
    assert info.value.error_type is ErrorType.SERVER_ERROR
    assert "Request failed" in info.value.message
    assert len(rec.requests) == 1


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, ErrorType.BAD_REQUEST),
        (401, ErrorType.AUTH_ERROR),
        (403, ErrorType.FORBIDDEN),
        (404, ErrorType.NOT_FOUND),
        (418, ErrorType.UNKNOWN_ERROR),
    ],
)
def test_status_codes_map_to_the_taxonomy_without_retry(make_client, status, expected):
    client, rec = make_client(GeoapifyClient, json_response({"message": "nope"}, status))
    with pytest.raises(ProviderError) as info:
        run(client.search("x", 51.5, -0.1))
    assert info.value.error_type is expected
    assert info.value.status_code == status
    assert len(rec.requests) == 1


def test_html_body_on_200_is_malformed_with_type_and_snippet_but_no_query(make_client, ledger):
    html = httpx.Response(200, text="<html><body>Captive portal: please log in</body></html>", headers={"content-type": "text/html"})
    client, _ = make_client(GeoapifyClient, html)
    with pytest.raises(ProviderError) as info:
        run(client.search("x", 51.5, -0.1))
    err = info.value
    assert err.error_type is ErrorType.MALFORMED_RESPONSE
    assert "text/html" in err.message and "Captive portal" in err.message
    assert "api.geoapify.com/v2/places" in err.message
    assert "apiKey" not in str(err) and SECRET not in str(err) and "?" not in err.message
    assert ledger.calls[0].error_type == "malformed_response" and ledger.calls[0].cost == 0.0


@pytest.mark.parametrize("body", [b"", b"   ", b"\x89PNG\r\n garbage {", b"{not json"])
def test_empty_or_garbage_bodies_are_malformed(make_client, body):
    client, _ = make_client(GeoapifyClient, httpx.Response(200, content=body))
    with pytest.raises(ProviderError) as info:
        run(client.search("x", 51.5, -0.1))
    assert info.value.error_type is ErrorType.MALFORMED_RESPONSE
    assert "expected JSON" in info.value.message


def test_html_error_page_keeps_the_status_type(make_client):
    page = httpx.Response(502, text="<html><h1>502 Bad Gateway</h1></html>", headers={"content-type": "text/html"})
    client, rec = make_client(GeoapifyClient, page)
    with pytest.raises(ProviderError) as info:
        run(client.search("x", 51.5, -0.1))
    assert info.value.error_type is ErrorType.BAD_GATEWAY
    assert "text/html" in info.value.message and "502 Bad Gateway" in info.value.message
    assert len(rec.requests) == 3  # bad_gateway is transient


def test_timeouts_are_retried_and_connect_errors_are_network_errors(make_client, ledger):
    client, rec = make_client(GeoapifyClient, httpx.ReadTimeout("timed out"))
    with pytest.raises(ProviderError) as info:
        run(client.search("x", 51.5, -0.1))
    assert info.value.error_type is ErrorType.NETWORK_TIMEOUT
    assert len(rec.requests) == 3
    assert all(c.status_code is None and c.error_type == "network_timeout" for c in ledger.calls)

    client, rec = make_client(GeoapifyClient, httpx.ConnectError("connection refused"))
    with pytest.raises(ProviderError) as info:
        run(client.search("x", 51.5, -0.1))
    assert info.value.error_type is ErrorType.NETWORK_ERROR
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_key_echoed_by_a_server_never_reaches_the_error(make_client):
    echo = json_response({"statusCode": 401, "error": "Unauthorized", "message": f"Invalid apiKey {SECRET}"}, 401)
    client, _ = make_client(GeoapifyClient, echo)
    with pytest.raises(ProviderError) as info:
        run(client.search("x", 51.5, -0.1))
    assert info.value.error_type is ErrorType.AUTH_ERROR
    assert SECRET not in str(info.value) and "***" in str(info.value)

    client, _ = make_client(GeoapifyClient, httpx.ConnectError(f"failed for https://x/?apiKey={SECRET}"))
    with pytest.raises(ProviderError) as info:
        run(client.search("x", 51.5, -0.1))
    assert SECRET not in str(info.value)


def test_retries_are_logged_without_the_key(make_client, caplog):
    client, _ = make_client(GeoapifyClient, httpx.Response(503, text="busy"), json_response(OK))
    with caplog.at_level(logging.INFO):
        run(client.search("x", 51.5, -0.1))
    assert "retrying" in caplog.text and SECRET not in caplog.text


def test_retry_after_parsing():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    future = (datetime.now(timezone.utc) + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 80 < parse_retry_after(future) <= 90


def test_error_message_shapes():
    assert error_message_of({"message": "Invalid request token."}) == "Invalid request token."
    assert error_message_of({"error": {"code": 403, "message": "denied", "status": "PERMISSION_DENIED"}}) == "denied"
    assert error_message_of({"error": "Unauthorized", "error_description": "apiKey invalid."}) == "apiKey invalid."
    assert error_message_of({"status": 400, "title": "Illegal input", "cause": "q empty"}) == "Illegal input; q empty"
    assert error_message_of([1, 2]) is None
    assert body_snippet(b"x" * 200).endswith("…")


def test_slow_rates_make_a_valid_bucket(ledger):
    limiter = ProviderLimiter("foursquare", rate_per_second=0.5, daily_quota=None, ledger=ledger)
    run(limiter.wait_turn())
    assert limiter.calls_used_today() == 0


def test_memory_ledger_counts_today_per_provider():
    ledger = MemoryLedger()
    now = datetime.now(timezone.utc)
    ledger.record(_call(now))
    ledger.record(_call(now - timedelta(days=2)))
    ledger.record(ApiCall("google_places", "details", 200, None, 0.017, 3, now))
    assert ledger.calls_today("geoapify") == 1
    assert ledger.total_cost("google_places") == pytest.approx(0.017)


def test_a_retry_after_pause_holds_every_task_until_it_ends(ledger):
    limiter = ProviderLimiter("here", rate_per_second=100.0, daily_quota=None, ledger=ledger)
    limiter.pause_for(0.05)

    async def two_tasks() -> list[float]:
        async def one() -> float:
            await limiter.wait_turn()
            return limiter.paused_for

        return list(await asyncio.gather(one(), one()))

    assert run(two_tasks()) == [0.0, 0.0]  # neither task got its turn before the pause ended


def test_concurrent_tasks_cannot_overrun_the_quota(make_client, ledger):
    client, rec = make_client(GeoapifyClient, json_response(OK), daily_quota=3)

    async def five() -> list[object]:
        return await asyncio.gather(*(client.search(str(i), 51.5, -0.1) for i in range(5)), return_exceptions=True)

    results = run(five())
    assert sum(isinstance(r, QuotaExhausted) for r in results) == 2
    assert len(rec.requests) == 3 and len(ledger.calls) == 3


def test_google_error_forms_are_read_only_by_the_google_client(make_client):
    """The shared call path knows no provider's error body: Google's forms are its client's hooks
    (providers/google_errors.py), so another provider's body that looks like one is not read as Google's."""
    from venue_pipeline.providers.google_places import GooglePlacesClient
    from venue_pipeline.providers.here import HereClient

    legacy_denied = {"status": "REQUEST_DENIED", "error_message": "The provided API key is invalid."}
    client, _ = make_client(HereClient, json_response({**legacy_denied, "items": []}, 200))
    assert run(client.search("x", 51.5, -0.1)) == []  # a HERE answer's "status" field means nothing
    google, _ = make_client(GooglePlacesClient, json_response(legacy_denied, 200), options={"api": "legacy"})
    with pytest.raises(ProviderError) as info:
        run(google.search("x", 51.5, -0.1))
    assert info.value.error_type is ErrorType.AUTH_ERROR and "REQUEST_DENIED" in str(info.value)

    rpc = {"error": {"code": 403, "status": "PERMISSION_DENIED", "details": [{"reason": "API_KEY_INVALID"}]}}
    client, _ = make_client(GeoapifyClient, json_response(rpc, 403))
    with pytest.raises(ProviderError) as info:
        run(client.search("x", 51.5, -0.1))
    assert info.value.error_type is ErrorType.FORBIDDEN  # the status decides for a provider without the hook
    google, _ = make_client(GooglePlacesClient, json_response(rpc, 403))
    with pytest.raises(ProviderError) as info:
        run(google.search("x", 51.5, -0.1))
    assert info.value.error_type is ErrorType.AUTH_ERROR  # the key reason makes it an auth error


def test_a_connection_reset_is_retried_like_other_transient_errors(make_client, ledger):
    """network_error is transient (core/errors.py): a reset connection must not lose the call's answer (issue 17)."""
    client, rec = make_client(GeoapifyClient, httpx.ReadError("[Errno 104] Connection reset by peer"), json_response(OK))
    assert run(client.search("The Crown", 51.5, -0.1)) == []
    assert len(rec.requests) == 2
    assert [c.error_type for c in ledger.calls] == ["network_error", None]
