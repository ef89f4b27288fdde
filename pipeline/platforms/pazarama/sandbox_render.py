"""The Pazarama simulator's answers: ground-truth orders and requests drawn in the document's JSON.

Shapes follow the document's samples key for key (``tests/data/pazarama/``): the order list of
3.13 (also for V2, split into quantity-1 items), the refund rows of 3.17 (``refundNumber``, bare
four-field money), the cancellation rows of 3.23 (``quantity``, seven-field money), the decision
answers of 3.23/3.29 and getSellerDelivery. Readings of the samples chosen here:

* ``totalPrice`` is sale price × quantity and ``orderAmount`` the sum of those plus shipping,
  *before* the discount, which comes beside it (the sample: totalPrice 1.00, discountAmount
  0.20, orderAmount 1.00). ``taxAmount`` is the VAT inside ``totalPrice`` (1.00 at 18 % → 0.15).
* The order's shipping fee is the first item's ``shipmentAmount``; the other items show 0.
* ``cargo`` is always there (the sample shows it on a new item): the checkout carrier with no
  tracking number until the item ships, then the shipment's carrier, number and URL.
* ``taxNumber`` is sent as text: a VKN may begin with 0.
* Refund rows give the buyer's phone without its leading 0 (``5352629133``) and the address as
  ``district/city``; getRefund's ``message`` is the string ``"null"``, as in its sample.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any, Final

from pipeline.platforms.pazarama import payloads as raw
from pipeline.platforms.pazarama.sandbox_rules import (
    CARGO_BY_CODE,
    CARGO_COMPANIES,
    DELIVERY_DURATION_DAYS,
    OTHER_PAYMENT_CODES,
    PAYMENT_CODES,
    REFUND_STATUS_LABELS,
    stable_guid,
)
from pipeline.sandbox import CARRIERS_BY_CODE, Item, Order, Record, World, local

CENT: Final = Decimal("0.01")
ZERO: Final = Decimal("0.00")
TURKISH_MONTH_NAMES: Final = ("Ocak", "Şubat", "Mart", "Nisan", "Mayıs", "Haziran", "Temmuz",
                              "Ağustos", "Eylül", "Ekim", "Kasım", "Aralık")  # fmt: skip
_SLUG: Final = str.maketrans("çğıöşüÇĞİÖŞÜ", "cgiosuCGIOSU")
_NOT_SLUG: Final = re.compile(r"[^a-z0-9]+")

JSON = dict[str, Any]


def envelope(data: object, *, code: str | None = "ORD0", message: str | None = None) -> JSON:
    return {
        "data": data,
        "success": True,
        "messageCode": code,
        "message": message,
        "userMessage": None,
        "fromCache": False,
    }


def failure(code: str, message: str, user_message: str) -> JSON:
    return {
        "data": None,
        "success": False,
        "messageCode": code,
        "message": message,
        "userMessage": user_message,
        "fromCache": False,
    }


# -- values -----------------------------------------------------------------------------------


def money(amount: Decimal, *, full: bool = True) -> JSON:
    """``{currency, value, valueInt, valueString "1.234,50 TL", …}``; ``full`` adds the parts."""
    value = amount.quantize(CENT)
    kurus = int(value * 100)
    whole, fraction = divmod(abs(kurus), 100)
    whole_text = ("-" if kurus < 0 else "") + f"{whole:,}".replace(",", ".")
    out: JSON = {
        "currency": "TL",
        "value": value,
        "valueInt": kurus,
        "valueString": f"{whole_text},{fraction:02d} TL",
    }
    if full:
        out |= {
            "wholePartString": whole_text,
            "fractionPartString": f"{fraction:02d}",
            "decimalSeparator": ",",
        }
    return out


def order_date(order: Order) -> str:
    return f"{local(order.created_at):%Y-%m-%d %H:%M}"


def turkish_date(moment: Any) -> str:
    """``6 Ekim 2021 14:53`` in Istanbul time (refund and cancellation rows)."""
    at = local(moment)
    return f"{at.day} {TURKISH_MONTH_NAMES[at.month - 1]} {at.year} {at:%H:%M}"


def vat_inside(amount: Decimal, rate: int) -> Decimal:
    return (amount * rate / (100 + rate)).quantize(CENT, rounding=ROUND_HALF_UP)


def shares(total: Decimal, parts: int) -> list[Decimal]:
    """``total`` in ``parts`` kuruş-exact shares; the last takes the remainder."""
    each = (total / parts).quantize(CENT, rounding=ROUND_DOWN)
    return [each] * (parts - 1) + [total - each * (parts - 1)]


def payment_type(order: Order) -> int:
    code = PAYMENT_CODES.get(order.payment_type)
    return code if code is not None else OTHER_PAYMENT_CODES[order.number % 3]


def unit_ids(item: Item) -> list[str]:
    """V2's orderItemIds: the item's own id when it is one unit, else one id per unit."""
    if item.quantity == 1:
        return [item.uuid]
    return [stable_guid(item.uuid, "unit", n) for n in range(1, item.quantity + 1)]


def request_ids(record: Record, quantity: int) -> list[str]:
    """getRefund with ``SplitItems``: one refundId per unit (the record's own for one unit)."""
    if quantity == 1:
        return [record.id]
    return [stable_guid(record.id, "unit", n) for n in range(1, quantity + 1)]


def cargo_name(code: str) -> str:
    known = CARGO_BY_CODE.get(code)
    carrier = known.carrier if known else CARRIERS_BY_CODE.get(code)
    return carrier.name if carrier else code


# -- orders -----------------------------------------------------------------------------------


def _address(order: Order, kind: str) -> JSON:
    a = order.shipping_address if kind == "shipment" else order.billing_address
    return {
        "addressId": stable_guid(order.uuid, kind),
        "title": a.title,
        "nameSurname": a.full_name,
        "customerEmail": order.buyer.email,
        "cityName": a.city,
        "districtName": a.district,
        "neighborhoodName": a.neighbourhood,
        "addressDetail": a.line,
        "displayAddressText": f"{a.neighbourhood} {a.line}/ {a.district} /{a.city}",
        "phoneNumber": a.phone,
    }


def _billing(order: Order) -> JSON:
    buyer = order.buyer
    corporate = buyer.kind == "corporate"
    return _address(order, "billing") | {
        "identityNumber": None if corporate else buyer.tc_kimlik,
        "invoiceType": 2 if corporate else 1,
        "companyName": buyer.company_name if corporate else None,
        "taxNumber": buyer.vkn if corporate else None,
        "taxOffice": buyer.tax_office if corporate else None,
        "isEInvoiceObliged": buyer.e_invoice_obliged,
    }


def _cargo(order: Order, item: Item) -> JSON:
    shipment = item.shipment
    if shipment is None:
        carrier = CARGO_BY_CODE.get(order.carrier_code)
        site = carrier.carrier.url_template.split("/", 3)[:3] if carrier else None
        return {
            "companyName": cargo_name(order.carrier_code),
            "trackingNumber": None,
            "trackingUrl": "/".join(site) if site else None,
        }
    known = CARRIERS_BY_CODE.get(shipment.carrier_code)
    url = shipment.tracking_url or (known.tracking_url(shipment.tracking_number) if known else None)
    return {
        "companyName": shipment.carrier_name,
        "trackingNumber": shipment.tracking_number,
        "trackingUrl": url,
    }


def _product(item: Item) -> JSON:
    slug = _NOT_SLUG.sub("-", item.name.translate(_SLUG).lower()).strip("-")
    return {
        "productId": stable_guid("product", item.barcode),
        "name": item.name,
        "title": None,
        "url": f"{slug}-p-{item.barcode}",
        "imageURL": f"https://cdn.pazarama.com/asset/{item.barcode}/images/{slug}-1.jpg",
        "variantOptionDisplay": item.variant,
        "stockCode": item.sku,
        "code": item.barcode,
        "vatRate": item.vat_rate,
    }


def _item(
    order: Order,
    item: Item,
    *,
    item_id: str,
    quantity: int,
    total: Decimal,
    tax: Decimal,
    discount: Decimal,
    shipping: Decimal,
) -> JSON:
    return {
        "orderItemId": item_id,
        "orderItemStatus": int(item.status),
        "shipmentCode": "",
        "shipmentCost": money(ZERO),
        "deliveryType": 1,
        "deliveryDetail": {"phoneNumber": None, "email": None},
        "quantity": quantity,
        "listPrice": money(item.list_price),
        "salePrice": money(item.unit_price),
        "taxAmount": money(tax),
        "shipmentAmount": money(shipping),
        "totalPrice": money(total),
        "discountAmount": money(discount),
        "discountDescription": order.coupon if discount else None,
        "taxIncluded": True,
        "cargo": _cargo(order, item),
        "product": _product(item),
    }


def _items(order: Order, *, split: bool) -> list[JSON]:
    out: list[JSON] = []
    fee = order.totals.shipping_fee
    for item in order.items:
        tax = vat_inside(item.gross, item.vat_rate)
        first_fee = fee if item.line == 1 else ZERO
        if not split or item.quantity == 1:
            out.append(
                _item(
                    order,
                    item,
                    item_id=item.uuid,
                    quantity=item.quantity,
                    total=item.gross,
                    tax=tax,
                    discount=item.discount,
                    shipping=first_fee,
                )
            )
            continue
        units = zip(
            unit_ids(item),
            shares(tax, item.quantity),
            shares(item.discount, item.quantity),
            strict=True,
        )
        for n, (unit_id, unit_tax, unit_discount) in enumerate(units):
            out.append(
                _item(
                    order,
                    item,
                    item_id=unit_id,
                    quantity=1,
                    total=item.unit_price,
                    tax=unit_tax,
                    discount=unit_discount,
                    shipping=first_fee if n == 0 else ZERO,
                )
            )
    return out


def render_order(order: Order, *, split: bool = False) -> JSON:
    """One element of getOrdersForApi's (``split``: getOrdersForApiV2's) ``data``."""
    totals = order.totals
    return {
        "orderId": order.uuid,
        "orderNumber": int(order.id),
        "orderDate": order_date(order),
        "orderAmount": totals.subtotal + totals.shipping_fee,
        "shipmentAmount": totals.shipping_fee,
        "discountAmount": totals.discount,
        "discountDescription": order.coupon,
        "currency": "TL",
        "paymentType": payment_type(order),
        "orderStatus": int(order.status),
        "customerId": stable_guid("customer", order.buyer.email),
        "customerName": order.buyer.full_name,
        "customerEmail": order.buyer.email,
        "shipmentAddress": _address(order, "shipment"),
        "billingAddress": _billing(order),
        "items": _items(order, split=split),
    }


# -- refunds and cancellations ----------------------------------------------------------------


def record_quantity(order: Order, record: Record) -> int:
    return sum(order.item(line).quantity for line in record.item_lines)


def record_reason(record: Record) -> str:
    if record.actor == "platform":
        return "Kargoya verilmedi (otomatik iade)"
    return record.reason


def request_rows(
    world: World, records: Sequence[Record], *, kind: str, split: bool = False
) -> list[JSON]:
    """getRefund (``kind`` "refund") or cancel/items rows, numbered from 1 in ``id``."""
    rows: list[JSON] = []
    for record in records:
        order = world.order(record.order_id)
        for line in record.item_lines:
            item = order.item(line)
            units = request_ids(record, item.quantity) if split else [record.id]
            amounts = shares(item.total, len(units))
            for unit_id, amount in zip(units, amounts, strict=True):
                row = _request_row(
                    order,
                    record,
                    item,
                    kind=kind,
                    refund_id=unit_id,
                    quantity=item.quantity if len(units) == 1 else 1,
                    amount=amount,
                )
                rows.append({"id": len(rows) + 1, **row})
    return rows


def _request_row(
    order: Order,
    record: Record,
    item: Item,
    *,
    kind: str,
    refund_id: str,
    quantity: int,
    amount: Decimal,
) -> JSON:
    refund = kind == "refund"
    address = order.shipping_address
    row: JSON = {
        "refundId": refund_id,
        "orderNumber": int(order.id),
        "orderDate": turkish_date(order.created_at),
    }
    if refund:
        row["refundNumber"] = 564_000 + record.number
    return row | {
        "refundType": record_reason(record),
        "refundStatus": int(record.status),
        "refundStatusName": REFUND_STATUS_LABELS[record.status],
        "paymentType": raw.PAYMENT_TYPE[payment_type(order)],
        "refundDate": turkish_date(record.created_at),
        "totalAmount": money(order.totals.total, full=not refund),
        "refundAmount": money(amount, full=not refund),
        "customerId": stable_guid("customer", order.buyer.email),
        "customerName": order.buyer.full_name,
        "customerEmail": order.buyer.email,
        "customerPhoneNumber": order.buyer.phone.removeprefix("0"),
        "customerAddress": f"{address.district}/{address.city}",
        "productName": item.name,
        "productCode": item.barcode,
        "productStockCode": item.sku,
        "shipmentCompanyName": item.shipment.carrier_name if refund and item.shipment else None,
        "shipmentCode": None,
        "description": None,
        "boDescription": None,
        "quantity": quantity,
    }


def request_page(rows: list[JSON], all_rows: int, size: int, number: int, report: JSON) -> JSON:
    return {
        "responsePage": {
            "pageSize": size,
            "pageIndex": number,
            "totalCount": all_rows,
            "totalPages": math.ceil(all_rows / size),
        },
        "pageReport": report,
        "refundList": rows,
    }


def page_report(records: Sequence[Record]) -> JSON:
    statuses = [r.status for r in records]
    return {
        "totalRefundCount": len(statuses),
        "totalWaitingRefundCount": sum(s == "1" for s in statuses),
        "totalApprovedRefundCount": sum(s in {"2", "4", "6", "8"} for s in statuses),
        "totalRejectedRefundCount": sum(s in {"3", "5"} for s in statuses),
    }


def decision(order: Order, record: Record) -> JSON:
    """The ``data`` of ``PUT order/api/cancel`` and ``POST order/updateRefund``."""
    return {
        "orderNumber": int(order.id),
        "requestNo": 0,
        "refundId": record.id,
        "orderItemId": order.item(record.item_lines[0]).uuid,
        "refundType": record_reason(record),
        "refundStatus": REFUND_STATUS_LABELS[record.status],
    }


# -- carriers ---------------------------------------------------------------------------------


def seller_delivery(delivery_id: str) -> JSON:
    """getSellerDelivery's ``data``: non-contracted cargo, each carrier once per card type."""
    companies = [
        {"cargoCompanyId": c.guid, "cargoCardType": card, "cargoCompanyName": c.carrier.name}
        for c in CARGO_COMPANIES
        for card in (2, 1)
    ]
    return {
        "cargoCompany": {
            "deliveryId": delivery_id,
            "price": Decimal("49.90"),
            "campaignPrice": ZERO,
            "campaignAmount": Decimal("500.00"),
            "campaignText": "500 TL ve üzeri alışverişinize ücretsiz kargo.",
            "deliveryDuration": DELIVERY_DURATION_DAYS,
            "deliveryDurationType": 0,
            "deliveryDays": [],
            "canDeliverWeekend": False,
            "contracted": False,
            "hybridCargo": False,
            "divideCargo": True,
            "isFixedShipmentAmount": False,
            "approveStatus": -1,
            "waitingApprovalDeliveryDuration": None,
            "deliveryDurationReason": None,
            "autoShipmentCode": False,
            "cargoCompanies": companies,
        },
        "fastDelivery": None,
        "storeDelivery": None,
        "digital": None,
        "donation": None,
        "sellerDeliveryPreferences": {
            "canFastDelivery": False,
            "canStoreDelivery": False,
            "otherCargoOption": True,
            "canEnteredOtherCargo": True,
            "saturdayIsWorkDay": False,
        },
    }
