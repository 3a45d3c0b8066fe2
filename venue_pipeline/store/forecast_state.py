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


def _pairs(session: Session) -> list[PairRecord]:
    """Every provider row with its provider's live images of the venue (one grouped query joined in)."""
    live = (
        select(VenueImageRow.venue_id, VenueImageRow.provider, func.count().label("live"))
        .where(VenueImageRow.status != ImageStatus.PERMANENTLY_FAILED)
        .group_by(VenueImageRow.venue_id, VenueImageRow.provider)
        .subquery()
    )
    r = ProviderIdRow
    stmt = select(
        r.venue_id, r.provider, r.status, r.matched_at, r.next_search_at, r.searches, r.listed_at, r.listing_streak,
        live.c.live,
    ).outerjoin(live, and_(live.c.venue_id == r.venue_id, live.c.provider == r.provider))
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


def ledger_so_far(session: Session) -> LedgerSoFar:
    """Calls and dollars per provider and endpoint, and the span of the ledger (one grouped query)."""
    paid = func.sum(func.cast(ApiCallRow.cost > 0, Integer))
    stmt = select(
        ApiCallRow.provider, ApiCallRow.endpoint, func.count(), func.sum(ApiCallRow.cost),
        func.min(ApiCallRow.called_at), func.max(ApiCallRow.called_at), paid, func.count(ApiCallRow.id).filter(
            ApiCallRow.error_type.is_(None)
        ),
    ).group_by(ApiCallRow.provider, ApiCallRow.endpoint)
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


def _listing_history(session: Session) -> dict[str, tuple[int, int, int, int, int]]:
    """Per provider: listed pairs, pairs with photos, photos of first listings, later listings that brought photos
    and their photos. A listing stamps all its new photos with one discovered_at, so a pair's earliest stamp is
    its first listing and every later stamp one later listing with a new photo (all grouped in SQL)."""
    img = VenueImageRow
    stamps = (
        select(img.provider, img.venue_id, img.discovered_at, func.count().label("n"))
        .group_by(img.provider, img.venue_id, img.discovered_at)
        .subquery()
    )
    firsts = (
        select(stamps.c.provider, stamps.c.venue_id, func.min(stamps.c.discovered_at).label("first"))
        .group_by(stamps.c.provider, stamps.c.venue_id)
        .subquery()
    )
    totals = {
        p: (int(groups), int(photos or 0))
        for p, groups, photos in session.execute(
            select(stamps.c.provider, func.count(), func.sum(stamps.c.n)).group_by(stamps.c.provider)
        )
    }
    first_stmt = (
        select(stamps.c.provider, func.count(), func.sum(stamps.c.n))
        .join(
            firsts,
            and_(
                firsts.c.provider == stamps.c.provider,
                firsts.c.venue_id == stamps.c.venue_id,
                firsts.c.first == stamps.c.discovered_at,
            ),
        )
        .group_by(stamps.c.provider)
    )
    first = {p: (int(pairs), int(photos or 0)) for p, pairs, photos in session.execute(first_stmt)}
    listed = dict(
        session.execute(
            select(ProviderIdRow.provider, func.count())
            .where(ProviderIdRow.listed_at.is_not(None))
            .group_by(ProviderIdRow.provider)
        ).all()
    )
    out: dict[str, tuple[int, int, int, int, int]] = {}
    for provider in set(listed) | set(totals):
        groups, photos = totals.get(provider, (0, 0))
        pairs, first_photos = first.get(provider, (0, 0))
        out[provider] = (int(listed.get(provider, 0)), pairs, first_photos, groups - pairs, photos - first_photos)
    return out


def estimate_yields(session: Session, plans: Sequence[ProviderPlan], ledger: LedgerSoFar) -> Yields:
    """The observed rates, each shrunk towards its prior: listings from the images' discovery times and the
    ledger's listing calls, matches from the provider rows, upload failures from upload_attempts."""
    history = _listing_history(session)
    first_hit, first_photos, repeat_hit, repeat_photos = {}, {}, {}, {}
    for plan in plans:
        if plan.listing_endpoint is None:
            continue
        listed, hit, photos, repeat_listings_hit, repeat_n = history.get(plan.name, (0, 0, 0, 0, 0))
        first_hit[plan.name] = min(_rate(hit, listed, 0.5, 1.0), 1.0)
        first_photos[plan.name] = photos / hit if hit else PRIOR_PHOTOS_PER_HIT
        ok_listings = ledger.answered.get((plan.name, plan.listing_endpoint), 0)
        repeats = max(ok_listings - listed, 0)
        repeat_hit[plan.name] = _rate(repeat_listings_hit, repeats, PRIOR_REPEAT_HIT)
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
    return Yields(
        billed_share=billed,
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
    session: Session, plans: Iterable[ProviderPlan], refresh_endpoint: Mapping[str, str] | None = None
) -> ForecastState:
    """The whole forecast input: venues, pairs, backlog and observed yields, in a handful of grouped queries."""
    plans = list(plans)
    ledger = ledger_so_far(session)
    backlog, pending = _retries(session)
    return ForecastState(
        venues=_venues(session),
        pairs=_pairs(session),
        providers=plans,
        yields=estimate_yields(session, plans, ledger),
        retries=backlog,
        pending=pending,
        max_per_provider=MAX_PER_PROVIDER,
        max_per_venue=MAX_PER_VENUE,
        refresh_endpoint=dict(refresh_endpoint or {}),
    )
