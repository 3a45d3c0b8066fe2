"""The cost forecast's input read from the venue database in a few aggregate queries (core/forecast.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Integer, and_, func, select
from sqlalchemy.orm import Session

from venue_pipeline.core.errors import ErrorClass, classify
from venue_pipeline.core.forecast import (
    ForecastState,
    PairRecord,
    ProviderPlan,
    RetryBacklog,
    VenueRecord,
    Yields,
    sample_venues,
)
from venue_pipeline.core.recovery import AMBIGUOUS_ATTEMPTS, MAX_ATTEMPTS
from venue_pipeline.core.statuses import IdStatus, ImageStatus
from venue_pipeline.store.images import MAX_PER_PROVIDER, MAX_PER_VENUE
from venue_pipeline.store.schema import (
    ApiCallRow,
    ProviderIdRow,
    UploadAttemptRow,
    VenueImageRow,
    VenueRow,
)

# Priors, each worth PRIOR_WEIGHT observations, so a state with little history still gives a sane forecast and a
# long ledger outweighs them. A later listing brings a new photo rarely (the providers' photo sets change slowly);
# a re-search of a rejection matches rarely (the same venue, the same candidates); uploads mostly succeed.
PRIOR_WEIGHT = 10.0
PRIOR_REPEAT_HIT = 0.05
PRIOR_PHOTOS_PER_HIT = 1.0
PRIOR_FIRST_MATCH = 0.5
PRIOR_RESEARCH_MATCH = 0.05
PRIOR_UPLOAD_FAILURE = 0.1
PRIOR_RETRY_FAILURE = 0.5


def _rate(hits: float, trials: float, prior: float, weight: float = PRIOR_WEIGHT) -> float:
    """A rate shrunk towards its prior: (hits + prior * weight) / (trials + weight)."""
    return (hits + prior * weight) / (trials + weight)


def _venues(session: Session) -> list[VenueRecord]:
    """Every venue with its uploaded and live image counts (one grouped query joined in)."""
    uploaded = func.sum(func.cast(VenueImageRow.status == ImageStatus.UPLOADED, Integer))
    live = func.sum(func.cast(VenueImageRow.status != ImageStatus.PERMANENTLY_FAILED, Integer))
    counts = (
        select(VenueImageRow.venue_id, uploaded.label("uploaded"), live.label("live"))
        .group_by(VenueImageRow.venue_id)
        .subquery()
    )
    stmt = select(
        VenueRow.id, VenueRow.lat, VenueRow.lng, VenueRow.images_checked_at, VenueRow.updated_at,
        counts.c.uploaded, counts.c.live,
    ).outerjoin(counts, counts.c.venue_id == VenueRow.id)
    return [
        VenueRecord(vid, lat is not None and lng is not None, checked, updated, int(up or 0), int(lv or 0))
        for vid, lat, lng, checked, updated, up, lv in session.execute(stmt)
    ]


def _pairs(session: Session, venue_ids: Sequence[int] | None = None) -> list[PairRecord]:
    """Every provider row (of the given venues) with its provider's live images of the venue (one grouped query
    joined in, per chunk of venues)."""
    if venue_ids is not None:
        return [p for chunk in _chunks(venue_ids) for p in _pairs_where(session, chunk)]
    return _pairs_where(session, None)


def _chunks(ids: Sequence[int], size: int = 1000) -> list[list[int]]:
    ids = list(ids)
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _pairs_where(session: Session, venue_ids: list[int] | None) -> list[PairRecord]:
    live_q = select(VenueImageRow.venue_id, VenueImageRow.provider, func.count().label("live")).where(
        VenueImageRow.status != ImageStatus.PERMANENTLY_FAILED
    )
    if venue_ids is not None:
        live_q = live_q.where(VenueImageRow.venue_id.in_(venue_ids))
    live = live_q.group_by(VenueImageRow.venue_id, VenueImageRow.provider).subquery()
    r = ProviderIdRow
    stmt = select(
        r.venue_id, r.provider, r.status, r.matched_at, r.next_search_at, r.searches, r.listed_at, r.listing_streak,
        live.c.live,
    ).outerjoin(live, and_(live.c.venue_id == r.venue_id, live.c.provider == r.provider))
    if venue_ids is not None:
        stmt = stmt.where(r.venue_id.in_(venue_ids))
    return [
        PairRecord(vid, p, status, matched, next_at, searches or 0, listed, streak or 0, int(n or 0))
        for vid, p, status, matched, next_at, searches, listed, streak, n in session.execute(stmt)
    ]


def _retries(session: Session) -> tuple[list[RetryBacklog], dict[str, int]]:
    """Failed images still allowed attempts, by provider and attempts left; pending images by provider."""
    stmt = (
        select(
            VenueImageRow.provider, VenueImageRow.status, VenueImageRow.error_type, VenueImageRow.attempts,
            func.count(), func.count(VenueImageRow.venue_id.distinct()),
        )
        .where(VenueImageRow.status.in_([ImageStatus.FAILED, ImageStatus.PENDING]))
        .group_by(VenueImageRow.provider, VenueImageRow.status, VenueImageRow.error_type, VenueImageRow.attempts)
    )
    backlog: list[RetryBacklog] = []
    pending: dict[str, int] = defaultdict(int)
    for provider, status, error_type, attempts, images, venues in session.execute(stmt):
        if status == ImageStatus.PENDING:
            pending[provider] += int(images)
            continue
        limit = AMBIGUOUS_ATTEMPTS if classify(error_type) is ErrorClass.AMBIGUOUS else MAX_ATTEMPTS
        backlog.append(RetryBacklog(provider, int(images), max(limit - int(attempts or 0), 0), int(venues)))
    return backlog, dict(pending)


@dataclass(frozen=True)
class LedgerSoFar:
    """What the api_calls ledger holds: calls and dollars per provider since the first call."""

    calls: Mapping[str, int] = field(default_factory=dict)
    dollars: Mapping[str, float] = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None
    by_endpoint: Mapping[tuple[str, str], int] = field(default_factory=dict)
    billed: Mapping[tuple[str, str], int] = field(default_factory=dict)  # rows with a cost (a failed call is free)
    answered: Mapping[tuple[str, str], int] = field(default_factory=dict)  # rows without an error

    def days(self) -> float:
        """The ledger's span in days, at least one (a first enrichment takes minutes, not a year)."""
        if self.first is None or self.last is None:
            return 0.0
        return max((self.last - self.first).total_seconds() / 86400.0, 1.0)


