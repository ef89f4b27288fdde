"""Benchmarks of the pipeline, run as ``pipeline bench <name>`` (today: ``ingest``).

``pipeline bench ingest [--orders N] [--platform ID] [--accounts K] [--workers W] [--json]``
polls N sandbox orders into the embedded broker with the real pollers (in W worker processes)
and prints events/s, CPU-seconds per 10k events (per process too) and peak RSS, a one-core
micro-benchmark of parse + normalize + encode, and the same ingest by a naive baseline with
the ratio (see :mod:`pipeline.bench.ingest`). It prints an
aligned table and one JSON line; ``--json`` prints only the JSON line. The exit status is 1 when
the read-back finds an order missing or published twice.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

import msgspec

if TYPE_CHECKING:
    from pipeline.bench.ingest import IngestReport

__all__ = ["add_parser", "main", "render_table", "run"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``bench`` (with its benchmarks as sub-commands) to a CLI's sub-commands; the parsed
    namespace's ``func`` runs it and returns the exit status."""
    bench = sub.add_parser(
        "bench",
        help="benchmarks: ingest (orders → broker), apply (commands → platforms), fleet",
    )
    benches = bench.add_subparsers(dest="bench", required=True, metavar="BENCH")
    ingest = benches.add_parser("ingest", help="sandbox orders → events in the broker, timed")
    ingest.add_argument("--orders", type=int, default=100_000, help="sandbox orders to ingest")
    ingest.add_argument("--platform", default="pazarama", help="platform id (default pazarama)")
    ingest.add_argument(
        "--accounts", type=int, default=None, help="accounts polled at once (default: 1 per 25k)"
    )
    ingest.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes of the end-to-end phase, accounts dealt among them (default 2:"
        " one per core of a 2-core machine; 1: in the bench's own process)",
    )
    ingest.add_argument("--seed", type=int, default=7, help="seed of the generated orders")
    ingest.add_argument(
        "--micro-orders", type=int, default=10_000, help="orders in the one-core micro-benchmark"
    )
    ingest.add_argument("--no-baseline", action="store_true", help="skip the naive baseline")
    ingest.add_argument(
        "--live-sandbox",
        action="store_true",
        help="render every page anew instead of replaying it (the platform's cost runs here)",
    )
    ingest.add_argument(
        "--profile", metavar="FILE", default=None, help="cProfile the end-to-end phase (pstats)"
    )
    ingest.add_argument("--json", action="store_true", help="print only the JSON line")
    ingest.set_defaults(func=run)
    apply = benches.add_parser(
        "apply",
        help="saturated command bursts: commands/min and utilisation of each platform's limit",
        add_help=False,
    )
    apply.add_argument("rest", nargs=argparse.REMAINDER, help="options of `bench apply`")
    apply.set_defaults(func=_run_apply)
    from pipeline.bench.chaos_cli import add_parsers as _add_check_and_chaos

    _add_check_and_chaos(benches)
    fleet = benches.add_parser(
        "fleet",
        help="N accounts in one `pipeline poll` worker: CPU, RSS, cadence, freshness",
    )
    _fleet_arguments(fleet)
    fleet.set_defaults(func=_run_fleet)


def _fleet_arguments(parser: argparse.ArgumentParser) -> None:
    from pipeline.bench.fleet import add_arguments

    add_arguments(parser)


def _run_fleet(args: argparse.Namespace) -> int:
    from pipeline.bench import fleet

    return fleet.run(args)


