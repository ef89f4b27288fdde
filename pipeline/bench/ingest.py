"""``pipeline bench ingest``: how fast sandbox orders become acknowledged events in the broker.

**Setup** (timed, not measured): an :class:`~pipeline.broker.EmbeddedBroker` with the pipeline's
topics; the platform's sandbox in a *child process* on loopback with ``orders`` orders spread
over several tenants (at least one per worker); ``workers`` worker processes, each like one
``pipeline poll`` worker: a real :class:`AccountPoller` per tenant of its share (tenants dealt
round-robin) with its platform client, one shared :class:`KafkaEventPublisher`
(``acks="all"``, the default ``kafka.compression`` zstd, as the poll role runs it), a
:class:`KafkaCheckpointStore` and an unlimited rate budget. The measured phases run with the
garbage collector tuned as ``pipeline poll`` tunes it (start-up frozen, young collections
every 100k allocations).

**Workers.** One Python process runs on one core; a fleet on a machine with C cores runs C
``pipeline poll`` processes, each owning a share of the accounts (README "Runbook: scaling").
So the default is 2 workers, the way this 2-core machine would be deployed; events/s is the
total of all of them, and the report gives each process's accounts, events, CPU and peak RSS.
``workers=1`` runs the pollers in this process instead (what the figures before 2 workers
measured; ``--profile`` then writes one file, else one per worker: ``FILE.1``, ``FILE.2``...).
The broker and the sandbox run beside the workers on the same cores (about 0.1 CPU-s per 10k
events together): in production both are elsewhere.

**Measured**, in one run on the same data:

1. *End to end*: every poller's first recent loop (a backfill of the whole horizon), all
   accounts concurrently. Wall time runs from the start of the cycles to the last acknowledged
   publish (over all workers); CPU is the workers' ``time.process_time`` over the cycles,
   checkpoint saves included, summed (and per worker). The broker's CPU
   (``/proc/<pid>/stat``) and the sandbox's (its own ``getrusage``) are reported beside it,
   not added: they are other processes, as in production. Peak RSS is the largest worker's
   ``ru_maxrss`` after the cycles: the high-water mark since start, warm-up included (in-process
   runs). Then every record of ``orders.v1`` is read back and its keys are checked against the
   sandbox's ground truth: every order exactly once, nothing else.
2. *Micro*: pages recorded from the sandbox, replayed from memory through the platform's own
   client (page decode, classification, mapping), then change detection with
   fingerprints, event encoding, headers and key: the worker's per-order path without I/O, on
   one core (best CPU time of a few repeats). Each record is JSON-encoded once (sorted keys):
   those bytes give its fingerprint, its event id and the ``data`` of its record value, as in
   the worker; compression and the Kafka client are not in this path.
3. *Baseline* (:mod:`pipeline.bench.baseline`): the same pages polled the way a quick
   integration would, ``json`` and one ``send_and_wait`` per message; the ratio is ours / its.

Why a child process, and why replayed pages: rendering the vendor's JSON is the *platform's*
cost (about 90 µs per Pazarama order, as much as the worker's own), and on a 2-core machine that
also runs the broker it would decide the result. The bench's world stands still (a clock nobody
moves, no writes), so the sandbox may answer a repeated request from memory with the bytes it
rendered the first time; an untimed warm-up renders every page once. ``replay=False`` renders
live instead. Replay misses during the measured phase are reported (they should be 0).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import cProfile
import datetime as dt
import gc
import math
import resource
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

import schemas
from pipeline import platforms
from pipeline.adapter import PlatformClient, PlatformSpec
from pipeline.bench import baseline
from pipeline.bench.fleet_measure import proc_sample
from pipeline.bench.ingest_micro import micro
from pipeline.bench.ingest_sandbox import START, SandboxPlan, SandboxProcess
from pipeline.broker import EmbeddedBroker
from pipeline.bus import KafkaEventPublisher
from pipeline.checkpoints import CheckpointStore, KafkaCheckpointStore, MemoryCheckpointStore
from pipeline.http import HttpClient, HttpSettings
from pipeline.kafka_settings import as_config, consumer_kwargs
from pipeline.poller import AccountPoller, EventPublisher, PollSettings
from pipeline.ratelimit import RateBudget, RateLimit
from pipeline.sandbox.tenants import default_credentials
from pipeline.topics import TOPICS, TopicSpec, ensure_topics

__all__ = [
    "ORDERS_PER_ACCOUNT",
    "START",
    "TARGET_EVENTS_PER_S",
    "TARGET_MICRO_ORDERS_PER_S",
    "IngestReport",
    "IngestSettings",
    "SandboxProcess",
    "check_exactly_once",
    "run_ingest",
]

#: A Kafka checkpoint keeps a fingerprint (~270 bytes) per order of the horizon and must fit
#: CHECKPOINT_MAX_BYTES (8 MiB): about 30k orders per account, so the default stays below.
ORDERS_PER_ACCOUNT: Final = 25_000
TARGET_EVENTS_PER_S: Final = 10_000
TARGET_MICRO_ORDERS_PER_S: Final = 50_000
BASELINE_TOPIC: Final = "bench.baseline.orders"
_UNLIMITED: Final = RateLimit.from_config(per_second=1_000_000)
_T = TypeVar("_T")

Progress = Callable[[str], None]


class IngestSettings(msgspec.Struct, frozen=True, kw_only=True):
    orders: int = 100_000
    platform: str = "pazarama"
    #: Sandbox tenants polled concurrently (None: one per ORDERS_PER_ACCOUNT orders, at least
    #: one per worker).
    accounts: int | None = None
    #: Worker processes of the end-to-end phase (1: this process; N: N children, accounts dealt
    #: round-robin; see :mod:`pipeline.bench.ingest_workers`).
    workers: int = 2
    seed: int = 7
    history: dt.timedelta = dt.timedelta(days=7)
    micro_orders: int = 10_000
    micro_repeats: int = 3
    baseline: bool = True
    replay: bool = True
    #: Write a cProfile of the end-to-end phase here (pstats format).
    profile: str | None = None

    def account_labels(self) -> list[tuple[str, int]]:
        """``(tenant label, orders)`` per account, the orders spread as evenly as possible."""
        count = self.accounts or max(self.workers, math.ceil(self.orders / ORDERS_PER_ACCOUNT))
        share, extra = divmod(self.orders, count)
        return [(f"bench-{i + 1}", share + (1 if i < extra else 0)) for i in range(count)]


class WorkerUsage(msgspec.Struct, frozen=True, kw_only=True):
    """What one worker process of the end-to-end phase did and used."""

    accounts: int
    events: int
    cpu_s: float
    cpu_s_per_10k: float
    peak_rss_mb: float

    @classmethod
    def of(cls, accounts: int, events: int, cpu_s: float, peak_rss_mb: float) -> WorkerUsage:
        return cls(
            accounts=accounts,
            events=events,
            cpu_s=round(cpu_s, 3),
            cpu_s_per_10k=_per_10k(cpu_s, events),
            peak_rss_mb=round(peak_rss_mb, 1),
        )


class IngestReport(msgspec.Struct, frozen=True, kw_only=True):
    """One run's numbers (the JSON line); ``None`` where a part was skipped or unreadable."""

    bench: str = "ingest"
    platform: str
    orders: int
    accounts: int
    sandbox: str  # "replay" or "live"
    workers: int
    #: Each worker process's accounts, events, CPU and peak RSS (cpu_s is their sum).
    per_worker: list[WorkerUsage]
    events: int
    events_by_type: dict[str, int]
    wall_s: float
    events_per_s: float
    cpu_s: float
    cpu_s_per_10k: float
    peak_rss_mb: float
    broker_cpu_s_per_10k: float | None
    broker_peak_rss_mb: float | None
    sandbox_cpu_s_per_10k: float
    sandbox_replay_misses: int
    broker_records: int
    duplicates: int
    missing: int
    unexpected: int
    micro_orders: int
    micro_orders_per_s: float
    micro_us_per_order: float
    baseline_events: int | None
    baseline_wall_s: float | None
    baseline_events_per_s: float | None
    baseline_cpu_s_per_10k: float | None
    ratio: float | None
    generate_s: float
    warmup_s: float
    setup_s: float
    total_s: float

    @property
    def exactly_once(self) -> bool:
        """Every sandbox order is in ``orders.v1`` exactly once, nothing else is, and the
        broker holds as many records as were acknowledged."""
        return (
            self.duplicates == 0
            and self.missing == 0
            and self.unexpected == 0
            and self.broker_records == self.events
        )


