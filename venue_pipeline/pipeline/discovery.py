"""The discovery stage for a city: list the photos of due provider IDs and store them under the gallery caps."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from venue_pipeline.core.backoff import ListingState, listing_due
from venue_pipeline.core.budget import with_budgets
from venue_pipeline.core.photos import PhotoLister, PhotoListing, discover_photos
from venue_pipeline.core.quality import quality_score
from venue_pipeline.core.staleness import due_providers
from venue_pipeline.core.statuses import IdStatus
from venue_pipeline.pipeline.budget import stage_budgets
from venue_pipeline.pipeline.common import with_retry
from venue_pipeline.pipeline.handoff import Handoff
from venue_pipeline.pipeline.stage import StageRun, StageSummary
from venue_pipeline.services import Settings
from venue_pipeline.store import images as images_db
from venue_pipeline.store import provider_ids as id_store
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.venues import images_checked, list_venues, mark_images_checked


@dataclass
class DiscoverySummary(StageSummary):
    """What the discovered_photos stage did."""

    venues: int = 0
    listings: int = 0
    discovered: dict[str, int] = field(default_factory=dict)
    new: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    capped: int = 0
    due_venues: int = 0
    backed_off: int = 0  # (venue, provider) listings the venue was due for, held back by core/backoff.py
    deferred: dict[str, int] = field(default_factory=dict)
    quota_share: dict[str, int] = field(default_factory=dict)  # calls this run could take (core/budget.py)
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)

    def progress(self) -> str:
        return (
            f"photos: {sum(self.discovered.values())} listed, {sum(self.new.values())} new, "
            f"{sum(self.updated.values())} updated, {self.capped} over the gallery caps"
        )


def plan_listings(
    db_url: str,
    venue_ids: Sequence[int],
    now: datetime,
    *,
    force: bool = False,
    fresh_with_images_days: int = 30,
    fresh_without_images_days: int = 7,
) -> tuple[dict[int, dict[str, str]], int]:
    """The listings that are due for these venues (staleness rule and per-provider back-off, or force), as
    {venue: {provider: place id}}, and how many the back-off held back; for a city or for one venue at a time."""
    with session_scope(db_url) as session:
        rows = id_store.ids_for(session, venue_ids)
        checked = images_checked(session, venue_ids)
        galleries = images_db.gallery_counts(session, venue_ids)
    place_ids: dict[int, dict[str, str]] = {}
    backed_off = 0
    for vid in venue_ids:
        matched = {p: r for p, r in rows.get(vid, {}).items() if r.status == IdStatus.MATCHED and r.place_id}
        checked_at, has_images = checked.get(vid, (None, False))
        due = due_providers(
            checked_at,
            has_images,
            {p: r.matched_at for p, r in matched.items()},
            now,
            force=force,
            fresh_with_images=timedelta(days=fresh_with_images_days),
            fresh_without_images=timedelta(days=fresh_without_images_days),
        )
        gallery = galleries.get(vid, images_db.GalleryCounts())
        earned = [p for p in due if force or listing_due(_listing_state(matched[p], gallery), now)]
        backed_off += len(due) - len(earned)
        if earned:
            place_ids[vid] = {p: matched[p].place_id for p in earned}
    return place_ids, backed_off


def run_discovery(
    settings: Settings,
    city: str | None,
    *,
    venue_ids: Sequence[int] = (),
    providers: Sequence[str] = (),
    force: bool = False,
    fresh_with_images_days: int = 30,
    fresh_without_images_days: int = 7,
    run_id: str | None = None,
    now: datetime | None = None,
    venues_from: Handoff | None = None,
    on_stored: Callable[[int, str | None], None] | None = None,
) -> DiscoverySummary:
    """Lists photos for the provider IDs that are due (plan_listings) and stores them under the caps; `now`
    (default: the real UTC time) decides and stamps everything. With `venues_from` (the pipelined flow) each venue
    is planned and listed as the ID stage hands it over, and each listing is stored as it comes back:
    `on_stored(venue_id, provider)` is told then, and `on_stored(venue_id, None)` once every provider of the venue
    answered (or it had nothing to list), so its uploads can start."""
    run = StageRun(settings, providers, run_id, now)
    now = now or datetime.now(timezone.utc)
    db_url = run.settings.db_url
    with session_scope(db_url) as session:
        venues = list_venues(session, city_slug=city, venue_ids=list(venue_ids) or None)
    all_ids = [v.id for v in venues]
    freshness = {
        "force": force,
        "fresh_with_images_days": fresh_with_images_days,
        "fresh_without_images_days": fresh_without_images_days,
    }
    place_ids, backed_off = ({}, 0) if venues_from is not None else plan_listings(db_url, all_ids, now, **freshness)
    arrived: list[int] = [] if venues_from is not None else list(all_ids)

    summary = DiscoverySummary(venues=len(venues), backed_off=backed_off)
    discovered: Counter[str] = Counter()
    new: Counter[str] = Counter()
    updated: Counter[str] = Counter()

    def save_listings(session: Any, venue_id: int, listings: list[PhotoListing]) -> list[tuple[PhotoListing, Any]]:
        images_db.lock_venue(session, venue_id)
        saved = [
            (l, images_db.save_discovered(session, venue_id, l.provider, l.place_id, l.photos, quality_score, now=now))
            for l in listings
        ]
        for listing, counts in saved:
            id_store.record_listing(session, venue_id, listing.provider, counts.new, now)
        return saved

    def count(saved: list[tuple[PhotoListing, Any]]) -> None:
        for listing, counts in saved:
            discovered[listing.provider] += len(listing.photos)
            new[listing.provider] += counts.new
            updated[listing.provider] += counts.updated
            summary.capped += counts.capped

    def store_venue(venue_id: int, listings: list[PhotoListing], complete: bool) -> None:
        """One venue's listings in their own short transaction as soon as its providers answered; it counts as
        checked only when every listing came back (a deferred or failed one is asked again next run)."""

        def save(session: Any) -> list[tuple[PhotoListing, Any]]:
            saved = save_listings(session, venue_id, listings)
            if complete:
                mark_images_checked(session, [venue_id], now)
            return saved

        count(with_retry(db_url, save))

    def store_listing(listing: PhotoListing) -> None:
        """Streamed: one provider's listing stored the moment it came back, its photos handed on to the uploads at
        once (a slow provider's listing of the venue does not hold them back)."""
        count(with_retry(db_url, lambda session: save_listings(session, listing.venue_id, [listing])))
        if on_stored is not None:
            on_stored(listing.venue_id, listing.provider)

    def venue_listed(venue_id: int, _listings: list[PhotoListing], complete: bool) -> None:
        """Streamed: every provider of the venue answered (each listing already stored): checked when all came
        back; the uploads take the rest of its waiting images (earlier runs' failures of other providers)."""
        if complete:
            with_retry(db_url, lambda session: mark_images_checked(session, [venue_id], now))
        if on_stored is not None:
            on_stored(venue_id, None)

    async def listed_as_handed(lister: PhotoLister, handoff: Handoff) -> None:
        """Each venue planned and listed as the ID stage stored it; one with nothing due goes straight on."""
        listing: list[asyncio.Task[None]] = []
        async for vid, _ in handoff.parts():
            arrived.append(vid)
            due, held = plan_listings(db_url, [vid], now, **freshness)
            summary.backed_off += held
            if due:
                place_ids.update(due)
                listing.append(asyncio.create_task(lister.venue(vid, due[vid])))
            elif on_stored is not None:  # nothing to list: its waiting images (earlier runs) can be uploaded
                on_stored(vid, None)
        await asyncio.gather(*listing)

    def work(services: Any) -> Any:
        summary.quota_share = stage_budgets(run.settings, services, city, all_ids, "discovery", now)
        if venues_from is not None:  # the ID stage runs alongside and may spend its lookups' part: keep the rest
            lookups = stage_budgets(run.settings, services, city, all_ids, "ids", now)
            summary.quota_share = {p: max(0, n - lookups.get(p, 0)) for p, n in summary.quota_share.items()}
        clients = with_budgets(services.clients, summary.quota_share)
        if venues_from is None:
            return discover_photos(sorted(place_ids), place_ids, clients, on_venue=store_venue)

        async def streamed() -> Any:
            lister = PhotoLister(clients, on_venue=venue_listed, on_listing=store_listing)
            await listed_as_handed(lister, venues_from)
            return lister.finish()

        return streamed()

    result = run.work(summary, work)
    summary.disabled.update(result.disabled)
    summary.due_venues = len(place_ids)
    with session_scope(db_url) as session:  # venues with nothing to list were checked too
        mark_images_checked(session, [v for v in arrived if v not in place_ids], now)
    summary.listings = len(result.listings)
    summary.deferred = dict(result.deferred)
    summary.discovered, summary.new, summary.updated = dict(discovered), dict(new), dict(updated)
    summary.errors = {f"{p}/{e}": n for (p, e), n in sorted(result.errors.items())}
    summary.error_samples = result.error_samples
    return run.finish(summary)


def _listing_state(row: Any, gallery: images_db.GalleryCounts) -> ListingState:
    """A matched provider_ids row and the venue's gallery, as the back-off rule reads them."""
    return ListingState(
        listed_at=row.listed_at,
        streak=row.listing_streak or 0,
        matched_at=row.matched_at,
        uploaded=gallery.uploaded,
        full=gallery.full(row.provider),
    )
