"""Reading a topic without a group: the engine of ``pipeline replay`` and ``pipeline tail``.

:func:`replay` reads with a group-less consumer (``assign()``): it never joins a consumer group
and never commits, so running it cannot move a partition away from a worker or skip a command.
Without ``follow`` it reads what the topic holds now (to each partition's end at start) and
returns; with ``follow`` it starts at the end (or at ``since`` / ``from_offsets``) and runs until
``stop`` is set (or ``limit`` records matched). Each record is described and filtered as
:mod:`pipeline.replay_view` says and handed to ``emit`` (the command line's
:class:`~pipeline.replay_view.Printer`); the command line itself is :mod:`pipeline.replay_cli`.

``to`` re-publishes each matching record unchanged (key, value, headers) with ``acks=all``. A
dead letter is unwrapped: the *original* command's key, bytes and headers go out, not the letter
(``replay commands-dlq.v1 --to commands.v1`` requeues).

Time. ``since``/``until`` seek with ``offsets_for_times`` where the broker honours it and filter
every record anyway (a record's time: :func:`~pipeline.replay_view.describe`). Tansu does not
(README "Brokers": it searches by append time and answers offset 0 / timestamp -1 past the end):
the broker is probed once per bootstrap (a lookup one year ahead must find nothing:
:func:`probe_time_index`) and without a usable index the partitions are scanned from the
beginning and filtered.

Ends. A partition's end is max(ListOffsets latest, fetch high watermark), because Tansu answers
ListOffsets with the last *batch's* base offset + 1 (README "Brokers"): :func:`log_ends`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError, UnsupportedVersionError

from pipeline.bus import KafkaEventPublisher
from pipeline.config import KafkaConfig
from pipeline.errors import BrokerError, ConfigError
from pipeline.kafka_settings import DEFAULT_TIMEOUT, as_config, consumer_kwargs
from pipeline.replay_view import Filters, RecordView, describe
from pipeline.topics import CHECKPOINT_MAX_BYTES, TopicSpec, ensure_topics
from schemas import DeadLetter

__all__ = [
    "ReplayStats",
    "log_ends",
    "probe_time_index",
    "replay",
]

log = logging.getLogger(__name__)

#: Records are fetched up to this size (the largest our topics allow: checkpoints).
_MAX_FETCH: Final = CHECKPOINT_MAX_BYTES
_POLL_MS: Final = 200
_FAR_AHEAD_MS: Final = 365 * 24 * 3600 * 1000
_time_index_cache: dict[str, bool] = {}


# --- reading ---------------------------------------------------------------------------------


async def log_ends(
    consumer: AIOKafkaConsumer,
    tps: Sequence[TopicPartition],
    *,
    request_timeout: float = DEFAULT_TIMEOUT,
) -> dict[TopicPartition, int]:
    """Each partition's end offset now: max(ListOffsets latest, fetch high watermark).

    Tansu answers ListOffsets "latest" with the last batch's base offset + 1 (README
    "Brokers"), so a fetch from there tells the real end. Leaves the consumer unassigned.
    """
    try:
        async with asyncio.timeout(request_timeout):
            listed = await consumer.end_offsets(list(tps))
            first = await consumer.beginning_offsets(list(tps))
            ends = {tp: int(listed[tp]) for tp in tps}
            pending = {tp for tp in tps if listed[tp] > first[tp]}  # empty ones end where listed
            consumer.assign(sorted(pending))
            for tp in pending:
                consumer.seek(tp, listed[tp] - 1)
            while pending:
                await consumer.getmany(*pending, timeout_ms=_POLL_MS)
                for tp in list(pending):
                    highwater = consumer.highwater(tp)
                    if highwater is not None:
                        ends[tp] = max(ends[tp], highwater)
                        pending.discard(tp)
    except (KafkaError, TimeoutError) as exc:
        raise BrokerError(f"cannot read the end offsets of {sorted(tps)}: {exc!r}") from exc
    finally:
        consumer.assign([])
    return ends


async def probe_time_index(
    consumer: AIOKafkaConsumer,
    tps: Sequence[TopicPartition],
    *,
    bootstrap: str,
    refresh: bool = False,
) -> bool:
    """Whether ``offsets_for_times`` can be trusted, cached per bootstrap: a lookup a year ahead
    must find nothing (Kafka: ``None``). Tansu answers offset 0 / timestamp -1 there, and
    searches by append time anyway (README "Brokers")."""
    if not refresh and bootstrap in _time_index_cache:
        return _time_index_cache[bootstrap]
    ahead = int(time.time() * 1000) + _FAR_AHEAD_MS
    try:
        answers = await consumer.offsets_for_times({tp: ahead for tp in tps})
    except UnsupportedVersionError:
        supported = False
    else:
        supported = all(found is None for found in answers.values())
    _time_index_cache[bootstrap] = supported
    log.info("time index probe bootstrap=%s usable=%s", bootstrap, supported)
    return supported


async def _offsets_at(
    consumer: AIOKafkaConsumer, tps: Sequence[TopicPartition], when: dt.datetime
) -> dict[TopicPartition, int | None]:
    ms = int(when.timestamp() * 1000)
    answers = await consumer.offsets_for_times({tp: ms for tp in tps})
    return {
        tp: (None if found is None or found.timestamp < 0 else int(found.offset))
        for tp, found in answers.items()
    }


@dataclasses.dataclass(slots=True)
class ReplayStats:
    scanned: int = 0
    matched: int = 0
    republished: int = 0
    #: Matching records not re-published (a DLQ record that is not a dead letter).
    skipped: int = 0
    #: True: --since/--until seeked with offsets_for_times; False: scanned; None: not needed.
    time_index: bool | None = None
    partitions: list[int] = dataclasses.field(default_factory=list)
    #: Partitions given up on before their end (no progress within ``idle_timeout``).
    incomplete: list[int] = dataclasses.field(default_factory=list)


async def replay(
    kafka: KafkaConfig | str,
    topic: str,
    emit: Callable[[RecordView], object],
    *,
    filters: Filters | None = None,
    from_offsets: Mapping[int | None, int] | None = None,
    limit: int | None = None,
    to: str | None = None,
    create_to: bool = False,
    replication_factor: int | None = None,
    follow: bool = False,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[ReplayStats], object] | None = None,
    time_index: bool | None = None,
    idle_timeout: float = 5.0,
    request_timeout: float = DEFAULT_TIMEOUT,
) -> ReplayStats:
    """Read ``topic`` without a group, call ``emit`` for each record ``filters`` match (and send
    it to ``to``). ``follow``: start at the end unless told otherwise and run until ``stop``
    is set or ``limit`` records matched. ``on_ready`` is called once the start positions are
    fixed (a record produced after it is seen by a follow). ``time_index`` overrides the probe.
    """
    filters = filters or Filters()
    from_offsets = dict(from_offsets or {})
    stop = stop or asyncio.Event()
    stats = ReplayStats(time_index=time_index)
    if to is not None and follow and to == topic:
        raise ConfigError(f"tail --to {to}: re-publishing into the followed topic never ends")
    cfg = as_config(kafka)
    kwargs = consumer_kwargs(cfg, max_partition_fetch_bytes=_MAX_FETCH)
    consumer = AIOKafkaConsumer(**kwargs, fetch_max_wait_ms=_POLL_MS)
    publisher: KafkaEventPublisher | None = None
    try:
        async with asyncio.timeout(request_timeout):
            await consumer.start()
            # All topics: naming one that is missing would make Tansu create it.
            existing = await consumer.topics()
        if topic not in existing:
            raise ConfigError(f"topic {topic} does not exist")
        parts = sorted(consumer.partitions_for_topic(topic) or ())
        named = {p for p in from_offsets if p is not None}
        if named - set(parts):
            raise ConfigError(f"{topic} has no partition(s) {sorted(named - set(parts))}")
        stats.partitions = sorted(named) if named else parts
        tps = [TopicPartition(topic, p) for p in stats.partitions]
        if to is not None:
            if to not in existing:
                if not create_to:
                    raise ConfigError(f"topic {to} does not exist (--create-to creates it)")
                spec = TopicSpec(partitions=len(parts))
                await ensure_topics(cfg, {to: spec}, replication_factor=replication_factor)
            publisher = KafkaEventPublisher(
                cfg, max_request_size=_MAX_FETCH, timeout=request_timeout
            )
        start, end = await _positions(
            consumer,
            tps,
            filters,
            from_offsets,
            follow,
            stats,
            str(kwargs["bootstrap_servers"]),
            request_timeout,
        )
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, start[tp])
        if on_ready is not None:
            on_ready(stats)
        todo = {tp for tp in tps if follow or start[tp] < end[tp]}
        progress = time.monotonic()
        while todo and not stop.is_set():
            batch = await consumer.getmany(*todo, timeout_ms=_POLL_MS)
            for tp, records in batch.items():
                for record in records:
                    if not follow and record.offset >= end[tp]:
                        break
                    stats.scanned += 1
                    view = describe(record)
                    if not filters.matches(view):
                        continue
                    stats.matched += 1
                    emit(view)
                    if publisher is not None and to is not None:
                        await _republish(publisher, to, view, stats)
                    if limit is not None and stats.matched >= limit:
                        return stats
            if follow:
                continue
            for tp in list(todo):
                if await consumer.position(tp) >= end[tp]:
                    todo.discard(tp)
            if batch:
                progress = time.monotonic()
            elif time.monotonic() - progress > idle_timeout:
                # A compacted or transactional log can end in offsets no record fills.
                stats.incomplete = sorted(tp.partition for tp in todo)
                break
        return stats
    finally:
        with contextlib.suppress(KafkaError, TimeoutError, OSError):
            async with asyncio.timeout(request_timeout):
                await consumer.stop()
        if publisher is not None:
            await publisher.aclose()


async def _positions(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    filters: Filters,
    from_offsets: Mapping[int | None, int],
    follow: bool,
    stats: ReplayStats,
    bootstrap: str,
    request_timeout: float = DEFAULT_TIMEOUT,
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """Where each partition starts and (unless following) ends."""
    end = await log_ends(consumer, tps, request_timeout=request_timeout)
    try:
        async with asyncio.timeout(request_timeout):
            first = await consumer.beginning_offsets(tps)
            start: dict[TopicPartition, int] = {}
            for tp in tps:
                wanted = from_offsets.get(tp.partition, from_offsets.get(None))
                if wanted is None:
                    begin = end[tp] if follow and filters.since is None else first[tp]
                else:
                    begin = wanted if wanted >= 0 else end[tp] + wanted
                start[tp] = min(max(begin, first[tp]), end[tp])
            timed = filters.since is not None or (filters.until is not None and not follow)
            if timed and stats.time_index is None:
                stats.time_index = await probe_time_index(consumer, tps, bootstrap=bootstrap)
            if stats.time_index and filters.since is not None:
                at = await _offsets_at(consumer, tps, filters.since)
                for tp in tps:
                    found = at[tp]
                    start[tp] = max(start[tp], end[tp] if found is None else found)
            if stats.time_index and filters.until is not None and not follow:
                at = await _offsets_at(consumer, tps, filters.until)
                for tp in tps:
                    found = at[tp]
                    end[tp] = end[tp] if found is None else min(end[tp], found)
    except (KafkaError, TimeoutError) as exc:
        raise BrokerError(f"cannot find start offsets in {sorted(tps)}: {exc!r}") from exc
    return start, end


async def _republish(
    publisher: KafkaEventPublisher, to: str, view: RecordView, stats: ReplayStats
) -> None:
    key, value, headers = view.key, view.value, list(view.headers)
    if view.kind == "dead_letter":
        try:
            letter = msgspec.json.decode(view.value or b"", type=DeadLetter)
        except msgspec.DecodeError as exc:
            log.warning(
                "not re-published %d:%d: not a dead letter (%s)", view.partition, view.offset, exc
            )
            stats.skipped += 1
            return
        key, value, headers = letter.key, letter.value, list(letter.headers)
    await publisher.send_raw(to, key, value, headers)
    stats.republished += 1