# --- this process: the worker ----------------------------------------------------------------


class _FrozenClock:
    """``now`` is the sandbox's instant (so every request is one it saw before); sleeps are
    real (so a broker backoff still ends)."""

    def now(self) -> dt.datetime:
        return START

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _CountingPublisher:
    """Counts what the inner publisher got acknowledged, and when the last ack came."""

    def __init__(self, inner: EventPublisher | None = None) -> None:
        self._inner = inner
        self.by_type: collections.Counter[str] = collections.Counter()
        self.last_ack = 0.0

    async def publish(self, events: Sequence[schemas.Event]) -> None:
        if self._inner is not None:
            await self._inner.publish(events)
        self.by_type.update(event.type for event in events)
        self.last_ack = time.monotonic()  # CLOCK_MONOTONIC: comparable across processes


@dataclass(frozen=True, slots=True)
class _Target:
    """Where the sandbox is and which accounts it holds; makes their clients."""

    spec: PlatformSpec
    root_url: str
    base_url: str
    labels: list[str]

    def credentials(self, label: str) -> dict[str, str]:
        return default_credentials(tuple(sorted(self.spec.credential_keys)), label)

    def client(self, label: str, http: HttpClient, budget: RateBudget) -> PlatformClient:
        return self.spec.client(
            account=label,
            base_url=self.base_url,
            token_url=self.root_url + "/connect/token",
            credentials=self.credentials(label),
            http=http,
            budget=budget,
        )

    def pollers(
        self,
        http: HttpClient,
        publisher: EventPublisher,
        store: CheckpointStore,
        horizon: dt.timedelta,
    ) -> list[AccountPoller]:
        pollers = []
        for label in self.labels:
            budget = RateBudget(_UNLIMITED)
            pollers.append(
                AccountPoller(
                    self.client(label, http, budget),
                    publisher=publisher,
                    store=store,
                    budget=budget,
                    clock=_FrozenClock(),
                    settings=PollSettings(horizon=horizon),
                )
            )
        return pollers


