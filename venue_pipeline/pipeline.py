"""The three city stages (IDs, discovery, upload) from store to core and back; Dagster and the CLI both call these."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.exc import OperationalError

from venue_pipeline.core.errors import PipelineError
from venue_pipeline.core.gallery import FAILED, PENDING, UploadOutcome
from venue_pipeline.core.ids import KnownId, providers_to_ask, resolve_ids
from venue_pipeline.core.photos import discover_photos
from venue_pipeline.core.quality import quality_score
from venue_pipeline.core.staleness import due_providers
from venue_pipeline.core.upload import upload_images
from venue_pipeline.providers.registry import ask_cost
from venue_pipeline.services import Services, Settings, open_services
from venue_pipeline.store import images as image_store
from venue_pipeline.store import provider_ids as id_store
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.venues import images_checked, list_venues, mark_images_checked, set_coordinates

progress_log = logging.getLogger("venue_pipeline.progress")


def with_retry(db_url: str, work: Callable[[Any], Any], attempts: int = 4) -> Any:
    """Runs `work(session)` in its own transaction, again if the database chose it as a deadlock or
    serialization victim (concurrent runs on PostgreSQL touching the same venues)."""
    for attempt in range(1, attempts + 1):
        try:
            with session_scope(db_url) as session:
                return work(session)
        except OperationalError as exc:
            transient = any(w in str(exc).lower() for w in ("deadlock", "could not serialize", "database is locked"))
            if not transient or attempt == attempts:
                raise
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


def record_outcome(db_url: str, outcome: UploadOutcome, *, run_id: str | None, is_retry: bool) -> str | None:
    """One outcome, one short transaction, so parallel runs never hold locks on many images at once."""
    return with_retry(
        db_url, lambda session: image_store.apply_outcome(session, outcome, run_id=run_id, is_retry=is_retry)
    )


def _restrict(settings: Settings, providers: Sequence[str] | None) -> Settings:
    """A copy of the settings limited to the requested providers (empty means all)."""
    if not providers:
        return settings
    unknown = set(providers) - set(settings.providers)
    if unknown:
        raise ValueError(f"unknown providers {sorted(unknown)}; known: {list(settings.providers)}")
    return replace(settings, providers=tuple(p for p in settings.providers if p in providers))


def _cost(services: Services) -> dict[str, float]:
    costs: Counter[str] = Counter()
    for call in services.ledger.recorded:
        costs[call.provider] += call.cost
    return {k: round(v, 4) for k, v in sorted(costs.items())}


def _calls(services: Services) -> dict[str, int]:
    return dict(sorted(Counter(c.provider for c in services.ledger.recorded).items()))


@dataclass
class IdsSummary:
    """What the provider_ids stage did, for metadata and the demo's table."""

    venues: int = 0
    ids_before: dict[str, int] = field(default_factory=dict)
    ids_after: dict[str, int] = field(default_factory=dict)
    matched: dict[str, int] = field(default_factory=dict)
    no_match: dict[str, int] = field(default_factory=dict)
    ambiguous: dict[str, int] = field(default_factory=dict)
    deferred: dict[str, int] = field(default_factory=dict)
    geocoded: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    disabled: dict[str, str] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=dict)
    skipped_cooldown: int = 0
    dry_run: bool = False
    would_ask: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0


