"""The sandbox of ``pipeline bench ingest``, in a child process so that its CPU is its own.

It generates the bench's orders over several tenants and serves them on loopback; while the
world stands still (a clock nobody moves, no writes) it may answer a repeated request from
memory with the bytes it rendered the first time (:class:`_Replay`), so the measured phase
costs the platform little (see :mod:`pipeline.bench.ingest`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import resource
import sys
import time
from collections.abc import Callable
from typing import Any, Final, Self

import msgspec
from aiohttp import web

from pipeline import platforms
from pipeline.bench.child import ChildProcess, reply
from pipeline.clock import ManualClock
from pipeline.sandbox import Sandbox, SandboxSettings

__all__ = ["START", "SandboxPlan", "SandboxProcess", "sandbox_child"]

#: The instant the sandbox's world and the pollers' clocks stand at (a whole minute, so the
#: platforms' minute-precision windows are exact).
START: Final = dt.datetime(2026, 4, 20, 9, 0, tzinfo=dt.UTC)
_HOST: Final = "127.0.0.1"


class SandboxPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What the sandbox child generates and how it serves it (its first line on stdin)."""

    platform: str
    seed: int
    history: dt.timedelta
    accounts: list[tuple[str, int]]
    replay: bool


class _Ready(msgspec.Struct, frozen=True, kw_only=True):
    root_url: str
    base_path: str
    truth: dict[str, list[str]]  # tenant label → the ids of its orders
    generate_s: float


class _Usage(msgspec.Struct, frozen=True, kw_only=True):
    cpu_s: float
    replay_misses: int


class _Replay:
    """Answers a repeated successful read with the bytes the sandbox rendered the first time.

    Right only while the world stands still (the bench's clock never moves, nothing writes).
    The key holds the tenant, not the token, so a new client's requests hit too; JSON bodies
    are compared canonically (sorted keys, no whitespace)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._answers: dict[tuple[str, str, str, bytes], tuple[int, bytes, str]] = {}
        self.misses = 0

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        tenant = self._sandbox.identity(request).tenant
        if tenant is None:
            passed: web.StreamResponse = await handler(request)
            return passed
        key = (request.method, request.path_qs, tenant.label, _canonical(await request.read()))
        if (answer := self._answers.get(key)) is not None:
            status, body, content_type = answer
            return web.Response(body=body, status=status, headers={"Content-Type": content_type})
        self.misses += 1
        response: web.StreamResponse = await handler(request)
        rendered = response.body if isinstance(response, web.Response) else None
        if response.status == 200 and isinstance(rendered, bytes):
            content_type = response.headers.get("Content-Type", "application/json")
            self._answers[key] = (response.status, rendered, content_type)
        return response


def _canonical(body: bytes) -> bytes:
    try:
        return msgspec.json.encode(msgspec.json.decode(body), order="sorted")
    except msgspec.DecodeError:
        return body  # a form or an empty body: compared as sent


def sandbox_child() -> None:
    """The child's entry point: a :class:`SandboxPlan` line on stdin, then ``usage``/``stop``
    lines, each answered with one JSON line on stdout (logs go to stderr)."""
    plan = msgspec.json.decode(sys.stdin.buffer.readline(), type=SandboxPlan)
    asyncio.run(_serve_sandbox(plan))


async def _serve_sandbox(plan: SandboxPlan) -> None:
    started = time.perf_counter()
    sandbox = platforms.sandbox_class(plan.platform)(
        clock=ManualClock(START), settings=SandboxSettings(seed=plan.seed, history=plan.history)
    )
    assert isinstance(sandbox, Sandbox)  # noqa: S101
    sandbox.limits.rules.clear()  # the bench measures us, not the platform's limits
    truth = {}
    for label, count in plan.accounts:
        tenant = sandbox.add_tenant(label, initial_orders=count)
        truth[label] = [order.id for order in tenant.world.orders]
    generated = time.perf_counter() - started
    app = sandbox.build()
    replay = _Replay(sandbox) if plan.replay else None
    if replay is not None:
        app.middlewares.append(replay.middleware)  # inside the sandbox's own (log, faults)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, _HOST, 0).start()
        root = f"http://{_HOST}:{int(runner.addresses[0][1])}"
        reply(_Ready(root_url=root, base_path=sandbox.base_path, truth=truth, generate_s=generated))
        # A blocking read in a thread, so the loop serves meanwhile; EOF: the parent is gone.
        while command := (await asyncio.to_thread(sys.stdin.readline)).strip():
            usage = resource.getrusage(resource.RUSAGE_SELF)
            misses = replay.misses if replay else 0
            reply(_Usage(cpu_s=usage.ru_utime + usage.ru_stime, replay_misses=misses))
            if command == "stop":
                return
    finally:
        await runner.cleanup()


_SANDBOX_ENTRY: Final = "from pipeline.bench.ingest_sandbox import sandbox_child; sandbox_child()"


class SandboxProcess:
    """The sandbox as a child process (:func:`sandbox_child`), so that its CPU is its own:
    ``async with SandboxProcess(plan) as box: await box.usage()``. On exit it is asked to stop,
    and killed by its pid after a bound."""

    def __init__(self, plan: SandboxPlan, *, start_timeout: float) -> None:
        self._plan = plan
        self._start_timeout = start_timeout
        self._child = ChildProcess(_SANDBOX_ENTRY)
        self.root_url = ""
        self.base_url = ""
        self.truth: dict[str, list[str]] = {}
        self.generate_s = 0.0

    async def __aenter__(self) -> Self:
        ready = await self._child.start(self._plan, _Ready, self._start_timeout)
        self.root_url, self.truth, self.generate_s = ready.root_url, ready.truth, ready.generate_s
        self.base_url = self.root_url + ready.base_path
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def usage(self) -> _Usage:
        return await self._child.ask(b"usage", _Usage, 30.0)

    async def aclose(self) -> None:
        await self._child.aclose()