@contextlib.contextmanager
def _worker_gc() -> Iterator[None]:
    """The garbage collector as a worker process runs it (``pipeline poll``: start-up's
    objects frozen, young collections every 100k allocations), restored afterwards."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


async def _cycle_all(pollers: Sequence[AccountPoller]) -> None:
    async with asyncio.TaskGroup() as group:
        for poller in pollers:
            group.create_task(poller.cycle())


async def _warm_up(target: _Target, http: HttpClient, horizon: dt.timedelta) -> None:
    """One cycle of throwaway pollers sends every request the measured ones will send. Their
    state is dropped on return, so it does not sit in memory during the measurement."""
    store = MemoryCheckpointStore()
    await _cycle_all(target.pollers(http, _CountingPublisher(), store, horizon))


def _proc_stat(pid: int | None) -> tuple[float, float] | None:
    """CPU seconds and peak RSS (MB) of another process from ``/proc`` (Linux), else None."""
    sample = proc_sample(pid)
    return None if sample is None else (sample.cpu_s, sample.hwm_mb)


@dataclass(frozen=True, slots=True)
class _Measured:
    by_type: dict[str, int]
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    broker_cpu_s: float | None
    broker_peak_rss_mb: float | None
    sandbox_cpu_s: float
    replay_misses: int
    per_worker: list[WorkerUsage]

    @property
    def events(self) -> int:
        return sum(self.by_type.values())


async def _in_process(
    target: _Target,
    bootstrap: str,
    broker_pid: int | None,
    box: SandboxProcess,
    horizon: dt.timedelta,
    profile: str | None,
) -> _Measured:
    """The end-to-end phase in this process: one publisher, one store, a poller per account."""
    async with (
        HttpClient(HttpSettings(total=60)) as http,
        KafkaEventPublisher(bootstrap, embedded=True) as publisher,
        KafkaCheckpointStore(bootstrap, embedded=True) as store,
    ):
        counting = _CountingPublisher(publisher)
        pollers = target.pollers(http, counting, store, horizon)
        for poller in pollers:
            await poller.load()  # outside the measurement, as a running worker has
        with _worker_gc():
            return await _end_to_end(pollers, counting, box, broker_pid, profile)


async def timed_cycles(
    pollers: Sequence[AccountPoller], profile: str | None
) -> tuple[float, float]:
    """Every poller's cycle, all at once: (``time.monotonic()`` at the start, this process's CPU
    seconds over them); with ``profile``, cProfile stats of them are written to that file."""
    profiler = cProfile.Profile() if profile else None
    cpu0, t0 = time.process_time(), time.monotonic()
    if profiler is not None:
        profiler.enable()
    try:
        await _cycle_all(pollers)
    finally:
        if profiler is not None:
            profiler.disable()
    cpu_s = time.process_time() - cpu0
    if profiler is not None and profile:
        profiler.dump_stats(profile)
    return t0, cpu_s


async def _end_to_end(
    pollers: Sequence[AccountPoller],
    counting: _CountingPublisher,
    box: SandboxProcess,
    broker_pid: int | None,
    profile: str | None,
) -> _Measured:
    box0, broker0 = await box.usage(), _proc_stat(broker_pid)
    t0, cpu_s = await timed_cycles(pollers, profile)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    box1, broker1 = await box.usage(), _proc_stat(broker_pid)
    return _Measured(
        by_type=dict(sorted(counting.by_type.items())),
        wall_s=counting.last_ack - t0,
        cpu_s=cpu_s,
        peak_rss_mb=peak_rss_mb,
        broker_cpu_s=broker1[0] - broker0[0] if broker0 and broker1 else None,
        broker_peak_rss_mb=broker1[1] if broker1 else None,
        sandbox_cpu_s=box1.cpu_s - box0.cpu_s,
        replay_misses=box1.replay_misses - box0.replay_misses,
        per_worker=[
            WorkerUsage.of(len(pollers), sum(counting.by_type.values()), cpu_s, peak_rss_mb)
        ],
    )


class _OrderNumber(msgspec.Struct):
    order_number: str | None = None


class _EventOf(msgspec.Struct):
    """The fields of an event value the read-back needs (msgspec skips the rest)."""

    account: str
    subject: str
    data: _OrderNumber


_events_of = msgspec.json.Decoder(_EventOf)


async def _read_back(bootstrap: str, topic: str) -> collections.Counter[tuple[str, str]]:
    """``(account, order number)`` of every record of ``topic``, counted, from the beginning
    to the end it has now. The order *number* is what the sandbox calls an order's id on every
    platform (a canonical ``order_id`` may be the platform's internal id instead)."""
    consumer = AIOKafkaConsumer(
        **consumer_kwargs(as_config(bootstrap), max_partition_fetch_bytes=4 * 1024 * 1024)
    )
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    await consumer.start()
    try:
        await consumer.topics()  # metadata, so partitions_for_topic knows the topic
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        # Tansu's "latest" offset is the last batch's base + 1 (README "Brokers"): the end is
        # the larger of it and the high watermark a fetch reports.
        listed: dict[TopicPartition, int] = await consumer.end_offsets(parts)
        remaining = {tp for tp, end in listed.items() if end > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500)
            for records in batches.values():
                for record in records:
                    event = _events_of.decode(record.value)
                    counts[event.account, event.data.order_number or event.subject] += 1
            for tp in list(remaining):
                end = max(listed[tp], consumer.highwater(tp) or 0)
                if await consumer.position(tp) >= end:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return counts


def check_exactly_once(
    expected: set[tuple[str, str]], counts: Mapping[tuple[str, str], int]
) -> tuple[int, int, int]:
    """``(duplicates, missing, unexpected)`` of the orders read back against the expected."""
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    missing = len(expected - counts.keys())
    unexpected = len(counts.keys() - expected)
    return duplicates, missing, unexpected


# --- the run ---------------------------------------------------------------------------------


def _per_10k(seconds: float, events: int) -> float:
    return round(seconds / events * 10_000, 3) if events else math.nan


def _maybe(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


async def run_ingest(settings: IngestSettings, progress: Progress | None = None) -> IngestReport:
    """Run the whole bench (see the module docstring) and return its report."""
    say = progress or (lambda _: None)
    run_started = time.perf_counter()
    spec = platforms.get(settings.platform)
    accounts = settings.account_labels()
    horizon = settings.history + dt.timedelta(days=1)  # one window, every order in it
    bound = 120 + settings.orders / 200  # each phase is bounded: 10 min at 100k orders
    plan = SandboxPlan(
        platform=settings.platform,
        seed=settings.seed,
        history=settings.history,
        accounts=accounts,
        replay=settings.replay,
    )
    say(f"generating {settings.orders:,} {settings.platform} orders over {len(accounts)} accounts")
    async with (
        EmbeddedBroker() as broker,
        SandboxProcess(plan, start_timeout=60 + settings.orders / 1000) as box,
    ):
        await ensure_topics(broker.bootstrap, replication_factor=1)
        target = _Target(spec, box.root_url, box.base_url, [label for label, _ in accounts])
        warmup_s = 0.0
        if settings.replay:
            say("warm-up: the sandbox renders every page once (not measured)")
            started = time.perf_counter()
            async with asyncio.timeout(bound), HttpClient(HttpSettings(total=60)) as http:
                await _warm_up(target, http, horizon)
            warmup_s = time.perf_counter() - started
        if settings.workers > 1:
            from pipeline.bench.ingest_workers import end_to_end_in_workers

            say(f"end to end: every account polled into the broker by {settings.workers} workers")
            async with asyncio.timeout(2 * bound):
                e2e = await end_to_end_in_workers(
                    target,
                    workers=settings.workers,
                    bootstrap=broker.bootstrap,
                    horizon=horizon,
                    box=box,
                    broker_pid=broker.pid,
                    profile=settings.profile,
                    bound=bound,
                )
        else:
            say("end to end: every account polled into the broker")
            async with asyncio.timeout(2 * bound):
                e2e = await _in_process(
                    target, broker.bootstrap, broker.pid, box, horizon, settings.profile
                )
        setup_s = time.perf_counter() - run_started - e2e.wall_s
        say("read-back: every key of orders.v1 against the sandbox's orders")
        async with asyncio.timeout(bound):
            orders = await _read_back(broker.bootstrap, schemas.topics.ORDERS)
            refunds = await _read_back(broker.bootstrap, schemas.topics.REFUNDS)
        expected = {(label, order_id) for label, ids in box.truth.items() for order_id in ids}
        duplicates, missing, unexpected = check_exactly_once(expected, orders)
        say(f"micro: up to {settings.micro_orders:,} recorded orders, one core, no I/O")
        async with asyncio.timeout(bound):
            with _worker_gc():
                micro_orders, micro_per_s = await micro(
                    target, settings.micro_orders, settings.micro_repeats, horizon
                )
        base = None
        if settings.baseline and settings.platform == baseline.PLATFORM:
            say("baseline: json + one send_and_wait per message")
            # The partitions of orders.v1, so that neither side is favoured.
            partitions = TOPICS[schemas.topics.ORDERS].partitions
            await ensure_topics(
                broker.bootstrap,
                {BASELINE_TOPIC: TopicSpec(partitions=partitions)},
                replication_factor=1,
            )
            async with asyncio.timeout(4 * bound):
                base = await baseline.run_baseline(
                    base_url=box.base_url,
                    token_url=box.root_url + "/connect/token",
                    accounts=[(label, target.credentials(label)) for label in target.labels],
                    bootstrap=broker.bootstrap,
                    topic=BASELINE_TOPIC,
                    start=START - horizon,
                    end=START,
                )
    events_per_s = e2e.events / e2e.wall_s if e2e.wall_s > 0 else math.nan
    return IngestReport(
        platform=settings.platform,
        orders=settings.orders,
        accounts=len(accounts),
        sandbox="replay" if settings.replay else "live",
        workers=settings.workers,
        per_worker=e2e.per_worker,
        events=e2e.events,
        events_by_type=e2e.by_type,
        wall_s=round(e2e.wall_s, 3),
        events_per_s=round(events_per_s, 1),
        cpu_s=round(e2e.cpu_s, 3),
        cpu_s_per_10k=_per_10k(e2e.cpu_s, e2e.events),
        peak_rss_mb=round(e2e.peak_rss_mb, 1),
        broker_cpu_s_per_10k=(
            None if e2e.broker_cpu_s is None else _per_10k(e2e.broker_cpu_s, e2e.events)
        ),
        broker_peak_rss_mb=_maybe(e2e.broker_peak_rss_mb),
        sandbox_cpu_s_per_10k=_per_10k(e2e.sandbox_cpu_s, e2e.events),
        sandbox_replay_misses=e2e.replay_misses,
        broker_records=sum(orders.values()) + sum(refunds.values()),
        duplicates=duplicates,
        missing=missing,
        unexpected=unexpected,
        micro_orders=micro_orders,
        micro_orders_per_s=round(micro_per_s, 1),
        micro_us_per_order=round(1e6 / micro_per_s, 1) if micro_per_s else math.nan,
        baseline_events=None if base is None else base.events,
        baseline_wall_s=None if base is None else _maybe(base.wall_s, 3),
        baseline_events_per_s=None if base is None else _maybe(base.events_per_s),
        baseline_cpu_s_per_10k=None if base is None else _per_10k(base.cpu_s, base.events),
        ratio=None if base is None else round(events_per_s / base.events_per_s, 2),
        generate_s=round(box.generate_s, 1),
        warmup_s=round(warmup_s, 1),
        setup_s=round(setup_s, 1),
        total_s=round(time.perf_counter() - run_started, 1),
    )
