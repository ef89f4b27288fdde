"""``pipeline replay`` / ``tail`` against a dedicated broker holding known records: filters by
key, time, offset, type and account in every format, re-publishing, following, the real CLI."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

import schemas
from pipeline.broker import EmbeddedBroker
from pipeline.bus import KafkaEventPublisher
from pipeline.errors import ConfigError
from pipeline.replay import ReplayStats, log_ends, probe_time_index, replay
from pipeline.replay_view import Filters, Printer, RecordView, parse_from_offset, parse_time
from pipeline.topics import TopicSpec, ensure_topics, list_topics
from schemas import examples, topics

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
RUN_MAIN = "import sys; from pipeline.replay_cli import main; sys.exit(main(sys.argv[1:]))"
PHONE = "05321234567"
BAD_COMMAND = (
    b'{"type":"order.ship","command_id":"cmd-9","platform":"pazarama","account":"main",'
    b'"order_id":"ORD-9","issued_at":"2026-03-14T12:00:00+03:00","carrier":"Aras"}'
)


@dataclasses.dataclass
class Data:
    bootstrap: str
    wave_a: list[schemas.AnyEvent]  # sample_events(): pazarama:main, before `middle`
    wave_b: list[schemas.AnyEvent]  # ecarsi:shop2:E-1, after `middle`
    middle: dt.datetime
    commands: list[schemas.AnyCommand]
    result: schemas.CommandResult
    letter: schemas.DeadLetter


def _ecarsi_events() -> list[schemas.AnyEvent]:
    order = msgspec.structs.replace(
        examples.sample_order(), platform="ecarsi", account="shop2", order_id="E-1"
    )
    shipped = msgspec.structs.replace(order, status=schemas.OrderStatus.SHIPPED, raw_status="5")
    return [
        schemas.new_event(schemas.OrderCreated, time=examples.T0, data=order),
        schemas.new_event(
            schemas.OrderStatusChanged,
            time=examples.T0,
            data=shipped,
            previous_status=schemas.OrderStatus.RECEIVED,
            previous_raw_status="3",
        ),
    ]


async def _prepare(bootstrap: str) -> Data:
    await ensure_topics(bootstrap, replication_factor=1)
    wave_a, wave_b = examples.sample_events(), _ecarsi_events()
    commands = examples.sample_commands()
    result = examples.sample_result()
    letter = schemas.DeadLetter(
        error=f"invalid command: Object missing required field `tracking_number` ({PHONE})",
        topic=topics.COMMANDS,
        partition=5,
        offset=41,
        received_at=examples.T0,
        key=b"pazarama:main",
        value=BAD_COMMAND,
        headers=(("ce_type", b"order.ship"), ("ce_id", b"cmd-9")),
    )
    async with KafkaEventPublisher(bootstrap, embedded=True) as pub:
        await pub.publish(wave_a)
        for cmd in commands:
            await pub.send_raw(
                topics.COMMANDS,
                topics.account_key(cmd.platform, cmd.account),
                schemas.encode_command(cmd),
                schemas.to_headers(schemas.command_attributes(cmd)),
            )
        await pub.send_raw(
            topics.COMMAND_RESULTS,
            b"pazarama:main",
            msgspec.json.encode(result),
            schemas.to_headers(schemas.result_attributes(result)),
        )
        await pub.send_raw(
            topics.COMMANDS_DLQ, letter.key, msgspec.json.encode(letter), list(letter.headers)
        )
        # Millisecond timestamps on both sides of `middle`, with room for rounding.
        await asyncio.sleep(0.02)
        middle = dt.datetime.now(dt.UTC)
        await asyncio.sleep(0.02)
        await pub.publish(wave_b)
    return Data(bootstrap, wave_a, wave_b, middle, commands, result, letter)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Data]:
    """A broker of our own: the session broker's topics are shared with other tests."""
    broker = EmbeddedBroker(log_path=tmp_path_factory.mktemp("replay") / "tansu.log")
    broker.start_blocking()
    try:
        yield asyncio.run(_prepare(broker.bootstrap))
    finally:
        broker.stop_blocking()


async def _read(
    data: Data, topic: str, fmt: str = "table", **kw: object
) -> tuple[str, ReplayStats]:
    out = io.BytesIO()
    stats = await replay(data.bootstrap, topic, Printer(fmt, out), **kw)  # type: ignore[arg-type]
    return out.getvalue().decode(), stats


