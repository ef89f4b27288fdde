"""The Pazarama simulator over real HTTP on 127.0.0.1: auth, every endpoint in the document's shape
(decoded with the adapter's wire Structs, compared with the golden samples), every refusal rule,
the world's automatic life over simulated days, and a property test of the seller table.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import io
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.clock import ManualClock
from pipeline.platforms.pazarama import payloads as raw
from pipeline.platforms.pazarama.mapping import map_order
from pipeline.platforms.pazarama.sandbox import PazaramaSandbox
from pipeline.platforms.pazarama.sandbox_render import unit_ids
from pipeline.platforms.pazarama.sandbox_rules import (
    CARGO_BY_CODE,
    DAY,
    ERRORS,
    SELLER_TRANSITIONS,
)
from pipeline.sandbox import (
    ISTANBUL,
    Order,
    RateLimitRule,
    Record,
    SandboxSettings,
    ServedSandbox,
    per_token,
    serve,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "pazarama"
START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)  # 12:00 in Istanbul
CLIENT_ID, CLIENT_SECRET = "sandbox-client_id", "sandbox-client_secret"
ENVELOPE_KEYS = {"data", "success", "messageCode", "message", "userMessage", "fromCache"}
YURTICI = CARGO_BY_CODE["yurtici"].guid
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
WINDOW = {"startDate": "2026-01-01", "endDate": "2026-01-31"}
REQUEST_WINDOW = {"requestStartDate": "2026-01-01", "requestEndDate": "2026-03-01"}

Json = Any


def sample(name: str) -> Json:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def basic(client_id: str, secret: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


TOKEN_FORM = {"grant_type": "client_credentials", "scope": "merchantgatewayapi.fullaccess"}


class Api:
    """A logged-in merchant: ``await api.call("POST", "/order/getRefund", {...})``."""

    def __init__(self, session: aiohttp.ClientSession, served: ServedSandbox, token: str) -> None:
        self.session = session
        self.url = served.base_url
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: object = None) -> tuple[int, Json]:
        # As a stream: aiohttp warns about large bytes bodies (the 5 MB images).
        data = None if body is None else io.BytesIO(json.dumps(body).encode())
        headers = self.headers | ({} if body is None else {"Content-Type": "application/json"})
        async with self.session.request(
            method, self.url + path, data=data, headers=headers
        ) as response:
            raw_body = await response.read()
            return response.status, json.loads(raw_body) if raw_body else None

    async def ok(self, method: str, path: str, body: object = None) -> Json:
        status, answer = await self.call(method, path, body)
        assert status == 200, answer
        assert msgspec.convert(answer, raw.Ack, strict=True).success is True
        return answer

    async def refused(self, method: str, path: str, body: object, code: str) -> Json:
        status, answer = await self.call(method, path, body)
        assert_refused(status, answer, code)
        return answer

    async def orders(self, body: Json | None = None, *, path: str = "getOrdersForApi") -> Json:
        answer = await self.ok(
            "POST", f"/order/{path}", body or {"pageSize": 500, "pageNumber": 1, **WINDOW}
        )
        return answer["data"]

    async def order(self, order: Order, *, path: str = "getOrdersForApi") -> Json:
        [found] = await self.orders({"orderNumber": int(order.id), **WINDOW}, path=path)
        return found


def assert_refused(status: int, answer: Json, code: str, http: int = 400) -> None:
    assert status == http, answer
    assert set(answer) == ENVELOPE_KEYS
    assert answer["success"] is False and answer["data"] is None
    assert answer["messageCode"] == code
    assert answer["userMessage"] == ERRORS[code]
    assert answer["message"].startswith(ERRORS[code])


async def issue_token(session: aiohttp.ClientSession, served: ServedSandbox) -> str:
    async with session.post(
        served.base_url + "/connect/token",
        data=TOKEN_FORM,
        headers=basic(CLIENT_ID, CLIENT_SECRET),
    ) as response:
        assert response.status == 200, await response.text()
        token: str = (await response.json())["access_token"]
        return token


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def sandbox(clock: ManualClock) -> PazaramaSandbox:
    return PazaramaSandbox(
        clock=clock,
        settings=SandboxSettings(seed=5, initial_orders=12, history=dt.timedelta(days=10)),
    )


@pytest.fixture
async def served(sandbox: PazaramaSandbox) -> AsyncIterator[ServedSandbox]:
    async with serve([sandbox], shutdown_timeout=1.0) as running:
        yield running[0]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def api(session: aiohttp.ClientSession, served: ServedSandbox) -> Api:
    return Api(session, served, await issue_token(session, served))


# -- ground-truth helpers ---------------------------------------------------------------------


def new_order(sandbox: PazaramaSandbox, accept: Callable[[Order], bool] = lambda o: True) -> Order:
    """A fresh order (status 3) created now that ``accept`` likes."""
    for _ in range(500):
        [order] = sandbox.world.spawn(1)
        if accept(order):
            return order
    raise AssertionError("no such order generated")


def preparing(sandbox: PazaramaSandbox, accept: Callable[[Order], bool] = lambda o: True) -> Order:
    order = new_order(sandbox, accept)
    sandbox.world.set_status(order.id, "12")
    return order


def shipped(sandbox: PazaramaSandbox, tracking: str = "312345678901") -> Order:
    order = preparing(sandbox)
    sandbox.world.ship(order.id, carrier_code="yurtici", tracking_number=tracking, status="5")
    return order


def refund_request(sandbox: PazaramaSandbox, quantity: int | None = None) -> tuple[Order, Record]:
    """A delivered order whose first item the buyer returns (item 7, refund status 1)."""
    order = preparing(sandbox, lambda o: quantity is None or o.items[0].quantity == quantity)
    sandbox.world.ship(order.id, carrier_code="aras", tracking_number="12345678901", status="5")
    sandbox.world.set_status(order.id, "11")
    record = sandbox.world.open_record(
        "refund", order.id, [1], reason="Beden uymadı", actor="customer"
    )
    return order, record


def cancellation_request(sandbox: PazaramaSandbox) -> tuple[Order, Record]:
    """An order in preparation whose buyer asks to cancel its first item (item 18)."""
    order = preparing(sandbox)
    record = sandbox.world.open_record(
        "cancellation", order.id, [1], reason="Vazgeçtim", actor="customer"
    )
    return order, record


def shape(value: Json) -> Json:
    """Keys, recursively (a list by its first element); leaves are None."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


def item_status(order: Order, line: int = 1) -> str:
    return order.item(line).status


# -- token --------------------------------------------------------------------------------------


