"""A command in flight when its partition moves to another worker gets exactly one result.

Two apply workers in this process, a real Tansu broker behind a :class:`TcpProxy` (so the
broker can be cut), a Pazarama sandbox whose first status write is held back (a write in
flight). Worker A takes the command; then worker B joins (and, in the second test, the broker
is cut for longer than the session timeout first). Tansu gives A's partitions to B while A is
still busy with the write; B re-applies the command. Before the fix, A published its own late
result too: two different results for one command (the chaos run's ``extra_result``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from pipeline.broker import EmbeddedBroker, find_free_port
from pipeline.bus import KafkaEventPublisher
from pipeline.netproxy import TcpProxy
from pipeline.sandbox import SandboxSettings, serve
from pipeline.sandbox.faults import FaultRule
from pipeline.up import build_sandboxes, sandbox_config
from pipeline.worker import Worker, prepare_accounts
from schemas import CommandResult, OrderStatus, SetStatus, encode_command, topics
from tests.test_command_consumer import _read_all

#: How long the first status write is held: longer than B's join, read and apply together.
HELD = 12.0


@dataclass
class Takeover:
    proxy: TcpProxy
    box: object
    worker: Callable[[], Worker]
    order_id: str

    async def results(self, command_id: str) -> list[CommandResult]:
        from schemas import decode_result

        values = await _read_all(self.proxy.address, topics.COMMAND_RESULTS)
        return [r for r in map(decode_result, values) if r.command_id == command_id]


@pytest.fixture
async def takeover() -> AsyncIterator[Takeover]:
    [box] = build_sandboxes(["pazarama"], SandboxSettings(seed=3, initial_orders=10))
    box.limits.rules.clear()
    port = find_free_port()
    async with (
        TcpProxy("127.0.0.1", port) as proxy,
        EmbeddedBroker(port=port, advertised_port=proxy.port),
        serve([box]) as served,
    ):
        config, environ = sandbox_config(served, proxy.address)

        def worker() -> Worker:
            return Worker(
                config,
                prepare_accounts(config, environ),
                bootstrap=proxy.address,
                embedded=True,  # 2 s session, 200 ms heartbeats
                roles=frozenset({"apply"}),
            )

        order = box.world.orders[0].id
        yield Takeover(proxy, box, worker, order)


async def _until(check: Callable[[], Awaitable[bool] | bool], within: float, what: str) -> None:
    async with asyncio.timeout(within):
        while True:
            answer = check()
            if not isinstance(answer, bool):
                answer = await answer
            if answer:
                return
            await asyncio.sleep(0.1)
    raise AssertionError(what)  # pragma: no cover - the timeout raises first


async def _scenario(t: Takeover, command_id: str, *, cut: float) -> list[CommandResult]:
    stops = [asyncio.Event(), asyncio.Event()]
    workers = [t.worker(), t.worker()]
    tasks = [asyncio.create_task(workers[0].run(stops[0]))]
    key = topics.account_key("pazarama", "main")
    try:
        if cut:  # both members in the group before the cut
            await _until(lambda: _holds(workers[0]), 30, "never assigned")
            tasks.append(asyncio.create_task(workers[1].run(stops[1])))
            await _until(lambda: all(_holds(w) for w in workers), 30, "never split")
        else:
            await _until(lambda: _holds(workers[0]), 30, "never assigned")
        # The next status write is held: A's write is in flight when the partition moves.
        t.box.faults.add(  # type: ignore[attr-defined]
            FaultRule(kind="latency", method="PUT,POST", path="^/order/", times=1, seconds=HELD)
        )
        command = SetStatus(
            command_id=command_id,
            platform="pazarama",
            account="main",
            order_id=t.order_id,
            issued_at=dt.datetime.now(dt.UTC),
            status=OrderStatus.PREPARING,
        )
        async with KafkaEventPublisher(t.proxy.address, embedded=True) as pub:
            await pub.send_raw(topics.COMMANDS, key, encode_command(command))
        await _until(
            lambda: t.box.faults.rules[0].fired == 1,  # type: ignore[attr-defined]
            30,
            "the write never reached the sandbox",
        )
        if cut:
            await t.proxy.cut()
            await asyncio.sleep(cut)  # longer than the 2 s session
            await t.proxy.restore()
        else:
            tasks.append(asyncio.create_task(workers[1].run(stops[1])))

        async def settled() -> bool:
            busy = any(w.commands is not None and w.commands._active for w in workers)
            return bool(await t.results(command_id)) and not busy

        try:
            await _until(settled, 60, "no result")
        except TimeoutError:
            raise AssertionError(f"no result: {[_state(w) for w in workers]}") from None
        await asyncio.sleep(3)  # room for a late second result
        return await t.results(command_id)
    finally:
        for stop in stops:
            stop.set()
        for task in tasks:
            await asyncio.wait_for(task, 60)


def _state(worker: Worker) -> dict[str, object]:
    c = worker.commands
    if c is None:
        return {}
    return {
        "assigned": sorted(tp.partition for tp in c.assigned_partitions),
        "paused": sorted(tp.partition for tp in (c._consumer.paused() if c._consumer else ())),
        "settling": sorted(tp.partition for tp in c._settling),
        "active": sorted(c._active),
        "queued": {k: q.qsize() for k, q in c._queues.items()},
        "window": c.membership.window(),
        "stats": c.stats,
    }


def _holds(worker: Worker) -> bool:
    return worker.commands is not None and bool(worker.commands.assigned_partitions)


@pytest.mark.skipif(
    not os.environ.get("PIPELINE_SLOW_TESTS"), reason="about 20 s: set PIPELINE_SLOW_TESTS=1"
)
async def test_a_write_in_flight_during_a_takeover_gets_one_result(takeover: Takeover) -> None:
    results = await _scenario(takeover, "takeover-1", cut=0)
    assert len(results) == 1, [(r.outcome, r.finished_at) for r in results]


async def test_a_write_in_flight_during_a_broker_cut_gets_one_result(takeover: Takeover) -> None:
    results = await _scenario(takeover, "takeover-2", cut=4.0)
    assert len(results) == 1, [(r.outcome, r.finished_at) for r in results]


async def test_a_worker_stops_within_its_deadline_while_a_revocation_drains(
    takeover: Takeover,
) -> None:
    """Told to stop while its revocation waits for a write the platform holds (revoke_timeout is
    30 s, the write 60 s): the worker returns within its shutdown deadline, and publishes no
    result for the command it gave up (its next owner answers it)."""
    from pipeline.worker import FORCE_GRACE, SHUTDOWN_DEADLINE

    a, b = takeover.worker(), takeover.worker()
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(a.run(stop_a))
    task_b: asyncio.Task[None] | None = None
    try:
        await _until(lambda: _holds(a), 30, "A was never assigned")
        takeover.box.faults.add(  # type: ignore[attr-defined]
            FaultRule(kind="latency", method="PUT,POST", path="^/order/", times=1, seconds=60)
        )
        command = SetStatus(
            command_id="stop-1",
            platform="pazarama",
            account="main",
            order_id=takeover.order_id,
            issued_at=dt.datetime.now(dt.UTC),
            status=OrderStatus.PREPARING,
        )
        async with KafkaEventPublisher(takeover.proxy.address, embedded=True) as pub:
            await pub.send_raw(
                topics.COMMANDS, topics.account_key("pazarama", "main"), encode_command(command)
            )
        await _until(
            lambda: takeover.box.faults.rules[0].fired == 1,  # type: ignore[attr-defined]
            30,
            "A's write never reached the sandbox",
        )
        task_b = asyncio.create_task(b.run(stop_b))  # a rebalance: A's revocation drains
        assert a.commands is not None
        commands = a.commands
        await _until(lambda: not commands.assigned_partitions, 30, "A was never revoked")
        stop_a.set()
        async with asyncio.timeout(SHUTDOWN_DEADLINE + FORCE_GRACE):
            await task_a
        assert commands.stats.results.total() == 0  # A gave the command up unanswered
    finally:
        stop_a.set()
        stop_b.set()
        for task in (task_a, task_b):
            if task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 60)
