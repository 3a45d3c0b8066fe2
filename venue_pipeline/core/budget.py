"""A run's share of a provider's daily quota: the policy (proportional to due work) and the client that keeps to it.

A provider with a daily quota (Foursquare's 500 calls on the free plan) cannot serve every city in one day, and a
first-come rule lets the first city's ID stage spend the day's calls before any other city (or its own discovery)
runs. Instead each stage run gets a budget:

- its city's share of what is left of today's quota, in proportion to the due work of the run's venues against the
  due work of every other city not yet served today (`city_share`); a city served earlier today already had its
  share, so the cities still waiting split what is left as they would have split the whole day's quota;
- due work counts an ID lookup twice when the provider lists photos (the lookup and the listing it should bring)
  and a due listing once (`due_work`);
- the ID stage may spend only the lookups' part of the share (`id_stage_cap`): the listings' part is reserved for
  discovery, which gets its own share when it starts.

Calls past a budget raise `BudgetSpent`, a QuotaExhausted: the work is stored as deferred and asked again when the
quota resets, exactly like work past the daily quota itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from venue_pipeline.core.errors import QuotaExhausted
from venue_pipeline.core.ports import CallTurn, Place, PhotoRef, ProviderClient


@dataclass(frozen=True)
class DueWork:
    """One provider's work still due for a set of venues: ID lookups and photo listings, in venues."""

    lookups: int = 0
    listings: int = 0


def due_work(work: DueWork, lists_photos: bool) -> int:
    """Calls the work is expected to take: a lookup of a photo provider brings a listing, so it counts twice."""
    return work.lookups * (2 if lists_photos else 1) + (work.listings if lists_photos else 0)


def city_share(remaining: int, own: int, others: int) -> int:
    """The run's calls out of `remaining`: proportional to its own due work against the waiting cities' work."""
    if remaining <= 0 or own <= 0:
        return 0
    if others <= 0:
        return remaining
    return min(remaining, remaining * own // (own + others))


def id_stage_cap(share: int, work: DueWork, lists_photos: bool) -> int:
    """The part of a share the ID stage may spend: its lookups' part; the listings' part stays for discovery."""
    total = due_work(work, lists_photos)
    if total <= 0:
        return 0
    return share * work.lookups // total


class BudgetSpent(QuotaExhausted):
    """This run's share of the provider's daily quota is spent: the rest is deferred like quota-exhausted work."""

    def __init__(self, provider: str, budget: int) -> None:
        super().__init__(provider, budget)
        self.message = f"this run's share of the daily quota ({budget} calls) used up"


class BudgetedClient(ProviderClient):
    """A provider client that makes at most `budget` calls (geocode, search, photos), then raises BudgetSpent."""

    def __init__(self, inner: ProviderClient, budget: int) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]
        self.supports_photos = inner.supports_photos  # type: ignore[misc]
        self.photo_hosts = inner.photo_hosts  # type: ignore[misc]
        self.budget = budget
        self.spent = 0

    def _take(self) -> None:
        if self.spent >= self.budget:
            raise BudgetSpent(self.name, self.budget)
        self.spent += 1

    async def geocode(
        self, query: str, *, near: tuple[float, float] | None = None, locality: str | None = None
    ) -> list[Place]:
        self._take()
        return await self.inner.geocode(query, near=near, locality=locality)

    async def search(self, name: str, lat: float, lng: float, *, radius_m: int = 250) -> list[Place]:
        self._take()
        return await self.inner.search(name, lat, lng, radius_m=radius_m)

    async def photos(self, place_id: str) -> list[PhotoRef]:
        self._take()
        return await self.inner.photos(place_id)

    def photo_request(self, ref: PhotoRef, *, max_px: int = 1600) -> httpx.Request:
        return self.inner.photo_request(ref, max_px=max_px)

    def cost(self, endpoint_kind: str) -> float:
        return self.inner.cost(endpoint_kind)

    async def photo_turn(self) -> CallTurn | None:
        return await self.inner.photo_turn()


def with_budgets(clients: Mapping[str, ProviderClient], budgets: Mapping[str, int]) -> dict[str, ProviderClient]:
    """The clients, those with a budget wrapped so they keep to it."""
    return {p: BudgetedClient(c, budgets[p]) if p in budgets else c for p, c in clients.items()}
