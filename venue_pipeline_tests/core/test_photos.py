"""Photo discovery under a daily quota: every venue whose listing the quota skipped is counted as deferred and
left unchecked, so it is asked again when the quota resets (issue 17, item 1)."""

from __future__ import annotations

import asyncio

import httpx

from venue_pipeline.core.errors import QuotaExhausted
from venue_pipeline.core.photos import discover_photos
from venue_pipeline.core.ports import Place, PhotoRef, ProviderClient


class _QuotaFake(ProviderClient):
    """A photo provider that answers `quota` listings, then raises QuotaExhausted like the limiter does."""

    supports_photos = True

    def __init__(self, name: str, quota: int | None) -> None:
        self.name = name  # type: ignore[misc]
        self.quota = quota
        self.calls = 0

    async def geocode(self, query, *, near=None, locality=None) -> list[Place]:  # type: ignore[no-untyped-def]
        return []

    async def search(self, name: str, lat: float, lng: float, *, radius_m: int = 250) -> list[Place]:
        return []

    async def photos(self, place_id: str) -> list[PhotoRef]:
        if self.quota is not None and self.calls >= self.quota:
            raise QuotaExhausted(self.name, self.quota)
        self.calls += 1
        await asyncio.sleep(0)
        return []

    def photo_request(self, ref: PhotoRef, *, max_px: int = 1600) -> httpx.Request:
        raise NotImplementedError

    def cost(self, endpoint_kind: str) -> float:
        return 0.0


def test_every_listing_the_quota_skipped_is_deferred_and_its_venue_left_unchecked() -> None:
    venues = list(range(1, 101))
    place_ids = {v: {"foursquare": f"fsq{v}", "google_places": f"g{v}"} for v in venues}
    clients = {"foursquare": _QuotaFake("foursquare", 16), "google_places": _QuotaFake("google_places", None)}
    completed: dict[int, bool] = {}

    def on_venue(venue_id: int, listings: list, complete: bool) -> None:  # type: ignore[type-arg]
        completed[venue_id] = complete

    result = asyncio.run(discover_photos(venues, place_ids, clients, on_venue=on_venue))
    listed = {l.venue_id for l in result.listings if l.provider == "foursquare"}
    assert len(listed) == 16
    assert result.deferred == {"foursquare": 84}  # one per venue the quota skipped, not 1
    assert sorted(v for v, complete in completed.items() if not complete) == sorted(set(venues) - listed)
    assert all(completed[v] for v in listed) and len(completed) == 100
    assert not result.errors


class _Blocked(_QuotaFake):
    """A photo provider whose every listing waits for `token` (a call waiting for its rate-limit token)."""

    def __init__(self, name: str, token: asyncio.Event) -> None:
        super().__init__(name, None)
        self.token = token

    async def photos(self, place_id: str) -> list[PhotoRef]:
        await self.token.wait()
        return await super().photos(place_id)


def test_a_provider_waiting_for_its_rate_never_holds_the_slots_other_providers_need() -> None:
    """Issue 17, item 3 in discovery: with every slot's Foursquare listing waiting, Google lists every venue."""

    async def go() -> tuple[int, int]:
        token = asyncio.Event()
        slow, fast = _Blocked("foursquare", token), _QuotaFake("google_places", None)
        place_ids = {v: {"foursquare": f"fsq{v}", "google_places": f"g{v}"} for v in range(1, 9)}
        stage = asyncio.create_task(discover_photos(list(place_ids), place_ids, {"foursquare": slow, "google_places": fast}, concurrency=2))
        for _ in range(200):
            await asyncio.sleep(0)
            if fast.calls == 8:
                break
        google_done = fast.calls
        token.set()
        result = await asyncio.wait_for(stage, 5)
        return google_done, len(result.listings)

    google_done, listings = asyncio.run(go())
    assert google_done == 8
    assert listings == 16
