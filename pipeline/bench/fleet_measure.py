"""What ``pipeline bench fleet`` reads while it runs: another process's CPU and memory from
``/proc``, the worker's ``/metrics`` text, and when each order's ``order.created`` event reached
``orders.v1``."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import aiohttp
import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.kafka_settings import as_config, consumer_kwargs
from schemas import topics

__all__ = [
    "CreatedEvents",
    "ProcSample",
    "Scrape",
    "percentile",
    "proc_sample",
    "scrape",
]


@dataclass(frozen=True, slots=True)
class ProcSample:
    cpu_s: float  # user + system, since the process started
    rss_mb: float  # VmRSS now
    hwm_mb: float  # VmHWM: the peak RSS since start


def proc_sample(pid: int | None) -> ProcSample | None:
    """A process's CPU seconds and memory from ``/proc`` (Linux); None when unreadable."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return None
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        cpu = (int(fields[11]) + int(fields[12])) / ticks
        rss = int(status.get("VmRSS", "0 kB").split()[0]) / 1024
        hwm = int(status.get("VmHWM", "0 kB").split()[0]) / 1024
    except (IndexError, ValueError):
        return None
    return ProcSample(cpu, rss, hwm)


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by nearest rank; NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


# --- /metrics --------------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(slots=True)
class Scrape:
    """One ``/metrics`` answer: samples by name, each as (labels, value)."""

    samples: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Scrape:
        out = cls()
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            match = _SAMPLE.match(line)
            if match is None:
                continue
            name, labels, value = match.groups()
            parsed = dict(_LABEL.findall(labels)) if labels else {}
            out.samples.setdefault(name, []).append((parsed, float(value)))
        return out

    def total(self, name: str, **where: str) -> float:
        return sum(
            v
            for labels, v in self.samples.get(name, [])
            if all(labels.get(k) == want for k, want in where.items())
        )

    def by_account(self, name: str) -> dict[str, float]:
        """``platform:account`` → value, summed over any other label."""
        out: dict[str, float] = collections.defaultdict(float)
        for labels, v in self.samples.get(name, []):
            out[f"{labels.get('platform')}:{labels.get('account')}"] += v
        return dict(out)


async def scrape(session: aiohttp.ClientSession, url: str) -> Scrape | None:
    """The worker's metrics now, or None while it does not answer."""
    try:
        async with asyncio.timeout(30), session.get(url) as response:
            if response.status != 200:
                return None
            return Scrape.parse(await response.text())
    except (aiohttp.ClientError, TimeoutError):
        return None


# --- orders.v1 -------------------------------------------------------------------------------


class _OrderNumber(msgspec.Struct):
    order_number: str | None = None


class _Created(msgspec.Struct):
    """The fields of an event value freshness needs (msgspec skips the rest)."""

    type: str
    platform: str
    account: str
    subject: str
    data: _OrderNumber


_decode = msgspec.json.Decoder(_Created).decode


class CreatedEvents:
    """Follows ``orders.v1`` from its beginning and keeps, for every ``order.created`` event,
    when it reached the topic: the record's timestamp (set by the worker's producer when it
    sent the batch; Tansu keeps it) and, beside it, when this reader got it."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        #: (platform, account, order number) → (record timestamp, read time), epoch seconds.
        self.seen: dict[tuple[str, str, str], tuple[float, float]] = {}
        self.records = 0
        self.duplicates = 0

    async def run(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(**consumer_kwargs(as_config(self._bootstrap)))
        await consumer.start()
        try:
            await consumer.topics()
            parts = consumer.partitions_for_topic(topics.ORDERS) or set()
            tps = [TopicPartition(topics.ORDERS, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=5_000)
                now = time.time()
                for records in batches.values():
                    for record in records:
                        self._take(record.value, record.timestamp, now)
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await consumer.stop()

    def _take(self, value: bytes | None, timestamp_ms: int, read_at: float) -> None:
        self.records += 1
        if value is None:
            return
        event = _decode(value)
        if event.type != "order.created":
            return
        key = (event.platform, event.account, event.data.order_number or event.subject)
        if key in self.seen:
            self.duplicates += 1
            return
        at = timestamp_ms / 1000 if timestamp_ms and timestamp_ms > 0 else read_at
        self.seen[key] = (at, read_at)

    def missing(self, wanted: Mapping[tuple[str, str, str], float]) -> int:
        return sum(1 for key in wanted if key not in self.seen)
