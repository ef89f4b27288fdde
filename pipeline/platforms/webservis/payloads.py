"""Webservis' wire format: its code tables, documented limits, and msgspec Structs for its JSON.

Source: "E-TİCARET API WEB SERVİS DOKÜMANTASYONU V2.0.3" (``platform-docs/webservis.txt``);
section numbers below are the document's (4.1 auth … 4.5.4 product/updatePrices). The document
prints **no JSON at all**: only field tables, URL examples and one PHP request sample. The URL
examples and the PHP sample are kept verbatim under ``tests/data/webservis/``; the response
files there are synthetic, built field by field from the tables (see that folder's README).

Readings of the document fixed here (the adapter's docstrings list the rest):

* **Envelope.** The document names ``Code``, ``Description`` and ``Result`` but never shows an
  answer. Read as ``{"code": "SUCCESS" | "<ERRORCODE>", "message": "…", "result": {…}}``, with
  HTTP 200 even for the AUTH codes (the project's platform README fixes this reading).
  ``message`` may be missing: the code table below gives the document's own description.
* **Nested names.** ``order.*``, ``customer.*``, ``summary.*``, ``products.*`` are members of
  ``result`` side by side; ``delivery.address`` is ``{"delivery": {"address": …}}``;
  ``taxes.*.rate`` is a list of ``{rate, amount}``. The tables say "array" for objects: PHP's
  word for an associative array. PHP encodes an *empty* associative array as ``[]``, so every
  object member also accepts an empty JSON array (read as "absent").
* **Types.** Integers and floats as the tables say, read leniently where PHP services are known
  to drift: ids and status as int or numeric text, money and rates as ``Decimal`` from a JSON
  number or a decimal string (never through ``float``), text members nullable. Dates stay
  ``str``; the mapping parses them (``YYYY-MM-DD hh:ii:ss``, Istanbul wall time).
* **Labels.** The PDF extraction garbled ``ş``/``ğ`` in 4.1 (``Eriřim``, ``deęil``, ``ařıldı``);
  the tables below restore the Turkish spelling.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final, Generic, TypeVar

import msgspec

from pipeline.ratelimit import RateLimit

# --------------------------------------------------------------------------------------------
# Code tables, with the document's Turkish labels.
# --------------------------------------------------------------------------------------------

#: ``status`` of ``order/lists`` rows and ``order/show`` (4.4.2), in the document's order.
ORDER_STATUS: Final[dict[int, str]] = {
    1: "Yeni siparişler",
    2: "Hazırlanan siparişler",
    3: "Kargolanan siparişler",
    4: "İptal/değişim/iade Siparişleri",
    5: "İptal edilen Siparişler",
}

#: The ``status`` *filter* of ``order/lists`` (4.4.1): the statuses plus 0 = every order.
ORDER_LIST_STATUS_FILTER: Final[dict[int, str]] = {0: "Tüm siparişler", **ORDER_STATUS}

#: ``order.status`` of ``order/fastSale`` (4.4.3). Note 4 = "Teslim Edilen Sipariş" here but
#: "İptal/değişim/iade" in the list/show table: the document contradicts itself. We never
#: create orders; the table is kept so a test can point at the contradiction.
FAST_SALE_STATUS: Final[dict[int, str]] = {
    1: "Yeni Sipariş",
    2: "Hazırlanan Sipariş",
    3: "Kargolanan Sipariş",
    4: "Teslim Edilen Sipariş",
}

#: ``order.paymentType`` of ``order/fastSale`` (4.4.3). ``order/show`` returns ``paymentMetod``
#: as free text instead, with no table.
FAST_SALE_PAYMENT_TYPE: Final[dict[int, str]] = {
    0: "Hızlı Satış",
    1: "Kapıda Ödeme",
    2: "Kapıda Nakit Ödeme",
    3: "Kapıda Kredi Kartı ile Ödeme",
    4: "Havale",
}

#: The one success code.
SUCCESS: Final = "SUCCESS"

#: Access codes (4.1 "Erişim Kontrolü"), answerable by every method.
AUTH_CODES: Final[dict[str, str]] = {
    "SUCCESS": "Erişim başarılı",
    "AUTH001": "Web servis aktif değil",
    "AUTH002": "Geçersiz web servis kullanıcısı",
    "AUTH003": "Web servis kullanıcısı aktif değil",
    "AUTH004": "Dakikalık erişim limiti aşıldı",
    "AUTH005": "Geçersiz metot",
    "AUTH006": "Metota erişim yetkisi bulunmamaktadır",
}

#: Every method's own response codes, by method, as printed ("SUCCESS" labels vary by method).
METHOD_CODES: Final[dict[str, dict[str, str]]] = {
    "category/show": {"SUCCESS": "İşlem başarılı", "CATSHOW001": "Hatalı kategori ID"},
    "dealer/lists": {"SUCCESS": "İşlem başarılı"},
    "dealer/limits": {
        "SUCCESS": "İşlem başarılı",
        "DEALERLIMIT001": "Hatalı bayi ID",
        "DEALERLIMIT002": "Zorunlu alanlar eksik",
        "DEALERLIMIT003": "Geçersiz bayi",
        "DEALERLIMIT004": "Güncelleme işlemi başarısız",
    },
    "order/lists": {"SUCCESS": "İşlem başarılı"},
    "order/show": {"SUCCESS": "İşlem başarılı", "ORDERSHOW001": "Hatalı sipariş ID"},
    "order/fastSale": {
        "SUCCESS": "İşlem başarılı",
        "ORDERFASTSALE001": "Zorunlu alanlar eksik",
        "ORDERFASTSALE002": "Müşteri zorunlu alanları eksik",
        "ORDERFASTSALE003": "Sipariş zorunlu alanları eksik",
        "ORDERFASTSALE004": "Ürün zorunlu alanları eksik",
        "ORDERFASTSALE005": "Sipariş oluşturulamadı",
    },
    "order/summary1": {"SUCCESS": "İşlem başarılı"},
    "product/lists": {"SUCCESS": "İşlem başarılı"},
    "product/save": {
        "SUCCESS": "İşlem başarılı. Result parameteresindeki değerleri kontrol edin.",
        "PRODUCTSAVE001": "Zorunlu alanlar eksik",
        "PRODUCTSAVE002": "Zorunlu ürün alanları eksik",
        "PRODUCTSAVE003": "Zorunlu varyant alanları eksik",
        "PRODUCTSAVE004": "Ürün limiti aşıldı.",
        "PRODUCTSAVE005": "Zorunlu pazaryeri fiyat alanları eksik",
        "PRODUCTSAVE006": "Para birimi geçersiz",
        "PRODUCTSAVE007": "Resim URL geçersiz",
        "PRODUCTSAVE008": "Zorunlu nitelik alanları eksik",
    },
    "product/updateStocks": {
        "SUCCESS": "İşlem başarılı. Result parameteresindeki değerleri kontrol edin.",
        "PRODUCTUPDATESTOCK001": "Zorunlu alanlar eksik",
        "PRODUCTUPDATESTOCK002": "Zorunlu stok alanları eksik",
        "PRODUCTUPDATESTOCK003": "Zorunlu varyant alanları eksik",
        "PRODUCTUPDATESTOCK004": "Ürün limiti aşıldı.",
    },
    "product/updatePrices": {
        "SUCCESS": "İşlem başarılı. Result parameteresindeki değerleri kontrol edin.",
        "PRODUCTUPDATEPRICE001": "Zorunlu alanlar eksik",
        "PRODUCTUPDATEPRICE002": "Zorunlu ürün alanları eksik",
        "PRODUCTUPDATEPRICE003": "Zorunlu varyant alanları eksik",
        "PRODUCTUPDATEPRICE004": "Ürün limiti aşıldı.",
        "PRODUCTUPDATEPRICE005": "Zorunlu pazaryeri fiyat alanları eksik",
        "PRODUCTUPDATEPRICE006": "Para birimi geçersiz",
    },
}

#: Every code the document prints → its description (AUTH first; method codes are unique).
RESPONSE_CODES: Final[dict[str, str]] = {
    **{code: text for table in METHOD_CODES.values() for code, text in table.items()},
    **AUTH_CODES,
}

# --------------------------------------------------------------------------------------------
# Documented limits and constants.
# --------------------------------------------------------------------------------------------

#: "Web servislere 1 dakikada en fazla 25 istek gönderilebilir … e-ticaret sitesi bazındadır."
REQUESTS_PER_MINUTE: Final = 25
#: The default budget of an account: the limit is per shop, and a shop is an account.
RATE_LIMIT: Final = RateLimit.from_config(per_minute=REQUESTS_PER_MINUTE)
#: ``order/lists`` pageSize "max: 100"; its default 0 lists nothing, so it is always sent.
ORDER_PAGE_SIZE_MAX: Final = 100
ORDER_PAGE_SIZE_DEFAULT: Final = 0
#: ``product/lists`` pageSize "max: 50" and the write batches (4.5.2-4.5.4).
PRODUCT_PAGE_SIZE_MAX: Final = 50
PRODUCT_SAVE_MAX: Final = 5
PRODUCT_UPDATE_STOCKS_MAX: Final = 30
PRODUCT_UPDATE_PRICES_MAX: Final = 15
#: ``orderBy`` and ``sort`` values of order/lists.
ORDER_BY: Final[dict[str, str]] = {
    "id": "id",
    "createdAt": "Sipariş tarihi",
    "updatedAt": "Güncellenme tarihi",
}
SORT: Final[dict[str, str]] = {"asc": "Küçükten büyüğe", "desc": "Büyükten küçüğe"}
#: ``startDate``/``endDate``: "YYYY-MM-DD hh:ii:ss" (PHP's H:i:s, 24-hour: fastSale spells the
#: same format "Y-m-d H:i:s").
DATETIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
#: Request headers (section 3).
HEADER_API_KEY: Final = "apikey"
HEADER_API_SECRET: Final = "apisecret"  # noqa: S105 - a header name, not a secret
#: The order has no currency field anywhere; the shop's prices are TL (see mapping).
ORDER_CURRENCY: Final = "TL"

# --------------------------------------------------------------------------------------------
# The envelope.
# --------------------------------------------------------------------------------------------

T = TypeVar("T")
#: An object member that PHP may encode as ``[]`` when empty.
EmptyPhpArray = list[Any]


class _Wire(msgspec.Struct, kw_only=True):
    """Base of every webservis Struct (names are already camelCase on the wire)."""


class Envelope(_Wire, Generic[T], kw_only=True):
    """Every answer. ``code`` is required: a body without it is not an answer of this API."""

    code: str
    message: str | None = None
    result: T | EmptyPhpArray | None = None

    @property
    def payload(self) -> T | None:
        """``result`` unless absent, null or PHP's empty ``[]``."""
        value = self.result
        return None if value is None or isinstance(value, list) else value


