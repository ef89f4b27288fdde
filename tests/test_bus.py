"""The Kafka publisher and client settings: acknowledged publishing, outages, TLS/SASL kwargs.

Publishing tests run against the session's Tansu broker; outage tests against a broker of their
own that advertises a :class:`TcpProxy` in front of it, so cutting the proxy makes the broker
unreachable for every client connection.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import shutil
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError
from aiokafka.partitioner import murmur2
from aiokafka.structs import ConsumerRecord

import schemas
from pipeline import kafka_settings, producers
from pipeline.broker import EMBEDDED_CONSUMER_TIMEOUTS, EmbeddedBroker, find_free_port
from pipeline.bus import KafkaEventPublisher, _cancel
from pipeline.config import KafkaConfig, SecretRef
from pipeline.errors import BrokerError, ConfigError, RecordRejected
from pipeline.kafka_settings import Redacted, consumer_kwargs, producer_kwargs
from pipeline.netproxy import TcpProxy
from pipeline.partitioning import KeyPartitioner
from pipeline.producers import probe_idempotence, wait_for_broker
from pipeline.topics import TOPICS, ensure_topics, list_topics
from schemas import topics
from schemas.examples import sample_events

STEP = 10.0
EVENT_TOPICS = {name: TOPICS[name] for name in (topics.ORDERS, topics.REFUNDS)}


# --- helpers ---------------------------------------------------------------------------------


def many_events(per_type: int) -> list[schemas.Event]:
    """``per_type`` distinct events of every event type (distinct orders, ids recomputed)."""
    out: list[schemas.Event] = []
    for i in range(per_type):
        for event in sample_events():
            data = msgspec.structs.replace(event.data, order_id=f"{event.data.order_id}-{i}")
            draft = msgspec.structs.replace(event, data=data, subject=data.order_id)
            out.append(msgspec.structs.replace(draft, id=schemas.expected_id(draft)))
    return out


async def log_ends(bootstrap: str, names: Sequence[str]) -> dict[TopicPartition, int]:
    """Where each partition's log ends now: the high watermark of a fetch.

    Not ``end_offsets()``: Tansu answers ListOffsets with the last batch's base offset + 1
    (pinned in tests/test_checkpoints.py).
    """
    counts = await list_topics(bootstrap)
    tps = [TopicPartition(name, p) for name in names for p in range(counts[name])]
    cons = AIOKafkaConsumer(
        **consumer_kwargs(KafkaConfig(bootstrap=bootstrap)), fetch_max_wait_ms=20
    )
    async with asyncio.timeout(STEP):
        await cons.start()
        try:
            cons.assign(tps)
            for tp in tps:
                cons.seek(tp, 0)
            while any(cons.highwater(tp) is None for tp in tps):
                await cons.getmany(timeout_ms=50, max_records=1)
            return {tp: cons.highwater(tp) for tp in tps}
        finally:
            await cons.stop()


async def read_from(
    bootstrap: str, start: dict[TopicPartition, int], count: int
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record after ``start``, which must be exactly ``count``."""
    cons = AIOKafkaConsumer(
        **consumer_kwargs(KafkaConfig(bootstrap=bootstrap)), fetch_max_wait_ms=20
    )
    records: list[ConsumerRecord[bytes, bytes]] = []
    async with asyncio.timeout(STEP):
        await cons.start()
        try:
            cons.assign(list(start))
            for tp, offset in start.items():
                cons.seek(tp, offset)
            while len(records) < count:
                for part in (await cons.getmany(timeout_ms=100)).values():
                    records.extend(part)
        finally:
            await cons.stop()
    ends = await log_ends(bootstrap, sorted({tp.topic for tp in start}))
    assert sum(ends.values()) - sum(start.values()) == len(records) == count
    return records


@pytest.fixture
async def event_topics(kafka_bootstrap: str) -> str:
    await ensure_topics(kafka_bootstrap, EVENT_TOPICS, replication_factor=1)
    return kafka_bootstrap


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    """A broker of its own, reachable only through the yielded proxy (it advertises it)."""
    port = find_free_port()
    proxy = TcpProxy("127.0.0.1", port)
    await proxy.start()
    broker = EmbeddedBroker(port=port, advertised_port=proxy.port)
    try:
        await broker.start()
        await ensure_topics(proxy.address, EVENT_TOPICS, replication_factor=1)
        yield proxy
    finally:
        await proxy.aclose()  # first: no client left connected, so the broker stops at once
        await broker.aclose()


