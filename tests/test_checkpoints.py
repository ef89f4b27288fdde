"""Checkpoints on Kafka: acknowledged saves, newest-wins loads without a group, load_all."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import murmur2

from pipeline.broker import find_free_port
from pipeline.bus import KafkaEventPublisher
from pipeline.checkpoints import (
    Checkpoint,
    CheckpointDecodeError,
    Fingerprint,
    KafkaCheckpointStore,
    encode_checkpoint,
)
from pipeline.config import KafkaConfig
from pipeline.errors import BrokerError
from pipeline.kafka_settings import consumer_kwargs
from pipeline.topics import TOPICS, ensure_topics, list_topics
from schemas import topics
from schemas.times import ISTANBUL

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 3, 14, 10, 0, tzinfo=ISTANBUL)
PARTITIONS = 4
STEP = 10.0


def checkpoint(account: str, stream: str = "orders", minute: int = 0, **kw: object) -> Checkpoint:
    return Checkpoint(
        platform="pazarama",
        account=account,
        stream=stream,
        cursor=T0 + dt.timedelta(minutes=minute),
        **kw,  # type: ignore[arg-type]
    )


def fingerprints(count: int) -> dict[str, Fingerprint]:
    """Realistic fingerprints: hex digests compress about as badly as the real ones."""
    out = {}
    for i in range(count):
        digest = hashlib.sha256(str(i).encode()).hexdigest()[:16]
        out[f"order-{i:08d}"] = Fingerprint(
            parts={"status": digest, "items": digest[::-1], "shipments": digest[3:]},
            status="shipped",
            raw_status="5",
            created_at=T0,
            terminal=False,
        )
    return out


@pytest.fixture
async def topic(kafka_bootstrap: str, topic_name: str) -> str:
    spec = TOPICS[topics.CHECKPOINTS]
    specs = {topic_name: type(spec)(partitions=PARTITIONS, configs=spec.configs)}
    await ensure_topics(kafka_bootstrap, specs, replication_factor=1)
    return topic_name


def store(bootstrap: str, topic: str) -> KafkaCheckpointStore:
    return KafkaCheckpointStore(bootstrap, topic=topic, embedded=True)


async def test_a_saved_checkpoint_loads_back_equal_in_a_fresh_process(
    kafka_bootstrap: str, topic: str
) -> None:
    saved = checkpoint("main", fingerprints=fingerprints(3), malformed={"x": "bad date"})
    saved.platform_state["k"] = "v"
    async with store(kafka_bootstrap, topic) as writer:
        await writer.save(saved)
        assert await writer.load(saved.key) == saved  # from its cache
        assert writer.cache_hits == 1
    async with store(kafka_bootstrap, topic) as reader:
        assert await reader.load(saved.key) == saved
        assert reader.records_scanned == 1


async def test_the_newest_record_of_a_key_wins(kafka_bootstrap: str, topic: str) -> None:
    async with store(kafka_bootstrap, topic) as writer:
        for minute in range(5):
            for account in ("a", "b", "c"):
                await writer.save(checkpoint(account, minute=minute))
    async with store(kafka_bootstrap, topic) as reader:
        for account in ("a", "b", "c"):
            loaded = await reader.load(checkpoint(account).key)
            assert loaded is not None
            assert loaded.cursor == T0 + dt.timedelta(minutes=4)


async def test_a_record_lands_on_the_partition_the_reader_computes(
    kafka_bootstrap: str, topic: str
) -> None:
    cp = checkpoint("partitioned")
    async with store(kafka_bootstrap, topic) as writer:
        await writer.save(cp)
    expected = (murmur2(cp.key.encode()) & 0x7FFFFFFF) % PARTITIONS
    cons = AIOKafkaConsumer(**consumer_kwargs(KafkaConfig(bootstrap=kafka_bootstrap)))
    async with asyncio.timeout(STEP):
        await cons.start()
        try:
            cons.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
            records = []
            while not records:
                for part in (await cons.getmany(timeout_ms=100)).values():
                    records.extend(part)
        finally:
            await cons.stop()
    assert [(r.partition, r.key) for r in records] == [(expected, cp.key.encode())]


async def test_an_unknown_key_loads_as_none_until_it_is_saved(
    kafka_bootstrap: str, topic: str
) -> None:
    async with store(kafka_bootstrap, topic) as cps:
        await cps.save(checkpoint("other"))
        assert await cps.load(checkpoint("nobody").key) is None
        assert await cps.load(checkpoint("nobody").key) is None
        assert cps.cache_hits == 1  # the miss is cached too
        await cps.save(checkpoint("nobody", minute=7))
        loaded = await cps.load(checkpoint("nobody").key)
        assert loaded is not None
        assert loaded.cursor == T0 + dt.timedelta(minutes=7)


async def test_load_all_reads_every_partition_once_and_fills_the_cache(
    kafka_bootstrap: str, topic: str
) -> None:
    async with store(kafka_bootstrap, topic) as writer:
        for minute in range(3):
            for account in ("a", "b", "c", "d", "e", "f"):
                await writer.save(checkpoint(account, "orders", minute))
                await writer.save(checkpoint(account, "refunds", minute))
        await writer.save(Checkpoint(platform="softtr", account="a", stream="orders", cursor=T0))
    async with store(kafka_bootstrap, topic) as reader:
        found = await reader.load_all("pazarama:")
        assert sorted(found) == sorted(
            f"pazarama:{a}:{s}" for a in "abcdef" for s in ("orders", "refunds")
        )
        assert all(cp.cursor == T0 + dt.timedelta(minutes=2) for cp in found.values())
        scanned = reader.records_scanned
        assert scanned == 3 * 12 + 1  # every record, once
        assert await reader.load("pazarama:c:refunds") == found["pazarama:c:refunds"]
        assert reader.records_scanned == scanned  # served from the cache
        assert reader.invalidate("pazarama:c:") == 2
        assert await reader.load("pazarama:c:refunds") == found["pazarama:c:refunds"]
        assert reader.records_scanned > scanned  # read again after invalidation


async def test_a_load_sees_every_record_of_a_multi_record_batch(
    kafka_bootstrap: str, topic: str
) -> None:
    # Several checkpoints of one key in one produce batch: Tansu's ListOffsets answers the
    # last batch's base offset + 1, so a reader trusting it would stop at the first of them.
    prod = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=50)
    cps = [checkpoint("batched", minute=m) for m in range(5)]
    async with asyncio.timeout(STEP):
        await prod.start()
        try:
            pending = [
                await prod.send(topic, encode_checkpoint(cp), key=b"pazarama:batched:orders")
                for cp in cps
            ]
            await asyncio.gather(*pending)
        finally:
            await prod.stop()
    async with store(kafka_bootstrap, topic) as reader:
        loaded = await reader.load(cps[0].key)
    assert loaded is not None
    assert loaded.cursor == cps[-1].cursor


async def test_an_undecodable_newest_checkpoint_is_an_error_naming_the_key(
    kafka_bootstrap: str, topic: str
) -> None:
    cp = checkpoint("broken")
    async with store(kafka_bootstrap, topic) as cps:
        await cps.save(cp)
        await cps._publisher.send_raw(topic, cp.key.encode(), b'{"platform": "pazarama", "ta')
    async with store(kafka_bootstrap, topic) as cps:
        with pytest.raises(CheckpointDecodeError, match="pazarama:broken:orders") as info:
            await cps.load(cp.key)
    assert not info.value.retriable
    assert '"ta' not in str(info.value)  # no record content in the message


async def test_a_checkpoint_from_a_newer_worker_is_refused(
    kafka_bootstrap: str, topic: str
) -> None:
    async with store(kafka_bootstrap, topic) as cps:
        await cps.save(checkpoint("future", version=99))
    async with store(kafka_bootstrap, topic) as cps:
        with pytest.raises(CheckpointDecodeError, match="version 99"):
            await cps.load(checkpoint("future").key)


async def test_a_checkpoint_under_another_key_is_refused(kafka_bootstrap: str, topic: str) -> None:
    async with store(kafka_bootstrap, topic) as cps:
        await cps._publisher.send_raw(
            topic, b"pazarama:x:orders", encode_checkpoint(checkpoint("y"))
        )
        with pytest.raises(CheckpointDecodeError, match="is for pazarama:y:orders"):
            await cps.load("pazarama:x:orders")


async def test_a_failed_save_is_a_broker_error_and_forgets_the_cached_value(
    kafka_bootstrap: str, topic: str
) -> None:
    tiny = KafkaEventPublisher(kafka_bootstrap, embedded=True, max_request_size=2048)
    async with tiny, KafkaCheckpointStore(kafka_bootstrap, topic=topic, publisher=tiny) as cps:
        small = checkpoint("grows")
        await cps.save(small)
        big = checkpoint("grows", minute=1, fingerprints=fingerprints(100))
        with pytest.raises(BrokerError):
            await cps.save(big)
        assert cps.invalidate() == 0  # the key's cache entry is gone already
        assert await cps.load(small.key) == small  # read from the broker again


async def test_a_missing_topic_is_a_broker_error_and_is_not_auto_created(
    kafka_bootstrap: str, topic_name: str
) -> None:
    async with store(kafka_bootstrap, topic_name) as cps:
        with pytest.raises(BrokerError, match="does not exist"):
            await cps.load("pazarama:main:orders")
    assert topic_name not in await list_topics(kafka_bootstrap)


async def test_an_unreachable_broker_is_a_broker_error() -> None:
    cps = KafkaCheckpointStore(f"127.0.0.1:{find_free_port()}", timeout=2.0)
    async with cps:
        with pytest.raises(BrokerError):
            await cps.load("pazarama:main:orders")
        with pytest.raises(BrokerError):
            await cps.save(checkpoint("main"))


async def test_tansu_end_offsets_count_batches_not_records(
    kafka_bootstrap: str, topic_name: str
) -> None:
    # Kafka: ListOffsets(latest) is the log end offset (8 here). Tansu: the base offset of the
    # last batch + 1 (6). The fetch high watermark is right. Readers use max(both).
    await ensure_topics(
        kafka_bootstrap, {topic_name: TOPICS[topics.ACCOUNTS]}, replication_factor=1
    )
    tp = TopicPartition(topic_name, 0)
    prod = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=50)
    async with asyncio.timeout(STEP):
        await prod.start()
        try:
            for size in (5, 3):
                batch = [await prod.send(topic_name, b"x", partition=0) for _ in range(size)]
                await asyncio.gather(*batch)
        finally:
            await prod.stop()
    cons = AIOKafkaConsumer(**consumer_kwargs(KafkaConfig(bootstrap=kafka_bootstrap)))
    async with asyncio.timeout(STEP):
        await cons.start()
        try:
            cons.assign([tp])
            records = []
            while len(records) < 8:
                records.extend((await cons.getmany(tp, timeout_ms=100)).get(tp, []))
            assert cons.highwater(tp) == 8
            assert (await cons.end_offsets([tp]))[tp] == 6
        finally:
            await cons.stop()


# --- measurements (printed, not asserted) -------------------------------------------------------


async def test_measure_checkpoint_save_and_load(
    kafka_bootstrap: str, topic: str, capsys: pytest.CaptureFixture[str]
) -> None:
    big = checkpoint("big", fingerprints=fingerprints(12_000))
    size = len(encode_checkpoint(big))
    async with store(kafka_bootstrap, topic) as writer:
        t0 = time.perf_counter()
        await writer.save(big)
        save_big = time.perf_counter() - t0
        # A partition's history on Tansu: 200 saves of a 20 kB checkpoint for other streams.
        small = checkpoint("history", fingerprints=fingerprints(120))
        small_size = len(encode_checkpoint(small))
        for i in range(200):
            small.cursor = T0 + dt.timedelta(minutes=i)
            small.stream = f"s{i % 8}"
            await writer.save(small)
    async with store(kafka_bootstrap, topic) as reader:
        t0 = time.perf_counter()
        loaded = await reader.load(big.key)
        load_big = time.perf_counter() - t0
        before = reader.records_scanned
        t0 = time.perf_counter()
        found = await reader.load_all("pazarama:history:")
        load_all = time.perf_counter() - t0
        scanned = reader.records_scanned - before
    assert loaded == big
    assert len(found) == 8
    with capsys.disabled():
        print(
            f"\n[checkpoints] {size / 1e6:.1f} MB checkpoint ({len(big.fingerprints)} "
            f"fingerprints): save {save_big * 1000:.0f} ms, load (fresh reader) "
            f"{load_big * 1000:.0f} ms; load_all over {scanned} records of ~{small_size / 1e3:.0f}"
            f" kB in {PARTITIONS} partitions: {load_all * 1000:.0f} ms"
        )
