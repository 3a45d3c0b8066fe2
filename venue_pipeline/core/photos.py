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


class PhotoLister:
    """One stage's photo listings, venue by venue: at most `concurrency` in flight per provider; an auth error stops
    that provider and a spent quota defers the rest of its listings for every venue listed after it, so venues can
    be handed in one at a time (the pipelined city flow) or all at once (`discover_photos`). `on_listing` receives
    each listing as soon as it came back, so one provider's photos need not wait for the venue's other providers."""

    def __init__(
        self,
        clients: Mapping[str, ProviderClient],
        *,
        concurrency: int = 16,
        on_venue: Callable[[int, list[PhotoListing], bool], None] | None = None,
        on_listing: Callable[[PhotoListing], None] | None = None,
    ) -> None:
        self.clients = clients
        self.on_venue = on_venue
        self.on_listing = on_listing  # each listing the moment it came back, before its venue's other providers
        self.result = DiscoveryResult()
        # One gate per provider: a listing waiting for its provider's rate token holds only that provider's slot.
        self.gates = {p: asyncio.Semaphore(concurrency) for p in clients}
        self.quota_paused: set[str] = set()

    def jobs(self, place_ids: Mapping[str, str]) -> list[tuple[str, str]]:
        """The (provider, place id) listings of one venue: photo providers of this stage only."""
        return [(p, pid) for p, pid in sorted(place_ids.items()) if p in self.clients and self.clients[p].supports_photos]

    def _skipped(self, venue_id: int, provider: str) -> None:
        self.result.failed_venues.add(venue_id)
        if provider in self.quota_paused:  # owed, not failed: asked again when the quota resets
            self.result.deferred[provider] += 1

    async def _list_one(self, venue_id: int, provider: str, place_id: str) -> PhotoListing | None:
        result = self.result
        if provider in result.disabled:
            return self._skipped(venue_id, provider)
        async with self.gates[provider]:
            if provider in result.disabled:
                return self._skipped(venue_id, provider)
            try:
                photos = await self.clients[provider].photos(place_id)
            except QuotaExhausted as exc:
                self.quota_paused.add(provider)
                result.deferred[provider] += 1
                result.failed_venues.add(venue_id)
                result.disabled.setdefault(provider, f"{provider} paused: {exc}; the rest waits for tomorrow's quota")
                return None
            except ProviderError as exc:
                result.errors[(provider, exc.error_type.value)] += 1
                result.failed_venues.add(venue_id)
                if len(result.error_samples) < 20:
                    result.error_samples.append(f"venue {venue_id} at {provider}: {exc}")
                if exc.error_type in (ErrorType.AUTH_ERROR, ErrorType.MISSING_API_KEY):
                    result.disabled.setdefault(provider, f"{provider} disabled for this run: {exc}")
                return None
        listing = PhotoListing(venue_id, provider, place_id, tuple(photos))
        result.listings.append(listing)
        if self.on_listing is not None:
            self.on_listing(listing)
        return listing

    async def venue(self, venue_id: int, place_ids: Mapping[str, str]) -> None:
        """Lists one venue at every photo provider it has an ID for, then hands its listings to `on_venue`
        (`complete` False when any listing failed or was deferred, so the venue is not counted as checked)."""
        found = await asyncio.gather(*(self._list_one(venue_id, p, pid) for p, pid in self.jobs(place_ids)))
        if self.on_venue is not None:
            listings = sorted((l for l in found if l is not None), key=lambda l: l.provider)
            self.on_venue(venue_id, listings, venue_id not in self.result.failed_venues)

    def finish(self) -> DiscoveryResult:
        """The stage's result, listings in venue and provider order."""
        self.result.listings.sort(key=lambda l: (l.venue_id, l.provider))
        return self.result


async def discover_photos(
    venue_ids: Sequence[int],
    place_ids: Mapping[int, Mapping[str, str]],
    clients: Mapping[str, ProviderClient],
    *,
    concurrency: int = 16,
    on_venue: Callable[[int, list[PhotoListing], bool], None] | None = None,
) -> DiscoveryResult:
    """One photo-list call per (venue, photo provider with an ID), at most `concurrency` in flight per provider
    (PhotoLister); `on_venue(venue_id, listings, complete)` receives each venue's listings as soon as all of its
    providers answered."""
    lister = PhotoLister(clients, concurrency=concurrency, on_venue=on_venue)
    quiet = {vid for vid in venue_ids if not lister.jobs(place_ids.get(vid, {}))}
    for vid in (v for v in venue_ids if v in quiet):  # nothing to list (IDs only at providers without photos)
        await lister.venue(vid, {})
    await asyncio.gather(*(lister.venue(vid, place_ids.get(vid, {})) for vid in venue_ids if vid not in quiet))
    return lister.finish()