def publisher(bootstrap: str, **kwargs: Any) -> KafkaEventPublisher:
    kwargs.setdefault("embedded", True)
    return KafkaEventPublisher(bootstrap, **kwargs)


# --- client settings (no broker) ---------------------------------------------------------------


def test_producer_settings_are_ours_not_aiokafkas_defaults() -> None:
    kwargs = producer_kwargs(KafkaConfig(bootstrap="k1:9092,k2:9092", client_id="w1"))
    assert kwargs == {
        "bootstrap_servers": "k1:9092,k2:9092",
        "client_id": "w1",
        "security_protocol": "PLAINTEXT",
        "acks": "all",
        "enable_idempotence": False,
        "linger_ms": kafka_settings.DEFAULT_LINGER_MS,
        "max_batch_size": kafka_settings.DEFAULT_MAX_BATCH_SIZE,
        "max_request_size": kafka_settings.DEFAULT_MAX_REQUEST_SIZE,
        "compression_type": "zstd",
        "request_timeout_ms": int(kafka_settings.DEFAULT_TIMEOUT * 1000),
        "partitioner": kwargs["partitioner"],
    }
    assert isinstance(kwargs["partitioner"], KeyPartitioner)


@pytest.mark.parametrize(
    ("setting", "expected"),
    [("zstd", "zstd"), ("lz4", "lz4"), ("snappy", "snappy"), ("gzip", "gzip"), ("none", None)],
)
def test_compression_comes_from_the_config(setting: str, expected: str | None) -> None:
    cfg = msgspec.convert({"bootstrap": "k:9092", "compression": setting}, KafkaConfig)
    assert producer_kwargs(cfg)["compression_type"] == expected


def test_an_unknown_compression_is_refused_naming_the_key() -> None:
    with pytest.raises(msgspec.ValidationError, match="compression"):
        msgspec.convert({"bootstrap": "k:9092", "compression": "brotli"}, KafkaConfig)


def test_consumer_settings_never_auto_commit_and_embedded_adds_fast_group_timeouts() -> None:
    cfg = KafkaConfig(bootstrap="127.0.0.1:9092")
    remote = consumer_kwargs(cfg, group_id="appliers")
    assert remote["enable_auto_commit"] is False
    assert remote["auto_offset_reset"] == "earliest"
    assert remote["group_id"] == "appliers"
    assert "session_timeout_ms" not in remote
    embedded = consumer_kwargs(cfg, group_id="appliers", embedded=True)
    assert embedded == {**remote, **EMBEDDED_CONSUMER_TIMEOUTS}


def test_the_embedded_broker_is_never_given_an_idempotent_producer() -> None:
    with pytest.raises(ConfigError, match="idempotent"):
        producer_kwargs(KafkaConfig(bootstrap="127.0.0.1:1"), embedded=True, idempotent=True)


def test_no_address_and_no_embedded_broker_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"kafka\.bootstrap"):
        producer_kwargs(KafkaConfig())
    assert producer_kwargs(KafkaConfig(), bootstrap="127.0.0.1:5")["bootstrap_servers"] == (
        "127.0.0.1:5"
    )


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A self-signed CA certificate and a client certificate/key pair (openssl CLI)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make test certificates")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "client.pem", where / "client.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=test",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, cert, key  # the self-signed certificate is its own CA


def sasl_ssl_config(tls_files: tuple[Path, Path, Path]) -> KafkaConfig:
    ca, cert, key = tls_files
    return KafkaConfig(
        bootstrap="kafka.internal:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username=SecretRef(env="KAFKA_USER"),
        sasl_password=SecretRef(env="KAFKA_PASSWORD"),
        ssl_cafile=str(ca),
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
    )


ENV = {"KAFKA_USER": "pipeline-svc-user", "KAFKA_PASSWORD": "s3cr3t-Pa55w0rd-xyz"}


def test_tls_and_sasl_settings_come_from_the_config_and_secrets(
    tls_files: tuple[Path, Path, Path],
) -> None:
    kwargs = producer_kwargs(sasl_ssl_config(tls_files), environ=ENV)
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "pipeline-svc-user"
    assert kwargs["sasl_plain_password"] == "s3cr3t-Pa55w0rd-xyz"
    assert kwargs["sasl_plain_password"].encode() == b"s3cr3t-Pa55w0rd-xyz"
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert len(context.get_ca_certs()) == 1  # our CA file, not the system's


