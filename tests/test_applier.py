"""The applier against real sandboxes: batching, order per order, retries, budgets, outcomes."""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline import platforms
from pipeline.applier import AccountApplier, ApplySettings, Pending, batches
from pipeline.clock import SystemClock
from pipeline.http import HttpClient, HttpSettings
from pipeline.ratelimit import RateBudget, RateLimit
from pipeline.sandbox import FaultRule, SandboxSettings, serve
from schemas import OrderStatus, Outcome, SetStatus, Ship

NOW = dt.datetime.now(dt.UTC)


class NoWaitClock(SystemClock):
    """Real time, but backoff pauses return at once (tests count them instead)."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)


def _set(order: str, n: int, status: OrderStatus = OrderStatus.PREPARING, **kw: Any) -> Pending:
    cmd = SetStatus(
        command_id=f"c{n}",
        platform="x",
        account="a",
        order_id=order,
        issued_at=NOW,
        status=status,
        **kw,
    )
    return Pending(command=cmd, received_at=NOW)


@given(
    st.lists(st.tuples(st.sampled_from("abcde"), st.booleans()), max_size=40),
    st.integers(min_value=1, max_value=7),
)
def test_batches_keep_order_and_never_repeat_an_order(
    spec: list[tuple[str, bool]], limit: int
) -> None:
    items = []
    for n, (order, ship) in enumerate(spec):
        if ship:
            cmd = Ship(
                command_id=f"s{n}",
                platform="x",
                account="a",
                order_id=order,
                issued_at=NOW,
                carrier="Aras",
                tracking_number="1",
            )
            items.append(Pending(command=cmd, received_at=NOW))
        else:
            items.append(_set(order, n))
    out = batches(items, limit)
    assert [p for b in out for p in b] == items
    for batch in out:
        assert len(batch) <= limit
        assert len({p.command.order_id for p in batch}) == len(batch)
        assert len({p.command.type for p in batch}) == 1


class Rig:
    def __init__(self, sandbox: Any, applier: AccountApplier, clock: NoWaitClock) -> None:
        self.sandbox, self.applier, self.clock = sandbox, applier, clock

    def cmd(self, cls: type, order_id: str, n: int, **kw: Any) -> Pending:
        command = cls(
            command_id=f"{self.sandbox.platform}-{n}",
            platform=self.sandbox.platform,
            account="main",
            order_id=order_id,
            issued_at=NOW,
            **kw,
        )
        return Pending(command=command, received_at=dt.datetime.now(dt.UTC))


async def _rig(platform: str, orders: int = 20, **settings: Any) -> AsyncIterator[Rig]:
    spec = platforms.get(platform)
    sandbox = platforms.sandbox_class(platform)(
        settings=SandboxSettings(seed=3, initial_orders=orders, history=dt.timedelta(days=5))
    )
    sandbox.limits.rules.clear()
    clock = NoWaitClock()
    async with serve([sandbox]) as served, HttpClient(HttpSettings(total=2, sock_read=1.5)) as http:
        kwargs = {"token_url": served[0].root_url + "/connect/token"}
        if "default_desi" in inspect.signature(spec.client).parameters:
            kwargs["default_desi"] = 2  # type: ignore[assignment]
        client = spec.client(
            account="main",
            base_url=served[0].base_url,
            credentials={k: f"sandbox-{k}" for k in spec.credential_keys},
            http=http,
            budget=RateBudget(RateLimit.from_config(per_minute=100_000)),
            **kwargs,
        )
        yield Rig(
            sandbox, AccountApplier(client, clock=clock, settings=ApplySettings(**settings)), clock
        )


async def test_softtr_applies_a_thousand_status_commands_in_ten_calls() -> None:
    async for rig in _rig("softtr", orders=1000):
        orders = [o.id for o in rig.sandbox.world.orders]
        items = [
            rig.cmd(SetStatus, o, n, status=OrderStatus.PREPARING) for n, o in enumerate(orders)
        ]
        results = await rig.applier.apply(items)
        assert [r.command_id for r in results] == [p.command.command_id for p in items]
        assert {r.outcome for r in results} == {Outcome.APPLIED}
        calls = rig.sandbox.log.matching("POST", "/api/orders/updateOrderStatus")
        assert len(calls) <= 12
        assert rig.applier.http_batches == 10


async def test_commands_of_one_order_keep_their_order() -> None:
    async for rig in _rig("softtr", orders=3):
        order = rig.sandbox.world.orders[0].id
        items = [
            rig.cmd(SetStatus, order, n, status=s)
            for n, s in enumerate(
                [OrderStatus.PREPARING, OrderStatus.SHIPPED, OrderStatus.DELIVERED]
            )
        ]
        results = await rig.applier.apply(items)
        assert {r.outcome for r in results} == {Outcome.APPLIED}
        statuses = [w.details["status"] for w in rig.sandbox.world.writes if w.target == order]
        assert statuses == ["PREPARING", "SHIPPED", "DELIVERED"]


async def test_transient_failures_are_retried_with_backoff() -> None:
    async for rig in _rig("softtr", orders=3):
        rig.sandbox.faults.add(
            FaultRule(kind="status", status=503, path="updateOrderStatus", times=2)
        )
        order = rig.sandbox.world.orders[0].id
        (result,) = await rig.applier.apply(
            [rig.cmd(SetStatus, order, 1, status=OrderStatus.PREPARING)]
        )
        assert result.outcome is Outcome.APPLIED and result.attempts == 3
        assert len(rig.clock.pauses) == 2 and rig.clock.pauses[1] >= rig.clock.pauses[0] / 2


async def test_the_attempt_budget_ends_in_failed_with_the_last_error() -> None:
    async for rig in _rig("softtr", orders=3, max_attempts=3):
        rig.sandbox.faults.add(FaultRule(kind="status", status=503, path="updateOrderStatus"))
        order = rig.sandbox.world.orders[0].id
        (result,) = await rig.applier.apply(
            [rig.cmd(SetStatus, order, 1, status=OrderStatus.PREPARING)]
        )
        assert result.outcome is Outcome.FAILED and result.attempts == 3
        assert result.error and "503" in result.error


async def test_expired_and_unsupported_cost_no_request() -> None:
    async for rig in _rig("webservis", orders=3):
        order = rig.sandbox.world.orders[0].id
        expired = rig.cmd(
            SetStatus,
            order,
            1,
            status=OrderStatus.PREPARING,
            expires_at=NOW - dt.timedelta(minutes=1),
        )
        unsupported = rig.cmd(SetStatus, order, 2, status=OrderStatus.PREPARING)
        before = len(rig.sandbox.log.entries)
        results = await rig.applier.apply([expired, unsupported])
        assert [r.outcome for r in results] == [Outcome.EXPIRED, Outcome.UNSUPPORTED]
        assert len(rig.sandbox.log.entries) == before


async def test_ecarsi_ship_after_a_lost_answer_is_never_doubled() -> None:
    async for rig in _rig("ecarsi", orders=5):
        world = rig.sandbox.world
        order = next(o for o in world.orders if o.status in {"approved", "preparing", "waiting"})
        rig.sandbox.faults.add(
            FaultRule(kind="timeout", path="/shipping", times=1, seconds=5, applied=True)
        )
        (result,) = await rig.applier.apply(
            [rig.cmd(Ship, order.id, 1, carrier="Aras Kargo", tracking_number="AR123", desi=3)]
        )
        assert result.outcome in {Outcome.APPLIED, Outcome.ALREADY_APPLIED}, result
        shipments = [
            w
            for w in world.writes
            if w.target == order.id and w.kind == "ship" and w.outcome == "applied"
        ]
        assert len(shipments) == 1


@pytest.mark.parametrize("platform", sorted(platforms.registry()))
async def test_every_platform_gives_one_result_per_command(platform: str) -> None:
    async for rig in _rig(platform, orders=6):
        orders = [o.id for o in rig.sandbox.world.orders]
        items = [
            rig.cmd(SetStatus, o, n, status=OrderStatus.PREPARING) for n, o in enumerate(orders)
        ]
        items += [
            rig.cmd(Ship, o, 100 + n, carrier="Aras Kargo", tracking_number=f"T{n}", desi=2)
            for n, o in enumerate(orders[:3])
        ]
        results = await rig.applier.apply(items)
        assert [r.command_id for r in results] == [p.command.command_id for p in items]
        assert all(r.outcome is not Outcome.FAILED for r in results), results