def _run_apply(args: argparse.Namespace) -> int:
    from pipeline.bench import apply as apply_bench  # imports the workers only when run

    result: int = apply_bench.main(list(args.rest))
    return result


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """``pipeline bench …`` on its own: ``main(["ingest", "--orders", "1000"])``."""
    parser = argparse.ArgumentParser(prog="pipeline")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", *(sys.argv[1:] if argv is None else argv)])
    return run(args, out)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the parsed benchmark, print the table (unless ``--json``) and the JSON line; the
    exit status is 1 when the read-back found an order missing or published twice."""
    from pipeline.bench.ingest import IngestSettings, run_ingest

    stream = out if out is not None else sys.stdout
    if args.orders < 1 or (args.accounts is not None and not 1 <= args.accounts <= args.orders):
        print("error: --orders must be ≥ 1 and --accounts between 1 and --orders", file=sys.stderr)
        return 2
    workers = args.workers if args.workers is not None else min(2, args.orders, args.accounts or 2)
    accounts = args.accounts if args.accounts is not None else workers
    if not 1 <= workers <= min(accounts, args.orders):
        print("error: --workers must be between 1 and the accounts (and orders)", file=sys.stderr)
        return 2
    settings = IngestSettings(
        orders=args.orders,
        platform=args.platform,
        accounts=args.accounts,
        workers=workers,
        seed=args.seed,
        micro_orders=max(1, args.micro_orders),
        baseline=not args.no_baseline,
        replay=not args.live_sandbox,
        profile=args.profile,
    )

    def progress(text: str) -> None:
        print(f"… {text}", file=sys.stderr, flush=True)

    report = asyncio.run(run_ingest(settings, progress=None if args.json else progress))
    if not args.json:
        print(render_table(report), file=stream)
    print(msgspec.json.encode(report).decode(), file=stream, flush=True)
    return 0 if report.exactly_once else 1


def _num(value: float | int | None, unit: str = "", digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}{unit}"


def render_table(r: IngestReport) -> str:
    """The report as an aligned table (section, metric, value, note)."""
    from pipeline.bench.ingest import TARGET_EVENTS_PER_S, TARGET_MICRO_ORDERS_PER_S

    def target(value: float | None, goal: int) -> str:
        if value is None:
            return ""
        return f"target ≥ {goal:,}  {'met' if value >= goal else 'NOT met'}"

    once = "yes" if r.exactly_once else "NO"
    by_type = ", ".join(f"{k} {v:,}" for k, v in r.events_by_type.items())
    read_back = (
        f"{r.broker_records:,} records read back; duplicates {r.duplicates}, "
        f"missing {r.missing}, unexpected {r.unexpected}"
    )
    sandbox = f"{r.sandbox}, replay misses {r.sandbox_replay_misses}"
    setup = f"generate {r.generate_s:.1f} s, warm-up {r.warmup_s:.1f} s, broker, topics"
    micro_target = target(r.micro_orders_per_s, TARGET_MICRO_ORDERS_PER_S)
    processes = f"{r.workers} worker process{'es' if r.workers > 1 else ''}"
    cpu_note = f"{r.cpu_s:.2f} s in {processes}"
    rss_note = "ru_maxrss"
    if r.workers > 1:
        cpu_note += ": " + ", ".join(
            f"{w.cpu_s:.2f} s ({w.cpu_s_per_10k:.3f}/10k)" for w in r.per_worker
        )
        each = ", ".join(f"{w.peak_rss_mb:.0f}" for w in r.per_worker)
        rss_note += f" of the largest; each: {each} MB"
    rows = [
        ("end to end", "events", _num(r.events), by_type),
        ("", "wall", _num(r.wall_s, " s", 2), "first cycle start → last ack"),
        ("", "events/s", _num(r.events_per_s), target(r.events_per_s, TARGET_EVENTS_PER_S)),
        ("", "worker CPU / 10k events", _num(r.cpu_s_per_10k, " s", 3), cpu_note),
        ("", "worker peak RSS", _num(r.peak_rss_mb, " MB", 1), rss_note),
        ("", "broker CPU / 10k events", _num(r.broker_cpu_s_per_10k, " s", 3), "Tansu process"),
        ("", "broker peak RSS", _num(r.broker_peak_rss_mb, " MB", 1), "VmHWM"),
        ("", "sandbox CPU / 10k events", _num(r.sandbox_cpu_s_per_10k, " s", 3), sandbox),
        ("", "exactly once in orders.v1", once, read_back),
        ("micro", "orders/s (one core)", _num(r.micro_orders_per_s), micro_target),
        (
            "",
            "µs per order",
            _num(r.micro_us_per_order, "", 1),
            f"best of runs over {r.micro_orders:,}",
        ),
        ("baseline", "events/s", _num(r.baseline_events_per_s), "json + send_and_wait"),
        ("", "wall", _num(r.baseline_wall_s, " s", 2), f"{_num(r.baseline_events)} events"),
        ("", "CPU / 10k events", _num(r.baseline_cpu_s_per_10k, " s", 3), ""),
        ("", "ratio ours / baseline", _num(r.ratio, "×", 2), "events/s"),
        ("run", "setup", _num(r.setup_s, " s", 1), setup),
        ("", "total", _num(r.total_s, " s", 1), ""),
    ]
    head = (
        f"bench ingest — {r.platform}, {r.orders:,} orders over {r.accounts} accounts, {processes}"
    )
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [head]
    for section, metric, value, note in rows:
        left = f"  {section:<{widths[0]}}  {metric:<{widths[1]}}  {value:>{widths[2]}}"
        lines.append(f"{left}  {note}".rstrip())
    return "\n".join(lines)
