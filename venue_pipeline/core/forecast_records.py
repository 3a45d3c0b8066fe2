"""The cost forecast's records: the state it reads as plain values, and what it returns (core/forecast.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class PairRecord:
    """One (venue, provider) as stored: its ID decision, search cooldown and listing back-off (status '' = never asked)."""

    venue_id: int
    provider: str
    status: str = ""
    matched_at: datetime | None = None  # when the stored decision was made
    next_search_at: datetime | None = None
    searches: int = 0
    listed_at: datetime | None = None
    listing_streak: int = 0
    live: int = 0  # this provider's live images of the venue (the per-provider cap counts them)


@dataclass(frozen=True)
class VenueRecord:
    """One venue's gallery and schedule state."""

    venue_id: int
    has_coordinates: bool = True
    checked_at: datetime | None = None  # images_checked_at
    updated_at: datetime | None = None  # a re-import's change restarts rejected searches
    uploaded: int = 0
    live: int = 0


@dataclass(frozen=True)
class ProviderPlan:
    """What one provider charges and allows: endpoint kinds (ledger names), list prices, daily quota."""

    name: str
    search_endpoint: str
    geocode_endpoint: str
    listing_endpoint: str | None = None  # None: the provider lists no photos (HERE, Geoapify)
    photo_endpoint: str | None = None  # a billed, ledgered photo download (Google's Place Photo)
    prices: Mapping[str, float] = field(default_factory=dict)
    daily_quota: int | None = None

    def price(self, endpoint: str) -> float:
        return float(self.prices.get(endpoint, 0.0))


@dataclass(frozen=True)
class Yields:
    """Observed rates (store/forecast_state.py estimates them from the state and ledger, with priors)."""

    first_listing_hit: Mapping[str, float] = field(default_factory=dict)  # a first listing brings photos
    first_listing_photos: Mapping[str, float] = field(default_factory=dict)  # photos a hitting first listing adds
    repeat_listing_hit: Mapping[str, float] = field(default_factory=dict)  # a later listing brings a new photo
    repeat_listing_photos: Mapping[str, float] = field(default_factory=dict)  # new photos such a listing adds
    first_search_match: Mapping[str, float] = field(default_factory=dict)  # a never-decided lookup matches
    research_match: Mapping[str, float] = field(default_factory=dict)  # a re-search of a rejection matches
    upload_failure: float = 0.1  # a first upload attempt fails
    retry_failure: float = 0.5  # a retry attempt fails
    max_attempts: int = 3
    billed_share: Mapping[tuple[str, str], float] = field(default_factory=dict)  # calls that cost (failures do not)
    # ledger rows per answered call of an API endpoint: transient errors retried inside the call, failed calls
    call_overhead: Mapping[tuple[str, str], float] = field(default_factory=dict)


@dataclass(frozen=True)
class RetryBacklog:
    """Failed images the retry stage will attempt again: per provider, images and attempts still allowed."""

    provider: str
    images: int
    attempts_left: int  # per image (the failure class's limit minus attempts made)
    venues: int  # distinct venues (an expired Google reference costs one details call per venue and round)


@dataclass(frozen=True)
class ForecastState:
    """Everything the forecast reads, as plain records."""

    venues: Sequence[VenueRecord]
    pairs: Sequence[PairRecord]
    providers: Sequence[ProviderPlan]
    yields: Yields = field(default_factory=Yields)
    retries: Sequence[RetryBacklog] = ()
    pending: Mapping[str, int] = field(default_factory=dict)  # images never attempted, by provider
    max_per_provider: int = 10
    max_per_venue: int = 25
    refresh_endpoint: Mapping[str, str] = field(default_factory=dict)  # provider -> call an expired reference needs


@dataclass
class Forecast:
    """Expected calls and dollars per provider and endpoint over `days`, per venue-year, and the coverage kept."""

    start: datetime
    days: int
    venues: int
    calls: dict[str, dict[str, float]] = field(default_factory=dict)
    dollars: dict[str, dict[str, float]] = field(default_factory=dict)
    deferred: dict[str, float] = field(default_factory=dict)  # past a quota at the horizon, not yet made
    with_images_start: int = 0
    with_images_end: float = 0.0
    gallery_start: float = 0.0  # mean uploaded images per venue
    gallery_end: float = 0.0
    sampled: bool = False  # projected from an even sample of the venues' states (forecast's max_projections)
    looks: list[float] = field(default_factory=list)  # venues looked at, per day

    def days_over(self, looks_per_day: float) -> int:
        """Days on which the projection looks at more venues than the schedule can in one day (its bounds are not
        modelled: past them the schedule spreads the work over later days, and these figures are an upper bound)."""
        return sum(1 for n in self.looks if n > looks_per_day + 1e-9)

    def total_calls(self, provider: str | None = None) -> float:
        return sum(n for p, by in self.calls.items() if provider in (None, p) for n in by.values())

    def total_dollars(self, provider: str | None = None) -> float:
        return sum(d for p, by in self.dollars.items() if provider in (None, p) for d in by.values())

    def per_venue_year(self, amount: float) -> float:
        """An amount over the horizon as per venue and 365 days."""
        return amount / max(self.venues, 1) * 365.0 / max(self.days, 1)

    def as_dict(self) -> dict[str, object]:
        total_calls, total_dollars = self.total_calls(), self.total_dollars()
        return {
            "start": self.start.isoformat(),
            "days": self.days,
            "venues": self.venues,
            "calls": {p: {e: round(n, 1) for e, n in sorted(by.items())} for p, by in sorted(self.calls.items())},
            "dollars": {p: {e: round(d, 4) for e, d in sorted(by.items())} for p, by in sorted(self.dollars.items())},
            "total_calls": round(total_calls, 1),
            "total_dollars": round(total_dollars, 2),
            "calls_per_venue_year": round(self.per_venue_year(total_calls), 2),
            "dollars_per_venue_year": round(self.per_venue_year(total_dollars), 4),
            "deferred_at_horizon": {p: round(n, 1) for p, n in sorted(self.deferred.items())},
            "venues_with_images": {"start": self.with_images_start, "end": round(self.with_images_end, 1)},
            "mean_gallery": {"start": round(self.gallery_start, 2), "end": round(self.gallery_end, 2)},
            "sampled": self.sampled,
            "venue_looks": {"total": round(sum(self.looks), 1), "peak_day": round(max(self.looks, default=0.0), 1)},
        }
