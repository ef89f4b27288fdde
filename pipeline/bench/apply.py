"""``pipeline bench apply``: how much of each platform's command budget the appliers use.

**Setup** (not measured): an :class:`~pipeline.broker.EmbeddedBroker` with the pipeline's
topics; one sandbox per platform on loopback in this process (system clock, orders from the last
minute, so every order is at its first status and nothing changes by itself); a **saturated
burst** per platform — more commands than its configured limit can carry in the run — produced
to ``commands.v1`` before the worker starts; then a real apply :class:`~pipeline.worker.Worker`
in this process with the configured limits (each platform's default, or ``--limit``), budgets
exactly as in production (a second of margin per window). An apply-only worker may use the
**commands' share** of every window (``rate_limit.commands_share``, ``--commands-share``,
default 0.2: ``max(1, floor(limit × share))``; the poll role has the rest), so every figure
below is measured against that share, not the platform's whole limit.

The commands are the cheapest *real* work each platform offers: Softtr status changes (100
orders per ``updateOrderStatus``), C2C status changes (100 codes per write, 50 per read: the
orders move awaiting approval → preparing → shipped), Pazarama and e-Çarşı shipments (per
order: a read, then the writes), Web Servis commands (none is supported: no request at all).

**Measured** per platform, over the whole windows of its shortest limit (60 s for every default)
that fit between its first request and the end of the run:

* *commands/min*: results published in that interval;
* *utilisation* of the command lane: requests the platform received in it ÷ what the apply
  role's share allows there (every window counted: e-Çarşı's 12 of 60/min and 200 of
  1000/day at the default share). The exact
  sliding budget sends a window's worth as fast as the work comes and then waits for the window
  to pass, plus a second of margin, so whole windows from the first request can be full; over
  a long steady run the margin costs 1/61 of a minute window;
* *requests/command* over the whole run, the *peak* in any sliding window (against the
  share), and **violations**: the sandboxes' refusals, their documented rules replayed on the
  request logs, and the apply role's share of our configured windows replayed;
* *saturated*: whether commands were still waiting at the end of the interval (otherwise the
  platform ran out of work, and its utilisation says nothing about the budget).

Afterwards every result is read back from ``command-results.v1``: one per answered command.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import datetime as dt
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, TextIO

import msgspec

from pipeline import checker, platforms, testbed
from pipeline.broker import EmbeddedBroker
from pipeline.config import Config, RateLimitConfig, RateLimitDefaults
from pipeline.platforms.c2c.mapping import WRITABLE_STATUS as C2C_STATUS
from pipeline.ratelimit import DEFAULT_COMMANDS_SHARE, RateLimit, Window
from pipeline.sandbox import Sandbox, SandboxSettings, ServedSandbox, serve
from pipeline.sandbox.request_log import LogEntry
from pipeline.topics import ensure_topics
from pipeline.up import sandbox_config
from pipeline.worker import Worker, prepare_accounts
from schemas import (
    AnyCommand,
    CommandResult,
    OrderStatus,
    SetStatus,
    Ship,
    decode_result,
    topics,
)

TARGET_UTILISATION: Final = 0.95
PLATFORMS: Final = ("c2c", "ecarsi", "pazarama", "softtr", "webservis")
#: Requests one command costs (to size a burst that outlasts the run); None: no requests.
COST: Final[dict[str, float | None]] = {
    "softtr": 1 / 100,  # 100 orders per updateOrderStatus
    "c2c": 3 / 100,  # per 100 codes of one target: two reads of 50, one write
    "pazarama": 3.0,  # read, 3 → 12, 12 → 5 with the tracking number
    "ecarsi": 2.0,  # read, shipping record
    "webservis": None,  # no order writes: every command is unsupported
}
UNSUPPORTED_COMMANDS: Final = 200
#: Commands beyond what the limit can carry, so the backlog outlasts the measured interval.
OVERSUBSCRIBE: Final = 1.25
#: Seconds from the worker's start to a platform's first request that the run allows for.
LEAD: Final = 5.0

Progress = Callable[[str], None]


class ApplyBenchSettings(msgspec.Struct, frozen=True, kw_only=True):
    duration: float = 125.0
    platforms: tuple[str, ...] = PLATFORMS
    #: platform → requests per minute, overriding the default (as ``rate_limit`` in a config).
    limits: dict[str, int] = msgspec.field(default_factory=dict)
    seed: int = 7
    #: Of every window, what the apply role may use (``rate_limit.commands_share``).
    commands_share: float = DEFAULT_COMMANDS_SHARE


class PlatformFigures(msgspec.Struct, frozen=True, kw_only=True):
    platform: str
    limit: str  # "120/min", "60/min per IP + 1000/day"
    share: str  # the apply role's share of it: "24/min", "12/min per IP + 200/day"
    commands_sent: int
    answered: int  # results over the whole run
    interval_s: float  # the measured interval: whole windows from the first request
    commands_per_min: float | None
    requests: int  # over the whole run
    requests_in_interval: int
    allowed_in_interval: int
    utilisation: float | None  # requests_in_interval / allowed_in_interval
    requests_per_command: float | None
    peak_in_window: int  # most requests in any sliding window of the shortest limit
    window_limit: int
    violations: int
    saturated: bool
    outcomes: dict[str, int]


class ApplyBenchReport(msgspec.Struct, frozen=True, kw_only=True):
    bench: str = "apply"
    duration_s: float
    commands_share: float = DEFAULT_COMMANDS_SHARE
    target_utilisation: float = TARGET_UTILISATION
    platforms: list[PlatformFigures]
    results: int
    duplicates: int  # commands with more than one result
    violations: int
    target_met: bool  # every saturated platform with requests ≥ target, zero violations
    setup_s: float
    total_s: float


# --- the burst ----------------------------------------------------------------------------------


def limit_of(platform: str, per_minute: int | None) -> RateLimit:
    default = platforms.default_limits()[platform]
    return (
        default
        if per_minute is None
        else default.merged(RateLimit.from_config(per_minute=per_minute))
    )


def apply_share(limit: RateLimit, share: float) -> RateLimit:
    """What an apply-only worker may send: each window's commands share (pipeline.ratelimit)."""
    shared = limit.with_share(share)
    return RateLimit(
        tuple(
            Window(limit=w.command_share, period=w.period, shared=w.shared) for w in shared.windows
        )
    )


