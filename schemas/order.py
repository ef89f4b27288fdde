"""Canonical order, refund and cancellation records: what every platform is normalized into.

All Structs are frozen and keyword-only; optional fields default to ``None`` or ``()`` so a
platform that does not know a value leaves it out rather than inventing one. Field names are the
contract: add fields (with defaults), never rename or remove them without a new schema version.
"""

from __future__ import annotations

import decimal
import enum
from typing import Annotated

import msgspec

from schemas.money import Money
from schemas.status import CancellationState, OrderStatus, RefundState
from schemas.times import AwareDatetime

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
Quantity = Annotated[int, msgspec.Meta(ge=0)]


class _Record(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=False):
    """Base for contract records (frozen, keyword-only)."""


class PartyKind(enum.StrEnum):
    INDIVIDUAL = "individual"
    CORPORATE = "corporate"


class Party(_Record, frozen=True):
    """A customer or the invoiced party.

    ``national_id`` is the TC kimlik no of an individual (11 digits; ``11111111111`` is the
    e-Arşiv placeholder for an unknown buyer); ``tax_number`` the VKN of a company (10 digits)
    with its ``tax_office``.
    """

    name: str
    kind: PartyKind = PartyKind.INDIVIDUAL
    email: str | None = None
    phone: str | None = None
    national_id: str | None = None
    tax_number: str | None = None
    tax_office: str | None = None
    company_name: str | None = None
    platform_customer_id: str | None = None


class Address(_Record, frozen=True):
    """A postal address in Turkey (``city`` is the il, ``district`` the ilçe)."""

    recipient: str | None = None
    line: str = ""
    neighborhood: str | None = None
    district: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str = "TR"
    phone: str | None = None


class Shipment(_Record, frozen=True):
    """A parcel handed to a carrier. The URL is the platform's own when it gives one."""

    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    carrier_code: str | None = None
    item_ids: tuple[str, ...] = ()
    shipped_at: AwareDatetime | None = None


class Invoice(_Record, frozen=True):
    """The invoice attached to an order: a link, a number, or both."""

    url: str | None = None
    number: str | None = None
    issued_at: AwareDatetime | None = None


class LineItem(_Record, frozen=True):
    """One order line. ``status`` is the canonical per-item status where the platform has one."""

    item_id: NonEmpty
    name: str
    quantity: Quantity
    unit_price: Money
    line_total: Money
    product_id: str | None = None
    sku: str | None = None
    barcode: str | None = None
    discount: Money | None = None
    #: VAT (KDV) as a percentage: 20 means 20 %. Today's Turkish rates are 0, 1, 10 and 20.
    vat_rate: decimal.Decimal | None = None
    status: OrderStatus | None = None
    raw_status: str | None = None

    def __post_init__(self) -> None:
        # msgspec has no bounds for Decimal, so the range is checked here (raises on decode too).
        if self.vat_rate is not None and not (0 <= self.vat_rate <= 100):
            raise ValueError(f"vat_rate must be a percentage 0-100, got {self.vat_rate}")


class Totals(_Record, frozen=True):
    """Order totals as the platform reports them (never recomputed into something else)."""

    grand_total: Money
    subtotal: Money | None = None
    discount: Money | None = None
    shipping: Money | None = None
    vat: Money | None = None


class Order(_Record, frozen=True):
    """An order as seen on one platform account.

    ``status`` is canonical, ``raw_status`` the platform's own value verbatim (for per-item
    platforms, the item statuses joined in item order, e.g. ``"3,12"``). ``updated_at`` is the
    platform's own last-change time when it offers one.
    """

    platform: NonEmpty
    account: NonEmpty
    order_id: NonEmpty
    order_number: str
    created_at: AwareDatetime
    status: OrderStatus
    raw_status: str
    totals: Totals
    updated_at: AwareDatetime | None = None
    customer: Party | None = None
    billing: Party | None = None
    shipping_address: Address | None = None
    billing_address: Address | None = None
    items: tuple[LineItem, ...] = ()
    payment_type: str | None = None
    sales_channel: str | None = None
    shipments: tuple[Shipment, ...] = ()
    invoice: Invoice | None = None
    disputed: bool = False
    note: str | None = None
    #: The platform's internal id when ``order_id`` is another identifier (Pazarama's order
    #: GUID, while ``order_id`` is the order number its refunds and writes refer to).
    internal_id: str | None = None


class Refund(_Record, frozen=True):
    """A return / refund request on an order (or one of its items)."""

    platform: NonEmpty
    account: NonEmpty
    refund_id: NonEmpty
    order_id: NonEmpty
    state: RefundState
    raw_state: str
    requested_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    order_number: str | None = None
    item_id: str | None = None
    quantity: Quantity | None = None
    amount: Money | None = None
    reason: str | None = None
    reason_code: str | None = None
    customer_note: str | None = None
    #: Barcode / product code of the item when the platform gives no item id.
    product_code: str | None = None


class Cancellation(_Record, frozen=True):
    """A cancellation request on an order (or one of its items)."""

    platform: NonEmpty
    account: NonEmpty
    cancellation_id: NonEmpty
    order_id: NonEmpty
    state: CancellationState
    raw_state: str
    requested_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    order_number: str | None = None
    item_id: str | None = None
    quantity: Quantity | None = None
    amount: Money | None = None
    reason: str | None = None
    reason_code: str | None = None
    requested_by: str | None = None
    #: Barcode / product code of the item when the platform gives no item id.
    product_code: str | None = None
