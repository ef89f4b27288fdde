"""The Pazarama adapter against the Pazarama sandbox over real HTTP on 127.0.0.1: every endpoint,
every command, every injected fault, the limiter read back from the sandbox's request log, and
secrets kept out of logs and errors."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pipeline.adapter import Malformed
from pipeline.clock import ManualClock
from pipeline.errors import (
    AuthError,
    PlatformDecodeError,
    PlatformError,
    RateLimited,
    RejectedError,
    RetryableError,
)
from pipeline.http import HttpClient, HttpSettings, RequestContext
from pipeline.platforms.pazarama import sandbox_render
from pipeline.platforms.pazarama.client import MAX_WINDOW, PazaramaClient
from pipeline.platforms.pazarama.sandbox import PazaramaSandbox
from pipeline.ratelimit import Lane, RateBudget, RateLimit, Window
from pipeline.retry import RetryPolicy, with_retries
from pipeline.sandbox import FaultRule, SandboxSettings, ServedSandbox, serve
from schemas import (
    AttachInvoice,
    DecideCancellation,
    DecideRefund,
    Document,
    Order,
    OrderStatus,
    Outcome,
    SetStatus,
    Ship,
)

START = dt.datetime(2026, 3, 20, 9, 0, tzinfo=dt.UTC)
SECRET = "sandbox-client_secret"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class Rig:
    def __init__(
        self,
        sandbox: PazaramaSandbox,
        served: ServedSandbox,
        client: PazaramaClient,
        clock: ManualClock,
        budget: RateBudget,
    ) -> None:
        self.sandbox, self.served, self.client, self.clock, self.budget = (
            sandbox,
            served,
            client,
            clock,
            budget,
        )

    @property
    def world(self) -> Any:
        return self.sandbox.world

    def log_paths(self) -> list[str]:
        return [e.path for e in self.sandbox.log.entries]


def _client(
    served: ServedSandbox,
    http: HttpClient,
    budget: RateBudget,
    clock: ManualClock,
    page_size: int = 100,
    secret: str = SECRET,
) -> PazaramaClient:
    return PazaramaClient(
        account="main",
        base_url=served.base_url,
        token_url=served.root_url + "/connect/token",
        credentials={"client_id": "sandbox-client_id", "client_secret": secret},
        http=http,
        budget=budget,
        page_size=page_size,
        now=clock.now,
    )


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    clock = ManualClock(START)
    sandbox = PazaramaSandbox(
        clock=clock,
        settings=SandboxSettings(seed=11, initial_orders=90, history=dt.timedelta(days=70)),
    )
    budget = RateBudget(RateLimit.from_config(per_minute=10_000))
    async with (
        serve([sandbox]) as served,
        HttpClient(HttpSettings(total=3.0, sock_read=2.0, connect=1.0)) as http,
    ):
        yield Rig(
            sandbox, served[0], _client(served[0], http, budget, clock, page_size=7), clock, budget
        )


async def _all_orders(client: PazaramaClient, days: int = 75) -> list[Order | Malformed]:
    return [o async for o in client.fetch_orders(START - dt.timedelta(days=days), START)]


async def test_orders_over_many_pages_and_windows_match_the_ground_truth(rig: Rig) -> None:
    got = await _all_orders(rig.client)
    assert all(isinstance(o, Order) for o in got)
    orders = {o.order_id: o for o in got if isinstance(o, Order)}
    truth = rig.world.orders_between(START - dt.timedelta(days=75), START)
    assert set(orders) == {o.id for o in truth} and len(truth) >= 80
    for t in truth:
        mapped = orders[t.id]
        assert mapped.internal_id == t.uuid
        assert len(mapped.items) == len(t.items)
        assert [int(i.raw_status or 0) for i in mapped.items] == [int(i.status) for i in t.items]
        assert mapped.created_at == t.created_at.replace(second=0, microsecond=0)
    lists = [e for e in rig.sandbox.log.entries if e.path == "/order/getOrdersForApi"]
    assert all(e.status == 200 for e in lists)
    windows = {(e.json()["startDate"], e.json()["endDate"]) for e in lists}
    assert len(windows) == 3  # 75 days in windows of at most 28 days
    assert len(lists) > len(truth) / 7  # really paged


async def test_windows_never_exceed_a_calendar_month_even_in_february(rig: Rig) -> None:
    start = dt.datetime(2026, 1, 31, 21, 0, 30, tzinfo=dt.UTC)  # 1 Feb 00:00:30 in Istanbul
    got = [o async for o in rig.client.fetch_orders(start, start + 2 * MAX_WINDOW)]
    assert all(isinstance(o, Order) for o in got)
    assert all(e.status == 200 for e in rig.sandbox.log.entries)


async def test_fetch_order_by_number(rig: Rig) -> None:
    truth = rig.world.orders[-3]
    order = await rig.client.fetch_order(truth.id)
    assert order is not None and order.order_id == truth.id
    assert await rig.client.fetch_order("999999999") is None


def _with_requests(rig: Rig, count: int = 6) -> None:
    """Ship and deliver some orders, then customers open return and cancellation requests."""
    world = rig.world
    received = [o for o in world.orders if all(i.status == "3" for i in o.items)]
    for n, order in enumerate(received[: 2 * count]):
        world.set_status(order.id, "12")
        if n < count:
            world.ship(order.id, carrier_code="yurtici", tracking_number=f"YK{n:09d}", status="5")
    rig.sandbox.advance(4 * 86400)  # carriers deliver within three days
    delivered = [o for o in world.orders if o.items[0].status == "11"]
    for order in delivered[:count]:
        world.open_record("refund", order.id, [1], reason="Beden uymadı", actor="customer")
    preparing = [o for o in world.orders if o.items[0].status == "12"]
    for order in preparing[:count]:
        world.open_record("cancellation", order.id, [1], reason="Vazgeçtim", actor="customer")


async def test_refunds_and_cancellations_as_canonical_records(rig: Rig) -> None:
    _with_requests(rig)
    rig.sandbox.advance(3600)
    start, end = START - dt.timedelta(days=80), rig.clock.now() + dt.timedelta(minutes=1)
    refunds = [r async for r in rig.client.fetch_refunds(start, end)]
    cancels = [c async for c in rig.client.fetch_cancellations(start, end)]
    assert {r.refund_id for r in refunds if not isinstance(r, Malformed)} == {
        r.id for r in rig.world.refunds
    }
    assert {c.cancellation_id for c in cancels if not isinstance(c, Malformed)} == {
        c.id for c in rig.world.cancellations
    }
    assert rig.world.refunds and rig.world.cancellations


def _cmd(cls: type, order: Any, **kw: Any) -> Any:
    return cls(
        command_id=f"c-{order.id}-{cls.__name__}-{len(kw)}",
        platform="pazarama",
        account="main",
        order_id=order.id,
        issued_at=START,
        **kw,
    )


def _received(rig: Rig) -> Any:
    return next(o for o in reversed(rig.world.orders) if all(i.status == "3" for i in o.items))


async def test_set_status_preparing_then_repeat_is_already_applied(rig: Rig) -> None:
    order = _received(rig)
    cmd = _cmd(SetStatus, order, status=OrderStatus.PREPARING)
    (first,) = await rig.client.apply([cmd])
    assert first.outcome is Outcome.APPLIED, first
    assert {i.status for i in rig.world.get(order.id).items} == {"12"}
    writes = len(rig.world.writes)
    (again,) = await rig.client.apply([cmd])
    assert again.outcome is Outcome.ALREADY_APPLIED
    assert len(rig.world.writes) == writes


async def test_delivered_for_an_unshipped_order_is_refused_before_any_write(rig: Rig) -> None:
    order = _received(rig)
    (result,) = await rig.client.apply([_cmd(SetStatus, order, status=OrderStatus.DELIVERED)])
    assert result.outcome is Outcome.REJECTED and "reachable only from" in (result.message or "")
    assert {i.status for i in rig.world.get(order.id).items} == {"3"}
    assert not [w for w in rig.world.writes if w.target == order.id]


async def test_unsupported_target_costs_no_request(rig: Rig) -> None:
    order = _received(rig)
    before = len(rig.sandbox.log.entries)
    (result,) = await rig.client.apply([_cmd(SetStatus, order, status=OrderStatus.CANCELLED)])
    assert result.outcome is Outcome.UNSUPPORTED
    assert len(rig.sandbox.log.entries) == before


async def test_ship_moves_items_through_preparing_and_stores_tracking(rig: Rig) -> None:
    order = _received(rig)
    cmd = _cmd(
        Ship,
        order,
        carrier="Yurtiçi Kargo",
        tracking_number="YK123456789",
        tracking_url="https://kargo.example/YK123456789",
    )
    (result,) = await rig.client.apply([cmd])
    assert result.outcome is Outcome.APPLIED, result
    items = rig.world.get(order.id).items
    assert {i.status for i in items} == {"5"}
    assert {i.shipment.tracking_number for i in items} == {"YK123456789"}
    mapped = await rig.client.fetch_order(order.id)
    assert mapped is not None and mapped.status is OrderStatus.SHIPPED
    assert mapped.shipments[0].tracking_number == "YK123456789"
    (again,) = await rig.client.apply([cmd])
    assert again.outcome is Outcome.ALREADY_APPLIED


async def test_ship_with_an_unknown_carrier_is_invalid(rig: Rig) -> None:
    order = _received(rig)
    (result,) = await rig.client.apply(
        [_cmd(Ship, order, carrier="Atlantis Express", tracking_number="X1")]
    )
    assert result.outcome is Outcome.INVALID
    assert {i.status for i in rig.world.get(order.id).items} == {"3"}


async def test_attach_invoice_to_order_and_to_one_item(rig: Rig) -> None:
    order = _received(rig)
    link = "https://fatura.example/1.pdf"
    (whole,) = await rig.client.apply([_cmd(AttachInvoice, order, url=link)])
    assert whole.outcome is Outcome.APPLIED, whole
    item_id = (await rig.client.fetch_order(order.id)).items[0].item_id  # type: ignore[union-attr]
    (one,) = await rig.client.apply(
        [_cmd(AttachInvoice, order, url=link + "?i", item_ids=(item_id,))]
    )
    assert one.outcome is Outcome.APPLIED, one
    assert [w.kind for w in rig.world.writes if w.target == order.id] == ["invoice", "invoice"]


async def test_refund_decisions(rig: Rig) -> None:
    _with_requests(rig)
    pending = [r for r in rig.world.refunds if r.status == "1"]
    assert len(pending) >= 2
    a, b = pending[0], pending[1]
    order_a, order_b = rig.world.get(a.order_id), rig.world.get(b.order_id)
    approve = _cmd(DecideRefund, order_a, refund_id=a.id, decision="approve")
    no_images = _cmd(
        DecideRefund,
        order_b,
        refund_id=b.id,
        decision="reject",
        reason_code="2",
        description="Ürün kullanılmış",
    )
    with_images = _cmd(
        DecideRefund,
        order_b,
        refund_id=b.id,
        decision="reject",
        reason_code="2",
        description="Ürün kullanılmış",
        documents=(Document(name="a.png", content=PNG),),
    )
    results = await rig.client.apply([approve, no_images])
    assert [r.outcome for r in results] == [Outcome.APPLIED, Outcome.INVALID]
    assert len(rig.sandbox.log.matching("POST", "/order/updateRefund")) == 1  # invalid: no request
    (rejected,) = await rig.client.apply([with_images])
    assert rejected.outcome is Outcome.APPLIED, rejected
    assert rig.world.record("refund", a.id).status == "2"
    assert rig.world.record("refund", b.id).status == "3"
    (twice,) = await rig.client.apply([approve])
    assert twice.outcome is Outcome.REJECTED and twice.platform_code == "ORD_REFUND_NOT_PENDING"


async def test_cancellation_decision(rig: Rig) -> None:
    order = _received(rig)
    await rig.client.apply([_cmd(SetStatus, order, status=OrderStatus.PREPARING)])
    record = rig.world.open_record("cancellation", order.id, [1], reason="Vazgeçtim")
    (result,) = await rig.client.apply(
        [_cmd(DecideCancellation, order, cancellation_id=record.id, decision="approve")]
    )
    assert result.outcome is Outcome.APPLIED, result
    assert rig.world.record("cancellation", record.id).status == "2"


# --- faults ---------------------------------------------------------------------------------


async def test_5xx_is_retryable_and_retries_end_in_success(rig: Rig) -> None:
    rig.sandbox.faults.add(FaultRule(kind="status", status=503, path="getOrdersForApi", times=2))
    with pytest.raises(RetryableError):
        await _all_orders(rig.client, days=5)
    pauses: list[float] = []

    async def sleep(s: float) -> None:
        pauses.append(s)

    got = await with_retries(lambda: _all_orders(rig.client, days=5), RetryPolicy(), sleep=sleep)
    assert got and len(pauses) == 1


async def test_429_honours_retry_after_and_penalizes_the_budget(rig: Rig) -> None:
    rig.sandbox.faults.add(
        FaultRule(kind="rate_limited", retry_after=7, path="getOrdersForApi", times=1)
    )
    with pytest.raises(RateLimited) as info:
        await _all_orders(rig.client, days=5)
    assert info.value.retry_after == 7
    assert rig.budget.usage().blocked_for > 5


async def test_timeout_fails_within_the_bound(rig: Rig) -> None:
    rig.sandbox.faults.add(FaultRule(kind="timeout", path="getOrdersForApi", times=1))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RetryableError, match="timed out"):
        await _all_orders(rig.client, days=5)
    assert loop.time() - started < 5


@pytest.mark.parametrize("kind", ["malformed_json", "html_error"])
async def test_broken_bodies_are_decode_errors(rig: Rig, kind: str) -> None:
    rig.sandbox.faults.add(FaultRule(kind=kind, path="getOrdersForApi", times=1))  # type: ignore[arg-type]
    with pytest.raises((PlatformDecodeError, RetryableError)) as info:
        await _all_orders(rig.client, days=5)
    assert "pazarama/main" in str(info.value)


async def test_expired_token_is_refreshed_once(rig: Rig) -> None:
    await _all_orders(rig.client, days=2)
    rig.sandbox.faults.add(FaultRule(kind="token_expiry", path="getOrdersForApi", times=1))
    assert await _all_orders(rig.client, days=2) is not None
    tokens = [e for e in rig.sandbox.log.entries if e.path == "/connect/token"]
    assert len(tokens) == 2
    statuses = [e.status for e in rig.sandbox.log.entries if e.path == "/order/getOrdersForApi"]
    assert 401 in statuses and statuses[-1] == 200


async def test_token_lifetime_passing_is_handled(rig: Rig) -> None:
    await _all_orders(rig.client, days=2)
    rig.sandbox.advance(3700)  # the sandbox's hour is over; our loop clock did not move
    assert await _all_orders(rig.client, days=2) is not None


async def test_wrong_secret_is_a_clear_auth_error_without_the_secret(rig: Rig) -> None:
    async with HttpClient() as http:
        bad = _client(rig.served, http, rig.budget, rig.clock, secret="wrong-secret-value-42")
        with pytest.raises(AuthError) as info:
            await _all_orders(bad, days=2)
    assert "wrong-secret-value-42" not in str(info.value)
    assert "token" in str(info.value)


async def test_one_malformed_order_does_not_hide_the_rest(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = rig.world.orders[-1]
    original = sandbox_render.render_order

    def broken(order: Any, *args: Any, **kwargs: Any) -> Any:
        body = original(order, *args, **kwargs)
        if order.id == victim.id:
            body["orderDate"] = "yarın öğlen"
        return body

    monkeypatch.setattr(sandbox_render, "render_order", broken)
    got = await _all_orders(rig.client, days=75)
    bad = [o for o in got if isinstance(o, Malformed)]
    assert [b.record_id for b in bad] == [victim.id]
    assert "orderDate" in bad[0].error
    assert len(got) == len(rig.world.orders_between(START - dt.timedelta(days=75), START))


async def test_a_refusal_beside_well_formed_orders_is_still_a_refusal(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An order list page decodes in one pass and its ``success`` is read there, not by the
    # classifier: a page whose orders are fine but whose envelope says no must still refuse.
    original = sandbox_render.envelope

    def refusing(data: object, **kwargs: Any) -> Any:
        body = original(data, **kwargs)
        if isinstance(data, list) and data:
            body.update(success=False, messageCode="ORD9", userMessage="Servis geçici kapalı")
        return body

    monkeypatch.setattr(sandbox_render, "envelope", refusing)
    with pytest.raises(RejectedError, match="Servis geçici kapalı") as info:
        await _all_orders(rig.client, days=75)
    assert info.value.platform_code == "ORD9"


async def test_secrets_and_tokens_never_reach_logs_or_errors(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    await _all_orders(rig.client, days=3)
    rig.sandbox.faults.add(FaultRule(kind="token_expiry", times=1))
    rig.sandbox.faults.add(FaultRule(kind="status", status=500, path="getRefund", times=1))
    await _all_orders(rig.client, days=3)
    try:
        [r async for r in rig.client.fetch_refunds(START - dt.timedelta(days=3), START)]
    except PlatformError as exc:
        errors.append(str(exc))
    order = _received(rig)
    results = await rig.client.apply([_cmd(SetStatus, order, status=OrderStatus.DELIVERED)])
    errors += [str(r) for r in results]
    tokens = list(rig.sandbox.tokens._tokens)
    assert tokens
    text = caplog.text + "\n".join(errors)
    for secret in [SECRET, *tokens]:
        assert secret not in text


# --- the limiter, read back from the sandbox's request log ---------------------------------


async def test_limiter_holds_every_sliding_window_and_serves_commands_first() -> None:
    limit, period = 8, 0.5
    sandbox = PazaramaSandbox(settings=SandboxSettings(seed=2, initial_orders=5))
    budget = RateBudget(RateLimit((Window(limit=limit, period=period),)), margin=0.05)
    async with serve([sandbox]) as served, HttpClient() as http:
        base = served[0].base_url
        ctx = RequestContext("pazarama", "main", "test")

        async def call(path: str, lane: Lane) -> None:
            try:
                await http.request(ctx, "POST", base + path, lane=lane, budget=budget, json={})
            except PlatformError:
                pass  # unauthenticated: the sandbox answers 401; only the timing matters here

        polls = [asyncio.create_task(call("/order/getOrdersForApi", Lane.POLL)) for _ in range(30)]
        await asyncio.sleep(0.01)  # the polls are queued before the commands arrive
        commands = [
            asyncio.create_task(call("/order/updateRefund", Lane.COMMAND)) for _ in range(6)
        ]
        await asyncio.gather(*polls, *commands)
        entries = list(sandbox.log.entries)
    times = sorted(e.at.timestamp() for e in entries)
    assert len(times) == 36
    for i, t in enumerate(times):
        in_window = [u for u in times[i:] if u < t + period]
        assert len(in_window) <= limit, f"{len(in_window)} requests within {period}s at {i}"
    order = [e.path for e in entries]
    last_command = max(i for i, p in enumerate(order) if p == "/order/updateRefund")
    assert last_command < 2 * limit, order  # served in the window after they arrived
    assert order[-1] == "/order/getOrdersForApi"
