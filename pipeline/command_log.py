"""Bookkeeping of ``commands.v1`` for the apply role: which offsets may be committed, and which
commands already have a result on ``command-results.v1``."""

from __future__ import annotations

import collections
import contextlib
from dataclasses import dataclass, field

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import topics


class Offsets:
    """Offsets of one partition in fetch order; commit up to the first one not done."""

    def __init__(self) -> None:
        self.order: collections.deque[int] = collections.deque()
        self.done: set[int] = set()
        self.committed: int | None = None

    def add(self, offset: int) -> None:
        self.order.append(offset)

    def finish(self, offset: int) -> None:
        self.done.add(offset)

    def committable(self) -> int | None:
        last = None
        while self.order and self.order[0] in self.done:
            last = self.order.popleft()
            self.done.discard(last)
        return None if last is None else last + 1

    @property
    def in_flight(self) -> int:
        return len(self.order)


@dataclass(slots=True)
class ConsumerStats:
    received: int = 0
    results: collections.Counter[str] = field(default_factory=collections.Counter)
    #: (platform, outcome) → count, for the live view and the metrics.
    by_platform: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    dead_letters: int = 0
    skipped_done: int = 0
    commits: int = 0
    #: Results not published because their partition was lost (the next owner answers).
    abandoned: int = 0


async def read_result_ids(consumer: AIOKafkaConsumer, partitions: set[int]) -> set[str]:
    """Command ids that already have a result in these ``command-results.v1`` partitions.

    Reads each partition from its beginning to its end at call time, without a group. Tansu's
    ``end_offsets`` counts batches, not records (README "Brokers"), so the end is the highest of
    it and the fetch high watermark.
    """
    found: set[str] = set()
    if not partitions:
        return found
    await consumer.topics()  # refresh metadata (never by naming the topic: Tansu would create it)
    have = consumer.partitions_for_topic(topics.COMMAND_RESULTS) or set()
    commands = consumer.partitions_for_topic(topics.COMMANDS) or set()
    if len(have) != len(commands):
        # Created elsewhere with another partition count: a command's results may sit in any
        # partition, so read them all (slower, still right).
        partitions = set(have)
    tps = [TopicPartition(topics.COMMAND_RESULTS, p) for p in sorted(partitions & have)]
    if not tps:
        return found
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    ends = await consumer.end_offsets(tps)
    ids = msgspec.json.Decoder(_ResultId)
    remaining = {tp for tp in tps if ends[tp] > 0}
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=1000)
        if not batch:
            break
        for tp, records in batch.items():
            for record in records:
                with contextlib.suppress(msgspec.MsgspecError):
                    found.add(ids.decode(record.value or b"").command_id)
            watermark = consumer.highwater(tp) or 0
            if await consumer.position(tp) >= max(ends[tp], watermark):
                remaining.discard(tp)
    return found


class _ResultId(msgspec.Struct):
    command_id: str