def ledger_so_far(session: Session, since: datetime | None = None) -> LedgerSoFar:
    """Calls and dollars per provider and endpoint, and the span of the ledger (one grouped query); with `since`,
    only the calls made from then on."""
    paid = func.sum(func.cast(ApiCallRow.cost > 0, Integer))
    stmt = select(
        ApiCallRow.provider, ApiCallRow.endpoint, func.count(), func.sum(ApiCallRow.cost),
        func.min(ApiCallRow.called_at), func.max(ApiCallRow.called_at), paid, func.count(ApiCallRow.id).filter(
            ApiCallRow.error_type.is_(None)
        ),
    ).group_by(ApiCallRow.provider, ApiCallRow.endpoint)
    if since is not None:
        stmt = stmt.where(ApiCallRow.called_at >= since)
    calls: dict[str, int] = defaultdict(int)
    dollars: dict[str, float] = defaultdict(float)
    by_endpoint: dict[tuple[str, str], int] = {}
    billed: dict[tuple[str, str], int] = {}
    answered: dict[tuple[str, str], int] = {}
    first: datetime | None = None
    last: datetime | None = None
    for provider, endpoint, n, cost, lo, hi, n_paid, n_ok in session.execute(stmt):
        calls[provider] += int(n)
        billed[(provider, endpoint)] = int(n_paid or 0)
        answered[(provider, endpoint)] = int(n_ok or 0)
        dollars[provider] += float(cost or 0.0)
        by_endpoint[(provider, endpoint)] = int(n)
        lo, hi = _utc(lo), _utc(hi)
        first = lo if first is None or (lo is not None and lo < first) else first
        last = hi if last is None or (hi is not None and hi > last) else last
    return LedgerSoFar(dict(calls), dict(dollars), first, last, by_endpoint, billed, answered)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _listing_history(
    session: Session, venue_ids: Sequence[int] | None = None
) -> dict[str, tuple[int, int, int, int, int]]:
    """Per provider, over the given venues (None: all): listed pairs, pairs with photos, photos of first listings,
    later listings that brought photos and their photos. A listing stamps all its new photos with one
    discovered_at, so a pair's earliest stamp is its first listing and every later stamp one later listing with a
    new photo (one grouped pass in SQL per chunk of venues)."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for chunk in [None] if venue_ids is None else _chunks(venue_ids):
        for provider, row in _history_where(session, chunk).items():
            totals[provider] = [a + b for a, b in zip(totals[provider], row, strict=True)]
    return {p: (t[0], t[1], t[2], t[3], t[4]) for p, t in totals.items()}


def _history_where(session: Session, venue_ids: list[int] | None) -> dict[str, tuple[int, int, int, int, int]]:
    img = VenueImageRow
    grouped = select(
        img.provider.label("provider"),
        func.count().label("n"),
        (img.discovered_at == func.min(img.discovered_at).over(partition_by=(img.provider, img.venue_id))).label(
            "first"
        ),
    )
    listed_q = select(ProviderIdRow.provider, func.count()).where(ProviderIdRow.listed_at.is_not(None))
    if venue_ids is not None:
        grouped = grouped.where(img.venue_id.in_(venue_ids))
        listed_q = listed_q.where(ProviderIdRow.venue_id.in_(venue_ids))
    stamps = grouped.group_by(img.provider, img.venue_id, img.discovered_at).subquery()
    first = func.cast(stamps.c.first, Integer)
    stmt = select(
        stamps.c.provider, func.count(), func.sum(stamps.c.n), func.sum(first), func.sum(first * stamps.c.n)
    ).group_by(stamps.c.provider)
    listed = dict(session.execute(listed_q.group_by(ProviderIdRow.provider)).all())
    out: dict[str, tuple[int, int, int, int, int]] = {}
    for provider, groups, photos, pairs, first_photos in session.execute(stmt):
        groups, photos, pairs, first_photos = int(groups), int(photos or 0), int(pairs or 0), int(first_photos or 0)
        out[provider] = (int(listed.get(provider, 0)), pairs, first_photos, groups - pairs, photos - first_photos)
    for provider, n in listed.items():
        out.setdefault(provider, (int(n), 0, 0, 0, 0))
    return out


def estimate_yields(
    session: Session, plans: Sequence[ProviderPlan], ledger: LedgerSoFar, sample: Sequence[int] | None = None,
    scale: float = 1.0,
) -> Yields:
    """The observed rates, each shrunk towards its prior: listings from the images' discovery times and the
    ledger's listing calls, matches from the provider rows, upload failures from upload_attempts."""
    history = _listing_history(session, sample)  # a sample's counts, `scale` times, stand for all venues
    first_hit, first_photos, repeat_hit, repeat_photos = {}, {}, {}, {}
    for plan in plans:
        if plan.listing_endpoint is None:
            continue
        listed, hit, photos, repeat_listings_hit, repeat_n = history.get(plan.name, (0, 0, 0, 0, 0))
        first_hit[plan.name] = _rate(min(hit, listed), listed, 0.5, 1.0)  # a rate: hits never exceed trials
        first_photos[plan.name] = photos / hit if hit else PRIOR_PHOTOS_PER_HIT
        ok_listings = ledger.answered.get((plan.name, plan.listing_endpoint), 0)
        repeats = max(ok_listings / scale - listed, 0)  # the sample's share of the ledger's later listings
        repeat_hit[plan.name] = _rate(min(repeat_listings_hit, repeats), repeats, PRIOR_REPEAT_HIT)
        repeat_photos[plan.name] = _rate(repeat_n, repeat_listings_hit, PRIOR_PHOTOS_PER_HIT, 1.0)
    decided = session.execute(
        select(ProviderIdRow.provider, ProviderIdRow.status, func.count(), func.sum(ProviderIdRow.searches))
        .group_by(ProviderIdRow.provider, ProviderIdRow.status)
    ).all()
    matched: dict[str, float] = defaultdict(float)
    total: dict[str, float] = defaultdict(float)
    failed_researches: dict[str, float] = defaultdict(float)
    for provider, status, n, searches in decided:
        if status == IdStatus.DEFERRED:
            continue
        total[provider] += n
        if status == IdStatus.MATCHED:
            matched[provider] += n
        else:
            failed_researches[provider] += max(float(searches or 0) - n, 0.0)  # searches after the first
    first_match = {p.name: _rate(matched[p.name], total[p.name], PRIOR_FIRST_MATCH, 2.0) for p in plans}
    research = {p.name: _rate(0.0, failed_researches[p.name], PRIOR_RESEARCH_MATCH) for p in plans}
    attempts = session.execute(
        select(UploadAttemptRow.is_retry, UploadAttemptRow.outcome, func.count()).group_by(
            UploadAttemptRow.is_retry, UploadAttemptRow.outcome
        )
    ).all()
    tried: dict[bool, float] = defaultdict(float)
    failed: dict[bool, float] = defaultdict(float)
    for is_retry, outcome, n in attempts:
        tried[bool(is_retry)] += n
        if outcome != "uploaded":
            failed[bool(is_retry)] += n
    billed = {
        (p.name, e): _rate(ledger.billed.get((p.name, e), 0), n, 1.0)
        for p in plans
        for e in p.prices
        if p.price(e) > 0 and (n := ledger.by_endpoint.get((p.name, e), 0))
    }
    overhead = {  # a photo download's failures are modelled by the upload and retry rates instead
        (p.name, e): _rate(n, ledger.answered.get((p.name, e), 0), 1.0)
        for p in plans
        for e in p.prices
        if e != p.photo_endpoint and (n := ledger.by_endpoint.get((p.name, e), 0))
    }
    return Yields(
        billed_share=billed,
        call_overhead=overhead,
        first_listing_hit=first_hit,
        first_listing_photos=first_photos,
        repeat_listing_hit=repeat_hit,
        repeat_listing_photos=repeat_photos,
        first_search_match=first_match,
        research_match=research,
        upload_failure=_rate(failed[False], tried[False], PRIOR_UPLOAD_FAILURE),
        retry_failure=_rate(failed[True], tried[True], PRIOR_RETRY_FAILURE),
        max_attempts=MAX_ATTEMPTS,
    )


def read_state(
    session: Session,
    plans: Iterable[ProviderPlan],
    refresh_endpoint: Mapping[str, str] | None = None,
    max_projections: int | None = None,
) -> ForecastState:
    """The whole forecast input: venues, pairs, backlog and observed yields, in a handful of grouped queries. With
    `max_projections`, the pairs and listing history of only the venues forecast(max_projections=) will project."""
    plans = list(plans)
    ledger = ledger_so_far(session)
    backlog, pending = _retries(session)
    venues = _venues(session)
    chosen, scale = sample_venues(venues, max_projections)
    sample = None if scale == 1.0 else [v.venue_id for v in chosen]
    return ForecastState(
        venues=venues,
        pairs=_pairs(session, sample),
        providers=plans,
        yields=estimate_yields(session, plans, ledger, sample, scale),
        retries=backlog,
        pending=pending,
        max_per_provider=MAX_PER_PROVIDER,
        max_per_venue=MAX_PER_VENUE,
        refresh_endpoint=dict(refresh_endpoint or {}),
    )
