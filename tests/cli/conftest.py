"""The ``pipeline`` command as a user runs it: the installed console script in a subprocess,
against the session's broker (``tests/conftest.py``), with helpers to put records on a topic and
to read back what a command published."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from pipeline.topics import ensure_topics

ROOT = Path(__file__).resolve().parents[2]
_SCRIPT = Path(sys.executable).with_name("pipeline")
#: The console script `pip install` made (what a user types); the module when it is missing.
PIPELINE = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pipeline.cli"]


@dataclasses.dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


class Lines:
    """A process's output stream read by a thread, so a test can wait for a line with a bound."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def wait_for(self, text: str, timeout: float = 20.0, count: int = 1) -> list[str]:
        """Every line so far once ``count`` lines contain ``text``; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while sum(text in line for line in self.lines) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"{text!r} (x{count}) not seen in {timeout}s: {self.lines}")
                self._cond.wait(left)
            return list(self.lines)

    def text(self) -> str:
        self._thread.join(timeout=10)
        return "".join(self.lines)


class Running:
    """A long-running ``pipeline`` process (tail, run) with its stdout and stderr followed."""

    def __init__(self, args: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [*PIPELINE, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self.out = Lines(self.proc.stdout)
        self.err = Lines(self.proc.stderr)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 15.0) -> int:
        """Send ``sig`` (Ctrl-C by default) and return the exit code; fails if it hangs."""
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"did not stop within {timeout}s of signal {sig}: {self.err.text()}")

    def close(self) -> None:
        """Kill it if it still runs; close its pipes (a test ends with this in ``finally``)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.out.text()
        self.err.text()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


class Cli:
    """What a test needs to drive ``pipeline`` against the session broker (fixture ``cli``)."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap

    def run(self, *args: str, timeout: float = 60.0, env: dict[str, str] | None = None) -> Any:
        """Run ``pipeline ARGS`` to its end: a CompletedProcess with text stdout and stderr."""
        return subprocess.run(
            [*PIPELINE, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            check=False,
        )

    def start(self, *args: str, env: dict[str, str] | None = None) -> Running:
        return Running(args, env)

    def produce(
        self,
        topic: str,
        records: Sequence[tuple[bytes | None, bytes, Sequence[tuple[str, bytes]]]],
        *,
        partition: int | None = None,
    ) -> list[tuple[int, int]]:
        """Send (key, value, headers) records, acknowledged; their (partition, offset)."""
        return asyncio.run(_produce(self.bootstrap, topic, records, partition))

    def read_all(self, topic: str) -> list[Record]:
        """Everything ``topic`` holds now (no group, nothing committed)."""
        return asyncio.run(_read_all(self.bootstrap, topic))


async def _produce(
    bootstrap: str,
    topic: str,
    records: Sequence[tuple[bytes | None, bytes, Sequence[tuple[str, bytes]]]],
    partition: int | None,
) -> list[tuple[int, int]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        where = []
        for key, value, headers in records:
            meta = await producer.send_and_wait(
                topic, value, key=key, headers=list(headers), partition=partition
            )
            where.append((meta.partition, meta.offset))
        return where
    finally:
        await producer.stop()


async def _read_all(bootstrap: str, topic: str) -> list[Record]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: list[Record] = []
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            if not batch:
                return out
            for tp, items in batch.items():
                out += [
                    Record(tp.partition, r.offset, r.key, r.value, tuple(r.headers)) for r in items
                ]
    finally:
        await consumer.stop()


@pytest.fixture(scope="session")
def cli(kafka_bootstrap: str) -> Cli:
    """The session broker with the pipeline's topics created (as `pipeline topics create`)."""
    asyncio.run(ensure_topics(kafka_bootstrap, replication_factor=1))
    return Cli(kafka_bootstrap)
