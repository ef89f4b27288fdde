"""The event publisher: Kafka on the producing side.

:class:`KafkaEventPublisher` is the publisher the poller depends on (:class:`EventPublisher`):
``publish(events)`` returns only once the broker acknowledged *every* event, and raises
:class:`~pipeline.errors.BrokerError` otherwise -- so a caller that checkpoints after
``publish`` returns never checkpoints past an unacknowledged event (invariant 1). A failed
publish drops the producer together with anything it still held; the caller keeps its batch and
retries it, and nothing piles up in this process while the broker is away.

Its client settings come from :mod:`pipeline.kafka_settings`; starting, probing and stopping
producers from :mod:`pipeline.producers`.

Idempotence: Tansu has no idempotent producer (README "Brokers"); real Kafka does. With
``idempotence=None`` the publisher asks the broker once
(:func:`~pipeline.producers.probe_idempotence`, cached per bootstrap) and uses it where it
exists. At-least-once plus deterministic event ids (invariant 2) keeps retries harmless either
way.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, Self

import msgspec
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder

import schemas
from pipeline.config import KafkaConfig
from pipeline.errors import BrokerError, RecordRejected
from pipeline.kafka_settings import (
    DEFAULT_LINGER_MS,
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_REQUEST_SIZE,
    DEFAULT_STOP_TIMEOUT,
    DEFAULT_TIMEOUT,
    as_config,
    producer_kwargs,
)
from pipeline.producers import close_producer, probe_idempotence
from schemas.cloudevents import event_headers

__all__ = ["EventPublisher", "Headers", "KafkaEventPublisher", "PublisherStats"]

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]


class EventPublisher(Protocol):
    """The port the poller and the applier publish through."""

    async def publish(self, events: Sequence[schemas.Event]) -> None:
        """Return once every event is acknowledged; raise BrokerError otherwise."""
        ...

    async def send_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """One record of our own making (results, dead letters), acknowledged."""
        ...


@dataclasses.dataclass
class PublisherStats:
    """Plain counters, read by the metrics exporter."""

    events_by_type: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter
    )
    records_by_topic: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter
    )
    #: Key and value bytes acknowledged (before compression).
    bytes: int = 0
    #: Successful publish()/send_raw() calls, and failed ones.
    calls: int = 0
    failures: int = 0
    #: Seconds from a call to its last acknowledgement.
    last_latency: float = 0.0
    max_latency: float = 0.0
    total_latency: float = 0.0
    #: Producers started (more than one: a failure dropped one and the next call reconnected).
    producers_started: int = 0


_Record = tuple[str, bytes | None, bytes | None, Headers]


class KafkaEventPublisher:
    """Publishes events (and raw records) with ``acks="all"``, returning only once all are acked.

    ``async with KafkaEventPublisher(cfg) as pub: await pub.publish(events)``. ``timeout``
    bounds each call (including connecting); on expiry or any Kafka error the call raises
    :class:`BrokerError` and the producer is dropped with whatever it held, so memory stays
    bounded while the broker is down and the caller simply retries the same batch -- some of
    those records may already be in Kafka (at-least-once; ids are deterministic).
    """

    def __init__(
        self,
        cfg: KafkaConfig | str,
        *,
        bootstrap: str | None = None,
        embedded: bool = False,
        idempotence: bool | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
        linger_ms: int = DEFAULT_LINGER_MS,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_request_size: int = DEFAULT_MAX_REQUEST_SIZE,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._cfg = as_config(cfg)
        self._embedded = embedded
        # Built (and secrets resolved) now: a config error shows at construction, not at the
        # first publish.
        self._kwargs = producer_kwargs(
            self._cfg,
            bootstrap=bootstrap,
            embedded=embedded,
            timeout=timeout,
            linger_ms=linger_ms,
            max_batch_size=max_batch_size,
            max_request_size=max_request_size,
            environ=environ,
        )
        self._environ = environ
        self.bootstrap: str = self._kwargs["bootstrap_servers"]
        #: None until decided: False for the embedded broker, else probed at the first start.
        self.idempotent: bool | None = False if embedded else idempotence
        self.timeout = timeout
        self.stop_timeout = stop_timeout
        self.stats = PublisherStats()
        self._producer: Any = None
        self._starting = asyncio.Lock()
        self._closed = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def connected(self) -> bool:
        """Whether a producer is up (False after a failure dropped it, until the next call)."""
        return self._producer is not None

    async def start(self) -> None:
        """Connect now (otherwise the first call connects). :class:`BrokerError` on failure."""
        try:
            async with asyncio.timeout(self.timeout):
                await self._ensure_producer()
        except TimeoutError as exc:
            raise BrokerError(
                f"cannot connect to Kafka at {self.bootstrap} within {self.timeout:g}s"
            ) from exc

    async def aclose(self) -> None:
        """Flush what is pending (bounded by ``stop_timeout``) and disconnect. Idempotent."""
        self._closed = True
        producer, self._producer = self._producer, None
        if producer is not None:
            await close_producer(producer, stop_timeout=self.stop_timeout)

    async def abort(self) -> None:
        """Close without flushing: what is not acknowledged yet is dropped, as in a crash.
        Idempotent; for shutdown after a deadline and for tests of invariant 1."""
        self._closed = True
        producer, self._producer = self._producer, None
        if producer is not None:
            await close_producer(producer, stop_timeout=self.stop_timeout, drop_pending=True)

    async def publish(self, events: Sequence[schemas.Event]) -> None:
        """Send every event to its topic; return once the broker acknowledged all of them.

        Key ``platform:account:order_id``, value the JSON envelope, CloudEvents binary-mode
        headers. Raises :class:`BrokerError` when any is not acknowledged within ``timeout``.
        """
        if not events:
            return
        records: list[_Record] = [
            (
                event.topic,
                event.key(),
                schemas.encode_event(event),
                event_headers(event),
            )
            for event in events
        ]
        await self._send_all(records, batched=True)
        self.stats.events_by_type.update(event.type for event in events)

    async def send_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] = (),
        *,
        within: float | None = None,
    ) -> None:
        """Send one record and return once it is acknowledged (same rules as :meth:`publish`).

        ``within`` (seconds; default: the publisher's ``timeout``) bounds this call; when it
        runs out the record is dropped from the producer with everything else it holds, so it
        never goes out late (the command consumer's results must be in the log before a
        deadline, or not at all).
        """
        await self._send_all([(topic, key, value, list(headers))], within=within)

    async def partitions_for(self, topic: str) -> set[int]:
        """The partition ids the producer routes ``topic``'s keys over.

        Careful: asking for an unknown topic by name auto-creates it (Tansu, and Kafka with
        its default ``auto.create.topics.enable``); check that it exists first.
        """
        try:
            async with asyncio.timeout(self.timeout):
                producer = await self._ensure_producer()
                return set(await producer.partitions_for(topic))
        except (KafkaError, TimeoutError) as exc:
            raise BrokerError(f"no metadata for {topic} at {self.bootstrap}: {exc!r}") from exc

    # -- internals --------------------------------------------------------------------------

    async def _ensure_producer(self) -> Any:
        async with self._starting:
            if self._closed:
                raise BrokerError("the publisher is closed")
            if self._producer is None:
                if self.idempotent is None:
                    self.idempotent = await probe_idempotence(
                        msgspec.structs.replace(self._cfg, bootstrap=self.bootstrap),
                        probe_timeout=self.timeout,
                        environ=self._environ,
                    )
                producer = AIOKafkaProducer(
                    **{**self._kwargs, "enable_idempotence": self.idempotent}
                )
                try:
                    await producer.start()
                except BaseException as exc:
                    await close_producer(
                        producer, stop_timeout=self.stop_timeout, drop_pending=True
                    )
                    if isinstance(exc, KafkaError):
                        raise BrokerError(
                            f"cannot connect to Kafka at {self.bootstrap}: {exc!r}"
                        ) from exc
                    raise
                self._producer = producer
                self.stats.producers_started += 1
            return self._producer

    async def _send_all(
        self, records: list[_Record], *, batched: bool = False, within: float | None = None
    ) -> None:
        started = time.perf_counter()
        futures: list[asyncio.Future[Any]] = []
        producer: Any = None
        try:
            async with asyncio.timeout(self.timeout if within is None else within):
                producer = await self._ensure_producer()
                if batched:
                    await self._send_batches(producer, records, futures)
                else:
                    for topic, key, value, headers in records:
                        futures.append(await producer.send(topic, value, key=key, headers=headers))
                await asyncio.gather(*futures)
        except (KafkaError, TimeoutError) as exc:
            _cancel(futures)
            self.stats.failures += 1
            away = _broker_away(exc)
            if producer is not None and away:
                await self._discard(producer)
            raise self._error(records, exc, time.perf_counter() - started, final=not away) from exc
        except BaseException as exc:
            # Cancelled (the caller's deadline, a rebalance) or a bug: the records already
            # handed to the producer may still go out -- harmless, ids are deterministic -- and
            # the producer stays, so a poller cancelled on revocation does not fail the
            # publishes of the others sharing it.
            _cancel(futures)
            if not isinstance(exc, asyncio.CancelledError):
                self.stats.failures += 1
            raise
        elapsed = time.perf_counter() - started
        stats = self.stats
        stats.calls += 1
        stats.records_by_topic.update(topic for topic, *_ in records)
        stats.bytes += sum(len(k or b"") + len(v or b"") for _, k, v, _ in records)
        stats.last_latency = elapsed
        stats.total_latency += elapsed
        stats.max_latency = max(stats.max_latency, elapsed)

    async def _send_batches(
        self, producer: Any, records: list[_Record], futures: list[asyncio.Future[Any]]
    ) -> None:
        """Hand ``records`` to the producer as batches, one run per partition (aiokafka's batch
        API), collecting a future per batch in ``futures``.

        The same partitions (:class:`~pipeline.partitioning.KeyPartitioner`, as configured),
        order per key, compression and size limits as ``send()`` per record, without a
        coroutine, a metadata check and a future per record: those, and resolving 500 futures
        per acknowledged chunk, cost about as much as the record's encoding.
        """
        limit = self._kwargs["max_request_size"]
        partition_of = self._kwargs["partitioner"]
        groups: dict[tuple[str, int], list[_Record]] = {}
        partitions: dict[str, list[int]] = {}
        for record in records:
            topic, key, value, headers = record
            ids = partitions.get(topic)
            if ids is None:
                ids = partitions[topic] = sorted(await producer.partitions_for(topic))
            size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)
            if size > limit:  # what send() checks before taking a record
                raise MessageSizeTooLargeError(
                    f"The message is {size} bytes when serialized which is larger than the "
                    "maximum request size you have configured with the max_request_size "
                    "configuration"
                )
            groups.setdefault((topic, partition_of(key, ids, ids)), []).append(record)
        for (topic, partition), group in groups.items():
            batch = producer.create_batch()
            for _, key, value, headers in group:
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                    # Full (max_batch_size): send it, start the next. A first record always
                    # fits, whatever its size.
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None, headers=headers)
            futures.append(await producer.send_batch(batch, topic, partition=partition))

    async def _discard(self, producer: Any) -> None:
        # Only the producer that failed: a concurrent call may already have replaced it.
        if self._producer is producer:
            self._producer = None
        await close_producer(producer, stop_timeout=self.stop_timeout, drop_pending=True)

    def _error(
        self, records: list[_Record], exc: BaseException, elapsed: float, *, final: bool = False
    ) -> BrokerError:
        topics = ", ".join(sorted({topic for topic, *_ in records}))
        cause = (
            f"not acknowledged within {self.timeout:g}s"
            if isinstance(exc, TimeoutError)
            else repr(exc)
        )
        log.warning(
            "publish failed bootstrap=%s topics=%s records=%d elapsed=%.2fs cause=%s",
            self.bootstrap,
            topics,
            len(records),
            elapsed,
            cause,
        )
        if final:
            return RecordRejected(f"{len(records)} record(s) to {topics} refused: {cause}")
        return BrokerError(
            f"{len(records)} record(s) to {topics} at {self.bootstrap}: {cause}; "
            f"retry the same batch"
        )


def _cancel(futures: list[asyncio.Future[Any]]) -> None:
    """Settle the futures of a failed or abandoned publish: nobody will wait for them.

    A pending one is cancelled (a cancelled future never logs an unretrieved error). A failed
    one has its exception retrieved: ``gather`` raised the first failure only, and dropping the
    producer fails every batch it held, so the others would log "Future exception was never
    retrieved" with a traceback each when collected -- one per batch, every broker outage.
    """
    for future in futures:
        if not future.done():
            future.cancel()
        elif not future.cancelled():
            future.exception()


def _broker_away(exc: BaseException) -> bool:
    """Whether a failure means the broker is unreachable or stuck (drop the producer and what
    it holds), rather than something about these records (too large, not authorized)."""
    return isinstance(exc, TimeoutError | KafkaTimeoutError) or bool(
        getattr(exc, "retriable", False)
    )
