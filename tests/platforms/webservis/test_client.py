"""The webservis client against its simulator over real HTTP on 127.0.0.1.

The client's own budget is generous here (the rate limiter has its own tests); the sandbox's
25-a-minute rule is switched off where a test needs more requests than that, and kept where
the test is about it. Nothing sleeps: the sandbox runs on a ManualClock.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
import pytest
from aiohttp import web
from multidict import CIMultiDict

from pipeline.adapter import Malformed
from pipeline.clock import ManualClock
from pipeline.errors import (
    AuthError,
    PlatformDecodeError,
    RateLimited,
    RejectedError,
    RetryableError,
)
from pipeline.http import HttpClient, HttpResponse, HttpSettings, RequestContext
from pipeline.platforms import webservis
from pipeline.platforms.webservis.client import WebservisClassifier, WebservisClient
from pipeline.platforms.webservis.sandbox import WebservisSandbox
from pipeline.ratelimit import RateBudget, RateLimit
from pipeline.sandbox import FaultRule, Order, SandboxSettings, ServedSandbox, serve
from schemas import (
    AttachInvoice,
    DecideCancellation,
    DecideRefund,
    OrderStatus,
    Outcome,
    SetStatus,
    Ship,
)
from schemas import Order as CanonicalOrder

START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
CREDENTIALS = {"api_key": "sandbox-api_key", "api_secret": "sandbox-api_secret"}
FAR_PAST = START - dt.timedelta(days=30)
FAR_FUTURE = START + dt.timedelta(days=30)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def sandbox(clock: ManualClock) -> WebservisSandbox:
    box = WebservisSandbox(clock=clock, settings=SandboxSettings(seed=11, initial_orders=60))
    box.limits.rules.clear()  # tests of the limit put it back
    return box


@pytest.fixture
async def served(sandbox: WebservisSandbox) -> AsyncIterator[ServedSandbox]:
    async with serve([sandbox], shutdown_timeout=1.0) as running:
        yield running[0]


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    async with HttpClient(HttpSettings(total=2, sock_read=1, connect=1)) as client:
        yield client


@pytest.fixture
def make_client(served: ServedSandbox, http: HttpClient) -> Callable[..., WebservisClient]:
    def make(**kw: Any) -> WebservisClient:
        options: dict[str, Any] = {
            "account": "main",
            "base_url": served.base_url,
            "credentials": CREDENTIALS,
            "http": http,
            "budget": RateBudget(RateLimit.from_config(per_minute=100_000)),
            **kw,
        }
        return WebservisClient(**options)

    return make


def list_calls(sandbox: WebservisSandbox) -> list[dict[str, str]]:
    return [dict(e.query) for e in sandbox.log.entries if e.path.endswith("/order/lists")]


def show_calls(sandbox: WebservisSandbox) -> list[str]:
    return [e.path.rsplit("/", 1)[1] for e in sandbox.log.entries if "/order/show/" in e.path]


async def collect(records: AsyncIterator[Any]) -> list[Any]:
    return [record async for record in records]


def test_spec_declares_no_commands_and_only_orders() -> None:
    spec = webservis.SPEC
    assert spec.id == "webservis" and spec.credential_keys == {"api_key", "api_secret"}
    caps = spec.capabilities
    assert caps.commands == frozenset() and caps.streams == {"orders"}
    assert caps.sweep == "updated_since" and caps.page_size == 100 and caps.max_window is None
    assert spec.default_limit == RateLimit.from_config(per_minute=25)


async def test_window_pages_through_many_pages(sandbox, make_client) -> None:
    client = make_client(page_size=7)
    orders = await collect(client.fetch_orders(FAR_PAST, FAR_FUTURE))
    truth = sandbox.world.orders
    assert [o.order_id for o in orders] == [str(o.number) for o in truth]
    assert all(isinstance(o, CanonicalOrder) for o in orders)
    calls = list_calls(sandbox)
    assert [c["pageStart"] for c in calls] == [str(n) for n in range(0, 60, 7)]
    assert {(c["pageSize"], c["orderBy"], c["sort"]) for c in calls} == {("7", "id", "asc")}
    assert show_calls(sandbox) == [str(o.number) for o in truth]  # one detail per order
    assert client.requests_sent == len(calls) + 60


async def test_a_full_last_page_at_total_needs_no_extra_request(sandbox, make_client) -> None:
    client = make_client(page_size=20, detail_cache=0)
    assert len(await collect(client.fetch_orders(FAR_PAST, FAR_FUTURE))) == 60
    assert [c["pageStart"] for c in list_calls(sandbox)] == ["0", "20", "40"]


async def test_mapped_order_matches_the_ground_truth(sandbox, make_client) -> None:
    sandbox.advance(4 * 86400)
    truth = next(o for o in sandbox.world.orders if o.status == "3")
    order = await make_client().fetch_order(str(truth.number))
    assert order is not None
    assert order.order_number == truth.id and order.status is OrderStatus.SHIPPED
    assert order.totals.grand_total.amount == truth.totals.total
    assert order.created_at == truth.created_at.replace(microsecond=0)
    assert [line.quantity for line in order.items] == [i.quantity for i in truth.items]
    assert order.shipments and order.shipments[0].tracking_number
    assert order.customer is not None and order.customer.email == truth.buyer.email


async def test_adjacent_windows_partition_the_orders(sandbox, make_client) -> None:
    client = make_client(page_size=100)
    middle = sandbox.world.orders[29].created_at
    first = await collect(client.fetch_orders(FAR_PAST, middle))
    second = await collect(client.fetch_orders(middle, FAR_FUTURE))
    ids = [o.order_id for o in first + second]
    assert ids == [str(o.number) for o in sandbox.world.orders]
    assert all(o.created_at < middle for o in first)
    call = list_calls(sandbox)[0]
    assert call["endDate"] == (middle.astimezone(webservis.sandbox.ISTANBUL) + dt.timedelta(
        seconds=1 if middle.microsecond else 0
    )).strftime("%Y-%m-%d %H:%M:%S")  # fmt: skip


async def test_updated_since_stops_at_the_cursor(sandbox, make_client) -> None:
    client = make_client(page_size=5)
    since = sorted(o.updated_at for o in sandbox.world.orders)[-12]
    changed = await collect(client.fetch_updated(since))
    expected = sorted(
        (
            o
            for o in sandbox.world.orders
            if o.updated_at.replace(microsecond=0) >= since.replace(microsecond=0)
        ),
        key=lambda o: (o.updated_at, o.number),
        reverse=True,
    )
    assert [o.order_id for o in changed] == [str(o.number) for o in expected]
    calls = list_calls(sandbox)
    assert {(c["orderBy"], c["sort"]) for c in calls} == {("updatedAt", "desc")}
    assert len(calls) == 3  # 12 changed orders at 5 a page: the third page holds the cursor
    assert len(show_calls(sandbox)) == len(expected)


async def test_sweep_after_time_passes_sees_only_what_changed(sandbox, make_client) -> None:
    client = make_client()
    sweep_start = sandbox.clock.now()
    await collect(client.fetch_updated(START - dt.timedelta(days=1)))
    sandbox.advance(6 * 3600)
    moved = [o for o in sandbox.world.orders if o.updated_at >= sweep_start]
    assert moved
    sandbox.log.clear()
    again = await collect(client.fetch_updated(sweep_start))
    assert {o.order_id for o in again} == {str(o.number) for o in moved}
    assert {o.order_id: o.raw_status for o in again} == {str(o.number): o.status for o in moved}
    assert len(list_calls(sandbox)) == 1


async def test_detail_cache_skips_unchanged_orders(sandbox, make_client) -> None:
    client = make_client()
    await collect(client.fetch_orders(FAR_PAST, FAR_FUTURE))
    sandbox.log.clear()
    sandbox.advance(3 * 3600)
    changed = {o.number for o in sandbox.world.orders if o.updated_at > START}
    second = await collect(client.fetch_orders(FAR_PAST, FAR_FUTURE))
    assert len(second) == 60 and 0 < len(changed) < 60
    assert sorted(show_calls(sandbox), key=int) == sorted(str(n) for n in changed)
    assert client.cache_hits == 60 - len(changed)
    truth = {str(o.number): o.status for o in sandbox.world.orders}
    assert {o.order_id: o.raw_status for o in second} == truth


async def test_without_a_cache_every_order_is_fetched_again(sandbox, make_client) -> None:
    client = make_client(detail_cache=0)
    await collect(client.fetch_orders(FAR_PAST, FAR_FUTURE))
    await collect(client.fetch_orders(FAR_PAST, FAR_FUTURE))
    assert len(show_calls(sandbox)) == 120 and client.cache_hits == 0


async def test_fetch_order_by_id(sandbox, make_client) -> None:
    client = make_client()
    assert (await client.fetch_order("7")) is not None
    assert await client.fetch_order("999") is None
    before = len(sandbox.log)
    assert await client.fetch_order("SP123") is None and await client.fetch_order("0") is None
    assert len(sandbox.log) == before  # not an id: no request


async def test_refunds_and_cancellations_are_empty_without_requests(sandbox, make_client) -> None:
    client = make_client()
    assert await collect(client.fetch_refunds(FAR_PAST, FAR_FUTURE)) == []
    assert await collect(client.fetch_cancellations(FAR_PAST, FAR_FUTURE)) == []
    assert len(sandbox.log) == 0


async def test_every_command_is_unsupported_without_a_request(sandbox, make_client) -> None:
    common = {"platform": "webservis", "account": "main", "order_id": "1", "issued_at": START}
    commands = [
        SetStatus(command_id="c1", status=OrderStatus.PREPARING, **common),
        Ship(command_id="c2", carrier="Yurtiçi Kargo", tracking_number="123", **common),
        AttachInvoice(command_id="c3", url="https://example.com/f.pdf", **common),
        DecideRefund(command_id="c4", refund_id="r1", decision="approve", **common),
        DecideCancellation(command_id="c5", cancellation_id="x1", decision="reject", **common),
    ]
    before = msgspec.json.encode(sandbox.world.snapshot())
    results = await make_client().apply(commands)
    assert [r.command_id for r in results] == ["c1", "c2", "c3", "c4", "c5"]
    assert {r.outcome for r in results} == {Outcome.UNSUPPORTED}
    assert all(r.message and r.requests == 0 for r in results)
    assert len(sandbox.log) == 0
    assert msgspec.json.encode(sandbox.world.snapshot()) == before


# -- refusals and faults ---------------------------------------------------------------------


async def test_the_shops_limit_becomes_rate_limited(sandbox, make_client) -> None:
    sandbox.limits.rules[:] = sandbox.rate_limit_rules()
    client = make_client(page_size=100)
    with pytest.raises(RateLimited) as info:
        await collect(client.fetch_orders(FAR_PAST, FAR_FUTURE))
    assert info.value.retry_after == 60.0 and info.value.platform_code == "AUTH004"
    assert client.requests_sent == 26  # the 26th answer was the refusal


async def test_bad_credentials_are_an_auth_error_without_the_secret(served, http, caplog) -> None:
    secret = "ws-secret-9f8e7d6c5b"
    client = WebservisClient(
        account="main",
        base_url=served.base_url,
        credentials={"api_key": "ws-key-1a2b3c4d5e", "api_secret": secret},
        http=http,
        budget=RateBudget(RateLimit.from_config(per_minute=1000)),
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as info:
        await client.fetch_order("1")
    assert info.value.platform_code == "AUTH002"
    assert info.value.platform_message == "Geçersiz web servis kullanıcısı"
    for text in (str(info.value), caplog.text, repr(info.value.__dict__)):
        assert secret not in text and "ws-key-1a2b3c4d5e" not in text


async def test_missing_permission_is_an_auth_error(sandbox, make_client) -> None:
    sandbox.tenant.data["permissions"] = {"order/lists"}
    with pytest.raises(AuthError, match="AUTH006"):
        await collect(make_client().fetch_orders(FAR_PAST, FAR_FUTURE))


async def test_wrong_base_path_is_a_rejection(served, make_client) -> None:
    client = make_client(base_url=served.base_url + "/v3")
    with pytest.raises(RejectedError) as info:
        await client.fetch_order("1")
    assert info.value.platform_code == "AUTH005" and not info.value.retriable


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        (FaultRule(kind="status", status=503, times=1), RetryableError),
        (FaultRule(kind="html_error", status=502, times=1), RetryableError),
        (FaultRule(kind="malformed_json", path="order/lists", times=1), PlatformDecodeError),
    ],
)
async def test_edge_faults_are_typed_errors(sandbox, make_client, rule, error) -> None:
    sandbox.faults.add(rule)
    with pytest.raises(error):
        await collect(make_client().fetch_orders(FAR_PAST, FAR_FUTURE))


async def test_429_with_retry_after_is_honoured(sandbox, make_client) -> None:
    sandbox.faults.add(FaultRule(kind="rate_limited", retry_after=7, times=1))
    with pytest.raises(RateLimited) as info:
        await make_client().fetch_order("1")
    assert info.value.retry_after == 7.0


async def test_a_timeout_ends_clearly(served, sandbox) -> None:
    sandbox.faults.add(FaultRule(kind="timeout", times=1))
    async with HttpClient(HttpSettings(total=0.5, sock_read=0.3, connect=0.3)) as quick:
        client = WebservisClient(
            account="main",
            base_url=served.base_url,
            credentials=CREDENTIALS,
            http=quick,
            budget=RateBudget(RateLimit.from_config(per_minute=1000)),
        )
        with pytest.raises(RetryableError, match="timed out"):
            await client.fetch_order("1")


async def test_a_malformed_detail_is_reported_and_the_rest_delivered(sandbox, make_client) -> None:
    real = sandbox.render

    def render(tenant: Any, order: Order) -> dict[str, Any]:
        result = real(tenant, order)
        if order.number == 5:
            result["order"]["createdAt"] = "yarın"
        if order.number == 9:
            result["products"][0]["quantity"] = 1.5
        return result

    sandbox.render = render  # type: ignore[method-assign]
    records = await collect(make_client().fetch_orders(FAR_PAST, FAR_FUTURE))
    bad = [r for r in records if isinstance(r, Malformed)]
    assert [(m.record_id, m.endpoint, m.stream) for m in bad] == [
        ("5", "order/show", "orders"),
        ("9", "order/show", "orders"),
    ]
    assert "createdAt" in bad[0].error and "quantity" in bad[1].error
    assert len(records) == 60


async def test_a_malformed_row_is_reported_and_the_rest_delivered(sandbox, make_client) -> None:
    real = sandbox._row

    def row(order: Order) -> dict[str, Any]:
        out = real(order)
        if order.number == 3:
            out["id"] = "x3"
        return out

    sandbox._row = row  # type: ignore[method-assign]
    records = await collect(make_client().fetch_orders(FAR_PAST, FAR_FUTURE))
    assert [r.record_id for r in records if isinstance(r, Malformed)] == ["x3"]
    assert len([r for r in records if isinstance(r, CanonicalOrder)]) == 59


async def test_a_listed_order_that_show_does_not_know_is_reported(sandbox, make_client) -> None:
    world = sandbox.world
    real = world.by_number
    world.by_number = lambda number: None if number == 4 else real(number)  # type: ignore[method-assign]
    records = await collect(make_client().fetch_orders(FAR_PAST, FAR_FUTURE))
    (bad,) = [r for r in records if isinstance(r, Malformed)]
    assert bad.record_id == "4" and "ORDERSHOW001" in bad.error


class LoopingSandbox(WebservisSandbox):
    """A broken server that ignores ``pageStart``."""

    async def list_orders(self, request: web.Request) -> web.Response:
        return await super().list_orders(
            request.clone(
                rel_url=request.rel_url.with_query(
                    {k: v for k, v in request.query.items() if k != "pageStart"}
                )
            )
        )


async def test_a_paging_loop_is_an_error_not_an_endless_poll(clock, http) -> None:
    looping = LoopingSandbox(clock=clock, settings=SandboxSettings(seed=2, initial_orders=30))
    looping.limits.rules.clear()
    async with serve([looping], shutdown_timeout=1.0) as running:
        client = WebservisClient(
            account="main",
            base_url=running[0].base_url,
            credentials=CREDENTIALS,
            http=http,
            budget=RateBudget(RateLimit.from_config(per_minute=100_000)),
            page_size=10,
        )
        with pytest.raises(PlatformDecodeError, match="paging loop"):
            await collect(client.fetch_orders(FAR_PAST, FAR_FUTURE))
    assert len(list_calls(looping)) == 2


def test_page_size_above_the_documented_maximum_is_refused(served, http) -> None:
    with pytest.raises(ValueError, match="page_size"):
        WebservisClient(
            account="main",
            base_url=served.base_url,
            credentials=CREDENTIALS,
            http=http,
            budget=RateBudget(RateLimit.from_config(per_minute=25)),
            page_size=101,
        )


# -- the classifier on its own ---------------------------------------------------------------

CTX = RequestContext("webservis", "main", "order/lists")


def _response(
    body: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    return HttpResponse(
        status=status,
        headers=CIMultiDict(headers or {}),
        body=body,
        elapsed=0.0,
        path="/api/v2/order/lists",
        received_at=START,
    )


@pytest.mark.parametrize(
    ("code", "status", "error", "retriable"),
    [
        ("AUTH001", 200, AuthError, False),
        ("AUTH002", 200, AuthError, False),
        ("AUTH003", 200, AuthError, False),
        ("AUTH004", 200, RateLimited, True),
        ("AUTH005", 200, RejectedError, False),
        ("AUTH006", 200, AuthError, False),
        ("ORDERSHOW001", 200, RejectedError, False),
        ("PRODUCTSAVE004", 200, RejectedError, False),
        ("SOMETHINGNEW001", 200, RejectedError, False),
        ("AUTH002", 401, AuthError, False),
        ("ORDERSHOW001", 404, RejectedError, False),
        ("AUTH004", 503, RetryableError, True),
    ],
)
def test_every_code_is_a_typed_error(code, status, error, retriable) -> None:
    body = msgspec.json.encode({"code": code, "message": None, "result": None})
    with pytest.raises(error) as info:
        WebservisClassifier().classify(CTX, _response(body, status))
    assert type(info.value) is error and info.value.retriable is retriable
    if status < 500:
        assert info.value.platform_code == code
        described = webservis.payloads.RESPONSE_CODES.get(code)
        if described and error is not RateLimited:
            assert info.value.platform_message == described  # the document's words
    if error is RateLimited:
        assert info.value.retry_after == 60.0


def test_the_vendors_message_is_kept_verbatim_and_retry_after_honoured() -> None:
    body = msgspec.json.encode({"code": "ORDERSHOW001", "message": "Sipariş bulunamadı (#3)"})
    with pytest.raises(RejectedError) as info:
        WebservisClassifier().classify(CTX, _response(body))
    assert info.value.platform_message == "Sipariş bulunamadı (#3)"
    limited = _response(b'{"code": "AUTH004"}', headers={"Retry-After": "12"})
    with pytest.raises(RateLimited) as over:
        WebservisClassifier().classify(CTX, limited)
    assert over.value.retry_after == 12.0


@pytest.mark.parametrize("body", [b'{"code": "SUCCESS", "result": {}}', b"<html></html>", b"{"])
def test_success_and_non_envelopes_pass_the_classifier(body: bytes) -> None:
    WebservisClassifier().classify(CTX, _response(body))  # decode() judges the shape later
