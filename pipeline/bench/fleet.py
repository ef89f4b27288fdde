"""``pipeline bench fleet``: how many accounts one worker polls at their planned cadences, at what
CPU and memory, and how fresh the events are.

**Setup**: an :class:`~pipeline.broker.EmbeddedBroker` with the pipeline's topics; the platforms'
sandboxes in a *child process* (:mod:`pipeline.bench.fleet_sandbox`, their CPU is not the
worker's) on the system clock, holding N tenants with a backfill and a steady Poisson flow of
new orders; a generated TOML of N accounts (secrets by ``{ env = … }``); and ONE worker process,
``pipeline poll --config FILE``, as an operator runs it, polling them at the cadences it plans
from each account's rate budget.

**Measured** over a steady-state window after a warm-up (every account has finished two cycles:
the first is a backfill): the worker's CPU as % of one core and its RSS from ``/proc/<pid>``,
polls and requests per second and the planned intervals from its ``/metrics``, events published,
and **freshness**: for every order the sandboxes created during the window, the time its
``order.created`` record reached ``orders.v1`` (the record's timestamp) minus its creation time
in the sandbox's world. After the window the bench waits for the last orders (up to the longest
planned interval plus a margin); an order still missing then fails the run.

Platforms: the default is Pazarama; ``mixed`` spreads the accounts over Pazarama, C2C, Softtr
and Web Servis. e-Çarşı is left out: its 60 requests/min are per *IP address*, and a thousand
accounts behind one address cannot share them (the worker would rightly plan hour-long
intervals); each sandbox enforces the limits its platform documents (Web Servis 25/min per shop).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, TextIO

import aiohttp
import msgspec

from pipeline import platforms
from pipeline.bench.fleet_measure import CreatedEvents, ProcSample, Scrape, percentile, scrape
from pipeline.bench.fleet_measure import proc_sample as sample
from pipeline.bench.fleet_report import FleetReport, render_table
from pipeline.bench.fleet_sandbox import FleetPlan, SandboxFleet
from pipeline.bench.fleet_worker import WorkerProcess, free_port, write_config
from pipeline.broker import EmbeddedBroker
from pipeline.topics import ensure_topics

__all__ = ["MIXED", "FleetSettings", "add_arguments", "exit_status", "run", "run_fleet"]

#: ``--platform mixed``: every platform whose limits are per account (not e-Çarşı's per IP).
MIXED: Final = ("pazarama", "c2c", "softtr", "webservis")
TARGET_CPU_PCT: Final = 50.0
TARGET_RSS_MB: Final = 300.0
TARGET_ACCOUNTS: Final = 1_000

Progress = Callable[[str], None]


class FleetSettings(msgspec.Struct, frozen=True, kw_only=True):
    accounts: int = 1_000
    minutes: float = 5.0  # the measured window
    platform: str = "pazarama"  # or "mixed"
    seed: int = 7
    rate_per_hour: float = 4.0  # new orders per account and hour
    initial_orders: int = 10  # per account, over `history`, before the worker starts
    history: dt.timedelta = dt.timedelta(hours=12)
    horizon: str = "1d"
    poll_interval: str | None = None  # the accounts' floor (None: the default, 30 s)
    warmup_max: float = 600.0  # seconds: the window starts then even if some are not warm
    #: ``[http] connections_per_host`` (None: one per 10 accounts of a platform, 10 to 100).
    connections_per_host: int | None = None
    profile: str | None = None  # run the worker under cProfile, stats written here

    def per_host(self) -> int:
        """A platform's accounts share one host and the pool's per-host limit: at 10 (the
        default) a thousand accounts queue for connections until requests time out."""
        if self.connections_per_host is not None:
            return self.connections_per_host
        busiest = max(self.mix().count(p) for p in set(self.mix()))
        return min(100, max(10, math.ceil(busiest / 10)))

    def mix(self) -> list[str]:
        chosen = list(MIXED) if self.platform == "mixed" else [self.platform]
        return [chosen[i % len(chosen)] for i in range(self.accounts)]


async def _warm_up(
    session: aiohttp.ClientSession,
    url: str,
    worker: WorkerProcess,
    accounts: int,
    bound: float,
    say: Progress,
) -> tuple[Scrape, int]:
    """Wait until every account has finished two cycles, or 99 % have and no other did for a
    minute (an account in platform-error backoff), or ``bound`` seconds passed."""
    deadline = time.monotonic() + bound
    last: Scrape | None = None
    warm, progressed = 0, time.monotonic()
    while time.monotonic() < deadline:
        if worker.proc is not None and worker.proc.returncode is not None:
            raise RuntimeError(f"the worker exited ({worker.proc.returncode}):\n{worker.tail()}")
        last = await scrape(session, url) or last
        if last is not None:
            cycles = last.by_account("pipeline_poll_cycles_total")
            now_warm = sum(1 for n in cycles.values() if n >= 2)
            if now_warm > warm:
                warm, progressed = now_warm, time.monotonic()
            say(f"warm-up: {warm}/{accounts} accounts past two cycles")
            stalled = time.monotonic() - progressed > 60.0
            if warm >= accounts or (warm >= 0.99 * accounts and stalled):
                break
        # A scrape of a thousand accounts is not free for the worker: not too often.
        await asyncio.sleep(min(10.0, max(2.0, accounts / 100)))
    if last is None:
        raise RuntimeError(f"the worker never served /metrics:\n{worker.tail()}")
    return last, warm


async def run_fleet(settings: FleetSettings, progress: Progress | None = None) -> FleetReport:
    """Run the whole bench (see the module docstring) and return its report."""
    say = progress or (lambda _: None)
    mix = settings.mix()
    plan = FleetPlan(
        accounts=[(p, f"fleet-{n:04d}") for n, p in enumerate(mix)],
        seed=settings.seed,
        rate_per_hour=settings.rate_per_hour,
        initial_orders=settings.initial_orders,
        history=settings.history,
    )
    run_started = time.monotonic()
    say(f"sandboxes: {settings.accounts} tenants ({', '.join(sorted(set(mix)))})")
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        async with (
            EmbeddedBroker() as broker,
            SandboxFleet(plan, start_timeout=120 + settings.accounts / 5) as box,
            aiohttp.ClientSession() as session,
        ):
            await ensure_topics(broker.bootstrap, replication_factor=1)
            port = free_port()
            config = Path(tmp) / "fleet.toml"
            environ = write_config(config, settings, box, broker.bootstrap, port)
            worker = WorkerProcess(config, environ, Path(tmp) / "worker.log", settings.profile)
            events = CreatedEvents(broker.bootstrap)
            stop_reading = asyncio.Event()
            async with asyncio.TaskGroup() as group:
                group.create_task(events.run(stop_reading))
                try:
                    await worker.start()
                    say(f"worker: pipeline poll, pid {worker.pid}")
                    report = await _measure(
                        settings, session, port, worker, box, broker, events, say
                    )
                    report = msgspec.structs.replace(report, setup_s=round(box.ready.setup_s, 1))
                finally:
                    status = await worker.stop()
                    stop_reading.set()
            say(f"worker stopped (exit status {status})")
    return msgspec.structs.replace(report, total_s=round(time.monotonic() - run_started, 1))


async def _measure(
    settings: FleetSettings,
    session: aiohttp.ClientSession,
    port: int,
    worker: WorkerProcess,
    box: SandboxFleet,
    broker: EmbeddedBroker,
    events: CreatedEvents,
    say: Progress,
) -> FleetReport:
    url = f"http://127.0.0.1:{port}/metrics"
    warm_started = time.monotonic()
    m0, warm = await _warm_up(session, url, worker, settings.accounts, settings.warmup_max, say)
    warmup_s = time.monotonic() - warm_started
    # The window: CPU read after the first scrape and before the last, so neither is in it.
    w0, b0, s0 = sample(worker.pid), sample(broker.pid), await box.usage()
    t0, wall0 = time.monotonic(), dt.datetime.now(dt.UTC)
    say(f"measuring {settings.minutes:g} min")
    rss: list[float] = []
    end = t0 + settings.minutes * 60
    while (left := end - time.monotonic()) > 0:
        await asyncio.sleep(min(1.0, left))
        now = sample(worker.pid)
        if now is None:
            raise RuntimeError(f"the worker exited during the window:\n{worker.tail()}")
        rss.append(now.rss_mb)
    w1, b1, s1 = sample(worker.pid), sample(broker.pid), await box.usage()
    t1, wall1 = time.monotonic(), dt.datetime.now(dt.UTC)
    m1 = await scrape(session, url)
    w2 = sample(worker.pid)
    if w0 is None or w1 is None or w2 is None or m1 is None:
        raise RuntimeError(f"the worker stopped answering:\n{worker.tail()}")
    seconds = t1 - t0
    intervals = list(m1.by_account("pipeline_poll_interval_seconds").values())
    created = [o for o in await box.created_since(wall0) if o.created_at < wall1]
    wanted = {(o.platform, o.account, o.order_id): o.created_at.timestamp() for o in created}
    # Every order of the window is due by the end of its account's next cycle.
    settle = max(intervals, default=60.0) * 1.5 + 30.0
    say(f"{len(wanted)} orders created in the window; waiting up to {settle:.0f} s for the last")
    settle_end = time.monotonic() + settle
    while events.missing(wanted) and time.monotonic() < settle_end:  # noqa: ASYNC110
        await asyncio.sleep(1.0)
    fresh = [events.seen[k][0] - at for k, at in wanted.items() if k in events.seen]
    read = [events.seen[k][1] - at for k, at in wanted.items() if k in events.seen]

    def delta(name: str, **where: str) -> float:
        return m1.total(name, **where) - m0.total(name, **where)

    polls = delta("pipeline_poll_cycles_total")
    checkpoints = delta("pipeline_checkpoint_saves_total")
    checkpoint_bytes = delta("pipeline_checkpoint_bytes_total")
    requests = delta("pipeline_http_requests_total")
    ok = _ok_requests(m1) - _ok_requests(m0)
    kinds = {labels.get("type", "?") for labels, _ in m1.samples.get(_EVENTS, [])}
    by_type = {k: n for k in sorted(kinds) if (n := int(delta(_EVENTS, type=k)))}
    cpu = _pct(w0, w1, seconds)
    mix = settings.mix()
    refusals = {k: n - s0.refusals.get(k, 0) for k, n in s1.refusals.items()}
    return FleetReport(
        platform=settings.platform,
        platforms={p: mix.count(p) for p in sorted(set(mix))},
        accounts=settings.accounts,
        orders_per_account_hour=settings.rate_per_hour,
        poll_interval_floor=settings.poll_interval or "30s",
        horizon=settings.horizon,
        window_s=round(seconds, 1),
        warmup_s=round(warmup_s, 1),
        warm_accounts=warm,
        worker_cpu_pct=cpu,
        worker_cpu_s=round(w1.cpu_s - w0.cpu_s, 2),
        worker_rss_mb=round(sum(rss) / len(rss), 1) if rss else round(w1.rss_mb, 1),
        worker_peak_rss_mb=round(w1.hwm_mb, 1),
        scrape_cpu_s=round(w2.cpu_s - w1.cpu_s, 2),
        http_connections_per_host=settings.per_host(),
        polls_per_s=round(polls / seconds, 2),
        requests_per_s=round(requests / seconds, 2),
        requests_per_poll=round(requests / polls, 2) if polls else math.nan,
        http_non_2xx=int(requests - ok),
        checkpoints_per_s=round(checkpoints / seconds, 2),
        checkpoint_kb_per_s=round(checkpoint_bytes / seconds / 1000, 1),
        planned_interval_p50_s=_r(percentile(intervals, 50), 1),
        planned_interval_p99_s=_r(percentile(intervals, 99), 1),
        planned_interval_max_s=_r(max(intervals, default=math.nan), 1),
        events=sum(by_type.values()),
        events_by_type=by_type,
        orders_created=len(wanted),
        freshness_p50_s=_r(percentile(fresh, 50)),
        freshness_p99_s=_r(percentile(fresh, 99)),
        freshness_max_s=_r(max(fresh, default=math.nan)),
        freshness_read_p50_s=_r(percentile(read, 50)),
        orders_missing=events.missing(wanted),
        settle_s=round(settle, 1),
        sandbox_cpu_pct=round((s1.cpu_s - s0.cpu_s) / seconds * 100, 1),
        sandbox_requests_per_s=round((s1.requests - s0.requests) / seconds, 2),
        sandbox_refusals={k: n for k, n in refusals.items() if n},
        broker_cpu_pct=_pct(b0, b1, seconds) if b0 and b1 else None,
        targets_met=cpu < TARGET_CPU_PCT and w1.hwm_mb < TARGET_RSS_MB,
    )


_EVENTS: Final = "pipeline_publisher_events_total"


def _ok_requests(m: Scrape) -> float:
    return sum(
        v
        for labels, v in m.samples.get("pipeline_http_requests_total", [])
        if labels.get("code", "").startswith("2")
    )


def _say(text: str) -> None:
    print(f"… {text}", file=sys.stderr, flush=True)


def _pct(before: ProcSample, after: ProcSample, seconds: float) -> float:
    return round((after.cpu_s - before.cpu_s) / seconds * 100, 1) if seconds > 0 else math.nan


def _r(value: float, digits: int = 2) -> float:
    return round(value, digits) if not math.isnan(value) else value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = FleetSettings()
    parser.add_argument("--accounts", type=int, default=d.accounts, help="accounts polled")
    parser.add_argument("--minutes", type=float, default=d.minutes, help="measured window")
    parser.add_argument(
        "--platform", default=d.platform, help=f"platform id or 'mixed' ({', '.join(MIXED)})"
    )
    parser.add_argument("--seed", type=int, default=d.seed, help="seed of the sandboxes")
    parser.add_argument(
        "--rate", type=float, default=d.rate_per_hour, help="new orders per account and hour"
    )
    parser.add_argument(
        "--initial-orders", type=int, default=d.initial_orders, help="backfill per account"
    )
    parser.add_argument("--horizon", default=d.horizon, help="the accounts' horizon (1d)")
    parser.add_argument(
        "--poll-interval", default=None, help="the accounts' poll_interval floor (default 30s)"
    )
    parser.add_argument(
        "--warmup", type=float, default=d.warmup_max, help="longest warm-up, seconds"
    )
    parser.add_argument(
        "--connections-per-host",
        type=int,
        default=None,
        help="[http] connections_per_host of the worker (default: accounts/10, 10 to 100)",
    )
    parser.add_argument("--profile", metavar="FILE", help="cProfile the worker (pstats file)")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a CPU or RSS target is missed"
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON line")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the parsed bench, print the table (unless ``--json``) and the JSON line. Exit 1 when
    an order of the window is missing (or, with ``--strict``, a target is missed)."""
    stream = out if out is not None else sys.stdout
    if args.accounts < 1 or args.minutes <= 0 or args.rate < 0 or args.initial_orders < 0:
        print(
            "error: --accounts ≥ 1, --minutes > 0, --rate and --initial-orders ≥ 0", file=sys.stderr
        )
        return 2
    if args.platform != "mixed" and args.platform not in platforms.registry():
        print(f"error: --platform {args.platform!r}: not a platform nor 'mixed'", file=sys.stderr)
        return 2
    settings = FleetSettings(
        accounts=args.accounts,
        minutes=args.minutes,
        platform=args.platform,
        seed=args.seed,
        rate_per_hour=args.rate,
        initial_orders=args.initial_orders,
        horizon=args.horizon,
        poll_interval=args.poll_interval,
        warmup_max=args.warmup,
        profile=args.profile,
        connections_per_host=args.connections_per_host,
    )
    report = asyncio.run(run_fleet(settings, progress=None if args.json else _say))
    if not args.json:
        print(render_table(report), file=stream)
    print(msgspec.json.encode(report).decode(), file=stream, flush=True)
    return exit_status(report, strict=args.strict)


def exit_status(report: FleetReport, *, strict: bool) -> int:
    """1 when an order of the window never reached ``orders.v1`` (or, ``strict``, when the
    worker missed a CPU or RSS target), else 0."""
    if report.orders_missing:
        return 1
    return 1 if strict and not report.targets_met else 0
