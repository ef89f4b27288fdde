"""The apply role on a real broker: commands in, exactly one result each, poison to the DLQ,
offsets committed after results, and no second result after a restart."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.broker import EmbeddedBroker
from pipeline.bus import KafkaEventPublisher
from pipeline.config import RateLimitDefaults
from pipeline.sandbox import SandboxSettings, serve
from pipeline.topics import ensure_topics
from pipeline.up import build_sandboxes, sandbox_config
from pipeline.worker import APPLIER_GROUP, Worker, prepare_accounts
from schemas import (
    CommandResult,
    DeadLetter,
    OrderStatus,
    Outcome,
    SetStatus,
    command_attributes,
    decode_result,
    encode_command,
    to_headers,
    topics,
)


async def _read_all(bootstrap: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer.topics()
            parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            return []  # not created yet
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        values: list[bytes] = []
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            if not batch:
                return values
            values += [r.value or b"" for records in batch.values() for r in records]
    finally:
        await consumer.stop()


class Rig:
    def __init__(self, bootstrap: str, served: list, worker_factory: object) -> None:
        self.bootstrap, self.served, self.worker_factory = bootstrap, served, worker_factory

    async def results(self) -> list[CommandResult]:
        return [decode_result(v) for v in await _read_all(self.bootstrap, topics.COMMAND_RESULTS)]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    boxes = build_sandboxes(["softtr", "pazarama"], SandboxSettings(seed=2, initial_orders=30))
    for box in boxes:
        box.limits.rules.clear()
    async with EmbeddedBroker() as broker, serve(boxes) as served:
        config, environ = sandbox_config(served, broker.bootstrap)
        # An apply-only worker may use the commands' share of every window: most of it here.
        config = msgspec.structs.replace(config, rate_limit=RateLimitDefaults(commands_share=0.9))

        def worker() -> Worker:
            return Worker(
                config,
                prepare_accounts(config, environ),
                bootstrap=broker.bootstrap,
                embedded=True,
                roles=frozenset({"apply"}),
            )

        yield Rig(broker.bootstrap, served, worker)


async def _send(
    bootstrap: str, records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]
) -> None:
    async with KafkaEventPublisher(bootstrap, embedded=True) as pub:
        for key, value, headers in records:
            await pub.send_raw(topics.COMMANDS, key, value, headers)


def _status_commands(served: list, prefix: str) -> list[SetStatus]:
    out = []
    for s in served:
        for n, order in enumerate(s.sandbox.world.orders[:10]):
            out.append(
                SetStatus(
                    command_id=f"{prefix}-{s.sandbox.platform}-{n}",
                    platform=s.sandbox.platform,
                    account="main",
                    order_id=order.id,
                    issued_at=dt.datetime.now(dt.UTC),
                    status=OrderStatus.PREPARING,
                )
            )
    return out


async def _run_until(worker: Worker, done: object, within: float = 30) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        async with asyncio.timeout(within):
            while not await done():  # type: ignore[operator]
                await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_every_command_gets_exactly_one_result_and_poison_goes_to_the_dlq(rig: Rig) -> None:
    commands = _status_commands(rig.served, "a")
    records = [
        (
            topics.account_key(c.platform, c.account),
            encode_command(c),
            to_headers(command_attributes(c)),
        )
        for c in commands
    ]
    poison = (b"softtr:main", b"\xff{not json", [("ce_id", b"poison-1")])
    stranger = SetStatus(
        command_id="stranger-1",
        platform="softtr",
        account="nobody",
        order_id="1",
        issued_at=dt.datetime.now(dt.UTC),
        status=OrderStatus.PREPARING,
    )
    # Undecodable, and the decoder's message quotes a personal value: it must come out masked.
    leaky = (b"softtr:main", b'{"type":"ali.veli@example.com"}', [("ce_id", b"poison-2")])
    records += [poison, leaky, (b"softtr:nobody", encode_command(stranger), [])]
    await _send(rig.bootstrap, records)
    expected = {c.command_id for c in commands} | {"poison-1", "poison-2", "stranger-1"}

    async def all_results() -> bool:
        return {r.command_id for r in await rig.results()} >= expected

    await _run_until(rig.worker_factory(), all_results)  # type: ignore[operator]
    results = await rig.results()
    by_id = {r.command_id: r for r in results}
    assert len(results) == len(by_id) == len(expected)
    assert by_id["poison-1"].outcome is Outcome.INVALID
    assert by_id["stranger-1"].outcome is Outcome.INVALID
    leaked = by_id["poison-2"].error or ""
    assert by_id["poison-2"].outcome is Outcome.INVALID and "$.type" in leaked
    assert "ali.veli@example.com" not in leaked
    assert "unknown account" in (by_id["stranger-1"].error or "")
    assert all(by_id[c.command_id].outcome is Outcome.APPLIED for c in commands)
    letters = [
        msgspec.json.decode(v, type=DeadLetter)
        for v in await _read_all(rig.bootstrap, topics.COMMANDS_DLQ)
    ]
    assert [ltr.value for ltr in letters] == [b"\xff{not json", leaky[1]]
    assert letters[0].topic == topics.COMMANDS and "undecodable" in letters[0].error
    assert "ali.veli@example.com" not in letters[1].error

    # A restarted worker: offsets were committed after the results, nothing is redone.
    again = rig.worker_factory()  # type: ignore[operator]
    polls = 0

    async def settled() -> bool:
        nonlocal polls
        if again.commands is not None and again.commands.assigned_partitions:
            polls += 1
        return polls > 5  # assigned, then a second of fetching

    await _run_until(again, settled, within=20)
    assert again.commands is not None and again.commands.stats.received == 0
    assert len(await rig.results()) == len(results)


async def test_uncommitted_commands_with_results_are_not_answered_twice(rig: Rig) -> None:
    commands = _status_commands(rig.served, "b")[:5]
    await ensure_topics(rig.bootstrap, replication_factor=1)
    # Results exist already (a worker published them, then died before committing).
    async with KafkaEventPublisher(rig.bootstrap, embedded=True) as pub:
        now = dt.datetime.now(dt.UTC)
        for c in commands[:3]:
            r = CommandResult(
                command_id=c.command_id,
                command_type=c.type,
                platform=c.platform,
                account=c.account,
                outcome=Outcome.APPLIED,
                attempts=1,
                received_at=now,
                finished_at=now,
            )
            await pub.send_raw(
                topics.COMMAND_RESULTS,
                topics.account_key(c.platform, c.account),
                msgspec.json.encode(r),
            )
    await _send(
        rig.bootstrap,
        [(topics.account_key(c.platform, c.account), encode_command(c), []) for c in commands],
    )

    async def answered() -> bool:
        return {r.command_id for r in await rig.results()} >= {c.command_id for c in commands}

    await _run_until(rig.worker_factory(), answered)  # type: ignore[operator]
    ids = [r.command_id for r in await rig.results()]
    assert sorted(ids) == sorted(c.command_id for c in commands)  # one each, none twice
    assert APPLIER_GROUP


async def test_send_validates_publishes_and_waits_for_the_result(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline import sendcmd
    from pipeline.config import KafkaConfig
    from pipeline.errors import CommandError

    with pytest.raises(CommandError, match="tracking_number"):
        sendcmd.build_command(
            {
                "type": "order.ship",
                "platform": "softtr",
                "account": "main",
                "order": "1",
                "carrier": "Aras",
            }
        )
    softtr = next(s for s in rig.served if s.sandbox.platform == "softtr")
    order = softtr.sandbox.world.orders[0].id
    raw = sendcmd.build_command(
        {
            "type": "order.set_status",
            "platform": "softtr",
            "account": "main",
            "order": order,
            "status": "preparing",
            "command_id": "cli-1",
        }
    )
    stop = asyncio.Event()
    worker = rig.worker_factory()  # type: ignore[operator]
    task = asyncio.create_task(worker.run(stop))
    try:
        import io

        out = io.StringIO()
        code = await sendcmd.send(KafkaConfig(bootstrap=rig.bootstrap), raw, wait=30, out=out)
        assert code == 0, out.getvalue()
        assert '"command_id":"cli-1"' in out.getvalue() and '"outcome":"applied"' in out.getvalue()
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_dlq_list_and_requeue(rig: Rig) -> None:
    import io

    from pipeline import sendcmd
    from pipeline.config import KafkaConfig

    kafka = KafkaConfig(bootstrap=rig.bootstrap)
    await _send(
        rig.bootstrap,
        [
            (b"softtr:main", b"\x00garbage", [("ce_id", b"g-1")]),  # answered `invalid`
            (b"softtr:main", b"\x00nameless", []),  # names no command: no result
        ],
    )
    stop = asyncio.Event()
    worker = rig.worker_factory()  # type: ignore[operator]
    task = asyncio.create_task(worker.run(stop))
    try:
        async with asyncio.timeout(30):
            while len(await sendcmd.dead_letters(kafka)) < 2:
                await asyncio.sleep(0.2)
        out = io.StringIO()
        await sendcmd.dlq_list(kafka, out)
        assert "2 dead letter(s)" in out.getvalue() and "undecodable" in out.getvalue()
        letters = await sendcmd.dead_letters(kafka)
        [named] = [f"{p}:{o}" for p, o, letter in letters if letter.value == b"\x00garbage"]
        [nameless] = [f"{p}:{o}" for p, o, letter in letters if letter.value == b"\x00nameless"]
        # g-1 has its result: the appliers would skip it, so it is not sent.
        assert await sendcmd.dlq_requeue(kafka, [named], out) == 1
        assert await sendcmd.dlq_requeue(kafka, [nameless], out) == 0
        async with asyncio.timeout(30):  # the requeued bytes are still bad: dead again
            while len(await sendcmd.dead_letters(kafka)) < 3:
                await asyncio.sleep(0.2)
        assert [letter.value for _, _, letter in await sendcmd.dead_letters(kafka)].count(
            b"\x00garbage"
        ) == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def test_a_redelivered_poison_record_already_answered_is_not_answered_again() -> None:
    """A poison record named by ``ce_id`` is answered ``invalid`` once; when it comes again (its
    offset was not committed before a rebalance) the results index has its id: no second dead
    letter, no second result (the chaos run counted three ``invalid`` results for one)."""
    from aiokafka.structs import ConsumerRecord

    from pipeline.clock import ManualClock
    from pipeline.command_consumer import CommandConsumer

    sent: list[str] = []

    class Sender:
        async def send_raw(self, topic: str, *_: object, within: float | None = None) -> None:
            sent.append(topic)

    tp = TopicPartition(topics.COMMANDS, 0)
    consumer = CommandConsumer(
        consumer_factory=lambda: None,  # type: ignore[arg-type,return-value]
        results_reader=lambda _: set(),
        sender=Sender(),
        applier_for=lambda _platform, _account: None,
        clock=ManualClock(dt.datetime(2026, 5, 1, tzinfo=dt.UTC)),
    )
    consumer.assigned_partitions.add(tp)

    def poison(offset: int) -> ConsumerRecord:  # type: ignore[type-arg]
        return ConsumerRecord(
            topic=tp.topic,
            partition=0,
            offset=offset,
            timestamp=0,
            timestamp_type=0,
            key=b"softtr:main",
            value=b"\xff",
            checksum=None,
            serialized_key_size=11,
            serialized_value_size=1,
            headers=[("ce_id", b"poison-9")],
        )

    asyncio.run(consumer._dispatch(tp, poison(3)))
    assert sent == [topics.COMMANDS_DLQ, topics.COMMAND_RESULTS]
    asyncio.run(consumer._dispatch(tp, poison(3)))  # the same record again
    assert sent == [topics.COMMANDS_DLQ, topics.COMMAND_RESULTS]
    assert consumer.stats.skipped_done == 1


def test_a_worker_that_lost_its_partition_starts_no_write() -> None:
    """Commands queued for a partition this worker no longer holds are neither applied nor
    answered: they stay uncommitted for the next owner."""
    from types import SimpleNamespace

    from pipeline.applier import Pending
    from pipeline.clock import ManualClock
    from pipeline.command_consumer import CommandConsumer

    applied: list[object] = []

    class Applier:
        client = SimpleNamespace(capabilities=SimpleNamespace(max_batch={}))

        async def apply(self, items: list[object]) -> list[object]:
            applied.extend(items)
            return []

    tp = TopicPartition(topics.COMMANDS, 0)
    consumer = CommandConsumer(
        consumer_factory=lambda: None,  # type: ignore[arg-type,return-value]
        results_reader=lambda _: set(),
        sender=None,  # type: ignore[arg-type]
        applier_for=lambda _platform, _account: None,
        clock=ManualClock(dt.datetime(2026, 5, 1, tzinfo=dt.UTC)),
    )
    pending = Pending(
        command=SetStatus(
            command_id="lost-1",
            platform="softtr",
            account="main",
            order_id="1",
            issued_at=dt.datetime(2026, 5, 1, tzinfo=dt.UTC),
            status=OrderStatus.PREPARING,
        ),
        received_at=dt.datetime(2026, 5, 1, tzinfo=dt.UTC),
    )

    async def scenario() -> None:
        queue: asyncio.Queue[tuple[TopicPartition, int, Pending]] = asyncio.Queue()
        queue.put_nowait((tp, 7, pending))  # tp is not (any more) among the assigned
        worker = asyncio.create_task(consumer._work("softtr:main", Applier(), queue))  # type: ignore[arg-type]
        while not queue.empty():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker

    asyncio.run(scenario())
    assert applied == []


class _SlowCommits:
    """What ``_commit`` asks of its consumer: a commit that waits for ``release``."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.committed: list[dict[TopicPartition, int]] = []

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        await self.release.wait()
        self.committed.append(dict(offsets))


