"""Circuit breakers: stop retrying when retries mostly fail, and stop calling a target whose key is refused."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

MIN_ATTEMPTS = 20
MIN_SUCCESS_RATE = 0.5


@dataclass(frozen=True)
class CircuitState:
    """Whether retries may run, and which targets are cut off, with reasons an operator can read."""

    retries_open: bool
    success_rate: float | None
    attempts: int
    auth_open: Mapping[str, datetime] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        parts = []
        if self.retries_open:
            parts.append(
                f"retry circuit open: {self.success_rate:.0%} of the last {self.attempts} retry attempts succeeded "
                f"(< {MIN_SUCCESS_RATE:.0%}); reset it with `venue-pipeline circuit reset retries` or the "
                "reset_circuit_job once the cause is fixed"
            )
        for target, at in sorted(self.auth_open.items()):
            parts.append(
                f"auth circuit open for {target} since {at:%Y-%m-%d %H:%M} UTC (key refused); "
                f"fix the key, then `venue-pipeline circuit reset auth:{target}`"
            )
        return "; ".join(parts) or "all circuits closed"


def evaluate(
    recent_outcomes: Sequence[bool],
    auth_open: Mapping[str, datetime],
    *,
    min_attempts: int = MIN_ATTEMPTS,
    min_rate: float = MIN_SUCCESS_RATE,
) -> CircuitState:
    """Opens the retry circuit when at least `min_attempts` recent retries succeeded less than `min_rate`."""
    attempts = len(recent_outcomes)
    rate = (sum(recent_outcomes) / attempts) if attempts else None
    retries_open = attempts >= min_attempts and rate is not None and rate < min_rate
    return CircuitState(retries_open, rate, attempts, dict(auth_open))