def _id_counts(session: Any, venue_ids: list[int]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for per_venue in id_store.matched_ids(session, venue_ids).values():
        counts.update(per_venue.keys())
    return dict(sorted(counts.items()))


def run_provider_ids(
    settings: Settings,
    city: str | None,
    *,
    venue_ids: Sequence[int] = (),
    providers: Sequence[str] = (),
    force: bool = False,
    dry_run: bool = False,
    first_success_only: bool = False,
    run_id: str | None = None,
) -> IdsSummary:
    """Finds missing provider IDs for a city's venues and stores matches and rejections (unless dry_run)."""
    t0 = time.monotonic()
    settings = _restrict(settings, providers)
    with session_scope(settings.db_url) as session:
        venues = list_venues(session, city_slug=city, venue_ids=list(venue_ids) or None)
        ids = [v.id for v in venues]
        before = _id_counts(session, ids)
        known = {
            vid: {p: KnownId(r.status, r.next_search_at) for p, r in rows.items()}
            for vid, rows in id_store.ids_for(session, ids).items()
        }

    if dry_run:
        return _plan_ids(settings, venues, known, before, t0, force=force)

    async def go() -> tuple[Any, dict[str, int], dict[str, float], dict[str, str]]:
        async with open_services(settings, run_id) as services:
            result = await resolve_ids(
                venues, known, services.clients, force=force, first_success_only=first_success_only
            )
            return result, _calls(services), _cost(services), {**services.disabled, **result.disabled}

    result, calls, cost, disabled = asyncio.run(go())
    summary = IdsSummary(venues=len(venues), ids_before=before)
    summary.matched = dict(result.count(id_store.MATCHED))
    summary.no_match = dict(result.count(id_store.NO_MATCH))
    summary.ambiguous = dict(result.count(id_store.AMBIGUOUS))
    summary.deferred = dict(result.count(id_store.DEFERRED))
    summary.geocoded = len(result.coordinates)
    summary.errors = {f"{p}/{e}": n for (p, e), n in sorted(result.errors.items())}
    summary.error_samples = result.error_samples
    summary.disabled = disabled
    summary.calls, summary.cost = calls, cost
    summary.skipped_cooldown = result.skipped_cooldown
    with session_scope(settings.db_url) as session:
        for venue_id, (lat, lng) in result.coordinates.items():
            set_coordinates(session, venue_id, lat, lng)
        id_store.save(session, result.records)
        summary.ids_after = _id_counts(session, ids)
    summary.duration_s = round(time.monotonic() - t0, 2)
    progress_log.info(
        "provider IDs: %d venues, %d accepted, %d rejected, %d ambiguous, %d deferred, %d geocoded (%.1fs)",
        summary.venues,
        sum(summary.matched.values()),
        sum(summary.no_match.values()),
        sum(summary.ambiguous.values()),
        sum(summary.deferred.values()),
        summary.geocoded,
        summary.duration_s,
    )
    return summary


def _plan_ids(
    settings: Settings,
    venues: Sequence[Any],
    known: dict[int, dict[str, KnownId]],
    before: dict[str, int],
    t0: float,
    *,
    force: bool,
) -> IdsSummary:
    """A dry run: which (venue, provider) lookups a real run would make and their list price; no call made."""
    now = datetime.now(timezone.utc)
    provider_settings = {p.name: p for p in settings.provider_settings() if p.api_key}
    would: Counter[str] = Counter()
    cost: Counter[str] = Counter()
    skipped = 0
    for venue in venues:
        ask, cooling = providers_to_ask(known.get(venue.id, {}), list(provider_settings), force=force, now=now)
        skipped += cooling
        method = "search" if venue.has_coordinates else "geocode"
        for provider in ask:
            would[provider] += 1
            cost[provider] += ask_cost(provider_settings[provider], method)
    summary = IdsSummary(venues=len(venues), ids_before=before, ids_after=dict(before), dry_run=True)
    summary.would_ask = dict(sorted(would.items()))
    summary.cost = {p: round(c, 4) for p, c in sorted(cost.items())}
    summary.skipped_cooldown = skipped
    summary.duration_s = round(time.monotonic() - t0, 2)
    progress_log.info(
        "provider IDs (dry run): would make %d lookups costing about $%.2f", sum(would.values()), sum(cost.values())
    )
    return summary


@dataclass
class DiscoverySummary:
    """What the discovered_photos stage did."""

    venues: int = 0
    listings: int = 0
    discovered: dict[str, int] = field(default_factory=dict)
    new: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    capped: int = 0
    due_venues: int = 0
    deferred: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    disabled: dict[str, str] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=dict)
    duration_s: float = 0.0


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
) -> DiscoverySummary:
    """Lists photos for the provider IDs that are due (staleness rule, or force) and stores them under the caps."""
    t0 = time.monotonic()
    settings = _restrict(settings, providers)
    now = datetime.now(timezone.utc)
    with session_scope(settings.db_url) as session:
        venues = list_venues(session, city_slug=city, venue_ids=list(venue_ids) or None)
        all_ids = [v.id for v in venues]
        rows = id_store.ids_for(session, all_ids)
        checked = images_checked(session, all_ids)
    place_ids: dict[int, dict[str, str]] = {}
    for vid in all_ids:
        matched = {p: r for p, r in rows.get(vid, {}).items() if r.status == id_store.MATCHED and r.place_id}
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
        if due:
            place_ids[vid] = {p: matched[p].place_id for p in due}
    ids = sorted(place_ids)

    async def go() -> tuple[Any, dict[str, int], dict[str, float], dict[str, str]]:
        async with open_services(settings, run_id) as services:
            result = await discover_photos(ids, place_ids, services.clients)
            return result, _calls(services), _cost(services), {**services.disabled, **result.disabled}

    result, calls, cost, disabled = asyncio.run(go())
    summary = DiscoverySummary(venues=len(venues), calls=calls, cost=cost, disabled=disabled)
    summary.due_venues = len(ids)
    discovered: Counter[str] = Counter()
    new: Counter[str] = Counter()
    updated: Counter[str] = Counter()
    by_venue: dict[int, list[Any]] = {}
    for listing in result.listings:
        by_venue.setdefault(listing.venue_id, []).append(listing)
    for venue_id, listings in sorted(by_venue.items()):  # short transactions, venues in id order: no deadlock
        def save(session: Any, listings: list[Any] = listings, venue_id: int = venue_id) -> list[Any]:
            image_store.lock_venue(session, venue_id)
            return [
                (l, image_store.save_discovered(session, venue_id, l.provider, l.place_id, l.photos, quality_score))
                for l in listings
            ]

        for listing, counts in with_retry(settings.db_url, save):
            discovered[listing.provider] += len(listing.photos)
            new[listing.provider] += counts.new
            updated[listing.provider] += counts.updated
            summary.capped += counts.capped
    with session_scope(settings.db_url) as session:
        mark_images_checked(session, [v for v in all_ids if v not in result.failed_venues])
    summary.listings = len(result.listings)
    summary.deferred = dict(result.deferred)
    summary.discovered, summary.new, summary.updated = dict(discovered), dict(new), dict(updated)
    summary.errors = {f"{p}/{e}": n for (p, e), n in sorted(result.errors.items())}
    summary.error_samples = result.error_samples
    summary.duration_s = round(time.monotonic() - t0, 2)
    progress_log.info(
        "photos: %d listed, %d new, %d updated, %d over the gallery caps (%.1fs)",
        sum(summary.discovered.values()),
        sum(summary.new.values()),
        sum(summary.updated.values()),
        summary.capped,
        summary.duration_s,
    )
    return summary