async def test_token_is_issued_for_basic_client_credentials(
    served: ServedSandbox, session: aiohttp.ClientSession
) -> None:
    async with session.post(
        served.base_url + "/connect/token", data=TOKEN_FORM, headers=basic(CLIENT_ID, CLIENT_SECRET)
    ) as response:
        assert response.status == 200
        answer = await response.read()
    token = msgspec.json.decode(answer, type=raw.TokenResponse, strict=True)
    assert token.bearer and token.lifetime_seconds == 3600
    assert (token.token_type, token.scope) == ("Bearer", "merchantgatewayapi.fullaccess")


@pytest.mark.parametrize(
    ("headers", "form", "error"),
    [
        (basic(CLIENT_ID, "wrong"), TOKEN_FORM, "invalid_client"),
        (basic("someone", CLIENT_SECRET), TOKEN_FORM, "invalid_client"),
        ({}, TOKEN_FORM, "invalid_client"),
        (basic(CLIENT_ID, CLIENT_SECRET), {"grant_type": "password"}, "unsupported_grant_type"),
        (basic(CLIENT_ID, CLIENT_SECRET), {"scope": TOKEN_FORM["scope"]}, "unsupported_grant_type"),
        (basic(CLIENT_ID, CLIENT_SECRET), TOKEN_FORM | {"scope": "everything"}, "invalid_scope"),
    ],
)
async def test_token_refusals_are_oauth_errors(
    served: ServedSandbox,
    session: aiohttp.ClientSession,
    headers: dict[str, str],
    form: dict[str, str],
    error: str,
) -> None:
    async with session.post(
        served.base_url + "/connect/token", data=form, headers=headers
    ) as response:
        assert response.status == 400
        answer = await response.json()
    assert answer == {"error": error}
    assert msgspec.json.decode(json.dumps(answer), type=raw.TokenResponse).bearer is None


async def test_token_wants_a_form_body(
    served: ServedSandbox, session: aiohttp.ClientSession
) -> None:
    async with session.post(
        served.base_url + "/connect/token", json=TOKEN_FORM, headers=basic(CLIENT_ID, CLIENT_SECRET)
    ) as response:
        assert response.status == 400
        assert await response.json() == {"error": "invalid_request"}


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic c2FuZGJveA=="])
async def test_api_without_a_valid_token_is_401_with_an_empty_body(
    served: ServedSandbox, session: aiohttp.ClientSession, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with session.post(
        served.base_url + "/order/getOrdersForApi",
        json={"pageSize": 1, "pageNumber": 1, **WINDOW},
        headers=headers,
    ) as response:
        assert response.status == 401
        assert await response.read() == b""


async def test_token_expires_after_an_hour_on_the_sandbox_clock(
    api: Api, sandbox: PazaramaSandbox
) -> None:
    sandbox.advance(3599)
    status, _ = await api.call("GET", "/sellerRegister/getSellerDelivery")
    assert status == 200
    sandbox.advance(1)
    status, answer = await api.call("GET", "/sellerRegister/getSellerDelivery")
    assert (status, answer) == (401, None)
    assert sandbox.log.entries[-1].identity == "expired:bearer"


async def test_revoked_tokens_are_401(api: Api, sandbox: PazaramaSandbox) -> None:
    sandbox.tokens.revoke_all()
    assert await api.call("PUT", "/order/updateOrderStatusList", {}) == (401, None)


# -- orders -------------------------------------------------------------------------------------


async def test_orders_decode_with_the_payload_structs_and_map(
    api: Api, sandbox: PazaramaSandbox
) -> None:
    shipped(sandbox)
    answer = await api.ok(
        "POST", "/order/getOrdersForApi", {"pageSize": 100, "pageNumber": 1, **WINDOW}
    )
    assert answer["messageCode"] == "ORD0" and set(answer) == ENVELOPE_KEYS
    envelope = msgspec.json.decode(
        json.dumps(answer), type=raw.Envelope[list[raw.Order]], strict=True
    )
    assert envelope.data is not None
    assert [o.order_number for o in envelope.data] == [int(o.id) for o in sandbox.world.orders]
    for order in envelope.data:
        mapped = map_order(order, account="main")  # money, dates and statuses all parse
        truth = sandbox.world.get(str(order.order_number))
        assert truth is not None
        assert mapped.internal_id == truth.uuid
        assert mapped.created_at == truth.created_at.replace(second=0, microsecond=0)
        assert [i.raw_status for i in mapped.items] == [i.status for i in truth.items]


async def test_orders_have_the_documents_keys(api: Api, sandbox: PazaramaSandbox) -> None:
    expected = shape(sample("getOrdersForApi.response.json")["data"][0])
    shipped(sandbox)
    new_order(sandbox, lambda o: o.buyer.kind == "corporate")
    for path in ("getOrdersForApi", "getOrdersForApiV2"):
        for order in await api.orders(path=path):
            assert {**shape(order), "items": []} == {**expected, "items": []}
            assert all(shape(item) == expected["items"][0] for item in order["items"])


async def test_order_values_follow_the_ground_truth(api: Api, sandbox: PazaramaSandbox) -> None:
    truth = shipped(sandbox)
    order = await api.order(truth)
    assert order["orderId"] == truth.uuid and order["orderNumber"] == int(truth.id)
    assert order["orderDate"] == f"{truth.created_at.astimezone(ISTANBUL):%Y-%m-%d %H:%M}"
    assert order["currency"] == "TL" and order["paymentType"] in raw.PAYMENT_TYPE
    assert order["shipmentAmount"] == float(truth.totals.shipping_fee)
    assert order["orderAmount"] == float(truth.totals.subtotal + truth.totals.shipping_fee)
    billing = order["billingAddress"]
    if truth.buyer.kind == "individual":
        assert billing["identityNumber"] == truth.buyer.tc_kimlik and billing["invoiceType"] == 1
    for item, line in zip(order["items"], truth.items, strict=True):
        assert item["orderItemId"] == line.uuid and item["orderItemStatus"] == 5
        assert item["quantity"] == line.quantity
        assert item["totalPrice"]["value"] == float(line.gross)
        assert item["totalPrice"]["valueInt"] == int(line.gross * 100)
        assert item["product"]["code"] == line.barcode
        assert item["product"]["stockCode"] == line.sku
        assert item["product"]["vatRate"] == line.vat_rate
        assert item["cargo"] == {
            "companyName": "Yurtiçi Kargo",
            "trackingNumber": "312345678901",
            "trackingUrl": CARGO_BY_CODE["yurtici"].carrier.tracking_url("312345678901"),
        }


async def test_corporate_buyers_bill_with_company_and_tax_number(
    api: Api, sandbox: PazaramaSandbox
) -> None:
    truth = new_order(sandbox, lambda o: o.buyer.kind == "corporate")
    billing = (await api.order(truth))["billingAddress"]
    assert billing["invoiceType"] == 2 and billing["identityNumber"] is None
    assert billing["companyName"] == truth.buyer.company_name
    assert (
        billing["taxNumber"] == truth.buyer.vkn and billing["taxOffice"] == truth.buyer.tax_office
    )


async def test_unshipped_items_name_the_checkout_carrier_without_tracking(
    api: Api, sandbox: PazaramaSandbox
) -> None:
    truth = new_order(sandbox)
    cargo = (await api.order(truth))["items"][0]["cargo"]
    assert cargo["trackingNumber"] is None
    assert cargo["companyName"] == CARGO_BY_CODE[truth.carrier_code].carrier.name
    assert cargo["trackingUrl"].startswith("https://")


def test_money_objects_use_turkish_separators() -> None:
    from decimal import Decimal

    from pipeline.platforms.pazarama.sandbox_render import money

    assert money(Decimal("1234.5")) == {
        "currency": "TL",
        "value": Decimal("1234.50"),
        "valueInt": 123450,
        "valueString": "1.234,50 TL",
        "wholePartString": "1.234",
        "fractionPartString": "50",
        "decimalSeparator": ",",
    }
    assert set(money(Decimal("1"), full=False)) == {"currency", "value", "valueInt", "valueString"}


@pytest.mark.parametrize("path", ["getOrdersForApiV2", "getOrdersForApi-v2"])
async def test_v2_splits_quantities_into_single_items(
    api: Api, sandbox: PazaramaSandbox, path: str
) -> None:
    truth = new_order(sandbox, lambda o: any(i.quantity > 1 for i in o.items))
    v1, v2 = await api.order(truth), await api.order(truth, path=path)
    assert len(v2["items"]) == sum(i.quantity for i in truth.items) > len(v1["items"])
    assert all(item["quantity"] == 1 for item in v2["items"])
    assert len({item["orderItemId"] for item in v2["items"]}) == len(v2["items"])
    for line in truth.items:
        units = [i for i in v2["items"] if i["orderItemId"] in unit_ids(line)]
        assert len(units) == line.quantity
        assert sum(u["totalPrice"]["valueInt"] for u in units) == int(line.gross * 100)
        assert sum(u["discountAmount"]["valueInt"] for u in units) == int(line.discount * 100)
        assert {u["salePrice"]["valueInt"] for u in units} == {int(line.unit_price * 100)}
    for key in ("orderAmount", "shipmentAmount", "discountAmount", "orderId", "orderNumber"):
        assert v1[key] == v2[key]


@pytest.mark.parametrize("path", ["getOrdersForApi", "getOrdersForApiV2"])
@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2024-09-01", "2024-10-02"),
        ("2024-01-31T10:00", "2024-02-29T10:01"),
        ("2024-09-01", "2024-12-01"),
        # 28 days and a minute: more than February (what a 28-day window rounded outwards is).
        ("2026-02-01T00:00", "2026-03-01T00:01"),
    ],
)
async def test_a_window_longer_than_one_month_is_refused(
    api: Api, path: str, start: str, end: str
) -> None:
    body = {"pageSize": 10, "pageNumber": 1, "startDate": start, "endDate": end}
    await api.refused("POST", f"/order/{path}", body, "ORD_DATE_WINDOW")
    await api.refused("POST", f"/order/{path}", body | {"orderNumber": 1}, "ORD_DATE_WINDOW")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2024-09-01", "2024-09-30"),
        ("2024-09-01", "2024-10-01"),
        ("2024-01-31T10:00", "2024-02-29T10:00"),
        ("2024-09-01T00:01", "2024-09-30T23:59"),
        ("2026-02-01T00:00", "2026-03-01T00:00"),
        ("2026-01-31", "2026-02-28"),
    ],
)
async def test_windows_up_to_one_month_are_accepted(api: Api, start: str, end: str) -> None:
    body = {"pageSize": 10, "pageNumber": 1, "startDate": start, "endDate": end}
    assert (await api.ok("POST", "/order/getOrdersForApiV2", body))["data"] == []


