"""A stop signal is honoured within the worker's deadline.

The chaos run saw a ``pipeline run`` worker poll on for 20 s after SIGTERM: a rebalance of the
poll group handed it accounts while it was stopping the ones it had, and the new pollers were
started (with stop events nobody would set) into the task group the shutdown was waiting for.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import TopicPartition

from pipeline.fleet import PollFleet, account_partition
from pipeline.worker import run_until_stopped
from schemas import topics
from tests.test_apply_takeover import Takeover, takeover  # noqa: F401 - a fixture


class _Poller:
    """Polls until told to stop; ``slow`` ones take a while to notice (a cycle in flight)."""

    def __init__(self, key: str, slow: bool) -> None:
        self.key, self.slow = key, slow
        self.stopped = False

    async def load(self) -> None:
        return None

    async def run(self, stop: asyncio.Event) -> None:
        await stop.wait()
        if self.slow:
            await asyncio.sleep(0.3)
        self.stopped = True


class _Consumer:
    """The group as the fleet sees it: the first fetch assigns the first account."""

    def __init__(self, first: int) -> None:
        self.first = first
        self.listener: Any = None
        self.fetches = 0

    async def start(self) -> None:
        return None

    def subscribe(self, _topics: list[str], listener: Any) -> None:
        self.listener = listener

    async def getmany(self, **_: Any) -> dict[Any, Any]:
        self.fetches += 1
        if self.fetches == 1:
            await self.listener.on_partitions_assigned(
                {TopicPartition(topics.ACCOUNTS, self.first)}
            )
        await asyncio.sleep(0.01)
        return {}

    async def stop(self) -> None:
        return None


async def test_an_assignment_during_the_shutdown_starts_no_poller() -> None:
    accounts = [("pazarama", "a"), ("pazarama", "b")]
    parts = [account_partition(p, a, 12) for p, a in accounts]
    first, second = parts
    assert first != second  # the two accounts sit on different partitions
    made: dict[str, _Poller] = {}

    async def make(platform: str, account: str) -> _Poller:
        made[account] = _Poller(f"{platform}:{account}", slow=account == "a")
        return made[account]

    consumer = _Consumer(first)
    fleet = PollFleet(
        accounts,
        make_poller=make,  # type: ignore[arg-type]
        consumer_factory=lambda: consumer,  # type: ignore[arg-type,return-value]
        partitions=12,
        start_spread=0.0,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(fleet.run(stop))
    async with asyncio.timeout(10):
        while "a" not in made:
            await asyncio.sleep(0.01)
    stop.set()
    await asyncio.sleep(0.1)  # the fleet is stopping "a" (slow to notice)
    # A rebalance hands the worker "b" now.
    await consumer.listener.on_partitions_assigned({TopicPartition(topics.ACCOUNTS, second)})
    async with asyncio.timeout(10):  # before the fix: never (b's poller ran on)
        await task
    assert made["a"].stopped
    assert "b" not in made or not fleet.state.accounts


async def test_a_worker_that_ignores_its_stop_is_cancelled_after_the_deadline() -> None:
    stop = asyncio.Event()
    cancelled = asyncio.Event()

    async def deaf() -> None:
        try:
            await asyncio.Event().wait()  # never looks at stop
        finally:
            cancelled.set()

    task = asyncio.create_task(run_until_stopped(deaf(), stop, deadline=0.2, grace=1.0))
    await asyncio.sleep(0.05)
    assert not task.done()
    stop.set()
    assert await asyncio.wait_for(task, 5) is True
    assert cancelled.is_set()


async def test_a_worker_that_ignores_its_cancellation_is_given_up() -> None:
    stop = asyncio.Event()
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # swallows it: what a hung library call looks like from here

    stop.set()
    answer = await asyncio.wait_for(run_until_stopped(stubborn(), stop, deadline=0.1, grace=0.1), 5)
    assert answer is False
    release.set()  # let it end, so the test leaves nothing behind


async def test_a_failure_of_the_roles_is_raised() -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    try:
        await run_until_stopped(broken(), asyncio.Event())
    except RuntimeError as exc:
        assert str(exc) == "boom"
    else:
        raise AssertionError("not raised")


async def test_a_worker_started_while_the_broker_is_away_waits_for_it(
    takeover: Takeover,  # noqa: F811 - the fixture imported above
) -> None:
    # Found by the chaos run: a worker restarted during a broker cut exited ("cannot reach
    # Kafka"), leaving its share of the fleet to the others until someone restarted it.
    proxy, worker = takeover.proxy, takeover.worker
    await proxy.cut()
    # Told to stop while it waits: it ends at once, having started nothing.
    stop = asyncio.Event()
    first = asyncio.create_task(worker().run(stop))
    await asyncio.sleep(2.0)
    assert not first.done()
    stop.set()
    await asyncio.wait_for(first, 5)
    # Left to wait: it runs once the broker is back.
    stop = asyncio.Event()
    waiting = worker()
    task = asyncio.create_task(waiting.run(stop))
    await asyncio.sleep(3.0)
    assert not task.done() and waiting.commands is None
    await proxy.restore()
    async with asyncio.timeout(40):
        while not (waiting.commands and waiting.commands.assigned_partitions):
            assert not task.done(), task
            await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, 30)
    assert waiting.stopped_cleanly
