"""Poll checkpoints: how far each (platform, account, stream) has been published, and what was.

A checkpoint is written only after every event up to it was acknowledged by the broker
(DESIGN invariant 1), as a record keyed ``platform:account:stream`` on ``_pipeline.checkpoints``
(a compacted topic: the newest record per key is the state). It holds:

* ``cursor`` — the recent loop's high-water mark: every record created before it was published;
* ``fingerprints`` — per record id, a digest of what was last published (invariant 2: an
  unchanged order publishes nothing, even across restarts and overlapping windows);
* ``malformed`` — records the platform returned that could not be mapped, retried by id on
  every sweep until they map (nothing is silently dropped);
* ``platform_state`` — small per-platform memory the API cannot give back (Softtr's statuses);
* ``requests`` — only in *request records* (below), and in stream checkpoints written by
  versions before them (still read: the newest record of an account is the one that counts).

*Request records* are checkpoints too, under keys of their own, in which only ``requests``
(:class:`~pipeline.carryover.RequestRecord`: the account's recent requests and the writer's
lease) means anything; readers of poll progress skip them (:data:`RECORD_STREAMS`):

* ``platform:account:polls`` (:data:`POLLS_STREAM`): the poll role's, renewed before its lease
  runs out while poll requests go out, so the next owner counts them in its rate budget;
* ``platform:account:commands`` (:data:`COMMANDS_STREAM`, :mod:`pipeline.command_records`): the
  apply role's command lane.

A stream checkpoint is saved at the end of a pass when what it remembers changed (fingerprints,
malformed ids, platform state); when only the cursor or the sweep time moved, at most every
``PollSettings.checkpoint_every`` (a new owner then re-reads a little more, which publishes
nothing: the fingerprints are the saved ones); and when a poller stops. While a long pass runs it
saves *progress* (fingerprints of records whose events are acknowledged, never the cursor).

Encoded with msgspec JSON and gzip-compressed by the producer; fingerprints older than the
account's horizon and in a terminal state are pruned so the record stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Protocol, Self

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from pipeline.bus import KafkaEventPublisher
from pipeline.carryover import RequestRecord
from pipeline.config import KafkaConfig
from pipeline.errors import BrokerError, PipelineError
from pipeline.kafka_settings import DEFAULT_TIMEOUT, as_config, consumer_kwargs
from pipeline.topics import CHECKPOINT_MAX_BYTES
from schemas import topics
from schemas.times import AwareDatetime

CHECKPOINT_VERSION = 1


class Fingerprint(msgspec.Struct, frozen=True, array_like=True):
    """What was last published for one record (array-like: compact on the wire)."""

    #: Digest of each part of the record (``status``, ``items``, ``shipments``...) → changed parts.
    parts: dict[str, str]
    #: Canonical status / state and the raw value, as last published.
    status: str
    raw_status: str
    #: When the record was created on the platform (for horizon pruning and sweeps).
    created_at: AwareDatetime
    terminal: bool


class Checkpoint(msgspec.Struct, kw_only=True):
    platform: str
    account: str
    stream: str
    cursor: AwareDatetime
    fingerprints: dict[str, Fingerprint] = msgspec.field(default_factory=dict)
    malformed: dict[str, str] = msgspec.field(default_factory=dict)
    #: Last successful active sweep (``updated_since`` platforms continue from it).
    swept_at: AwareDatetime | None = None
    platform_state: dict[str, str] = msgspec.field(default_factory=dict)
    written_at: AwareDatetime | None = None
    requests: RequestRecord | None = None
    version: int = CHECKPOINT_VERSION

    @property
    def key(self) -> str:
        return checkpoint_key(self.platform, self.account, self.stream)

    def prune(self, *, before: dt.datetime) -> int:
        """Forget terminal records created before ``before``; returns how many were dropped."""
        old = [k for k, f in self.fingerprints.items() if f.terminal and f.created_at < before]
        for k in old:
            del self.fingerprints[k]
        return len(old)


#: The key suffix of the apply role's command-lane request records (pipeline.command_records):
#: checkpoints too, though their ``cursor`` is only the record's time -- readers of poll
#: progress skip them.
COMMANDS_STREAM = "commands"
#: The key suffix of the poll role's request records (pipeline.poller, pipeline.carryover).
POLLS_STREAM = "polls"
#: Keys that hold request records, not poll progress.
RECORD_STREAMS = frozenset({COMMANDS_STREAM, POLLS_STREAM})


def request_record(platform: str, account: str, stream: str, record: RequestRecord) -> Checkpoint:
    """``record`` as the checkpoint a request-record key holds (:data:`RECORD_STREAMS`): only
    ``requests`` means anything; its cursor and ``written_at`` are the record's time."""
    if stream not in RECORD_STREAMS:
        raise ValueError(f"{stream!r} is not a request-record stream")
    return Checkpoint(
        platform=platform,
        account=account,
        stream=stream,
        cursor=record.at,
        written_at=record.at,
        requests=record,
    )


