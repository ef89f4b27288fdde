"""Helpers for the process-level tests: real ``pipeline poll`` worker processes, configured the way
an operator would (a TOML file, secrets by ``{ env = ... }``), against sandboxes served by the
test process on the system clock with orders arriving and seller writes on old orders, and a
broker of their own (the event topics have fixed names: a shared broker would mix runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path

import pytest

from pipeline import checker, platforms, testbed
from pipeline.broker import EmbeddedBroker
from pipeline.sandbox import Sandbox, SandboxSettings, ServedSandbox, TransitionRejected

#: New orders per hour and tenant. Platforms that cost a detail request per listed order under a
#: tight limit (Web Servis 25/min, E-Çarşı 60/min per IP) get fewer, or a worker's first cycle
#: after a takeover -- which re-reads the overlap window -- outlasts the test.
ARRIVALS: dict[str, float] = {"webservis": 120.0, "ecarsi": 360.0, "softtr": 600.0}
DEFAULT_ARRIVALS = 1800.0
INITIAL_ORDERS: dict[str, int] = {"webservis": 4, "ecarsi": 6}
DEFAULT_INITIAL_ORDERS = 12
HORIZON = "2d"
#: The workers' consumer-group session: a broker on this host can afford a short one (joins on
#: Tansu take about half of it, and a SIGKILLed member is noticed after it).
SESSION_MS = 2_000


def build_sandboxes(
    *, seed: int = 1, tenants: dict[str, Sequence[str]] | None = None
) -> list[Sandbox]:
    """A sandbox per platform on the system clock, orders arriving, with the default tenant
    ``main``; with ``tenants``, only those platforms, with these extra tenants."""
    boxes = []
    chosen = sorted(tenants) if tenants is not None else sorted(platforms.registry())
    for n, platform in enumerate(chosen):
        settings = SandboxSettings(
            seed=seed * 100 + n,
            initial_orders=INITIAL_ORDERS.get(platform, DEFAULT_INITIAL_ORDERS),
            history=dt.timedelta(hours=6),
            arrival_rate_per_hour=ARRIVALS.get(platform, DEFAULT_ARRIVALS),
        )
        box = platforms.sandbox_class(platform)(settings=settings)
        assert isinstance(box, Sandbox)
        for label in (tenants or {}).get(platform, ()):
            box.add_tenant(label)
        boxes.append(box)
    return boxes


def accounts_of(served: Iterable[ServedSandbox]) -> list[tuple[str, str]]:
    return [(s.sandbox.platform, label) for s in served for label in s.sandbox.tenants]


def write_config(
    path: Path, served: Sequence[ServedSandbox], bootstrap: str
) -> tuple[dict[str, str], int]:
    """The operator's TOML for every tenant of ``served``; returns the secrets' environment and
    the group session timeout the workers will use."""
    environ = testbed.write_config(
        path,
        testbed.accounts_of_served(served),
        bootstrap,
        session_ms=SESSION_MS,
        # Several workers share this host: each serves /metrics on a free port.
        head=["[metrics]", "port = 0"],
        account_lines=lambda account: [f'horizon = "{HORIZON}"', 'poll_interval = "1s"'],
    )
    return environ, SESSION_MS


class Worker(testbed.WorkerProcess):
    """One ``pipeline poll --config FILE`` process; its output goes to ``log_path``."""

    def __init__(self, name: str, config: Path, environ: dict[str, str], log_dir: Path) -> None:
        super().__init__(name, config, environ, log_dir, role="poll")


class Churn:
    """Seller writes on old orders (and returns and cancellations where the platform has them)
    while the workers run, so sweeps have status changes to find."""

    def __init__(self, served: Sequence[ServedSandbox], rng: random.Random, every: float) -> None:
        self.served = served
        self.rng = rng
        self.every = every
        self.writes = 0
        self.records = 0
        self._before = dt.datetime.now(dt.UTC)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Churn:
        self._task = asyncio.create_task(self._run(), name="churn")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            self.step()

    def step(self) -> None:
        served = self.rng.choice(self.served)
        sandbox = served.sandbox
        sandbox.sync()
        tenant = self.rng.choice(list(sandbox.tenants.values()))
        world = tenant.world
        # "Old": created before the run, so only the active sweep can see the change.
        old = [o for o in world.orders if o.created_at < self._before]
        if not old:
            return
        order = self.rng.choice(old)
        kinds = [k for k in ("refund", "cancellation") if world.record_lifecycles[k] is not None]
        if kinds and self.rng.random() < 0.25:
            kind = self.rng.choice(kinds)
            world.open_record(kind, order.id, [1], reason="Vazgeçtim", actor="customer")
            self.records += 1
            return
        targets = set.intersection(
            *(set(sandbox.lifecycle.seller_targets(i.status)) for i in order.items)
        )
        if not targets:
            return
        with contextlib.suppress(TransitionRejected):
            world.set_status(order.id, self.rng.choice(sorted(targets)))
            self.writes += 1


wait_for_polls = testbed.wait_for_polls


def limit_findings(served: Sequence[ServedSandbox]) -> dict[str, int]:
    """Documented limits (the sandboxes' rules, replayed on their logs and as enforced) and our
    own budgets for platforms that document none (each account's default, per minute)."""
    return {k: v for s in served for k, v in checker.limit_findings(s.sandbox).items()}


def requests_per_platform(served: Sequence[ServedSandbox]) -> dict[str, int]:
    return {s.sandbox.platform: len(s.sandbox.log.entries) for s in served}


def figures(title: str, **values: object) -> None:
    print(f"\n[{title}]")
    for name, value in values.items():
        print(f"  {name}: {value}")


class Kit:
    """Everything a process test needs, as one fixture (``tests/`` is not a package, so helpers
    are shared through fixtures). Workers it started are killed at the end of the test (ask for
    ``broker`` before ``kit``, so they go before their broker does)."""

    Worker = Worker
    Churn = Churn
    build_sandboxes = staticmethod(build_sandboxes)
    accounts_of = staticmethod(accounts_of)
    wait_for_polls = staticmethod(wait_for_polls)
    limit_findings = staticmethod(limit_findings)
    requests_per_platform = staticmethod(requests_per_platform)
    figures = staticmethod(figures)

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.config = tmp_path / "pipeline.toml"
        self.environ: dict[str, str] = {}
        self.session_ms = SESSION_MS
        self.started: list[Worker] = []

    def configure(self, served: Sequence[ServedSandbox], bootstrap: str) -> Path:
        self.environ, self.session_ms = write_config(self.config, served, bootstrap)
        return self.config

    async def worker(self, name: str) -> Worker:
        started = await Worker(name, self.config, self.environ, self.tmp).start()
        self.started.append(started)
        return started

    async def aclose(self) -> None:
        for worker in self.started:
            await worker.aclose()


@pytest.fixture
async def kit(tmp_path: Path) -> AsyncIterator[Kit]:
    helpers = Kit(tmp_path)
    try:
        yield helpers
    finally:
        await helpers.aclose()


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[EmbeddedBroker]:
    """A broker of this test's own (event topics have fixed names)."""
    # Memory-only, so nothing to drain: no need to wait out Tansu's graceful stop (~5 s).
    async with EmbeddedBroker(log_path=tmp_path / "tansu.log", stop_timeout=0.1) as started:
        yield started