async def test_end_date_is_exclusive(api: Api, sandbox: PazaramaSandbox) -> None:
    truth = new_order(sandbox)  # created at 12:00 Istanbul
    number = int(truth.id)

    async def found(start: str, end: str) -> bool:
        body = {"orderNumber": number, "startDate": start, "endDate": end}
        return bool((await api.ok("POST", "/order/getOrdersForApi", body))["data"])

    assert not await found("2026-01-14", "2026-01-15")
    assert await found("2026-01-15", "2026-01-16")
    assert not await found("2026-01-15", "2026-01-15T12:00")
    assert await found("2026-01-15", "2026-01-15T12:01")
    assert await found("2026-01-15T12:00", "2026-01-15T12:01")
    assert await found("2026-01-15T12:00:00", "2026-01-15T12:00:01")
    assert await found("2026-01-15T09:00Z", "2026-01-15T09:00:01Z")


@pytest.mark.parametrize(
    "value", ["15.01.2026", "2026-1-15", "2026-01-15 12:00", "", "2026-02-30", "dün"]
)
async def test_malformed_dates_are_refused(api: Api, value: str) -> None:
    body = {"pageSize": 10, "pageNumber": 1, "startDate": value, "endDate": "2026-01-20"}
    await api.refused("POST", "/order/getOrdersForApi", body, "ORD_DATE_INVALID")


async def test_an_end_before_the_start_is_refused(api: Api) -> None:
    body = {"pageSize": 10, "pageNumber": 1, "startDate": "2026-01-20", "endDate": "2026-01-10"}
    await api.refused("POST", "/order/getOrdersForApi", body, "ORD_DATE_RANGE")


async def test_pages_count_from_one_and_cover_the_window_once(
    api: Api, sandbox: PazaramaSandbox
) -> None:
    seen: list[int] = []
    for number in range(1, 10):
        rows = await api.orders({"pageSize": 5, "pageNumber": number, **WINDOW})
        seen += [row["orderNumber"] for row in rows]
        if len(rows) < 5:
            break
    assert seen == [int(o.id) for o in sandbox.world.orders]


@pytest.mark.parametrize(
    "paging",
    [{}, {"pageSize": 0, "pageNumber": 1}, {"pageSize": 10, "pageNumber": 0}, {"pageSize": 10}],
)
async def test_bad_paging_is_refused(api: Api, paging: dict[str, int]) -> None:
    await api.refused("POST", "/order/getOrdersForApi", {**WINDOW, **paging}, "ORD_PAGING_INVALID")