async def _views(data: Data, topic: str, **kw: object) -> list[RecordView]:
    seen: list[RecordView] = []
    await replay(data.bootstrap, topic, seen.append, **kw)  # type: ignore[arg-type]
    return seen


async def _create(bootstrap: str, topic: str, partitions: int) -> None:
    await ensure_topics(bootstrap, {topic: TopicSpec(partitions=partitions)}, replication_factor=1)


def _json_lines(text: str) -> list[object]:
    return [msgspec.json.decode(line) for line in text.splitlines()]


# --- arguments ---------------------------------------------------------------------------------


def test_times_are_relative_or_rfc3339_with_an_offset() -> None:
    now = dt.datetime(2026, 3, 14, 12, 0, tzinfo=dt.UTC)
    assert parse_time("2h", now=now) == now - dt.timedelta(hours=2)
    assert parse_time("2026-03-14T10:00:00Z") == dt.datetime(2026, 3, 14, 10, 0, tzinfo=dt.UTC)
    assert parse_time("2026-03-14T13:00:00+03:00") == dt.datetime(2026, 3, 14, 10, tzinfo=dt.UTC)
    with pytest.raises(ConfigError, match="no offset"):
        parse_time("2026-03-14T10:00:00")
    with pytest.raises(ConfigError, match="invalid time"):
        parse_time("yesterday")


def test_from_offset_names_a_partition_or_all_of_them() -> None:
    assert parse_from_offset("3:120") == (3, 120)
    assert parse_from_offset("120") == (None, 120)
    assert parse_from_offset("-2") == (None, -2)
    with pytest.raises(ConfigError):
        parse_from_offset("3:x")


# --- filters and formats -------------------------------------------------------------------------


async def test_replay_by_key_shows_that_orders_records_only(data: Data) -> None:
    key = "ecarsi:shop2:E-1"
    text, stats = await _read(data, topics.ORDERS, filters=Filters(key=key))
    rows = text.splitlines()[1:]  # under the header
    assert [row.split()[2] for row in rows] == ["order.created", "order.status_changed"]
    assert all(key in row for row in rows)
    assert "received → shipped (raw 5)" in rows[1]
    assert (stats.matched, stats.scanned) == (2, 5)  # every record of the topic was read


async def test_the_table_masks_personal_ids_but_json_prints_them_as_stored(data: Data) -> None:
    table, _ = await _read(data, topics.COMMANDS_DLQ)
    assert PHONE not in table
    assert "*******67" in table
    assert f"from {topics.COMMANDS}[5]@41" in table
    as_json, _ = await _read(data, topics.COMMANDS_DLQ, "json")
    assert PHONE in as_json


async def test_replay_by_time_scans_and_filters_when_the_broker_has_no_time_index(
    data: Data,
) -> None:
    after = await _views(data, topics.ORDERS, filters=Filters(since=data.middle))
    before = await _views(data, topics.ORDERS, filters=Filters(until=data.middle))
    assert [v.doc["id"] for v in after] == [e.id for e in data.wave_b]
    assert sorted(v.doc["id"] for v in before) == sorted(
        e.id for e in data.wave_a if e.topic == topics.ORDERS
    )
    _, stats = await _read(data, topics.ORDERS, filters=Filters(since=data.middle))
    assert stats.time_index is False  # Tansu: probed once, then scanned
    assert stats.scanned == 5


async def test_seeking_by_time_index_selects_the_same_records(data: Data) -> None:
    # Tansu searches by append time, which for these fresh records is their publish time: the
    # seeking path (as on Kafka) can run here and must agree with the scan.
    _, stats = await _read(data, topics.ORDERS, time_index=True, filters=Filters(since=data.middle))
    assert (stats.time_index, stats.matched, stats.scanned) == (True, 2, 2)  # seeked past wave A
    after = await _views(data, topics.ORDERS, time_index=True, filters=Filters(since=data.middle))
    before = await _views(data, topics.ORDERS, time_index=True, filters=Filters(until=data.middle))
    assert [v.doc["id"] for v in after] == [e.id for e in data.wave_b]
    assert len(before) == 3


