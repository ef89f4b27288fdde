"""Serve sandboxes on loopback ports for tests, benchmarks, ``pipeline sandbox`` and ``pipeline
up``, as one async context manager that owns the servers and the optional ticker task::

    async with serve([FirstSandbox(), SecondSandbox()], ports=[0, 0]) as served:
        client = Adapter(base_url=served[0].base_url)

Port 0 picks a free port. On exit the ticker is cancelled, held requests (timeout faults) are
released, and in-flight requests get ``shutdown_timeout`` seconds before they are cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import NamedTuple

from aiohttp import web

from pipeline.sandbox.app import Sandbox
from pipeline.sandbox.control import CONTROL_PREFIX

log = logging.getLogger(__name__)


class ServedSandbox(NamedTuple):
    sandbox: Sandbox
    port: int
    root_url: str  # http://127.0.0.1:<port>
    base_url: str  # root_url + the platform's base path: what an adapter's base_url is

    @property
    def control_url(self) -> str:
        return self.root_url + CONTROL_PREFIX


@contextlib.asynccontextmanager
async def serve(
    sandboxes: Sequence[Sandbox],
    *,
    host: str = "127.0.0.1",
    ports: Sequence[int] | None = None,
    tick_interval: float | None = None,
    shutdown_timeout: float = 5.0,
) -> AsyncIterator[list[ServedSandbox]]:
    """Serve each sandbox on its port (default: free ports). With ``tick_interval`` a background
    task advances every world to the clock's now that often (real seconds), so a demo on the
    system clock sees orders arrive even while nobody polls."""
    ports = list(ports) if ports is not None else [0] * len(sandboxes)
    if len(ports) != len(sandboxes):
        raise ValueError("one port per sandbox")
    runners: list[web.AppRunner] = []
    ticker: asyncio.Task[None] | None = None
    try:
        served = []
        for sandbox, port in zip(sandboxes, ports, strict=True):
            runner = web.AppRunner(
                sandbox.build(), access_log=None, shutdown_timeout=shutdown_timeout
            )
            await runner.setup()
            runners.append(runner)
            site = web.TCPSite(runner, host, port)
            await site.start()
            bound = int(runner.addresses[0][1])
            root = f"http://{host}:{bound}"
            served.append(ServedSandbox(sandbox, bound, root, root + sandbox.base_path))
            log.info("sandbox serving platform=%s url=%s", sandbox.platform, root)
        if tick_interval is not None:
            ticker = asyncio.create_task(_tick(sandboxes, tick_interval), name="sandbox-ticker")
        yield served
    finally:
        if ticker is not None:
            ticker.cancel()
            await asyncio.wait({ticker})  # unlike awaiting it, never swallows our own cancel
        for runner in reversed(runners):
            try:
                async with asyncio.timeout(shutdown_timeout + 5.0):
                    await runner.cleanup()
            except TimeoutError:
                log.warning("sandbox did not stop within %.1fs", shutdown_timeout + 5.0)


async def _tick(sandboxes: Sequence[Sandbox], interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        for sandbox in sandboxes:
            try:
                sandbox.sync()
            except Exception:  # a broken world must not stop the other sandboxes' clocks
                log.exception("sandbox tick failed platform=%s", sandbox.platform)
