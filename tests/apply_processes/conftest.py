"""Helpers for process-level tests of the apply role: real ``pipeline apply --config FILE``
processes, configured the way an operator would (a TOML file, secrets by ``{ env = ... }``),
against sandboxes served by the test process on the system clock and a broker of their own (the
command topics have fixed names: a shared broker would mix runs).

The burst is planned so its truth is known in advance: one command per order, each moving the
order somewhere it can go, so the only acceptable outcomes are ``applied`` — or
``already_applied`` where a worker died after the write and before the result, and the next
owner found the write done.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from pipeline import checker, platforms, testbed
from pipeline.broker import EmbeddedBroker
from pipeline.errors import BrokerError
from pipeline.platforms.c2c.mapping import WRITABLE_STATUS as C2C_STATUS
from pipeline.platforms.softtr.mapping import WRITABLE_STATUS as SOFTTR_STATUS
from pipeline.sandbox import (
    FaultRule,
    RateLimitRule,
    Sandbox,
    SandboxSettings,
    ServedSandbox,
    per_tenant,
)
from schemas import (
    AnyCommand,
    AttachInvoice,
    CommandResult,
    OrderStatus,
    Outcome,
    SetStatus,
    Ship,
    decode_result,
    topics,
)

SESSION_MS = 2_000
#: Orders per platform; the burst uses most of them, one command per order.
SIZES = {"softtr": 500, "c2c": 160, "pazarama": 60, "ecarsi": 12, "webservis": 3}
#: Pazarama documents no limit: the config sets ours and the sandbox enforces the same.
PAZARAMA_PER_SECOND = 40
#: Every e-Çarşı shipping answer comes this late, after the write landed: a worker killed in
#: between leaves a shipment without a result, which the next owner must not send again.
ECARSI_ANSWER_DELAY = 0.5


def build_sandboxes(seed: int) -> list[Sandbox]:
    """Orders from the last minute only: every order at its first status, and no automatic
    transition (the earliest is five minutes out) during the test."""
    boxes = []
    for n, platform in enumerate(sorted(SIZES)):
        settings = SandboxSettings(
            seed=seed * 10 + n,
            initial_orders=SIZES[platform],
            history=dt.timedelta(minutes=1),
            max_log_entries=50_000,
        )
        kwargs: dict[str, Any] = {}
        if platform == "pazarama":
            kwargs["rules"] = [
                RateLimitRule("ours-per-second", PAZARAMA_PER_SECOND, 1.0, per_tenant)
            ]
        box = platforms.sandbox_class(platform)(settings=settings, **kwargs)
        assert isinstance(box, Sandbox)
        if platform == "ecarsi":
            box.faults.add(
                FaultRule(
                    kind="timeout",
                    method="POST",
                    path="/shipping",
                    seconds=ECARSI_ANSWER_DELAY,
                    applied=True,
                )
            )
        boxes.append(box)
    return boxes


def write_config(path: Path, served: Sequence[ServedSandbox], bootstrap: str) -> dict[str, str]:
    """The operator's TOML; returns the environment holding the secrets it refers to."""

    def pazarama(account: testbed.SandboxAccount) -> list[str]:
        if account.platform != "pazarama":
            # A worker taking commands over waits out the shortest window (the previous owner's
            # share): a second's window keeps that to ~2 s here, where a minute's would be 61 s.
            return ["rate_limit = { per_second = 10 }"]
        # A second's window: our budget adds a second of margin, the platform does not.
        return [f"rate_limit = {{ per_second = {PAZARAMA_PER_SECOND}, per_minute = 1500 }}"]

    return testbed.write_config(
        path,
        testbed.accounts_of_served(served),
        bootstrap,
        env_prefix="APPLY",
        session_ms=SESSION_MS,
        # Apply-only workers: the commands' share of every window is what they may use.
        head=[
            *("[http]", "total_timeout = 10.0", "connect_timeout = 2.0"),
            *("[rate_limit]", "commands_share = 0.9"),
        ],
        account_lines=pazarama,
    )