def checkpoint_key(platform: str, account: str, stream: str) -> str:
    return f"{platform}:{account}:{stream}"


class CheckpointStore(Protocol):
    """Where checkpoints live. ``save`` returns once the broker acknowledged the record."""

    async def load(self, key: str) -> Checkpoint | None: ...

    async def save(self, checkpoint: Checkpoint) -> None: ...


class MemoryCheckpointStore:
    """A store in memory, for one process (tests and ``pipeline up`` without a broker)."""

    def __init__(self) -> None:
        self.saved: dict[str, bytes] = {}
        self.saves = 0

    async def load(self, key: str) -> Checkpoint | None:
        raw = self.saved.get(key)
        return None if raw is None else decode_checkpoint(raw)

    async def save(self, checkpoint: Checkpoint) -> None:
        self.saved[checkpoint.key] = encode_checkpoint(checkpoint)
        self.saves += 1

    async def load_keys(self, keys: Iterable[str]) -> dict[str, Checkpoint]:
        return {k: decode_checkpoint(self.saved[k]) for k in sorted(set(keys)) if k in self.saved}


_decoder = msgspec.json.Decoder(Checkpoint)


def encode_checkpoint(checkpoint: Checkpoint) -> bytes:
    return msgspec.json.encode(checkpoint)


def decode_checkpoint(raw: bytes) -> Checkpoint:
    return _decoder.decode(raw)


# --- on Kafka -------------------------------------------------------------------------------------


class CheckpointDecodeError(PipelineError):
    """The newest checkpoint record of a key cannot be used (undecodable, newer version...).

    Not retriable and never treated as "no checkpoint": starting over would re-publish the
    account's whole horizon and forget its fingerprints. The message names the key and the
    topic, never the record's content.
    """


