"""The Softtr client against its sandbox over real HTTP on 127.0.0.1: paging, day windows,
details, batched status writes with per-order results, faults, and secrets."""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from pipeline.adapter import Malformed
from pipeline.errors import (
    AuthError,
    PlatformDecodeError,
    RateLimited,
    RejectedError,
    RetryableError,
)
from pipeline.http import HttpClient, HttpResponse, HttpSettings, RequestContext
from pipeline.platforms.softtr import sandbox as sandbox_module
from pipeline.platforms.softtr.client import (
    CAPABILITIES,
    SofttrClassifier,
    SofttrClient,
    request_days,
)
from pipeline.platforms.softtr.commands import SofttrCommands
from pipeline.platforms.softtr.sandbox import SofttrSandbox
from pipeline.ratelimit import RateBudget, RateLimit
from pipeline.retry import RetryPolicy, with_retries
from pipeline.sandbox import FaultRule, ServedSandbox
from schemas import (
    AttachInvoice,
    DecideCancellation,
    DecideRefund,
    Order,
    OrderStatus,
    Outcome,
    SetStatus,
    Ship,
)

MakeClient = Callable[..., SofttrClient]
START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
WEEK = (START - dt.timedelta(days=8), START)
S = OrderStatus


def status_cmd(order_id: str, status: OrderStatus, n: int = 0, **kw: Any) -> SetStatus:
    return SetStatus(
        command_id=f"c{n}",
        platform="softtr",
        account="main",
        order_id=order_id,
        issued_at=START,
        status=status,
        **kw,
    )


def ship_cmd(order_id: str, n: int = 0) -> Ship:
    return Ship(
        command_id=f"s{n}",
        platform="softtr",
        account="main",
        order_id=order_id,
        issued_at=START,
        carrier="Aras Kargo",
        tracking_number="1234567890",
    )


async def fetch(
    client: SofttrClient, start: dt.datetime, end: dt.datetime
) -> list[Order | Malformed]:
    return [record async for record in client.fetch_orders(start, end)]


def orders_of(records: list[Order | Malformed]) -> list[Order]:
    assert all(isinstance(r, Order) for r in records), [
        r for r in records if isinstance(r, Malformed)
    ]
    return [r for r in records if isinstance(r, Order)]


def calls(sandbox: SofttrSandbox, route: str) -> list[Any]:
    return [e for e in sandbox.log.entries if e.route == route]


# -- reads ---------------------------------------------------------------------------------------


async def test_paging_across_many_pages_delivers_every_order_once(
    served: ServedSandbox, sandbox: SofttrSandbox, make_client: MakeClient
) -> None:
    client = make_client(page_size=4)
    orders = orders_of(await fetch(client, *WEEK))
    assert sorted(o.order_id for o in orders) == sorted(o.id for o in sandbox.world.orders)
    lists = calls(sandbox, "/api/orders")
    assert len(lists) == 8  # 30 orders, 4 a page
    assert {dict(e.query)["pageSize"] for e in lists} == {"4"}
    assert [dict(e.query)["page"] for e in lists] == [str(n) for n in range(1, 9)]
    assert len(calls(sandbox, "/api/order/{orderno}")) == 30
    assert client.requests_sent == 38


async def test_window_is_whole_days_and_orders_outside_it_are_dropped_before_their_detail(
    served: ServedSandbox, sandbox: SofttrSandbox, make_client: MakeClient
) -> None:
    start = START - dt.timedelta(days=4, hours=3, minutes=13)  # 12.01 08:47 Istanbul
    end = START - dt.timedelta(days=1, hours=5)  # 14.01 07:00 Istanbul
    orders = orders_of(await fetch(make_client(), start, end))
    expected = sandbox.world.orders_between(start, end)
    assert sorted(o.order_id for o in orders) == sorted(o.id for o in expected) and expected
    (listing,) = calls(sandbox, "/api/orders")
    assert dict(listing.query) == {
        "pageSize": "100",
        "page": "1",
        "startDate": "11-01-2026",
        "endDate": "15-01-2026",
    }
    assert len(calls(sandbox, "/api/order/{orderno}")) == len(expected)