async def test_an_unknown_order_number_lists_nothing(api: Api) -> None:
    assert await api.orders({"orderNumber": 123, **WINDOW}) == []


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"pageSize": 10, "pageNumber": 1, "startDate": "2026-01-01"}',
        b'{"pageSize": "10", "pageNumber": 1, "startDate": "2026-01-01", "endDate": "2026-01-02"}',
        b"[]",
    ],
)
async def test_malformed_bodies_are_refused(
    session: aiohttp.ClientSession, api: Api, body: bytes
) -> None:
    async with session.post(
        api.url + "/order/getOrdersForApi",
        data=body,
        headers=api.headers | {"Content-Type": "application/json"},
    ) as response:
        assert_refused(response.status, await response.json(), "ORD_REQUEST_INVALID")


async def test_a_body_that_is_not_json_is_unsupported(
    session: aiohttp.ClientSession, api: Api
) -> None:
    async with session.post(
        api.url + "/order/getOrdersForApi", data={"pageSize": "1"}, headers=api.headers
    ) as response:
        assert_refused(response.status, await response.json(), "ORD_MEDIA_TYPE", http=415)


async def test_keys_bind_case_insensitively(api: Api, sandbox: PazaramaSandbox) -> None:
    body = {"PageSize": 500, "PAGENUMBER": 1, "startdate": "2026-01-01", "EndDate": "2026-01-31"}
    rows = await api.orders(body)
    assert len(rows) == len(sandbox.world.orders)


# -- status writes ------------------------------------------------------------------------------


async def test_the_documents_status_samples_move_an_item_to_12_then_5(
    api: Api, sandbox: PazaramaSandbox
) -> None:
    truth = new_order(sandbox)
    item = truth.items[0]
    body = sample("updateOrderStatus.request.preparing.json")
    body["orderNumber"], body["item"]["orderItemId"] = int(truth.id), item.uuid
    answer = await api.ok("PUT", "/order/updateOrderStatus", body)
    assert answer == sample("updateOrderStatus.response.json")
    assert item.status == "12"
    body = sample("updateOrderStatus.request.shipped.json")
    body["orderNumber"], body["item"]["orderItemId"] = int(truth.id), item.uuid
    await api.ok("PUT", "/order/updateOrderStatus", body)
    assert item.status == "5" and item.shipment is not None
    assert (item.shipment.carrier_code, item.shipment.tracking_number) == (
        "yurtici",
        "1615598038857",
    )
    assert item.shipment.tracking_url == "https://www.yurticikargo.com/"
    rendered = (await api.order(truth))["items"][0]
    assert rendered["cargo"]["trackingNumber"] == "1615598038857"
    write = sandbox.world.writes[-1]
    assert write.outcome == "applied" and write.kind == "ship"


def _status_body(order: Order, status: int, **item: Any) -> Json:
    return {
        "orderNumber": int(order.id),
        "item": {"orderItemId": order.items[0].uuid, "status": status, **item},
    }


SHIPPING = {"deliveryType": 1, "shippingTrackingNumber": "312345678901", "cargoCompanyId": YURTICI}


@pytest.mark.parametrize("status", [5, 11, 13, 14])
async def test_skipping_12_is_refused(api: Api, sandbox: PazaramaSandbox, status: int) -> None:
    truth = new_order(sandbox)
    body = _status_body(truth, status, **SHIPPING)
    await api.refused("PUT", "/order/updateOrderStatus", body, "ORD_PREPARING_REQUIRED")
    assert item_status(truth) == "3"
    assert sandbox.world.writes[-1].outcome == "rejected"


@pytest.mark.parametrize(("setup", "status"), [("12", 11), ("12", 14), ("12", 3), ("5", 12)])
async def test_transitions_outside_the_seller_table_are_refused(
    api: Api, sandbox: PazaramaSandbox, setup: str, status: int
) -> None:
    truth = shipped(sandbox) if setup == "5" else preparing(sandbox)
    await api.refused(
        "PUT", "/order/updateOrderStatus", _status_body(truth, status), "ORD_TRANSITION_INVALID"
    )
    assert item_status(truth) == setup


@pytest.mark.parametrize(
    ("drop", "code"),
    [("shippingTrackingNumber", "ORD_TRACKING_REQUIRED"), ("cargoCompanyId", "ORD_CARGO_REQUIRED")],
)
async def test_shipping_needs_a_tracking_number_and_a_carrier(
    api: Api, sandbox: PazaramaSandbox, drop: str, code: str
) -> None:
    truth = preparing(sandbox)
    fields = {k: v for k, v in SHIPPING.items() if k != drop}
    await api.refused("PUT", "/order/updateOrderStatus", _status_body(truth, 5, **fields), code)
    blank = SHIPPING | {drop: "  "}
    await api.refused("PUT", "/order/updateOrderStatus", _status_body(truth, 5, **blank), code)
    assert item_status(truth) == "12"


async def test_an_unknown_carrier_is_refused(api: Api, sandbox: PazaramaSandbox) -> None:
    truth = preparing(sandbox)
    body = _status_body(
        truth, 5, **SHIPPING | {"cargoCompanyId": "6d6e004a-23b1-43d1-4d30-08d8e87e3449"}
    )
    await api.refused("PUT", "/order/updateOrderStatus", body, "ORD_CARGO_UNKNOWN")


async def test_unknown_orders_items_and_statuses_are_refused(
    api: Api, sandbox: PazaramaSandbox
) -> None:
    truth = new_order(sandbox)
    body = _status_body(truth, 12)
    await api.refused(
        "PUT", "/order/updateOrderStatus", body | {"orderNumber": 1}, "ORD_ORDER_NOT_FOUND"
    )
    other = {"orderItemId": "d6da388c-f465-4f9c-8800-afc9271b801b", "status": 12}
    await api.refused(
        "PUT", "/order/updateOrderStatus", body | {"item": other}, "ORD_ITEM_NOT_FOUND"
    )
    await api.refused(
        "PUT", "/order/updateOrderStatus", _status_body(truth, 4), "ORD_STATUS_UNKNOWN"
    )
    not_a_guid = {"orderItemId": "1", "status": 12}
    await api.refused(
        "PUT", "/order/updateOrderStatus", body | {"item": not_a_guid}, "ORD_REQUEST_INVALID"
    )
    assert item_status(truth) == "3"


async def test_writing_the_current_status_again_changes_nothing(
    api: Api, sandbox: PazaramaSandbox
) -> None:
    truth = preparing(sandbox)
    await api.ok("PUT", "/order/updateOrderStatus", _status_body(truth, 12))
    assert sandbox.world.writes[-1].outcome == "noop"


async def test_update_order_status_list_moves_every_item(
    api: Api, sandbox: PazaramaSandbox
) -> None:
    truth = new_order(sandbox, lambda o: len(o.items) > 1)
    answer = await api.ok(
        "PUT", "/order/updateOrderStatusList", {"orderNumber": int(truth.id), "status": 12}
    )
    assert answer["messageCode"] == "ORD0"
    assert {i.status for i in truth.items} == {"12"}


