"""The adaptive transfer limit's rule, driven by a fake clock: grows while latency holds and every slot is used,
shrinks on overload answers and on queueing, stays within its bounds and under a rate cap (issue 14)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest

from venue_pipeline.core.adaptive import AdaptiveLimit, TransferLimits


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def one_round(limit: AdaptiveLimit, clock: FakeClock, latency_s: float, *, used: int | None = None, overloaded: int = 0) -> int:
    """Holds `used` slots (all of them by default) for latency_s of fake time, `overloaded` of them marked as
    overload answers; returns the limit after the round."""

    async def go() -> None:
        async with AsyncExitStack() as stack:
            n = limit.current if used is None else used
            slots = [await stack.enter_async_context(limit.slot()) for _ in range(n)]
            for slot in slots[:overloaded]:
                slot.overloaded = True
            clock.now += latency_s

    asyncio.run(go())
    return limit.current


def make(**kw: object) -> tuple[AdaptiveLimit, FakeClock]:
    clock = FakeClock()
    return AdaptiveLimit("photos", clock=clock, **kw), clock  # type: ignore[arg-type]


def test_doubles_while_latency_holds_then_stops_at_the_maximum() -> None:
    limit, clock = make(initial=4, maximum=16)
    assert [one_round(limit, clock, 0.1) for _ in range(4)] == [8, 16, 16, 16]
    assert limit.peak == 16 and limit.decreases == 0


def test_an_overload_answer_cuts_the_limit_then_it_grows_one_at_a_time() -> None:
    limit, clock = make(initial=4, maximum=32)
    for _ in range(3):
        one_round(limit, clock, 0.1)
    assert limit.current == 32
    assert one_round(limit, clock, 0.1, overloaded=1) == 22  # 32 x 0.7
    assert [one_round(limit, clock, 0.1) for _ in range(3)] == [23, 24, 25]  # slow start is over


def test_queueing_latency_shrinks_the_limit() -> None:
    limit, clock = make(initial=8, maximum=16)
    one_round(limit, clock, 0.1)  # baseline 0.1 s, grows to 16
    assert one_round(limit, clock, 0.25) == 14  # median 2.5x the baseline: 16 x 0.9
    assert limit.decreases == 1


def test_latency_alone_never_takes_it_below_where_it_started_but_overloads_do() -> None:
    limit, clock = make(initial=4, minimum=1, maximum=16)
    one_round(limit, clock, 0.01)
    for _ in range(30):
        one_round(limit, clock, 0.5)  # 50x the baseline: queueing, again and again
    assert limit.current == 4
    for _ in range(5):
        one_round(limit, clock, 0.5, overloaded=1)
    assert limit.current == 1


def test_a_rise_of_a_few_milliseconds_is_noise_not_queueing() -> None:
    limit, clock = make(initial=4, maximum=16)
    one_round(limit, clock, 0.001)
    assert one_round(limit, clock, 0.005) == 16  # 5x the baseline but only 4 ms more: still grows
    assert limit.decreases == 0


def test_no_growth_without_demand() -> None:
    limit, clock = make(initial=4, maximum=16)
    for _ in range(3):
        one_round(limit, clock, 0.1, used=2)
    assert limit.current == 4


def test_overloads_never_take_it_below_the_minimum() -> None:
    limit, clock = make(initial=4, minimum=2, maximum=16)
    for _ in range(6):
        one_round(limit, clock, 0.1, overloaded=1)
    assert limit.current == 2


def test_a_rate_cap_holds_slots_to_rate_times_latency() -> None:
    limit, clock = make(initial=4, maximum=32, rate_cap=50.0)
    for _ in range(5):
        one_round(limit, clock, 0.1)
    assert limit.current == 5  # 50 requests/s x 0.1 s: more slots would outrun the provider's rate


def test_under_a_rate_cap_slower_answers_allow_more_slots() -> None:
    limit, clock = make(initial=4, maximum=32, rate_cap=50.0, tolerance=100.0)  # no queueing cuts in this test
    for _ in range(3):
        one_round(limit, clock, 0.1)
    assert limit.current == 5
    for _ in range(4):
        one_round(limit, clock, 0.3)
    assert limit.current == 15  # 50/s x 0.3 s: N / W stays at the rate


def test_the_baseline_ages_so_an_old_low_does_not_pin_the_limit() -> None:
    limit, clock = make(initial=4, maximum=16)
    one_round(limit, clock, 0.05)  # baseline 0.05 s
    sizes = [one_round(limit, clock, 0.12) for _ in range(80)]  # the path is slower now, for good
    assert sizes[-1] == 16 and min(sizes) < 16  # it shrank at first, then the baseline caught up


def test_a_cancelled_transfer_is_not_measured() -> None:
    limit, clock = make(initial=4)

    async def go() -> None:
        async def hold() -> None:
            async with limit.slot():
                await asyncio.sleep(10)

        task = asyncio.create_task(hold())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert limit.completed == 0 and limit.in_flight == 0


def test_many_tasks_never_exceed_the_limit_and_all_finish() -> None:
    clock = FakeClock()
    limit = AdaptiveLimit("cdn", initial=2, maximum=8, clock=clock)
    seen: list[int] = []

    async def transfer() -> None:
        async with limit.slot():
            seen.append(limit.in_flight)
            assert limit.in_flight <= limit.current
            await asyncio.sleep(0)
            clock.now += 0.01

    async def go() -> None:
        await asyncio.gather(*(transfer() for _ in range(200)))

    asyncio.run(go())
    assert len(seen) == 200 and limit.in_flight == 0
    assert max(seen) <= 8 and limit.peak > 2  # it grew while every slot was busy


def test_transfer_limits_one_per_provider_with_its_rate_cap() -> None:
    limits = TransferLimits(rate_caps={"google_places": 50.0})
    assert limits.photo("google_places") is limits.photo("google_places")
    assert limits.photo("google_places").rate_cap == 50.0 and limits.photo("foursquare").rate_cap is None
    assert set(limits.peaks()) == {"foursquare", "google_places", "cdn"}


def test_waiters_get_slots_in_arrival_order_and_a_cancelled_waiter_loses_none() -> None:
    limit, clock = make(initial=1, minimum=1, maximum=1)
    order: list[str] = []

    async def go() -> None:
        release = asyncio.Event()

        async def holder() -> None:
            async with limit.slot():
                order.append("a")
                await release.wait()

        async def waiter(name: str) -> None:
            async with limit.slot():
                order.append(name)

        a = asyncio.create_task(holder())
        await asyncio.sleep(0)
        b, c, d = (asyncio.create_task(waiter(n)) for n in "bcd")
        await asyncio.sleep(0)
        assert len(limit._waiters) == 3
        b.cancel()
        release.set()
        await asyncio.gather(a, c, d)
        with pytest.raises(asyncio.CancelledError):
            await b

    asyncio.run(go())
    assert order == ["a", "c", "d"] and limit.in_flight == 0 and not limit._waiters


def test_a_slot_handed_to_a_waiter_cancelled_before_it_ran_goes_to_the_next() -> None:
    limit, clock = make(initial=1, minimum=1, maximum=1)
    order: list[str] = []

    async def go() -> None:
        async def waiter(name: str) -> None:
            async with limit.slot():
                order.append(name)

        async with limit.slot():
            b, c = asyncio.create_task(waiter("b")), asyncio.create_task(waiter("c"))
            await asyncio.sleep(0)
        b.cancel()  # b was handed the slot on release above but has not run yet
        await c
        with pytest.raises(asyncio.CancelledError):
            await b

    asyncio.run(go())
    assert order == ["c"] and limit.in_flight == 0
