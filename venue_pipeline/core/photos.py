"""Lists the photos every provider holds for the venues it has an ID for."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
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
) -> DiscoveryResult:
    """One photo-list call per (venue, photo provider with an ID); an auth error stops that provider."""
    result = DiscoveryResult()
    gate = asyncio.Semaphore(concurrency)

    async def one(venue_id: int, provider: str, place_id: str) -> None:
        if provider in result.disabled:
            return
        async with gate:
            if provider in result.disabled:
                return
            try:
                photos = await clients[provider].photos(place_id)
            except QuotaExhausted as exc:
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
        result.listings.append(PhotoListing(venue_id, provider, place_id, tuple(photos)))

    jobs = [
        one(vid, provider, pid)
        for vid in venue_ids
        for provider, pid in sorted(place_ids.get(vid, {}).items())
        if provider in clients and clients[provider].supports_photos
    ]
    await asyncio.gather(*jobs)
    result.listings.sort(key=lambda l: (l.venue_id, l.provider))
    return result