async def test_a_partition_revoked_while_its_commit_is_on_the_way_is_no_crash() -> None:
    # Found by the 10-minute chaos run: the commit loop's KeyError ended a worker process.
    from pipeline.command_consumer import CommandConsumer
    from pipeline.command_log import Offsets

    async def no_results(partitions: set[int]) -> set[str]:
        return set()

    consumer = CommandConsumer(
        consumer_factory=lambda: None,  # type: ignore[arg-type,return-value]
        results_reader=no_results,
        sender=None,  # type: ignore[arg-type]
        applier_for=lambda platform, account: None,
        clock=None,  # type: ignore[arg-type]
    )
    fake = _SlowCommits()
    consumer._consumer = fake  # type: ignore[assignment]
    kept, gone = TopicPartition(topics.COMMANDS, 1), TopicPartition(topics.COMMANDS, 8)
    for tp in (kept, gone):
        consumer._offsets[tp] = Offsets()
        consumer._offsets[tp].add(41)
        consumer._offsets[tp].finish(41)
    commit = asyncio.create_task(consumer._commit())
    await asyncio.sleep(0)
    consumer._offsets.pop(gone)  # what a revocation does meanwhile
    fake.release.set()
    await commit
    assert fake.committed == [{kept: 42, gone: 42}]
    assert consumer._offsets[kept].committed == 42
