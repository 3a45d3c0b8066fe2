"""Each city stage's share of the providers' daily quotas (the policy is core/budget.py), from the store's due work."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from venue_pipeline.core.budget import DueWork, city_share, due_work, id_stage_cap
from venue_pipeline.services import Services, Settings
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.quota_shares import due_by_city, served_today


def stage_budgets(
    settings: Settings,
    services: Services,
    city: str | None,
    venue_ids: Sequence[int],
    stage: str,
    now: datetime | None = None,
) -> dict[str, int]:
    """Calls each quota-limited provider may take in this stage (`ids` or `discovery`) of this city's run. A run
    over every city (no `city`) keeps to the daily quota alone: there is nobody to share with. Due work and the
    cities served today are read at the stage's clock `now`; what is left of the quota comes from the call ledger,
    on the same clock when the stage was given one (StageRun)."""
    if city is None:
        return {}
    now = now or datetime.now(timezone.utc)
    budgets: dict[str, int] = {}
    for conf in settings.provider_settings():
        client = services.clients.get(conf.name)
        if client is None or conf.daily_quota is None:
            continue
        remaining = conf.daily_quota - services.ledger.calls_today(conf.name)
        with session_scope(settings.db_url) as session:
            everywhere = due_by_city(session, conf.name, now)
            mine = due_by_city(session, conf.name, now, venue_ids=venue_ids)
            served = served_today(session, conf.name, now)
        own = DueWork(sum(w.lookups for w in mine.values()), sum(w.listings for w in mine.values()))
        lists = client.supports_photos
        others = sum(due_work(w, lists) for c, w in everywhere.items() if c != city and c not in served)
        share = city_share(remaining, due_work(own, lists), others)
        budgets[conf.name] = id_stage_cap(share, own, lists) if stage == "ids" else share
    return budgets
