"""Softtr → canonical: pure functions from the raw Structs in :mod:`.payloads`.

Softtr's list and detail carry **no status and no date**. Readings chosen:

* **Creation time** comes from the order number, the only place it exists:
  ``28092022133621-AYD`` is 28.09.2022 13:36:21 Europe/Istanbul (``ddmmyyyyHHMMSS-<suffix>``).
  A number that does not decode is a :class:`~pipeline.errors.PlatformDecodeError` (the record
  becomes ``Malformed``): an order without a time cannot be placed in any window.
* **Status** cannot be read back. The canonical order shows what *we* last set (the client
  remembers it), as ``raw_status`` verbatim; ``""`` (never set by us) is ``received``: a new
  order. :data:`STATUS` reads the enum's bare words (the document gives no labels):
  WAITING = "waiting for the seller" → ``received`` (the enum's first value, so the natural
  state of a new order — writing ``received`` sends it), PREPARING → ``preparing``,
  PENDING → ``in_supply`` (it sits between PREPARING and SHIPPED in the enum: read as an order
  on hold waiting for goods; the least committal open state), SHIPPED, DELIVERED, RETURNED as
  named, CANCEL → ``cancelled``. :data:`WRITABLE_STATUS` is its exact inverse, so a status we
  write reads back as the status that was asked for. Any other raw value → ``unknown``.
* **Items** have no id: ``item_id`` is the 1-based line position (stable as long as the vendor
  keeps its item order), ``sku`` is ``itemCode``. ``line_total`` is ``itemUnitPrice ×
  itemQuantity`` (the vendor gives no line total). ``itemTaxRate`` is the VAT percentage, kept
  as sent (the sample's 8 % predates today's rates).
* **Totals** are reported, not recomputed: ``orderAmount`` → ``grand_total``, ``cargoCharge``
  → ``shipping``, ``taxAmount`` → ``vat``. Ambiguity: the document's own detail sample has
  ``orderAmount`` 219.90 = its one item's price with ``cargoCharge`` 15.00 *not* added, so
  ``orderAmount`` is read as the goods total (after any coupon) without cargo — consumers must
  not assume a softtr ``grand_total`` includes shipping. Only when ``orderAmount`` is missing is
  it the sum of the lines. No currency is ever given: TRY.
* **Parties.** Softtr has no buyer record: ``customer`` is the invoice party (name, e-mail, GSM);
  ``billing`` is corporate when a company title *and* a tax number are present.
  ``invoiceCivID`` (TC kimlik no) exists only in the list row, so the full picture needs the row
  *and* the detail (the client fetches both). The list row's tax fields are the right way round;
  the detail sample prints ``invoiceTaxID``/``invoiceTaxOffice`` swapped, so in the detail the
  value that is all digits is taken as the tax number whichever field it came in. A tax number
  sent as a JSON number (the list sample) is zero-padded back to 10 digits.
* **Sales channel**: ``orderSource`` through :data:`SALES_CHANNEL` (``WEBSITE`` → ``website``);
  an unknown source is kept verbatim. ``discount_coupon`` and ``partner_code`` have no
  canonical field and are not carried (the coupon's amount is never given anyway).
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from typing import Final

from pipeline.dates import DateParseError, parse_platform_datetime
from pipeline.errors import PlatformDecodeError
from pipeline.platforms.softtr import payloads as raw
from schemas import (
    Address,
    LineItem,
    Money,
    Order,
    OrderStatus,
    Party,
    PartyKind,
    Totals,
)

PLATFORM: Final = "softtr"
S = OrderStatus

#: The raw value of an order we never set a status on.
NEVER_SET: Final = ""

#: Raw status (what we last sent) → canonical; see the module docstring for the readings.
STATUS: Final[dict[str, OrderStatus]] = {
    NEVER_SET: S.RECEIVED,
    "WAITING": S.RECEIVED,
    "PREPARING": S.PREPARING,
    "PENDING": S.IN_SUPPLY,
    "SHIPPED": S.SHIPPED,
    "DELIVERED": S.DELIVERED,
    "RETURNED": S.RETURNED,
    "CANCEL": S.CANCELLED,
}
#: Canonical status → the value updateOrderStatus takes (the inverse of :data:`STATUS`).
WRITABLE_STATUS: Final[dict[OrderStatus, str]] = {
    S.RECEIVED: "WAITING",
    S.PREPARING: "PREPARING",
    S.IN_SUPPLY: "PENDING",
    S.SHIPPED: "SHIPPED",
    S.DELIVERED: "DELIVERED",
    S.RETURNED: "RETURNED",
    S.CANCELLED: "CANCEL",
}
#: ``orderSource`` → canonical ``sales_channel``.
SALES_CHANNEL: Final[dict[str, str]] = {
    "WEBSITE": "website",
    "N11": "n11",
    "CICEKSEPETI": "ciceksepeti",
    "HEPSIBURADA": "hepsiburada",
    "TRENDYOL": "trendyol",
}

_ORDERNO = re.compile(raw.ORDERNO_PATTERN)
_DIGITS = re.compile(r"^\d+$")
VKN_DIGITS: Final = 10


def canonical_status(raw_status: str) -> OrderStatus:
    """The canonical status of a raw value we set (``""``: never set → ``received``)."""
    return STATUS.get(raw_status, S.UNKNOWN)


def order_created_at(orderno: str) -> dt.datetime:
    """The creation time encoded in an order number, as aware UTC.

    Raises :class:`ValueError` (a :class:`~pipeline.dates.DateParseError` for an impossible
    date) when the number does not have the documented shape.
    """
    match = _ORDERNO.match(orderno.strip())
    if match is None:
        raise ValueError(f"order number {orderno!r} does not encode a date (ddmmyyyyHHMMSS-XXX)")
    day, month, year, hour, minute, second, _ = match.groups()
    return parse_platform_datetime(f"{day}.{month}.{year} {hour}:{minute}:{second}")


class _Ctx:
    """Where a value came from, for error messages (never personal data)."""

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

    def money(self, amount: decimal.Decimal | None, field: str) -> Money | None:
        if amount is None:
            return None
        try:
            return Money.of(amount, raw.CURRENCY)
        except (ValueError, TypeError) as exc:
            raise self.error(field, str(exc)) from None


def _text(value: str | int | None) -> str | None:
    """A field as text, or None when empty. A JSON number that stands for a tax number is put
    back to the VKN's 10 digits (``0123456789`` arrives as ``123456789``)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value).zfill(VKN_DIGITS) if value >= 0 else str(value)
    stripped = value.strip()
    return stripped or None


