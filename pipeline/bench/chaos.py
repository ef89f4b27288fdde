"""``pipeline bench chaos --minutes N [--workers K] [--seed S]``: the promises under chaos.

Real processes: an embedded broker behind a :class:`~pipeline.netproxy.TcpProxy` (the workers
know only the proxy), the five sandboxes in a child process (:mod:`.chaos_sandboxes`) with
faults on (:data:`.chaos_driver.BASE_FAULTS`), and K ``pipeline run --config`` workers. The
driver follows a seeded :func:`.chaos_schedule.plan`: SIGKILLs and restarts workers, cuts the
broker, storms a platform with errors, expires tokens, and sends command bursts with invalid
commands and poison bytes. Then it settles: faults off, broker up, every worker running, until
every command has its result and every frequently polled stream completed a cycle begun after
the chaos (bounded); stops the workers with SIGTERM; and runs the whole invariant check
(:func:`pipeline.checker.remote.check_remote`). A worker that exits without being killed is
restarted and counted (``crashes``). Exit status 0 only with zero violations and no crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from pipeline import platforms
from pipeline.bench.chaos_driver import Bursts, SandboxControl, command_rates
from pipeline.bench.chaos_schedule import Step, plan
from pipeline.broker import EmbeddedBroker, find_free_port
from pipeline.checker import read_observations, read_topics
from pipeline.checker.remote import Audit, check_remote
from pipeline.checker.report import Report
from pipeline.config import PollConfig, parse_duration
from pipeline.netproxy import TcpProxy
from pipeline.ratelimit import DEFAULT_COMMANDS_SHARE, RateLimiterRegistry
from pipeline.testbed import (
    ProcessFailure,
    SandboxAccount,
    WorkerProcess,
    send_commands,
    write_config,
)
from pipeline.topics import ensure_topics
from schemas import decode_result, topics

__all__ = ["ChaosFigures", "run_chaos"]

#: A pass that began when the workers started has a cursor a settle delay before it; an account
#: that never completed one still has its initial cursor, a whole horizon (days) back.
FIRST_PASS_SLACK = dt.timedelta(minutes=5)
#: Seconds until an idle stream's moved cursor is saved (the workers run the default).
_CHECKPOINT_EVERY = parse_duration(PollConfig().checkpoint_every).total_seconds()

#: The commands share of the accounts that write a lot (``rate_limit.commands_share``):
#: Pazarama's 60 a minute leave its commands 12 at the default 0.2, three shipments a minute.
WRITING_SHARES: dict[str, float] = {"pazarama": 0.5}


def _limits(workers: int, accounts: Sequence[SandboxAccount]) -> dict[str, Any]:
    """Per platform: the limit a worker's budget gets with the run's configuration."""
    registry = RateLimiterRegistry(
        {p: platforms.get(p).default_limit for p in platforms.registry()},
        processes_per_ip=workers,
    )
    return {
        a.platform: registry.limit_for(
            a.platform, share=WRITING_SHARES.get(a.platform, DEFAULT_COMMANDS_SHARE)
        )
        for a in accounts
    }


class ChaosFigures(msgspec.Struct, kw_only=True):
    minutes: float
    workers: int
    seed: int
    faults: dict[str, int] = msgspec.field(default_factory=dict)  # fired, by kind
    storms: int = 0
    token_expiries: int = 0
    kills: int = 0
    cuts: int = 0
    cut_s: float = 0.0
    commands_sent: int = 0
    #: Commands a minute the bursts allowed each rate-limited platform (chaos_driver).
    command_rates: dict[str, float] = msgspec.field(default_factory=dict)
    invalid_sent: int = 0
    poison_sent: int = 0
    events: int = 0
    distinct_events: int = 0
    repeats: int = 0
    unmapped: int = 0  # due orders held as unmapped by their checkpoint (retried by sweeps)
    commands: int = 0
    results: dict[str, int] = msgspec.field(default_factory=dict)
    result_repeats: int = 0
    dead_letters: int = 0
    own_budget_exceeded: dict[str, int] = msgspec.field(default_factory=dict)
    effects: int = 0
    requests: int = 0
    violations: dict[str, int] = msgspec.field(default_factory=dict)
    examples: dict[str, list[str]] = msgspec.field(default_factory=dict)
    settle_s: float = 0.0
    settled: bool = False
    stop_timeouts: int = 0  # workers that did not stop within 20 s of SIGTERM
    #: Workers that exited without being killed (restarted at once, as a supervisor would).
    crashes: int = 0
    crash_examples: list[str] = msgspec.field(default_factory=list)
    wall_s: float = 0.0

    @property
    def total_violations(self) -> int:
        return sum(self.violations.values())


@dataclass
class _Run:
    minutes: float
    workers: int
    seed: int
    tmp: Path
    proxy: TcpProxy
    control: SandboxControl
    accounts: list[SandboxAccount]
    config: Path
    environ: dict[str, str]
    progress: Any
    procs: list[WorkerProcess] = field(default_factory=list)
    figures: ChaosFigures = field(init=False)
    limits: dict[str, Any] = field(init=False)  # per platform, as the workers' budgets see them
    bursts: Bursts = field(init=False)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    produced: set[str] = field(default_factory=set)  # command ids acknowledged by the broker
    down: set[str] = field(default_factory=set)  # workers the driver killed, until restarted
    #: When the workers started (wall clock): a cursor past it completed a pass in the run.
    began: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def __post_init__(self) -> None:
        self.figures = ChaosFigures(minutes=self.minutes, workers=self.workers, seed=self.seed)
        counts: dict[str, int] = {}
        for a in self.accounts:
            counts[a.platform] = counts.get(a.platform, 0) + 1
        self.limits = _limits(self.workers, self.accounts)
        rates = command_rates(self.limits, counts, self.minutes * 60)
        self.bursts = Bursts(self.accounts, self.seed, rates=rates)
        self.figures.command_rates = {p: round(r, 2) for p, r in sorted(rates.items())}

    async def start_workers(self) -> None:
        for n in range(self.workers):
            name = f"worker-{n}"
            proc = WorkerProcess(name, self.config, self.environ, self.tmp, role="run")
            self.procs.append(await proc.start())

    async def step(self, step: Step) -> None:
        match step.action:
            case "cut":
                self.tasks.add(asyncio.create_task(self._cut(step.seconds)))
            case "kill":
                proc = self.procs[step.worker or 0]
                if not proc.running or sum(p.running for p in self.procs) < len(self.procs):
                    return  # another victim is still down: keep one alive
                self.tasks.add(asyncio.create_task(self._kill(proc, step.seconds)))
            case "burst":
                self.tasks.add(asyncio.create_task(self._burst(step.size)))
            case "storm":
                self.tasks.add(asyncio.create_task(self._storm(step)))
            case "tokens":
                await self.control.expire_tokens(step.platform or topics.PLATFORMS[0])
                self.figures.token_expiries += 1

    async def _cut(self, seconds: float) -> None:
        self.progress(f"broker cut for {seconds:.0f} s")
        await self.proxy.cut()
        self.figures.cuts += 1
        started = time.monotonic()
        try:
            await asyncio.sleep(seconds)
        finally:
            await self.proxy.restore()
            self.figures.cut_s += time.monotonic() - started

    async def _kill(self, proc: WorkerProcess, delay: float) -> None:
        self.progress(f"SIGKILL {proc.name}, restart in {delay:.0f} s")
        self.down.add(proc.name)
        try:
            await proc.kill()
            self.figures.kills += 1
            await asyncio.sleep(delay)
            await proc.start()
        finally:
            self.down.discard(proc.name)

    async def watch(self) -> None:
        """A worker that exits on its own is a finding: note it and restart it."""
        while True:
            await asyncio.sleep(0.5)
            for proc in self.procs:
                if proc.proc is None or proc.running or proc.name in self.down:
                    continue
                code = proc.proc.returncode
                errors = [ln for ln in proc.tail(200).splitlines() if "Error" in ln][-1:]
                text = f"{proc.name} exited with {code}: {errors[0][:300] if errors else '?'}"
                self.progress(f"CRASH {text}; restarting it")
                self.figures.crashes += 1
                if len(self.figures.crash_examples) < 5:
                    self.figures.crash_examples.append(text)
                await proc.start()

    async def _storm(self, step: Step) -> None:
        platform = step.platform or topics.PLATFORMS[0]
        rule: dict[str, Any] = {"kind": step.kind or "status"}
        if step.kind == "status":
            rule["status"] = 500
        fault_id = await self.control.add_fault(platform, rule)
        self.figures.storms += 1
        try:
            await asyncio.sleep(step.seconds)
        finally:
            await self.control.remove_fault(platform, fault_id)

    async def _burst(self, size: int) -> None:
        orders = {p: await self.control.order_ids(p) for p in self.control.roots}
        commands = self.bursts.commands(size, orders, at=time.monotonic())
        poison = self.bursts.poison_records()
        # Through the proxy like everything else: during a cut, sent again until it is back.
        for attempt in range(30):
            try:
                await send_commands(self.proxy.address, commands, poison)
                break
            except Exception as exc:
                self.progress(f"burst not sent ({type(exc).__name__}), again in 2 s")
                if attempt == 29:
                    raise
                await asyncio.sleep(2.0)
        self.produced.update(c.command_id for c in commands)
        self.figures.commands_sent = self.bursts.sent
        self.figures.invalid_sent = self.bursts.invalid
        self.figures.poison_sent = self.bursts.poison

    async def settle(self, bound: float) -> bool:
        """Until every command has a result and every fast stream completed a cycle begun
        after the settling began (both judged together, within ``bound`` seconds)."""
        for task in list(self.tasks):
            with contextlib.suppress(Exception):
                await task
        await self.control.clear_faults()
        for proc in self.procs:
            if not proc.running:
                await proc.start()
        after = dt.datetime.now(dt.UTC)
        deadline = time.monotonic() + bound
        wanted = {
            (a.platform, a.label, stream)
            for a in self.accounts
            for stream in platforms.get(a.platform).capabilities.streams
        }
        pending: set[tuple[str, str, str]] = wanted
        unanswered = -1
        while time.monotonic() < deadline:
            slow = self._slow()
            with contextlib.suppress(Exception):
                observed = await read_observations(self.proxy.address, max_wait=10)
                # A slow account (a daily budget) need only have completed a pass in the run.
                pending = {
                    k
                    for k in wanted
                    if not (
                        k in observed
                        and (
                            observed[k].polled_until > self.began - FIRST_PASS_SLACK
                            if f"{k[0]}:{k[1]}" in slow
                            else observed[k].since > after
                        )
                    )
                }
            unanswered = await self._unanswered()
            if not pending and unanswered == 0:
                return True
            await asyncio.sleep(1.0)
        self.progress(f"not settled: {unanswered} commands unanswered, no cycle: {sorted(pending)}")
        return False

    def _slow(self) -> set[str]:
        """Accounts planned to poll less often than every 30 s, or with a daily budget (their
        first cycle after a takeover can take minutes, before any interval is planned)."""
        slow = {
            f"{a.platform}:{a.label}"
            for a in self.accounts
            if any(w.period >= 3600 for w in self.limits[a.platform].windows)
        }
        for proc in self.procs:
            slow |= {k for k, every in proc.intervals().items() if every > 30}
        return slow

    async def _unanswered(self) -> int:
        expected = set(self.produced)
        with contextlib.suppress(Exception):  # the broker is up again: the next round reads
            found = await read_topics(self.proxy.address, [topics.COMMAND_RESULTS], max_wait=20)
            expected -= {decode_result(r.value or b"").command_id for r in found}
        return len(expected)

    def behind_bounds(self) -> dict[str, dt.timedelta]:
        """Per platform: 90 s, or twice the longest interval a worker planned for it."""
        bounds = dict.fromkeys(topics.PLATFORMS, dt.timedelta(seconds=90))
        for proc in self.procs:
            for account, every in proc.intervals().items():
                platform = account.split(":", 1)[0]
                longest = dt.timedelta(seconds=2 * every + 30)
                bounds[platform] = max(bounds.get(platform, longest), longest)
        return bounds


async def _start_sandboxes(seed: int, log: Path) -> tuple[asyncio.subprocess.Process, list[Any]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pipeline.bench.chaos_sandboxes",
        "--seed",
        str(seed),
        stdout=asyncio.subprocess.PIPE,
        stderr=log.open("ab"),
        stdin=asyncio.subprocess.DEVNULL,
    )
    if proc.stdout is None:
        raise RuntimeError("the sandboxes' stdout is not a pipe")
    lines: list[Any] = []
    async with asyncio.timeout(60):
        while True:
            line = (await proc.stdout.readline()).strip()
            if not line:
                raise RuntimeError(f"the sandboxes exited early; see {log}")
            if line == b"READY":
                return proc, lines
            lines.append(msgspec.json.decode(line))


def _accounts(described: Sequence[Any]) -> list[SandboxAccount]:
    return [
        SandboxAccount(d["platform"], label, d["root_url"], d["base_url"], creds)
        for d in described
        for label, creds in d["tenants"].items()
    ]


async def run_chaos(
    minutes: float, workers: int, seed: int, *, progress: Any = None, keep: Path | None = None
) -> tuple[ChaosFigures, Report]:
    """Run it; returns the figures and the checker's report."""
    say = progress or (lambda text: None)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pipeline-chaos-") as scratch:
        tmp = keep or Path(scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        sandboxes, described = await _start_sandboxes(seed, tmp / "sandboxes.log")
        try:
            return await _run(minutes, workers, seed, tmp, described, say, began)
        finally:
            with contextlib.suppress(ProcessLookupError):
                sandboxes.terminate()
            await sandboxes.wait()


async def _run(
    minutes: float,
    workers: int,
    seed: int,
    tmp: Path,
    described: list[Any],
    say: Any,
    began: float,
) -> tuple[ChaosFigures, Report]:
    accounts = _accounts(described)
    roots = {d["platform"]: d["root_url"] for d in described}
    broker_port = find_free_port()
    async with (
        TcpProxy("127.0.0.1", broker_port) as proxy,
        EmbeddedBroker(
            port=broker_port,
            advertised_port=proxy.port,
            log_path=tmp / "tansu.log",
            stop_timeout=0.1,
        ),
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
    ):
        await ensure_topics(proxy.address, replication_factor=1)
        config = tmp / "pipeline.toml"
        environ = write_config(
            config,
            accounts,
            proxy.address,
            env_prefix="CHAOS",
            head=[
                "[metrics]",
                "port = 0",
                "",
                "[http]",
                "total_timeout = 5.0",
                "",
                "[rate_limit]",
                f"processes_per_ip = {workers}",  # every worker runs both roles on this host
            ],
            account_lines=lambda a: [
                'horizon = "2d"',
                'poll_interval = "1s"',
                *(
                    [f"rate_limit = {{ commands_share = {WRITING_SHARES[a.platform]} }}"]
                    if a.platform in WRITING_SHARES
                    else []
                ),
            ],
        )
        control = SandboxControl(roots, session)
        run = _Run(minutes, workers, seed, tmp, proxy, control, accounts, config, environ, say)
        watcher: asyncio.Task[None] | None = None
        try:
            await run.start_workers()
            watcher = asyncio.create_task(run.watch())
            await control.base_faults()
            say(f"chaos for {minutes:g} min with {workers} workers (seed {seed}), logs in {tmp}")
            t0 = time.monotonic()
            for step in plan(minutes, workers, seed):
                await asyncio.sleep(max(0.0, t0 + step.at - time.monotonic()))
                await run.step(step)
            await asyncio.sleep(max(0.0, t0 + minutes * 60 - time.monotonic()))
            say("settling: faults off, broker up, every worker running")
            settle_began = time.monotonic()
            # An idle stream's cursor reaches its checkpoint within ``checkpoint_every``.
            bound = max(45.0, minutes * 12) + _CHECKPOINT_EVERY
            run.figures.settled = await run.settle(bound)
            run.figures.settle_s = time.monotonic() - settle_began
            polling_ended = dt.datetime.now(dt.UTC)  # cursors do not move after this
            watcher.cancel()  # from here on the workers are meant to exit
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            for proc in run.procs:
                try:
                    await proc.stop(within=20)
                except ProcessFailure as exc:  # SIGKILLed by stop(); a finding, not a crash
                    run.figures.stop_timeouts += 1
                    say(str(exc).splitlines()[0])
            say("checking")
            report, audits = await check_remote(
                proxy.address,
                list(roots.values()),
                behind=run.behind_bounds(),
                polling_ended=polling_ended,
            )
        finally:
            if watcher is not None:
                watcher.cancel()
            for task in run.tasks:
                task.cancel()
            for proc in run.procs:
                await proc.aclose()
    _fill(run.figures, report, audits)
    run.figures.wall_s = time.monotonic() - began
    return run.figures, report


def _fill(figures: ChaosFigures, report: Report, audits: Sequence[Audit]) -> None:
    for audit in audits:
        figures.requests += audit.requests
        for kind, count in audit.faults.items():
            figures.faults[kind] = figures.faults.get(kind, 0) + count
    figures.events = report.records
    figures.distinct_events = report.distinct_ids
    figures.repeats = report.repeats
    figures.unmapped = report.unmapped
    figures.commands = report.commands
    figures.results = dict(report.results)
    figures.dead_letters = report.dead_letters
    figures.result_repeats = report.result_repeats
    figures.own_budget_exceeded = dict(report.own_budget_exceeded)
    figures.effects = report.effects
    figures.violations = {k: v for k, v in report.counts.items() if v}
    figures.examples = {k: v for k, v in report.examples.items() if v}
