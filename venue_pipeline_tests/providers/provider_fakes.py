"""Test helpers for the provider clients: a mock transport that records requests, and a client factory."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any, Callable, Coroutine, TypeVar

import httpx

from venue_pipeline.providers.http import HttpProviderClient
from venue_pipeline.providers.memory_ledger import MemoryLedger
from venue_pipeline.providers.registry import default_settings

SECRET = "SECRET-KEY-0123456789"
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Runs one client coroutine on a fresh loop (no pytest async plugin needed)."""
    return asyncio.run(coro)


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(payload).encode(), headers={"content-type": "application/json", **(headers or {})})


class Recorder:
    """A MockTransport handler that answers from a queue (or a callable) and keeps the requests."""

    def __init__(self, *responses: httpx.Response | Callable[[httpx.Request], httpx.Response] | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(item, Exception):
            raise item
        return item(request) if callable(item) else item

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def build_client(
    cls: type[HttpProviderClient], ledger: MemoryLedger, *responses: Any, **overrides: Any
) -> tuple[HttpProviderClient, Recorder]:
    """A client on a MockTransport with fast limits and no backoff; settings overridable."""
    recorder = Recorder(*responses)
    options = {"retry_backoff_s": "0", **overrides.pop("options", {})}
    settings = replace(
        default_settings(cls.name, api_key=SECRET),
        rate_per_second=1000.0,
        options=options,
        **overrides,
    )
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    return cls(settings, http, ledger), recorder