@dataclass
class UploadSummary:
    """What the uploaded_images stage did."""

    attempted: int = 0
    images: int = 0
    uploaded: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    retired: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    failed_images: list[dict[str, Any]] = field(default_factory=list)
    skipped_disabled: int = 0
    disabled: dict[str, str] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=dict)
    thumbnails: list[tuple[str, str]] = field(default_factory=list)
    duration_s: float = 0.0


def run_uploads(
    settings: Settings,
    city: str | None,
    *,
    venue_ids: Sequence[int] = (),
    image_ids: Sequence[int] = (),
    providers: Sequence[str] = (),
    statuses: Sequence[str] = (PENDING, FAILED),
    run_id: str | None = None,
) -> UploadSummary:
    """Copies the selected images to the CDN from their stored references and records every attempt."""
    t0 = time.monotonic()
    settings = _restrict(settings, providers)
    with session_scope(settings.db_url) as session:
        tasks = image_store.upload_tasks(
            session,
            city_slug=city,
            venue_ids=list(venue_ids) or None,
            image_ids=list(image_ids) or None,
            statuses=statuses,
            due_before=datetime.now(timezone.utc) if FAILED in statuses else None,
        )

    async def go() -> tuple[list[UploadOutcome], int, dict[str, int], dict[str, float], dict[str, str]]:
        async with open_services(settings, run_id) as services:
            outcomes, skipped = await upload_images(
                tasks, services.clients, services.http, services.image_store, ledger=services.ledger
            )
            return outcomes, len(skipped), _calls(services), _cost(services), services.disabled

    outcomes, skipped, calls, cost, disabled = asyncio.run(go())
    summary = UploadSummary(attempted=len(outcomes), skipped_disabled=skipped, calls=calls, cost=cost)
    summary.disabled = disabled
    uploaded: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    retired: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    tried_before = {t.image_id for t in tasks if t.attempts > 0}
    final: dict[int, tuple[UploadOutcome, str]] = {}
    for outcome in outcomes:
        is_retry = outcome.image_id in tried_before
        tried_before.add(outcome.image_id)
        status = record_outcome(settings.db_url, outcome, run_id=run_id, is_retry=is_retry)
        if status is not None:
            final[outcome.image_id] = (outcome, status)
    summary.images = len(final)
    for outcome, status in final.values():  # count each image once, by where it ended
        if outcome.ok:
            uploaded[outcome.provider] += 1
            if outcome.cdn_path and len(summary.thumbnails) < 6:
                summary.thumbnails.append((outcome.cdn_path, outcome.cdn_url or ""))
            continue
        failures[f"{outcome.provider}/{outcome.error_type}"] += 1
        if status == "permanently_failed":
            retired[outcome.provider] += 1
        else:
            failed[outcome.provider] += 1
        if len(summary.failed_images) < 50:
            summary.failed_images.append(
                {
                    "image_id": outcome.image_id,
                    "provider": outcome.provider,
                    "error_type": outcome.error_type,
                    "status_code": outcome.status_code,
                    "status": status,
                }
            )
    summary.uploaded, summary.failed, summary.retired = dict(uploaded), dict(failed), dict(retired)
    summary.failures = dict(sorted(failures.items()))
    summary.duration_s = round(time.monotonic() - t0, 2)
    progress_log.info(
        "uploads: %d attempts on %d images, %d uploaded, %d failed (will retry), %d permanently failed (%.1fs)",
        summary.attempted,
        summary.images,
        sum(uploaded.values()),
        sum(failed.values()),
        sum(retired.values()),
        summary.duration_s,
    )
    return summary


