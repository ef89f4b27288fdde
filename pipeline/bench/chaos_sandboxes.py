"""The chaos run's sandboxes, in a process of their own: all five platforms on the system clock
with orders arriving, served on free loopback ports until SIGTERM.

``python -m pipeline.bench.chaos_sandboxes --seed S`` prints one JSON line per sandbox
(``platform``, ``root_url``, ``base_url``, ``tenants``: label → credentials -- the parent writes
them into the workers' environment, never into a log) and then ``READY``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import signal
import sys

import msgspec

from pipeline import platforms
from pipeline.checker import remote  # noqa: F401  # GET /_sandbox/audit, imported up front
from pipeline.sandbox import Sandbox, SandboxSettings, serve

#: New orders per hour and tenant. Platforms that cost a detail request per listed order under a
#: tight limit (Web Servis 25/min, E-Çarşı 60/min per IP) get fewer.
ARRIVALS: dict[str, float] = {"webservis": 120.0, "ecarsi": 360.0, "softtr": 600.0}
DEFAULT_ARRIVALS = 1800.0
INITIAL_ORDERS: dict[str, int] = {"webservis": 4, "ecarsi": 8}
DEFAULT_INITIAL_ORDERS = 16


def build(seed: int) -> list[Sandbox]:
    boxes = []
    for n, platform in enumerate(sorted(platforms.registry())):
        settings = SandboxSettings(
            seed=seed * 100 + n,
            initial_orders=INITIAL_ORDERS.get(platform, DEFAULT_INITIAL_ORDERS),
            history=dt.timedelta(hours=6),
            arrival_rate_per_hour=ARRIVALS.get(platform, DEFAULT_ARRIVALS),
            max_log_entries=500_000,  # the limits are replayed on the whole log
        )
        box = platforms.sandbox_class(platform)(settings=settings)
        if not isinstance(box, Sandbox):
            raise TypeError(f"{platform}: its sandbox class is no Sandbox")
        boxes.append(box)
    return boxes


async def main(seed: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serve(build(seed), tick_interval=1.0, shutdown_timeout=1.0) as served:
        for s in served:
            line = {
                "platform": s.sandbox.platform,
                "root_url": s.root_url,
                "base_url": s.base_url,
                "tenants": {k: dict(t.credentials) for k, t in s.sandbox.tenants.items()},
            }
            sys.stdout.write(msgspec.json.encode(line).decode() + "\n")
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m pipeline.bench.chaos_sandboxes")
    parser.add_argument("--seed", type=int, default=1)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args().seed))