def _is_number(value: str | None) -> bool:
    return value is not None and _DIGITS.match(value) is not None


def _tax_fields(
    row: raw.OrderRow | None, invoice: raw.InvoiceDetails
) -> tuple[str | None, str | None]:
    """(tax number, tax office): the list row's when it has them, else the detail's by shape."""
    if row is not None and (_text(row.invoice_tax_id) or _text(row.invoice_tax_office)):
        return _text(row.invoice_tax_id), _text(row.invoice_tax_office)
    number, office = _text(invoice.invoice_tax_id), _text(invoice.invoice_tax_office)
    if not _is_number(number) and _is_number(office):  # the detail sample's swap
        number, office = office, number
    return number, office


def _billing(row: raw.OrderRow | None, invoice: raw.InvoiceDetails) -> Party:
    name = invoice.invoice_name or (row.invoice_name if row else None) or ""
    title = invoice.invoice_company_title or (row.invoice_title if row else None)
    tax_number, tax_office = _tax_fields(row, invoice)
    national_id = _text(row.invoice_civ_id) if row else None
    corporate = bool(title and title.strip()) and _is_number(tax_number)
    return Party(
        name=(title or name) if corporate else name,
        kind=PartyKind.CORPORATE if corporate else PartyKind.INDIVIDUAL,
        email=_text(invoice.invoice_mail),
        phone=_text(invoice.invoice_gsm) or _text(invoice.invoice_phone),
        national_id=None if corporate else national_id,
        tax_number=tax_number if corporate else None,
        tax_office=tax_office if corporate else None,
        company_name=title if corporate else None,
    )


