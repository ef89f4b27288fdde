"""The naive baseline of ``pipeline bench ingest``: Pazarama orders into Kafka the quick way.

Written the way a first integration usually is, and honestly so: aiohttp with ``json`` (the
standard library, as ``resp.json()`` would), the orders mapped into plain dicts, values
``json.dumps(..., default=str)``, and one ``await producer.send_and_wait(...)`` per order on an
``AIOKafkaProducer`` with its defaults (``acks=1``, no compression, no linger). Accounts are
polled concurrently, one task each, as ours are; it pages the same window with the same page
size, so it reads the very pages the pollers read.

What it leaves out, by design of a quick integration rather than to lose: change detection (every
order is sent; in a first cycle ours sends every order too), deterministic ids (a random uuid4),
status derivation from all items (the first item's), money and time normalization (passed
through), refunds and cancellations (not polled), error handling (an error ends the run).

This module is the one place of the bench that names a platform: a baseline is one team's
integration of one API. It is skipped for other platforms.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import time
import uuid
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any, Final

import aiohttp
import msgspec
from aiokafka import AIOKafkaProducer

PLATFORM: Final = "pazarama"
PAGE_SIZE: Final = 100
ISTANBUL: Final = zoneinfo.ZoneInfo("Europe/Istanbul")
#: What a team would copy from the document's status table (3.13).
STATUS: Final[dict[int, str]] = {
    3: "new",
    12: "preparing",
    5: "shipped",
    16: "at_pickup_point",
    19: "at_pickup_point",
    11: "delivered",
    14: "undeliverable",
    6: "cancelled",
    18: "cancel_requested",
    13: "supply_failed",
    7: "return_requested",
    8: "return_approved",
    9: "return_rejected",
    10: "returned",
}


class BaselineResult(msgspec.Struct, frozen=True, kw_only=True):
    events: int
    wall_s: float
    cpu_s: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.wall_s if self.wall_s > 0 else float("nan")


def to_event(account: str, order: dict[str, Any]) -> dict[str, Any]:
    """One getOrdersForApi element as the dict a quick integration would publish."""
    items = order.get("items") or []
    return {
        "type": "order.created",
        "id": str(uuid.uuid4()),
        "time": dt.datetime.now(dt.UTC),
        "platform": PLATFORM,
        "account": account,
        "order_id": str(order["orderNumber"]),
        "order_guid": order.get("orderId"),
        "created_at": order.get("orderDate"),
        "status": STATUS.get(items[0]["orderItemStatus"], "unknown") if items else "unknown",
        "currency": order.get("currency"),
        "total": order.get("orderAmount"),
        "shipping": order.get("shipmentAmount"),
        "discount": order.get("discountAmount"),
        "payment_type": order.get("paymentType"),
        "customer": {
            "id": order.get("customerId"),
            "name": order.get("customerName"),
            "email": order.get("customerEmail"),
        },
        "shipping_address": order.get("shipmentAddress"),
        "billing_address": order.get("billingAddress"),
        "items": [
            {
                "item_id": item.get("orderItemId"),
                "status": STATUS.get(item.get("orderItemStatus", 0), "unknown"),
                "quantity": item.get("quantity"),
                "sku": (item.get("product") or {}).get("stockCode"),
                "barcode": (item.get("product") or {}).get("code"),
                "name": (item.get("product") or {}).get("name"),
                "unit_price": (item.get("salePrice") or {}).get("value"),
                "total": (item.get("totalPrice") or {}).get("value"),
                "cargo": item.get("cargo"),
            }
            for item in items
        ],
    }


async def _poll_account(
    session: aiohttp.ClientSession,
    producer: AIOKafkaProducer,
    *,
    base_url: str,
    token_url: str,
    account: str,
    credentials: Mapping[str, str],
    topic: str,
    start: str,
    end: str,
) -> int:
    basic = base64.b64encode(f"{credentials['client_id']}:{credentials['client_secret']}".encode())
    form = {"grant_type": "client_credentials", "scope": "merchantgatewayapi.fullaccess"}
    async with session.post(
        token_url, data=form, headers={"Authorization": f"Basic {basic.decode()}"}
    ) as resp:
        resp.raise_for_status()
        token = json.loads(await resp.read())["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    sent = 0
    page = 1
    while True:
        body = {"startDate": start, "endDate": end, "pageSize": PAGE_SIZE, "pageNumber": page}
        async with session.post(
            f"{base_url}/order/getOrdersForApi", json=body, headers=headers
        ) as resp:
            resp.raise_for_status()
            payload = json.loads(await resp.read())
        orders = payload.get("data") or []
        for order in orders:
            event = to_event(account, order)
            await producer.send_and_wait(
                topic,
                value=json.dumps(event, default=str).encode(),
                key=f"{PLATFORM}:{account}:{event['order_id']}".encode(),
            )
            sent += 1
        if len(orders) < PAGE_SIZE:
            return sent
        page += 1


async def run_baseline(
    *,
    base_url: str,
    token_url: str,
    accounts: Sequence[tuple[str, Mapping[str, str]]],
    bootstrap: str,
    topic: str,
    start: dt.datetime,
    end: dt.datetime,
) -> BaselineResult:
    """Poll every account's orders created in ``[start, end)`` once, concurrently."""
    fmt = "%Y-%m-%dT%H:%M"
    window = start.astimezone(ISTANBUL).strftime(fmt), end.astimezone(ISTANBUL).strftime(fmt)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        async with aiohttp.ClientSession() as session:
            cpu0, t0 = time.process_time(), time.perf_counter()
            counts = await asyncio.gather(
                *(
                    _poll_account(
                        session,
                        producer,
                        base_url=base_url,
                        token_url=token_url,
                        account=account,
                        credentials=credentials,
                        topic=topic,
                        start=window[0],
                        end=window[1],
                    )
                    for account, credentials in accounts
                )
            )
            wall_s, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        await producer.stop()
    return BaselineResult(events=sum(counts), wall_s=wall_s, cpu_s=cpu_s)