class Status(_Wire, kw_only=True):
    """Just the code and message, for classifying any answer."""

    code: str
    message: str | None = None


# --------------------------------------------------------------------------------------------
# order/lists (4.4.1).
# --------------------------------------------------------------------------------------------

IntLike = int | str


class OrderRow(_Wire, kw_only=True):
    """One ``list.*`` element: identity, status and times only — no money, no lines."""

    id: IntLike
    code: str | None = None
    dealer_id: IntLike | None = msgspec.field(default=None, name="dealerId")
    shipment_firm_id: IntLike | None = msgspec.field(default=None, name="shipmentFirmId")
    status: IntLike | None = None
    created_at: str | None = msgspec.field(default=None, name="createdAt")
    updated_at: str | None = msgspec.field(default=None, name="updatedAt")


class OrderPage(_Wire, kw_only=True):
    """``result`` of order/lists. Rows stay raw so each is decoded on its own."""

    total: int | None = None
    #: "Listelenen sipariş sayısı": the rows on this page.
    page_size: int | None = msgspec.field(default=None, name="pageSize")
    rows: list[msgspec.Raw] = msgspec.field(default_factory=list, name="list")


class ListOrdersQuery(_Wire, kw_only=True):
    """The query of order/lists. Dates are Istanbul wall time in :data:`DATETIME_FORMAT`."""

    page_start: int = msgspec.field(name="pageStart")
    page_size: int = msgspec.field(name="pageSize")
    order_by: str = msgspec.field(default="id", name="orderBy")
    sort: str = "asc"
    start_date: str | None = msgspec.field(default=None, name="startDate")
    end_date: str | None = msgspec.field(default=None, name="endDate")
    status: int | None = None
    dealer_id: int | None = msgspec.field(default=None, name="dealerId")

    def params(self) -> dict[str, str | int]:
        """As query parameters, wire names, unset members left out."""
        encoded = msgspec.to_builtins(self)
        return {key: value for key, value in encoded.items() if value is not None}


