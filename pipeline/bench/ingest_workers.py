"""``pipeline bench ingest --workers N``: the end-to-end phase in N worker processes.

A fleet runs one ``pipeline poll`` process per core (one Python process uses one core), each
owning a share of the accounts. Here each worker is a child process (:func:`worker_child`) with
what a worker has: its own HTTP session, :class:`~pipeline.bus.KafkaEventPublisher`
(``acks="all"``, zstd) and :class:`~pipeline.checkpoints.KafkaCheckpointStore`, and a real
:class:`~pipeline.poller.AccountPoller` per account of its share (accounts dealt round-robin).
Each loads its checkpoints, says it is ready, and starts its first cycles when the parent says
``go`` (all within microseconds); it measures its own CPU (``time.process_time``), its peak RSS
and its first-cycle start and last acknowledgement on ``CLOCK_MONOTONIC``, which every process
of the machine shares. Wall time is the earliest start to the latest acknowledgement; events/s
is the total over it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import resource
import sys
from collections.abc import Sequence

import msgspec

from pipeline import platforms
from pipeline.bench.child import ChildProcess, reply
from pipeline.bench.ingest import (
    WorkerUsage,
    _CountingPublisher,
    _Measured,
    _proc_stat,
    _Target,
    _worker_gc,
    timed_cycles,
)
from pipeline.bench.ingest_sandbox import SandboxProcess
from pipeline.bus import KafkaEventPublisher
from pipeline.checkpoints import KafkaCheckpointStore
from pipeline.http import HttpClient, HttpSettings
from pipeline.poller import AccountPoller

__all__ = ["WorkerPlan", "end_to_end_in_workers", "worker_child"]

_ENTRY = "from pipeline.bench.ingest_workers import worker_child; worker_child()"


class WorkerPlan(msgspec.Struct, frozen=True, kw_only=True):
    """A worker child's first line on stdin: where everything is and which accounts it polls."""

    platform: str
    root_url: str
    base_url: str
    labels: list[str]
    bootstrap: str
    horizon_s: float
    profile: str | None = None


class _Ready(msgspec.Struct, frozen=True):
    pid: int


class _Result(msgspec.Struct, frozen=True, kw_only=True):
    by_type: dict[str, int]
    started: float  # time.monotonic()
    last_ack: float
    cpu_s: float
    peak_rss_mb: float


class _Stopped(msgspec.Struct, frozen=True):
    stopped: bool = True


def worker_child() -> None:
    """The worker child's entry point (see the module docstring)."""
    plan = msgspec.json.decode(sys.stdin.buffer.readline(), type=WorkerPlan)
    asyncio.run(_serve_worker(plan))


async def _line() -> str:
    # A blocking read in a thread, so the loop serves meanwhile; EOF: the parent is gone.
    line: str = await asyncio.to_thread(sys.stdin.readline)
    return line.strip()


async def _serve_worker(plan: WorkerPlan) -> None:
    target = _Target(platforms.get(plan.platform), plan.root_url, plan.base_url, plan.labels)
    horizon = dt.timedelta(seconds=plan.horizon_s)
    async with (
        HttpClient(HttpSettings(total=60)) as http,
        KafkaEventPublisher(plan.bootstrap, embedded=True) as publisher,
        KafkaCheckpointStore(plan.bootstrap, embedded=True) as store,
    ):
        counting = _CountingPublisher(publisher)
        pollers = target.pollers(http, counting, store, horizon)
        for poller in pollers:
            await poller.load()  # outside the measurement, as a running worker has
        reply(_Ready(pid=os.getpid()))
        if await _line() != "go":
            return
        with _worker_gc():
            reply(await _measure(pollers, counting, plan.profile))
        while await _line() not in ("stop", ""):
            pass
    reply(_Stopped())


async def _measure(
    pollers: Sequence[AccountPoller], counting: _CountingPublisher, profile: str | None
) -> _Result:
    t0, cpu_s = await timed_cycles(pollers, profile)
    return _Result(
        by_type=dict(counting.by_type),
        started=t0,
        last_ack=counting.last_ack,
        cpu_s=cpu_s,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
    )


async def end_to_end_in_workers(
    target: _Target,
    *,
    workers: int,
    bootstrap: str,
    horizon: dt.timedelta,
    box: SandboxProcess,
    broker_pid: int | None,
    profile: str | None,
    bound: float,
) -> _Measured:
    """Start ``workers`` worker children (each loads its accounts' checkpoints), then let them
    run their first cycles at once and gather what each measured."""
    shares = [target.labels[i::workers] for i in range(workers)]
    children = [ChildProcess(_ENTRY) for _ in shares]
    try:
        await asyncio.gather(
            *(
                child.start(
                    WorkerPlan(
                        platform=target.spec.id,
                        root_url=target.root_url,
                        base_url=target.base_url,
                        labels=share,
                        bootstrap=bootstrap,
                        horizon_s=horizon.total_seconds(),
                        profile=f"{profile}.{i + 1}" if profile else None,
                    ),
                    _Ready,
                    bound,
                )
                for i, (child, share) in enumerate(zip(children, shares, strict=True))
            )
        )
        box0, broker0 = await box.usage(), _proc_stat(broker_pid)
        for child in children:
            await child.send(b"go")
        results = await asyncio.gather(*(child.answer(_Result, bound) for child in children))
        box1, broker1 = await box.usage(), _proc_stat(broker_pid)
    finally:
        await asyncio.gather(*(child.aclose() for child in children))
    by_type: dict[str, int] = {}
    for result in results:
        for kind, count in result.by_type.items():
            by_type[kind] = by_type.get(kind, 0) + count
    return _Measured(
        by_type=dict(sorted(by_type.items())),
        wall_s=max(r.last_ack for r in results) - min(r.started for r in results),
        cpu_s=sum(r.cpu_s for r in results),
        peak_rss_mb=max(r.peak_rss_mb for r in results),
        broker_cpu_s=broker1[0] - broker0[0] if broker0 and broker1 else None,
        broker_peak_rss_mb=broker1[1] if broker1 else None,
        sandbox_cpu_s=box1.cpu_s - box0.cpu_s,
        replay_misses=box1.replay_misses - box0.replay_misses,
        per_worker=[
            WorkerUsage.of(len(share), sum(r.by_type.values()), r.cpu_s, r.peak_rss_mb)
            for share, r in zip(shares, results, strict=True)
        ],
    )