async def test_tansu_has_no_usable_time_index(data: Data) -> None:
    # Pins the README gap: when Tansu honours record times, the probe says so and this fails.
    consumer = AIOKafkaConsumer(bootstrap_servers=data.bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(topics.ORDERS, p) for p in range(12)]
        usable = await probe_time_index(consumer, tps, bootstrap=data.bootstrap, refresh=True)
        assert usable is False
    finally:
        await consumer.stop()


async def test_replay_from_an_offset_of_one_partition_or_back_from_every_end(
    data: Data,
) -> None:
    everything = await _views(data, topics.ORDERS)
    [part] = {v.partition for v in everything if v.platform == "pazarama"}
    rest = await _views(data, topics.ORDERS, from_offsets={part: 1})
    assert [(v.partition, v.offset) for v in rest] == [
        (v.partition, v.offset) for v in everything if v.partition == part and v.offset >= 1
    ]
    assert len(rest) >= 2
    last = await _views(data, topics.ORDERS, from_offsets={None: -1})
    ends = {v.partition: v.offset for v in everything}
    assert {(v.partition, v.offset) for v in last} == set(ends.items())


async def test_replay_by_type_in_json_prints_each_envelope_as_stored(data: Data) -> None:
    text, _ = await _read(data, topics.REFUNDS, "json", filters=Filters(types=("refund.*",)))
    docs = _json_lines(text)
    expected = [e for e in data.wave_a if e.type.startswith("refund.")]
    assert docs == [msgspec.json.decode(schemas.encode_event(e)) for e in expected]
    assert [schemas.decode_event(line.encode()) for line in text.splitlines()] == expected


async def test_raw_prints_the_value_bytes_as_stored(data: Data) -> None:
    text, _ = await _read(data, topics.COMMANDS, "raw", filters=Filters(types=("refund.decide",)))
    [decide] = [c for c in data.commands if c.type == "refund.decide"]
    assert text.encode() == schemas.encode_command(decide) + b"\n"


async def test_results_and_dead_letters_print_as_documents(data: Data) -> None:
    text, _ = await _read(data, topics.COMMAND_RESULTS, "json")
    assert schemas.decode_result(text.strip().encode()) == data.result
    text, _ = await _read(data, topics.COMMANDS_DLQ, "json")
    [doc] = _json_lines(text)
    assert isinstance(doc, dict)
    assert base64.b64decode(doc["value"]) == BAD_COMMAND  # bytes stay base64, as stored
    assert msgspec.json.decode(text.strip(), type=schemas.DeadLetter) == data.letter


async def test_meta_wraps_the_document_with_where_it_was(data: Data) -> None:
    text, _ = await _read(data, topics.COMMAND_RESULTS, "json")
    out = io.BytesIO()
    await replay(data.bootstrap, topics.COMMAND_RESULTS, Printer("json", out, meta=True))
    [wrapped] = _json_lines(out.getvalue().decode())
    assert isinstance(wrapped, dict)
    assert wrapped["value"] == msgspec.json.decode(text)
    assert wrapped["key"] == "pazarama:main"
    assert ["ce_type", "command.result"] in wrapped["headers"]


async def test_platform_account_and_order_come_from_envelope_or_key(data: Data) -> None:
    ecarsi = await _views(data, topics.ORDERS, filters=Filters(platform="ecarsi"))
    assert {v.key_text for v in ecarsi} == {"ecarsi:shop2:E-1"}
    assert len(await _views(data, topics.ORDERS, filters=Filters(account="shop2"))) == 2
    order = examples.sample_order().order_id
    cmds = await _views(data, topics.COMMANDS, filters=Filters(order=order))
    assert len(cmds) == len(data.commands)
    # A dead letter's order id comes from the original bytes when they are still JSON.
    [letter] = await _views(data, topics.COMMANDS_DLQ, filters=Filters(order="ORD-9"))
    assert letter.type == "order.ship"  # the original command's ce_type header
    assert await _views(data, topics.COMMANDS, filters=Filters(platform="c2c")) == []


# --- re-publishing ------------------------------------------------------------------------------


Copy = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]


async def _copies(bootstrap: str, topic: str) -> list[Copy]:
    return [(v.key, v.value, list(v.headers)) for v in await _views_at(bootstrap, topic)]


async def _views_at(bootstrap: str, topic: str) -> list[RecordView]:
    seen: list[RecordView] = []
    await replay(bootstrap, topic, seen.append)
    return seen


