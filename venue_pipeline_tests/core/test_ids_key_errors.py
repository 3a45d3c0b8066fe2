"""A key Google refuses (403 PERMISSION_DENIED with a key/project ErrorInfo reason) cuts Google off for the
run after one call; a 403 about one resource does not."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import httpx
import pytest

from venue_pipeline.core.ids import resolve_ids
from venue_pipeline.core.venue import Venue
from venue_pipeline.providers.google_places import GooglePlacesClient
from venue_pipeline.providers.memory_ledger import MemoryLedger
from venue_pipeline.providers.registry import default_settings


def _venues(n: int = 6) -> list[Venue]:
    return [
        Venue(id=i, name=f"The Crown {i}", slug=f"crown-{i}", city_slug="norwich", city_name="Norwich",
              address=f"{i} High Street", postcode="NR1 1AA", country="United Kingdom", lat=52.63 + i / 1000, lng=1.29)
        for i in range(1, n + 1)
    ]


def _denied(reason: str | None) -> dict:
    """Google's documented RPC error body (google.rpc.Status with an ErrorInfo detail)."""
    err: dict = {"code": 403, "message": "Requests to this API places.googleapis.com method google.maps.places.v1.Places.SearchText are blocked.", "status": "PERMISSION_DENIED"}
    if reason:
        err["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com",
                           "metadata": {"service": "places.googleapis.com", "consumer": "projects/123"}}]
    return {"error": err}


async def _run(body: dict) -> tuple[int, object]:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(403, content=json.dumps(body).encode(), headers={"content-type": "application/json"})

    settings = replace(default_settings("google_places", api_key="k-123456"), rate_per_second=10_000.0, daily_quota=None,
                       options={"retry_backoff_s": "0"})
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = GooglePlacesClient(settings, http, MemoryLedger())
        # the stage's default concurrency: the first attempt probes the key while the others wait
        result = await resolve_ids(_venues(), {}, {"google_places": client})
    return len(calls), result


@pytest.mark.parametrize("reason", ["API_KEY_SERVICE_BLOCKED", "SERVICE_DISABLED", "BILLING_DISABLED", "API_KEY_HTTP_REFERRER_BLOCKED", "API_KEY_IP_ADDRESS_BLOCKED"])
def test_a_refused_key_costs_one_google_call_per_run(reason: str) -> None:
    n, result = asyncio.run(_run(_denied(reason)))
    assert n == 1
    assert dict(result.errors) == {("google_places", "auth_error"): 1}
    assert result.records == []


def test_a_403_without_a_key_reason_stays_forbidden_and_does_not_cut_off() -> None:
    n, result = asyncio.run(_run(_denied(None)))
    assert n == 6
    assert dict(result.errors) == {("google_places", "forbidden"): 6}
