"""E-Çarşı → canonical: pure functions from the raw Structs in :mod:`.payloads`.

Readings chosen where the document is silent or ambiguous:

* **Status.** The order has three statuses (``seller``, ``customer``, ``invoice``). The canonical
  status comes from ``seller_status`` through :data:`SELLER_STATUS`, which is also the
  ``raw_status`` kept verbatim. The document never relates the customer status to it; two
  combinations are read defensively (:data:`CUSTOMER_OVERRIDES`): a customer status
  ``cancelled`` on an order not yet shipped is a cancellation the seller still has to complete
  (``cancel_requested`` — never ship it), ``returned`` on a shipped or delivered order is a return
  on its way (``return_requested``). Unknown seller statuses map to ``unknown``, keeping the raw.
* ``return_waiting`` ("İade Bekleniyor": a return announced, goods not back) is
  ``return_requested``; ``return_received`` ("İade Alındı": goods back, return not completed) is
  ``return_approved``; ``packaging`` ("Paketleniyor") is ``preparing``; ``waiting``
  ("Beklemede") is ``awaiting_approval`` because ``approved`` ("Onaylandı") follows it.
* **Invoice.** ``invoice_status`` ``uploaded`` becomes an empty :class:`~schemas.Invoice` (an
  invoice exists; the API gives neither link nor number).
* **Money** is TL: no currency is printed anywhere. Item ``price`` is the unit price, the line
  total is price × quantity; ``totals.total`` is the grand total, reported not recomputed. The
  list's ``price`` is the order total.
* **Items** carry no id: ``item_id`` is the 1-based position in ``items``. ``variants``
  (``["128GB", "Siyah"]``) are appended to the name, there being no variant field.
* **Times** (``2024-02-19 10:00:00``) are Europe/Istanbul wall time. No update time is given.
* **Parties.** ``customer`` is the buyer; ``invoice`` the billed party (corporate: company name,
  ``tax_number`` as VKN, ``tax_office``; else ``tc`` as TC kimlik no). Empty strings are absent.
* **Shipments** come from the sandbox-only ``shipments`` field (see :mod:`.payloads`).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable
from typing import Final

import msgspec

from pipeline.dates import DateParseError, parse_platform_datetime
from pipeline.errors import PlatformDecodeError
from pipeline.platforms.ecarsi import payloads as raw
from schemas import (
    Address,
    Invoice,
    LineItem,
    Money,
    Order,
    OrderStatus,
    Party,
    PartyKind,
    Shipment,
    Totals,
)

PLATFORM: Final = "ecarsi"
CURRENCY: Final = "TRY"
S = OrderStatus

#: ``seller_status`` → canonical (the document's 13 values).
SELLER_STATUS: Final[dict[str, OrderStatus]] = {
    "waiting": S.AWAITING_APPROVAL,
    "approved": S.RECEIVED,
    "in_supply": S.IN_SUPPLY,
    "preparing": S.PREPARING,
    "packaging": S.PREPARING,
    "shipped": S.SHIPPED,
    "delivered": S.DELIVERED,
    "return_waiting": S.RETURN_REQUESTED,
    "return_received": S.RETURN_APPROVED,
    "completed_return": S.RETURNED,
    "completed_cancel": S.CANCELLED,
    "partial_return": S.PARTIALLY_RETURNED,
    "partial_cancel": S.PARTIALLY_CANCELLED,
}

#: Seller statuses before any parcel left.
NOT_SHIPPED: Final = frozenset({"waiting", "approved", "in_supply", "preparing", "packaging"})
#: Seller statuses that imply a shipping record exists (used when an order shows no shipments).
SHIPPED_OR_LATER: Final = frozenset(
    {
        "shipped",
        "delivered",
        "return_waiting",
        "return_received",
        "completed_return",
        "partial_return",
    }
)

#: (seller_status, customer_status) → canonical, overriding :data:`SELLER_STATUS`.
CUSTOMER_OVERRIDES: Final[dict[tuple[str, str], OrderStatus]] = {
    **{(seller, "cancelled"): S.CANCEL_REQUESTED for seller in sorted(NOT_SHIPPED)},
    ("shipped", "returned"): S.RETURN_REQUESTED,
    ("delivered", "returned"): S.RETURN_REQUESTED,
}


def order_status(seller: str, customer: str | None = None) -> OrderStatus:
    """Canonical status of an order; never raises (unknown → ``unknown``)."""
    if customer is not None and (seller, customer) in CUSTOMER_OVERRIDES:
        return CUSTOMER_OVERRIDES[(seller, customer)]
    return SELLER_STATUS.get(seller, S.UNKNOWN)


class _Ctx:
    """Where a value came from, for error messages (never includes personal data)."""

    def __init__(self, account: str, endpoint: str, record: str) -> None:
        self.account = account
        self.endpoint = endpoint
        self.record = record

    def error(self, field: str, problem: str) -> PlatformDecodeError:
        return PlatformDecodeError(
            f"{self.record}: field {field}: {problem}",
            platform=PLATFORM,
            account=self.account,
            endpoint=self.endpoint,
        )

    def time(self, field: str, value: str | None) -> dt.datetime:
        if value is None or not value.strip():
            raise self.error(field, "missing date")
        try:
            return parse_platform_datetime(value)
        except DateParseError as exc:
            raise self.error(field, str(exc)) from None

    def money(self, field: str, amount: decimal.Decimal | None) -> Money | None:
        if amount is None:
            return None
        try:
            return Money.of(amount, CURRENCY)
        except (ValueError, TypeError) as exc:
            raise self.error(field, str(exc)) from None


def _text(value: str | int | None) -> str | None:
    """Empty strings (``"tax_office": ""``) are absent values."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _order_id(value: str | int, ctx: _Ctx, field: str) -> str:
    text = _text(value)
    if text is None:
        raise ctx.error(field, "empty order id")
    return text