class KafkaCheckpointStore:
    """Checkpoints as records on ``_pipeline.checkpoints``, keyed ``platform:account:stream``.

    :meth:`save` produces the encoded checkpoint with ``acks="all"`` and returns once the
    broker acknowledged it (:class:`~pipeline.errors.BrokerError` otherwise). :meth:`load`
    returns the newest record of a key: it reads the partition the key hashes to (murmur2, as
    the producer's default partitioner routes it) from its first offset to its end offset *at
    call time*, keeping the last value of that key -- with a plain consumer (``assign()``), no
    group, no commits, so a load never disturbs a consumer group.

    Cost and mitigation. Kafka compacts the topic to about one record per key, but Tansu never
    compacts (README "Brokers"), so there a load reads every checkpoint ever saved to that
    partition: saves per minute x streams per partition x record size. Hence:

    * a cache of the newest record this process saved or loaded per key (the encoded bytes, so
      a caller mutating its :class:`Checkpoint` cannot change what the next load returns).
      It is right only while this process owns the key: call :meth:`invalidate` for the keys
      of partitions it loses (a rebalance), or a later owner's saves would go unseen;
    * :meth:`load_all` reads every partition once, for taking over many accounts at once,
      instead of one partition scan per key.

    An undecodable newest record raises :class:`CheckpointDecodeError` naming the key (see
    there) rather than returning ``None``. ``publisher``: share an existing publisher's
    connection for saves (its ``max_request_size`` must fit the checkpoints); by default the
    store owns one sized for :data:`~pipeline.topics.CHECKPOINT_MAX_BYTES`.
    """

    def __init__(
        self,
        cfg: KafkaConfig | str,
        *,
        bootstrap: str | None = None,
        embedded: bool = False,
        topic: str = topics.CHECKPOINTS,
        timeout: float = DEFAULT_TIMEOUT,
        read_timeout: float = 60.0,
        publisher: KafkaEventPublisher | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        config = as_config(cfg)
        self.topic = topic
        self.timeout = timeout
        self.read_timeout = read_timeout
        self._owns_publisher = publisher is None
        self._publisher = publisher or KafkaEventPublisher(
            config,
            bootstrap=bootstrap,
            embedded=embedded,
            timeout=timeout,
            linger_ms=0,  # one record per save, awaited: nothing to batch with
            max_request_size=CHECKPOINT_MAX_BYTES,
            environ=environ,
        )
        self._consumer_kwargs = consumer_kwargs(
            config,
            bootstrap=bootstrap,
            max_partition_fetch_bytes=CHECKPOINT_MAX_BYTES,
            environ=environ,
        )
        self._consumer: Any = None
        self._partitions: list[int] | None = None
        self._reading = asyncio.Lock()
        self._cache: dict[str, bytes | None] = {}
        self._partitioner = DefaultPartitioner()
        #: Records read by loads (a measure of the scan cost), saves (and their value bytes,
        #: before compression) and loads served by cache.
        self.records_scanned = 0
        self.saves = 0
        self.bytes_saved = 0
        self.cache_hits = 0

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the reader and (if the store owns it) the producer. Idempotent."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(KafkaError, TimeoutError, OSError):
                async with asyncio.timeout(self.timeout):
                    await consumer.stop()
        if self._owns_publisher:
            await self._publisher.aclose()

    # -- the CheckpointStore protocol -------------------------------------------------------

    async def save(self, checkpoint: Checkpoint) -> None:
        """Produce the checkpoint and return once acknowledged; :class:`BrokerError` otherwise."""
        key = checkpoint.key
        raw = encode_checkpoint(checkpoint)
        try:
            await self._publisher.send_raw(
                self.topic,
                key.encode(),
                raw,
                [("content-type", b"application/json"), ("version", b"%d" % checkpoint.version)],
            )
        except BaseException:
            # The record may have landed anyway: the next load must ask the broker.
            self._cache.pop(key, None)
            raise
        self._cache[key] = raw
        self.saves += 1
        self.bytes_saved += len(raw)

    async def load(self, key: str, *, cached: bool = True) -> Checkpoint | None:
        """The newest checkpoint of ``key``, or ``None`` if it never had one."""
        if cached and key in self._cache:
            self.cache_hits += 1
        else:
            partitions = await self._partition_ids()
            partition = self._partitioner(key.encode(), partitions, partitions)
            found = await self._scan([partition], lambda k: k == key)
            self._cache[key] = found.get(key)
        raw = self._cache[key]
        return None if raw is None else self._decode(key, raw)

    async def load_all(self, prefix: str = "") -> dict[str, Checkpoint]:
        """The newest checkpoint of every key starting with ``prefix``, reading each partition
        once. The cache takes them all: call it for keys this process now owns."""
        found = await self._scan(await self._partition_ids(), lambda k: k.startswith(prefix))
        self._cache.update(found)
        return {
            key: self._decode(key, raw) for key, raw in sorted(found.items()) if raw is not None
        }

    async def load_keys(self, keys: Iterable[str]) -> dict[str, Checkpoint]:
        """The newest checkpoint of each of ``keys`` that has one, reading only the partitions
        that hold them (once each)."""
        wanted = set(keys)
        if not wanted:
            return {}
        partitions = await self._partition_ids()
        holding = {self._partitioner(k.encode(), partitions, partitions) for k in wanted}
        found = await self._scan(sorted(holding), wanted.__contains__)
        self._cache.update(found)
        return {
            key: self._decode(key, raw) for key, raw in sorted(found.items()) if raw is not None
        }

    def invalidate(self, prefix: str = "") -> int:
        """Forget cached checkpoints of keys starting with ``prefix`` (ownership lost)."""
        gone = [key for key in self._cache if key.startswith(prefix)]
        for key in gone:
            del self._cache[key]
        return len(gone)

    # -- internals --------------------------------------------------------------------------

    def _decode(self, key: str, raw: bytes) -> Checkpoint:
        try:
            checkpoint = decode_checkpoint(raw)
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            raise CheckpointDecodeError(
                f"checkpoint {key} on {self.topic}: the newest record cannot be decoded "
                f"({exc}); refusing to start this stream over"
            ) from None
        if checkpoint.version > CHECKPOINT_VERSION:
            raise CheckpointDecodeError(
                f"checkpoint {key} on {self.topic} has version {checkpoint.version}, this "
                f"worker knows up to {CHECKPOINT_VERSION}: a newer worker wrote it"
            )
        if checkpoint.key != key:
            raise CheckpointDecodeError(
                f"checkpoint under key {key} on {self.topic} is for {checkpoint.key}"
            )
        return checkpoint

    async def _partition_ids(self) -> list[int]:
        if self._partitions is None:
            consumer = await self._reader()
            try:
                async with asyncio.timeout(self.timeout):
                    # A Metadata request for all topics: asking for this topic by name would
                    # auto-create it (4 partitions on Tansu) when it is missing.
                    if self.topic not in await consumer.topics():
                        raise BrokerError(
                            f"topic {self.topic} does not exist (run `pipeline topics create`)"
                        )
                    partitions = await self._publisher.partitions_for(self.topic)
            except (KafkaError, TimeoutError) as exc:
                raise BrokerError(f"cannot read the partitions of {self.topic}: {exc!r}") from exc
            self._partitions = sorted(partitions)
        return self._partitions

    async def _reader(self) -> Any:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(**self._consumer_kwargs)
            try:
                async with asyncio.timeout(self.timeout):
                    await consumer.start()
            except BaseException as exc:
                with contextlib.suppress(KafkaError, TimeoutError, OSError):
                    async with asyncio.timeout(self.timeout):
                        await consumer.stop()
                if isinstance(exc, KafkaError | TimeoutError):
                    raise BrokerError(f"cannot start the checkpoint reader: {exc!r}") from exc
                raise
            self._consumer = consumer
        return self._consumer

    async def _scan(
        self, partitions: list[int], wanted: Callable[[str], bool]
    ) -> dict[str, bytes | None]:
        """Last value per wanted key in ``partitions``, from their start to their end now.

        The end of a partition is the larger of ListOffsets' answer and the high watermark of
        the first fetch: Tansu answers ListOffsets "latest" with the base offset of the last
        *batch* + 1, so it would cut off the rest of that batch (README "Brokers").
        """
        tps = [TopicPartition(self.topic, p) for p in partitions]
        latest: dict[str, bytes | None] = {}
        async with self._reading:  # assign()/seek() are per consumer: one scan at a time
            consumer = await self._reader()
            try:
                async with asyncio.timeout(self.read_timeout):
                    first = await consumer.beginning_offsets(tps)
                    listed = await consumer.end_offsets(tps)
                    todo = {tp for tp in tps if listed[tp] > first[tp]}
                    consumer.assign(sorted(todo))
                    for tp in todo:
                        consumer.seek(tp, first[tp])
                    end: dict[TopicPartition, int] = {}
                    while todo:
                        batches = await consumer.getmany(*todo, timeout_ms=200)
                        for tp, records in batches.items():
                            end.setdefault(tp, max(listed[tp], consumer.highwater(tp)))
                            for record in records:
                                if record.offset >= end[tp]:
                                    break
                                self.records_scanned += 1
                                key = (record.key or b"").decode("utf-8", "replace")
                                if wanted(key):
                                    latest[key] = record.value
                        for tp in list(todo):
                            if tp not in end:
                                highwater = consumer.highwater(tp)
                                if highwater is None:  # no fetch answered yet
                                    continue
                                end[tp] = max(listed[tp], highwater)
                            if await consumer.position(tp) >= end[tp]:
                                todo.discard(tp)
            except (KafkaError, TimeoutError) as exc:
                raise BrokerError(
                    f"reading {self.topic} partitions {partitions} failed: {exc!r}"
                ) from exc
            finally:
                # Unassigned, the consumer stops prefetching in the background.
                consumer.assign([])
        return latest
