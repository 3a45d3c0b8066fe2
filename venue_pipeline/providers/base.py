"""The providers' side of the core's ProviderClient port: per-provider settings and the base every client builds on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Mapping
from urllib.parse import urlsplit

import httpx

from venue_pipeline.core.download import redact_httpx_logs
from venue_pipeline.core.errors import ErrorType, ProviderError
from venue_pipeline.core.ports import CallLedger, PhotoRef, ProviderClient


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


def price(settings: ProviderSettings, endpoint_kind: str, default_costs: Mapping[str, float]) -> float:
    """One call's list price: the configured cost of that endpoint kind, else the provider's default, else 0."""
    if endpoint_kind in settings.costs:
        return float(settings.costs[endpoint_kind])
    return float(default_costs.get(endpoint_kind, 0.0))


class BaseProviderClient(ProviderClient):
    """What every provider client holds: its settings, the shared HTTP client and the call ledger."""

    default_costs: ClassVar[Mapping[str, float]] = {}  # list price per call, by endpoint kind

    def __init__(self, settings: ProviderSettings, http: httpx.AsyncClient, ledger: CallLedger) -> None:
        # Building any client installs (once) the filter that keeps keys in URLs out of httpx's log records, so
        # no code path that can send a request with a key can log it, whoever built the client.
        redact_httpx_logs()
        self.settings = settings
        self.http = http
        self.ledger = ledger

    def cost(self, endpoint_kind: str) -> float:
        """The list price of one call of this kind (the port's cost()): settings.costs overrides the default."""
        return price(self.settings, endpoint_kind, self.default_costs)

    async def photos(self, place_id: str) -> list[PhotoRef]:
        """The photos the provider holds for a place (empty for ID-only providers)."""
        return []

    def photo_request(self, ref: PhotoRef, *, max_px: int = 1600) -> httpx.Request:
        """The download request for a photo; secrets are added here, at request time only. A provider
        without photos refuses (permanently): an image row stored before it lost them is retired."""
        raise ProviderError(ErrorType.BAD_REQUEST, f"{self.name} lists no photos; this image cannot be fetched", target=self.name)
