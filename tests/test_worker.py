"""The worker's checkpoint loads on a take-over, against the real broker: one pass over the
topic for every account taken over, not one per key; other workers' keys are not kept."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline.checkpoints import Checkpoint, KafkaCheckpointStore
from pipeline.topics import TOPICS, ensure_topics
from pipeline.worker import TakeoverLoads
from schemas import topics

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 3, 14, 10, 0, tzinfo=dt.UTC)


def checkpoint(account: str, stream: str, minute: int) -> Checkpoint:
    cursor = T0 + dt.timedelta(minutes=minute)
    return Checkpoint(platform="pazarama", account=account, stream=stream, cursor=cursor)


@pytest.fixture
async def topic(kafka_bootstrap: str, topic_name: str) -> str:
    spec = TOPICS[topics.CHECKPOINTS]
    specs = {topic_name: type(spec)(partitions=4, configs=spec.configs)}
    await ensure_topics(kafka_bootstrap, specs, replication_factor=1)
    return topic_name


async def test_a_takeover_reads_the_topic_once_for_every_account(
    kafka_bootstrap: str, topic: str
) -> None:
    async with KafkaCheckpointStore(kafka_bootstrap, topic=topic, embedded=True) as writer:
        for minute in range(2):
            for account in ("a", "b", "other"):
                await writer.save(checkpoint(account, "orders", minute))
                await writer.save(checkpoint(account, "refunds", minute))
    async with KafkaCheckpointStore(kafka_bootstrap, topic=topic, embedded=True) as store:
        loads = TakeoverLoads(store)
        await loads.preload(["pazarama:a", "pazarama:b", "pazarama:new"])
        assert store.records_scanned == 12  # every record once
        assert await loads.load("pazarama:a:orders") == checkpoint("a", "orders", 1)
        assert await loads.load("pazarama:b:refunds") == checkpoint("b", "refunds", 1)
        assert await loads.load("pazarama:new:orders") is None  # known absent: no scan
        assert store.records_scanned == 12
        # Another worker's account was not kept: loading it reads the broker again.
        assert await loads.load("pazarama:other:orders") == checkpoint("other", "orders", 1)
        assert store.records_scanned > 12


async def test_a_released_account_is_read_again_when_it_comes_back(
    kafka_bootstrap: str, topic: str
) -> None:
    async with KafkaCheckpointStore(kafka_bootstrap, topic=topic, embedded=True) as store:
        await store.save(checkpoint("a", "orders", 0))
        loads = TakeoverLoads(store)
        await loads.preload(["pazarama:a"])
        loads.release("pazarama:a:")
        async with KafkaCheckpointStore(kafka_bootstrap, topic=topic, embedded=True) as other:
            await other.save(checkpoint("a", "orders", 5))  # the next owner moved on
        scanned = store.records_scanned
        assert await loads.load("pazarama:a:orders") == checkpoint("a", "orders", 5)
        assert store.records_scanned > scanned