async def test_to_republishes_matching_events_unchanged(data: Data, topic_name: str) -> None:
    key = "ecarsi:shop2:E-1"
    with pytest.raises(ConfigError, match="does not exist"):
        await _read(data, topics.ORDERS, filters=Filters(key=key), to=topic_name)
    _, stats = await _read(
        data, topics.ORDERS, filters=Filters(key=key), to=topic_name, create_to=True
    )
    assert stats.republished == 2
    originals = await _views(data, topics.ORDERS, filters=Filters(key=key))
    copies = await _copies(data.bootstrap, topic_name)
    assert copies == [(v.key, v.value, list(v.headers)) for v in originals]


async def test_a_dead_letter_is_republished_as_its_original_command(
    data: Data, topic_name: str
) -> None:
    await _create(data.bootstrap, topic_name, 12)
    _, stats = await _read(data, topics.COMMANDS_DLQ, to=topic_name)
    assert stats.republished == 1
    [(key, value, headers)] = await _copies(data.bootstrap, topic_name)
    assert (key, value, headers) == (
        data.letter.key,
        data.letter.value,
        list(data.letter.headers),
    )


async def test_a_missing_topic_is_an_error_and_is_not_created(data: Data, topic_name: str) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        await _read(data, topic_name)
    assert topic_name not in await list_topics(data.bootstrap)


async def test_log_ends_count_records_not_batches(data: Data, topic_name: str) -> None:
    await _create(data.bootstrap, topic_name, 1)
    producer = AIOKafkaProducer(bootstrap_servers=data.bootstrap, linger_ms=50)
    await producer.start()
    try:
        for size in (5, 3):  # two batches
            futures = [await producer.send(topic_name, b"x") for _ in range(size)]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=data.bootstrap)
    await consumer.start()
    try:
        tp = TopicPartition(topic_name, 0)
        assert await log_ends(consumer, [tp]) == {tp: 8}
    finally:
        await consumer.stop()
    assert len(await _views(data, topic_name)) == 8


# --- tail ----------------------------------------------------------------------------------------


async def test_tail_sees_a_record_produced_after_it_started_and_nothing_before(
    data: Data, topic_name: str
) -> None:
    await _create(data.bootstrap, topic_name, 3)
    old, new = data.wave_b
    async with KafkaEventPublisher(data.bootstrap, embedded=True) as pub:
        await pub.send_raw(topic_name, old.key(), schemas.encode_event(old))
        ready = asyncio.Event()
        seen: list[RecordView] = []
        stop = asyncio.Event()
        task = asyncio.create_task(
            replay(
                data.bootstrap,
                topic_name,
                seen.append,
                follow=True,
                stop=stop,
                on_ready=lambda _: ready.set(),
            )
        )
        async with asyncio.timeout(10):
            await ready.wait()
            await pub.send_raw(topic_name, new.key(), schemas.encode_event(new))
            while not seen:
                await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 5)
    assert [v.doc["id"] for v in seen] == [new.id]


# --- the command line, as a process ------------------------------------------------------------


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", RUN_MAIN, *args]


def test_cli_replay_prints_json_lines_for_a_key(data: Data) -> None:
    args = ["--bootstrap", data.bootstrap, "--key", "ecarsi:shop2:E-1", "--format", "json"]
    proc = subprocess.run(
        _cli("replay", topics.ORDERS, *args, "--type", "order.status_*"),
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    [line] = proc.stdout.splitlines()
    assert schemas.decode_event(line.encode()) == data.wave_b[1]
    assert "1 of 5 records matched" in proc.stderr


def test_cli_tail_follows_until_ctrl_c(data: Data, topic_name: str) -> None:
    asyncio.run(_create(data.bootstrap, topic_name, 2))
    with subprocess.Popen(
        _cli("tail", topic_name, "--bootstrap", data.bootstrap, "--format", "raw"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as proc:
        assert proc.stderr is not None and proc.stdout is not None
        try:
            deadline = time.monotonic() + 20
            said = b""
            while b"following" not in said and time.monotonic() < deadline:
                said += proc.stderr.readline()
            assert b"following" in said, said
            asyncio.run(_send(data.bootstrap, topic_name, b"hello"))
            assert proc.stdout.readline() == b"hello\n"
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
            assert b"1 of 1 records matched" in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()


async def _send(bootstrap: str, topic: str, value: bytes) -> None:
    async with KafkaEventPublisher(bootstrap, embedded=True) as pub:
        await pub.send_raw(topic, None, value)
