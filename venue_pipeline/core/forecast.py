"""What the next N days of schedules will spend, projected from the state under the back-off rules: no call, no I/O.

The schedule looks at a venue when core/staleness.py says it is stale (or it owes deferred work); the ID stage then
searches the (venue, provider) pairs whose cooldown core/backoff.py says is over, and discovery lists the matched
photo providers whose back-off is over. Whether a listing brings new photos is uncertain: each pair carries a
probability distribution over (listing streak, day listed), so calls and streaks are expected values, not one draw.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from venue_pipeline.core.backoff import (
    ListingState,
    listing_due,
    search_cooldown,
    search_due,
    streak_after,
)
from venue_pipeline.core.forecast_records import (
    Forecast,
    ForecastState,
    PairRecord,
    ProviderPlan,
    RetryBacklog,
    VenueRecord,
    Yields,
)
from venue_pipeline.core.staleness import FRESH_WITH_IMAGES, FRESH_WITHOUT_IMAGES

__all__ = [
    "Forecast", "ForecastState", "PairRecord", "ProviderPlan", "RetryBacklog", "VenueRecord", "Yields", "forecast",
    "sample_venues",
]

DAY = timedelta(days=1)
MATCHED, DEFERRED = "matched", "deferred"
REJECTED = frozenset({"no_match", "ambiguous"})


def _day(when: datetime | None, start: datetime) -> float | None:
    return None if when is None else (when - start) / DAY


@dataclass
class _Pair:
    """One pair's projection: the rejected probability mass on its search schedule, and the matched mass as a
    distribution over (listing streak, day listed; None = never listed)."""

    record: PairRecord
    plan: ProviderPlan
    rejected: float = 0.0
    ask_now: bool = False  # never asked or deferred: asked at the venue's next look
    searches: int = 0
    searched_at: float | None = None
    next_search: float | None = None
    listings: dict[tuple[int, float | None], float] = field(default_factory=dict)
    matched_at: float | None = None
    live: float = 0.0


class _Projection:
    """The day-by-day projection of one state; demand is booked per day, quotas applied afterwards."""

    def __init__(self, state: ForecastState, start: datetime, days: int) -> None:
        self.state, self.start, self.days = state, start, days
        self.plans = {p.name: p for p in state.providers}
        self.demand: list[dict[tuple[str, str], float]] = [defaultdict(float) for _ in range(days)]
        self.looks: list[float] = [0.0] * days  # venues the schedule looks at each day
        self.y = state.yields
        self._at: dict[float, datetime] = {}  # day offsets as datetimes, computed once
        self.miss = 1.0  # the projected venue's probability of having no uploaded image yet
        self.weight = 1.0  # venues sharing the projected venue's state (projected once, booked for all)

    def book(self, day: int, provider: str, endpoint: str | None, calls: float) -> None:
        if endpoint is not None and calls > 0 and 0 <= day < self.days:
            overhead = self.y.call_overhead.get((provider, endpoint), 1.0)
            self.demand[day][(provider, endpoint)] += calls * overhead * self.weight

    def at(self, day: float) -> datetime:
        when = self._at.get(day)
        if when is None:
            when = self._at[day] = self.start + day * DAY
        return when

    def lost(self) -> float:
        """The probability a new photo never uploads: its first attempt and every retry fail."""
        y = self.y
        return y.upload_failure * y.retry_failure ** max(y.max_attempts - 1, 0)

    def attempts_per_photo(self) -> float:
        """Expected download attempts of one new photo: the first, then retries while they fail."""
        y = self.y
        return 1.0 + y.upload_failure * sum(y.retry_failure**j for j in range(max(y.max_attempts - 1, 0)))

    def venue(self, v: VenueRecord, pairs: list[_Pair]) -> tuple[float, float]:
        """Projects one venue over the horizon; returns its expected uploaded images at the end and the probability
        that it still has none."""
        checked = _day(v.checked_at, self.start)
        uploaded, live = float(v.uploaded), float(v.live)
        self.miss = 0.0 if v.uploaded > 0 else 1.0  # the probability the venue has no uploaded image
        has_coordinates = v.has_coordinates
        changed = v.updated_at
        owed = any(p.ask_now for p in pairs) or any(  # store/provider_ids.py _owed: asked at the next tick
            p.matched_at is not None and checked is not None and p.matched_at > checked for p in pairs
        )
        day = 0
        while day < self.days:
            fresh = (FRESH_WITH_IMAGES if uploaded >= 0.5 else FRESH_WITHOUT_IMAGES) / DAY
            stale = checked is None or day - checked >= fresh - 1e-9
            if not (stale or owed):
                day = max(day + 1, math.ceil(checked + fresh - 1e-9))
                continue
            now = self.at(day)
            matched_mass = self.ids(day, now, v, pairs, has_coordinates, changed)
            if not has_coordinates and matched_mass >= 0.5:
                has_coordinates = True  # a geocode match sets the venue's coordinates
            added = self.listings(day, now, pairs, uploaded, live, stale)
            uploaded += added * (1.0 - self.lost())
            live += added
            checked, owed = float(day), False
            self.looks[day] += self.weight
            day += 1
        return uploaded, self.miss

    def ids(
        self, day: int, now: datetime, v: VenueRecord, pairs: list[_Pair], has_coordinates: bool, changed: datetime | None
    ) -> float:
        """The ID stage at one look: never-asked and deferred pairs, rejections whose cooldown is over."""
        method_calls = 2.0 if has_coordinates else 1.0  # a rejected search asks once more, wider
        matched_mass = 0.0
        for p in pairs:
            plan = p.plan
            endpoint = plan.search_endpoint if has_coordinates else plan.geocode_endpoint
            if p.ask_now:
                m = self.y.first_search_match.get(plan.name, 0.5)
                self.book(day, plan.name, endpoint, m + (1.0 - m) * method_calls)
                p.ask_now, p.rejected = False, 1.0 - m
                self.match(p, m, day)
                matched_mass += m
                p.searches = p.searches + 1
                p.searched_at, p.next_search = float(day), day + search_cooldown(p.searches) / DAY
                continue
            if p.rejected <= 0:
                continue
            searched = None if p.searched_at is None else self.at(p.searched_at)
            next_at = None if p.next_search is None else self.at(p.next_search)
            if not search_due(next_at, searched, changed, now):
                continue
            restart = changed is not None and searched is not None and changed > searched
            q = self.y.research_match.get(plan.name, 0.0)
            self.book(day, plan.name, endpoint, p.rejected * (q + (1.0 - q) * method_calls))
            self.match(p, p.rejected * q, day)
            matched_mass += p.rejected * q
            p.rejected *= 1.0 - q
            p.searches = 1 if restart else p.searches + 1
            p.searched_at, p.next_search = float(day), day + search_cooldown(p.searches) / DAY
        return matched_mass

    def match(self, p: _Pair, mass: float, day: int) -> None:
        if mass > 0 and p.plan.listing_endpoint is not None:
            p.listings[(0, None)] = p.listings.get((0, None), 0.0) + mass
            p.matched_at = float(day)

    def listings(self, day: int, now: datetime, pairs: list[_Pair], uploaded: float, live: float, stale: bool) -> float:
        """Discovery at one look: each matched photo provider whose back-off is over; returns expected new photos."""
        added = 0.0
        venue_room = max(self.state.max_per_venue - live, 0.0)
        for p in pairs:
            plan = p.plan
            if plan.listing_endpoint is None or not p.listings:
                continue
            room = min(max(self.state.max_per_provider - p.live, 0.0), venue_room)
            full = room < 0.5
            matched_at = None if p.matched_at is None else self.at(p.matched_at)
            after: dict[tuple[int, float | None], float] = defaultdict(float)
            listed = 0.0
            photos = 0.0
            for (streak, listed_day), mass in p.listings.items():
                listed_at = None if listed_day is None else self.at(listed_day)
                fresh_id = matched_at is not None and (listed_at is None or matched_at > listed_at)
                state = ListingState(listed_at, streak, matched_at, round(uploaded), full)
                if not (stale or fresh_id) or not listing_due(state, now):
                    after[(streak, listed_day)] += mass
                    continue
                first = listed_day is None
                hit = (self.y.first_listing_hit if first else self.y.repeat_listing_hit).get(plan.name, 0.0)
                per_hit = (self.y.first_listing_photos if first else self.y.repeat_listing_photos).get(plan.name, 0.0)
                hit = 0.0 if full else min(max(hit, 0.0), 1.0)  # a probability, whatever the estimate
                listed += mass
                photos += mass * hit * per_hit
                self.miss *= 1.0 - mass * hit * (1.0 - self.lost()) if room >= 0.5 else 1.0
                after[(streak_after(streak, 1), float(day))] += mass * hit
                after[(streak_after(streak, 0), float(day))] += mass * (1.0 - hit)
            p.listings = {k: m for k, m in after.items() if m > 1e-12}
            self.book(day, plan.name, plan.listing_endpoint, listed)
            new = min(photos, room)
            venue_room -= new
            p.live += new
            added += new
            self.photos(day, plan, new)
        return added

    def photos(self, day: int, plan: ProviderPlan, new: float) -> None:
        """New photos are downloaded by the upload stage the same day; billed downloads (and their retries) booked."""
        if new <= 0 or plan.photo_endpoint is None:
            return
        self.book(day, plan.name, plan.photo_endpoint, new * self.attempts_per_photo())
        # a retry the next day finds the reference expired: one refresh call per venue and retry round
        y = self.y
        some_failed = 1.0 - (1.0 - y.upload_failure) ** new
        rounds = some_failed * sum(y.retry_failure**j for j in range(max(y.max_attempts - 1, 0)))
        self.book(day + 1, plan.name, self.state.refresh_endpoint.get(plan.name), rounds)

    def backlog(self) -> None:
        """Failed and pending images the retry and upload stages attempt in the first days."""
        y = self.y
        for b in self.state.retries:
            plan = self.plans.get(b.provider)
            if plan is None or plan.photo_endpoint is None:
                continue
            rounds = sum(y.retry_failure**j for j in range(max(b.attempts_left, 0)))
            self.book(0, plan.name, plan.photo_endpoint, b.images * rounds)
            self.book(0, plan.name, self.state.refresh_endpoint.get(plan.name), b.venues * rounds)
        for provider, n in self.state.pending.items():
            plan = self.plans.get(provider)
            if plan is not None and plan.photo_endpoint is not None:
                self.book(0, provider, plan.photo_endpoint, n * self.attempts_per_photo())


def _pairs(
    state: ForecastState, venues: Sequence[VenueRecord], start: datetime, plans: Mapping[str, ProviderPlan]
) -> dict[int, list[_Pair]]:
    """The projected venues' stored pairs as projections; a provider with no row for a venue is asked at its next
    look."""
    by_venue: dict[int, dict[str, _Pair]] = defaultdict(dict)
    wanted = None if len(venues) == len(state.venues) else {v.venue_id for v in venues}
    for r in state.pairs:
        plan = plans.get(r.provider)
        if plan is None or (wanted is not None and r.venue_id not in wanted):
            continue
        p = _Pair(r, plan, live=float(r.live), searches=r.searches)
        decided = _day(r.matched_at, start)
        if r.status == MATCHED:
            if plan.listing_endpoint is not None:
                p.listings = {(r.listing_streak, _day(r.listed_at, start)): 1.0}
                p.matched_at = decided
        elif r.status in REJECTED:
            p.rejected, p.searched_at, p.next_search = 1.0, decided, _day(r.next_search_at, start)
        else:
            p.ask_now = True
        by_venue[r.venue_id][r.provider] = p
    for v in venues:
        known = by_venue[v.venue_id]
        for name, plan in plans.items():
            if name not in known:
                known[name] = _Pair(PairRecord(v.venue_id, name), plan, ask_now=True)
    return {vid: list(ps.values()) for vid, ps in by_venue.items()}


def _alike(
    venues: Sequence[VenueRecord], pairs: Mapping[int, list[_Pair]], start: datetime
) -> list[tuple[VenueRecord, tuple[_Pair, ...], int]]:
    """Venues that will be projected alike, counted, so each such state is projected once. The projection compares
    a stored time only with a whole tick (start + k days) plus whole days, or with another stored time of the venue;
    so two venues whose times fall in the same days (rounded up) and stand in the same order are projected alike."""
    groups: dict[tuple[object, ...], tuple[VenueRecord, tuple[_Pair, ...]]] = {}
    counts: dict[tuple[object, ...], int] = defaultdict(int)

    def snap(when: datetime | None) -> int | None:
        return None if when is None else math.ceil((when - start) / DAY - 1e-9)

    def after(a: datetime | None, b: datetime | None) -> bool:
        return a is not None and b is not None and a > b

    for v in venues:
        own = sorted(pairs.get(v.venue_id, []), key=lambda p: p.plan.name)
        key: list[object] = [v.has_coordinates, v.uploaded, v.live, snap(v.checked_at), snap(v.updated_at)]
        for p in own:
            r = p.record
            key += [
                r.provider, r.status, r.searches, r.listing_streak, r.live, snap(r.matched_at), snap(r.next_search_at),
                snap(r.listed_at), after(r.matched_at, r.listed_at), after(r.matched_at, v.checked_at),
                after(v.updated_at, r.matched_at),
            ]
        groups.setdefault(tuple(key), (v, tuple(own)))
        counts[tuple(key)] += 1
    return [(*groups[k], n) for k, n in counts.items()]


def _apply_quotas(projection: _Projection, plans: Mapping[str, ProviderPlan], out: Forecast) -> None:
    """Each day's demand capped by each provider's quota; what is over waits for the next day (as deferred work)."""
    carry: dict[tuple[str, str], float] = defaultdict(float)
    for demand in projection.demand:
        for key, n in demand.items():
            carry[key] += n
        by_provider: dict[str, float] = defaultdict(float)
        for (provider, _endpoint), n in carry.items():
            by_provider[provider] += n
        for (provider, endpoint), n in list(carry.items()):
            quota = plans[provider].daily_quota
            total = by_provider[provider]
            share = 1.0 if quota is None or total <= quota else quota / total
            made = n * share
            out.calls.setdefault(provider, {}).setdefault(endpoint, 0.0)
            out.calls[provider][endpoint] += made
            carry[(provider, endpoint)] = n - made
    for (provider, _endpoint), n in carry.items():
        if n > 1e-9:
            out.deferred[provider] = out.deferred.get(provider, 0.0) + n
    for provider, by in out.calls.items():
        plan = plans[provider]
        share = projection.y.billed_share
        out.dollars[provider] = {e: n * plan.price(e) * share.get((provider, e), 1.0) for e, n in by.items()}


def sample_venues(venues: Sequence[VenueRecord], limit: int | None) -> tuple[Sequence[VenueRecord], float]:
    """At most `limit` venues, an even spread in a fixed pseudo-random order of their ids, and the factor that
    scales them to all venues (an unbiased estimate; None or a smaller state: every venue, factor 1)."""
    if limit is None or len(venues) <= limit:
        return venues, 1.0
    ordered = sorted(venues, key=lambda v: (v.venue_id * 2654435761) % 4294967296)
    step = len(ordered) / limit
    return [ordered[int(i * step)] for i in range(limit)], len(venues) / limit


def forecast(state: ForecastState, start: datetime, days: int, max_projections: int | None = None) -> Forecast:
    """Projects the schedules' calls and dollars for `days` daily looks from `start` (day 0 = start); with
    `max_projections`, a state of more venues than that is estimated from an even sample of them."""
    plans = {p.name: p for p in state.providers}
    projection = _Projection(state, start, days)
    projection.backlog()
    venues, scale = sample_venues(state.venues, max_projections)
    pairs = _pairs(state, venues, start, plans)
    out = Forecast(start=start, days=days, venues=len(state.venues), sampled=scale != 1.0)
    uploaded_end = with_images_end = 0.0
    for v, venue_pairs, group_count in _alike(venues, pairs, start):
        count = group_count * scale
        projection.weight = float(count)
        uploaded, miss = projection.venue(v, list(venue_pairs))
        uploaded_end += uploaded * count
        with_images_end += (1.0 - miss) * count
    projection.weight = 1.0
    _apply_quotas(projection, plans, out)
    out.looks = projection.looks
    n = max(len(state.venues), 1)
    out.with_images_start = sum(1 for v in state.venues if v.uploaded > 0)
    out.with_images_end = with_images_end
    out.gallery_start = sum(v.uploaded for v in state.venues) / n
    out.gallery_end = uploaded_end / n
    return out