def test_request_days_cover_the_window_under_either_reading_of_end_date() -> None:
    istanbul_midnight = dt.datetime(2026, 1, 14, 21, 0, tzinfo=dt.UTC)  # 15.01 00:00 Istanbul
    assert request_days(istanbul_midnight - dt.timedelta(hours=1), istanbul_midnight) == (
        dt.date(2026, 1, 14),
        dt.date(2026, 1, 15),
    )
    assert request_days(istanbul_midnight, istanbul_midnight + dt.timedelta(seconds=1)) == (
        dt.date(2026, 1, 15),
        dt.date(2026, 1, 16),
    )
    with pytest.raises(ValueError, match="aware"):
        request_days(dt.datetime(2026, 1, 1), istanbul_midnight)


async def test_adjacent_windows_split_the_orders_exactly(
    served: ServedSandbox, sandbox: SofttrSandbox, make_client: MakeClient
) -> None:
    client = make_client(page_size=10)
    middle = START - dt.timedelta(days=3, minutes=17)
    first = orders_of(await fetch(client, WEEK[0], middle))
    second = orders_of(await fetch(client, middle, WEEK[1]))
    assert {o.order_id for o in first}.isdisjoint({o.order_id for o in second})
    assert len(first) + len(second) == 30 and first and second


async def test_orders_arriving_while_paging_are_neither_lost_nor_repeated(
    served: ServedSandbox, sandbox: SofttrSandbox, make_client: MakeClient
) -> None:
    seen: list[str] = []
    async for record in make_client(page_size=5).fetch_orders(*WEEK):
        assert isinstance(record, Order)
        seen.append(record.order_id)
        if len(seen) in (1, 12):
            sandbox.world.spawn(3)  # newest first: every page after this shifts by three
    assert sorted(seen) == sorted(o.id for o in sandbox.world.orders_between(*WEEK))
    assert len(seen) == len(set(seen)) == 30


async def test_empty_window_sends_nothing(
    served: ServedSandbox, sandbox: SofttrSandbox, make_client: MakeClient
) -> None:
    assert await fetch(make_client(), START, START) == []
    assert [r async for r in make_client().fetch_refunds(*WEEK)] == []
    assert [r async for r in make_client().fetch_cancellations(*WEEK)] == []
    assert len(sandbox.log) == 0
    assert CAPABILITIES.streams == frozenset({"orders"}) and not CAPABILITIES.has_status


async def test_fetch_order_gives_the_same_canonical_order_as_the_poll(
    served: ServedSandbox, sandbox: SofttrSandbox, make_client: MakeClient
) -> None:
    client = make_client(page_size=3)
    polled = {o.order_id: o for o in orders_of(await fetch(client, *WEEK))}
    corporate = next(o for o in sandbox.world.orders if o.buyer.kind == "corporate")
    individual = next(o for o in sandbox.world.orders if o.buyer.kind == "individual")
    for truth in (corporate, individual):
        single = await client.fetch_order(truth.id)
        assert single == polled[truth.id]
    assert polled[individual.id].billing is not None
    assert polled[individual.id].billing.national_id == individual.buyer.tc_kimlik
    assert polled[corporate.id].billing is not None
    assert polled[corporate.id].billing.tax_number == corporate.buyer.vkn
    before = len(sandbox.log)
    assert await client.fetch_order("not-a-softtr-number") is None
    assert len(sandbox.log) == before
    assert await client.fetch_order("01012026000000-ZZZ") is None


async def test_canonical_money_matches_the_ground_truth(
    served: ServedSandbox, sandbox: SofttrSandbox, make_client: MakeClient
) -> None:
    for order in orders_of(await fetch(make_client(), *WEEK)):
        truth = sandbox.world.get(order.order_id)
        assert truth is not None
        assert order.totals.grand_total.amount == truth.totals.subtotal - truth.totals.discount
        assert (
            order.totals.shipping is not None
            and order.totals.shipping.amount == truth.totals.shipping_fee
        )
        assert [i.unit_price.amount for i in order.items] == [i.unit_price for i in truth.items]
        assert order.created_at == truth.created_at


