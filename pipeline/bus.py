"""Kafka on the producing side: client settings from the config, and the event publisher.

:func:`producer_kwargs`, :func:`consumer_kwargs` and :func:`admin_kwargs` turn the ``[kafka]``
section into aiokafka keyword arguments with *our* defaults (DESIGN "Brokers"): ``acks="all"``,
no auto-commit, zstd (``kafka.compression``), bounded request timeouts, TLS from ``ssl_*``
files and SASL credentials resolved from their :class:`~pipeline.config.SecretRef` (wrapped in
:class:`Redacted`, so a logged or printed kwargs dict shows ``'***'``).

:class:`KafkaEventPublisher` is the publisher the poller depends on (:class:`EventPublisher`):
``publish(events)`` returns only once the broker acknowledged *every* event, and raises
:class:`~pipeline.errors.BrokerError` otherwise -- so a caller that checkpoints after
``publish`` returns never checkpoints past an unacknowledged event (invariant 1). A failed
publish drops the producer together with anything it still held; the caller keeps its batch and
retries it, and nothing piles up in this process while the broker is away.

Idempotence: Tansu has no idempotent producer (README "Brokers"); real Kafka does. With
``idempotence=None`` the publisher asks the broker once (:func:`probe_idempotence`, cached per
bootstrap) and uses it where it exists. At-least-once plus deterministic event ids (invariant 2)
keeps retries harmless either way.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import ssl
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Literal, Protocol, Self

import msgspec
from aiokafka import AIOKafkaClient, AIOKafkaProducer, codec
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
)
from aiokafka.helpers import create_ssl_context
from aiokafka.record.default_records import DefaultRecordBatchBuilder

import schemas
from pipeline.broker import EMBEDDED_CONSUMER_TIMEOUTS
from pipeline.config import KafkaConfig, SecretRef
from pipeline.errors import BrokerError, ConfigError, RecordRejected
from pipeline.partitioning import KeyPartitioner
from schemas.cloudevents import event_headers

__all__ = [
    "DEFAULT_LINGER_MS",
    "DEFAULT_MAX_BATCH_SIZE",
    "DEFAULT_MAX_REQUEST_SIZE",
    "DEFAULT_TIMEOUT",
    "EventPublisher",
    "Headers",
    "KafkaEventPublisher",
    "PublisherStats",
    "Redacted",
    "admin_kwargs",
    "as_config",
    "close_producer",
    "connection_kwargs",
    "consumer_kwargs",
    "probe_idempotence",
    "producer_kwargs",
    "wait_for_broker",
]

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]

#: A poll publishes a page of events at once; 5 ms lets them share batches without delaying
#: the checkpoint noticeably.
DEFAULT_LINGER_MS: Final = 5
DEFAULT_MAX_BATCH_SIZE: Final = 256 * 1024
#: aiokafka's and Kafka's default (1 MiB). The checkpoint store raises it for its own topic.
DEFAULT_MAX_REQUEST_SIZE: Final = 1024 * 1024
#: Seconds a publish (or start, or metadata wait) may take before it is a :class:`BrokerError`.
DEFAULT_TIMEOUT: Final = 10.0
#: Seconds aiokafka's ``stop()`` may spend flushing before pending batches are dropped.
DEFAULT_STOP_TIMEOUT: Final = 5.0

_SSL_PROTOCOLS: Final = frozenset({"SSL", "SASL_SSL"})
_SASL_PROTOCOLS: Final = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})


class Redacted(str):
    """A secret string whose ``repr`` is masked.

    aiokafka needs the SASL credentials as ``str``; wrapping them keeps a kwargs dict safe to
    log, print or show in a traceback (``{'sasl_plain_password': '***'}``). ``str(value)`` and
    encoding still give the secret to the code that must send it.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


# --- client settings --------------------------------------------------------------------------