def limit_text(limit: RateLimit) -> str:
    units = {1.0: "s", 60.0: "min", 3600.0: "h", 86400.0: "day"}
    return " + ".join(
        f"{w.limit}/{units.get(w.period, f'{w.period:g}s')}{' per IP' if w.shared else ''}"
        for w in limit.windows
    )


def allowance(limit: RateLimit, seconds: float) -> int:
    """Most requests the limit lets through in an interval of ``seconds``."""
    return min(w.limit * math.ceil(seconds / w.period - 1e-9) for w in limit.windows)


def burst_size(platform: str, limit: RateLimit, duration: float) -> int:
    cost = COST[platform]
    if cost is None:
        return UNSUPPORTED_COMMANDS
    shortest = min(w.period for w in limit.windows)
    windows = max(1, math.floor((duration - LEAD) / shortest))
    return math.ceil(allowance(limit, windows * shortest) / cost * OVERSUBSCRIBE)


def orders_needed(platform: str, commands: int) -> int:
    return {
        "softtr": min(commands, 2_000),  # cycled: 100 distinct per call is all a batch needs
        "c2c": commands,  # two commands per order, and about a quarter await payment
        "pazarama": commands + 5,
        "ecarsi": commands + 5,
        "webservis": 5,
    }[platform]


def make_commands(box: Sandbox, count: int, prefix: str) -> list[AnyCommand]:
    """``count`` commands of real work for ``box``'s platform (see the module docstring)."""
    p = box.platform
    now = dt.datetime.now(dt.UTC)
    orders = box.world.orders
    out: list[AnyCommand] = []

    def base(n: int, order: str) -> dict[str, Any]:
        return {
            "command_id": f"{prefix}-{p}-{n}",
            "platform": p,
            "account": box.tenant.label,
            "order_id": order,
            "issued_at": now,
        }

    if p == "softtr":
        cycle = [OrderStatus.PREPARING, OrderStatus.IN_SUPPLY, OrderStatus.SHIPPED]
        for n in range(count):
            status = cycle[(n // len(orders)) % len(cycle)]
            out.append(SetStatus(**base(n, orders[n % len(orders)].id), status=status))
    elif p == "c2c":
        approval = C2C_STATUS[OrderStatus.AWAITING_APPROVAL]
        ready = [o.id for o in orders if o.status == approval][: math.ceil(count / 2)]
        for n in range(count):
            status = OrderStatus.PREPARING if n < len(ready) else OrderStatus.SHIPPED
            out.append(SetStatus(**base(n, ready[n % len(ready)]), status=status))
    elif p in {"pazarama", "ecarsi"}:
        for n in range(count):
            number = f"{p[:2].upper()}{n:06d}"
            out.append(
                Ship(
                    **base(n, orders[n].id), carrier="Yurtiçi Kargo", tracking_number=number, desi=2
                )
            )
    else:
        for n in range(count):
            out.append(
                SetStatus(**base(n, orders[n % len(orders)].id), status=OrderStatus.PREPARING)
            )
    return out


async def produce(bootstrap: str, commands: Sequence[AnyCommand]) -> None:
    """Every command on ``commands.v1``, acknowledged (the process tests' sender)."""
    await testbed.send_commands(bootstrap, commands)


# --- measuring ----------------------------------------------------------------------------------


def peak(times: Sequence[float], period: float) -> int:
    """Most entries of sorted ``times`` in any half-open interval of length ``period``."""
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - period:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def violations(box: Sandbox, limit: RateLimit) -> int:
    """Refusals, the documented rules replayed, and ``limit`` (the apply share) replayed."""
    found = sum(box.limits.violations.values())
    found += sum(len(v) for v in checker.rule_violations(box).values())
    for w in limit.windows:
        found += len(
            checker.window_violations(
                box.log.entries, limit=w.limit, window=w.period, key=lambda e: e.tenant
            )
        )
    return found


@dataclasses.dataclass
class _Run:
    box: Sandbox
    limit: RateLimit  # the platform's (configured) limit
    share: RateLimit  # what the apply role may use of it
    commands: list[AnyCommand]


def figures(run: _Run, results: Sequence[CommandResult], end: dt.datetime) -> PlatformFigures:
    box, limit = run.box, run.share
    entries: list[LogEntry] = sorted(box.log.entries, key=lambda e: e.at)
    shortest = min(limit.windows, key=lambda w: w.period)
    mine = [r for r in results if r.platform == box.platform]
    outcomes = dict(collections.Counter(r.outcome.value for r in mine))
    common: dict[str, Any] = {
        "platform": box.platform,
        "limit": limit_text(run.limit),
        "share": limit_text(limit),
        "commands_sent": len(run.commands),
        "answered": len(mine),
        "requests": len(entries),
        "window_limit": shortest.limit,
        "violations": violations(box, limit),
        "outcomes": outcomes,
    }
    if not entries:
        return PlatformFigures(
            **common,
            interval_s=0.0,
            commands_per_min=None,
            requests_in_interval=0,
            allowed_in_interval=0,
            utilisation=None,
            requests_per_command=None,
            peak_in_window=0,
            saturated=False,
        )
    start = entries[0].at
    windows = max(1, math.floor((end - start).total_seconds() / shortest.period))
    stop = start + dt.timedelta(seconds=windows * shortest.period)
    inside = sum(1 for e in entries if start <= e.at < stop)
    answered = sum(1 for r in mine if start <= r.finished_at < stop)
    allowed = allowance(limit, windows * shortest.period)
    stamps = [e.at.timestamp() for e in entries]
    return PlatformFigures(
        **common,
        interval_s=windows * shortest.period,
        commands_per_min=round(answered / (windows * shortest.period / 60), 1),
        requests_in_interval=inside,
        allowed_in_interval=allowed,
        utilisation=round(inside / allowed, 4),
        requests_per_command=round(len(entries) / len(mine), 4) if mine else None,
        peak_in_window=peak(stamps, shortest.period),
        saturated=sum(1 for r in mine if r.finished_at < stop) < len(run.commands),
    )


# --- the run ------------------------------------------------------------------------------------


def _config(
    served: list[ServedSandbox], bootstrap: str, limits: dict[str, int], share: float
) -> tuple[Config, dict[str, str]]:
    """One account per sandbox, secrets by env reference, ``limits`` as ``rate_limit``, the
    commands share as ``[rate_limit] commands_share``."""
    config, environ = sandbox_config(served, bootstrap)
    accounts = [
        msgspec.structs.replace(a, rate_limit=RateLimitConfig(per_minute=limits[a.platform]))
        if a.platform in limits
        else a
        for a in config.accounts
    ]
    shares = RateLimitDefaults(commands_share=share)
    return msgspec.structs.replace(config, accounts=accounts, rate_limit=shares), environ


async def run_apply_bench(
    settings: ApplyBenchSettings, progress: Progress | None = None
) -> ApplyBenchReport:
    """Run the bench (see the module docstring) and return its report."""
    say = progress or (lambda _: None)
    started = time.perf_counter()
    runs: dict[str, _Run] = {}
    boxes = []
    for n, p in enumerate(settings.platforms):
        limit = limit_of(p, settings.limits.get(p))
        share = apply_share(limit, settings.commands_share)
        count = burst_size(p, share, settings.duration)
        box = platforms.sandbox_class(p)(
            settings=SandboxSettings(
                seed=settings.seed * 10 + n,
                initial_orders=orders_needed(p, count),
                history=dt.timedelta(minutes=1),
                max_log_entries=200_000,
            )
        )
        assert isinstance(box, Sandbox)  # noqa: S101
        runs[p] = _Run(box, limit, share, make_commands(box, count, f"bench-{settings.seed}"))
        boxes.append(box)
    async with EmbeddedBroker() as broker, serve(boxes) as served:
        config, environ = _config(
            served, broker.bootstrap, settings.limits, settings.commands_share
        )
        await ensure_topics(broker.bootstrap, replication_factor=1)
        commands = [c for run in runs.values() for c in run.commands]
        say(f"producing {len(commands):,} commands: " + ", ".join(
            f"{p} {len(r.commands):,}" for p, r in runs.items()
        ))  # fmt: skip
        await produce(broker.bootstrap, commands)
        worker = Worker(
            config,
            prepare_accounts(config, environ),
            bootstrap=broker.bootstrap,
            embedded=True,
            roles=frozenset({"apply"}),
        )
        setup_s = time.perf_counter() - started
        say(f"applying for {settings.duration:g}s under the configured limits")
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop), name="bench-apply-worker")
        try:
            async with asyncio.timeout(settings.duration):
                await asyncio.shield(task)
        except TimeoutError:
            pass
        end = dt.datetime.now(dt.UTC)
        stop.set()
        async with asyncio.timeout(60):
            await task
        say("reading every result back")
        found = await checker.read_topics(broker.bootstrap, [topics.COMMAND_RESULTS], max_wait=120)
        results = [decode_result(r.value or b"") for r in found]
    counts = collections.Counter(r.command_id for r in results)
    per = [figures(run, results, end) for run in runs.values()]
    total_violations = sum(f.violations for f in per)
    met = total_violations == 0 and all(
        f.utilisation is None or (f.saturated and f.utilisation >= TARGET_UTILISATION) for f in per
    )
    return ApplyBenchReport(
        duration_s=settings.duration,
        commands_share=settings.commands_share,
        platforms=per,
        results=len(results),
        duplicates=sum(1 for n in counts.values() if n > 1),
        violations=total_violations,
        target_met=met,
        setup_s=round(setup_s, 1),
        total_s=round(time.perf_counter() - started, 1),
    )