GOOGLE_REFERENCE_LIFETIME = timedelta(hours=24)
REFERENCE_LIFETIMES = {"google_places": GOOGLE_REFERENCE_LIFETIME}


@dataclass
class RetrySummary:
    """What a retry run did: uploads from stored references, references refreshed, circuits respected."""

    due: int = 0
    attempted: int = 0
    uploaded: dict[str, int] = field(default_factory=dict)
    still_failed: dict[str, int] = field(default_factory=dict)
    retired: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    reopened: int = 0
    references_refreshed: int = 0
    refresh_calls: dict[str, int] = field(default_factory=dict)
    skipped_open_circuit: dict[str, int] = field(default_factory=dict)
    circuit_note: str = ""
    calls: dict[str, int] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=dict)
    duration_s: float = 0.0


async def _refresh_references(
    services: Services, tasks: list[Any], now: datetime, lifetimes: dict[str, timedelta]
) -> tuple[list[Any], dict[int, tuple[str, int | None, int | None]], Counter[str]]:
    """Expired references (Google's are short-lived) get one details call per venue; the rest are untouched."""
    from dataclasses import replace as dc_replace

    stale: dict[tuple[str, str], list[Any]] = {}
    for task in tasks:
        life = lifetimes.get(task.provider)
        fetched = task.reference_fetched_at
        if life and task.place_id and (fetched is None or now - fetched > life):
            stale.setdefault((task.provider, task.place_id), []).append(task)
    refreshed: dict[int, tuple[str, int | None, int | None]] = {}
    calls: Counter[str] = Counter()
    for (provider, place_id), group in stale.items():
        client = services.clients.get(provider)
        if client is None:
            continue
        calls[provider] += 1
        try:
            photos = {p.photo_key: p for p in await client.photos(place_id)}
        except PipelineError:
            continue
        for task in group:
            ref = photos.get(task.photo_key)
            if ref is not None:
                refreshed[task.image_id] = (ref.reference, ref.width, ref.height)
    out = [
        dc_replace(t, reference=refreshed[t.image_id][0], reference_fetched_at=now) if t.image_id in refreshed else t
        for t in tasks
    ]
    return out, refreshed, calls


