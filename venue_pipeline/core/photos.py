"""Lists the photos every provider holds for the venues it has an ID for."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from venue_pipeline.core.errors import ErrorType, ProviderError, QuotaExhausted
from venue_pipeline.core.ports import PhotoRef, ProviderClient


@dataclass(frozen=True)
class PhotoListing:
    """The photos one provider returned for one venue's place."""

    venue_id: int
    provider: str
    place_id: str
    photos: tuple[PhotoRef, ...]


@dataclass
class DiscoveryResult:
    """Listings to store, plus failures by (provider, error type) for metadata."""

    listings: list[PhotoListing] = field(default_factory=list)
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    disabled: dict[str, str] = field(default_factory=dict)
    failed_venues: set[int] = field(default_factory=set)
    deferred: Counter[str] = field(default_factory=Counter)


async def discover_photos(
    venue_ids: Sequence[int],
    place_ids: Mapping[int, Mapping[str, str]],
    clients: Mapping[str, ProviderClient],
    *,
    concurrency: int = 16,
    on_venue: Callable[[int, list[PhotoListing], bool], None] | None = None,
) -> DiscoveryResult:
    """One photo-list call per (venue, photo provider with an ID), at most `concurrency` in flight per provider; an
    auth error stops that provider, a spent quota defers the rest of its listings. `on_venue(venue_id, listings,
    complete)` receives each venue's listings as soon as all of its providers answered; `complete` is False when
    any listing failed or was deferred, so the venue is not counted as checked."""
    result = DiscoveryResult()
    # One gate per provider: a listing waiting for its provider's rate token holds only that provider's slot.
    gates = {p: asyncio.Semaphore(concurrency) for p in clients}
    quota_paused: set[str] = set()
    jobs_by_venue = {
        vid: [(p, pid) for p, pid in sorted(place_ids.get(vid, {}).items()) if p in clients and clients[p].supports_photos]
        for vid in venue_ids
    }
    left = {vid: len(jobs) for vid, jobs in jobs_by_venue.items()}
    listed: dict[int, list[PhotoListing]] = {vid: [] for vid in venue_ids}

    def skipped(venue_id: int, provider: str) -> None:
        result.failed_venues.add(venue_id)
        if provider in quota_paused:  # owed, not failed: asked again when the quota resets
            result.deferred[provider] += 1

    async def list_one(venue_id: int, provider: str, place_id: str) -> None:
        if provider in result.disabled:
            return skipped(venue_id, provider)
        async with gates[provider]:
            if provider in result.disabled:
                return skipped(venue_id, provider)
            try:
                photos = await clients[provider].photos(place_id)
            except QuotaExhausted as exc:
                quota_paused.add(provider)
                result.deferred[provider] += 1
                result.failed_venues.add(venue_id)
                result.disabled.setdefault(provider, f"{provider} paused: {exc}; the rest waits for tomorrow's quota")
                return
            except ProviderError as exc:
                result.errors[(provider, exc.error_type.value)] += 1
                result.failed_venues.add(venue_id)
                if len(result.error_samples) < 20:
                    result.error_samples.append(f"venue {venue_id} at {provider}: {exc}")
                if exc.error_type in (ErrorType.AUTH_ERROR, ErrorType.MISSING_API_KEY):
                    result.disabled.setdefault(provider, f"{provider} disabled for this run: {exc}")
                return
        listing = PhotoListing(venue_id, provider, place_id, tuple(photos))
        result.listings.append(listing)
        listed[venue_id].append(listing)

    async def one(venue_id: int, provider: str, place_id: str) -> None:
        try:
            await list_one(venue_id, provider, place_id)
        finally:
            left[venue_id] -= 1
        if left[venue_id] == 0 and on_venue is not None:
            listings = sorted(listed.pop(venue_id), key=lambda l: l.provider)
            on_venue(venue_id, listings, venue_id not in result.failed_venues)

    for vid, jobs in jobs_by_venue.items():
        if not jobs and on_venue is not None:  # nothing to list (IDs only at providers without photos)
            on_venue(vid, [], True)
    await asyncio.gather(*(one(vid, p, pid) for vid, jobs in jobs_by_venue.items() for p, pid in jobs))
    result.listings.sort(key=lambda l: (l.venue_id, l.provider))
    return result
