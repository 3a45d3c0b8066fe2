"""A provider made N times slower on the loopback sandbox server (`sandbox serve --slow foursquare:10`, or
VENUE_SANDBOX_SLOW), so a benchmark can show whether one slow provider holds the others back.

"N times slower" means each answer of that provider (its API and its photo hosts) takes N round trips instead of
one: the server holds it (N - 1) x the round trip the clients see (`--slow-rtt-ms`, 80 by default, the enrichment
benchmark's delay line). The in-process sandbox is never slowed: its handler runs on the caller's event loop."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

SLOW_ENV = "VENUE_SANDBOX_SLOW"
SLOW_PROVIDERS: tuple[str, ...] = ("here", "geoapify", "foursquare", "google_places", "imagekit")
DEFAULT_RTT_MS = 80.0


@dataclass(frozen=True)
class Slowdown:
    """Per provider: how many times slower its answers are, and the round trip one 'time' stands for."""

    factors: Mapping[str, float] = field(default_factory=dict)
    round_trip_s: float = DEFAULT_RTT_MS / 1000.0

    def hold_s(self, provider: str) -> float:
        """How long the server holds an answer of this provider before sending it (0 when not slowed)."""
        factor = self.factors.get(provider, 1.0)
        return (factor - 1.0) * self.round_trip_s if factor > 1.0 else 0.0

    def describe(self) -> str:
        if not self.factors:
            return "no provider slowed"
        each = ", ".join(f"{p} x{f:g}" for p, f in sorted(self.factors.items()))
        return f"{each} (each answer held (N-1) x {self.round_trip_s * 1000:g} ms)"


def parse_slowdown(spec: str | None, rtt_ms: float = DEFAULT_RTT_MS) -> Slowdown:
    """`provider:N[,provider:N...]` (N >= 1, a number) into a Slowdown; ValueError naming what is wrong."""
    if not rtt_ms > 0 or rtt_ms > 60_000:
        raise ValueError(f"round trip {rtt_ms!r} ms is not between 0 and 60000")
    factors: dict[str, float] = {}
    for part in (spec or "").replace(" ", "").split(","):
        if not part:
            continue
        provider, sep, times = part.partition(":")
        if not sep or provider not in SLOW_PROVIDERS:
            raise ValueError(f"{part!r}: expected PROVIDER:N with PROVIDER one of {', '.join(SLOW_PROVIDERS)}")
        try:
            factor = float(times)
        except ValueError:
            raise ValueError(f"{part!r}: N must be a number, not {times!r}") from None
        if not 1.0 <= factor <= 1000.0:
            raise ValueError(f"{part!r}: N must be between 1 and 1000")
        factors[provider] = factor
    return Slowdown(factors, rtt_ms / 1000.0)
