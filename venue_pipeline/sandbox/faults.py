"""Seeded, reproducible fault injection, so retries and error handling meet real failure mixes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields, replace
from typing import Mapping

# Transient faults are re-rolled on every occurrence of a request; sticky ones are a property of the
# request itself (a photo that is gone stays gone), so retrying never "fixes" them.
TRANSIENT_FAULTS: tuple[str, ...] = (
    "rate_limited",
    "server_error",
    "bad_gateway",
    "service_unavailable",
    "gateway_timeout",
    "timeout",
    "connect_timeout",
    "malformed_json",
    "html_body",
)
STICKY_FAULTS: tuple[str, ...] = (
    "unauthorized",
    "forbidden",
    "not_found",
    "oversized",
    "non_image",
    "offlist_redirect",
)
ALL_FAULTS: tuple[str, ...] = TRANSIENT_FAULTS + STICKY_FAULTS

ENDPOINT_KINDS: tuple[str, ...] = (
    "geocode",
    "search",
    "details",
    "photos",
    "photo_media",
    "photo_download",
    "upload",
    "cdn_download",
)

PHOTO_DOWNLOAD_KINDS = frozenset({"photo_download", "cdn_download"})


@dataclass(frozen=True)
class FaultRates:
    """Probability of each fault for one (provider, endpoint kind); they are summed, not nested."""

    rate_limited: float = 0.0
    server_error: float = 0.0
    bad_gateway: float = 0.0
    service_unavailable: float = 0.0
    gateway_timeout: float = 0.0
    timeout: float = 0.0
    connect_timeout: float = 0.0
    malformed_json: float = 0.0
    html_body: float = 0.0
    unauthorized: float = 0.0
    forbidden: float = 0.0
    not_found: float = 0.0
    oversized: float = 0.0
    non_image: float = 0.0
    offlist_redirect: float = 0.0
    retry_after_s: int = 1
    oversized_bytes: int = 25 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.transient_total() > 1.0 + 1e-9 or self.sticky_total() > 1.0 + 1e-9:
            raise ValueError("fault probabilities must sum to at most 1 per group")
        for f in fields(self):
            if isinstance(getattr(self, f.name), float) and getattr(self, f.name) < 0:
                raise ValueError(f"negative fault probability: {f.name}")

    def transient_total(self) -> float:
        return sum(float(getattr(self, name)) for name in TRANSIENT_FAULTS)

    def sticky_total(self) -> float:
        return sum(float(getattr(self, name)) for name in STICKY_FAULTS)


@dataclass(frozen=True)
class Fault:
    """One injected fault: what happens and the details the response needs."""

    kind: str
    retry_after_s: int = 1
    oversized_bytes: int = 25 * 1024 * 1024

    @property
    def status(self) -> int | None:
        """The HTTP status a fault maps to (None for non-status faults)."""
        return _FAULT_STATUS.get(self.kind)


_FAULT_STATUS: dict[str, int] = {
    "rate_limited": 429,
    "server_error": 500,
    "bad_gateway": 502,
    "service_unavailable": 503,
    "gateway_timeout": 504,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
}


def _unit(*parts: object) -> float:
    """A uniform float in [0, 1) from a hash, so decisions never depend on call order or process."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class FaultConfig:
    """Fault rates per (provider, endpoint kind) with '*' wildcards, decided from a seed."""

    seed: int = 7
    rates: Mapping[tuple[str, str], FaultRates] = field(default_factory=dict)
    transient_streak: int = 0
    """0: transient faults are drawn anew on every attempt. N > 0: outage-like, a request hit by a
    transient fault keeps failing for its first 1..N occurrences, then recovers for good."""

    # ---- presets -------------------------------------------------------------------------------
    @classmethod
    def none(cls, seed: int = 7) -> FaultConfig:
        """No faults at all: the happy path."""
        return cls(seed=seed, rates={})

    @classmethod
    def default(cls, seed: int = 7) -> FaultConfig:
        """The demo mix: a few percent transient faults everywhere, ~2% permanent photo faults."""
        api = FaultRates(
            rate_limited=0.02,
            service_unavailable=0.01,
            server_error=0.005,
            bad_gateway=0.005,
            gateway_timeout=0.005,
            timeout=0.005,
            malformed_json=0.002,
        )
        download = FaultRates(
            rate_limited=0.01,
            service_unavailable=0.01,
            bad_gateway=0.005,
            timeout=0.005,
            not_found=0.008,
            oversized=0.006,
            non_image=0.006,
        )
        upload = FaultRates(rate_limited=0.01, service_unavailable=0.01, server_error=0.005, timeout=0.005)
        return cls(
            seed=seed,
            rates={
                ("*", "*"): api,
                ("*", "photo_download"): download,
                ("imagekit", "upload"): upload,
                ("imagekit", "cdn_download"): FaultRates(),
            },
        )

    @classmethod
    def heavy(cls, transient: float = 0.3, permanent: float = 0.05, seed: int = 7) -> FaultConfig:
        """A stress mix: `transient` spread over transient faults, `permanent` over photo faults."""
        t = transient / 6
        api = FaultRates(
            rate_limited=t,
            service_unavailable=t,
            server_error=t,
            bad_gateway=t,
            gateway_timeout=t,
            timeout=t,
            retry_after_s=1,
        )
        p = permanent / 3
        download = replace(api, not_found=p, oversized=p, non_image=p)
        return cls(
            seed=seed,
            rates={
                ("*", "*"): api,
                ("*", "photo_download"): download,
                ("imagekit", "cdn_download"): FaultRates(),
            },
        )

    @classmethod
    def outage(cls, transient: float = 0.3, permanent: float = 0.05, streak: int = 2, seed: int = 7) -> FaultConfig:
        """Like heavy, but transient faults are short outages that clear after at most `streak` attempts; a
        photo fetch counts as one request (Google's media redirect itself is not faulted on top of its host)."""
        base = cls.heavy(transient, permanent, seed)
        rates = {**base.rates, ("*", "photo_media"): FaultRates()}
        return replace(base, rates=rates, transient_streak=streak)

    # ---- configuration helpers -----------------------------------------------------------------
    def with_rates(self, provider: str, kind: str, rates: FaultRates) -> FaultConfig:
        """A copy with rates set for one (provider, kind); '*' matches any."""
        merged = dict(self.rates)
        merged[(provider, kind)] = rates
        return replace(self, rates=merged)

    def rates_for(self, provider: str, kind: str) -> FaultRates | None:
        """Most specific rates: (provider, kind), (provider, *), (*, kind), (*, *)."""
        for key in ((provider, kind), (provider, "*"), ("*", kind), ("*", "*")):
            if key in self.rates:
                return self.rates[key]
        return None

    # ---- the decision --------------------------------------------------------------------------
    def decide(self, provider: str, kind: str, request_key: str, occurrence: int) -> Fault | None:
        """The fault (or None) for the n-th occurrence of a request: a pure function of its inputs."""
        rates = self.rates_for(provider, kind)
        if rates is None:
            return None
        picked = _pick(rates, STICKY_FAULTS, _unit(self.seed, provider, kind, request_key, "sticky"))
        if picked is None and self.transient_streak > 0:
            picked = _pick(rates, TRANSIENT_FAULTS, _unit(self.seed, provider, kind, request_key, "streak"))
            length = 1 + int(_unit(self.seed, provider, kind, request_key, "streak-length") * self.transient_streak)
            if occurrence >= length:
                picked = None
        elif picked is None:
            picked = _pick(rates, TRANSIENT_FAULTS, _unit(self.seed, provider, kind, request_key, occurrence))
        if picked is None:
            return None
        return Fault(kind=picked, retry_after_s=rates.retry_after_s, oversized_bytes=rates.oversized_bytes)


def _pick(rates: FaultRates, names: tuple[str, ...], u: float) -> str | None:
    """Walk cumulative probabilities in a fixed order so the same u always picks the same fault."""
    acc = 0.0
    for name in names:
        acc += float(getattr(rates, name))
        if u < acc:
            return name
    return None