def _shipping_address(row: raw.OrderRow | None, ship: raw.ShipmentDetails) -> Address:
    return Address(
        recipient=_text(ship.shipment_name) or (_text(row.shipment_name) if row else None),
        line=ship.shipment_address or (row.shipment_address if row else None) or "",
        district=_text(ship.shipment_district) or (_text(row.shipment_district) if row else None),
        city=_text(ship.shipment_city) or (_text(row.shipment_city) if row else None),
        phone=_text(ship.shipment_gsm),
    )


def _billing_address(row: raw.OrderRow | None, invoice: raw.InvoiceDetails) -> Address:
    return Address(
        recipient=_text(invoice.invoice_name) or (_text(row.invoice_name) if row else None),
        line=invoice.invoice_address or (row.invoice_address if row else None) or "",
        district=_text(invoice.invoice_district) or (_text(row.invoice_district) if row else None),
        city=_text(invoice.invoice_city) or (_text(row.invoice_city) if row else None),
        phone=_text(invoice.invoice_gsm) or _text(invoice.invoice_phone),
    )


def _line(position: int, item: raw.Item, ctx: _Ctx) -> LineItem:
    where = f"items[{position - 1}]"
    if item.item_quantity < 0:
        raise ctx.error(f"{where}.itemQuantity", f"negative quantity {item.item_quantity}")
    unit = ctx.money(item.item_unit_price, f"{where}.itemUnitPrice")
    assert unit is not None  # noqa: S101 - itemUnitPrice is required by the Struct
    try:
        return LineItem(
            item_id=str(position),
            name=item.item_title or "",
            quantity=item.item_quantity,
            unit_price=unit,
            line_total=unit * item.item_quantity,
            sku=_text(item.item_code),
            vat_rate=item.item_tax_rate,
        )
    except ValueError as exc:  # vat_rate outside 0-100
        raise ctx.error(f"{where}.itemTaxRate", str(exc)) from None


def map_order(
    detail: raw.OrderDetail,
    *,
    account: str,
    row: raw.OrderRow | None = None,
    raw_status: str = NEVER_SET,
    endpoint: str = "order",
) -> Order:
    """A detail (and, when known, its list row) → canonical :class:`schemas.Order`.

    ``raw_status`` is the status we last set on the order (``""`` if none).
    """
    ctx = _Ctx(account, endpoint, f"order {detail.orderno}")
    if row is not None and row.orderno != detail.orderno:
        raise ctx.error("orderno", f"list row {row.orderno!r} joined to the wrong detail")
    try:
        created = order_created_at(detail.orderno)
    except (ValueError, DateParseError) as exc:
        raise ctx.error("orderno", str(exc)) from None
    lines = tuple(_line(n, item, ctx) for n, item in enumerate(detail.items, start=1))
    grand_total = ctx.money(detail.order_amount, "orderAmount")
    if grand_total is None and row is not None:
        grand_total = ctx.money(row.order_amount, "orderAmount")
    if grand_total is None:
        grand_total = sum((line.line_total for line in lines), Money.zero(raw.CURRENCY))
    invoice = detail.invoice_details or raw.InvoiceDetails()
    ship = detail.shipment_details or raw.ShipmentDetails()
    billing = _billing(row, invoice)
    source = detail.order_source or (row.order_source if row else None)
    return Order(
        platform=PLATFORM,
        account=account,
        order_id=detail.orderno,
        order_number=detail.orderno,
        created_at=created,
        status=canonical_status(raw_status),
        raw_status=raw_status,
        totals=Totals(
            grand_total=grand_total,
            shipping=ctx.money(detail.cargo_charge, "cargoCharge"),
            vat=ctx.money(detail.tax_amount, "taxAmount"),
        ),
        customer=Party(
            name=_text(invoice.invoice_name) or (_text(row.invoice_name) if row else None) or "",
            email=billing.email,
            phone=billing.phone,
        ),
        billing=billing,
        shipping_address=_shipping_address(row, ship),
        billing_address=_billing_address(row, invoice),
        items=lines,
        payment_type=_text(detail.payment_type),
        sales_channel=SALES_CHANNEL.get(source, source) if source else None,
    )
