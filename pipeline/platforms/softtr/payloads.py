"""Softtr's wire format: its code tables, documented limits, and msgspec Structs for its JSON.

Source: "Softtr E-Ticaret Sistemleri" API document, version 0.1.0b (``platform-docs/softtr.txt``).
Every sample it prints is kept under ``tests/data/softtr/`` and decoded by the tests.

Rules of this module:

* Wire names are the vendor's exactly. They are a mix (``orderno``, ``orderAmount``,
  ``discount_coupon``, ``requestID``), so every name is spelled out with ``field(name=...)``
  where the Python name differs.
* Response Structs declare only what the adapter reads; unknown fields are ignored, so a vendor
  adding fields (a status or a date one day) never breaks polling. Everything is optional with a
  neutral default except ``orderno``, without which a record means nothing.
* Money is a bare JSON number (``"orderAmount": 87.89``); msgspec decodes ``Decimal`` from the
  JSON text exactly (and from a string, should the vendor quote it), so no float ever enters.
* **Ambiguities in the wire format, and the reading chosen**

  - ``invoiceTaxID`` is typed ``string`` in the tables but printed as the number
    ``1111111111`` in the list sample: both are accepted (:data:`TaxId`); a number is turned
    back into text by the mapping (zero-padded to the VKN's 10 digits).
  - The detail sample has ``invoiceTaxID`` and ``invoiceTaxOffice`` swapped
    (``"invoiceTaxID": "ATIŞALANI"``, ``"invoiceTaxOffice": "111111111"``) while its table
    describes them the right way round; the mapping decides by shape (see :mod:`.mapping`).
  - ``itemTaxRate`` and ``itemQuantity`` are ``int`` in the table; the rate is read as
    ``Decimal`` (a fractional rate must not fail a whole order), the quantity stays ``int``.
  - No error body is printed: the "Genel Hata Mesajları" table only gives HTTP status, code and
    message. :class:`Envelope` reads the printed success shape (``status``, ``message.code``,
    ``message.detail.requestID``) and the error text wherever a plausible vendor would put it
    (``message.detail.message`` — the sandbox's choice — ``message.detail.error``,
    ``message.detail.description``, a string ``message.detail``, ``message.message``, or a string
    ``message``); see :meth:`Envelope.error_text`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final, Generic, TypeVar

import msgspec

from pipeline.ratelimit import RateLimit

# --------------------------------------------------------------------------------------------
# Code tables, with the document's words.
# --------------------------------------------------------------------------------------------

#: ``status`` of ``updateOrderStatus``: "Sipariş durumu [WAITING,PREPARING,PENDING,SHIPPED,
#: DELIVERED,RETURNED,CANCEL]". The document gives no labels and no meanings: the values are the
#: enum's own words, and :mod:`.mapping` states the reading chosen for each.
ORDER_STATUSES: Final[tuple[str, ...]] = (
    "WAITING",
    "PREPARING",
    "PENDING",
    "SHIPPED",
    "DELIVERED",
    "RETURNED",
    "CANCEL",
)

#: ``orderSource``: "Sipariş Kaynağı [WEBSITE,N11,CICEKSEPETI,HEPSIBURADA,TRENDYOL]".
ORDER_SOURCES: Final[tuple[str, ...]] = ("WEBSITE", "N11", "CICEKSEPETI", "HEPSIBURADA", "TRENDYOL")

#: "Genel Hata Mesajları" (every endpoint): HTTP status → (Hata Kodu, Hata Mesajı).
GENERAL_ERRORS: Final[dict[int, tuple[int, str]]] = {
    401: (401, "Kullanıcı bilgileri eksik yada yanlış"),
    404: (404, "Geçersiz veya bulunamayan kaynak"),
    405: (405, "Geçersiz istek"),
    500: (500, "Beklenmedik bir sorun oluştu."),
}

#: "Hata Mesajları" of updateOrderStatus (and updateStokAndPrice), all HTTP 400 / code 400.
#: ``{parametre}`` is replaced by the offending parameter's name.
WRITE_ERRORS: Final[tuple[str, ...]] = (
    "Geçersiz istek",
    "{parametre} Boş ya da Geçersiz",
    "Data sınırı aşıldı",
)
DATA_LIMIT_EXCEEDED: Final = "Data sınırı aşıldı"
INVALID_REQUEST: Final = "Geçersiz istek"
INVALID_PARAMETER: Final = "{parametre} Boş ya da Geçersiz"

# --------------------------------------------------------------------------------------------
# Documented limits and constants.
# --------------------------------------------------------------------------------------------

#: "Bir sayfada görüntülenecek sipariş adedi (Max 100 , Varsayılan 100)".
MAX_PAGE_SIZE: Final = 100
#: updateOrderStatus: "Bir seferde en fazla 100 sipariş için istek gönderilebilir".
MAX_STATUS_BATCH: Final = 100
#: updateStokAndPrice: "Bir seferde en fazla 100 ürün için istek gönderilebilir".
MAX_STOCK_BATCH: Final = 100
#: The default budget of an account. No documented limit: a conservative guess, overridable per
#: account in the config.
RATE_LIMIT: Final = RateLimit.from_config(per_minute=120)
#: ``startDate`` / ``endDate``: "Örneğin : 01-10-2022" — day, month, year.
DATE_FORMAT: Final = "%d-%m-%Y"
#: The order number carries the order's creation time: ``28092022133621-AYD`` is
#: 28.09.2022 13:36:21 (Europe/Istanbul), then a dash and a letter suffix.
ORDERNO_PATTERN: Final = r"^(\d{2})(\d{2})(\d{4})(\d{2})(\d{2})(\d{2})-([A-Za-z0-9]+)$"
#: There is no currency field anywhere: every amount is Turkish lira.
CURRENCY: Final = "TRY"

# --------------------------------------------------------------------------------------------
# Envelope.
# --------------------------------------------------------------------------------------------


class Detail(msgspec.Struct, kw_only=True):
    """``message.detail``: the request id, and (errors, not documented) the vendor's words."""

    request_id: str | None = msgspec.field(default=None, name="requestID")
    message: str | None = None
    error: str | None = None
    description: str | None = None