# -- writes --------------------------------------------------------------------------------------


async def test_thousand_status_commands_take_ten_calls_and_get_one_result_each(
    served: ServedSandbox, sandbox: SofttrSandbox, make_client: MakeClient
) -> None:
    spawned = sandbox.world.spawn(1000)
    client = make_client()
    commands = [status_cmd(o.id, S.PREPARING, n) for n, o in enumerate(spawned)]
    results = await client.apply(commands)
    assert [r.command_id for r in results] == [c.command_id for c in commands]
    assert {r.outcome for r in results} == {Outcome.APPLIED} and {r.requests for r in results} == {
        1
    }
    writes = calls(sandbox, "/api/orders/updateOrderStatus")
    assert len(writes) == client.requests_sent == 10
    assert all(len(e.json()) <= 100 for e in writes)
    assert {r.request_id for r in results} == {sandbox.vendor_request_id(e.id) for e in writes}
    assert {o.status for o in spawned} == {"PREPARING"}


async def test_the_status_we_set_is_what_the_canonical_order_shows(
    served: ServedSandbox, sandbox: SofttrSandbox, make_client: MakeClient
) -> None:
    client = make_client()
    target = sandbox.world.orders[5]
    (result,) = await client.apply([status_cmd(target.id, S.IN_SUPPLY)])
    assert result.outcome is Outcome.APPLIED and target.status == "PENDING"
    order = await client.fetch_order(target.id)
    assert order is not None and (order.status, order.raw_status) == (S.IN_SUPPLY, "PENDING")
    forgetful = make_client()  # a restart: memory is not persisted yet
    order = await forgetful.fetch_order(target.id)
    assert order is not None and (order.status, order.raw_status) == (S.RECEIVED, "")
    forgetful.restore_statuses(client.statuses)
    order = await forgetful.fetch_order(target.id)
    assert order is not None and order.status is S.IN_SUPPLY


def test_status_memory_forgets_the_oldest_beyond_its_size() -> None:
    client = SofttrClient(
        account="main",
        base_url="http://127.0.0.1:9",
        credentials={"username": "u", "password": "p"},
        http=HttpClient(),
        budget=RateBudget(RateLimit.from_config(per_minute=1)),
        known_statuses={"a": "SHIPPED", "b": "CANCEL"},
        status_memory_size=2,
    )
    client.remember("a", "DELIVERED")
    client.remember("c", "WAITING")
    assert client.statuses == {"a": "DELIVERED", "c": "WAITING"}
    assert client.status_of("b") == ""


async def test_ship_sets_shipped_and_says_the_tracking_was_not_stored(
    served: ServedSandbox, sandbox: SofttrSandbox, make_client: MakeClient
) -> None:
    target = sandbox.world.orders[0]
    (result,) = await make_client().apply([ship_cmd(target.id)])
    assert result.outcome is Outcome.APPLIED and target.status == "SHIPPED"
    assert result.message is not None and "1234567890" in result.message
    assert "not stored" in result.message
    assert all(item.shipment is None for item in target.items)


async def test_unsupported_and_invalid_commands_send_nothing(
    served: ServedSandbox, sandbox: SofttrSandbox, make_client: MakeClient
) -> None:
    order_id = sandbox.world.orders[0].id
    common = {"platform": "softtr", "account": "main", "order_id": order_id, "issued_at": START}
    commands = [
        AttachInvoice(command_id="i", url="https://e.example/f.pdf", **common),
        DecideRefund(command_id="r", refund_id="1", decision="approve", **common),
        DecideCancellation(command_id="x", cancellation_id="1", decision="reject", **common),
        status_cmd(order_id, S.DISPUTED, 1),
        status_cmd(order_id, S.PREPARING, 2, item_ids=("1",)),
        status_cmd("12345", S.PREPARING, 3),
    ]
    results = await make_client().apply(commands)
    assert [r.outcome for r in results] == [Outcome.UNSUPPORTED] * 5 + [Outcome.INVALID]
    assert all(r.message and r.requests == 0 for r in results)
    assert len(sandbox.log) == 0 and sandbox.world.writes == []
    assert CAPABILITIES.commands == frozenset({"order.set_status", "order.ship"})


