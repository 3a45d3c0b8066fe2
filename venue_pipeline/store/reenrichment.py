"""Which venues the daily re-enrichment takes: quota-deferred work first, then stale venues, a few cities a tick.

One place for the deployed schedule (defs/schedules.py) and the simulated year (cost_simulate.py), so the
simulation replays exactly what the schedule would launch."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from venue_pipeline.store.provider_ids import owed_cities, owed_venue_ids
from venue_pipeline.store.venues import stale_cities, stale_venue_ids

# Bounded so one tick never floods the providers: at most 1,000 venues a day.
CITIES_PER_TICK = 5
VENUES_PER_CITY_PER_TICK = 200


def due_venues(session: Session, now: datetime) -> list[tuple[str, list[int]]]:
    """(city, venue ids) for each city of the tick, the cities with the most due work first: quota-deferred work
    (the quotas reset at 00:00 UTC), then stale venues, oldest first."""
    due: dict[str, int] = dict(owed_cities(session, CITIES_PER_TICK))
    for city, count in stale_cities(session, now, CITIES_PER_TICK):
        due[city] = due.get(city, 0) + count
    out = []
    for city in sorted(due, key=lambda c: (-due[c], c))[:CITIES_PER_TICK]:
        owed = owed_venue_ids(session, city, VENUES_PER_CITY_PER_TICK)
        stale = [v for v in stale_venue_ids(session, city, now, VENUES_PER_CITY_PER_TICK) if v not in owed]
        ids = sorted((owed + stale)[:VENUES_PER_CITY_PER_TICK])
        if ids:
            out.append((city, ids))
    return out
