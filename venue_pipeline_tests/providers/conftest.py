"""Fixtures for the provider client tests: a memory ledger and a client factory bound to it."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from provider_fakes import Recorder, build_client

from venue_pipeline.providers.http import HttpProviderClient
from venue_pipeline.providers.memory_ledger import MemoryLedger


@pytest.fixture
def ledger() -> MemoryLedger:
    return MemoryLedger()


@pytest.fixture
def make_client(ledger: MemoryLedger) -> Callable[..., tuple[HttpProviderClient, Recorder]]:
    """make_client(cls, *responses, **settings) -> (client, recorder), recording into `ledger`."""

    def factory(cls: type[HttpProviderClient], *responses: Any, **overrides: Any) -> tuple[HttpProviderClient, Recorder]:
        return build_client(cls, ledger, *responses, **overrides)

    return factory