async def test_update_order_status_list_moves_all_or_nothing(
    api: Api, sandbox: PazaramaSandbox
) -> None:
    truth = new_order(sandbox, lambda o: len(o.items) > 1)
    sandbox.world.set_status(truth.id, "12", lines=[1])
    body = {"orderNumber": int(truth.id), "status": 13}
    await api.refused("PUT", "/order/updateOrderStatusList", body, "ORD_PREPARING_REQUIRED")
    assert [i.status for i in truth.items] == ["12"] + ["3"] * (len(truth.items) - 1)
    body = {"orderNumber": int(truth.id), "status": 5}
    await api.refused("PUT", "/order/updateOrderStatusList", body, "ORD_TRACKING_REQUIRED")


async def test_bulk_status_update_ships_items_with_one_shipment(
    api: Api, sandbox: PazaramaSandbox
) -> None:
    truth = preparing(sandbox, lambda o: len(o.items) > 1)
    body = sample("bulk-status-update.request.json")
    body["orderNumber"] = int(truth.id)
    body["orderItemIds"] = [i.uuid for i in truth.items]
    answer = await api.ok("POST", "/order/api/bulk-status-update", body)
    assert answer["data"] is None and answer["messageCode"] == "ORD0"
    assert {i.status for i in truth.items} == {"5"}
    assert {
        (i.shipment.carrier_code, i.shipment.tracking_number) for i in truth.items if i.shipment
    } == {("mng", "604164846124örnek")}
    delivered = {
        "orderNumber": int(truth.id),
        "orderItemIds": [truth.items[0].uuid],
        "updateShipmentDto": {
            "status": 11,
            "cargoCompanyId": None,
            "deliveryType": None,
            "shipmentNumber": None,
            "shippingTrackingNumber": None,
            "subStatus": None,
            "trackingUrl": None,
        },
    }
    await api.ok("POST", "/order/api/bulk-status-update", delivered)
    assert [i.status for i in truth.items][:2] == ["11", "5"]


@pytest.mark.parametrize(
    ("dto", "code"),
    [
        ({"status": 11, "deliveryType": 1}, "ORD_BULK_FIELDS"),
        ({"status": 12, "deliveryType": 2, "subStatus": 0}, "ORD_DELIVERY_TYPE_INVALID"),
        ({"status": 12, "deliveryType": 1, "subStatus": 3}, "ORD_DELIVERY_TYPE_INVALID"),
        ({"status": 12}, "ORD_DELIVERY_TYPE_INVALID"),
        (
            {"status": 5, "deliveryType": 1, "subStatus": 0, "cargoCompanyId": YURTICI},
            "ORD_TRACKING_REQUIRED",
        ),
    ],
)
async def test_bulk_status_update_follows_its_field_rules(
    api: Api, sandbox: PazaramaSandbox, dto: Json, code: str
) -> None:
    truth = new_order(sandbox)
    body = {
        "orderNumber": int(truth.id),
        "orderItemIds": [truth.items[0].uuid],
        "updateShipmentDto": dto,
    }
    await api.refused("POST", "/order/api/bulk-status-update", body, code)
    assert item_status(truth) == "3"


async def test_bulk_status_update_needs_items(api: Api, sandbox: PazaramaSandbox) -> None:
    truth = new_order(sandbox)
    body = {
        "orderNumber": int(truth.id),
        "orderItemIds": [],
        "updateShipmentDto": {"status": 12, "deliveryType": 1, "subStatus": 0},
    }
    await api.refused("POST", "/order/api/bulk-status-update", body, "ORD_ITEMS_REQUIRED")


async def test_a_v2_unit_id_addresses_its_line(api: Api, sandbox: PazaramaSandbox) -> None:
    truth = new_order(sandbox, lambda o: o.items[0].quantity > 1)
    unit = unit_ids(truth.items[0])[-1]
    body = {"orderNumber": int(truth.id), "item": {"orderItemId": unit.upper(), "status": 12}}
    await api.ok("PUT", "/order/updateOrderStatus", body)
    assert item_status(truth) == "12"


# -- invoice links ------------------------------------------------------------------------------


async def test_invoice_link_for_the_whole_order(api: Api, sandbox: PazaramaSandbox) -> None:
    truth = new_order(sandbox)
    body = sample("invoice-link.request.order.json") | {"orderid": truth.uuid}
    answer = await api.ok("POST", "/order/invoice-link", body)
    assert answer == sample("invoice-link.response.json")
    assert truth.invoice == "https://faturaUrl.pdf"


async def test_invoice_link_for_a_package(api: Api, sandbox: PazaramaSandbox) -> None:
    truth = shipped(sandbox, tracking="321321321")
    body = sample("invoice-link.request.package.json") | {
        "orderid": truth.uuid,
        "deliveryCompanyId": YURTICI,
    }
    await api.ok("POST", "/order/invoice-link", body)
    assert truth.invoice is None
    assert {i.invoice for i in truth.items} == {"https://faturaUrl.pdf"}
    await api.refused(
        "POST", "/order/invoice-link", body | {"trackingNumber": "999"}, "ORD_PACKAGE_NOT_FOUND"
    )
    await api.refused(
        "POST", "/order/invoice-link", body | {"trackingNumber": None}, "ORD_PACKAGE_INCOMPLETE"
    )


async def test_invoice_link_for_one_item(api: Api, sandbox: PazaramaSandbox) -> None:
    truth = shipped(sandbox, tracking="321321321")
    first = truth.items[0]
    body = sample("invoice-link.request.item.json") | {
        "orderid": truth.uuid,
        "orderItemId": first.uuid,
        "deliveryCompanyId": YURTICI,
    }
    assert await api.ok("POST", "/order/invoice-link", body) == sample(
        "invoice-link.response.item.json"
    )
    assert first.invoice == "https://faturaUrl.pdf"
    assert all(i.invoice is None for i in truth.items[1:])
    bare = {
        "invoiceLink": "https://x.example/2.pdf",
        "orderid": truth.uuid,
        "orderItemId": first.uuid,
    }
    await api.ok("POST", "/order/invoice-link", bare)
    assert first.invoice == "https://x.example/2.pdf"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"orderid": "0d145804-5d05-4e4a-a4a0-921e45c8a5e3"}, "ORD_ORDER_NOT_FOUND"),
        ({"invoiceLink": "faturaUrl.pdf"}, "ORD_INVOICE_LINK_INVALID"),
        ({"orderItemId": "209c4d98-08de-4ea4-b681-c4b148b2e8fb"}, "ORD_ITEM_NOT_FOUND"),
    ],
)
async def test_invoice_link_refusals(
    api: Api, sandbox: PazaramaSandbox, change: Json, code: str
) -> None:
    truth = new_order(sandbox)
    body = sample("invoice-link.request.order.json") | {"orderid": truth.uuid} | change
    await api.refused("POST", "/order/invoice-link", body, code)
    assert truth.invoice is None
    assert sandbox.world.writes[-1].outcome == "rejected"


