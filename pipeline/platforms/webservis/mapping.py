"""Webservis → canonical: pure functions from the raw Structs in :mod:`.payloads`.

Readings chosen where the document is silent or ambiguous:

* **Which answer makes an order.** ``order/lists`` rows carry id, code, dealer, carrier id,
  status and two times — no money, no lines, no customer — and :class:`schemas.Order` needs a
  grand total. So every canonical order comes from ``order/show``; list rows only drive paging,
  window filtering and the "updated since" stop (:func:`row_times`).
* **Ids.** ``order_id`` is the numeric "Sipariş ID" as text (what ``order/show/<id>`` takes);
  ``order_number`` is ``code`` ("Sipariş numarası"). Products have no id of their own: lines
  are numbered ``"1"``, ``"2"`` … in the order ``order/show`` lists them.
* **Status.** The document's table 1–5 (0 exists only as the list filter "all"). 4 is
  "İptal/değişim/iade Siparişleri", an umbrella for cancel, exchange and return *in progress*
  (5 is the finished cancellation): before any shipment it is ``cancel_requested``, after one
  ``return_requested`` (an exchange starts as a return). "Shipped" means the order carries a
  tracking or barcode number, a tracking URL or a shipment date. Both readings keep the order
  non-terminal, so the sweep keeps watching it. ``order/fastSale`` prints 4 as
  "Teslim Edilen Sipariş" (delivered): a contradiction we cannot resolve from the document;
  the list/show table wins because it describes what we read. ``raw_status`` is the code as text.
  Unknown codes → ``unknown`` with the raw code kept.
* **Money.** No currency anywhere in an order: TL (``TRY``), the shop's own currency.
  ``overall`` ("Sipariş genel toplam tutarı") is the grand total; ``total`` ("Sipariş tutarı")
  is the lines before the discount, which is what the contract's ``subtotal`` means
  (``schemas.examples``: 499.80 before a 50.00 discount); ``subTotal`` ("ara toplam", after the
  discount) has no slot of its own and is not recomputed into one. ``vat`` is the sum of
  ``taxes.*.amount``. No shipping fee is reported (``shipping`` stays None). A line's
  ``totalPrice`` is its total; products carry no per-line discount.
* **Quantities** are "integer"; a fractional one (a product sold by the kilogram) cannot be a
  canonical quantity and makes the record malformed rather than being rounded.
* **Variants** have no canonical field: they are appended to the line's name,
  ``"Tişört (Beden: M, Renk: Mavi)"``.
* **Customer.** ``taxId`` ("Vergi numarası") of 10 digits is a VKN (corporate, with ``title``
  and ``taxBranch``), of 11 digits a TC kimlik no (individual); a ``title`` alone also marks a
  company. Anything else is kept verbatim as ``tax_number``.
* **Shipment.** ``shipmentCode2`` ("Kargo takip kodu") is the tracking number; without it the
  label barcode ``shipmentCode``. The carrier id goes to ``carrier_code``. ``shipmentStatus``
  is free text with no table and does not change the status.
* **Times** are Europe/Istanbul wall time. Empty dates arrive as ``""``, ``null`` or, from PHP
  and MySQL, ``"0000-00-00 00:00:00"``: all read as "none".
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Sequence
from typing import Final

from pipeline.dates import DateParseError, parse_platform_datetime
from pipeline.errors import PlatformDecodeError
from pipeline.platforms.webservis import payloads as raw
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

PLATFORM: Final = "webservis"
S = OrderStatus

#: raw status → (canonical before any shipment, canonical once shipped). See the docstring.
ORDER_STATUS: Final[dict[int, tuple[OrderStatus, OrderStatus]]] = {
    1: (S.RECEIVED, S.RECEIVED),
    2: (S.PREPARING, S.PREPARING),
    3: (S.SHIPPED, S.SHIPPED),
    4: (S.CANCEL_REQUESTED, S.RETURN_REQUESTED),
    5: (S.CANCELLED, S.CANCELLED),
}

#: Spellings of "no date" seen from PHP/MySQL services.
EMPTY_DATES: Final = frozenset({"", "0000-00-00", "0000-00-00 00:00:00"})
_DIGITS = re.compile(r"^\d+$")


def status_of(code: int | None, *, shipped: bool) -> OrderStatus:
    """The canonical status of a raw code; unknown (or missing) codes are ``unknown``."""
    pair = ORDER_STATUS.get(code) if code is not None else None
    if pair is None:
        return S.UNKNOWN
    return pair[1] if shipped else pair[0]


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

    def integer(self, field: str, value: raw.IntLike | None) -> int | None:
        if value is None or isinstance(value, int):
            return value
        text = value.strip()
        if text == "":
            return None
        if not _DIGITS.match(text.removeprefix("-")):
            raise self.error(field, f"not an integer: {value!r}")
        return int(text)

    def time(self, field: str, value: str | None) -> dt.datetime | None:
        if value is None or value.strip() in EMPTY_DATES:
            return None
        try:
            return parse_platform_datetime(value)
        except DateParseError as exc:
            raise self.error(field, str(exc)) from None

    def required_time(self, field: str, value: str | None) -> dt.datetime:
        moment = self.time(field, value)
        if moment is None:
            raise self.error(field, "missing date")
        return moment

    def money(self, field: str, amount: decimal.Decimal | None) -> Money | None:
        if amount is None:
            return None
        try:
            return Money.of(amount, raw.ORDER_CURRENCY)
        except (ValueError, TypeError) as exc:
            raise self.error(field, str(exc)) from None


def order_id_of(value: raw.IntLike, *, account: str, endpoint: str) -> str:
    """The canonical order id ("Sipariş ID" as decimal text) of a list row or a detail."""
    number = _Ctx(account, endpoint, "order").integer("id", value)
    if number is None or number <= 0:
        raise _Ctx(account, endpoint, "order").error("id", f"not an order id: {value!r}")
    return str(number)


class RowTimes:
    """What the client needs of a list row: its id, raw status and times (no order is built)."""

    __slots__ = ("created_at", "order_id", "raw_status", "updated_at")

    def __init__(
        self,
        order_id: str,
        raw_status: str,
        created_at: dt.datetime | None,
        updated_at: dt.datetime | None,
    ) -> None:
        self.order_id = order_id
        self.raw_status = raw_status
        self.created_at = created_at
        self.updated_at = updated_at


def row_times(row: raw.OrderRow, *, account: str, endpoint: str = "order/lists") -> RowTimes:
    """Id and times of one ``order/lists`` row; bad values are a :class:`PlatformDecodeError`."""
    order_id = order_id_of(row.id, account=account, endpoint=endpoint)
    ctx = _Ctx(account, endpoint, f"order {order_id}")
    code = ctx.integer("status", row.status)
    return RowTimes(
        order_id,
        "" if code is None else str(code),
        ctx.time("createdAt", row.created_at),
        ctx.time("updatedAt", row.updated_at),
    )


def _text(value: str | None) -> str | None:
    """Stripped text, or None for null and empty strings."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def _place(place: raw.Place | None, recipient: str | None, phone: str | None) -> Address | None:
    if place is None or not any((_text(place.address), _text(place.district), _text(place.city))):
        return None
    return Address(
        recipient=recipient,
        line=_text(place.address) or "",
        district=_text(place.district),
        city=_text(place.city),
        phone=phone,
    )