def connection_kwargs(
    cfg: KafkaConfig,
    *,
    bootstrap: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Where and how to connect: bootstrap, client id, TLS and SASL (shared by every client).

    ``bootstrap`` overrides ``cfg.bootstrap`` (the embedded broker's address). Raises
    :class:`ConfigError` naming the key for a missing address, unreadable TLS files, SASL
    without mechanism or credentials, and ``ssl_*``/``sasl_*`` keys the protocol would ignore.
    """
    servers = bootstrap or cfg.bootstrap
    if not servers:
        raise ConfigError("no broker address (and no embedded broker)", path="kafka.bootstrap")
    kwargs: dict[str, Any] = {
        "bootstrap_servers": servers,
        "client_id": cfg.client_id,
        "security_protocol": cfg.security_protocol,
    }
    if cfg.security_protocol in _SSL_PROTOCOLS:
        kwargs["ssl_context"] = _ssl_context(cfg)
    else:
        _refuse_unused(cfg, ("ssl_cafile", "ssl_certfile", "ssl_keyfile"))
    if cfg.security_protocol in _SASL_PROTOCOLS:
        if cfg.sasl_mechanism is None:
            raise ConfigError(
                f"security_protocol {cfg.security_protocol} needs sasl_mechanism",
                path="kafka.sasl_mechanism",
            )
        kwargs["sasl_mechanism"] = cfg.sasl_mechanism
        kwargs["sasl_plain_username"] = Redacted(
            _secret(cfg.sasl_username, "kafka.sasl_username", environ)
        )
        kwargs["sasl_plain_password"] = Redacted(
            _secret(cfg.sasl_password, "kafka.sasl_password", environ)
        )
    else:
        _refuse_unused(cfg, ("sasl_mechanism", "sasl_username", "sasl_password"))
    return kwargs


def producer_kwargs(
    cfg: KafkaConfig,
    *,
    bootstrap: str | None = None,
    embedded: bool = False,
    idempotent: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    linger_ms: int = DEFAULT_LINGER_MS,
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    max_request_size: int = DEFAULT_MAX_REQUEST_SIZE,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for :class:`aiokafka.AIOKafkaProducer`.

    ``acks="all"`` always (``acks=0`` is broken on Tansu and loses data anywhere). Idempotence
    only when asked for: the embedded broker lacks it (``embedded=True`` with
    ``idempotent=True`` is a :class:`ConfigError`); use :func:`probe_idempotence` to decide
    for a real broker. ``timeout`` becomes ``request_timeout_ms``, which is also how long an
    unsent batch lives before aiokafka fails it.
    """
    if embedded and idempotent:
        raise ConfigError("the embedded broker (Tansu) has no idempotent producer")
    kwargs = connection_kwargs(cfg, bootstrap=bootstrap, environ=environ)
    kwargs.update(
        acks="all",
        enable_idempotence=idempotent,
        linger_ms=linger_ms,
        max_batch_size=max_batch_size,
        max_request_size=max_request_size,
        compression_type=_compression(cfg),
        request_timeout_ms=int(timeout * 1000),
        # aiokafka's partitions, computed in half the time (pipeline.partitioning).
        partitioner=KeyPartitioner(),
    )
    return kwargs


def _compression(cfg: KafkaConfig) -> str | None:
    """aiokafka's ``compression_type`` for ``kafka.compression``; a codec whose library is
    missing is a :class:`ConfigError` now rather than at the first send."""
    if cfg.compression == "none":
        return None
    available = {
        "gzip": codec.has_gzip,
        "zstd": codec.has_zstd,
        "lz4": codec.has_lz4,
        "snappy": codec.has_snappy,
    }[cfg.compression]
    if not available():
        raise ConfigError(
            f"compression {cfg.compression} needs the cramjam package", path="kafka.compression"
        )
    return cfg.compression


def consumer_kwargs(
    cfg: KafkaConfig,
    *,
    group_id: str | None = None,
    embedded: bool = False,
    bootstrap: str | None = None,
    auto_offset_reset: Literal["earliest", "latest", "none"] = "earliest",
    max_partition_fetch_bytes: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for :class:`aiokafka.AIOKafkaConsumer`.

    Auto-commit is always off: offsets are committed only after the results are acknowledged.
    ``auto_offset_reset="earliest"`` by default, so a new group misses nothing retained.
    ``embedded=True`` adds :data:`~pipeline.broker.EMBEDDED_CONSUMER_TIMEOUTS` (fast group
    joins on Tansu; never against a remote broker). ``group_id=None``: no group (assign()).
    """
    kwargs = connection_kwargs(cfg, bootstrap=bootstrap, environ=environ)
    kwargs.update(
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset=auto_offset_reset,
    )
    if max_partition_fetch_bytes is not None:
        kwargs["max_partition_fetch_bytes"] = max_partition_fetch_bytes
    if embedded:
        kwargs.update(EMBEDDED_CONSUMER_TIMEOUTS)
    if cfg.session_timeout_ms is not None:
        kwargs["session_timeout_ms"] = cfg.session_timeout_ms
    if cfg.heartbeat_interval_ms is not None:
        kwargs["heartbeat_interval_ms"] = cfg.heartbeat_interval_ms
    return kwargs


def admin_kwargs(
    cfg: KafkaConfig,
    *,
    bootstrap: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for :class:`aiokafka.admin.AIOKafkaAdminClient`."""
    kwargs = connection_kwargs(cfg, bootstrap=bootstrap, environ=environ)
    kwargs["request_timeout_ms"] = int(timeout * 1000)
    return kwargs


def as_config(target: KafkaConfig | str) -> KafkaConfig:
    """A bare ``"host:port"`` is a PLAINTEXT config (the embedded broker, tests)."""
    return KafkaConfig(bootstrap=target) if isinstance(target, str) else target


def _ssl_context(cfg: KafkaConfig) -> ssl.SSLContext:
    if cfg.ssl_keyfile is not None and cfg.ssl_certfile is None:
        raise ConfigError("ssl_keyfile needs ssl_certfile", path="kafka.ssl_keyfile")
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=cfg.ssl_cafile, certfile=cfg.ssl_certfile, keyfile=cfg.ssl_keyfile
        )
    except (OSError, ssl.SSLError) as exc:
        files = ", ".join(
            f"{k}={v}"
            for k, v in (
                ("ssl_cafile", cfg.ssl_cafile),
                ("ssl_certfile", cfg.ssl_certfile),
                ("ssl_keyfile", cfg.ssl_keyfile),
            )
            if v is not None
        )
        raise ConfigError(f"cannot load TLS files ({files or 'system CAs'}): {exc}") from None
    return context


def _secret(ref: SecretRef | None, path: str, environ: Mapping[str, str] | None) -> str:
    if ref is None:
        raise ConfigError("SASL needs a username and a password", path=path)
    return ref.resolve(path=path, environ=environ)


def _refuse_unused(cfg: KafkaConfig, names: tuple[str, ...]) -> None:
    # An operator who set ssl_cafile but left PLAINTEXT believes the connection is encrypted.
    for name in names:
        if getattr(cfg, name) is not None:
            raise ConfigError(
                f"{name} is set but security_protocol is {cfg.security_protocol}",
                path=f"kafka.{name}",
            )


# --- broker probes ----------------------------------------------------------------------------

_idempotence_cache: dict[str, bool] = {}


def _quiet_probe(record: logging.LogRecord) -> bool:
    """Drops aiokafka's ``ERROR Unexpected error during InitProducerIdRequest`` while probing:
    on Tansu every CLI publish printed it, though the refusal is the answer the probe wants
    (it is logged at INFO below)."""
    return "InitProducerId" not in record.getMessage()


async def probe_idempotence(
    target: KafkaConfig | str,
    *,
    probe_timeout: float = DEFAULT_TIMEOUT,
    refresh: bool = False,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Whether the broker grants an idempotent producer (InitProducerId), cached per bootstrap.

    False when the broker refuses it: Tansu answers ``UnknownError`` (README "Brokers"); a
    Kafka without the IdempotentWrite ACL answers an authorization error. An unreachable
    broker is a :class:`BrokerError` and is not cached.
    """
    cfg = as_config(target)
    kwargs = producer_kwargs(cfg, idempotent=True, timeout=probe_timeout, environ=environ)
    where = str(kwargs["bootstrap_servers"])
    if not refresh and where in _idempotence_cache:
        return _idempotence_cache[where]
    producer = AIOKafkaProducer(**kwargs)
    sender_log = logging.getLogger("aiokafka.producer.sender")
    sender_log.addFilter(_quiet_probe)  # its ERROR for the refusal is our expected answer
    try:
        async with asyncio.timeout(probe_timeout):
            await producer.start()
    except (KafkaConnectionError, TimeoutError) as exc:
        raise BrokerError(f"cannot reach Kafka at {where}: {exc!r}") from exc
    except KafkaError as exc:
        # InitProducerId refused: the broker (or our principal) cannot be idempotent.
        log.info("idempotent producer unavailable bootstrap=%s error=%r", where, exc)
        supported = False
    else:
        supported = True
    finally:
        sender_log.removeFilter(_quiet_probe)
        await close_producer(producer, stop_timeout=probe_timeout, drop_pending=True)
    _idempotence_cache[where] = supported
    log.info("idempotence probe bootstrap=%s supported=%s", where, supported)
    return supported


async def wait_for_broker(
    target: KafkaConfig | str,
    *,
    max_wait: float = 30.0,
    interval: float = 0.2,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Return once the broker answers a metadata request; :class:`BrokerError` after ``max_wait``.

    For workers started beside their broker (compose): a TCP connect is tried first, so the
    wait does not fill the log with aiokafka's "Unable connect" errors.
    """
    cfg = as_config(target)
    kwargs = admin_kwargs(cfg, timeout=min(max_wait, DEFAULT_TIMEOUT), environ=environ)
    where = str(kwargs["bootstrap_servers"])
    hosts = [h.strip().rpartition(":") for h in where.split(",") if h.strip()]
    try:
        async with asyncio.timeout(max_wait):
            while True:
                for host, _, port in hosts:
                    if await _accepts(host, int(port)):
                        client = AIOKafkaClient(**kwargs)
                        try:
                            await client.bootstrap()
                        except KafkaConnectionError:
                            pass
                        else:
                            return
                        finally:
                            await client.close()
                await asyncio.sleep(interval)
    except TimeoutError as exc:
        raise BrokerError(f"Kafka at {where} did not answer within {max_wait:g}s") from exc


async def _accepts(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


# --- producer lifecycle -------------------------------------------------------------------------


async def _abandon_pending(producer: Any, reason: str) -> int:
    """Stop sending and fail every record the producer still holds; returns how many batches.

    aiokafka has no public way to give up unsent records: ``stop()`` waits until every pending
    batch is delivered or expired (never, for an idempotent producer), and an in-flight request
    to a hung broker until its request timeout. We do what aiokafka does when its sender task
    dies: end the sender task, then fail what is left with ``fail_all``. The sender answers a
    first cancel by waiting for its in-flight requests; further cancels reach those requests,
    so we cancel until it is done. It must be done before ``fail_all``: aiokafka raises when it
    re-enqueues an in-flight batch that was failed meanwhile. These are private attributes;
    without them (another aiokafka) we fall back to aiokafka's own expiry.
    """
    sender = getattr(producer, "_sender", None)
    accumulator = getattr(producer, "_message_accumulator", None)
    if sender is None or accumulator is None:
        return 0
    task = sender.sender_task
    while task is not None and not task.done():
        task.cancel()
        # asyncio.wait, not await: the task's CancelledError is not ours to raise.
        await asyncio.wait({task}, timeout=0.01)
    queued = [batch for queue in accumulator._batches.values() for batch in queue]
    for batch in queued:
        if batch.retry_count > 0:
            # Sent once, failed and re-enqueued: its done-callback removes it from the
            # in-flight set, where the next send would have put it back. Put it there now.
            accumulator._pending_batches.add(batch)
    failed = {*queued, *accumulator._pending_batches}
    accumulator.fail_all(KafkaTimeoutError(reason))
    for batch in failed:
        # Only a sender blocked on a full batch awaits this waiter; mark its exception seen.
        waiter = batch._drain_waiter
        if waiter.done() and not waiter.cancelled():
            waiter.exception()
    return len(failed)


async def close_producer(
    producer: Any,
    *,
    stop_timeout: float = DEFAULT_STOP_TIMEOUT,
    drop_pending: bool = False,
) -> None:
    """Stop an aiokafka producer in bounded time, even with the broker gone (DESIGN "Brokers").

    ``stop()`` flushes first; if that takes more than ``stop_timeout`` seconds -- or at once,
    with ``drop_pending`` (after a failed publish, whose caller keeps the batch) -- the pending
    records are given up and the connections closed. The whole close is bounded by twice
    ``stop_timeout``. Never raises for a producer that fails to stop; that is logged.
    """
    try:
        async with asyncio.timeout(2 * stop_timeout):
            await _stop_producer(producer, stop_timeout, drop_pending=drop_pending)
    except TimeoutError:
        log.warning("producer did not stop within %.1fs; abandoning it", 2 * stop_timeout)
    except (KafkaError, OSError) as exc:
        log.warning("producer stop failed: %r", exc)


async def _stop_producer(producer: Any, stop_timeout: float, *, drop_pending: bool) -> None:
    if drop_pending:
        await _abandon_pending(producer, "producer dropped after a failure")
        await producer.stop()
        return
    flushing = asyncio.create_task(producer.stop())
    try:
        done, _ = await asyncio.wait({flushing}, timeout=stop_timeout)
        if not done:
            dropped = await _abandon_pending(producer, f"producer stop exceeded {stop_timeout:g}s")
            log.warning(
                "producer stop still flushing after %.1fs; dropped %d unacknowledged batches",
                stop_timeout,
                dropped,
            )
        await flushing
    finally:
        if not flushing.done():
            flushing.cancel()


# --- publishing ---------------------------------------------------------------------------------


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
    # Nobody will wait for them; a cancelled future also never logs an unretrieved error.
    for future in futures:
        future.cancel()


def _broker_away(exc: BaseException) -> bool:
    """Whether a failure means the broker is unreachable or stuck (drop the producer and what
    it holds), rather than something about these records (too large, not authorized)."""
    return isinstance(exc, TimeoutError | KafkaTimeoutError) or bool(
        getattr(exc, "retriable", False)
    )