def created_at(row: raw.ListOrder, *, account: str, endpoint: str = "orders") -> dt.datetime:
    """The list row's ``order_date`` (for window filtering before any mapping)."""
    return _Ctx(account, endpoint, f"order {row.order_id}").time("order_date", row.order_date)


def _invoice(status: str | None) -> Invoice | None:
    return Invoice() if status == "uploaded" else None


def map_list_order(row: raw.ListOrder, *, account: str, endpoint: str = "orders") -> Order:
    """A list row alone → canonical (no items, addresses or names: the list has none)."""
    ctx = _Ctx(account, endpoint, f"order {row.order_id}")
    order_id = _order_id(row.order_id, ctx, "order_id")
    total = ctx.money("price", row.price)
    if total is None:
        raise ctx.error("price", "missing order total")
    email = _text(row.customer_email)
    return Order(
        platform=PLATFORM,
        account=account,
        order_id=order_id,
        order_number=order_id,
        created_at=ctx.time("order_date", row.order_date),
        status=order_status(row.seller_status, row.customer_status),
        raw_status=row.seller_status,
        totals=Totals(grand_total=total),
        customer=Party(name="", email=email) if email else None,
        invoice=_invoice(row.invoice_status),
        sales_channel=PLATFORM,
    )


def overlay_list(order: Order, row: raw.ListOrder) -> Order:
    """A detailed order with the statuses of a newer list row (what the list can tell)."""
    return msgspec.structs.replace(
        order,
        status=order_status(row.seller_status, row.customer_status),
        raw_status=row.seller_status,
        invoice=_invoice(row.invoice_status),
    )