def _parties(customer: raw.Customer | None) -> tuple[Party | None, Party | None]:
    """(the customer, the invoiced party)."""
    if customer is None:
        return None, None
    name = _text(customer.name)
    title = _text(customer.title)
    tax_id = None if customer.tax_id is None else _text(str(customer.tax_id))
    digits = tax_id.replace(" ", "") if tax_id else ""
    vkn = digits if len(digits) == 10 and digits.isdigit() else None
    tckn = digits if len(digits) == 11 and digits.isdigit() else None
    other = tax_id if tax_id and vkn is None and tckn is None else None
    phone = _text(customer.phone)
    email = _text(customer.email)
    person = Party(
        name=name or title or "",
        email=email,
        phone=phone,
        national_id=tckn if vkn is None else None,
    )
    corporate = vkn is not None or title is not None
    billing = Party(
        name=(title if corporate and title else name) or "",
        kind=PartyKind.CORPORATE if corporate else PartyKind.INDIVIDUAL,
        email=email,
        phone=phone,
        national_id=tckn if not corporate else None,
        tax_number=vkn or other or (tckn if corporate else None),
        tax_office=_text(customer.tax_branch),
        company_name=title if corporate else None,
    )
    return person, billing


def _quantity(value: decimal.Decimal, ctx: _Ctx, field: str) -> int:
    if not value.is_finite() or value != value.to_integral_value() or value < 0:
        raise ctx.error(field, f"quantity {value} is not a whole number of items")
    return int(value)