# -- refunds ------------------------------------------------------------------------------------


async def test_get_refund_lists_requests_in_the_documents_shape(
    api: Api, sandbox: PazaramaSandbox
) -> None:
    order, record = refund_request(sandbox)
    answer = await api.ok(
        "POST", "/order/getRefund", {"pageSize": 10, "pageNumber": 1, **REQUEST_WINDOW}
    )
    expected = shape(sample("getRefund.response.json")["data"])
    expected["refundList"][0]["quantity"] = None  # 3.25: rows carry their quantity
    assert shape(answer["data"]) == expected
    data = msgspec.json.decode(
        json.dumps(answer), type=raw.Envelope[raw.RefundList], strict=True
    ).data
    assert data is not None and data.response_page is not None
    [row] = data.refund_list
    item = order.items[0]
    assert (row.refund_id, row.order_number, row.refund_status) == (record.id, int(order.id), 1)
    assert (row.product_code, row.product_stock_code) == (item.barcode, item.sku)
    assert row.refund_amount is not None and row.refund_amount.value == item.total
    assert row.quantity == item.quantity and row.refund_type == "Beden uymadı"
    assert row.refund_date == "15 Ocak 2026 12:00"
    assert (data.response_page.total_count, data.response_page.total_pages) == (1, 1)


async def test_get_refund_filters_by_status_date_and_splits_items(
    api: Api, sandbox: PazaramaSandbox
) -> None:
    _, record = refund_request(sandbox, quantity=2)
    base = {"pageSize": 10, "pageNumber": 1, **REQUEST_WINDOW}
    assert (await api.ok("POST", "/order/getRefund", base | {"refundStatus": 2}))["data"][
        "refundList"
    ] == []
    late = base | {"requestStartDate": "2026-01-15T12:01"}
    assert (await api.ok("POST", "/order/getRefund", late))["data"]["refundList"] == []
    split = await api.ok("POST", "/order/getRefund", base | {"SplitItems": True, "refundStatus": 1})
    rows = split["data"]["refundList"]
    assert [r["quantity"] for r in rows] == [1, 1]
    assert len({r["refundId"] for r in rows}) == 2 and record.id not in {
        r["refundId"] for r in rows
    }
    assert sum(r["refundAmount"]["valueInt"] for r in rows) == int(record.amount * 100)
    # A split id decides the whole request.
    await api.ok("POST", "/order/updateRefund", {"refundId": rows[1]["refundId"], "status": 2})
    assert record.status == "2"


async def test_approving_a_refund_then_paying_it_back(api: Api, sandbox: PazaramaSandbox) -> None:
    order, record = refund_request(sandbox)
    assert item_status(order) == "7"
    body = sample("updateRefund.request.approve.json") | {"refundId": record.id}
    answer = await api.ok("POST", "/order/updateRefund", body)
    decision = msgspec.json.decode(
        json.dumps(answer), type=raw.Envelope[raw.DecisionResult], strict=True
    ).data
    assert decision is not None
    assert decision.refund_status == "Tedarikçi Tarafından Onaylandı"
    assert (decision.refund_id, decision.order_item_id) == (record.id, order.items[0].uuid)
    assert (record.status, item_status(order)) == ("2", "8")
    sandbox.advance(3 * DAY)
    assert item_status(order) == "10"


async def test_rejecting_a_refund_with_reason_description_and_image(
    api: Api, sandbox: PazaramaSandbox
) -> None:
    order, record = refund_request(sandbox)
    body = sample("updateRefund.request.reject.json") | {
        "refundId": record.id,
        "description": "Ürün kullanılmış",
        "documentObjects": [{"name": "kanit.png", "bytes": base64.b64encode(PNG).decode()}],
    }
    assert "RefundRejectType" in body  # the document's PascalCase key binds
    answer = await api.ok("POST", "/order/updateRefund", body)
    assert answer["data"]["refundStatus"] == "Tedarikçi Tarafından Reddedildi"
    assert (record.status, item_status(order), record.note) == ("3", "9", "Ürün kullanılmış")


def _reject(record: Record, **fields: Any) -> Json:
    images = [{"name": "a.png", "bytes": base64.b64encode(PNG).decode()}]
    return {
        "refundId": record.id,
        "status": 3,
        "refundRejectType": 2,
        "description": "Kusurlu değil",
        "documentObjects": images,
    } | fields


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"refundRejectType": None}, "ORD_REJECT_TYPE_REQUIRED"),
        ({"refundRejectType": 0}, "ORD_REJECT_TYPE_REQUIRED"),
        ({"refundRejectType": 13}, "ORD_REJECT_TYPE_REQUIRED"),
        ({"description": None}, "ORD_DESCRIPTION_REQUIRED"),
        ({"description": "   "}, "ORD_DESCRIPTION_REQUIRED"),
        ({"documentObjects": []}, "ORD_DOCUMENT_REQUIRED"),
        ({"documentObjects": None}, "ORD_DOCUMENT_REQUIRED"),
        ({"refundRejectType": 12, "documentObjects": []}, "ORD_DOCUMENT_REQUIRED"),
        (
            {"documentObjects": [{"name": f"{n}.png", "bytes": "iVBORw0K"} for n in range(4)]},
            "ORD_DOCUMENT_LIMIT",
        ),
        (
            {
                "documentObjects": [
                    {"name": "big.png", "bytes": base64.b64encode(b"\0" * 5_000_001).decode()}
                ]
            },
            "ORD_DOCUMENT_TOO_LARGE",
        ),
        ({"documentObjects": [{"name": "x.png", "bytes": "not base64!"}]}, "ORD_REQUEST_INVALID"),
        ({"status": 4}, "ORD_REFUND_STATUS_INVALID"),
        ({"status": 1}, "ORD_REFUND_STATUS_INVALID"),
        ({"quantity": 5}, "ORD_QUANTITY_INVALID"),
    ],
)
async def test_refund_rejection_rules(
    api: Api, sandbox: PazaramaSandbox, fields: Json, code: str
) -> None:
    order, record = refund_request(sandbox, quantity=1)
    await api.refused("POST", "/order/updateRefund", _reject(record, **fields), code)
    assert (record.status, item_status(order)) == ("1", "7")


@pytest.mark.parametrize("reason", [10, 11])
async def test_empty_or_lost_return_packages_need_no_image(
    api: Api, sandbox: PazaramaSandbox, reason: int
) -> None:
    _, record = refund_request(sandbox)
    await api.ok(
        "POST",
        "/order/updateRefund",
        _reject(record, refundRejectType=reason, documentObjects=None),
    )
    assert record.status == "3"


