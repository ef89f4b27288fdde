"""The Softtr simulator over real HTTP on 127.0.0.1: every endpoint, every rejection rule, the
vendor's envelope, rate limits, and the seller table under random write sequences."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.clock import ManualClock
from pipeline.platforms.softtr.sandbox import ORDER_SOURCE, SofttrSandbox, order_letters
from pipeline.sandbox import (
    Lifecycle,
    RateLimitRule,
    SandboxSettings,
    ServedSandbox,
    per_tenant,
    serve,
)
from pipeline.sandbox.model import local

START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
AUTH = {"Authorization": "Basic " + base64.b64encode(b"sandbox-username:sandbox-password").decode()}
DATA = Path(__file__).parents[2] / "data" / "softtr"
HEX32 = re.compile(r"^[0-9a-f]{32}$")


async def call(
    session: aiohttp.ClientSession,
    served: ServedSandbox,
    method: str,
    path: str,
    *,
    params: dict[str, str] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else None if body is None else msgspec.json.encode(body)
    async with session.request(
        method,
        served.base_url + path,
        params=params,
        data=data,
        headers=AUTH if headers is None else headers,
    ) as response:
        return response.status, msgspec.json.decode(await response.read())


@pytest.fixture
async def session() -> Any:
    async with aiohttp.ClientSession() as client:
        yield client


def assert_error(sandbox: SofttrSandbox, status: int, body: Any, code: int, text: str) -> None:
    assert status == code
    assert body["status"] == code and body["message"]["code"] == code
    assert body["message"]["detail"]["message"] == text
    last = sandbox.log.entries[-1]
    assert body["message"]["detail"]["requestID"] == sandbox.vendor_request_id(last.id)


# -- auth, envelope, routing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic " + base64.b64encode(b"sandbox-username:nope").decode()},
        {"Authorization": "Bearer sandbox-password"},
    ],
)
async def test_missing_or_wrong_basic_auth_is_401_on_every_path(
    served: ServedSandbox,
    sandbox: SofttrSandbox,
    session: aiohttp.ClientSession,
    headers: dict[str, str],
) -> None:
    for method, path in [
        ("GET", "/orders"),
        ("GET", "/order/x"),
        ("POST", "/orders/updateOrderStatus"),
        ("GET", "/nowhere"),
    ]:
        status, body = await call(session, served, method, path, headers=headers, body=[])
        assert_error(sandbox, status, body, 401, "Kullanıcı bilgileri eksik yada yanlış")


async def test_wrong_method_is_405_and_unknown_path_404_in_the_vendor_envelope(
    served: ServedSandbox, sandbox: SofttrSandbox, session: aiohttp.ClientSession
) -> None:
    status, body = await call(session, served, "PUT", "/orders")
    assert_error(sandbox, status, body, 405, "Geçersiz istek")
    status, body = await call(session, served, "GET", "/orders/updateOrderStatus")
    assert_error(sandbox, status, body, 405, "Geçersiz istek")
    status, body = await call(session, served, "GET", "/products/list")
    assert_error(sandbox, status, body, 404, "Geçersiz veya bulunamayan kaynak")


# -- list ----------------------------------------------------------------------------------------


async def test_list_pages_newest_first_with_counts(
    served: ServedSandbox, sandbox: SofttrSandbox, session: aiohttp.ClientSession
) -> None:
    newest_first = sorted(sandbox.world.orders, key=lambda o: o.created_at, reverse=True)
    seen: list[str] = []
    for page in (1, 2, 3, 4, 5):
        status, body = await call(
            session, served, "GET", "/orders", params={"pageSize": "7", "page": str(page)}
        )
        assert status == 200 and body["status"] == 200
        assert HEX32.match(body["message"]["detail"]["requestID"])
        data = body["data"]
        assert (data["orderCount"], data["pageCount"], data["size"], data["page"]) == (
            30,
            5,
            7,
            page,
        )
        seen += [row["orderno"] for row in data["content"]]
    assert seen == [o.id for o in newest_first]
    status, body = await call(session, served, "GET", "/orders", params={"page": "9"})
    assert body["data"]["content"] == [] and body["data"]["size"] == 100


async def test_list_rows_render_the_ground_truth(
    served: ServedSandbox, sandbox: SofttrSandbox, session: aiohttp.ClientSession
) -> None:
    _, body = await call(session, served, "GET", "/orders")
    rows = {row["orderno"]: row for row in body["data"]["content"]}
    for order in sandbox.world.orders:
        row = rows[order.id]
        assert (
            row["orderno"]
            == f"{local(order.created_at):%d%m%Y%H%M%S}-{order_letters(order.number)}"
        )
        assert Decimal(str(row["orderAmount"])) == order.totals.subtotal - order.totals.discount
        assert row["orderSource"] == ORDER_SOURCE[order.sales_channel]
        assert row["shipmentCity"] == order.shipping_address.city
        if order.buyer.kind == "corporate":
            assert row["invoiceTaxID"] == int(order.buyer.vkn or "") and row["invoiceCivID"] == ""
        else:
            assert row["invoiceCivID"] == order.buyer.tc_kimlik and row["invoiceTaxID"] == ""
    kinds = {o.buyer.kind for o in sandbox.world.orders}
    assert kinds == {"corporate", "individual"}  # the seed covers both shapes


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"pageSize": "101"}, "pageSize"),
        ({"pageSize": "0"}, "pageSize"),
        ({"pageSize": "x"}, "pageSize"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"startDate": "2026-01-15", "endDate": "15-01-2026"}, "startDate"),
        ({"startDate": "31-02-2026", "endDate": "01-03-2026"}, "startDate"),
        ({"startDate": "15-01-2026", "endDate": "15.01.2026"}, "endDate"),
        ({"endDate": "15-01-2026"}, "startDate"),
        ({"startDate": "15-01-2026", "endDate": "14-01-2026"}, "endDate"),
    ],
)
async def test_bad_list_parameters_are_refused(
    served: ServedSandbox,
    sandbox: SofttrSandbox,
    session: aiohttp.ClientSession,
    params: dict[str, str],
    parameter: str,
) -> None:
    status, body = await call(session, served, "GET", "/orders", params=params)
    assert_error(sandbox, status, body, 400, f"{parameter} Boş ya da Geçersiz")


async def test_date_filter_is_inclusive_istanbul_days_and_start_alone_is_accepted(
    served: ServedSandbox, sandbox: SofttrSandbox, session: aiohttp.ClientSession
) -> None:
    def days(first: dt.date, last: dt.date | None) -> set[str]:
        return {
            o.id
            for o in sandbox.world.orders
            if first <= local(o.created_at).date()
            and (last is None or local(o.created_at).date() <= last)
        }

    async def listed(params: dict[str, str]) -> set[str]:
        status, body = await call(session, served, "GET", "/orders", params=params)
        assert status == 200
        return {row["orderno"] for row in body["data"]["content"]}

    d12, d13 = dt.date(2026, 1, 12), dt.date(2026, 1, 13)
    both = await listed({"startDate": "12-01-2026", "endDate": "13-01-2026"})
    assert both == days(d12, d13) and both
    assert await listed({"startDate": "13-01-2026", "endDate": "13-01-2026"}) == days(d13, d13)
    # The document's own example: startDate without endDate.
    assert await listed({"startDate": "13-01-2026", "pageSize": "100"}) == days(d13, None)


# -- detail --------------------------------------------------------------------------------------


async def test_detail_renders_items_money_and_contacts(
    served: ServedSandbox, sandbox: SofttrSandbox, session: aiohttp.ClientSession
) -> None:
    order = (
        next(o for o in sandbox.world.orders if o.coupon)
        if any(o.coupon for o in sandbox.world.orders)
        else sandbox.world.orders[0]
    )
    status, body = await call(session, served, "GET", f"/order/{order.id}")
    assert status == 200
    content = body["data"]["content"]
    assert content["orderno"] == order.id
    assert Decimal(str(content["cargoCharge"])) == order.totals.shipping_fee
    assert Decimal(str(content["taxAmount"])) == order.totals.vat
    assert content["discount_coupon"] == (order.coupon or "")
    assert content["invoiceDetails"]["invoiceMail"] == order.buyer.email
    assert content["shipmentDetails"]["shipmentGsm"] == order.shipping_address.phone
    items = content["items"]
    assert [i["itemCode"] for i in items] == [i.sku for i in order.items]
    assert [Decimal(str(i["itemUnitPrice"])) for i in items] == [i.unit_price for i in order.items]
    assert [i["itemTaxRate"] for i in items] == [i.vat_rate for i in order.items]


async def test_unknown_order_is_404(
    served: ServedSandbox, sandbox: SofttrSandbox, session: aiohttp.ClientSession
) -> None:
    status, body = await call(session, served, "GET", "/order/01012026000000-ZZZ")
    assert_error(sandbox, status, body, 404, "Geçersiz veya bulunamayan kaynak")


# -- status writes -------------------------------------------------------------------------------


async def test_documented_request_shape_sets_the_statuses(
    served: ServedSandbox, sandbox: SofttrSandbox, session: aiohttp.ClientSession
) -> None:
    sample = msgspec.json.decode((DATA / "updateOrderStatus.request.json").read_bytes())
    orders = sandbox.world.orders[:3]
    for entry, order in zip(sample, orders, strict=True):
        entry["orderno"] = order.id
    status, body = await call(session, served, "POST", "/orders/updateOrderStatus", body=sample)
    assert status == 200 and body["message"]["code"] == 200 and "data" not in body
    assert [o.status for o in orders] == ["WAITING", "PREPARING", "PENDING"]
    assert body["message"]["detail"]["requestID"] == sandbox.vendor_request_id(
        sandbox.log.entries[-1].id
    )
    assert sandbox.world.writes[-1].request_id == sandbox.log.entries[-1].id


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"{}", "Geçersiz istek"),
        (b"[]", "Geçersiz istek"),
        (b"not json", "Geçersiz istek"),
        (b'["x"]', "Geçersiz istek"),
        ([{"status": "SHIPPED"}], "orderno Boş ya da Geçersiz"),
        ([{"orderno": "", "status": "SHIPPED"}], "orderno Boş ya da Geçersiz"),
        ([{"orderno": "FIRST", "status": "shipped"}], "status Boş ya da Geçersiz"),
        (
            [
                {"orderno": "FIRST", "status": "SHIPPED"},
                {"orderno": "01012026000000-ZZZ", "status": "SHIPPED"},
            ],
            "orderno Boş ya da Geçersiz",
        ),
        ([{"orderno": "FIRST", "status": "SHIPPED"}] * 101, "Data sınırı aşıldı"),
    ],
)
async def test_refused_writes_change_nothing(
    served: ServedSandbox,
    sandbox: SofttrSandbox,
    session: aiohttp.ClientSession,
    body: Any,
    text: str,
) -> None:
    first = sandbox.world.orders[0]
    if isinstance(body, list):
        body = [
            {**e, "orderno": first.id} if e.get("orderno") == "FIRST" else e
            for e in body
            if isinstance(e, dict)
        ] or body
    status, answer = await call(session, served, "POST", "/orders/updateOrderStatus", body=body)
    assert_error(sandbox, status, answer, 400, text)
    assert first.status == "WAITING" and len(first.history) == 1
    assert (
        sandbox.world.writes[-1].outcome == "rejected" and sandbox.world.writes[-1].reason == text
    )


async def test_one_order_twice_in_an_array_ends_at_the_last_entry(
    served: ServedSandbox, sandbox: SofttrSandbox, session: aiohttp.ClientSession
) -> None:
    order = sandbox.world.orders[0]
    body = [
        {"orderno": order.id, "status": "PREPARING"},
        {"orderno": order.id, "status": "SHIPPED"},
    ]
    status, _ = await call(session, served, "POST", "/orders/updateOrderStatus", body=body)
    assert status == 200 and order.status == "SHIPPED"
    assert [c.target for c in order.history if c.item_line is None] == [
        "WAITING",
        "PREPARING",
        "SHIPPED",
    ]


async def test_stock_sample_is_accepted_and_limited_to_100(
    served: ServedSandbox, sandbox: SofttrSandbox, session: aiohttp.ClientSession
) -> None:
    sample = msgspec.json.decode((DATA / "updateStokAndPrice.request.json").read_bytes())
    status, _ = await call(session, served, "POST", "/products/updateStokAndPrice", body=sample)
    assert status == 200 and [w.target for w in sandbox.world.writes[-3:]] == [
        s["barcode"] for s in sample
    ]
    status, body = await call(
        session, served, "POST", "/products/updateStokAndPrice", body=sample * 34
    )
    assert_error(sandbox, status, body, 400, "Data sınırı aşıldı")
    status, body = await call(
        session,
        served,
        "POST",
        "/products/updateStokAndPrice",
        body=[{**sample[0], "stockAmount": -1}],
    )
    assert_error(sandbox, status, body, 400, "stockAmount Boş ya da Geçersiz")


async def test_orders_created_in_one_second_never_collide(sandbox: SofttrSandbox) -> None:
    spawned = sandbox.world.spawn(2000)
    assert len({o.id for o in spawned}) == 2000
    assert {o.created_at.microsecond for o in sandbox.world.orders} == {0}


# -- rate limits ---------------------------------------------------------------------------------


async def test_configured_rate_limit_answers_429_in_the_vendor_envelope(
    clock: ManualClock, session: aiohttp.ClientSession
) -> None:
    rule = RateLimitRule("per-shop", limit=2, window=60, key=per_tenant)
    sandbox = SofttrSandbox(
        clock=clock, settings=SandboxSettings(seed=1, initial_orders=3), rules=[rule]
    )
    async with serve([sandbox], shutdown_timeout=1.0) as (served,):
        assert [(await call(session, served, "GET", "/orders"))[0] for _ in range(2)] == [200, 200]
        async with session.get(served.base_url + "/orders", headers=AUTH) as response:
            assert response.status == 429 and response.headers["Retry-After"] == "60"
            body = msgspec.json.decode(await response.read())
        assert body["status"] == 429 and HEX32.match(body["message"]["detail"]["requestID"])
        clock.advance(60)
        assert (await call(session, served, "GET", "/orders"))[0] == 200
    assert SofttrSandbox(clock=clock).limits.rules == []  # none documented, none by default


# -- the seller table under random writes --------------------------------------------------------


class StrictSofttr(SofttrSandbox):
    """A stricter (invented) table, to prove the sandbox enforces whatever table it declares."""

    lifecycle = Lifecycle(
        statuses=SofttrSandbox.lifecycle.statuses,
        initial="WAITING",
        seller={
            "WAITING": {"PREPARING", "CANCEL"},
            "PREPARING": {"PENDING", "SHIPPED", "CANCEL"},
            "PENDING": {"SHIPPED", "CANCEL"},
            "SHIPPED": {"DELIVERED", "RETURNED"},
            "DELIVERED": {"RETURNED"},
        },
    )


STATUS_VALUES = [*SofttrSandbox.lifecycle.statuses, "BOGUS"]
writes = st.lists(
    st.lists(st.tuples(st.integers(0, 3), st.sampled_from(STATUS_VALUES)), min_size=1, max_size=5),
    min_size=1,
    max_size=6,
)


@pytest.mark.parametrize("kind", [SofttrSandbox, StrictSofttr])
@settings(max_examples=15)
@given(batches=writes)
def test_random_write_sequences_stay_inside_the_seller_table(
    kind: type[SofttrSandbox], batches: list[list[tuple[int, str]]]
) -> None:
    async def scenario() -> None:
        sandbox = kind(clock=ManualClock(START), settings=SandboxSettings(seed=3, initial_orders=4))
        orders = sandbox.world.orders
        async with (
            serve([sandbox], shutdown_timeout=1.0) as (served,),
            aiohttp.ClientSession() as s,
        ):
            for batch in batches:
                before = {o.id: o.status for o in orders}
                body = [{"orderno": orders[i].id, "status": status} for i, status in batch]
                status, _ = await call(s, served, "POST", "/orders/updateOrderStatus", body=body)
                if status != 200:  # atomic: a refused call moved nothing
                    assert {o.id: o.status for o in orders} == before
                else:
                    assert all(value != "BOGUS" for _, value in batch)
        for order in orders:
            for change in order.history[1:]:
                assert change.actor == "seller" and change.source is not None
                assert sandbox.lifecycle.seller_allows(change.source, change.target)

    asyncio.run(scenario())


async def test_a_declared_table_is_enforced_over_http(
    clock: ManualClock, session: aiohttp.ClientSession
) -> None:
    sandbox = StrictSofttr(clock=clock, settings=SandboxSettings(seed=1, initial_orders=2))
    first, second = sandbox.world.orders
    async with serve([sandbox], shutdown_timeout=1.0) as (served,):
        body = [
            {"orderno": second.id, "status": "PREPARING"},
            {"orderno": first.id, "status": "SHIPPED"},
        ]
        status, answer = await call(session, served, "POST", "/orders/updateOrderStatus", body=body)
        assert_error(sandbox, status, answer, 400, "status Boş ya da Geçersiz")
        assert (first.status, second.status) == ("WAITING", "WAITING")
        body = [
            {"orderno": first.id, "status": "PREPARING"},
            {"orderno": first.id, "status": "SHIPPED"},
        ]
        status, _ = await call(session, served, "POST", "/orders/updateOrderStatus", body=body)
        assert status == 200 and first.status == "SHIPPED"
