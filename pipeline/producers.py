"""aiokafka producers against a broker that may be away: probing it, and stopping in bounded time.

:func:`wait_for_broker` returns once the broker answers a metadata request (workers started
beside their broker). :func:`probe_idempotence` asks the broker once whether it grants an
idempotent producer, cached per bootstrap: Tansu has no idempotent producer (README "Brokers");
real Kafka does. :func:`close_producer` stops a producer in bounded time even with the broker
gone (DESIGN "Brokers"), giving up what it still holds when flushing takes too long or the
caller asks for it (after a failed publish, whose caller keeps the batch).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaClient, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from pipeline.config import KafkaConfig
from pipeline.errors import BrokerError
from pipeline.kafka_settings import (
    DEFAULT_STOP_TIMEOUT,
    DEFAULT_TIMEOUT,
    admin_kwargs,
    as_config,
    producer_kwargs,
)

__all__ = ["close_producer", "probe_idempotence", "wait_for_broker"]

log = logging.getLogger(__name__)

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
                            pass  # accepted a connection but not a request yet: try again
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