async def test_three_images_of_exactly_5_000_000_bytes_are_accepted(
    api: Api, sandbox: PazaramaSandbox
) -> None:
    _, record = refund_request(sandbox)
    image = {"name": "a.png", "bytes": base64.b64encode(b"\0" * 5_000_000).decode()}
    await api.ok("POST", "/order/updateRefund", _reject(record, documentObjects=[image] * 3))
    assert record.status == "3"


async def test_the_documents_review_sample_is_accepted(api: Api, sandbox: PazaramaSandbox) -> None:
    order, record = refund_request(sandbox, quantity=1)
    body = sample("updateRefund.request.review.json") | {"refundId": record.id}
    answer = await api.ok("POST", "/order/updateRefund", body)
    assert (
        answer["data"]["refundStatus"]
        == sample("updateRefund.response.review.json")["data"]["refundStatus"]
    )
    assert (record.status, item_status(order)) == ("9", "7")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"refundReviewType": None}, "ORD_REVIEW_TYPE_REQUIRED"),
        ({"refundReviewType": 4}, "ORD_REVIEW_TYPE_REQUIRED"),
        ({"refundReviewType": 3, "description": None}, "ORD_DESCRIPTION_REQUIRED"),
    ],
)
async def test_review_rules(api: Api, sandbox: PazaramaSandbox, fields: Json, code: str) -> None:
    _, record = refund_request(sandbox)
    body = {"refundId": record.id, "status": 9, "refundReviewType": 1, "description": "x"}
    await api.refused("POST", "/order/updateRefund", body | fields, code)
    await api.ok(
        "POST", "/order/updateRefund", {"refundId": record.id, "status": 9, "refundReviewType": 2}
    )


async def test_a_refund_is_decided_once(api: Api, sandbox: PazaramaSandbox) -> None:
    _, record = refund_request(sandbox)
    await api.ok("POST", "/order/updateRefund", {"refundId": record.id, "status": 2})
    await api.refused(
        "POST",
        "/order/updateRefund",
        {"refundId": record.id, "status": 2},
        "ORD_REFUND_NOT_PENDING",
    )
    assert sandbox.world.writes[-1].outcome == "rejected"


async def test_unknown_refunds_are_refused(api: Api) -> None:
    body = sample("updateRefund.request.approve.json")
    await api.refused("POST", "/order/updateRefund", body, "ORD_REFUND_NOT_FOUND")
    await api.refused(
        "POST", "/order/updateRefund", body | {"refundId": "x"}, "ORD_REQUEST_INVALID"
    )


# -- cancellations ------------------------------------------------------------------------------


async def test_cancel_items_lists_requests_in_the_documents_shape(
    api: Api, sandbox: PazaramaSandbox
) -> None:
    order, record = cancellation_request(sandbox)
    assert item_status(order) == "18"
    body = sample("cancel-items.request.json") | REQUEST_WINDOW
    answer = await api.ok("POST", "/order/api/cancel/items", body)
    data = answer["data"]
    assert shape(data) == shape(sample("cancel-items.response.json")["data"])
    decoded = msgspec.json.decode(
        json.dumps(answer), type=raw.Envelope[raw.CancelList], strict=True
    ).data
    assert decoded is not None
    assert [(r.refund_id, r.order_number) for r in decoded.refund_list] == [
        (record.id, int(order.id))
    ]
    by_number = body | {"orderNumber": int(order.id) + 1}
    assert (await api.ok("POST", "/order/api/cancel/items", by_number))["data"]["refundList"] == []


@pytest.mark.parametrize(("status", "record_status", "item"), [(2, "2", "6"), (3, "3", "12")])
async def test_cancellation_decisions(
    api: Api, sandbox: PazaramaSandbox, status: int, record_status: str, item: str
) -> None:
    order, record = cancellation_request(sandbox)
    answer = await api.ok("PUT", "/order/api/cancel", {"refundId": record.id, "status": status})
    assert shape(answer) == shape(sample("cancel.response.json"))
    decision = msgspec.convert(answer["data"], raw.DecisionResult, strict=True)
    assert decision.refund_status == raw.REFUND_STATUS[status]
    assert (decision.order_number, decision.refund_id) == (int(order.id), record.id)
    assert decision.order_item_id == order.items[0].uuid
    assert (record.status, item_status(order)) == (record_status, item)


async def test_cancellation_refusals(api: Api, sandbox: PazaramaSandbox) -> None:
    _, record = cancellation_request(sandbox)
    await api.refused(
        "PUT",
        "/order/api/cancel",
        {"refundId": record.id, "status": 4},
        "ORD_CANCEL_STATUS_INVALID",
    )
    await api.refused(
        "PUT", "/order/api/cancel", sample("cancel.request.json"), "ORD_CANCEL_NOT_FOUND"
    )
    await api.ok("PUT", "/order/api/cancel", {"refundId": record.id, "status": 3})
    await api.refused(
        "PUT", "/order/api/cancel", {"refundId": record.id, "status": 2}, "ORD_CANCEL_NOT_PENDING"
    )


# -- carriers and limits ------------------------------------------------------------------------


async def test_seller_delivery_lists_the_carriers(api: Api) -> None:
    answer = await api.ok("GET", "/sellerRegister/getSellerDelivery")
    assert shape(answer) == shape(sample("getSellerDelivery.response.json"))
    data = msgspec.json.decode(
        json.dumps(answer), type=raw.Envelope[raw.SellerDelivery], strict=True
    ).data
    assert data is not None and data.cargo_company is not None
    companies = {
        c.cargo_company_name: c.cargo_company_id for c in data.cargo_company.cargo_companies
    }
    assert companies["MNG Kargo"] == "8eb9aeb7-fd11-425b-9930-08d8e48cc18f"  # the document's
    assert companies["Yurtiçi Kargo"] == "7b5567ff-abe7-487e-5c79-08d8e480366a"
    assert {"Aras Kargo", "PTT Kargo", "Sürat Kargo"} <= set(companies)


async def test_no_rate_limit_by_default(api: Api) -> None:
    for _ in range(40):
        status, _ = await api.call("GET", "/sellerRegister/getSellerDelivery")
        assert status == 200


async def test_a_configured_rate_limit_answers_429_with_the_envelope(clock: ManualClock) -> None:
    rule = RateLimitRule("per-token", limit=2, window=60, key=per_token)
    sandbox = PazaramaSandbox(clock=clock, rules=[rule])
    async with serve([sandbox]) as (served,), aiohttp.ClientSession() as session:
        api = Api(session, served, await issue_token(session, served))
        for _ in range(2):
            await api.ok("GET", "/sellerRegister/getSellerDelivery")
        async with session.get(
            served.base_url + "/sellerRegister/getSellerDelivery", headers=api.headers
        ) as response:
            assert_refused(response.status, await response.json(), "ORD_RATE_LIMIT", http=429)
            assert response.headers["Retry-After"] == "60"
        sandbox.advance(60)
        await api.ok("GET", "/sellerRegister/getSellerDelivery")


