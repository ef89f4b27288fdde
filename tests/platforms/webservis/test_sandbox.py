"""The webservis simulator over real HTTP on 127.0.0.1: every endpoint and every refusal."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.clock import ManualClock
from pipeline.platforms.webservis.sandbox import AUTOMATIC, WebservisSandbox, wire_time
from pipeline.sandbox import SandboxSettings, ServedSandbox, serve

START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
HEADERS = {"apikey": "sandbox-api_key", "apisecret": "sandbox-api_secret"}
DATA = Path(__file__).resolve().parents[2] / "data" / "webservis"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def sandbox(clock: ManualClock) -> WebservisSandbox:
    return WebservisSandbox(clock=clock, settings=SandboxSettings(seed=7, initial_orders=40))


@pytest.fixture
async def served(sandbox: WebservisSandbox) -> AsyncIterator[ServedSandbox]:
    async with serve([sandbox], shutdown_timeout=1.0) as running:
        yield running[0]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def call(
    session: aiohttp.ClientSession,
    served: ServedSandbox,
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    params: dict[str, str | int] | None = None,
) -> tuple[int, dict[str, Any]]:
    async with session.request(
        method, served.base_url + path, headers=HEADERS if headers is None else headers,
        params=params,
    ) as response:  # fmt: skip
        body: dict[str, Any] = await response.json(content_type=None)
        return response.status, body


async def test_auth_succeeds_with_the_default_credentials(session, served) -> None:
    assert await call(session, served, "/auth") == (
        200,
        {"code": "SUCCESS", "message": "Erişim başarılı", "result": None},
    )


@pytest.mark.parametrize(
    "headers",
    [{}, {"apikey": "sandbox-api_key"}, {"apikey": "sandbox-api_key", "apisecret": "wrong"}],
)
async def test_unknown_user_is_auth002_in_a_200(session, served, headers) -> None:
    status, body = await call(session, served, "/order/lists", headers=headers)
    assert (status, body["code"], body["message"]) == (
        200,
        "AUTH002",
        "Geçersiz web servis kullanıcısı",
    )


@pytest.mark.parametrize(
    ("flag", "code"), [("service_active", "AUTH001"), ("user_active", "AUTH003")]
)
async def test_switched_off_service_or_user(session, served, sandbox, flag, code) -> None:
    sandbox.tenant.data[flag] = False
    assert (await call(session, served, "/order/show/1"))[1]["code"] == code
    assert sandbox.limits.usage("per-shop", "main") == 0  # refused before the limit counts


async def test_method_outside_the_users_permissions_is_auth006(session, served, sandbox) -> None:
    sandbox.tenant.data["permissions"] = {"order/lists"}
    assert (await call(session, served, "/order/show/1"))[1]["code"] == "AUTH006"
    lists = await call(session, served, "/order/lists", params={"pageSize": 1})
    assert lists[1]["code"] == "SUCCESS"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/order/update/1"),
        ("POST", "/order/lists"),
        ("DELETE", "/order/show/1"),
        ("GET", "/"),
    ],
)
async def test_unknown_method_is_auth005(session, served, method, path) -> None:
    status, body = await call(session, served, path, method=method)
    assert (status, body["code"]) == (200, "AUTH005")


async def test_documented_but_unsimulated_method_says_so(session, served) -> None:
    status, body = await call(session, served, "/order/fastSale", method="POST")
    assert (status, body["code"]) == (501, "SANDBOX001")


# -- order/lists -----------------------------------------------------------------------------


async def test_documented_default_page_size_lists_nothing(session, served) -> None:
    _, body = await call(session, served, "/order/lists")
    assert body["result"] == {"total": 40, "pageSize": 0, "list": []}


async def test_the_documents_example_is_accepted(session, served) -> None:
    example = (DATA / "order-lists.request.url.txt").read_text(encoding="utf-8").strip()
    path = example.removeprefix("web_servis")
    async with session.get(served.base_url + path, headers=HEADERS) as response:
        body = await response.json()
    rows = body["result"]["list"]
    assert body["code"] == "SUCCESS" and len(rows) == 40
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)


async def test_page_start_is_an_offset(session, served, sandbox) -> None:
    seen: list[int] = []
    for start in range(0, 40, 9):
        _, body = await call(
            session, served, "/order/lists", params={"pageStart": start, "pageSize": 9}
        )
        assert body["result"]["total"] == 40
        assert body["result"]["pageSize"] == len(body["result"]["list"])
        seen += [row["id"] for row in body["result"]["list"]]
    assert seen == [o.number for o in sandbox.world.orders]


async def test_row_fields_are_the_documents(session, served, sandbox) -> None:
    _, body = await call(session, served, "/order/lists", params={"pageSize": 1})
    (row,) = body["result"]["list"]
    order = sandbox.world.by_number(1)
    assert order is not None
    assert row == {
        "id": 1,
        "code": order.id,
        "dealerId": 0,
        "shipmentFirmId": row["shipmentFirmId"],
        "status": int(order.status),
        "createdAt": wire_time(order.created_at),
        "updatedAt": wire_time(order.updated_at),
    }
    assert isinstance(row["shipmentFirmId"], int) and row["shipmentFirmId"] > 0


async def test_order_by_updated_at_descending(session, served, sandbox) -> None:
    params = {"pageSize": 100, "orderBy": "updatedAt", "sort": "desc"}
    _, body = await call(session, served, "/order/lists", params=params)
    expected = sorted(sandbox.world.orders, key=lambda o: (o.updated_at, o.number), reverse=True)
    assert [r["id"] for r in body["result"]["list"]] == [o.number for o in expected]


async def test_status_filter(session, served, sandbox) -> None:
    for status in range(1, 6):
        _, body = await call(
            session, served, "/order/lists", params={"pageSize": 100, "status": status}
        )
        expected = [o.number for o in sandbox.world.orders if o.status == str(status)]
        assert [r["id"] for r in body["result"]["list"]] == expected


async def test_date_filter_is_inclusive_to_the_second(session, served, sandbox) -> None:
    orders = sandbox.world.orders
    low, high = orders[5], orders[12]
    params = {
        "pageSize": 100,
        "startDate": wire_time(low.created_at) or "",
        "endDate": wire_time(high.created_at) or "",
    }
    _, body = await call(session, served, "/order/lists", params=params)
    assert [r["id"] for r in body["result"]["list"]] == [o.number for o in orders[5:13]]


@pytest.mark.parametrize(
    "params",
    [
        {"pageSize": 101},
        {"pageSize": -1},
        {"pageStart": "x"},
        {"orderBy": "code"},
        {"sort": "DESC"},
        {"status": 6},
        {"startDate": "2026-01-01"},
        {"endDate": "2026-01-01T10:00:00"},
        {"startDate": "2026-02-30 10:00:00"},
    ],
)
async def test_values_outside_the_documented_domain_are_refused(session, served, params) -> None:
    status, body = await call(session, served, "/order/lists", params=params)
    assert (status, body["code"]) == (200, "ORDERLISTS001")


# -- order/show ------------------------------------------------------------------------------


async def test_show_renders_the_ground_truth(session, served, sandbox, clock) -> None:
    sandbox.advance(3 * 86400)  # let orders ship
    shipped = next(o for o in sandbox.world.orders if o.status == "3")
    _, body = await call(session, served, f"/order/show/{shipped.number}")
    result = body["result"]
    assert set(result) == {"order", "customer", "summary", "products"}
    order = result["order"]
    assert (order["id"], order["code"], order["status"]) == (shipped.number, shipped.id, 3)
    assert order["shipmentCode2"] and order["shipmentUrl"].endswith(order["shipmentCode2"])
    assert order["shipmentDate"] and order["einvoiceCode"].startswith("WSE")
    assert order["createdAt"] == wire_time(shipped.created_at)
    summary = result["summary"]
    total, discount = Decimal(str(summary["total"])), Decimal(str(summary["discount"]))
    assert total == sum(Decimal(str(p["totalPrice"])) for p in result["products"])
    assert Decimal(str(summary["subTotal"])) == total - discount
    assert Decimal(str(summary["overall"])) == shipped.totals.total
    assert result["customer"]["email"] == shipped.buyer.email
    assert [p["code"] for p in result["products"]] == [i.sku for i in shipped.items]


async def test_new_order_has_empty_shipment_fields(session, served, sandbox) -> None:
    (fresh,) = sandbox.world.spawn()
    _, body = await call(session, served, f"/order/show/{fresh.number}")
    order = body["result"]["order"]
    assert order["status"] == 1 and order["shipmentCode2"] == "" and order["shipmentDate"] is None
    assert order["einvoiceCode"] == ""


@pytest.mark.parametrize("order_id", ["999", "abc", "0", "-1"])
async def test_unknown_order_is_ordershow001(session, served, order_id) -> None:
    status, body = await call(session, served, f"/order/show/{order_id}")
    assert (status, body["code"], body["message"]) == (200, "ORDERSHOW001", "Hatalı sipariş ID")


# -- the limit -------------------------------------------------------------------------------


async def test_25_requests_a_minute_per_shop_all_methods_together(session, served, sandbox) -> None:
    paths = ["/auth", "/order/lists", "/order/show/1", "/nope"]
    for n in range(25):
        assert (await call(session, served, paths[n % 4]))[1]["code"] != "AUTH004"
    status, body = await call(session, served, "/order/show/2")
    assert (status, body) == (
        200,
        {"code": "AUTH004", "message": "Dakikalık erişim limiti aşıldı", "result": None},
    )
    other = sandbox.add_tenant("second")
    creds = {"apikey": other.credentials["api_key"], "apisecret": other.credentials["api_secret"]}
    assert (await call(session, served, "/auth", headers=creds))[1]["code"] == "SUCCESS"
    sandbox.advance(59)
    assert (await call(session, served, "/auth"))[1]["code"] == "AUTH004"  # refusals count too
    sandbox.advance(61)
    assert (await call(session, served, "/auth"))[1]["code"] == "SUCCESS"


# -- the lifecycle ---------------------------------------------------------------------------


async def test_orders_move_on_by_themselves_and_update_their_time(session, served, sandbox) -> None:
    before = {o.number: (o.status, o.updated_at) for o in sandbox.world.orders}
    sandbox.advance(10 * 86400)
    moved = [o for o in sandbox.world.orders if o.status != before[o.number][0]]
    assert moved and all(o.updated_at > before[o.number][1] for o in moved)
    statuses = {o.status for o in sandbox.world.orders}
    assert {"3", "5"} <= statuses


ALLOWED = {(rule.source, rule.target) for rule in AUTOMATIC}
REQUESTS = st.tuples(
    st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    st.sampled_from(
        ["/order/lists", "/order/show/1", "/order/show/2", "/order/fastSale", "/order/update/1",
         "/order/status/1", "/product/updateStocks", "/auth"]
    ),
    st.floats(min_value=0, max_value=6 * 3600),
)  # fmt: skip


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(REQUESTS, min_size=1, max_size=8))
async def test_no_request_sequence_changes_the_ground_truth(sequence) -> None:
    sandbox = WebservisSandbox(
        clock=ManualClock(START), settings=SandboxSettings(seed=3, initial_orders=5)
    )
    sandbox.limits.rules.clear()
    async with serve([sandbox], shutdown_timeout=1.0) as running, aiohttp.ClientSession() as s:
        for method, path, wait in sequence:
            sandbox.advance(wait)
            async with s.request(method, running[0].base_url + path, headers=HEADERS) as r:
                await r.read()
    assert sandbox.world.writes == []
    for order in sandbox.world.orders:
        for change in order.history:
            assert change.request_id is None
            assert change.source is None or (change.source, change.target) in ALLOWED