# --- the burst ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Burst:
    commands: list[AnyCommand]
    #: command id → outcomes it may end with.
    allowed: dict[str, frozenset[Outcome]]
    #: (platform, order id) → the raw status every item must end at.
    status: dict[tuple[str, str], str]
    #: (platform, order id) → the tracking number its shipment must carry.
    tracking: dict[tuple[str, str], str]

    def of(self, platform: str) -> list[AnyCommand]:
        return [c for c in self.commands if c.platform == platform]


def plan_burst(served: Sequence[ServedSandbox]) -> Burst:
    """One command per order, interleaved across the platforms (each account's own order kept)."""
    done = frozenset({Outcome.APPLIED, Outcome.ALREADY_APPLIED})
    per: dict[str, list[AnyCommand]] = {}
    allowed: dict[str, frozenset[Outcome]] = {}
    status: dict[tuple[str, str], str] = {}
    tracking: dict[tuple[str, str], str] = {}
    now = dt.datetime.now(dt.UTC)
    for s in served:
        p = s.sandbox.platform
        world = s.sandbox.world
        out = per.setdefault(p, [])

        def base(n: int, order: str, p: str = p, label: str = s.sandbox.tenant.label) -> Any:
            return {
                "command_id": f"kill-{p}-{n}",
                "platform": p,
                "account": label,
                "order_id": order,
                "issued_at": now,
            }

        for n, order in enumerate(world.orders):
            key = (p, order.id)
            command: AnyCommand
            if p == "softtr":
                target = [OrderStatus.PREPARING, OrderStatus.SHIPPED][n % 2]
                command = SetStatus(**base(n, order.id), status=target)
                status[key] = SOFTTR_STATUS[target]
            elif p == "c2c":
                if not world.lifecycle.seller_allows(order.status, C2C_STATUS[OrderStatus.SHIPPED]):
                    continue  # an unpaid transfer or an unfinished checkout: nothing to ship
                command = SetStatus(**base(n, order.id), status=OrderStatus.SHIPPED)
                status[key] = C2C_STATUS[OrderStatus.SHIPPED]
            elif p in {"pazarama", "ecarsi"}:
                number = f"{p[:2].upper()}{n:05d}"
                command = Ship(
                    **base(n, order.id),
                    carrier="Yurtiçi Kargo",
                    tracking_number=number,
                    desi=3,
                )
                status[key] = "5" if p == "pazarama" else "shipped"
                tracking[key] = number
            else:
                command = AttachInvoice(**base(n, order.id), url="https://fatura.example/1.pdf")
                allowed[command.command_id] = frozenset({Outcome.UNSUPPORTED})
                out.append(command)
                continue
            allowed[command.command_id] = done
            out.append(command)
    mixed: list[AnyCommand] = []
    queues = {p: collections.deque(cs) for p, cs in per.items() if cs}
    turn = 0
    while queues:  # round robin, weighted by what is left
        names = sorted(queues, key=lambda p: -len(queues[p]))
        p = names[turn % len(names)] if turn % 3 else names[0]
        mixed.append(queues[p].popleft())
        if not queues[p]:
            del queues[p]
        turn += 1
    return Burst(mixed, allowed, status, tracking)


async def produce(bootstrap: str, commands: Sequence[AnyCommand]) -> None:
    await testbed.send_commands(bootstrap, commands)


async def read_results(bootstrap: str) -> list[CommandResult]:
    with contextlib.suppress(BrokerError):
        found = await checker.read_topics(bootstrap, [topics.COMMAND_RESULTS], max_wait=20)
        return [decode_result(r.value or b"") for r in found]
    return []


@dataclasses.dataclass
class ResultCheck:
    """Results grouped by command id against the burst."""

    results: int
    repeated: dict[str, int]
    missing: list[str]
    unexpected: list[str]
    wrong: list[str]
    outcomes: dict[str, int]

    @property
    def ok(self) -> bool:
        return not (self.repeated or self.missing or self.unexpected or self.wrong)