def test_secrets_never_show_in_the_repr_or_a_log_of_the_kwargs(
    tls_files: tuple[Path, Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    kwargs = consumer_kwargs(sasl_ssl_config(tls_files), group_id="g", environ=ENV)
    caplog.set_level(logging.INFO)
    logging.getLogger("test").info("consumer settings %s", kwargs)
    logging.getLogger("test").info("consumer settings %r", kwargs)
    for text in (repr(kwargs), str(kwargs), f"{kwargs}", caplog.text):
        assert "s3cr3t-Pa55w0rd-xyz" not in text
        assert "pipeline-svc-user" not in text
        assert "'***'" in text
    assert repr(Redacted("x")) == "'***'"


async def test_aiokafka_accepts_the_tls_and_sasl_settings(
    tls_files: tuple[Path, Path, Path],
) -> None:
    cfg = sasl_ssl_config(tls_files)
    producer = AIOKafkaProducer(**producer_kwargs(cfg, environ=ENV))
    consumer = AIOKafkaConsumer(**consumer_kwargs(cfg, group_id="g", environ=ENV))
    await producer.stop()
    await consumer.stop()


@pytest.mark.parametrize(
    ("cfg", "path"),
    [
        (KafkaConfig(bootstrap="k:1", security_protocol="SASL_SSL"), "kafka.sasl_mechanism"),
        (
            KafkaConfig(
                bootstrap="k:1", security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN"
            ),
            "kafka.sasl_username",
        ),
        (
            KafkaConfig(
                bootstrap="k:1",
                security_protocol="SASL_PLAINTEXT",
                sasl_mechanism="PLAIN",
                sasl_username=SecretRef(env="KAFKA_USER"),
                sasl_password=SecretRef(env="UNSET_KAFKA_PASSWORD"),
            ),
            "kafka.sasl_password",
        ),
        (KafkaConfig(bootstrap="k:1", ssl_cafile="/etc/ca.pem"), "kafka.ssl_cafile"),
        (KafkaConfig(bootstrap="k:1", sasl_mechanism="PLAIN"), "kafka.sasl_mechanism"),
        (
            KafkaConfig(bootstrap="k:1", security_protocol="SSL", ssl_keyfile="/k.pem"),
            "kafka.ssl_keyfile",
        ),
    ],
)
def test_incomplete_or_ignored_security_settings_are_config_errors(
    cfg: KafkaConfig, path: str
) -> None:
    with pytest.raises(ConfigError) as info:
        producer_kwargs(cfg, environ=ENV)
    assert info.value.path == path


def test_an_unreadable_ca_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    cfg = KafkaConfig(bootstrap="k:1", security_protocol="SSL", ssl_cafile=str(missing))
    with pytest.raises(ConfigError, match=f"ssl_cafile={missing}"):
        producer_kwargs(cfg)


# --- publishing -------------------------------------------------------------------------------


async def test_publish_sends_every_event_type_with_its_key_value_and_cloudevents_headers(
    event_topics: str,
) -> None:
    events = many_events(per_type=20)
    start = await log_ends(event_topics, list(EVENT_TOPICS))
    async with publisher(event_topics) as pub:
        await pub.publish(events)
    records = await read_from(event_topics, start, len(events))

    assert len(records) == len(events)
    by_id = {e.id: e for e in events}
    for record in records:
        headers = list(record.headers)
        attrs = schemas.from_headers(headers)
        event = by_id.pop(attrs.id)
        assert record.topic == event.topic
        assert record.key == event.key()
        assert schemas.decode_event(record.value) == event
        assert attrs == schemas.event_attributes(event)
        assert dict(headers)["content-type"] == b"application/json"
        assert {name for name, _ in headers} >= {
            "ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject",
        }  # fmt: skip
        # The default partitioner: every consumer can find an order's events by its key.
        partitions = TOPICS[record.topic].partitions
        assert record.partition == (murmur2(record.key) & 0x7FFFFFFF) % partitions
    assert not by_id


async def test_publish_fills_batch_after_batch_in_order_on_the_key_partitions(
    event_topics: str,
) -> None:
    # publish() hands the producer whole batches per partition; a batch that fills up
    # (max_batch_size) is sent and the next begins: every event arrives once, each on its
    # key's partition, and one order's events keep their order.
    events = many_events(60)  # 420 events of ~1.3 kB: 4 kB batches fill every few records
    first = next(e for e in events if e.topic == topics.ORDERS)
    # One order's 20 events in a row (ids made distinct to tell them apart).
    same = [
        msgspec.structs.replace(first, id=f"00000000-0000-4000-8000-{i:012d}") for i in range(20)
    ]
    events = same + [e for e in events if e.key() != first.key()]
    start = await log_ends(event_topics, list(EVENT_TOPICS))
    async with publisher(event_topics, max_batch_size=4096) as pub:
        await pub.publish(events)
    records = await read_from(event_topics, start, len(events))
    assert sorted(schemas.from_headers(list(r.headers)).id for r in records) == sorted(
        e.id for e in events
    )
    for record in records:
        partitions = TOPICS[record.topic].partitions
        assert record.partition == (murmur2(record.key) & 0x7FFFFFFF) % partitions
    same_key = [r for r in records if r.key == first.key()]
    assert [schemas.from_headers(list(r.headers)).id for r in same_key] == [e.id for e in same]


async def test_an_event_too_large_is_refused_and_the_producer_stays(event_topics: str) -> None:
    async with publisher(event_topics, max_request_size=1024) as pub:
        with pytest.raises(RecordRejected, match="MessageSizeTooLarge"):
            await pub.publish(many_events(1)[:1])  # ~1.3 kB
        assert pub.connected
        await pub.send_raw(schemas.topics.ORDERS, b"k", b"small")


async def test_publish_returns_only_once_every_event_is_acknowledged(event_topics: str) -> None:
    events = many_events(per_type=30)
    start = await log_ends(event_topics, list(EVENT_TOPICS))
    # A long linger keeps unacknowledged records in the client; abort() right after publish
    # drops them as a crash would. Only records the broker acknowledged can be read back.
    pub = publisher(event_topics, linger_ms=500)
    try:
        await pub.publish(events)
    finally:
        await pub.abort()
    await read_from(event_topics, start, len(events))
    assert pub.stats.calls == 1
    assert sum(pub.stats.events_by_type.values()) == len(events)
    assert set(pub.stats.events_by_type) == set(schemas.EVENT_TYPES)
    assert pub.stats.records_by_topic == {topics.ORDERS: 3 * 30, topics.REFUNDS: 4 * 30}
    assert pub.stats.bytes == sum(len(e.key()) + len(schemas.encode_event(e)) for e in events)
    assert pub.stats.last_latency > 0


async def test_abort_drops_what_is_not_acknowledged(event_topics: str) -> None:
    # The converse of the test above, so it can fail: without waiting for acks, nothing of a
    # lingering batch survives abort().
    start = await log_ends(event_topics, list(EVENT_TOPICS))
    pub = publisher(event_topics, linger_ms=5000)
    await pub.start()
    producer = pub._producer
    pending = [await producer.send(e.topic, b"x", key=e.key()) for e in many_events(1)]
    await pub.abort()
    assert all(isinstance(f.exception(), KafkaTimeoutError) for f in pending)
    assert start == await log_ends(event_topics, list(EVENT_TOPICS))
    with pytest.raises(BrokerError, match="closed"):
        await pub.publish(many_events(1))


async def test_send_raw_is_acknowledged_with_its_headers(
    kafka_bootstrap: str, topic_name: str
) -> None:
    await ensure_topics(kafka_bootstrap, {topic_name: TOPICS[topics.COMMAND_RESULTS]})
    start = await log_ends(kafka_bootstrap, [topic_name])
    async with publisher(kafka_bootstrap) as pub:
        await pub.send_raw(topic_name, b"softtr:main", b'{"x":1}', [("h", b"v")])
        await pub.send_raw(topic_name, None, b"no key")
    records = await read_from(kafka_bootstrap, start, 2)
    assert {(r.key, r.value, tuple(r.headers)) for r in records} == {
        (b"softtr:main", b'{"x":1}', (("h", b"v"),)),
        (None, b"no key", ()),
    }
    assert pub.stats.records_by_topic == {topic_name: 2}


async def test_a_record_too_large_is_a_broker_error(kafka_bootstrap: str, topic_name: str) -> None:
    async with publisher(kafka_bootstrap, max_request_size=1024) as pub:
        with pytest.raises(BrokerError, match="MessageSizeTooLarge"):
            await pub.send_raw(topic_name, b"k", b"x" * 2048)
        assert pub.stats.failures == 1
        assert pub.connected  # the record's fault, not the broker's: the producer stays
        await pub.send_raw(topic_name, b"k", b"small")


async def test_a_cancelled_publish_keeps_the_producer_for_the_others(event_topics: str) -> None:
    async with publisher(event_topics, linger_ms=200) as pub:
        await pub.publish(many_events(1))  # metadata known: a publish now enqueues at once
        sending = asyncio.create_task(pub.publish(many_events(2)))
        await asyncio.sleep(0)  # one step: enqueued, now waiting for acks (the linger)
        assert not sending.done()
        sending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sending
        assert pub.connected
        assert pub.stats.failures == 0
        await pub.publish(many_events(1))
        assert pub.stats.producers_started == 1


async def test_publishing_nothing_does_not_connect() -> None:
    pub = publisher(f"127.0.0.1:{find_free_port()}")
    await pub.publish([])
    assert not pub.connected
    await pub.aclose()


async def test_a_closed_publisher_refuses_to_publish(event_topics: str) -> None:
    pub = publisher(event_topics)
    await pub.start()
    await pub.aclose()
    await pub.aclose()
    with pytest.raises(BrokerError, match="closed"):
        await pub.publish(many_events(1))


# --- outages ----------------------------------------------------------------------------------


async def test_starting_against_an_unreachable_broker_is_a_broker_error() -> None:
    pub = publisher(f"127.0.0.1:{find_free_port()}", timeout=2.0)
    with pytest.raises(BrokerError, match="cannot connect"):
        await pub.start()
    assert not pub.connected
    await pub.aclose()


async def test_publish_to_a_cut_broker_fails_within_its_timeout_and_works_after_restore(
    proxy: TcpProxy,
) -> None:
    events = many_events(per_type=3)
    timeout, stop_timeout = 1.0, 0.5
    async with publisher(proxy.address, timeout=timeout, stop_timeout=stop_timeout) as pub:
        await pub.publish(events)
        await proxy.cut()
        # Its own timeout plus the bounded drop of the producer: an error, never a hang.
        async with asyncio.timeout(timeout + 2 * stop_timeout + 2):
            with pytest.raises(BrokerError) as info:
                await pub.publish(events)
        assert info.value.retriable
        assert not pub.connected  # the producer and whatever it held are gone
        async with asyncio.timeout(timeout + 2 * stop_timeout + 2):
            with pytest.raises(BrokerError, match="cannot connect"):
                await pub.publish(events)  # nothing listens: refused at once
        assert pub.stats.failures == 2

        await proxy.restore()
        await pub.publish(events)  # the caller's retry of the same batch
        assert pub.connected
        assert pub.stats.calls == 2
        assert pub.stats.producers_started == 2

    start = {tp: 0 for tp in await log_ends(proxy.address, list(EVENT_TOPICS))}
    records = await read_from(proxy.address, start, 2 * len(events))
    ids = [schemas.from_headers(r.headers).id for r in records]
    # Exactly twice: the first publish and the retry; nothing of the failed ones got through.
    assert sorted(ids) == sorted([e.id for e in events] * 2)


async def test_a_failed_publish_leaves_no_future_with_an_unretrieved_exception() -> None:
    # A broker gone mid-publish: ``gather`` raised the first failure, dropping the producer
    # failed the other batches, one publish future is still pending. Settled, none of them may
    # be collected with an unretrieved exception (asyncio logs a traceback for each, at ERROR).
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: unhandled.append(context))
    try:
        futures: list[asyncio.Future[Any]] = [loop.create_future() for _ in range(3)]
        futures[0].set_exception(KafkaConnectionError("gone (test)"))
        futures[1].set_exception(KafkaTimeoutError("producer dropped after a failure"))
        _cancel(futures)
        assert futures[2].cancelled()
        del futures
        gc.collect()
        await asyncio.sleep(0)
        assert [c["message"] for c in unhandled] == []
    finally:
        loop.set_exception_handler(None)


async def test_publish_to_a_hung_broker_fails_within_its_timeout(proxy: TcpProxy) -> None:
    events = many_events(per_type=1)
    timeout, stop_timeout = 1.0, 0.5
    async with publisher(proxy.address, timeout=timeout, stop_timeout=stop_timeout) as pub:
        await pub.publish(events)
        proxy.stall()
        async with asyncio.timeout(timeout + 2 * stop_timeout + 2):
            with pytest.raises(BrokerError, match="not acknowledged"):
                await pub.publish(events)
        assert proxy.dropped_bytes > 0
        await proxy.restore()
        await pub.publish(events)


async def test_closing_while_the_broker_hangs_gives_up_pending_records_in_bounded_time(
    proxy: TcpProxy,
) -> None:
    events = many_events(per_type=1)
    pub = publisher(proxy.address, timeout=30.0, stop_timeout=0.3)
    await pub.publish(events)  # connected, metadata known
    proxy.stall()
    sending = asyncio.create_task(pub.publish(events))
    try:
        async with asyncio.timeout(STEP):
            await proxy.wait_for(lambda: proxy.dropped_bytes > 0)  # the request is stuck
        # Far below the publish timeout: aclose() drops what stop() could not flush.
        async with asyncio.timeout(2 * 0.3 + 2):
            await pub.aclose()
            with pytest.raises(BrokerError):
                await sending
    finally:
        sending.cancel()


async def test_wait_for_broker_returns_once_it_answers_and_fails_after_its_bound(
    proxy: TcpProxy,
) -> None:
    await wait_for_broker(proxy.address, max_wait=STEP)
    await proxy.cut()
    with pytest.raises(BrokerError, match="did not answer"):
        await wait_for_broker(proxy.address, max_wait=0.5, interval=0.05)
    await proxy.restore()
    await wait_for_broker(proxy.address, max_wait=STEP)


# --- idempotence ------------------------------------------------------------------------------


async def test_tansu_has_no_idempotent_producer_and_the_answer_is_cached(
    proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        assert await probe_idempotence(proxy.address, refresh=True) is False
    # The refusal is the expected answer: said once at INFO, not as aiokafka's ERROR.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("idempotent producer unavailable" in r.getMessage() for r in caplog.records)
    await proxy.cut()
    assert await probe_idempotence(proxy.address) is False  # cached: no connection needed
    with pytest.raises(BrokerError):
        await probe_idempotence(proxy.address, refresh=True, probe_timeout=2.0)


async def test_probing_an_unreachable_broker_is_a_broker_error_and_not_cached() -> None:
    where = f"127.0.0.1:{find_free_port()}"
    with pytest.raises(BrokerError):
        await probe_idempotence(where, probe_timeout=2.0)
    assert where not in producers._idempotence_cache


async def test_a_publisher_left_to_decide_probes_and_publishes_without_idempotence(
    event_topics: str,
) -> None:
    async with KafkaEventPublisher(event_topics, idempotence=None) as pub:
        assert pub.idempotent is False
        await pub.publish(many_events(1))


# --- measurements (printed, not asserted) -------------------------------------------------------


async def test_measure_publish_throughput(
    event_topics: str, capsys: pytest.CaptureFixture[str]
) -> None:
    per_type = 10_000 // 7 + 1
    events = many_events(per_type)[:10_000]
    chunks = [events[i : i + 500] for i in range(0, len(events), 500)]  # the poller's chunks
    async with publisher(event_topics) as pub:
        t0 = time.perf_counter()
        await pub.publish(events)
        one_call = time.perf_counter() - t0
        t0 = time.perf_counter()
        for chunk in chunks:
            await pub.publish(chunk)
        chunked = time.perf_counter() - t0
    assert pub.stats.calls == 1 + len(chunks)
    size = pub.stats.bytes / (2 * len(events))
    with capsys.disabled():
        print(
            f"\n[publish] {len(events)} events (~{size:,.0f} B each, zstd, acks=all): one call "
            f"{one_call:.2f}s = {len(events) / one_call:,.0f} ev/s; chunks of 500 "
            f"{chunked:.2f}s = {len(events) / chunked:,.0f} ev/s "
            f"(max call latency {pub.stats.max_latency * 1000:.0f} ms)"
        )


def test_group_timing_comes_from_the_config() -> None:
    from pipeline.config import KafkaConfig
    from pipeline.kafka_settings import consumer_kwargs

    kwargs = consumer_kwargs(
        KafkaConfig(bootstrap="127.0.0.1:9", session_timeout_ms=3000, heartbeat_interval_ms=300),
        group_id="g",
    )
    assert (kwargs["session_timeout_ms"], kwargs["heartbeat_interval_ms"]) == (3000, 300)
    assert "session_timeout_ms" not in consumer_kwargs(KafkaConfig(bootstrap="127.0.0.1:9"))