def _line(position: int, item: raw.OrderItem, ctx: _Ctx) -> LineItem:
    where = f"items[{position - 1}]"
    if item.quantity < 0:
        raise ctx.error(f"{where}.quantity", f"negative quantity {item.quantity}")
    unit = ctx.money(f"{where}.price", item.price)
    assert unit is not None  # noqa: S101 - price is required by the Struct
    variants = [v.strip() for v in item.variants if v and v.strip()]
    name = item.name.strip()
    if variants:
        name = f"{name} ({', '.join(variants)})" if name else ", ".join(variants)
    return LineItem(
        item_id=str(position),
        name=name,
        quantity=item.quantity,
        unit_price=unit,
        line_total=unit * item.quantity,
        sku=_text(item.stock_code),
        barcode=_text(item.barcode),
    )


def _address(block: raw.AddressBlock | None) -> Address | None:
    if block is None:
        return None
    return Address(
        recipient=_text(block.name),
        line=_text(block.full_address) or "",
        district=_text(block.district),
        city=_text(block.city),
        phone=_text(block.phone),
    )


def _billing(block: raw.AddressBlock | None) -> Party | None:
    if block is None:
        return None
    corporate = bool(block.corporate)
    company = _text(block.company_name)
    return Party(
        name=(company if corporate and company else _text(block.name)) or "",
        kind=PartyKind.CORPORATE if corporate else PartyKind.INDIVIDUAL,
        phone=_text(block.phone),
        national_id=None if corporate else _text(block.tc),
        tax_number=_text(block.tax_number) if corporate else None,
        tax_office=_text(block.tax_office) if corporate else None,
        company_name=company if corporate else None,
    )


def _shipments(infos: Iterable[raw.ShipmentInfo], ctx: _Ctx) -> tuple[Shipment, ...]:
    out = []
    for index, info in enumerate(infos):
        when = info.date
        out.append(
            Shipment(
                carrier=_text(info.company),
                carrier_code=None if info.company_id is None else str(info.company_id),
                tracking_number=info.number,
                tracking_url=info.tracking.url if info.tracking is not None else None,
                shipped_at=ctx.time(f"shipments[{index}].date", when) if when else None,
            )
        )
    return tuple(out)


def tracking_numbers(detail: raw.OrderDetail) -> frozenset[str] | None:
    """The tracking numbers an order shows; ``None`` when the answer does not tell."""
    if isinstance(detail.shipments, msgspec.UnsetType):
        return None
    return frozenset(n for n in (s.number for s in detail.shipments) if n is not None)


def map_order_detail(
    detail: raw.OrderDetail, *, account: str, endpoint: str = "orders/{order_id}"
) -> Order:
    """``GET /api/orders/{order_id}`` → canonical :class:`schemas.Order`."""
    ctx = _Ctx(account, endpoint, f"order {detail.id}")
    order_id = _order_id(detail.id, ctx, "id")
    customer = detail.customer
    total = ctx.money("totals.total", detail.totals.total)
    assert total is not None  # noqa: S101 - total is required by the Struct
    shipments = (
        () if isinstance(detail.shipments, msgspec.UnsetType) else _shipments(detail.shipments, ctx)
    )
    return Order(
        platform=PLATFORM,
        account=account,
        order_id=order_id,
        order_number=order_id,
        created_at=ctx.time("date", detail.date),
        status=order_status(detail.status.seller, detail.status.customer),
        raw_status=detail.status.seller,
        totals=Totals(
            grand_total=total,
            subtotal=ctx.money("totals.subtotal", detail.totals.subtotal),
            shipping=ctx.money("totals.shipping", detail.totals.shipping),
        ),
        customer=(
            Party(
                name=_text(customer.name) or "",
                email=_text(customer.email),
                phone=_text(customer.phone),
            )
            if customer is not None
            else None
        ),
        billing=_billing(detail.invoice),
        shipping_address=_address(detail.address),
        billing_address=_address(detail.invoice),
        items=tuple(_line(n, item, ctx) for n, item in enumerate(detail.items, start=1)),
        sales_channel=PLATFORM,
        shipments=shipments,
        invoice=_invoice(detail.status.invoice),
    )
