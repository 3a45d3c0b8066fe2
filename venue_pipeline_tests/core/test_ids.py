"""The ID stage's scheduling: one provider waiting for its rate never holds the slots other providers need."""

from __future__ import annotations

import asyncio

import httpx

from venue_pipeline.core.ids import resolve_ids
from venue_pipeline.core.ports import Place, PhotoRef, ProviderClient
from venue_pipeline.core.venue import Venue


def _venues(n: int) -> list[Venue]:
    return [
        Venue(id=i, name=f"The Crown {i}", slug=f"crown-{i}", city_slug="norwich", city_name="Norwich",
              address=f"{i} High Street", postcode="NR1 1AA", country="United Kingdom", lat=52.63 + i / 1000, lng=1.29)
        for i in range(1, n + 1)
    ]


class _Fake(ProviderClient):
    """A provider whose searches answer nothing, each once `gate` is open (a closed gate stands for a call
    waiting for its rate-limit token)."""

    def __init__(self, name: str, gate: asyncio.Event | None = None) -> None:
        self.name = name  # type: ignore[misc]
        self.gate = gate
        self.searched: set[int] = set()

    async def geocode(self, query, *, near=None, locality=None) -> list[Place]:  # type: ignore[no-untyped-def]
        return []

    async def search(self, name: str, lat: float, lng: float, *, radius_m: int = 250) -> list[Place]:
        if self.gate is not None:
            await self.gate.wait()
        self.searched.add(int(name.rsplit(" ", 1)[1]))
        return []

    async def photos(self, place_id: str) -> list[PhotoRef]:
        return []

    def photo_request(self, ref: PhotoRef, *, max_px: int = 1600) -> httpx.Request:
        raise NotImplementedError

    def cost(self, endpoint_kind: str) -> float:
        return 0.0


def test_a_provider_waiting_for_its_rate_never_holds_the_slots_other_providers_need() -> None:
    """Issue 17, item 3: with every slot taken by venues waiting on Foursquare, HERE still searches every venue."""

    async def go() -> tuple[set[int], int]:
        token = asyncio.Event()
        slow, fast = _Fake("foursquare", token), _Fake("here")
        stage = asyncio.create_task(resolve_ids(_venues(8), {}, {"foursquare": slow, "here": fast}, concurrency=2))
        for _ in range(200):  # HERE may go on while Foursquare waits
            await asyncio.sleep(0)
            if len(fast.searched) == 8:
                break
        here_done = set(fast.searched)
        token.set()  # Foursquare's tokens come: the stage ends
        result = await asyncio.wait_for(stage, 5)
        return here_done, len(result.records)

    here_done, records = asyncio.run(go())
    assert here_done == set(range(1, 9))
    assert records == 16  # every venue decided at both providers once Foursquare answered
