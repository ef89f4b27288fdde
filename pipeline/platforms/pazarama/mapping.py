"""Pazarama → canonical: pure functions from the raw Structs in :mod:`.payloads`.

Readings chosen where the document is silent or ambiguous:

* **Order id.** ``order_id`` is the ``orderNumber`` (as text): refunds and cancellations refer
  to an order only by number, and every write but invoice-link takes the number. The order GUID
  (``orderId``, needed by invoice-link) travels as ``internal_id``.
* **Order status** is derived from the item statuses (the items are the truth; the order-level
  ``orderStatus`` has no table of its own). :func:`derive_order_status` states the rule.
  ``raw_status`` is the item codes joined in item order, e.g. ``"3,12"``.
* **Money.** Item amounts come from ``valueInt`` (kuruş) when present — exact by construction —
  else from ``value``; order-level amounts are bare numbers read as ``Decimal``. ``salePrice``
  is the unit price, ``totalPrice`` the line total, ``discountAmount`` the line discount.
  Totals are reported, not recomputed: ``orderAmount`` is the grand total.
* **Times.** ``orderDate`` (``2023-01-25 15:22``) and ``refundDate`` (``6 Ekim 2021 14:53``)
  are Europe/Istanbul wall time. The list gives no update time, so ``updated_at`` is ``None``.
* **Refund rows** carry no item id: the barcode (``productCode``) goes to ``product_code``.
  ``refundStatus`` 2/4/6/8 are approvals, 3/5 rejections, 7 a withdrawn request; the 3.29
  "review" status 9 is ``in_review``. Cancellations (cancel/items) use the same table.
* **Unknown codes** map to ``unknown`` and keep the raw code; nothing here raises for them.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable, Sequence
from typing import Final

from pipeline.dates import DateParseError, parse_platform_datetime
from pipeline.errors import PlatformDecodeError
from pipeline.platforms.pazarama import payloads as raw
from schemas import (
    Address,
    Cancellation,
    CancellationState,
    LineItem,
    Money,
    Order,
    OrderStatus,
    Party,
    PartyKind,
    Refund,
    RefundState,
    Shipment,
    Totals,
)
from schemas.money import normalize_currency
from schemas.times import ISTANBUL

PLATFORM: Final = "pazarama"
S = OrderStatus

#: ``orderItemStatus`` → canonical (table 3.13; 16 "Mağazada" and 19 "Teslimat Noktasında" are
#: both "waiting for the customer to pick it up").
ITEM_STATUS: Final[dict[int, OrderStatus]] = {
    3: S.RECEIVED,
    12: S.PREPARING,
    5: S.SHIPPED,
    16: S.AT_PICKUP_POINT,
    19: S.AT_PICKUP_POINT,
    11: S.DELIVERED,
    14: S.UNDELIVERABLE,
    6: S.CANCELLED,
    18: S.CANCEL_REQUESTED,
    13: S.SUPPLY_FAILED,
    7: S.RETURN_REQUESTED,
    8: S.RETURN_APPROVED,
    9: S.RETURN_REJECTED,
    10: S.RETURNED,
}
#: Canonical status → the code we write (only what a seller may set: 3.14-3.16, 3.33).
WRITABLE_ITEM_STATUS: Final[dict[OrderStatus, int]] = {
    S.PREPARING: 12,
    S.SHIPPED: 5,
    S.DELIVERED: 11,
    S.UNDELIVERABLE: 14,
    S.SUPPLY_FAILED: 13,
}

#: Item code → the codes a seller may move it from ("Sipariş Akışı"). 3 is listed where the
#: adapter first moves the item to 12 itself, as the document requires.
SELLER_SOURCES: Final[dict[int, frozenset[int]]] = {
    12: frozenset({3}),
    5: frozenset({3, 12}),
    13: frozenset({3, 12}),
    11: frozenset({5, 16, 19}),
    14: frozenset({5}),
}

REFUND_STATE: Final[dict[int, RefundState]] = {
    1: RefundState.REQUESTED,
    2: RefundState.APPROVED,
    3: RefundState.REJECTED,
    4: RefundState.APPROVED,
    5: RefundState.REJECTED,
    6: RefundState.APPROVED,
    7: RefundState.WITHDRAWN,
    8: RefundState.APPROVED,
    9: RefundState.IN_REVIEW,
}
CANCELLATION_STATE: Final[dict[int, CancellationState]] = {
    1: CancellationState.REQUESTED,
    2: CancellationState.APPROVED,
    3: CancellationState.REJECTED,
    4: CancellationState.APPROVED,
    5: CancellationState.REJECTED,
    6: CancellationState.APPROVED,
    7: CancellationState.WITHDRAWN,
    8: CancellationState.APPROVED,
}

# How far an item has progressed, for "the order is as far as its least advanced live item".
_PROGRESS: Final[dict[OrderStatus, int]] = {
    S.RECEIVED: 0,
    S.PREPARING: 1,
    S.SHIPPED: 2,
    S.AT_PICKUP_POINT: 3,
    S.UNDELIVERABLE: 3,
    S.DELIVERED: 4,
    S.RETURN_REJECTED: 4,
}
_ENDED_CANCEL: Final = frozenset({S.CANCELLED, S.SUPPLY_FAILED})
_ENDED_RETURN: Final = frozenset({S.RETURNED, S.RETURN_APPROVED})
_NEEDS_ACTION: Final = (S.CANCEL_REQUESTED, S.RETURN_REQUESTED, S.UNKNOWN)


def item_status(code: int) -> OrderStatus:
    return ITEM_STATUS.get(code, S.UNKNOWN)


def derive_order_status(items: Sequence[OrderStatus]) -> OrderStatus:
    """The order's status from its items' statuses.

    1. All items agree → that status (no items → ``unknown``).
    2. Any item waiting for a seller decision (cancel requested, then return requested) or
       ``unknown`` → that, because someone must act on it.
    3. No live item left (all cancelled / supply-failed / returned) → ``returned`` if any item
       was returned, else ``cancelled``.
    4. Some items returned and some live → ``partially_returned``; some cancelled and the live
       ones not delivered yet → ``partially_cancelled``.
    5. Otherwise the status of the least advanced live item.
    """
    if not items:
        return S.UNKNOWN
    distinct = set(items)
    if len(distinct) == 1:
        return items[0]
    for status in _NEEDS_ACTION:
        if status in distinct:
            return status
    live = [s for s in items if s not in _ENDED_CANCEL | _ENDED_RETURN]
    if not live:
        return S.RETURNED if distinct & _ENDED_RETURN else S.CANCELLED
    least = min(live, key=lambda s: (_PROGRESS.get(s, 0), s.value))  # ties: stable by name
    if distinct & _ENDED_RETURN:
        return S.PARTIALLY_RETURNED
    if distinct & _ENDED_CANCEL and _PROGRESS.get(least, 0) < _PROGRESS[S.DELIVERED]:
        return S.PARTIALLY_CANCELLED
    return least


class _Ctx:
    """Where a value came from, for error messages (never includes personal data). The record's
    label is formatted only when an error needs it."""

    __slots__ = ("account", "endpoint", "kind", "record_id")

    def __init__(self, account: str, endpoint: str, kind: str, record_id: object) -> None:
        self.account = account
        self.endpoint = endpoint
        self.kind = kind
        self.record_id = record_id

    def error(self, field: str, problem: str) -> PlatformDecodeError:
        return PlatformDecodeError(
            f"{self.kind} {self.record_id}: field {field}: {problem}",
            platform=PLATFORM,
            account=self.account,
            endpoint=self.endpoint,
        )

    def time(self, field: str, value: str | None) -> dt.datetime | None:
        if value is None or not value.strip():
            return None
        return self.required_time(field, value)

    def required_time(self, field: str, value: str | None) -> dt.datetime:
        if value is None or not value.strip():
            raise self.error(field, "missing date")
        try:
            return parse_platform_datetime(value)
        except DateParseError as exc:
            raise self.error(field, str(exc)) from None


#: Currency spellings seen → their ISO code, so each Money is built canonical (its check is
#: then one set lookup). Unknown spellings are not kept: Money refuses them, naming the field.
_ISO_SEEN: dict[str, str] = {}


def _iso(code: str) -> str:
    iso = _ISO_SEEN.get(code)
    if iso is None:
        try:
            iso = normalize_currency(code)
        except ValueError:
            return code
        if len(_ISO_SEEN) < 64:
            _ISO_SEEN[code] = iso
    return iso


def _order_time(text: str | None) -> dt.datetime | None:
    """``orderDate`` in the list's own shape (``2023-01-25 15:22``, Istanbul wall time) read
    by ``datetime.fromisoformat``; None for any other text, which the general parser reads
    (and reports). The same instant as :func:`parse_platform_datetime`, a tenth of its cost."""
    if (
        text is None
        or len(text) != 16
        or not text.isascii()
        or text[4] != "-"
        or text[7] != "-"
        or text[10] != " "
        or text[13] != ":"
        or not (text[:4] + text[5:7] + text[8:10] + text[11:13] + text[14:]).isdigit()
    ):
        return None
    try:
        local = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return local.replace(tzinfo=ISTANBUL).astimezone(dt.UTC)


def _money(
    value: raw.MoneyValue | None,
    default_currency: str,
    ctx: _Ctx,
    field: str,
    item: str | None = None,
) -> Money | None:
    """A money object; ``item`` names the order line in an error (``items[<id>].<field>``)."""
    if value is None:
        return None
    currency = _iso(value.currency) if value.currency else default_currency
    try:
        minor = value.value_int
        if minor is not None:
            # kuruş, as Money.from_minor reads them (msgspec decoded an int already)
            money = Money(amount=decimal.Decimal(minor).scaleb(-2), currency=currency)
            if value.value is not None and money.amount != value.value:
                raise _field_error(
                    ctx, field, item, f"valueInt {minor} disagrees with value {value.value}"
                )
            return money
        return Money.of(value.value, currency)
    except (ValueError, TypeError, decimal.InvalidOperation) as exc:
        raise _field_error(ctx, field, item, str(exc)) from None


def _field_error(ctx: _Ctx, field: str, item: str | None, problem: str) -> PlatformDecodeError:
    return ctx.error(field if item is None else f"items[{item}].{field}", problem)


def _bare_money(
    amount: decimal.Decimal | None, currency: str, ctx: _Ctx, field: str
) -> Money | None:
    if amount is None:
        return None
    try:
        return Money.of(amount, currency)
    except (ValueError, TypeError) as exc:
        raise ctx.error(field, str(exc)) from None


def _address(a: raw.Address | None) -> Address | None:
    if a is None:
        return None
    return Address(
        recipient=a.name_surname,
        line=a.address_detail or a.display_address_text or "",
        neighborhood=a.neighborhood_name,
        district=a.district_name,
        city=a.city_name,
        phone=a.phone_number,
    )


def _billing_party(b: raw.BillingAddress | None, fallback_name: str) -> Party | None:
    if b is None:
        return None
    corporate = b.invoice_type == 2 or bool(b.company_name and b.tax_number)
    return Party(
        name=(b.company_name if corporate and b.company_name else b.name_surname) or fallback_name,
        kind=PartyKind.CORPORATE if corporate else PartyKind.INDIVIDUAL,
        email=b.customer_email,
        phone=b.phone_number,
        national_id=None if corporate else b.identity_number,
        tax_number=str(b.tax_number) if corporate and b.tax_number is not None else None,
        tax_office=b.tax_office if corporate else None,
        company_name=b.company_name if corporate else None,
    )


_NO_PRODUCT: Final = raw.Product()


def _line(item: raw.OrderItem, currency: str, ctx: _Ctx) -> LineItem:
    item_id = item.order_item_id
    unit = _money(item.sale_price or item.list_price, currency, ctx, "salePrice", item_id)
    if unit is None:
        raise _field_error(ctx, "salePrice", item_id, "missing price")
    total = _money(item.total_price, currency, ctx, "totalPrice", item_id) or unit * item.quantity
    product = item.product or _NO_PRODUCT
    status = ITEM_STATUS.get(item.order_item_status, S.UNKNOWN)
    try:
        return LineItem(
            item_id=item_id,
            product_id=product.product_id,
            sku=product.stock_code,
            barcode=product.code,
            name=product.name or product.title or "",
            quantity=item.quantity,
            unit_price=unit,
            line_total=total,
            discount=_money(item.discount_amount, currency, ctx, "discountAmount", item_id),
            vat_rate=product.vat_rate,
            status=status,
            raw_status=str(item.order_item_status),
        )
    except (ValueError, TypeError) as exc:  # the contract's own checks (e.g. VAT 0-100)
        raise ctx.error(f"items[{item_id}]", str(exc)) from None


def _shipments(items: Iterable[raw.OrderItem]) -> tuple[Shipment, ...]:
    grouped: dict[tuple[str | None, str], list[str]] = {}
    urls: dict[tuple[str | None, str], str | None] = {}
    for item in items:
        cargo = item.cargo
        if cargo is None or cargo.tracking_number in (None, ""):
            continue
        key = (cargo.company_name, str(cargo.tracking_number))
        grouped.setdefault(key, []).append(item.order_item_id)
        urls.setdefault(key, cargo.tracking_url)
    return tuple(
        Shipment(
            carrier=carrier,
            tracking_number=number,
            tracking_url=urls[(carrier, number)],
            item_ids=tuple(ids),
        )
        for (carrier, number), ids in grouped.items()
    )


def map_order(order: raw.Order, *, account: str, endpoint: str = "getOrdersForApi") -> Order:
    """One getOrdersForApi element → canonical :class:`schemas.Order`."""
    ctx = _Ctx(account, endpoint, "order", order.order_number)
    currency = _iso(order.currency or "TL")
    created = _order_time(order.order_date) or ctx.required_time("orderDate", order.order_date)
    lines = tuple([_line(item, currency, ctx) for item in order.items])
    statuses = [line.status or S.UNKNOWN for line in lines]
    grand_total = _bare_money(order.order_amount, currency, ctx, "orderAmount")
    if grand_total is None:
        grand_total = (
            sum((line.line_total for line in lines[1:]), lines[0].line_total)
            if lines
            else Money.zero(currency)
        )
    customer_phone = order.shipment_address.phone_number if order.shipment_address else None
    return Order(
        platform=PLATFORM,
        account=account,
        order_id=str(order.order_number),
        order_number=str(order.order_number),
        internal_id=order.order_id,
        created_at=created,
        status=derive_order_status(statuses),
        raw_status=",".join([str(item.order_item_status) for item in order.items]),
        customer=Party(
            name=order.customer_name or "",
            email=order.customer_email,
            phone=customer_phone,
            platform_customer_id=order.customer_id,
        ),
        billing=_billing_party(order.billing_address, order.customer_name or ""),
        shipping_address=_address(order.shipment_address),
        billing_address=_address(order.billing_address),
        items=lines,
        totals=Totals(
            grand_total=grand_total,
            shipping=_bare_money(order.shipment_amount, currency, ctx, "shipmentAmount"),
            discount=_bare_money(order.discount_amount, currency, ctx, "discountAmount"),
        ),
        payment_type=raw.PAYMENT_TYPE.get(order.payment_type or -1)
        or (None if order.payment_type is None else str(order.payment_type)),
        sales_channel=PLATFORM,
        shipments=_shipments(order.items),
    )


def map_refund(row: raw.RefundItem, *, account: str, endpoint: str = "getRefund") -> Refund:
    ctx = _Ctx(account, endpoint, "refund", row.refund_id)
    amount = _money(row.refund_amount or row.total_amount, "TL", ctx, "refundAmount")
    return Refund(
        platform=PLATFORM,
        account=account,
        refund_id=row.refund_id,
        order_id=str(row.order_number),
        order_number=str(row.order_number),
        state=REFUND_STATE.get(row.refund_status, RefundState.UNKNOWN),
        raw_state=str(row.refund_status),
        requested_at=ctx.time("refundDate", row.refund_date),
        quantity=row.quantity,
        amount=amount,
        reason=row.refund_type,
        customer_note=row.description,
        product_code=row.product_code,
    )


def map_cancellation(
    row: raw.CancelItem, *, account: str, endpoint: str = "cancel/items"
) -> Cancellation:
    ctx = _Ctx(account, endpoint, "cancellation", row.refund_id)
    return Cancellation(
        platform=PLATFORM,
        account=account,
        cancellation_id=row.refund_id,
        order_id=str(row.order_number),
        order_number=str(row.order_number),
        state=CANCELLATION_STATE.get(row.refund_status, CancellationState.UNKNOWN),
        raw_state=str(row.refund_status),
        requested_at=ctx.time("refundDate", row.refund_date),
        quantity=row.quantity,
        amount=_money(row.refund_amount or row.total_amount, "TL", ctx, "refundAmount"),
        reason=row.refund_type,
        requested_by="customer",
        product_code=row.product_code,
    )