async def test_a_refused_order_is_isolated_and_the_rest_of_its_batch_applied(
    served: ServedSandbox, sandbox: SofttrSandbox, make_client: MakeClient
) -> None:
    good = sandbox.world.orders[:7]
    commands = [status_cmd(o.id, S.CANCELLED, n) for n, o in enumerate(good)]
    commands.insert(3, status_cmd("01012026000000-ZZZ", S.CANCELLED, 99))
    results = await make_client().apply(commands)
    refused = results[3]
    assert refused.outcome is Outcome.REJECTED
    assert (refused.message, refused.platform_code) == ("orderno Boş ya da Geçersiz", "400")
    last_alone = [e for e in calls(sandbox, "/api/orders/updateOrderStatus") if len(e.json()) == 1]
    assert refused.request_id in {sandbox.vendor_request_id(e.id) for e in last_alone}
    assert [r.outcome for r in results[:3] + results[4:]] == [Outcome.APPLIED] * 7
    assert {o.status for o in good} == {"CANCEL"}
    assert max(r.requests for r in results) <= 4  # log2(8) + 1 calls at most per command


async def test_commands_for_one_order_take_effect_in_command_order(
    served: ServedSandbox, sandbox: SofttrSandbox, make_client: MakeClient
) -> None:
    first, other = sandbox.world.orders[:2]
    commands = [
        status_cmd(first.id, S.PREPARING, 1),
        status_cmd(other.id, S.PREPARING, 2),
        ship_cmd(first.id, 3),
        status_cmd(first.id, S.DELIVERED, 4),
    ]
    results = await make_client().apply(commands)
    assert {r.outcome for r in results} == {Outcome.APPLIED}
    assert [c.target for c in first.history if c.item_line is None][1:] == [
        "PREPARING",
        "SHIPPED",
        "DELIVERED",
    ]
    assert len(calls(sandbox, "/api/orders/updateOrderStatus")) == 3


async def test_a_batch_over_the_platform_limit_is_split_until_accepted(
    served: ServedSandbox, sandbox: SofttrSandbox, make_client: MakeClient
) -> None:
    spawned = sandbox.world.spawn(101)
    client = make_client()
    results = await SofttrCommands(client, batch_size=101).apply(
        [status_cmd(o.id, S.SHIPPED, n) for n, o in enumerate(spawned)]
    )
    assert {r.outcome for r in results} == {Outcome.APPLIED}
    sizes = [len(e.json()) for e in calls(sandbox, "/api/orders/updateOrderStatus")]
    assert sizes == [101, 50, 51]


# -- faults --------------------------------------------------------------------------------------


async def test_a_5xx_on_a_write_fails_retriably_and_changes_nothing(
    served: ServedSandbox, sandbox: SofttrSandbox, make_client: MakeClient
) -> None:
    sandbox.faults.add(FaultRule("status", path="updateOrderStatus", status=503, times=1))
    client = make_client()
    target = sandbox.world.orders[0]
    (result,) = await client.apply([status_cmd(target.id, S.PREPARING)])
    assert result.outcome is Outcome.FAILED and result.retriable and result.error
    assert target.status == "WAITING" and client.statuses == {}
    (again,) = await client.apply([status_cmd(target.id, S.PREPARING)])
    assert again.outcome is Outcome.APPLIED and target.status == "PREPARING"