def check_results(burst: Burst, results: Sequence[CommandResult]) -> ResultCheck:
    by_id: dict[str, list[CommandResult]] = collections.defaultdict(list)
    for r in results:
        by_id[r.command_id].append(r)
    return ResultCheck(
        results=len(results),
        repeated={k: len(v) for k, v in by_id.items() if len(v) > 1},
        missing=[c.command_id for c in burst.commands if c.command_id not in by_id],
        unexpected=sorted(set(by_id) - set(burst.allowed)),
        wrong=[
            f"{cid}: {rs[0].outcome} ({rs[0].message or rs[0].error})"
            for cid, rs in by_id.items()
            if cid in burst.allowed and rs[0].outcome not in burst.allowed[cid]
        ],
        outcomes=dict(collections.Counter(r.outcome.value for r in results)),
    )


def truth_problems(burst: Burst, served: Sequence[ServedSandbox]) -> list[str]:
    """Where the worlds differ from the burst's intended effect; e-Çarşı shipments counted."""
    worlds = {s.sandbox.platform: s.sandbox.world for s in served}
    problems = []
    for (p, order_id), want in burst.status.items():
        order = worlds[p].get(order_id)
        assert order is not None
        have = {item.status for item in order.items}
        if have != {want}:
            problems.append(f"{p} {order_id}: items at {sorted(have)}, expected {want}")
    for (p, order_id), number in burst.tracking.items():
        order = worlds[p].get(order_id)
        assert order is not None
        numbers = {i.shipment.tracking_number for i in order.items if i.shipment is not None}
        if numbers != {number}:
            problems.append(f"{p} {order_id}: tracking {sorted(numbers)}, expected {number}")
    return problems


def shipments_per_order(served: Sequence[ServedSandbox], platform: str) -> dict[str, int]:
    world = next(s.sandbox.world for s in served if s.sandbox.platform == platform)
    count: collections.Counter[str] = collections.Counter()
    for write in world.writes:
        if write.kind == "ship" and write.outcome == "applied":
            count[write.target] += 1
    return dict(count)


def limit_findings(served: Sequence[ServedSandbox]) -> dict[str, int]:
    """The sandboxes' refusals and their rules replayed on the request logs."""
    return {
        name: count
        for s in served
        for name, count in checker.limit_findings(s.sandbox).items()
        if "default budget" not in name  # the budgets here are the config's, not the defaults
    }


# --- worker processes ---------------------------------------------------------------------------


class ApplyWorker(testbed.WorkerProcess):
    """One ``pipeline apply --config FILE`` process; its output goes to ``log_path``."""

    def __init__(self, name: str, config: Path, environ: dict[str, str], log_dir: Path) -> None:
        super().__init__(name, config, environ, log_dir, role="apply")


class Kit:
    """What a test needs, as one fixture (``tests/`` is not a package); workers it started are
    killed at the end of the test."""

    build_sandboxes = staticmethod(build_sandboxes)
    plan_burst = staticmethod(plan_burst)
    produce = staticmethod(produce)
    read_results = staticmethod(read_results)
    check_results = staticmethod(check_results)
    truth_problems = staticmethod(truth_problems)
    shipments_per_order = staticmethod(shipments_per_order)
    limit_findings = staticmethod(limit_findings)

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.config = tmp_path / "pipeline.toml"
        self.environ: dict[str, str] = {}
        self.started: list[ApplyWorker] = []

    def configure(self, served: Sequence[ServedSandbox], bootstrap: str) -> Path:
        self.environ = write_config(self.config, served, bootstrap)
        return self.config

    async def worker(self, name: str) -> ApplyWorker:
        started = await ApplyWorker(name, self.config, self.environ, self.tmp).start()
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
    """A broker of this test's own (the command topics have fixed names)."""
    async with EmbeddedBroker(log_path=tmp_path / "tansu.log") as started:
        yield started