class Message(msgspec.Struct, kw_only=True):
    """``message``: ``{"code": 200, "detail": {"requestID": …}}``."""

    code: int | str | None = None
    detail: Detail | str | None = None
    message: str | None = None


class Status(msgspec.Struct, kw_only=True):
    """The part every answer shares: ``status`` (the HTTP code again) and ``message``."""

    status: int | str | None = None
    message: Message | str | None = None

    @property
    def request_id(self) -> str | None:
        if isinstance(self.message, Message) and isinstance(self.message.detail, Detail):
            return self.message.detail.request_id or None
        return None

    @property
    def code(self) -> int | None:
        """The answer's own status code: ``message.code``, else ``status``; None if neither."""
        for value in (
            self.message.code if isinstance(self.message, Message) else None,
            self.status,
        ):
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            # ASCII only: "²".isdigit() is True, yet int("²") raises (found by fuzzing).
            if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
                return int(value)
        return None

    def error_text(self) -> str | None:
        """The vendor's words about an error, wherever they were put (see the module docstring)."""
        message = self.message
        if isinstance(message, str):
            return message or None
        if message is None:
            return None
        detail = message.detail
        if isinstance(detail, str):
            return detail or None
        if detail is not None:
            for text in (detail.message, detail.error, detail.description):
                if text:
                    return text
        return message.message or None


T = TypeVar("T")


class Envelope(Status, Generic[T]):
    """An answer with a payload: ``Envelope[ListData]``, ``Envelope[DetailData]``."""

    data: T | None = None


# --------------------------------------------------------------------------------------------
# GET /orders ("Siparişleri listeleme").
# --------------------------------------------------------------------------------------------

TaxId = str | int


class ListData(msgspec.Struct, kw_only=True):
    """``data`` of the list. Rows stay raw so each is decoded on its own (one bad row must not
    hide its page)."""

    order_count: int | None = msgspec.field(default=None, name="orderCount")
    page_count: int | None = msgspec.field(default=None, name="pageCount")
    size: int | None = None
    page: int | None = None
    content: list[msgspec.Raw] | None = None


class OrderRow(msgspec.Struct, kw_only=True):
    """One ``data.content`` element of the list."""

    orderno: str
    order_amount: Decimal | None = msgspec.field(default=None, name="orderAmount")
    invoice_name: str | None = msgspec.field(default=None, name="invoiceName")
    invoice_title: str | None = msgspec.field(default=None, name="invoiceTitle")
    invoice_tax_office: str | None = msgspec.field(default=None, name="invoiceTaxOffice")
    invoice_tax_id: TaxId | None = msgspec.field(default=None, name="invoiceTaxID")
    invoice_civ_id: TaxId | None = msgspec.field(default=None, name="invoiceCivID")
    invoice_address: str | None = msgspec.field(default=None, name="invoiceAddress")
    invoice_district: str | None = msgspec.field(default=None, name="invoiceDistrict")
    invoice_city: str | None = msgspec.field(default=None, name="invoiceCity")
    shipment_name: str | None = msgspec.field(default=None, name="shipmentName")
    shipment_address: str | None = msgspec.field(default=None, name="shipmentAddress")
    shipment_district: str | None = msgspec.field(default=None, name="shipmentDistrict")
    shipment_city: str | None = msgspec.field(default=None, name="shipmentCity")
    order_source: str | None = msgspec.field(default=None, name="orderSource")