# --------------------------------------------------------------------------------------------
# order/show (4.4.2).
# --------------------------------------------------------------------------------------------


class OrderInfo(_Wire, kw_only=True):
    """``order.*``: identity, status, shipment, e-invoice, channel and payment."""

    id: IntLike
    code: str | None = None
    status: IntLike | None = None
    shipment_firm_id: IntLike | None = msgspec.field(default=None, name="shipmentFirmId")
    shipment_firm_name: str | None = msgspec.field(default=None, name="shipmentFirmName")
    shipment_firm_tax: str | None = msgspec.field(default=None, name="shipmentFirmTax")
    #: "Kargo barkodu" (the label's barcode) and "Kargo takip kodu" (the tracking code).
    shipment_code: str | None = msgspec.field(default=None, name="shipmentCode")
    shipment_code2: str | None = msgspec.field(default=None, name="shipmentCode2")
    shipment_url: str | None = msgspec.field(default=None, name="shipmentUrl")
    shipment_status: str | None = msgspec.field(default=None, name="shipmentStatus")
    shipment_date: str | None = msgspec.field(default=None, name="shipmentDate")
    created_at: str | None = msgspec.field(default=None, name="createdAt")
    updated_at: str | None = msgspec.field(default=None, name="updatedAt")
    einvoice_code: str | None = msgspec.field(default=None, name="einvoiceCode")
    platform: str | None = None
    platform_url: str | None = msgspec.field(default=None, name="platformUrl")
    #: The vendor's spelling ("Metod").
    payment_method: str | None = msgspec.field(default=None, name="paymentMetod")


