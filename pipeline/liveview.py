"""The live terminal view of ``pipeline up``: one line per platform, refreshed in place.

Columns: events published and events/s, commands by outcome, rate-budget use (the fullest
window), the planned poll interval, errors. On a terminal the block is redrawn every two
seconds; otherwise (piped, CI) a plain snapshot is printed every ten. A platform whose document
has no write API says so under the table (its commands can only be answered ``unsupported``).
Ctrl-C prints a summary with, per platform, how long the first event and the first command
result took after start (sampled every half second).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import TextIO

from pipeline import platforms
from pipeline.worker import Worker

HEADER = (
    f"{'platform':<10} {'events':>7} {'ev/s':>6} {'applied':>8} {'already':>8} {'rejected':>8}"
    f" {'unsupp.':>8} {'failed':>7} {'budget':>12} {'interval':>9} {'errors':>6}"
)
#: How often the first-event / first-result times are sampled (the view draws less often).
SAMPLE_EVERY = 0.5


def _platform(key: str) -> str:
    return key.split(":", 1)[0]


def _events(worker: Worker, key: str) -> int:
    poller = worker.fleet.pollers.get(key) if worker.fleet else None
    return sum(poller.stats.events.values()) if poller else 0


def _results(worker: Worker, platform: str) -> int:
    outcomes = worker.commands.stats.by_platform if worker.commands else {}
    return sum(n for (p, _), n in outcomes.items() if p == platform)


def _no_write_api(platform: str) -> bool:
    try:
        return not platforms.get(platform).capabilities.commands
    except Exception:  # noqa: BLE001 - an unknown platform is no reason to break the view
        return False


class FirstSeen:
    """Seconds from start to each account's first event and its platform's first result."""

    def __init__(self) -> None:
        self.event: dict[str, float] = {}
        self.result: dict[str, float] = {}

    def observe(self, worker: Worker, elapsed: float) -> None:
        for key in worker.accounts:
            if key not in self.event and _events(worker, key):
                self.event[key] = elapsed
            if key not in self.result and _results(worker, _platform(key)):
                self.result[key] = elapsed

    def lines(self, worker: Worker) -> list[str]:
        def seconds(table: dict[str, float], key: str) -> str:
            return f"{table[key]:.1f}s" if key in table else "none"

        lines = [f"{'first after':<10} {'event':>7} {'result':>8}"]
        for key in sorted(worker.accounts):
            lines.append(
                f"{_platform(key):<10} {seconds(self.event, key):>7} {seconds(self.result, key):>8}"
            )
        return lines


def snapshot(worker: Worker, elapsed: float) -> list[str]:
    """The table's lines, one per account of the worker, then a note per read-only platform."""
    lines = [HEADER]
    pollers = worker.fleet.pollers if worker.fleet else {}
    outcomes = worker.commands.stats.by_platform if worker.commands else {}
    for key in sorted(worker.accounts):
        platform = _platform(key)
        poller = pollers.get(key)
        events = _events(worker, key)
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
    for platform in sorted({_platform(key) for key in worker.accounts}):
        if _no_write_api(platform):
            lines.append(
                f"{platform}: no write API in its document: its commands are answered "
                "`unsupported` without a request"
            )
    return lines


async def run_view(
    worker: Worker,
    stop: asyncio.Event,
    out: TextIO,
    *,
    extra: Callable[[], str] | None = None,
    interval: float | None = None,
    first: FirstSeen | None = None,
) -> None:
    tty = out.isatty()
    every = interval or (2.0 if tty else 10.0)
    started = time.monotonic()
    next_draw = started + every
    drawn = 0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(SAMPLE_EVERY, max(0.0, next_draw - time.monotonic()))):
                await stop.wait()
        now = time.monotonic()
        if first is not None:
            first.observe(worker, now - started)
        if now < next_draw and not stop.is_set():
            continue
        next_draw = now + every
        lines = snapshot(worker, now - started)
        if extra is not None:
            lines.append(extra())
        if tty and drawn:
            out.write(f"\x1b[{drawn}F\x1b[J")  # back to the block's top, clear below
        out.write("\n".join(lines) + "\n")
        out.flush()
        drawn = len(lines)


def summary(worker: Worker, elapsed: float, first: FirstSeen | None = None) -> str:
    lines = [f"summary after {elapsed:.0f}s", *snapshot(worker, elapsed)]
    if first is not None:
        lines += first.lines(worker)
    return "\n".join(lines)