async def test_a_write_whose_answer_is_lost_fails_retriably_and_repeating_it_is_safe(
    served: ServedSandbox, sandbox: SofttrSandbox
) -> None:
    sandbox.faults.add(FaultRule("timeout", path="updateOrderStatus", applied=True, times=1))
    target = sandbox.world.orders[0]
    async with HttpClient(HttpSettings(total=0.5, sock_read=0.3, connect=0.3)) as http:
        client = SofttrClient(
            account="main",
            base_url=served.base_url,
            credentials={"username": "sandbox-username", "password": "sandbox-password"},
            http=http,
            budget=RateBudget(RateLimit.from_config(per_minute=1000)),
        )
        (result,) = await client.apply([status_cmd(target.id, S.CANCELLED)])
        assert result.outcome is Outcome.FAILED and result.retriable
        assert target.status == "CANCEL"  # it did happen
        (again,) = await client.apply([status_cmd(target.id, S.CANCELLED)])
        assert again.outcome is Outcome.APPLIED


async def test_an_unreadable_write_answer_is_a_retriable_failure(
    served: ServedSandbox, sandbox: SofttrSandbox, make_client: MakeClient
) -> None:
    sandbox.faults.add(FaultRule("malformed_json", path="updateOrderStatus", times=1))
    (result,) = await make_client().apply([status_cmd(sandbox.world.orders[0].id, S.PREPARING)])
    assert result.outcome is Outcome.FAILED and result.retriable
    assert result.error is not None and "repeating it is safe" in result.error


async def test_429_with_retry_after_ends_the_poll_with_rate_limited(
    served: ServedSandbox, sandbox: SofttrSandbox, make_client: MakeClient
) -> None:
    sandbox.faults.add(FaultRule("rate_limited", path=r"/orders$", retry_after=7, times=1))
    with pytest.raises(RateLimited) as info:
        await fetch(make_client(), *WEEK)
    assert info.value.retry_after == 7


async def test_a_hanging_detail_times_out_instead_of_hanging(
    served: ServedSandbox, sandbox: SofttrSandbox
) -> None:
    sandbox.faults.add(FaultRule("timeout", path=r"/order/", times=1))
    async with HttpClient(HttpSettings(total=0.5, sock_read=0.3, connect=0.3)) as http:
        client = SofttrClient(
            account="main",
            base_url=served.base_url,
            credentials={"username": "sandbox-username", "password": "sandbox-password"},
            http=http,
            budget=RateBudget(RateLimit.from_config(per_minute=1000)),
        )
        with pytest.raises(RetryableError, match="timed out"):
            await fetch(client, *WEEK)


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        (FaultRule("malformed_json", path=r"/orders$", times=1), PlatformDecodeError),
        (FaultRule("html_error", path=r"/orders$", times=1), RetryableError),
        (FaultRule("html_error", path=r"/orders$", status=200, times=1), PlatformDecodeError),
        (FaultRule("status", path=r"/orders$", status=500, times=1), RetryableError),
    ],
)
async def test_broken_list_answers_are_typed_errors(
    served: ServedSandbox,
    sandbox: SofttrSandbox,
    make_client: MakeClient,
    rule: FaultRule,
    error: type[Exception],
) -> None:
    sandbox.faults.add(rule)
    with pytest.raises(error):
        await fetch(make_client(), *WEEK)


async def test_retries_get_past_transient_failures(
    served: ServedSandbox, sandbox: SofttrSandbox, make_client: MakeClient
) -> None:
    sandbox.faults.add(FaultRule("status", path=r"/orders$", status=503, times=2))
    pauses: list[float] = []

    async def record(seconds: float) -> None:
        pauses.append(seconds)

    records = await with_retries(lambda: fetch(make_client(), *WEEK), RetryPolicy(), sleep=record)
    assert len(orders_of(records)) == 30 and len(pauses) == 2


