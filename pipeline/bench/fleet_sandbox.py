"""The sandboxes of ``pipeline bench fleet``, in a child process so their CPU is not the worker's.

One sandbox per platform of the mix, on the system clock, each holding its share of the bench's
tenants: a backfill of ``initial_orders`` over ``history`` and then a Poisson stream of new
orders at ``rate_per_hour`` per tenant, as a live shop's. Each platform enforces the limits its
simulator enforces by default (Web Servis 25/min per shop; the others document none).

The parent talks to the child over its stdin/stdout, one JSON line each way: a
:class:`FleetPlan` first (answered by :class:`FleetReady`), then ``usage`` (CPU, requests,
limit refusals), ``orders <since>`` (every planned tenant's orders created at or after
``since``, with their creation times: the ground truth of freshness) and ``stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import resource
import sys
from typing import Self, TypeVar

import msgspec
from aiohttp import web

from pipeline import platforms
from pipeline.sandbox import Sandbox, SandboxSettings

__all__ = ["CreatedOrder", "FleetPlan", "FleetReady", "FleetUsage", "SandboxFleet", "child"]

_HOST = "127.0.0.1"
_T = TypeVar("_T")


class FleetPlan(msgspec.Struct, frozen=True, kw_only=True):
    accounts: list[tuple[str, str]]  # (platform, tenant label)
    seed: int
    rate_per_hour: float
    initial_orders: int
    history: dt.timedelta


class Served(msgspec.Struct, frozen=True, kw_only=True):
    root_url: str
    base_url: str
    credentials: dict[str, dict[str, str]]  # tenant label → its credentials


class FleetReady(msgspec.Struct, frozen=True, kw_only=True):
    sandboxes: dict[str, Served]  # platform → where it serves, its tenants' credentials
    setup_s: float


class FleetUsage(msgspec.Struct, frozen=True, kw_only=True):
    cpu_s: float
    requests: int
    refusals: dict[str, int]  # rate-limit rule → requests it refused


class CreatedOrder(msgspec.Struct, frozen=True, array_like=True):
    platform: str
    account: str
    order_id: str
    created_at: dt.datetime


class _Orders(msgspec.Struct, frozen=True):
    orders: list[CreatedOrder]


def child() -> None:
    """The child's entry point (``python -c``); logs go to stderr."""
    plan = msgspec.json.decode(sys.stdin.buffer.readline(), type=FleetPlan)
    asyncio.run(_serve(plan))


def _reply(message: msgspec.Struct) -> None:
    sys.stdout.buffer.write(msgspec.json.encode(message) + b"\n")
    sys.stdout.buffer.flush()


def _build(plan: FleetPlan) -> dict[str, Sandbox]:
    boxes: dict[str, Sandbox] = {}
    for n, platform in enumerate(sorted({p for p, _ in plan.accounts})):
        settings = SandboxSettings(
            seed=plan.seed * 100 + n,
            initial_orders=plan.initial_orders,
            history=plan.history,
            arrival_rate_per_hour=plan.rate_per_hour,
            max_log_entries=1_000,  # the request log is for tests; keep the child small
            max_logged_body=256,
        )
        box = platforms.sandbox_class(platform)(settings=settings)
        assert isinstance(box, Sandbox)  # noqa: S101
        box.tenant.world.arrival_rate_per_hour = 0.0  # `main` is nobody's account here
        boxes[platform] = box
    for platform, label in plan.accounts:
        boxes[platform].add_tenant(label)
    return boxes


def _created(boxes: dict[str, Sandbox], since: dt.datetime) -> list[CreatedOrder]:
    found = []
    for platform, box in boxes.items():
        box.sync()
        for label, tenant in box.tenants.items():
            if label == "main":
                continue
            for order in reversed(tenant.world.orders):  # creation order: stop at the first old
                if order.created_at < since:
                    break
                found.append(CreatedOrder(platform, label, order.id, order.created_at))
    return found


async def _serve(plan: FleetPlan) -> None:
    started = asyncio.get_running_loop().time()
    boxes = _build(plan)
    runners: list[web.AppRunner] = []
    served: dict[str, Served] = {}
    try:
        for platform, box in boxes.items():
            runner = web.AppRunner(box.build(), access_log=None, shutdown_timeout=2.0)
            await runner.setup()
            runners.append(runner)
            await web.TCPSite(runner, _HOST, 0, backlog=1024).start()
            root = f"http://{_HOST}:{int(runner.addresses[0][1])}"
            creds = {label: t.credentials for label, t in box.tenants.items() if label != "main"}
            served[platform] = Served(
                root_url=root, base_url=root + box.base_path, credentials=creds
            )
        setup_s = asyncio.get_running_loop().time() - started
        _reply(FleetReady(sandboxes=served, setup_s=round(setup_s, 2)))
        # A blocking read in a thread, so the loop serves meanwhile; EOF: the parent is gone.
        while line := (await asyncio.to_thread(sys.stdin.readline)).strip():
            command, _, arg = line.partition(" ")
            if command == "orders":
                _reply(_Orders(_created(boxes, dt.datetime.fromisoformat(arg))))
                continue
            usage = resource.getrusage(resource.RUSAGE_SELF)
            refusals: dict[str, int] = {}
            for box in boxes.values():
                for rule, n in box.limits.violations.items():
                    refusals[f"{box.platform}:{rule}"] = n
            _reply(
                FleetUsage(
                    cpu_s=usage.ru_utime + usage.ru_stime,
                    requests=sum(box.log.total for box in boxes.values()),
                    refusals=refusals,
                )
            )
            if command == "stop":
                return
    finally:
        for runner in reversed(runners):
            with contextlib.suppress(Exception):
                await runner.cleanup()


class SandboxFleet:
    """The child process: ``async with SandboxFleet(plan) as box: await box.usage()``. On exit
    it is asked to stop, and killed by its pid after a bound."""

    def __init__(self, plan: FleetPlan, *, start_timeout: float) -> None:
        self._plan = plan
        self._start_timeout = start_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._closed = False
        self.ready = FleetReady(sandboxes={}, setup_s=0.0)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def __aenter__(self) -> Self:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from pipeline.bench.fleet_sandbox import child; child()",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,  # an `orders` answer holds every order of the window
        )
        try:
            self.ready = await self._ask(
                msgspec.json.encode(self._plan), FleetReady, self._start_timeout
            )
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def usage(self) -> FleetUsage:
        return await self._ask(b"usage", FleetUsage, 30.0)

    async def created_since(self, since: dt.datetime) -> list[CreatedOrder]:
        answer = await self._ask(f"orders {since.isoformat()}".encode(), _Orders, 60.0)
        return answer.orders

    async def _ask(self, line: bytes, answer: type[_T], within: float) -> _T:
        proc = self._proc
        assert proc is not None and proc.stdin and proc.stdout  # noqa: S101
        proc.stdin.write(line + b"\n")
        async with asyncio.timeout(within):
            await proc.stdin.drain()
            reply = await proc.stdout.readline()
        if not reply:
            raise RuntimeError(f"the bench sandboxes exited (status {await proc.wait()})")
        return msgspec.json.decode(reply, type=answer)

    async def aclose(self) -> None:
        """Stop the child (idempotent): ask, wait a bound, then kill it by its pid."""
        proc = self._proc
        if proc is None or self._closed:
            return
        self._closed = True
        if proc.returncode is None:
            with contextlib.suppress(OSError, RuntimeError, TimeoutError, msgspec.DecodeError):
                await self._ask(b"stop", FleetUsage, 5.0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await proc.wait()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
