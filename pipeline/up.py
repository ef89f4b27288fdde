"""``pipeline up``: everything embedded in one process.

Today this starts the embedded broker and every platform sandbox with a steady flow of orders,
and says plainly that the pollers and appliers are not part of it yet. It runs until Ctrl-C or
SIGTERM and then stops each part within a bound.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator
from typing import TextIO

from pipeline import platforms
from pipeline.broker import EmbeddedBroker
from pipeline.sandbox import Sandbox, SandboxSettings, serve

DEMO_SETTINGS = SandboxSettings(seed=7, initial_orders=50, arrival_rate_per_hour=30.0)


def build_sandboxes(
    selected: list[str] | None = None, settings: SandboxSettings = DEMO_SETTINGS
) -> list[Sandbox]:
    chosen = selected or sorted(platforms.registry())
    boxes = []
    for platform in chosen:
        cls = platforms.sandbox_class(platform)
        box = cls(settings=settings)
        assert isinstance(box, Sandbox)  # noqa: S101
        boxes.append(box)
    return boxes


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[asyncio.Event]:
    """An event set by SIGINT/SIGTERM, installed before anything starts so that a Ctrl-C at any
    moment shuts down through the normal path."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)


async def run_up(args: argparse.Namespace, out: TextIO = sys.stdout) -> None:
    with _stop_on_signals() as stop:
        await _run_up(stop, out)
    print("stopped", file=out, flush=True)


async def _run_up(stop: asyncio.Event, out: TextIO) -> None:
    async with EmbeddedBroker() as broker, serve(build_sandboxes(), tick_interval=1.0) as served:
        print(f"embedded broker (Tansu): bootstrap={broker.bootstrap}", file=out)
        for s in served:
            print(f"sandbox {s.sandbox.platform:<10} {s.base_url}", file=out)
        print(
            "NOTE: pollers and appliers are not part of `pipeline up` yet; this runs the "
            "broker and the sandboxes only. Ctrl-C stops.",
            file=out,
            flush=True,
        )
        await stop.wait()


async def run_sandboxes(
    platform: str | None, port: int | None, settings: SandboxSettings, out: TextIO = sys.stdout
) -> None:
    boxes = build_sandboxes([platform] if platform else None, settings)
    ports = None if port is None else [port + i for i in range(len(boxes))]
    with _stop_on_signals() as stop:
        async with serve(boxes, ports=ports, tick_interval=1.0) as served:
            for s in served:
                print(
                    f"sandbox {s.sandbox.platform:<10} {s.base_url}  control: {s.control_url}",
                    file=out,
                    flush=True,
                )
            await stop.wait()