class Place(_Wire, kw_only=True):
    """``customer.delivery`` / ``customer.invoice``: address text, ilçe, il. No postal code."""

    address: str | None = None
    district: str | None = None
    city: str | None = None


class Customer(_Wire, kw_only=True):
    """``customer.*``. ``taxId`` ("Vergi numarası") may be a VKN or, for a person, a TCKN."""

    name: str | None = None
    title: str | None = None
    tax_branch: str | None = msgspec.field(default=None, name="taxBranch")
    tax_id: str | int | None = msgspec.field(default=None, name="taxId")
    delivery: Place | EmptyPhpArray | None = None
    invoice: Place | EmptyPhpArray | None = None
    phone: str | None = None
    email: str | None = None


class Tax(_Wire, kw_only=True):
    """``summary.taxes.*``: a VAT rate (percent) and the VAT amount at that rate."""

    rate: Decimal
    amount: Decimal


class Summary(_Wire, kw_only=True):
    """``summary.*``: "Sipariş tutarı", "İndirim", "Ara toplam", KDV by rate, "Genel toplam"."""

    total: Decimal | None = None
    discount: Decimal | None = None
    sub_total: Decimal | None = msgspec.field(default=None, name="subTotal")
    taxes: list[Tax] = msgspec.field(default_factory=list)
    overall: Decimal | None = None


class Variant(_Wire, kw_only=True):
    """``products.*.variants.*``: e.g. ``{"name": "Beden", "value": "M"}``."""

    name: str | None = None
    value: str | None = None


class Product(_Wire, kw_only=True):
    """``products.*``: one order line. No line id: the mapping numbers the lines."""

    code: str | None = None
    name: str | None = None
    barcode: str | None = None
    variants: list[Variant] = msgspec.field(default_factory=list)
    tax: Decimal | None = None
    category_id: IntLike | None = msgspec.field(default=None, name="categoryId")
    #: "integer" in the table; Decimal so a kilogram quantity (product ``unit`` 1) is noticed.
    quantity: Decimal
    price: Decimal
    total_price: Decimal | None = msgspec.field(default=None, name="totalPrice")


class OrderDetail(_Wire, kw_only=True):
    """``result`` of order/show: four members side by side."""

    order: OrderInfo
    customer: Customer | EmptyPhpArray | None = None
    summary: Summary | EmptyPhpArray | None = None
    products: list[Product] = msgspec.field(default_factory=list)


def present(value: T | EmptyPhpArray | None) -> T | None:
    """An object member, or None when absent, null or PHP's empty ``[]``."""
    return None if value is None or isinstance(value, list) else value
