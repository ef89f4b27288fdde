"""``pipeline bench check`` and ``pipeline bench chaos``: their arguments and their output (an
aligned table, then one JSON line; exit status 1 on any violation, 2 on bad input or when the
check itself could not run)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from pipeline.config import parse_duration
from pipeline.errors import PipelineError

if TYPE_CHECKING:
    from pipeline.bench.chaos import ChaosFigures

__all__ = ["add_parsers", "render"]


def add_parsers(benches: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = benches.add_parser(
        "check",
        help="the invariant checker: topics, checkpoints and sandboxes compared (exit 1: "
        "violations)",
    )
    check.add_argument("--bootstrap", required=True, help="the broker, host:port")
    check.add_argument(
        "--sandbox",
        action="append",
        required=True,
        metavar="URL",
        help="a sandbox's URL (repeat for each platform), e.g. http://127.0.0.1:8001",
    )
    check.add_argument("--horizon", default=None, help="orders older than this are out of scope")
    check.add_argument(
        "--behind",
        default=None,
        help="a stream whose cursor lags more than this is a violation (default: not judged)",
    )
    check.add_argument("--examples", type=int, default=5, help="examples kept per violation")
    check.add_argument("--json", action="store_true", help="print only the JSON line")
    check.set_defaults(func=_run_check)

    chaos = benches.add_parser(
        "chaos",
        help="workers, broker and sandboxes under kills, cuts and faults; then the checker",
    )
    chaos.add_argument("--minutes", type=float, default=1.0, help="length of the chaos phase")
    chaos.add_argument("--workers", type=int, default=2, help="`pipeline run` worker processes")
    chaos.add_argument("--seed", type=int, default=1, help="seed of the schedule and the data")
    chaos.add_argument("--keep", type=Path, default=None, help="keep logs and config in DIR")
    chaos.add_argument("--json", action="store_true", help="print only the JSON line")
    chaos.set_defaults(func=_run_chaos)


def _run_check(args: argparse.Namespace) -> int:
    from pipeline.checker.remote import check_remote

    try:
        horizon = parse_duration(args.horizon) if args.horizon else None
        behind = parse_duration(args.behind) if args.behind else None
    except (ValueError, PipelineError) as exc:
        print(f"error: --horizon/--behind: {exc}", file=sys.stderr)
        return 2
    try:
        report, _ = asyncio.run(
            check_remote(
                args.bootstrap,
                args.sandbox,
                horizon=horizon,
                behind=behind,
                examples=max(0, args.examples),
            )
        )
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.json:
        print(report.summary())
    print(msgspec.json.encode(report).decode(), flush=True)
    return 0 if report.ok else 1


def _run_chaos(args: argparse.Namespace) -> int:
    from pipeline.bench.chaos import run_chaos

    if args.minutes <= 0 or args.workers < 1:
        print("error: --minutes must be > 0 and --workers ≥ 1", file=sys.stderr)
        return 2

    def progress(text: str) -> None:
        print(f"… {text}", file=sys.stderr, flush=True)

    figures, report = asyncio.run(
        run_chaos(
            args.minutes,
            args.workers,
            args.seed,
            progress=None if args.json else progress,
            keep=args.keep,
        )
    )
    if not args.json:
        print(render(figures))
    print(msgspec.json.encode(figures).decode(), flush=True)
    ok = report.ok and figures.settled and not figures.stop_timeouts and not figures.crashes
    return 0 if ok else 1


def render(f: ChaosFigures) -> str:
    faults = ", ".join(f"{k} {v}" for k, v in sorted(f.faults.items())) or "none"
    results = ", ".join(f"{k} {v}" for k, v in sorted(f.results.items())) or "none"
    own = ", ".join(f"{k} {v}" for k, v in sorted(f.own_budget_exceeded.items())) or "never"
    violations = ", ".join(f"{k} {v}" for k, v in sorted(f.violations.items())) or "none"
    rates = ", ".join(f"{k} {v:g}" for k, v in sorted(f.command_rates.items())) or "unlimited"
    rows = [
        ("run", f"{f.minutes:g} min, {f.workers} workers, seed {f.seed}, {f.wall_s:.0f} s wall"),
        ("faults fired", f"{sum(f.faults.values())}: {faults}"),
        ("fault storms", str(f.storms)),
        ("token expiries", str(f.token_expiries)),
        ("worker kills", str(f.kills)),
        ("broker cuts", f"{f.cuts} ({f.cut_s:.0f} s in all)"),
        ("platform requests", str(f.requests)),
        (
            "events",
            f"{f.events} records, {f.distinct_events} distinct, {f.repeats} repeats, "
            f"{f.unmapped} orders held as unmapped",
        ),
        (
            "commands",
            f"{f.commands} ({f.commands_sent} sent, {f.invalid_sent} of them invalid/expired, "
            f"{f.poison_sent} poison records)",
        ),
        ("command rates /min", f"{rates} (what the budgets serve, times 0.4)"),
        ("results", f"{results} ({f.result_repeats} delivered twice)"),
        ("dead letters", str(f.dead_letters)),
        ("own budget exceeded", own),
        ("platform writes", str(f.effects)),
        ("settled", f"{'yes' if f.settled else 'NO'} after {f.settle_s:.0f} s"),
        ("SIGTERM ignored > 20 s", str(f.stop_timeouts)),
        ("workers that exited unkilled", str(f.crashes)),
        ("violations", f"{f.total_violations}: {violations}"),
    ]
    width = max(len(r[0]) for r in rows)
    lines = ["bench chaos"] + [f"  {name:<{width}}  {value}" for name, value in rows]
    if f.crash_examples:
        lines += ["  crashes:"] + [f"    {t}" for t in f.crash_examples]
    for kind, texts in sorted(f.examples.items()):
        lines += [f"  {kind}:"] + [f"    {t}" for t in texts]
    return "\n".join(lines)