def _line(index: int, product: raw.Product, ctx: _Ctx) -> LineItem:
    where = f"products[{index - 1}]"
    quantity = _quantity(product.quantity, ctx, f"{where}.quantity")
    unit = ctx.money(f"{where}.price", product.price)
    assert unit is not None  # noqa: S101 - price is a required member
    total = ctx.money(f"{where}.totalPrice", product.total_price) or unit * quantity
    name = _text(product.name) or ""
    variants = [
        f"{_text(v.name)}: {_text(v.value)}" if _text(v.name) else (_text(v.value) or "")
        for v in product.variants
        if _text(v.value)
    ]
    if variants:
        name = f"{name} ({', '.join(variants)})".strip()
    try:
        return LineItem(
            item_id=str(index),
            name=name,
            quantity=quantity,
            unit_price=unit,
            line_total=total,
            sku=_text(product.code),
            barcode=_text(product.barcode),
            vat_rate=product.tax,
        )
    except ValueError as exc:  # vat_rate outside 0-100
        raise ctx.error(f"{where}.tax", str(exc)) from None


def _shipment(info: raw.OrderInfo, ctx: _Ctx) -> Shipment | None:
    tracking = _text(info.shipment_code2) or _text(info.shipment_code)
    url = _text(info.shipment_url)
    shipped_at = ctx.time("shipmentDate", info.shipment_date)
    if tracking is None and url is None and shipped_at is None:
        return None
    carrier_id = ctx.integer("shipmentFirmId", info.shipment_firm_id)
    return Shipment(
        carrier=_text(info.shipment_firm_name),
        carrier_code=str(carrier_id) if carrier_id else None,
        tracking_number=tracking,
        tracking_url=url,
        shipped_at=shipped_at,
    )


def _totals(summary: raw.Summary | None, ctx: _Ctx) -> Totals:
    if summary is None:
        raise ctx.error("summary", "missing")
    grand_total = ctx.money("summary.overall", summary.overall)
    if grand_total is None:
        raise ctx.error("summary.overall", "missing grand total")
    vat = None
    for index, tax in enumerate(summary.taxes):
        amount = ctx.money(f"summary.taxes[{index}].amount", tax.amount)
        if amount is not None:
            vat = amount if vat is None else vat + amount
    return Totals(
        grand_total=grand_total,
        subtotal=ctx.money("summary.total", summary.total),
        discount=ctx.money("summary.discount", summary.discount),
        vat=vat,
    )


def map_order(detail: raw.OrderDetail, *, account: str, endpoint: str = "order/show") -> Order:
    """One ``order/show`` result → canonical :class:`schemas.Order`."""
    info = detail.order
    order_id = order_id_of(info.id, account=account, endpoint=endpoint)
    ctx = _Ctx(account, endpoint, f"order {order_id}")
    code = ctx.integer("status", info.status)
    shipment = _shipment(info, ctx)
    raw_customer = raw.present(detail.customer)
    customer, billing = _parties(raw_customer)
    name = customer.name if customer else None
    phone = customer.phone if customer else None
    delivery = raw.present(raw_customer.delivery) if raw_customer else None
    invoice_place = raw.present(raw_customer.invoice) if raw_customer else None
    einvoice = _text(info.einvoice_code)
    return Order(
        platform=PLATFORM,
        account=account,
        order_id=order_id,
        order_number=_text(info.code) or order_id,
        created_at=ctx.required_time("createdAt", info.created_at),
        updated_at=ctx.time("updatedAt", info.updated_at),
        status=status_of(code, shipped=shipment is not None),
        raw_status="" if code is None else str(code),
        customer=customer,
        billing=billing,
        shipping_address=_place(delivery, name, phone),
        billing_address=_place(invoice_place, billing.name if billing else name, phone),
        items=_lines(detail.products, ctx),
        totals=_totals(raw.present(detail.summary), ctx),
        payment_type=_text(info.payment_method),
        sales_channel=_text(info.platform),
        shipments=(shipment,) if shipment else (),
        invoice=Invoice(number=einvoice) if einvoice else None,
    )


def _lines(products: Sequence[raw.Product], ctx: _Ctx) -> tuple[LineItem, ...]:
    return tuple(_line(index, product, ctx) for index, product in enumerate(products, start=1))
