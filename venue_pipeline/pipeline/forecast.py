"""The cost forecast from the venue database and the providers in force: what the CLI and the report call."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from venue_pipeline.core.forecast import Forecast, ProviderPlan, forecast
from venue_pipeline.core.ports import PHOTO_ENDPOINT
from venue_pipeline.providers.base import ProviderSettings, price
from venue_pipeline.providers.registry import (
    PROVIDER_SPECS,
    PROVIDERS,
    ask_endpoint,
    default_settings,
)
from venue_pipeline.store.forecast_state import LedgerSoFar, ledger_so_far, read_state
from venue_pipeline.store.schema import ProviderIdRow

# The endpoint kind of a photo listing, per provider that lists photos (providers/foursquare.py list_photos,
# providers/google_places.py: Place Details with the photos field); a retry refreshing an expired Google
# reference calls the same details endpoint (pipeline/retries.py).
LISTING_ENDPOINTS = {"foursquare": "photos", "google_places": "details"}
REFRESH_ENDPOINTS = {"google_places": "details"}
# The report is rebuilt after every retry run: past this many distinct venue states it projects an even sample of
# them (a relative standard error of about 1/sqrt(n) on the totals; the CLI projects every state).
REPORT_PROJECTIONS = 3000


def provider_plans(settings: Iterable[ProviderSettings]) -> list[ProviderPlan]:
    """The enabled providers (a key set) as the forecast sees them: endpoints, list prices, daily quota."""
    plans = []
    for s in settings:
        known = PROVIDER_SPECS.get(s.name)
        if known is None or not s.enabled or not s.api_key:
            continue
        lists = known.client.supports_photos and s.name in LISTING_ENDPOINTS
        listing = LISTING_ENDPOINTS[s.name] if lists else None
        endpoints = {ask_endpoint(s, "search"), ask_endpoint(s, "geocode"), PHOTO_ENDPOINT, *LISTING_ENDPOINTS.values()}
        prices = {e: price(s, e, known.default_costs) for e in endpoints}
        plans.append(
            ProviderPlan(
                name=s.name,
                search_endpoint=ask_endpoint(s, "search"),
                geocode_endpoint=ask_endpoint(s, "geocode"),
                listing_endpoint=listing,
                photo_endpoint=PHOTO_ENDPOINT if lists and prices[PHOTO_ENDPOINT] > 0 else None,
                prices=prices,
                daily_quota=s.daily_quota,
            )
        )
    return plans


def forecast_from_db(
    session: Session, settings: Iterable[ProviderSettings], days: int = 365, start: datetime | None = None
) -> Forecast:
    """Reads the state in a few grouped queries and projects the next `days` daily looks from `start` (now)."""
    state = read_state(session, provider_plans(settings), REFRESH_ENDPOINTS)
    return forecast(state, start or datetime.now(UTC), days)


def cost_so_far(ledger: LedgerSoFar, venues: int) -> dict[str, Any]:
    """The ledger's calls and dollars over the last year (the caller reads the ledger from a year ago), per venue:
    the cost of a venue-year so far. A ledger younger than a year is not annualised, since a first enrichment's
    day scaled by 365 would read as a bill a hundred times too large."""
    calls, dollars = sum(ledger.calls.values()), sum(ledger.dollars.values())
    days = ledger.days()
    return {
        "since": ledger.first.isoformat(timespec="seconds") if ledger.first else None,
        "days": round(days, 2),
        "venues": venues,
        "calls": calls,
        "dollars": round(dollars, 4),
        "calls_per_venue_year": round(calls / venues, 2) if venues else 0.0,
        "dollars_per_venue_year": round(dollars / venues, 4) if venues else 0.0,
    }


def report_settings(session: Session, quotas: Mapping[str, int | None]) -> list[ProviderSettings]:
    """The providers the report forecasts: those the state has asked (any provider row), else every known one,
    with the daily quotas in force and list prices (the report has no keys and needs none)."""
    asked = set(session.scalars(select(ProviderIdRow.provider).distinct()))
    names = [n for n in PROVIDERS if n in asked] or list(PROVIDERS)
    out = []
    for name in names:
        base = default_settings(name, api_key="forecast")
        out.append(replace(base, daily_quota=quotas.get(name, base.daily_quota)))
    return out


def cost_rows(
    session: Session, quotas: Mapping[str, int | None], days: int = 365, now: datetime | None = None
) -> list[dict[str, Any]]:
    """The report's two cost lines: per venue-year so far (the ledger's last 365 days) and the forecast of the next
    `days` beside it."""
    now = now or datetime.now(UTC)
    plans = provider_plans(report_settings(session, quotas))
    state = read_state(session, plans, REFRESH_ENDPOINTS, max_projections=REPORT_PROJECTIONS)
    ahead = forecast(state, now, days, max_projections=REPORT_PROJECTIONS)
    so_far = cost_so_far(ledger_so_far(session, since=now - timedelta(days=365)), len(state.venues))
    return [
        {"period": "last 365 days (api_calls ledger)", **so_far},
        {
            "period": f"forecast, next {days} days",
            "since": now.isoformat(timespec="seconds"),
            "days": days,
            "venues": ahead.venues,
            "calls": round(ahead.total_calls()),
            "dollars": round(ahead.total_dollars(), 4),
            "calls_per_venue_year": round(ahead.per_venue_year(ahead.total_calls()), 2),
            "dollars_per_venue_year": round(ahead.per_venue_year(ahead.total_dollars()), 4),
        },
    ]
