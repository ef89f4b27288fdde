"""The sandboxes' ground truth: orders as the platform "really" holds them.

A platform simulator renders these records in its vendor's JSON; tests and the invariant
checker read them directly (or through ``GET /_sandbox/state``) to compare with what reached
Kafka. Money is ``Decimal`` with two places, prices VAT-inclusive; times are aware UTC datetimes.
Statuses are the platform's own strings (e.g. ``"3"`` or ``"Hazırlanıyor"``), never
interpreted here.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

import msgspec

CENT = Decimal("0.01")
# Platforms show and filter by local time; ground truth stays in UTC.
ISTANBUL = zoneinfo.ZoneInfo("Europe/Istanbul")


def local(when: dt.datetime) -> dt.datetime:
    """``when`` in Europe/Istanbul time, as the vendors' date fields carry it."""
    return when.astimezone(ISTANBUL)


def money(value: Decimal) -> Decimal:
    """Round to kuruş the way Turkish invoices do (half up)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class Address(msgspec.Struct, kw_only=True):
    full_name: str
    phone: str
    city: str  # il
    district: str  # ilçe
    neighbourhood: str  # mahalle
    line: str  # street, building and door number
    postal_code: str
    title: str = "Ev"  # the buyer's label for the address ("Ev", "İş")

    @property
    def display(self) -> str:
        return f"{self.neighbourhood} {self.line} {self.district}/{self.city}"


class Buyer(msgspec.Struct, kw_only=True):
    kind: Literal["individual", "corporate"]
    first_name: str
    last_name: str
    email: str
    phone: str
    tc_kimlik: str | None = None  # individuals; may be the e-Arşiv placeholder 11111111111
    company_name: str | None = None  # corporate buyers
    vkn: str | None = None
    tax_office: str | None = None
    e_invoice_obliged: bool = False

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Shipment(msgspec.Struct, kw_only=True):
    carrier_code: str
    carrier_name: str
    tracking_number: str
    tracking_url: str | None
    shipped_at: dt.datetime
    desi: int | None = None


class Item(msgspec.Struct, kw_only=True):
    line: int  # 1-based position in the order; how history and records refer to an item
    uuid: str
    sku: str
    barcode: str
    name: str
    brand: str
    category: str
    variant: str | None
    quantity: int
    list_price: Decimal  # unit price before the seller's own markdown
    unit_price: Decimal  # unit sale price, VAT included
    vat_rate: int  # percent: 0, 1, 10 or 20
    discount: Decimal  # whole-line discount (coupon share), VAT included
    status: str
    status_since: dt.datetime
    shipment: Shipment | None = None
    invoice: str | None = None  # invoice link or e-invoice number attached by the seller

    @property
    def gross(self) -> Decimal:
        return money(self.unit_price * self.quantity)

    @property
    def total(self) -> Decimal:
        """What the buyer pays for this line (VAT included, discount deducted)."""
        return self.gross - self.discount

    @property
    def vat_amount(self) -> Decimal:
        return money(self.total * self.vat_rate / (100 + self.vat_rate))


class StatusChange(msgspec.Struct, kw_only=True):
    """One entry of an order's or a record's history. ``item_line`` None = the whole order."""

    at: dt.datetime
    target: str
    source: str | None = None  # None for creation
    item_line: int | None = None
    actor: str = "system"  # "seller" | "customer" | "platform" | "carrier" | "system"
    request_id: str | None = None  # the request-log id of the seller write that caused it
    reason: str | None = None


class Totals(msgspec.Struct, kw_only=True, frozen=True):
    subtotal: Decimal  # sum of unit price × quantity
    discount: Decimal
    vat: Decimal
    vat_by_rate: dict[int, Decimal]
    shipping_fee: Decimal
    total: Decimal  # subtotal − discount + shipping fee


def compute_totals(items: Iterable[Item], shipping_fee: Decimal) -> Totals:
    items = list(items)
    by_rate: dict[int, Decimal] = {}
    for item in items:
        by_rate[item.vat_rate] = by_rate.get(item.vat_rate, Decimal("0.00")) + item.vat_amount
    subtotal = sum((i.gross for i in items), Decimal("0.00"))
    discount = sum((i.discount for i in items), Decimal("0.00"))
    return Totals(
        subtotal=subtotal,
        discount=discount,
        vat=sum(by_rate.values(), Decimal("0.00")),
        vat_by_rate=dict(sorted(by_rate.items())),
        shipping_fee=shipping_fee,
        total=subtotal - discount + shipping_fee,
    )


class Order(msgspec.Struct, kw_only=True):
    number: int  # the framework's counter, 1, 2, 3 … per tenant
    id: str  # the platform's order number, formatted by the simulator from ``number``
    uuid: str  # for platforms that also expose a GUID
    created_at: dt.datetime
    updated_at: dt.datetime
    status: str  # derived from the items by the lifecycle
    buyer: Buyer
    shipping_address: Address
    billing_address: Address
    items: list[Item]
    currency: str  # ISO: TRY, EUR, USD
    totals: Totals
    payment_type: str  # catalogue.PAYMENT_TYPES key
    installments: int
    sales_channel: str  # catalogue.SALES_CHANNELS key
    carrier_code: str  # the carrier the buyer or platform picked at checkout
    coupon: str | None = None
    note: str | None = None
    invoice: str | None = None
    history: list[StatusChange] = msgspec.field(default_factory=list)

    def item(self, line: int) -> Item:
        return self.items[line - 1]

    def status_at(self, when: dt.datetime) -> str | None:
        """The order status as a poll at ``when`` would have seen it (None: not yet created)."""
        status: str | None = None
        for change in self.history:
            if change.at > when:
                break
            if change.item_line is None:
                status = change.target
        return status


RecordKind = Literal["refund", "cancellation"]


class Record(msgspec.Struct, kw_only=True):
    """A return/refund request or a cancellation request, with its own status and history."""

    kind: RecordKind
    number: int
    id: str
    uuid: str
    order_id: str
    item_lines: list[int]
    status: str
    reason: str
    actor: str  # who opened it: "customer" or "seller"
    amount: Decimal
    created_at: dt.datetime
    updated_at: dt.datetime
    note: str | None = None
    history: list[StatusChange] = msgspec.field(default_factory=list)


WriteOutcome = Literal["applied", "noop", "rejected"]


class WriteRecord(msgspec.Struct, kw_only=True):
    """Every seller write the simulator received, applied or not, with the request that sent it."""

    seq: int
    at: dt.datetime
    request_id: str | None
    kind: str  # "status" | "ship" | "invoice" | "refund" | "cancellation" | simulator-defined
    target: str  # order id or record id
    item_lines: list[int]
    details: dict[str, str]
    outcome: WriteOutcome
    reason: str | None = None