def run_retries(
    settings: Settings,
    *,
    city: str | None = None,
    venue_ids: Sequence[int] = (),
    image_ids: Sequence[int] = (),
    providers: Sequence[str] = (),
    reopen_permanent: bool = False,
    max_images: int = 5000,
    run_id: str | None = None,
) -> RetrySummary:
    """Retries failed images whose next_retry_at has passed (explicit image ids: at once), from their stored
    references: no search, details or photo-list call, except one details call per venue to refresh expired
    Google references. Permanently failed images are only retried when an operator re-opens them."""
    t0 = time.monotonic()
    settings = _restrict(settings, providers)
    now = datetime.now(timezone.utc)
    summary = RetrySummary()
    with session_scope(settings.db_url) as session:
        if reopen_permanent:
            summary.reopened = image_store.reopen(
                session, city_slug=city, venue_ids=list(venue_ids) or None, image_ids=list(image_ids) or None
            )
        tasks = image_store.upload_tasks(
            session,
            city_slug=city,
            venue_ids=list(venue_ids) or None,
            image_ids=list(image_ids) or None,
            statuses=(FAILED,),
            due_before=None if image_ids else now,
            providers=list(settings.providers),
        )[:max_images]
        state = circuit_state(session)
    summary.due = len(tasks)
    open_targets = set(state.auth_open)
    if open_targets:
        summary.circuit_note = state.reason
        cdn_target = "imagekit" if settings.image_store == "imagekit" else None
        blocked = [t for t in tasks if t.provider in open_targets or cdn_target in open_targets]
        for task in blocked:
            summary.skipped_open_circuit[task.provider] = summary.skipped_open_circuit.get(task.provider, 0) + 1
        tasks = [t for t in tasks if t not in blocked]

    async def go() -> tuple[list[UploadOutcome], dict[int, Any], Counter[str], dict[str, int], dict[str, float]]:
        async with open_services(settings, run_id) as services:
            fresh, refreshed, refresh_calls = await _refresh_references(services, tasks, now, REFERENCE_LIFETIMES)
            outcomes, _ = await upload_images(
                fresh, services.clients, services.http, services.image_store, ledger=services.ledger,
                in_run_retry=False,
            )
            return outcomes, refreshed, refresh_calls, _calls(services), _cost(services)

    outcomes, refreshed, refresh_calls, calls, cost = asyncio.run(go()) if tasks else ([], {}, Counter(), {}, {})
    summary.attempted = len(outcomes)
    summary.references_refreshed = len(refreshed)
    summary.refresh_calls = dict(refresh_calls)
    summary.calls, summary.cost = calls, cost
    uploaded: Counter[str] = Counter()
    still: Counter[str] = Counter()
    retired: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    with session_scope(settings.db_url) as session:
        for image_id, (reference, width, height) in refreshed.items():
            image_store.update_reference(session, image_id, reference, width, height, now)
    for outcome in outcomes:
        status = record_outcome(settings.db_url, outcome, run_id=run_id, is_retry=True)
        if status is None:
            continue
        if outcome.ok:
            uploaded[outcome.provider] += 1
            continue
        failures[f"{outcome.provider}/{outcome.error_type}"] += 1
        (retired if status == "permanently_failed" else still)[outcome.provider] += 1
    summary.uploaded, summary.still_failed, summary.retired = dict(uploaded), dict(still), dict(retired)
    summary.failures = dict(sorted(failures.items()))
    summary.duration_s = round(time.monotonic() - t0, 2)
    progress_log.info(
        "retries: %d due, %d uploaded, %d still failing, %d retired, %d references refreshed (%.1fs)",
        summary.due,
        sum(uploaded.values()),
        sum(still.values()),
        sum(retired.values()),
        summary.references_refreshed,
        summary.duration_s,
    )
    return summary


def circuit_state(session: Any) -> Any:
    """The breakers' state from the store (retry success rate since the last reset, auth failures)."""
    from venue_pipeline.core.circuit import MIN_ATTEMPTS, evaluate
    from venue_pipeline.store import circuits

    return evaluate(circuits.recent_retry_outcomes(session, MIN_ATTEMPTS), circuits.auth_failed_targets(session))


def merge(summaries: Sequence[Any]) -> Any:
    """Adds up summaries of one kind (a multi-city backfill run): numbers sum, per-key counts sum, lists join."""
    if not summaries:
        raise ValueError("nothing to merge")
    first = summaries[0]
    if len(summaries) == 1:
        return first
    out = replace(first)
    for f in first.__dataclass_fields__:
        values = [getattr(s, f) for s in summaries]
        head = values[0]
        if isinstance(head, bool):
            merged: Any = any(values)
        elif isinstance(head, (int, float)):
            merged = round(sum(values), 4) if isinstance(head, float) else sum(values)
        elif isinstance(head, dict) and all(isinstance(v, (int, float)) for d in values for v in d.values()):
            acc: Counter[str] = Counter()
            for d in values:
                acc.update(d)
            merged = dict(sorted(acc.items()))
        elif isinstance(head, dict):
            merged = {k: v for d in values for k, v in d.items()}
        elif isinstance(head, list):
            merged = [item for v in values for item in v]
        else:
            merged = " ".join(str(v) for v in values if v)
        setattr(out, f, merged)
    return out
