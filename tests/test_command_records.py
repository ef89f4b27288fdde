"""The apply role's request records (pipeline.command_records): no command request leaves before
a record counting it is acknowledged, and a new owner of an account's commands counts exactly what
the old one sent -- every window, the day included -- and nothing for an account without
records. Unit tests on a fake loop clock; the last test runs two apply workers against the real
broker and a sandbox and replays the sandbox's request log."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import msgspec
import pytest

from pipeline import checker
from pipeline.broker import EmbeddedBroker
from pipeline.checkpoints import COMMANDS_STREAM, Checkpoint, MemoryCheckpointStore
from pipeline.command_records import CommandRecords
from pipeline.config import RateLimitConfig, RateLimitDefaults
from pipeline.errors import BrokerError
from pipeline.ratelimit import MINUTE, Lane, RateBudget
from pipeline.sandbox import SandboxSettings, serve
from pipeline.topics import ensure_topics
from pipeline.up import build_sandboxes, sandbox_config
from pipeline.worker import Worker, prepare_accounts
from tests.clocks import FakeLoopTime
from tests.test_carryover import ECARSI, WALL, busiest
from tests.test_role_shares import send_ships, ships

SHARE = 0.2  # ECARSI: 12 of the minute's 60, 200 of the day's 1000 are the commands'


@pytest.fixture
async def clock() -> AsyncIterator[FakeLoopTime]:
    with FakeLoopTime(asyncio.get_running_loop(), start=1000.0, wall_start=WALL) as fake:
        yield fake


class Wall:
    def __init__(self, clock: FakeLoopTime) -> None:
        self.clock = clock

    def now(self) -> dt.datetime:
        return self.clock.wall


def apply_budget() -> RateBudget:
    return RateBudget(ECARSI.with_share(SHARE), split=True, serves=frozenset({Lane.COMMAND}))


async def send(budget: RateBudget, clock: FakeLoopTime, n: int, every: float) -> list[float]:
    """``n`` command requests, one every ``every`` seconds at best; the times they left."""
    sent = []
    for _ in range(n):
        task = asyncio.ensure_future(budget.acquire(Lane.COMMAND))
        while not task.done():
            await clock.advance(0.25)
        sent.append(task.result())
        await clock.advance(every)
    return sent


def remaining(budget: RateBudget) -> list[int]:
    return [w.command_remaining for w in budget.usage().windows]


class HeldStore(MemoryCheckpointStore):
    """Saves wait for ``release``; the first ``failures`` saves fail as a broker would."""

    def __init__(self, failures: int = 0) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.release.set()
        self.failures = failures
        self.attempts = 0

    async def save(self, checkpoint: Checkpoint) -> None:
        self.attempts += 1
        await self.release.wait()
        if self.failures:
            self.failures -= 1
            raise BrokerError("broker away")
        await super().save(checkpoint)


def held(clock: FakeLoopTime, failures: int = 0) -> tuple[HeldStore, CommandRecords, RateBudget]:
    """A store whose saves wait, records over it, and an apply budget attached to them."""
    store = HeldStore(failures)
    records = CommandRecords(store, Wall(clock))
    budget = apply_budget()
    records.attach("ecarsi", "a", budget)
    return store, records, budget


async def record_of(store: MemoryCheckpointStore, account: str = "a") -> Checkpoint:
    key = f"ecarsi:{account}:{COMMANDS_STREAM}"
    return (await store.load_keys([key]))[key]


async def test_no_command_request_leaves_before_its_record_is_acknowledged(
    clock: FakeLoopTime,
) -> None:
    store, _records, budget = held(clock)
    store.release.clear()
    task = asyncio.ensure_future(budget.acquire(Lane.COMMAND))
    await clock.advance(5.0)
    assert not task.done() and store.attempts == 1
    store.release.set()
    await clock.advance(0.0)
    assert task.done()
    cp = await record_of(store)
    assert cp.requests is not None and cp.requests.requests == 1 and cp.requests.lease == 0.0


async def test_requests_granted_during_a_save_share_the_next_one(clock: FakeLoopTime) -> None:
    store, _records, budget = held(clock)
    store.release.clear()
    tasks = [asyncio.ensure_future(budget.acquire(Lane.COMMAND)) for _ in range(4)]
    await clock.advance(0.0)
    assert store.attempts == 1 and not any(t.done() for t in tasks)
    store.release.set()
    await clock.advance(0.0)
    assert all(t.done() for t in tasks)
    assert store.saves == 2  # the first grant's save, then one for the three granted meanwhile
    cp = await record_of(store)
    assert cp.requests is not None and cp.requests.requests == 4


async def test_a_failed_save_is_retried_and_its_request_waits(clock: FakeLoopTime) -> None:
    store, records, budget = held(clock, failures=2)
    task = asyncio.ensure_future(budget.acquire(Lane.COMMAND))
    await clock.advance(0.2)
    assert not task.done() and records.save_failures == 1
    for _ in range(8):
        await clock.advance(0.5)
    assert task.done() and records.save_failures == 2 and store.saves == 1


async def test_a_cancelled_request_waiting_for_its_record_gives_its_slot_back(
    clock: FakeLoopTime,
) -> None:
    store, _records, budget = held(clock)
    store.release.clear()
    task = asyncio.ensure_future(budget.acquire(Lane.COMMAND))
    await clock.advance(0.0)
    task.cancel()
    await clock.advance(0.0)
    assert remaining(budget) == [12, 200]


@pytest.mark.parametrize(
    ("sent", "every", "pause"), [(5, 3.0, 2.0), (12, 1.0, 10.0), (3, 20.0, 1.0)]
)
async def test_a_new_owner_counts_exactly_what_the_old_one_sent(
    clock: FakeLoopTime, sent: int, every: float, pause: float
) -> None:
    store = MemoryCheckpointStore()
    old, new = apply_budget(), apply_budget()
    CommandRecords(store, Wall(clock)).attach("ecarsi", "a", old)
    times = await send(old, clock, sent, every)
    await clock.advance(pause)  # the fence: the new owner reads after the old one's window
    records = CommandRecords(store, Wall(clock))
    counted = await records.take_over([("ecarsi", "a", new)])
    assert counted == {"ecarsi:a": sent}
    assert records.counted == {"ecarsi:a": sent}
    records.attach("ecarsi", "a", new)
    # ... and then sends as fast as it may, for two minutes.
    start = clock.now
    while clock.now < start + 2 * MINUTE:
        times += await send(new, clock, 1, 0.0)
    every_window = [w for w in ECARSI.with_share(SHARE).windows]
    minute = next(w for w in every_window if w.period == MINUTE)
    assert busiest(times, MINUTE) <= minute.command_share
    assert len(times) >= sent + 2 * 12 - 1  # it was not held back beyond the truth


async def test_the_day_window_is_carried(clock: FakeLoopTime) -> None:
    store = MemoryCheckpointStore()
    old, new = apply_budget(), apply_budget()
    CommandRecords(store, Wall(clock)).attach("ecarsi", "a", old)
    await send(old, clock, 150, 10.0)  # 25 minutes, well past a record's fine ages
    await clock.advance(3 * MINUTE)
    records = CommandRecords(store, Wall(clock))
    assert await records.take_over([("ecarsi", "a", new)]) == {"ecarsi:a": 150}
    assert remaining(new) == [12, 50]


async def test_an_account_without_records_is_not_charged(clock: FakeLoopTime) -> None:
    store = MemoryCheckpointStore()
    new = apply_budget()
    records = CommandRecords(store, Wall(clock))
    assert await records.take_over([("ecarsi", "a", new)]) == {}
    assert remaining(new) == [12, 200]
    records.attach("ecarsi", "a", new)
    task = asyncio.ensure_future(new.acquire(Lane.COMMAND))
    await clock.advance(0.0)
    assert task.done()


async def test_a_record_of_another_account_or_its_own_is_not_counted(clock: FakeLoopTime) -> None:
    store = MemoryCheckpointStore()
    old, new = apply_budget(), apply_budget()
    CommandRecords(store, Wall(clock)).attach("ecarsi", "b", old)
    await send(old, clock, 4, 1.0)
    records = CommandRecords(store, Wall(clock))
    assert await records.take_over([("ecarsi", "a", new)]) == {}
    assert await CommandRecords(store, Wall(clock)).take_over([("ecarsi", "b", old)]) == {}
    assert remaining(old) == [8, 196]


# -- two apply workers, the real broker, a sandbox --------------------------------------------


async def _until(check: object, within: float) -> None:
    async with asyncio.timeout(within):
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.1)


@pytest.mark.timeout(90)
async def test_the_next_apply_worker_counts_the_previous_ones_requests() -> None:
    per_minute = 40  # commands: 20 a minute (a Pazarama shipment costs ~5 with its token)
    boxes = build_sandboxes(["pazarama"], SandboxSettings(seed=12, initial_orders=20))
    async with EmbeddedBroker() as broker, serve(boxes) as served:
        config, environ = sandbox_config(served, broker.bootstrap)
        limits = RateLimitConfig(per_minute=per_minute)
        config = msgspec.structs.replace(
            config,
            accounts=[msgspec.structs.replace(a, rate_limit=limits) for a in config.accounts],
            rate_limit=RateLimitDefaults(commands_share=0.5),
        )
        accounts = prepare_accounts(config, environ)

        def worker() -> Worker:
            return Worker(
                config,
                accounts,
                bootstrap=broker.bootstrap,
                embedded=True,  # a short session: the takeover is quick
                roles=frozenset({"apply"}),
            )

        box = served[0].sandbox
        await ensure_topics(broker.bootstrap, replication_factor=1)
        first, second = worker(), worker()
        stop = asyncio.Event()
        task = asyncio.create_task(first.run(stop))
        await send_ships(broker.bootstrap, ships(box, 2, prefix="records"))
        budget = first.budget("pazarama", "main")
        await _until(lambda: first.commands and sum(first.commands.stats.results.values()) >= 2, 40)
        stop.set()
        await task
        spent = budget.usage().command.acquired
        assert spent >= 2 and first.command_records is not None
        assert first.command_records.saves >= 1

        stop = asyncio.Event()
        task = asyncio.create_task(second.run(stop))
        await send_ships(broker.bootstrap, ships(box, 1, first=2, prefix="records"))
        await _until(
            lambda: second.commands and sum(second.commands.stats.results.values()) >= 1, 40
        )
        stop.set()
        await task
        assert second.command_records is not None
        assert second.command_records.counted == {"pazarama:main": spent}
        found = checker.window_violations(
            box.log.entries, limit=per_minute // 2, window=MINUTE, key=lambda e: e.tenant
        )
        assert found == [], f"{len(found)} requests over {per_minute // 2}/min"