# -- the world by itself ------------------------------------------------------------------------


async def test_the_world_cancels_delivers_returns_and_refunds_over_days(clock: ManualClock) -> None:
    sandbox = PazaramaSandbox(clock=clock, settings=SandboxSettings(seed=11))
    world = sandbox.world
    orders = world.spawn(300)
    sandbox.advance(DAY)
    direct = [r for r in world.cancellations if r.status == "8"]
    assert direct and all(
        item_status(world.order(r.order_id), r.item_lines[0]) == "6" for r in direct
    )
    prepared_at = clock.now()
    for order in orders:
        lines = [i.line for i in order.items if i.status == "3"]
        if lines:
            world.set_status(order.id, "12", lines=lines)
    sandbox.advance(DAY / 2)
    requests = [r for r in world.cancellations if r.status == "1"]
    assert requests and all(
        item_status(world.order(r.order_id), r.item_lines[0]) == "18" for r in requests
    )
    shipped_orders = orders[::2]
    for order in shipped_orders:
        lines = [i.line for i in order.items if i.status == "12"]
        if lines:
            world.ship(
                order.id,
                carrier_code="ptt",
                tracking_number=f"RR{order.id}TR",
                lines=lines,
                status="5",
            )
    sandbox.advance(4 * DAY)
    automatic = [r for r in world.cancellations if r.status == "6" and r.actor == "platform"]
    assert automatic
    for record in automatic:
        change = next(
            c
            for c in world.order(record.order_id).history
            if c.item_line == record.item_lines[0] and c.target == "6"
        )
        assert change.source == "12" and change.at == prepared_at + dt.timedelta(days=4)
    sandbox.advance(30 * DAY)
    statuses = {i.status for o in shipped_orders for i in o.items}
    assert {"11", "10"} <= statuses
    returned = [r for r in world.refunds]
    assert returned and {r.status for r in returned} & {"6", "7"}
    # Everything the world made is what the API lists.
    async with serve([sandbox]) as (served,), aiohttp.ClientSession() as session:
        api = Api(session, served, await issue_token(session, served))
        window = {
            "pageSize": 1000,
            "pageNumber": 1,
            "requestStartDate": "2026-01-01",
            "requestEndDate": "2026-03-01",
        }
        refunds = (await api.ok("POST", "/order/getRefund", window))["data"]["refundList"]
        cancels = (await api.ok("POST", "/order/api/cancel/items", window))["data"]["refundList"]
    assert [(r["refundId"], str(r["refundStatus"])) for r in refunds] == [
        (r.id, r.status) for r in world.refunds
    ]
    assert [r["refundId"] for r in cancels] == [r.id for r in world.cancellations]


async def test_the_carrier_delivers_within_one_to_three_days(clock: ManualClock) -> None:
    sandbox = PazaramaSandbox(clock=clock, settings=SandboxSettings(seed=2))
    world = sandbox.world
    for order in world.spawn(60):
        world.set_status(order.id, "12")
        world.ship(order.id, carrier_code="mng", tracking_number=f"7{order.id}", status="5")
    shipped_at = clock.now()
    sandbox.advance(10 * DAY)
    delivered = [
        c
        for o in world.orders
        for c in o.history
        if c.item_line and c.source == "5" and c.target == "11"
    ]
    assert delivered
    assert all(DAY <= (c.at - shipped_at).total_seconds() <= 3 * DAY for c in delivered)
    assert all(c.actor == "carrier" for c in delivered)


# -- the seller table as a property -------------------------------------------------------------

ALL_STATUSES = [*sorted(raw.ORDER_ITEM_STATUS), 99]


async def _play(data: st.DataObject, seed: int) -> PazaramaSandbox:
    """Random seller writes through every status endpoint, half of them aimed at a move the
    table allows (so chains like 3 → 12 → 5 → 11 happen), with time passing in between."""
    sandbox = PazaramaSandbox(
        clock=ManualClock(START), settings=SandboxSettings(seed=seed, initial_orders=3)
    )
    async with serve([sandbox]) as (served,), aiohttp.ClientSession() as session:
        api = Api(session, served, await issue_token(session, served))
        for _ in range(data.draw(st.integers(min_value=1, max_value=30), label="steps")):
            kind = data.draw(st.sampled_from(["item", "list", "bulk", "wait"]), label="kind")
            if kind == "wait":  # the world moves on (and the token expires)
                sandbox.advance(data.draw(st.sampled_from([60, 3600, DAY, 3 * DAY])))
                api = Api(session, served, await issue_token(session, served))
                continue
            order = data.draw(st.sampled_from(sandbox.world.orders), label="order")
            item = data.draw(st.sampled_from(order.items), label="item")
            allowed = sorted(SELLER_TRANSITIONS.get(item.status, ()), key=int)
            aimed = st.sampled_from([int(s) for s in allowed]) if allowed else st.nothing()
            status = data.draw(st.one_of(aimed, st.sampled_from(ALL_STATUSES)), label="status")
            shipping = {
                "deliveryType": 1,
                "shippingTrackingNumber": f"3{order.id}",
                "cargoCompanyId": YURTICI,
            }
            if kind == "item":
                body = {
                    "orderNumber": int(order.id),
                    "item": {"orderItemId": item.uuid, "status": status, **shipping},
                }
                result = await api.call("PUT", "/order/updateOrderStatus", body)
            elif kind == "list":
                body = {"orderNumber": int(order.id), "status": status}
                result = await api.call("PUT", "/order/updateOrderStatusList", body)
            else:
                dto = (
                    {"status": status}
                    if status == 11
                    else {"status": status, "subStatus": 0, **shipping}
                )
                body = {
                    "orderNumber": int(order.id),
                    "orderItemIds": [item.uuid],
                    "updateShipmentDto": dto,
                }
                result = await api.call("POST", "/order/api/bulk-status-update", body)
            assert result[0] in (200, 400), result
    return sandbox


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(min_value=0, max_value=1000))
def test_seller_writes_never_leave_the_seller_table(data: st.DataObject, seed: int) -> None:
    sandbox = asyncio.run(_play(data, seed))
    for order in sandbox.world.orders:
        for change in order.history:
            if change.actor == "seller" and change.item_line is not None:
                assert change.source is not None
                assert change.target in SELLER_TRANSITIONS.get(change.source, set()), change
    answered = {e.id: e.status for e in sandbox.log.entries}
    for write in sandbox.world.writes:
        assert write.request_id is not None
        assert answered[write.request_id] == (400 if write.outcome == "rejected" else 200)
