"""An account's rate budget carried across owners (pipeline.carryover) on a fake loop clock:
the old owner's requests, recorded ones and those after its record, never let the new owner
exceed a window."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import msgspec
import pytest

from pipeline import carryover
from pipeline.checkpoints import Checkpoint, decode_checkpoint, encode_checkpoint
from pipeline.ratelimit import DAY, MINUTE, Lane, RateBudget, RateLimit, Window
from tests.clocks import FakeLoopTime

WALL = dt.datetime(2026, 4, 20, 9, 0, tzinfo=dt.UTC)
WEBSERVIS = RateLimit((Window(limit=25, period=MINUTE),))
ECARSI = RateLimit((Window(limit=60, period=MINUTE), Window(limit=1000, period=DAY)))


@pytest.fixture
async def clock() -> AsyncIterator[FakeLoopTime]:
    with FakeLoopTime(asyncio.get_running_loop(), start=1000.0, wall_start=WALL) as fake:
        yield fake


def busiest(times: list[float], period: float) -> int:
    """The most requests in any half-open interval ``[t, t + period)``."""
    times = sorted(times)
    return max((sum(1 for u in times if t <= u < t + period) for t in times), default=0)


async def spend(budget: RateBudget, clock: FakeLoopTime, n: int, every: float) -> list[float]:
    """``n`` poll requests, one every ``every`` seconds at best; the times they left."""
    sent = []
    for _ in range(n):
        task = asyncio.ensure_future(budget.acquire())
        while not task.done():
            await clock.advance(0.25)
        sent.append(task.result())
        await clock.advance(every)
    return sent


@pytest.mark.parametrize("paced", [True, False])
async def test_a_new_owner_never_exceeds_the_window_the_old_owner_used(
    clock: FakeLoopTime, paced: bool
) -> None:
    pace = 10 if paced else None
    old = RateBudget(WEBSERVIS, margin=1.0, pace_slices=pace)
    sent = await spend(old, clock, 22, every=0.0)
    rec = carryover.record(old, at=clock.wall, lease=10.0)
    sent += await spend(old, clock, 3, every=1.0)  # after its record, within its lease
    await clock.advance(2.0)  # killed; the group hands the account over
    new = RateBudget(WEBSERVIS, margin=1.0, pace_slices=pace)
    wire = msgspec.json.decode(msgspec.json.encode(rec), type=carryover.RequestRecord)
    seeded = carryover.seed(new, wire, now=clock.wall)
    assert seeded >= 22 + 3
    sent += await spend(new, clock, 40, every=0.0)
    assert busiest(sent, MINUTE) <= 25


async def test_without_seeding_the_new_owner_would_exceed_it(clock: FakeLoopTime) -> None:
    """The check above can fail: the same run without the record breaks the window."""
    old = RateBudget(WEBSERVIS, margin=1.0)
    sent = await spend(old, clock, 22, every=0.0)
    new = RateBudget(WEBSERVIS, margin=1.0)
    sent += await spend(new, clock, 25, every=0.0)
    assert busiest(sent, MINUTE) > 25


async def test_the_unknown_requests_are_bounded_by_the_lease_and_the_pacing(
    clock: FakeLoopTime,
) -> None:
    old = RateBudget(WEBSERVIS, margin=1.0, pace_slices=10)
    assert old.pace is not None
    burst, rate = old.pace
    rec = carryover.record(old, at=clock.wall, lease=10.0)
    assert rec.requests == 0 and rec.pace == old.pace
    # 4 s after the record: at most burst + rate * 4 requests can have left since.
    new = RateBudget(WEBSERVIS, margin=1.0)
    assert carryover.seed(new, rec, now=clock.wall + dt.timedelta(seconds=4)) == burst + 2
    assert new.usage().windows[0].used == burst + 2
    # Long after the lease: the unknown ones left by its end, long out of a minute's window.
    late = RateBudget(WEBSERVIS, margin=1.0)
    carryover.seed(late, rec, now=clock.wall + dt.timedelta(seconds=300))
    assert late.usage().windows[0].used == 0
    assert rate > 0


async def test_a_day_window_keeps_the_old_requests_and_a_minute_forgets_them(
    clock: FakeLoopTime,
) -> None:
    limit = ECARSI
    old = RateBudget(limit, margin=1.0)
    await spend(old, clock, 30, every=0.0)
    await clock.advance(3600)
    rec = carryover.record(old, at=clock.wall, lease=10.0)
    assert rec.requests == 30 and all(age >= 3600 for age, _ in rec.ages)
    assert all(age % 60 == 0 for age, _ in rec.ages)  # older than FINE_AGES: to the minute
    new = RateBudget(limit, margin=1.0)
    carryover.seed(new, rec, now=clock.wall)
    minute, day = new.usage().windows
    assert minute.used == 0 and day.used == 30


async def test_a_record_written_by_the_same_budget_is_not_counted_twice(
    clock: FakeLoopTime,
) -> None:
    budget = RateBudget(WEBSERVIS)
    await spend(budget, clock, 5, every=0.0)
    rec = carryover.record(budget, at=clock.wall, lease=10.0)
    assert carryover.seed(budget, rec, now=clock.wall) == 0
    assert budget.usage().windows[0].used == 5


async def test_without_a_record_one_shortest_window_is_waited_out(clock: FakeLoopTime) -> None:
    budget = RateBudget(ECARSI)
    assert carryover.seed(budget, None, now=clock.wall) == 60
    minute, day = budget.usage().windows
    assert minute.remaining == 0 and day.used == 60
    assert budget.usage().poll_available_in == pytest.approx(MINUTE)


async def test_seeding_keeps_at_most_a_windows_limit(clock: FakeLoopTime) -> None:
    budget = RateBudget(WEBSERVIS)
    budget.seed([1.0] * 40)
    assert budget.usage().windows[0].used == 25
    budget.seed([61.0, 90.0])  # already out of the window
    assert budget.usage().windows[0].used == 25


def test_a_checkpoint_written_before_request_records_still_loads() -> None:
    old = (
        b'{"platform":"webservis","account":"main","stream":"orders",'
        b'"cursor":"2026-04-20T09:00:00Z","fingerprints":{},"malformed":{},"swept_at":null,'
        b'"platform_state":{},"written_at":"2026-04-20T09:00:01Z","version":1}'
    )
    cp = decode_checkpoint(old)
    assert cp.requests is None and cp.cursor == WALL
    rec = carryover.RequestRecord(at=WALL, writer="w", lease=10.0, ages=[(3, 2)], pace=(2, 0.4))
    cp.requests = rec
    assert decode_checkpoint(encode_checkpoint(cp)).requests == rec
    assert isinstance(cp, Checkpoint)


async def test_a_failing_poll_gate_gives_the_slot_back(clock: FakeLoopTime) -> None:
    budget = RateBudget(WEBSERVIS)
    calls: list[str] = []

    async def gate() -> None:
        calls.append("gate")
        raise RuntimeError("lease not saved (test)")

    budget.poll_gate = gate
    with pytest.raises(RuntimeError):
        await budget.acquire()
    assert calls == ["gate"] and budget.usage().windows[0].used == 0
    assert budget.recent() == []

    await budget.acquire(Lane.COMMAND)  # commands never pass the gate
    assert calls == ["gate"] and budget.usage().windows[0].used == 1


async def test_a_per_ip_window_is_not_seeded_but_the_per_token_day_is(clock: FakeLoopTime) -> None:
    limit = RateLimit(
        (
            Window(limit=30, period=MINUTE, shared=True, reserve=0.2),
            Window(limit=1000, period=DAY, reserve=0.2),
        )
    )
    old, new = RateBudget(limit), RateBudget(limit)
    await spend(old, clock, 20, 1.0)
    rec = carryover.record(old, at=clock.wall, lease=0.0)
    assert carryover.seed(new, rec, now=clock.wall) == 20
    usage = {w.period: w for w in new.usage().windows}
    # The previous owner's 20 went out from its address (or its part of ours): not ours to count.
    assert usage[MINUTE].poll_remaining == 24
    assert usage[DAY].poll_remaining == 800 - 20