class RowId(msgspec.Struct):
    """Just the number of a row, to name a record that fails to decode."""

    orderno: str | int | None = None


# --------------------------------------------------------------------------------------------
# GET /order/{ORDERNO} ("Sipariş Detayı").
# --------------------------------------------------------------------------------------------


class ShipmentDetails(msgspec.Struct, kw_only=True):
    shipment_name: str | None = msgspec.field(default=None, name="shipmentName")
    shipment_address: str | None = msgspec.field(default=None, name="shipmentAddress")
    shipment_district: str | None = msgspec.field(default=None, name="shipmentDistrict")
    shipment_city: str | None = msgspec.field(default=None, name="shipmentCity")
    shipment_gsm: str | None = msgspec.field(default=None, name="shipmentGsm")


class InvoiceDetails(msgspec.Struct, kw_only=True):
    invoice_name: str | None = msgspec.field(default=None, name="invoiceName")
    invoice_company_title: str | None = msgspec.field(default=None, name="invoiceCompanyTitle")
    invoice_tax_id: TaxId | None = msgspec.field(default=None, name="invoiceTaxID")
    invoice_tax_office: TaxId | None = msgspec.field(default=None, name="invoiceTaxOffice")
    invoice_address: str | None = msgspec.field(default=None, name="invoiceAddress")
    invoice_district: str | None = msgspec.field(default=None, name="invoiceDistrict")
    invoice_city: str | None = msgspec.field(default=None, name="invoiceCity")
    invoice_gsm: str | None = msgspec.field(default=None, name="invoiceGsm")
    invoice_phone: str | None = msgspec.field(default=None, name="invoicePhone")
    invoice_mail: str | None = msgspec.field(default=None, name="invoiceMail")


class Item(msgspec.Struct, kw_only=True):
    item_title: str | None = msgspec.field(default=None, name="itemTitle")
    item_brand: str | None = msgspec.field(default=None, name="itemBrand")
    item_code: str | None = msgspec.field(default=None, name="itemCode")
    item_tax_rate: Decimal | None = msgspec.field(default=None, name="itemTaxRate")
    item_quantity: int = msgspec.field(name="itemQuantity")
    item_unit_price: Decimal = msgspec.field(name="itemUnitPrice")


class OrderDetail(msgspec.Struct, kw_only=True):
    """``data.content`` of the detail."""

    orderno: str
    order_amount: Decimal | None = msgspec.field(default=None, name="orderAmount")
    cargo_charge: Decimal | None = msgspec.field(default=None, name="cargoCharge")
    tax_amount: Decimal | None = msgspec.field(default=None, name="taxAmount")
    discount_coupon: str | None = None
    partner_code: str | None = None
    order_source: str | None = msgspec.field(default=None, name="orderSource")
    payment_type: str | None = msgspec.field(default=None, name="paymentType")
    shipment_details: ShipmentDetails | None = msgspec.field(default=None, name="shipmentDetails")
    invoice_details: InvoiceDetails | None = msgspec.field(default=None, name="invoiceDetails")
    items: list[Item] = msgspec.field(default_factory=list)


NULL: Final = msgspec.Raw(b"null")


class DetailData(msgspec.Struct, kw_only=True):
    """``data`` of the detail: the order sits one level down, under ``content``. Kept raw so a
    malformed order is reported as that order's problem (msgspec cannot make ``Raw`` optional:
    a missing or null ``content`` is the raw text ``null``)."""

    content: msgspec.Raw = NULL


# --------------------------------------------------------------------------------------------
# POST /orders/updateOrderStatus ("Sipariş Durumu Güncelleme"): a bare JSON array.
# --------------------------------------------------------------------------------------------


class StatusUpdate(msgspec.Struct, kw_only=True):
    """One element of the request array: ``{"orderno": …, "status": "WAITING"}``."""

    orderno: str
    status: str


# --------------------------------------------------------------------------------------------
# POST /products/updateStokAndPrice — outside the pipeline's scope today (stock/price commands
# come later); the request Struct proves the document's sample and fixes the wire names.
# --------------------------------------------------------------------------------------------


class StockAndPrice(msgspec.Struct, kw_only=True):
    barcode: str
    main_product_price: Decimal = msgspec.field(name="mainProductPrice")
    variant_price: Decimal = msgspec.field(name="variantPrice")
    stock_amount: int = msgspec.field(name="stockAmount")
