"""The live terminal view of ``pipeline up``: one line per platform, refreshed in place.

Columns: events published and events/s, commands by outcome, rate-budget use (the fullest
window), the planned poll interval, errors. On a terminal the block is redrawn every two
seconds; otherwise (piped, CI) a plain snapshot is printed every ten. Ctrl-C prints a summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import TextIO

from pipeline.worker import Worker

HEADER = (
    f"{'platform':<10} {'events':>7} {'ev/s':>6} {'applied':>8} {'already':>8} {'rejected':>8}"
    f" {'unsupp.':>8} {'failed':>7} {'budget':>12} {'interval':>9} {'errors':>6}"
)


def snapshot(worker: Worker, elapsed: float) -> list[str]:
    """The table's lines, one per account of the worker."""
    lines = [HEADER]
    pollers = worker.fleet.pollers if worker.fleet else {}
    outcomes = worker.commands.stats.by_platform if worker.commands else {}
    for key in sorted(worker.accounts):
        platform = key.split(":", 1)[0]
        poller = pollers.get(key)
        events = sum(poller.stats.events.values()) if poller else 0
        errors = (poller.stats.platform_errors + poller.stats.broker_errors) if poller else 0
        budget = "-"
        if poller is not None:
            usage = poller.budget.usage()
            fullest = max(usage.windows, key=lambda w: w.used / max(1, w.limit))
            budget = f"{fullest.used}/{fullest.limit}"
        interval = f"{poller.plan.interval:.0f}s" if poller else "-"

        def count(outcome: str, platform: str = platform) -> int:
            return outcomes.get((platform, outcome), 0)

        lines.append(
            f"{platform:<10} {events:>7} {events / max(elapsed, 1e-9):>6.1f}"
            f" {count('applied'):>8} {count('already_applied'):>8} {count('rejected'):>8}"
            f" {count('unsupported'):>8} {count('failed'):>7} {budget:>12} {interval:>9}"
            f" {errors:>6}"
        )
    return lines


async def run_view(
    worker: Worker,
    stop: asyncio.Event,
    out: TextIO,
    *,
    extra: Callable[[], str] | None = None,
    interval: float | None = None,
) -> None:
    tty = out.isatty()
    every = interval or (2.0 if tty else 10.0)
    started = time.monotonic()
    drawn = 0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every):
                await stop.wait()
        lines = snapshot(worker, time.monotonic() - started)
        if extra is not None:
            lines.append(extra())
        if tty and drawn:
            out.write(f"\x1b[{drawn}F\x1b[J")  # back to the block's top, clear below
        out.write("\n".join(lines) + "\n")
        out.flush()
        drawn = len(lines)


def summary(worker: Worker, elapsed: float) -> str:
    return "summary after {:.0f}s\n{}".format(elapsed, "\n".join(snapshot(worker, elapsed)))