async def test_malformed_records_are_reported_and_the_rest_delivered(
    served: ServedSandbox,
    sandbox: SofttrSandbox,
    make_client: MakeClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad_row, bad_number, bad_detail, gone, refused = sandbox.world.orders[:5]
    render_row, render_detail = sandbox_module._row, sandbox_module._detail

    def row(order: Any) -> dict[str, Any]:
        rendered = render_row(order)
        if order is bad_row:
            rendered["orderAmount"] = "seksen yedi"
        if order is bad_number:
            rendered["orderno"] = "SIPARIS-1"
        return rendered

    def detail(order: Any) -> dict[str, Any]:
        rendered = render_detail(order)
        if order is bad_detail:
            rendered["items"][0]["itemQuantity"] = "bir"
        if order is refused:
            raise sandbox_module._Refused(400, "orderno Boş ya da Geçersiz")
        return rendered

    monkeypatch.setattr(sandbox_module, "_row", row)
    monkeypatch.setattr(sandbox_module, "_detail", detail)
    del sandbox.world._orders[gone.id]  # listed, but its detail answers 404
    records = await fetch(make_client(page_size=10), *WEEK)
    malformed = {r.record_id: r for r in records if isinstance(r, Malformed)}
    assert set(malformed) == {bad_row.id, "SIPARIS-1", bad_detail.id, gone.id, refused.id}
    assert "orderAmount" in malformed[bad_row.id].error
    assert "orderno" in malformed["SIPARIS-1"].error
    assert "itemQuantity" in malformed[bad_detail.id].error
    assert "404" in malformed[gone.id].error
    assert "orderno Boş ya da Geçersiz" in malformed[refused.id].error
    assert len([r for r in records if isinstance(r, Order)]) == 25


# -- auth, secrets, classification ---------------------------------------------------------------


async def test_wrong_credentials_are_an_auth_error_and_secrets_never_leak(
    served: ServedSandbox,
    sandbox: SofttrSandbox,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "hunter2-softtr-secret"
    client = make_client(credentials={"username": "sandbox-username", "password": secret})
    with pytest.raises(AuthError) as info:
        await fetch(client, *WEEK)
    header = base64.b64encode(f"sandbox-username:{secret}".encode()).decode()
    for text in (str(info.value), caplog.text, repr(info.value.platform_message)):
        assert secret not in text and header not in text
    assert info.value.platform_message == "Kullanıcı bilgileri eksik yada yanlış"
    assert info.value.request_id is not None and len(info.value.request_id) == 32


def _answer(status: int, body: Any) -> HttpResponse:
    return HttpResponse(
        status=status,
        headers={},
        body=msgspec.json.encode(body),
        elapsed=0.0,
        path="/api/orders",
        received_at=START,
    )


def _envelope(code: int, text: str) -> dict[str, Any]:
    return {
        "status": code,
        "message": {"code": code, "detail": {"requestID": "ab" * 16, "message": text}},
    }


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (200, _envelope(400, "Data sınırı aşıldı"), RejectedError),
        (200, _envelope(401, "Kullanıcı bilgileri eksik yada yanlış"), AuthError),
        (200, _envelope(500, "Beklenmedik bir sorun oluştu."), RetryableError),
        (400, _envelope(400, "Data sınırı aşıldı"), RejectedError),
        (404, _envelope(404, "Geçersiz veya bulunamayan kaynak"), RejectedError),
    ],
)
def test_errors_are_classified_by_the_envelope_code_even_in_a_200(
    status: int, body: Any, error: type[Exception]
) -> None:
    """Synthetic bodies: the document prints no error body."""
    with pytest.raises(error) as info:
        SofttrClassifier().classify(
            RequestContext("softtr", "main", "orders"), _answer(status, body)
        )
    exc = info.value
    assert getattr(exc, "request_id", None) == "ab" * 16
    assert getattr(exc, "platform_code", None) == str(body["status"])
    if isinstance(exc, RejectedError | AuthError):
        assert exc.platform_message == body["message"]["detail"]["message"]


def test_a_success_envelope_passes() -> None:
    ctx = RequestContext("softtr", "main", "orders")
    SofttrClassifier().classify(ctx, _answer(200, _envelope(200, "")))
    SofttrClassifier().classify(ctx, HttpResponse(200, {}, b"<html>", 0.0, "/api/orders", START))
