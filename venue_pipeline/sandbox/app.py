"""The sandbox: routes requests by Host + path to simulated providers, injecting seeded faults."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, deque
from typing import Mapping, Sequence

import httpx

from venue_pipeline.core.venue import Venue
from venue_pipeline.sandbox import routes_foursquare, routes_geoapify, routes_google, routes_here, routes_imagekit
from venue_pipeline.sandbox.faults import FaultConfig
from venue_pipeline.sandbox.google_photo_tokens import PhotoTokens
from venue_pipeline.sandbox.routes_common import Ctx, Route, canonical_key, error_response, fault_response
from venue_pipeline.sandbox.routes_imagekit import StoredFile
from venue_pipeline.sandbox.slow import Slowdown
from venue_pipeline.sandbox.world import SandboxConfig, World

_MODULES = (routes_here, routes_geoapify, routes_foursquare, routes_google, routes_imagekit)
ROUTES: tuple[Route, ...] = tuple(r for m in _MODULES for r in m.ROUTES)
HOST_STYLES: dict[str, str] = {h: s for m in _MODULES for h, s in m.HOSTS.items()}
KNOWN_HOSTS: frozenset[str] = frozenset(HOST_STYLES)
HOST_PROVIDER: dict[str, str] = {r.host: r.provider for r in ROUTES}
REQUEST_LOG_SIZE = 200_000  # (unix time, provider, endpoint kind) of the latest requests


class Sandbox:
    """Every simulated provider behind one handler; thread-safe, usable in-process or over loopback."""

    def __init__(
        self,
        world: World,
        faults: FaultConfig | None = None,
        *,
        imagekit_id: str = "sandbox",
        imagekit_max_bytes: int = 25 * 1024 * 1024,
    ) -> None:
        self.world = world
        self.faults = faults if faults is not None else world.config.faults
        self.imagekit_id = imagekit_id
        self.imagekit_max_bytes = imagekit_max_bytes
        self.lock = threading.RLock()
        self.calls: Counter[tuple[str, str]] = Counter()
        self.request_log: deque[tuple[float, str, str]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.faults_injected: Counter[tuple[str, str, str]] = Counter()
        self.imagekit_files: dict[str, StoredFile] = {}
        self.imagekit_uploads: Counter[str] = Counter()
        self.google_tokens = PhotoTokens(world.config.seed)
        self._occurrences: Counter[tuple[str, str, str]] = Counter()
        self._nonce = 0
        self.slowdown = Slowdown()  # applied by the loopback server only (sandbox/slow.py)

    # ---- state helpers ---------------------------------------------------------------------------
    def next_nonce(self) -> int:
        """A per-call counter: Google photo tokens differ on every call, deterministically."""
        with self.lock:
            self._nonce += 1
            return self._nonce

    def reset_counters(self) -> None:
        """Forget call and fault counts (uploaded files stay)."""
        with self.lock:
            self.calls.clear()
            self.faults_injected.clear()
            self._occurrences.clear()
            self.imagekit_uploads.clear()

    def imagekit_upload_count(self, path: str) -> int:
        """How many uploads targeted a file path (the stored path, e.g. '/venues/1/a.jpg')."""
        with self.lock:
            return self.imagekit_uploads[path]

    def calls_to(self, host: str, kind: str | None = None) -> int:
        """Calls to a host (optionally one endpoint kind), for tests that assert call budgets."""
        with self.lock:
            return sum(n for (h, k), n in self.calls.items() if h == host and (kind is None or k == kind))

    def hold_s(self, host: str) -> float:
        """How long the loopback server holds an answer from this host (a provider made N times slower)."""
        provider = HOST_PROVIDER.get(host)
        return self.slowdown.hold_s(provider) if provider else 0.0

    # ---- transport ---------------------------------------------------------------------------------
    def transport(self) -> httpx.MockTransport:
        """An in-process transport for httpx.Client and httpx.AsyncClient alike."""
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as the real provider would (or fail as configured)."""
        host = request.url.host
        if host not in KNOWN_HOSTS:
            raise httpx.ConnectError(f"sandbox: no route to host {host}", request=request)
        found = self._resolve(host, request.method, request.url.path)
        if isinstance(found, int):
            with self.lock:
                self.calls[(host, "unknown")] += 1
            style = HOST_STYLES[host]
            return error_response(style, found, "Not Found" if found == 404 else "Method Not Allowed")
        r, match = found
        ctx = Ctx(request=request, sandbox=self, match=match)
        with self.lock:  # when each provider was asked: the rate every caller together kept, whoever they were
            self.request_log.append((time.time(), r.provider, r.kind))
        with self.lock:
            self.calls[(host, r.kind)] += 1
        if r.auth is not None:
            denied = r.auth(ctx)
            if denied is not None:
                return denied
        key = (r.fault_key(ctx) if r.fault_key else None) or canonical_key(request, ctx.body if request.method == "POST" and r.fault_key is None else None)
        with self.lock:
            occurrence = self._occurrences[(r.provider, r.kind, key)]
            self._occurrences[(r.provider, r.kind, key)] += 1
        fault = self.faults.decide(r.provider, r.kind, key, occurrence)
        if fault is not None:
            with self.lock:
                self.faults_injected[(r.provider, r.kind, fault.kind)] += 1
            return fault_response(fault, r, ctx)
        return r.handler(ctx)

    def _resolve(self, host: str, method: str, path: str) -> tuple[Route, re.Match[str]] | int:
        allowed = False
        for r in ROUTES:
            if r.host != host:
                continue
            m = r.pattern.match(path)
            if m is None:
                continue
            if r.method != method:
                allowed = True
                continue
            return r, m
        return 405 if allowed else 404

    def fetch_internal(self, url: str) -> bytes | None:
        """Fetch a URL from the sandbox itself (ImageKit's upload-by-URL); None when it fails."""
        try:
            with httpx.Client(transport=self.transport(), follow_redirects=True, timeout=5) as client:
                response = client.get(url)
        except httpx.HTTPError:
            return None
        return response.content if response.status_code == 200 else None


def build_sandbox(
    venues: Sequence[Venue],
    seed: int = 7,
    faults: FaultConfig | None = None,
    coverage: Mapping[str, float] | None = None,
    *,
    distractors: float = 1.0,
) -> Sandbox:
    """A sandbox over the given venues in one call (the usual entry point for demo and tests)."""
    config = SandboxConfig(seed=seed, distractors=distractors, faults=faults or FaultConfig.none(seed))
    if coverage is not None:
        merged = dict(config.coverage)
        merged.update(coverage)
        config = SandboxConfig(seed=seed, coverage=merged, distractors=distractors, faults=config.faults)
    return Sandbox(World.build(venues, config))

