"""What every provider client is and returns, so the core never sees a wire format."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Mapping, Protocol
from urllib.parse import urlsplit

import httpx

from venue_pipeline.core.download import redact_httpx_logs

from venue_pipeline.core.errors import ErrorType, ProviderError


@dataclass(frozen=True, slots=True)
class Place:
    """A candidate place as a provider describes it (geocode or search result)."""

    provider: str
    place_id: str
    name: str
    lat: float | None
    lng: float | None
    address: str | None = None
    house_number: str | None = None
    street: str | None = None
    postcode: str | None = None
    city: str | None = None
    categories: tuple[str, ...] = ()
    result_type: str | None = None


@dataclass(frozen=True, slots=True)
class PhotoRef:
    """A provider photo: a stable key for dedupe and a reference that holds no secret."""

    provider: str
    photo_key: str
    reference: str
    width: int | None = None
    height: int | None = None
    attribution: str | None = None


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One provider or CDN call, as the api_calls ledger records it."""

    provider: str
    endpoint: str
    status_code: int | None
    error_type: str | None
    cost: float
    duration_ms: int
    called_at: datetime


class CallLedger(Protocol):
    """Where calls are recorded and daily usage is read from (the store, or memory in tests)."""

    def calls_today(self, provider: str) -> int: ...

    def record(self, call: ApiCall) -> None: ...


@dataclass(frozen=True)
class ProviderSettings:
    """Per-provider configuration; api_key comes from the environment only."""

    name: str
    api_key: str | None = None
    enabled: bool = True
    rate_per_second: float = 10.0
    daily_quota: int | None = None
    timeout_s: float = 10.0
    costs: Mapping[str, float] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)
    # Replaces scheme and host of every API URL the client builds, keeping the path (live mode only; an egress
    # proxy, a regional endpoint, a recorded server). None: the provider's own hosts. providers/config.py.
    base_url: str | None = None

    def api_url(self, url: str) -> str:
        """`url` as this provider's configuration wants it sent: rebased on base_url when one is set."""
        return rebase(url, self.base_url)


def rebase(url: str, base_url: str | None) -> str:
    """`url` with its scheme and host replaced by `base_url` (whose path becomes a prefix); unchanged without one."""
    if not base_url:
        return url
    parts = urlsplit(url)
    return base_url.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


class ProviderClient(ABC):
    """One provider's API: geocode, search near a point, list photos, build a photo download."""

    name: ClassVar[str]
    supports_photos: ClassVar[bool] = False
    photo_hosts: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, settings: ProviderSettings, http: httpx.AsyncClient, ledger: CallLedger) -> None:
        # Building any client installs (once) the filter that keeps keys in URLs out of httpx's log records, so
        # no code path that can send a request with a key can log it, whoever built the client.
        redact_httpx_logs()
        self.settings = settings
        self.http = http
        self.ledger = ledger

    @abstractmethod
    async def geocode(
        self, query: str, *, near: tuple[float, float] | None = None, locality: str | None = None
    ) -> list[Place]:
        """Address (or 'name, address') to places with IDs and coordinates; `locality` ("Norwich, United
        Kingdom") names the town for providers whose search needs one when there is no `near` point."""

    @abstractmethod
    async def search(self, name: str, lat: float, lng: float, *, radius_m: int = 250) -> list[Place]:
        """Places named like `name` near a point: the candidates a matcher chooses from."""

    async def photos(self, place_id: str) -> list[PhotoRef]:
        """The photos the provider holds for a place (empty for ID-only providers)."""
        return []

    def photo_request(self, ref: PhotoRef, *, max_px: int = 1600) -> httpx.Request:
        """The download request for a photo; secrets are added here, at request time only. A provider
        without photos refuses (permanently): an image row stored before it lost them is retired."""
        raise ProviderError(ErrorType.BAD_REQUEST, f"{self.name} lists no photos; this image cannot be fetched", target=self.name)
