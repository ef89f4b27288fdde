"""The E-Çarşı client against its simulator over real HTTP: paging, costs, commands, faults."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from pipeline.adapter import Malformed
from pipeline.clock import ManualClock
from pipeline.errors import (
    AuthError,
    PlatformDecodeError,
    RateLimited,
    RejectedError,
    RetryableError,
)
from pipeline.http import HttpClient, HttpSettings
from pipeline.platforms.ecarsi import SPEC
from pipeline.platforms.ecarsi.client import EcarsiClient
from pipeline.platforms.ecarsi.mapping import SHIPPED_OR_LATER
from pipeline.platforms.ecarsi.sandbox import EcarsiSandbox
from pipeline.ratelimit import RateBudget, RateLimit
from pipeline.sandbox import (
    FaultRule,
    Order,
    SandboxSettings,
    ServedSandbox,
    Tenant,
    local,
    serve,
)
from schemas import (
    AttachInvoice,
    DecideCancellation,
    DecideRefund,
    Money,
    OrderStatus,
    Outcome,
    SetStatus,
    Ship,
)

START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
CREDENTIALS = {"email": "sandbox-email", "password": "sandbox-password"}
WEEK_AGO = START - dt.timedelta(days=8)
SOON = START + dt.timedelta(minutes=1)


class RoomySandbox(EcarsiSandbox):
    """Limits out of the way: these tests are about paging and commands."""

    per_ip_per_minute = 100_000
    per_token_per_day = 100_000


@pytest.fixture
def sandbox(clock: ManualClock) -> EcarsiSandbox:
    return RoomySandbox(clock=clock, settings=SandboxSettings(seed=1, initial_orders=60))


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    async with HttpClient(HttpSettings(total=2, sock_read=1, connect=1)) as client:
        yield client


@pytest.fixture
async def quick_http() -> AsyncIterator[HttpClient]:
    """Gives up on a held answer after 0.3 s (timeout faults hold for an hour)."""
    async with HttpClient(HttpSettings(total=1, sock_read=0.3, connect=0.3)) as client:
        yield client


def make(served: ServedSandbox, http: HttpClient, clock: ManualClock, **kw: Any) -> EcarsiClient:
    budget = kw.pop("budget", None) or RateBudget(RateLimit.from_config(per_minute=100_000))
    options: dict[str, Any] = {"credentials": CREDENTIALS, **kw}
    return EcarsiClient(
        account="main", base_url=served.base_url, http=http, budget=budget, now=clock.now, **options
    )


@pytest.fixture
def client(served: ServedSandbox, http: HttpClient, clock: ManualClock) -> EcarsiClient:
    return make(served, http, clock)


def routes(sandbox: EcarsiSandbox) -> list[str]:
    return [f"{e.method} {e.route}" for e in sandbox.log.entries]


def ship(order_id: str, **kw: Any) -> Ship:
    fields: dict[str, Any] = {"carrier": "Yurtiçi Kargo", "tracking_number": "TRK1", "desi": 2}
    fields.update(kw)
    return Ship(
        command_id=f"cmd-{order_id}",
        platform="ecarsi",
        account="main",
        order_id=order_id,
        issued_at=START,
        **fields,
    )


def shipments(sandbox: EcarsiSandbox, order_id: str) -> list[dict[str, Any]]:
    made: list[dict[str, Any]] = sandbox.tenant.data["shipments"].get(order_id, [])
    return made


def fresh(sandbox: EcarsiSandbox) -> Order:
    (order,) = sandbox.world.spawn(1)
    return order


def test_spec_declares_the_documented_limits_and_capabilities() -> None:
    assert SPEC.credential_keys == {"email", "password"}
    windows = {(w.limit, w.period, w.shared) for w in SPEC.default_limit.windows}
    assert windows == {(60, 60.0, True), (1000, 86400.0, False)}
    assert SPEC.capabilities.commands == {"order.ship"}
    assert SPEC.capabilities.streams == {"orders"}
    assert SPEC.capabilities.page_size == 100


# -- polling ----------------------------------------------------------------------------------


async def test_poll_pages_through_the_list_and_reads_each_order_once(
    served: ServedSandbox, sandbox: EcarsiSandbox, http: HttpClient, clock: ManualClock
) -> None:
    client = make(served, http, clock, page_size=7)
    got = [o async for o in client.fetch_orders(WEEK_AGO, SOON)]
    assert not [o for o in got if isinstance(o, Malformed)]
    world = {o.id: o for o in sandbox.world.orders}
    assert sorted(o.order_id for o in got if not isinstance(o, Malformed)) == sorted(world)
    pages = math.ceil(60 / 7)
    log = routes(sandbox)
    assert log.count("GET /api/orders") == pages
    assert log.count("GET /api/orders/{order_id}") == 60
    assert log.count("POST /api/auth") == 1
    first = dict(sandbox.log.entries[1].query)
    day_before = (local(WEEK_AGO).date() - dt.timedelta(days=1)).strftime("%d.%m.%Y")
    assert first == {"page": "1", "per_page": "7", "date": day_before, "date_mode": "after"}
    sample = next(o for o in got if not isinstance(o, Malformed))
    truth = world[sample.order_id]
    assert sample.totals.grand_total == Money.of(truth.totals.total)
    assert len(sample.items) == len(truth.items) and sample.raw_status == truth.status
    assert sample.created_at == truth.created_at.replace(microsecond=0)

    # The next poll: statuses moved, totals did not. List pages, plus one detail for each order
    # that reached shipping (its tracking number shows in the detail only); statuses from the list.
    shipped = SHIPPED_OR_LATER
    not_yet = {o.id for o in sandbox.world.orders if o.status not in shipped}
    sandbox.advance(2 * 86400)
    newly = {o.id for o in sandbox.world.orders if o.status in shipped} & not_yet
    assert newly
    before = len(sandbox.log.entries)
    again = [o async for o in client.fetch_orders(WEEK_AGO, SOON)]
    later = sandbox.log.entries[before:]
    assert [e.route for e in later].count("/api/orders") == pages
    assert {e.path.rsplit("/", 1)[1] for e in later if e.route != "/api/orders"} == newly
    assert len(later) == pages + len(newly)
    assert {o.order_id: o.raw_status for o in again if not isinstance(o, Malformed)} == {
        o.id: o.status for o in sandbox.world.orders
    }
    assert sum(1 for o in again if not isinstance(o, Malformed) and o.items) == 60


async def test_window_keeps_orders_created_inside_it(
    served: ServedSandbox, sandbox: EcarsiSandbox, client: EcarsiClient
) -> None:
    orders = sandbox.world.orders
    # The platform reports whole seconds: windows are compared with what it reports.
    lo, hi = (orders[n].created_at.replace(microsecond=0) for n in (20, 40))
    got = [o async for o in client.fetch_orders(lo, hi)]
    assert [o.order_id for o in got if not isinstance(o, Malformed)] == [
        o.id for o in reversed(orders[20:40])
    ]
    assert routes(sandbox).count("GET /api/orders") == 1  # per_page=100: one page
    assert routes(sandbox).count("GET /api/orders/{order_id}") == 20


async def test_without_details_the_list_alone_is_used(
    served: ServedSandbox, sandbox: EcarsiSandbox, http: HttpClient, clock: ManualClock
) -> None:
    client = make(served, http, clock, details=False)
    got = [o async for o in client.fetch_orders(WEEK_AGO, SOON)]
    assert len(got) == 60 and "GET /api/orders/{order_id}" not in routes(sandbox)
    truth = {o.id: o for o in sandbox.world.orders}
    for order in got:
        assert not isinstance(order, Malformed)
        assert order.items == () and order.shipping_address is None
        assert order.totals.grand_total.amount == truth[order.order_id].totals.total


async def test_fetch_order_costs_one_request(
    served: ServedSandbox, sandbox: EcarsiSandbox, client: EcarsiClient
) -> None:
    target = sandbox.world.orders[5]
    order = await client.fetch_order(target.id)
    assert order is not None and order.order_id == target.id
    assert order.customer is not None and order.customer.email == target.buyer.email
    assert routes(sandbox) == ["POST /api/auth", "GET /api/orders/{order_id}"]
    assert await client.fetch_order("999") is None
    sandbox.faults.add(FaultRule("html_error", status=404, times=1))
    with pytest.raises(RejectedError):  # a 404 page from a proxy is not "no such order"
        await client.fetch_order(target.id)


async def test_refunds_and_cancellations_are_empty_streams(
    served: ServedSandbox, sandbox: EcarsiSandbox, client: EcarsiClient
) -> None:
    assert [r async for r in client.fetch_refunds(WEEK_AGO, SOON)] == []
    assert [c async for c in client.fetch_cancellations(WEEK_AGO, SOON)] == []
    assert sandbox.log.entries == []


async def test_a_malformed_row_or_detail_is_reported_and_the_rest_arrive(
    served: ServedSandbox, sandbox: EcarsiSandbox, client: EcarsiClient
) -> None:
    bad_row, bad_detail = sandbox.world.orders[3].id, sandbox.world.orders[7].id
    render_row, render_order = sandbox.render_row, sandbox.render_order

    def row(order: Order) -> dict[str, Any]:
        shown = render_row(order)
        return {**shown, "order_date": "dün"} if order.id == bad_row else shown

    def detail(tenant: Tenant, order: Order) -> dict[str, Any]:
        shown = render_order(tenant, order)
        return {**shown, "totals": {"total": "çok"}} if order.id == bad_detail else shown

    sandbox.render_row = row  # type: ignore[method-assign]
    sandbox.render_order = detail  # type: ignore[method-assign]
    got = [o async for o in client.fetch_orders(WEEK_AGO, SOON)]
    broken = {m.record_id: m for m in got if isinstance(m, Malformed)}
    assert set(broken) == {bad_row, bad_detail}
    assert "order_date" in broken[bad_row].error and "totals" in broken[bad_detail].error
    assert len(got) == 60


class LoopingSandbox(RoomySandbox):
    """Ignores ``page`` (always answers page 1), optionally claiming the page asked for."""

    claim_page = True

    async def list_orders(self, request: web.Request, tenant: Tenant) -> web.Response:
        first = request.clone(rel_url=request.rel_url.update_query(page="1"))
        response = await super().list_orders(first, tenant)
        assert isinstance(response.body, bytes)
        doc = json.loads(response.body)
        if self.claim_page:
            doc["data"]["pagination"]["current_page"] = int(request.query["page"])
        return self.json(doc)


@pytest.mark.parametrize(("claim", "error"), [(True, "paging loop"), (False, "asked page 2")])
async def test_a_list_that_ignores_page_is_a_paging_error(
    clock: ManualClock, http: HttpClient, claim: bool, error: str
) -> None:
    sandbox = LoopingSandbox(clock=clock, settings=SandboxSettings(seed=1, initial_orders=30))
    sandbox.claim_page = claim
    async with serve([sandbox], shutdown_timeout=1.0) as served:
        client = make(served[0], http, clock, page_size=10, details=False)
        with pytest.raises(PlatformDecodeError, match=error):
            _ = [o async for o in client.fetch_orders(WEEK_AGO, SOON)]


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (FaultRule("status", path="/orders$", status=503, times=1), RetryableError),
        (FaultRule("html_error", path="/orders$", times=1), RetryableError),
        (FaultRule("malformed_json", path="/orders$", times=1), PlatformDecodeError),
        (FaultRule("rate_limited", path="/orders$", retry_after=7, times=1), RateLimited),
    ],
)
async def test_poll_faults_are_typed_errors_and_the_next_poll_works(
    served: ServedSandbox,
    sandbox: EcarsiSandbox,
    http: HttpClient,
    clock: ManualClock,
    fault: FaultRule,
    error: type[Exception],
) -> None:
    budget = RateBudget(RateLimit.from_config(per_minute=100_000))
    client = make(served, http, clock, budget=budget)
    sandbox.faults.add(fault)
    with pytest.raises(error) as caught:
        _ = [o async for o in client.fetch_orders(WEEK_AGO, SOON)]
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 7
        assert budget.usage().blocked_for > 6  # the budget holds the account back
        client = make(served, http, clock)  # (a fresh budget, rather than waiting 7 s)
    assert len([o async for o in client.fetch_orders(WEEK_AGO, SOON)]) == 60


async def test_a_held_answer_ends_in_a_timeout_not_a_hang(
    served: ServedSandbox, sandbox: EcarsiSandbox, quick_http: HttpClient, clock: ManualClock
) -> None:
    client = make(served, quick_http, clock)
    sandbox.faults.add(FaultRule("timeout", path="/orders$", times=1))
    with pytest.raises(RetryableError, match="timed out"):
        _ = [o async for o in client.fetch_orders(WEEK_AGO, SOON)]


async def test_a_revoked_token_is_replaced_by_one_new_login(
    served: ServedSandbox, sandbox: EcarsiSandbox, client: EcarsiClient
) -> None:
    assert await client.fetch_order(sandbox.world.orders[0].id) is not None
    sandbox.faults.add(FaultRule("token_expiry", times=1))
    assert await client.fetch_order(sandbox.world.orders[0].id) is not None
    assert routes(sandbox).count("POST /api/auth") == 2
    assert [e.status for e in sandbox.log.entries] == [200, 200, 401, 200, 200]


async def test_the_vendors_own_429_is_rate_limited_with_its_retry_after(
    clock: ManualClock, http: HttpClient
) -> None:
    sandbox = EcarsiSandbox(clock=clock, settings=SandboxSettings(seed=1, initial_orders=5))
    async with serve([sandbox], shutdown_timeout=1.0) as served:
        client = make(served[0], http, clock)
        for _ in range(59):  # + the login = the minute's 60
            assert await client.fetch_order(sandbox.world.orders[0].id) is not None
        sandbox.advance(20)
        with pytest.raises(RateLimited) as caught:
            await client.fetch_order(sandbox.world.orders[0].id)
        assert caught.value.retry_after == 40 and caught.value.status == 429


async def test_wrong_credentials_are_an_auth_error_without_the_secret(
    served: ServedSandbox, http: HttpClient, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "hunter2-ecarsi-secret"
    client = make(served, http, clock, credentials={"email": "sandbox-email", "password": secret})
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as caught:
        await client.fetch_order("100001")
    assert caught.value.platform_message == "Şifre hatalı"
    assert caught.value.platform_code == "401"
    assert secret not in str(caught.value) and secret not in caplog.text


async def test_secrets_and_tokens_never_reach_logs_or_errors(
    served: ServedSandbox,
    sandbox: EcarsiSandbox,
    client: EcarsiClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    _ = [o async for o in client.fetch_orders(WEEK_AGO, SOON)]
    sandbox.faults.add(FaultRule("malformed_json", times=1))
    with pytest.raises(PlatformDecodeError) as caught:
        await client.fetch_order(sandbox.world.orders[0].id)
    texts = caplog.text + str(caught.value)
    (token,) = sandbox.tokens.issued
    assert token.value not in texts and CREDENTIALS["password"] not in texts


# -- commands ---------------------------------------------------------------------------------


async def test_ship_applies_once_and_a_repeat_is_already_applied(
    served: ServedSandbox, sandbox: EcarsiSandbox, client: EcarsiClient
) -> None:
    order = fresh(sandbox)
    (result,) = await client.apply([ship(order.id)])
    assert result.outcome is Outcome.APPLIED, result
    assert result.message is not None and result.message.startswith(
        "Kargo kaydı başarıyla oluşturuldu"
    )
    assert result.requests == 3  # carriers, pre-read, write
    assert order.status == "shipped"
    assert [(s["company_id"], s["desi"]) for s in shipments(sandbox, order.id)] == [(1, 2)]
    (again,) = await client.apply([ship(order.id)])
    assert (again.outcome, again.requests) == (Outcome.ALREADY_APPLIED, 1)
    assert len(shipments(sandbox, order.id)) == 1
    canonical = await client.fetch_order(order.id)
    assert canonical is not None and canonical.status is OrderStatus.SHIPPED
    assert [s.tracking_number for s in canonical.shipments] == ["TRK1"]


async def test_a_write_whose_answer_is_lost_is_found_and_never_doubled(
    served: ServedSandbox, sandbox: EcarsiSandbox, quick_http: HttpClient, clock: ManualClock
) -> None:
    client = make(served, quick_http, clock)
    order = fresh(sandbox)
    sandbox.faults.add(
        FaultRule("timeout", method="POST", path="/shipping$", times=1, applied=True)
    )
    (result,) = await client.apply([ship(order.id)])
    assert result.outcome is Outcome.ALREADY_APPLIED, result
    assert result.requests == 4  # carriers, pre-read, write (lost), read again
    assert len(shipments(sandbox, order.id)) == 1
    # The applier's retry of the same command: the pre-read finds it, nothing is sent.
    (retry,) = await client.apply([ship(order.id)])
    assert (retry.outcome, retry.requests) == (Outcome.ALREADY_APPLIED, 1)
    assert len(shipments(sandbox, order.id)) == 1
    writes = [w for w in sandbox.world.writes if w.kind == "ship"]
    assert len(writes) == 1


async def test_a_write_lost_before_it_happened_fails_retriably_then_applies(
    served: ServedSandbox, sandbox: EcarsiSandbox, quick_http: HttpClient, clock: ManualClock
) -> None:
    client = make(served, quick_http, clock)
    order = fresh(sandbox)
    sandbox.faults.add(FaultRule("timeout", method="POST", path="/shipping$", times=1))
    (result,) = await client.apply([ship(order.id)])
    assert (result.outcome, result.retriable) == (Outcome.FAILED, True)
    assert result.error is not None and "timed out" in result.error
    assert shipments(sandbox, order.id) == []
    (retry,) = await client.apply([ship(order.id)])
    assert retry.outcome is Outcome.APPLIED and len(shipments(sandbox, order.id)) == 1


async def test_a_429_on_the_write_fails_retriably_without_a_second_read(
    served: ServedSandbox, sandbox: EcarsiSandbox, client: EcarsiClient
) -> None:
    order = fresh(sandbox)
    sandbox.faults.add(FaultRule("rate_limited", path="/shipping$", retry_after=0, times=1))
    (result,) = await client.apply([ship(order.id)])
    assert (result.outcome, result.retriable, result.requests) == (Outcome.FAILED, True, 3)


@pytest.mark.parametrize(
    ("changes", "default_desi", "outcome"),
    [
        ({"desi": 101}, None, Outcome.INVALID),
        ({"desi": None}, None, Outcome.INVALID),
        ({"desi": None}, 4, Outcome.APPLIED),
        ({"item_ids": ("1",)}, None, Outcome.UNSUPPORTED),
    ],
)
async def test_desi_and_items_are_checked_before_any_request(
    served: ServedSandbox,
    sandbox: EcarsiSandbox,
    http: HttpClient,
    clock: ManualClock,
    changes: dict[str, Any],
    default_desi: int | None,
    outcome: Outcome,
) -> None:
    client = make(served, http, clock, default_desi=default_desi)
    order = fresh(sandbox)
    (result,) = await client.apply([ship(order.id, **changes)])
    assert result.outcome is outcome, result
    if outcome is Outcome.APPLIED:
        assert [s["desi"] for s in shipments(sandbox, order.id)] == [default_desi]
    else:
        assert sandbox.log.entries == [] and result.requests == 0


@pytest.mark.parametrize(
    ("changes", "company"),
    [
        ({"carrier": "aras"}, 2),
        ({"carrier": "MNG KARGO"}, 3),
        ({"carrier": "whatever", "carrier_code": "4"}, 4),
        ({"carrier": "trendyol_express"}, 6),
        ({"carrier": "DHL"}, None),
        ({"carrier": "Yurtiçi", "carrier_code": "42"}, None),
    ],
)
async def test_carriers_are_resolved_through_the_company_list(
    served: ServedSandbox,
    sandbox: EcarsiSandbox,
    client: EcarsiClient,
    changes: dict[str, Any],
    company: int | None,
) -> None:
    order = fresh(sandbox)
    (result,) = await client.apply([ship(order.id, **changes)])
    if company is None:
        assert result.outcome is Outcome.INVALID and "Yurtiçi Kargo" in (result.message or "")
        assert "POST /api/orders/{order_id}/shipping" not in routes(sandbox)
    else:
        assert result.outcome is Outcome.APPLIED
        assert [s["company_id"] for s in shipments(sandbox, order.id)] == [company]


async def test_the_platforms_refusals_are_rejected_with_its_words(
    served: ServedSandbox, sandbox: EcarsiSandbox, client: EcarsiClient
) -> None:
    delivered = next(o for o in sandbox.world.orders if o.status == "delivered")
    (result,) = await client.apply([ship(delivered.id)])
    assert result.outcome is Outcome.REJECTED
    assert result.message == "Sipariş durumu kargo kaydı oluşturmaya uygun değil"
    assert result.platform_code == "422"
    (missing,) = await client.apply([ship("999")])
    assert (missing.outcome, missing.message) == (Outcome.REJECTED, "Sipariş bulunamadı")


async def test_a_shipped_order_without_shipment_data_is_not_shipped_twice(
    served: ServedSandbox, sandbox: EcarsiSandbox, client: EcarsiClient
) -> None:
    shipped = next(o for o in sandbox.world.orders if o.status == "shipped")
    render = sandbox.render_order

    def without_shipments(tenant: Tenant, order: Order) -> dict[str, Any]:
        shown = render(tenant, order)
        del shown["shipments"]  # as the document prints an order
        return shown

    sandbox.render_order = without_shipments  # type: ignore[method-assign]
    (result,) = await client.apply([ship(shipped.id)])
    assert result.outcome is Outcome.ALREADY_APPLIED and "already shipped" in (result.message or "")
    assert "POST /api/orders/{order_id}/shipping" not in routes(sandbox)


async def test_other_commands_are_unsupported_without_a_request(
    served: ServedSandbox, sandbox: EcarsiSandbox, client: EcarsiClient
) -> None:
    common: dict[str, Any] = {
        "platform": "ecarsi",
        "account": "main",
        "order_id": "100001",
        "issued_at": START,
    }
    commands = [
        SetStatus(command_id="a", status=OrderStatus.PREPARING, **common),
        AttachInvoice(command_id="b", url="https://example.invalid/f.pdf", **common),
        DecideRefund(command_id="c", refund_id="r1", decision="approve", **common),
        DecideCancellation(command_id="d", cancellation_id="x", decision="reject", **common),
    ]
    results = await client.apply(commands)
    assert [r.command_id for r in results] == ["a", "b", "c", "d"]
    assert {r.outcome for r in results} == {Outcome.UNSUPPORTED}
    assert all(r.message and "e-Çarşı" in r.message for r in results)
    assert sandbox.log.entries == []
