"""How the E-Çarşı simulator shows its ground truth: list rows and order details in the
document's JSON (field names, ``2024-02-19 10:00:00`` Istanbul dates, ten-digit phones, money
as JSON numbers), the shipping companies, and the shipments (NOT in the document, see
:mod:`.sandbox`).
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Sequence
from typing import Any, Final

from pipeline.platforms.ecarsi import payloads as raw
from pipeline.platforms.ecarsi.mapping import NOT_SHIPPED, SHIPPED_OR_LATER
from pipeline.sandbox import CARRIERS, Carrier, Order, local
from pipeline.sandbox.model import Address

#: Seller status → the customer status shown beside it (the document relates them nowhere).
CUSTOMER_STATUS_OF: Final[dict[str, str]] = {
    **{status: "waiting" for status in (*sorted(NOT_SHIPPED), "shipped")},
    "delivered": "completed",
    **{s: "returned" for s in ("return_waiting", "return_received", "completed_return")},
    "partial_return": "returned",
    "completed_cancel": "cancelled",
    "partial_cancel": "cancelled",
}

#: The shipping companies, in the catalogue's order (the document's id 1 is Yurtiçi Kargo).
COMPANIES: Final[dict[int, Carrier]] = dict(enumerate(CARRIERS, start=1))
#: The document's tracking URL for Yurtiçi; the other carriers use the catalogue's templates.
TRACKING_URLS: Final[dict[str, str]] = {"yurtici": "https://www.yurticikargo.com/takip?code={}"}

_DIGITS: Final = re.compile(r"\D+")


def stamp(when: dt.datetime) -> str:
    return local(when).strftime(raw.DATETIME_FORMAT)


def message(key: str) -> dict[str, str]:
    tr, en = raw.MESSAGES[key]
    return {"tr": tr, "en": en}


def phone(number: str) -> str:
    """``5551234567``, as the document prints phones (ten digits, no leading 0)."""
    return _DIGITS.sub("", number)[-10:]


def tracking_url(carrier: Carrier, number: str) -> str:
    template = TRACKING_URLS.get(carrier.code)
    return template.format(number) if template else carrier.tracking_url(number)


def barcode_url(number: str) -> str:
    return f"https://e-carsi.com/kargo-barkod/{number}.png"


def tracking(carrier: Carrier, number: str) -> dict[str, str]:
    """The shipping answer's ``data.tracking`` object."""
    return {
        "number": number,
        "url": tracking_url(carrier, number),
        "barcode_url": barcode_url(number),
    }


def companies() -> list[dict[str, Any]]:
    return [
        {"id": i, "name": c.name, "logo": f"https://e-carsi.com/dosya/kargo/{c.code}.png"}
        for i, c in COMPANIES.items()
    ]


def customer_status(order: Order) -> str:
    return CUSTOMER_STATUS_OF.get(order.status, "waiting")


def invoice_status(order: Order) -> str:
    """Sellers upload the invoice before the parcel leaves: uploaded from shipping on."""
    uploaded = order.status in SHIPPED_OR_LATER or order.invoice is not None
    return "uploaded" if uploaded else "not_uploaded"


def row(order: Order) -> dict[str, Any]:
    """One element of ``data.orders`` in the list."""
    return {
        "order_id": order.id,
        "seller_status": order.status,
        "customer_status": customer_status(order),
        "invoice_status": invoice_status(order),
        "customer_email": order.buyer.email,
        "product_count": sum(item.quantity for item in order.items),
        "price": order.totals.total,
        "order_date": stamp(order.created_at),
    }


def _block(order: Order, address: Address, *, invoice: bool) -> dict[str, Any]:
    buyer = order.buyer
    corporate = invoice and buyer.kind == "corporate"
    return {
        "corporate": corporate,
        "name": address.full_name,
        "phone": phone(address.phone),
        "tc": "" if corporate else (buyer.tc_kimlik or ""),
        "city": address.city,
        "district": address.district,
        "full_address": f"{address.neighbourhood} {address.line}",
        "tax_office": (buyer.tax_office or "") if corporate else "",
        "tax_number": (buyer.vkn or "") if corporate else "",
        "company_name": (buyer.company_name or "") if corporate else "",
    }


def shipments(order: Order, made: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The API's shipping records (``made``), or — for an order the seller shipped in the
    panel — one record made up from the checkout carrier, so a shipped order shows a parcel."""
    if made or order.status not in SHIPPED_OR_LATER:
        return list(made)
    company_id, carrier = next((i, c) for i, c in COMPANIES.items() if c.code == order.carrier_code)
    number = carrier.tracking(random.Random(f"{order.uuid}|panel-tracking"))
    shipped = [c.at for c in order.history if c.item_line is None and c.target == "shipped"]
    return [
        {
            "company_id": company_id,
            "company": carrier.name,
            "desi": None,
            "date": stamp(shipped[-1] if shipped else order.updated_at),
            "tracking": tracking(carrier, number),
        }
    ]


def detail(order: Order, made: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``data.order`` of the detail (v1.1.0 shape: one ``address``, plus ``invoice``)."""
    totals = order.totals
    return {
        "id": order.id,
        "date": stamp(order.created_at),
        "customer": {
            "email": order.buyer.email,
            "phone": phone(order.buyer.phone),
            "name": order.buyer.full_name,
        },
        "address": _block(order, order.shipping_address, invoice=False),
        "invoice": _block(order, order.billing_address, invoice=True),
        "status": {
            "seller": order.status,
            "customer": customer_status(order),
            "invoice": invoice_status(order),
        },
        "items": [
            {
                "name": item.name,
                "barcode": item.barcode,
                "stock_code": item.sku,
                "quantity": item.quantity,
                "price": item.unit_price,
                "variants": [item.variant] if item.variant else [],
            }
            for item in order.items
        ],
        "totals": {
            "subtotal": totals.subtotal - totals.discount,
            "shipping": totals.shipping_fee,
            "total": totals.total,
        },
        "shipments": shipments(order, made),
    }
