"""Match records placed in metres around one point, shared by the matcher and chooser tests."""

from __future__ import annotations

import math

from venue_pipeline.core.matching import MatchRecord

LAT, LNG = 51.5074, -0.1278


def offset(north_m: float, east_m: float = 0.0) -> tuple[float, float]:
    """A point the given metres north/east of (LAT, LNG)."""
    return LAT + north_m / 111_195.0, LNG + east_m / (111_195.0 * math.cos(math.radians(LAT)))


def rec(name: str, north_m: float = 0.0, east_m: float = 0.0, **kw: object) -> MatchRecord:
    return MatchRecord(name, *offset(north_m, east_m), **kw)  # type: ignore[arg-type]