# --- output -------------------------------------------------------------------------------------


def _n(value: float | int | None, digits: int = 0, unit: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}{unit}"


def render_table(report: ApplyBenchReport) -> str:
    head = (
        "platform",
        "limit",
        "apply share",
        "commands",
        "answered",
        "commands/min",
        "req/min",
        "utilisation",
        "req/command",
        "peak/window",
        "violations",
        "saturated",
    )
    rows = [head]
    for f in report.platforms:
        minutes = f.interval_s / 60 if f.interval_s else None
        rows.append(
            (
                f.platform,
                f.limit,
                f.share,
                _n(f.commands_sent),
                _n(f.answered),
                _n(f.commands_per_min, 0),
                _n(f.requests_in_interval / minutes if minutes else None, 1),
                _n(None if f.utilisation is None else f.utilisation * 100, 1, " %"),
                _n(f.requests_per_command, 3),
                f"{f.peak_in_window}/{f.window_limit}",
                str(f.violations),
                "yes" if f.saturated else ("—" if f.utilisation is None else "NO"),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [
        f"bench apply — saturated burst, {report.duration_s:g} s run; measured over whole windows "
        "from each platform's first request, against the apply role's share of each limit "
        f"(commands_share {report.commands_share:g}: utilisation, peak/window and violations "
        "count that share; the poll role has the rest)"
    ]
    for r in rows:
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].ljust(widths[2])]
        cells += [c.rjust(w) for c, w in zip(r[3:], widths[3:], strict=True)]
        lines.append("  " + "  ".join(cells))
    verdict = "met" if report.target_met else "NOT met"
    lines.append(
        f"  target ≥ {report.target_utilisation:.0%} of the apply share with zero violations: "
        f"{verdict}; {report.results:,} results read back, {report.duplicates} commands with "
        f"two; setup {report.setup_s:g} s, total {report.total_s:g} s"
    )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pipeline bench apply",
        description="a saturated command burst per platform against the apply role's share of "
        "its configured limit",
    )
    parser.add_argument("--duration", type=float, default=125.0, help="seconds (≥ 65)")
    parser.add_argument(
        "--platform", action="append", choices=PLATFORMS, help="repeatable (default: all five)"
    )
    parser.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="PLATFORM=N",
        help="requests per minute for a platform instead of its default (repeatable)",
    )
    parser.add_argument(
        "--commands-share",
        type=float,
        default=DEFAULT_COMMANDS_SHARE,
        metavar="F",
        help="of every window, what the apply role may use (0 < F < 1; the config's "
        "rate_limit.commands_share; default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """``pipeline bench apply …``: 0, or 1 when a limit was broken or a command got two results."""
    stream = out if out is not None else sys.stdout
    args = build_parser().parse_args(argv)
    limits: dict[str, int] = {}
    for text in args.limit:
        platform, _, value = text.partition("=")
        if platform not in PLATFORMS or not value.isdigit() or int(value) < 1:
            print(f"error: --limit {text!r}: use PLATFORM=N, e.g. pazarama=300", file=sys.stderr)
            return 2
        limits[platform] = int(value)
    if not 0 < args.commands_share < 1:
        print(f"error: --commands-share {args.commands_share:g}: use 0 < F < 1", file=sys.stderr)
        return 2
    if args.duration < 65:
        print("error: --duration must be at least 65 s (one whole minute window)", file=sys.stderr)
        return 2
    settings = ApplyBenchSettings(
        duration=args.duration,
        platforms=tuple(args.platform or PLATFORMS),
        limits=limits,
        seed=args.seed,
        commands_share=args.commands_share,
    )

    def progress(text: str) -> None:
        print(f"… {text}", file=sys.stderr, flush=True)

    report = asyncio.run(run_apply_bench(settings, progress=None if args.json else progress))
    if not args.json:
        print(render_table(report), file=stream)
    print(msgspec.json.encode(report).decode(), file=stream, flush=True)
    return 1 if report.violations or report.duplicates else 0


if __name__ == "__main__":
    raise SystemExit(main())
