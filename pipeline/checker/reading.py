"""Reading what the pipeline published: topic records from the first offset to the end, and how
far every account stream was polled (its newest checkpoint)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from pipeline.checkpoints import RECORD_STREAMS, Checkpoint, KafkaCheckpointStore
from pipeline.config import KafkaConfig
from pipeline.errors import BrokerError
from pipeline.kafka_settings import as_config, consumer_kwargs
from schemas import topics

__all__ = ["Observation", "TopicRecord", "observation_of", "read_observations", "read_topics"]

# --- what is on the topics ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


async def read_topics(
    target: KafkaConfig | str,
    names: Sequence[str] = (topics.ORDERS, topics.REFUNDS),
    *,
    max_wait: float = 60.0,
    environ: Mapping[str, str] | None = None,
) -> list[TopicRecord]:
    """Every record of ``names`` from the first offset to the end as of this call.

    No group: partitions are assigned, so nothing is committed and no group rebalances. The end
    of a partition is the larger of ListOffsets' answer and the high watermark of a fetch:
    Tansu answers "latest" with the last *batch's* base offset + 1 (README "Brokers"; the
    checkpoint store reads the same way). A topic that does not exist has no records (it is
    not created: only an all-topics Metadata request is sent).
    """
    consumer = AIOKafkaConsumer(**consumer_kwargs(as_config(target), environ=environ))
    out: list[TopicRecord] = []
    try:
        async with asyncio.timeout(max_wait):
            await consumer.start()
            existing = await consumer.topics()
            tps = [
                TopicPartition(name, p)
                for name in names
                if name in existing
                for p in sorted(consumer.partitions_for_topic(name) or ())
            ]
            if not tps:
                return out
            first = await consumer.beginning_offsets(tps)
            listed = await consumer.end_offsets(tps)
            todo = {tp for tp in tps if listed[tp] > first[tp]}
            consumer.assign(sorted(todo, key=lambda tp: (tp.topic, tp.partition)))
            for tp in todo:
                consumer.seek(tp, first[tp])
            end: dict[TopicPartition, int] = {}
            while todo:
                batches = await consumer.getmany(*todo, timeout_ms=200)
                for tp, records in batches.items():
                    for record in records:
                        out.append(
                            TopicRecord(
                                tp.topic,
                                tp.partition,
                                record.offset,
                                record.key,
                                record.value,
                                tuple((k, bytes(v)) for k, v in record.headers or ()),
                            )
                        )
                for tp in list(todo):
                    highwater = consumer.highwater(tp)
                    if highwater is None:  # no fetch answered yet
                        continue
                    end.setdefault(tp, max(listed[tp], highwater))
                    if await consumer.position(tp) >= end[tp]:
                        todo.discard(tp)
    except (KafkaError, TimeoutError) as exc:
        raise BrokerError(f"reading {', '.join(names)} failed: {exc!r}") from exc
    finally:
        with contextlib.suppress(KafkaError, TimeoutError, OSError):
            async with asyncio.timeout(10):
                await consumer.stop()
    # A fetch may return records past the end we fixed (still being produced): keep them, the
    # order within a partition is what matters.
    return sorted(out, key=lambda r: (r.topic, r.partition, r.offset))


# --- how far the pipeline claims to have polled -------------------------------------------------


class Observation(msgspec.Struct, frozen=True, kw_only=True):
    """One account stream as its newest checkpoint describes it.

    ``polled_until``: everything created before it was published (the cursor). ``since``: the
    last complete look at every open record began no later than this (the older of the cursor
    and the last sweep), so a change before it must be on the topic.
    """

    polled_until: dt.datetime
    since: dt.datetime
    #: When the checkpoint was made (a save retried through an outage keeps this time).
    written_at: dt.datetime | None = None
    #: Records the pipeline holds as unmapped (the checkpoint's ``malformed``: known, retried
    #: at every sweep): not on the topic yet, and not lost.
    unmapped: frozenset[str] = frozenset()


def observation_of(checkpoint: Checkpoint) -> Observation:
    swept = checkpoint.swept_at or checkpoint.cursor
    return Observation(
        polled_until=checkpoint.cursor,
        since=min(checkpoint.cursor, swept),
        written_at=checkpoint.written_at,
        unmapped=frozenset(checkpoint.malformed),
    )


async def read_observations(
    target: KafkaConfig | str, *, topic: str = topics.CHECKPOINTS, max_wait: float = 60.0
) -> dict[tuple[str, str, str], Observation]:
    """``(platform, account, stream)`` → :class:`Observation`, from ``_pipeline.checkpoints``."""
    async with KafkaCheckpointStore(target, topic=topic, read_timeout=max_wait) as store:
        found = await store.load_all()
    return {
        (c.platform, c.account, c.stream): observation_of(c)
        for c in found.values()
        if c.stream not in RECORD_STREAMS  # request records: no poll progress
    }
