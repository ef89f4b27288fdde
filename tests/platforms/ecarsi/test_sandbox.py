"""The E-Çarşı simulator over real HTTP on 127.0.0.1: each endpoint, each refusal, the limits."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.clock import ManualClock
from pipeline.platforms.ecarsi import payloads as raw
from pipeline.platforms.ecarsi.sandbox import SELLER, EcarsiSandbox
from pipeline.platforms.ecarsi.sandbox_render import COMPANIES
from pipeline.sandbox import FaultRule, Order, SandboxSettings, ServedSandbox, local, serve

DATA = Path(__file__).parents[2] / "data" / "ecarsi"
START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)


async def call(
    session: aiohttp.ClientSession, method: str, url: str, **kw: Any
) -> tuple[int, Any, dict[str, str]]:
    async with session.request(method, url, **kw) as response:
        return response.status, await response.json(), dict(response.headers)


def message(key: str) -> dict[str, str]:
    tr, en = raw.MESSAGES[key]
    return {"tr": tr, "en": en}


def fresh_order(sandbox: EcarsiSandbox) -> Order:
    (order,) = sandbox.world.spawn(1)
    assert order.status == "waiting"
    return order


# -- auth -------------------------------------------------------------------------------------


async def test_login_returns_a_token_and_the_seller(
    served: ServedSandbox, session: aiohttp.ClientSession
) -> None:
    body = {"email": "sandbox-email", "password": "sandbox-password"}
    status, answer, _ = await call(session, "POST", served.base_url + "/auth", json=body)
    assert status == 200 and answer["success"] is True
    assert answer["message"] == message("login_ok")
    assert answer["data"]["seller"] == {"id": 1, "email": "sandbox-email"}
    assert answer["data"]["token"].startswith("sbx_")


@pytest.mark.parametrize(
    ("body", "status", "key", "errors"),
    [
        (json.loads((DATA / "auth.request.json").read_text()), 401, "invalid_credentials", None),
        ({"email": "sandbox-email", "password": "123456"}, 401, "invalid_password", None),
        ({}, 422, "invalid_login", {"email": ["E-posta adresi zorunludur"],
                                     "password": ["Şifre zorunludur"]}),
        ({"email": "sandbox-email", "password": ""}, 422, "invalid_login",
         {"password": ["Şifre zorunludur"]}),
    ],
)  # fmt: skip
async def test_login_refusals_use_the_documents_messages(
    served: ServedSandbox,
    session: aiohttp.ClientSession,
    body: dict[str, str],
    status: int,
    key: str,
    errors: dict[str, list[str]] | None,
) -> None:
    got, answer, _ = await call(session, "POST", served.base_url + "/auth", json=body)
    assert got == status and answer["success"] is False
    assert answer["message"] == message(key)
    assert answer.get("errors") == errors


async def test_a_body_that_is_not_json_is_400(
    served: ServedSandbox, session: aiohttp.ClientSession
) -> None:
    status, answer, _ = await call(session, "POST", served.base_url + "/auth", data=b"email=x")
    assert (status, answer["message"]) == (400, message("bad_request"))


@pytest.mark.parametrize("path", ["/orders", "/orders/100001", "/shipping-companies"])
async def test_routes_need_a_valid_token(
    served: ServedSandbox,
    sandbox: EcarsiSandbox,
    session: aiohttp.ClientSession,
    auth: dict[str, str],
    path: str,
) -> None:
    unauthorized = {"success": False, "message": message("unauthorized")}
    for headers in ({}, {"Authorization": "Bearer nope"}):
        status, answer, _ = await call(session, "GET", served.base_url + path, headers=headers)
        assert (status, answer) == (401, unauthorized)
    assert (await call(session, "GET", served.base_url + path, headers=auth))[0] == 200
    sandbox.faults.add(FaultRule("token_expiry", times=1))
    status, answer, _ = await call(session, "GET", served.base_url + path, headers=auth)
    assert (status, answer) == (401, unauthorized)


# -- reading ----------------------------------------------------------------------------------


async def test_shipping_companies(
    served: ServedSandbox, session: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    url = served.base_url + "/shipping-companies"
    status, answer, _ = await call(session, "GET", url, headers=auth)
    assert status == 200 and answer["message"] == message("companies_ok")
    assert answer["data"][0] == {
        "id": 1,
        "name": "Yurtiçi Kargo",
        "logo": "https://e-carsi.com/dosya/kargo/yurtici.png",
    }
    assert [c["id"] for c in answer["data"]] == list(COMPANIES)


async def test_order_list_pages_newest_first(
    served: ServedSandbox,
    sandbox: EcarsiSandbox,
    session: aiohttp.ClientSession,
    auth: dict[str, str],
) -> None:
    url = served.base_url + "/orders"
    seen: list[str] = []
    for page in range(1, 6):
        status, answer, _ = await call(
            session, "GET", url, headers=auth, params={"page": page, "per_page": 7}
        )
        assert status == 200 and answer["message"] == message("orders_ok")
        assert answer["data"]["pagination"] == {
            "total": 30,
            "per_page": 7,
            "current_page": page,
            "last_page": 5,
        }
        seen += [row["order_id"] for row in answer["data"]["orders"]]
    newest_first = sorted(sandbox.world.orders, key=lambda o: o.created_at, reverse=True)
    assert seen == [o.id for o in newest_first]
    _, answer, _ = await call(session, "GET", url, headers=auth, params={"page": 6, "per_page": 7})
    assert answer["data"]["orders"] == []
    _, answer, _ = await call(session, "GET", url, headers=auth)
    assert len(answer["data"]["orders"]) == 20  # the example's per_page is the default
    row = answer["data"]["orders"][0]
    order = sandbox.world.get(row["order_id"])
    assert order is not None
    assert row == {
        "order_id": order.id,
        "seller_status": order.status,
        "customer_status": row["customer_status"],
        "invoice_status": row["invoice_status"],
        "customer_email": order.buyer.email,
        "product_count": sum(i.quantity for i in order.items),
        "price": float(order.totals.total),
        "order_date": local(order.created_at).strftime("%Y-%m-%d %H:%M:%S"),
    }


@pytest.mark.parametrize(
    ("query", "field", "text"),
    [
        ({"per_page": "101"}, "per_page", raw.FIELD_ERRORS["per_page"]),
        ({"per_page": "0"}, "per_page", raw.FIELD_ERRORS["per_page"]),
        ({"page": "0"}, "page", raw.FIELD_ERRORS["page"]),
        ({"page": "x"}, "page", raw.FIELD_ERRORS["page"]),
        ({"seller_status": "cancelled"}, "seller_status", raw.FIELD_ERRORS["status"]),
        ({"customer_status": "shipped"}, "customer_status", raw.FIELD_ERRORS["status"]),
        ({"invoice_status": "yes"}, "invoice_status", raw.FIELD_ERRORS["status"]),
        ({"date": "2024/02/20"}, "date", raw.FIELD_ERRORS["date"]),
        ({"date": "20.02.2024", "date_mode": "since"}, "date_mode", raw.FIELD_ERRORS["date_mode"]),
    ],
)
async def test_order_list_refuses_bad_parameters(
    served: ServedSandbox,
    session: aiohttp.ClientSession,
    auth: dict[str, str],
    query: dict[str, str],
    field: str,
    text: str,
) -> None:
    url = served.base_url + "/orders"
    status, answer, _ = await call(session, "GET", url, headers=auth, params=query)
    assert status == 422
    assert answer == {
        "success": False,
        "message": message("invalid_parameters"),
        "errors": {field: [text]},
    }


async def test_the_documents_list_request_is_accepted(
    served: ServedSandbox, session: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    curl = (DATA / "orders.list.request.curl.txt").read_text()
    query = curl.split("/api/orders?")[1].split('"')[0]
    body = (DATA / "orders.list.request.json").read_bytes()  # a GET body, as the curl sends
    url = f"{served.base_url}/orders?{query}"
    status, answer, _ = await call(session, "GET", url, headers=auth, data=body)
    assert status == 200 and answer["data"]["pagination"]["per_page"] == 20
    assert all(row["seller_status"] == "waiting" for row in answer["data"]["orders"])


async def test_date_modes_compare_istanbul_days_and_after_excludes_the_day(
    served: ServedSandbox,
    sandbox: EcarsiSandbox,
    session: aiohttp.ClientSession,
    auth: dict[str, str],
) -> None:
    orders = sandbox.world.orders
    day = local(orders[len(orders) // 2].created_at).date()
    expected = {
        "exact": {o.id for o in orders if local(o.created_at).date() == day},
        "after": {o.id for o in orders if local(o.created_at).date() > day},
        "before": {o.id for o in orders if local(o.created_at).date() < day},
    }
    assert all(expected.values())
    for mode, ids in expected.items():
        for text in (day.strftime("%d.%m.%Y"), day.isoformat()):
            params = {"date": text, "date_mode": mode, "per_page": "100"}
            _, answer, _ = await call(
                session, "GET", served.base_url + "/orders", headers=auth, params=params
            )
            assert {row["order_id"] for row in answer["data"]["orders"]} == ids, (mode, text)


async def test_status_filters(
    served: ServedSandbox,
    sandbox: EcarsiSandbox,
    session: aiohttp.ClientSession,
    auth: dict[str, str],
) -> None:
    url = served.base_url + "/orders"
    for field, value in (
        ("seller_status", "approved"),
        ("customer_status", "completed"),
        ("invoice_status", "uploaded"),
    ):
        params = {field: value, "per_page": "100"}
        _, answer, _ = await call(session, "GET", url, headers=auth, params=params)
        rows = answer["data"]["orders"]
        assert rows and all(row[field] == value for row in rows), field
        assert len(rows) < len(sandbox.world.orders)


async def test_order_detail_has_the_documents_shape(
    served: ServedSandbox,
    sandbox: EcarsiSandbox,
    session: aiohttp.ClientSession,
    auth: dict[str, str],
) -> None:
    sample = json.loads((DATA / "orders.detail.response.success.json").read_text())
    order = sandbox.world.orders[0]
    status, answer, _ = await call(
        session, "GET", f"{served.base_url}/orders/{order.id}", headers=auth
    )
    assert status == 200 and answer["message"] == message("order_ok")
    shown = answer["data"]["order"]
    assert set(shown) == set(sample["data"]["order"]) | {"shipments"}
    for block in ("customer", "address", "invoice", "status", "totals"):
        assert set(shown[block]) == set(sample["data"]["order"][block]), block
    assert set(shown["items"][0]) == set(sample["data"]["order"]["items"][0])
    assert shown["status"]["seller"] == order.status
    assert shown["totals"]["total"] == float(order.totals.total)
    assert [i["quantity"] for i in shown["items"]] == [i.quantity for i in order.items]
    assert len(shown["customer"]["phone"]) == 10
    status, answer, _ = await call(session, "GET", served.base_url + "/orders/999", headers=auth)
    assert (status, answer) == (404, {"success": False, "message": message("order_not_found")})


# -- shipping ---------------------------------------------------------------------------------


async def test_each_shipping_call_creates_a_record(
    served: ServedSandbox,
    sandbox: EcarsiSandbox,
    session: aiohttp.ClientSession,
    auth: dict[str, str],
) -> None:
    order = fresh_order(sandbox)
    url = f"{served.base_url}/orders/{order.id}/shipping"
    body = json.loads((DATA / "orders.shipping.request.json").read_text())
    for _ in range(2):
        status, answer, _ = await call(session, "POST", url, headers=auth, json=body)
        assert status == 200 and answer["message"] == message("shipping_ok")
        assert answer["data"]["tracking"] == {
            "number": "1234567890",
            "url": "https://www.yurticikargo.com/takip?code=1234567890",
            "barcode_url": "https://e-carsi.com/kargo-barkod/1234567890.png",
        }
    assert order.status == "shipped"
    ships = [w for w in sandbox.world.writes if w.kind == "ship" and w.target == order.id]
    assert [w.outcome for w in ships] == ["applied", "applied"]
    _, answer, _ = await call(session, "GET", f"{served.base_url}/orders/{order.id}", headers=auth)
    shipments = answer["data"]["order"]["shipments"]
    assert [s["tracking"]["number"] for s in shipments] == ["1234567890", "1234567890"]
    assert shipments[0]["company_id"] == 1 and shipments[0]["desi"] == 2
    sandbox.advance(4 * 86400)  # the carrier delivers within three days
    assert order.status == "delivered"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"company_id": 99, "tracking_number": "1", "desi": 2}, ["company_id"]),
        ({"company_id": "1", "tracking_number": "1", "desi": 2}, ["company_id"]),
        ({"company_id": 1, "tracking_number": " ", "desi": 2}, ["tracking_number"]),
        ({"company_id": 1, "tracking_number": 123, "desi": 2}, ["tracking_number"]),
        ({"company_id": 1, "tracking_number": "1", "desi": 0}, ["desi"]),
        ({"company_id": 1, "tracking_number": "1", "desi": 101}, ["desi"]),
        ({"company_id": 1, "tracking_number": "1", "desi": 2.5}, ["desi"]),
        ({"company_id": 1, "tracking_number": "1"}, ["desi"]),
        ({}, ["company_id", "tracking_number", "desi"]),
    ],
)
async def test_shipping_validation(
    served: ServedSandbox,
    sandbox: EcarsiSandbox,
    session: aiohttp.ClientSession,
    auth: dict[str, str],
    body: dict[str, Any],
    fields: list[str],
) -> None:
    order = fresh_order(sandbox)
    url = f"{served.base_url}/orders/{order.id}/shipping"
    status, answer, _ = await call(session, "POST", url, headers=auth, json=body)
    assert status == 422 and answer["message"] == message("invalid_parameters")
    assert answer["errors"] == {field: [raw.FIELD_ERRORS[field]] for field in fields}
    assert order.status == "waiting" and not sandbox.world.writes


async def test_shipping_refusals_not_found_bad_body_and_wrong_status(
    served: ServedSandbox,
    sandbox: EcarsiSandbox,
    session: aiohttp.ClientSession,
    auth: dict[str, str],
) -> None:
    body = {"company_id": 1, "tracking_number": "1", "desi": 2}
    status, answer, _ = await call(
        session, "POST", served.base_url + "/orders/999/shipping", headers=auth, json=body
    )
    assert (status, answer["message"]) == (404, message("order_not_found"))
    order = fresh_order(sandbox)
    url = f"{served.base_url}/orders/{order.id}/shipping"
    status, answer, _ = await call(session, "POST", url, headers=auth, data=b"[1")
    assert (status, answer["message"]) == (400, message("bad_request"))
    delivered = next(o for o in sandbox.world.orders if o.status == "delivered")
    url = f"{served.base_url}/orders/{delivered.id}/shipping"
    status, answer, _ = await call(session, "POST", url, headers=auth, json=body)
    assert (status, answer["message"]) == (422, message("shipping_not_allowed"))
    assert delivered.status == "delivered"


# -- limits -----------------------------------------------------------------------------------


async def test_per_ip_limit_answers_429_in_the_vendors_shape(
    served: ServedSandbox,
    sandbox: EcarsiSandbox,
    session: aiohttp.ClientSession,
    auth: dict[str, str],  # the login is the first of the minute's 60 requests
) -> None:
    url = served.base_url + "/shipping-companies"
    for _ in range(59):
        assert (await call(session, "GET", url, headers=auth))[0] == 200
    sandbox.advance(30)
    status, answer, headers = await call(session, "GET", url, headers=auth)
    assert status == 429
    assert answer == {
        "success": False,
        "message": message("too_many_requests"),
        "data": None,
        "errors": None,
    }
    assert headers["Retry-After"] == "30" and headers["X-RateLimit-Limit"] == "60"
    sandbox.advance(30)
    assert (await call(session, "GET", url, headers=auth))[0] == 200
    assert sandbox.limits.violations == {"per-ip-minute": 1}


async def test_per_token_daily_limit_counts_each_token(
    served: ServedSandbox,
    sandbox: EcarsiSandbox,
    session: aiohttp.ClientSession,
    auth: dict[str, str],
) -> None:
    url = served.base_url + "/shipping-companies"

    async def status() -> int:
        async with session.get(url, headers=auth) as response:
            await response.read()
            return response.status

    sandbox.advance(61)  # the login's minute is over
    for batch in range(20):
        statuses = await asyncio.gather(*(status() for _ in range(50)))
        assert set(statuses) == {200}, batch
        sandbox.advance(61)
    assert await status() == 429
    assert sandbox.limits.violations == {"per-token-day": 1}
    async with session.post(
        served.base_url + "/auth", json={"email": "sandbox-email", "password": "sandbox-password"}
    ) as response:
        token = (await response.json())["data"]["token"]
    fresh = {"Authorization": f"Bearer {token}"}
    assert (await call(session, "GET", url, headers=fresh))[0] == 200  # "Token başına"
    sandbox.advance(86400)
    assert await status() == 200


# -- the seller table holds under any sequence of writes ---------------------------------------

WRITES = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.integers(min_value=60, max_value=3 * 86400)),
        st.tuples(st.just("ship"), st.integers(min_value=0, max_value=11)),
    ),
    max_size=12,
)


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(WRITES)
def test_random_writes_never_leave_the_seller_table(steps: list[tuple[str, int]]) -> None:
    asyncio.run(_replay(steps))


async def _replay(steps: list[tuple[str, int]]) -> None:
    clock = ManualClock(START)
    sandbox = EcarsiSandbox(clock=clock, settings=SandboxSettings(seed=3, initial_orders=12))
    async with serve([sandbox], shutdown_timeout=1.0) as served, aiohttp.ClientSession() as s:
        base = served[0].base_url
        creds = {"email": "sandbox-email", "password": "sandbox-password"}
        async with s.post(base + "/auth", json=creds) as response:
            auth = {"Authorization": f"Bearer {(await response.json())['data']['token']}"}
        for kind, value in steps:
            if kind == "advance":
                sandbox.advance(value)
                continue
            order = sandbox.world.orders[value]
            before = order.status
            body = {"company_id": 2, "tracking_number": f"T{value}", "desi": 3}
            url = f"{base}/orders/{order.id}/shipping"
            status, _, _ = await call(s, "POST", url, headers=auth, json=body)
            allowed = before == "shipped" or "shipped" in SELLER.get(before, set())
            assert status == (200 if allowed else 422), (before, status)
            sandbox.advance(60)  # stay inside 60 requests a minute
    for order in sandbox.world.orders:
        for change in order.history:
            if change.request_id is not None:  # caused by an API write
                assert change.source == change.target or change.target in SELLER[change.source]
