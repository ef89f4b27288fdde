"""E-Çarşı's wire format: its code tables, documented limits and messages, and msgspec Structs.

Source: "E-Çarşı API Dokümantasyonu" v1.1.0 (``platform-docs/ecarsi.txt``), a Scribe-generated
Laravel API page. Every sample it prints is kept under ``tests/data/ecarsi/`` and decoded by the
tests.

Rules of this module:

* Wire names are the vendor's exactly: snake_case, which is also how the Structs spell them.
* Every answer is ``{"success", "message": {"tr", "en"}, "data", "errors"}`` (``errors`` maps a
  field to its messages on validation failures; server errors carry ``"error": "..."``).
  :class:`Ack` reads the status half, :class:`Envelope` adds ``data``.
* Response Structs declare only what the adapter reads; unknown fields are ignored. Anything a
  sample could plausibly omit is optional, and ids are ``str | int`` because the samples print
  ``"order_id": "123456"`` as text but ``"id": 1`` as numbers elsewhere.
* Money is a bare JSON number (``"price": 150``, ``24999.99``) or, in requests the document
  prints, a decimal string (``"average_price": "24999.99"``): both decode to ``Decimal`` from the
  JSON text, so no float ever enters. No currency is printed anywhere: amounts are TL.
* Dates are strings here (``"2024-02-19 10:00:00"``, Europe/Istanbul); :mod:`.mapping` parses them.
* ``shipments`` on an order is NOT in the document (see :class:`OrderDetail`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final, Generic, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from pipeline.ratelimit import DAY, DEFAULT_DAY_RESERVE, MINUTE, RateLimit, Window

# --------------------------------------------------------------------------------------------
# Code tables with the document's Turkish labels ("Sipariş Listesi" query parameters).
# --------------------------------------------------------------------------------------------

#: ``seller_status`` ("Satıcı durumu filtresi. Seçenekler: …"), in the document's order.
SELLER_STATUS: Final[dict[str, str]] = {
    "waiting": "Beklemede",
    "approved": "Onaylandı",
    "in_supply": "Tedarik Sürecinde",
    "preparing": "Hazırlanıyor",
    "packaging": "Paketleniyor",
    "shipped": "Kargoda",
    "delivered": "Teslim Edildi",
    "return_waiting": "İade Bekleniyor",
    "return_received": "İade Alındı",
    "completed_return": "İade Tamamlandı",
    "completed_cancel": "İptal Tamamlandı",
    "partial_return": "Kısmi İade",
    "partial_cancel": "Kısmi İptal",
}

#: ``customer_status`` ("Müşteri durumu filtresi").
CUSTOMER_STATUS: Final[dict[str, str]] = {
    "waiting": "Beklemede",
    "completed": "Tamamlandı",
    "returned": "İade Edildi",
    "cancelled": "İptal Edildi",
}

#: ``invoice_status`` ("Fatura durumu").
INVOICE_STATUS: Final[dict[str, str]] = {
    "uploaded": "Fatura Yüklendi",
    "not_uploaded": "Fatura Yüklenmedi",
}

#: ``date_mode``: "exact,after,before" — the document explains none of them beyond
#: ``date``: "Belirli bir tarihte oluşmuş siparişleri getirmektedir" (orders created on a date).
DATE_MODES: Final[tuple[str, ...]] = ("exact", "after", "before")

#: "Hata Kodları": the only error codes the API has are these HTTP statuses.
HTTP_ERROR_CODES: Final[dict[int, str]] = {
    400: "İstek formatı hatalı",
    401: "Yetkisiz erişim",
    403: "Erişim engellendi",
    404: "Kaynak bulunamadı",
    422: "Validasyon hatası",
    429: "Çok fazla istek",
    500: "Sunucu hatası",
}

#: Every table above by the vendor's field name, so a test can iterate them against the document.
STATUS_CODES: Final[dict[str, dict[str, str]]] = {
    "seller_status": SELLER_STATUS,
    "customer_status": CUSTOMER_STATUS,
    "invoice_status": INVOICE_STATUS,
}

# --------------------------------------------------------------------------------------------
# Documented limits and formats.
# --------------------------------------------------------------------------------------------

API_BASE: Final = "https://api.e-carsi.com/api"
#: "Her IP adresi için dakikada maksimum 60 istek", "Token başına günlük maksimum 1000 istek".
RATE_PER_IP_PER_MINUTE: Final = 60
RATE_PER_TOKEN_PER_DAY: Final = 1000
#: The default budget of an account: the minute is per IP (shared by all accounts of this
#: process, and divided between processes by ``rate_limit.processes_per_ip``), the day per token
#: (per account).
RATE_LIMIT: Final = RateLimit(
    (
        Window(limit=RATE_PER_IP_PER_MINUTE, period=MINUTE, shared=True),
        Window(limit=RATE_PER_TOKEN_PER_DAY, period=DAY, reserve=DEFAULT_DAY_RESERVE),
    )
)
#: ``per_page``: "en az: 1, en fazla: 100"; ``page``: "en az: 1".
PER_PAGE_MIN: Final = 1
PER_PAGE_MAX: Final = 100
PAGE_MIN: Final = 1
#: "Desi bilgisi 1 ile 100 arasında olmalıdır".
DESI_MIN: Final = 1
DESI_MAX: Final = 100
#: The ``date`` example is ``20.02.2024``; dates in answers are ``2024-02-19 10:00:00``.
LIST_DATE_FORMAT: Final = "%d.%m.%Y"
DATETIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"

# --------------------------------------------------------------------------------------------
# Messages (tr, en). Printed by the document unless marked INVENTED; the sandbox answers with
# these and the tests compare the client's verbatim messages against them.
# --------------------------------------------------------------------------------------------

MESSAGES: Final[dict[str, tuple[str, str]]] = {
    "login_ok": ("Giriş başarılı", "Login successful"),
    "invalid_credentials": ("Geçersiz kimlik bilgileri", "Invalid credentials"),
    "invalid_password": ("Şifre hatalı", "Invalid password"),
    "invalid_login": ("Geçersiz giriş bilgileri", "Invalid login credentials"),
    "unauthorized": ("Yetkisiz erişim", "Unauthorized access"),
    "invalid_parameters": ("Geçersiz parametreler", "Invalid parameters"),
    "companies_ok": (
        "Kargo firmaları başarıyla listelendi",
        "Shipping companies listed successfully",
    ),
    "orders_ok": ("Siparişler başarıyla listelendi", "Orders listed successfully"),
    "order_ok": (
        "Sipariş detayları başarıyla getirildi",
        "Order details retrieved successfully",
    ),
    "order_not_found": ("Sipariş bulunamadı", "Order not found"),
    "shipping_ok": ("Kargo kaydı başarıyla oluşturuldu", "Shipping record created successfully"),
    "shipping_error": (
        "Kargo kaydı oluşturulurken bir hata oluştu",
        "An error occurred while creating shipping record",
    ),
    # INVENTED: the 429 body (the document lists "429 - Çok fazla istek" and prints no body).
    "too_many_requests": ("Çok fazla istek", "Too many requests"),
    # INVENTED: a body that is not JSON (the document lists "400 - İstek formatı hatalı").
    "bad_request": ("İstek formatı hatalı", "Malformed request"),
    # INVENTED: shipping an order that is delivered, returned or cancelled.
    "shipping_not_allowed": (
        "Sipariş durumu kargo kaydı oluşturmaya uygun değil",
        "The order status does not allow a shipping record",
    ),
}

#: Field messages of validation answers (``errors``), as printed unless marked INVENTED.
FIELD_ERRORS: Final[dict[str, str]] = {
    "page": "Sayfa numarası en az 1 olmalıdır",
    "per_page": "Sayfa başına kayıt sayısı 1 ile 100 arasında olmalıdır",
    "email": "E-posta adresi zorunludur",
    "password": "Şifre zorunludur",
    "company_id": "Geçersiz kargo firması",
    "tracking_number": "Kargo takip numarası zorunludur",
    "desi": "Desi bilgisi 1 ile 100 arasında olmalıdır",
    # Printed for /api/products' ``status`` and ``date_start``; borrowed for the order filters.
    "status": "Geçersiz durum değeri",
    "date": "Geçersiz tarih formatı",
    # INVENTED: an unknown ``date_mode``.
    "date_mode": "Geçersiz tarih modu",
}


# --------------------------------------------------------------------------------------------
# The envelope.
# --------------------------------------------------------------------------------------------


class _Wire(msgspec.Struct, kw_only=True):
    """Base of every E-Çarşı Struct (not frozen: transient wire records)."""


class Message(_Wire):
    tr: str | None = None
    en: str | None = None


class Ack(_Wire):
    """The status half of every answer. ``success`` defaults to False so a body without it is a
    failure. ``errors`` is a field → messages map on validation failures (a list is accepted in
    case an empty one is sent as ``[]``); ``error`` is the server-error detail (``"..."``)."""

    success: bool = False
    message: Message | None = None
    errors: dict[str, list[str]] | list[str] | None = None
    error: str | None = None

    @property
    def text(self) -> str | None:
        """The Turkish message, else the English one."""
        if self.message is None:
            return None
        return self.message.tr or self.message.en or None


T = TypeVar("T")


class Envelope(Ack, Generic[T]):
    data: T | None = None


# --------------------------------------------------------------------------------------------
# Auth (POST /api/auth).
# --------------------------------------------------------------------------------------------


class LoginRequest(_Wire):
    email: str
    password: str


class Seller(_Wire):
    id: int | str | None = None
    email: str | None = None


class LoginData(_Wire):
    """No lifetime, expiry or refresh token is documented: the token is all there is."""

    token: str
    seller: Seller | None = None


# --------------------------------------------------------------------------------------------
# Shipping companies (GET /api/shipping-companies): ``data`` is the list itself.
# --------------------------------------------------------------------------------------------


class ShippingCompany(_Wire):
    id: int
    name: str = ""
    logo: str | None = None


# --------------------------------------------------------------------------------------------
# Orders (GET /api/orders, GET /api/orders/{order_id}).
# --------------------------------------------------------------------------------------------


class Pagination(_Wire):
    total: int | None = None
    per_page: int | None = None
    current_page: int | None = None
    last_page: int | None = None


class OrderPage(_Wire):
    """``data`` of the list; the rows stay raw so each one is decoded (and fails) on its own."""

    orders: list[msgspec.Raw] = []
    pagination: Pagination | None = None


class ListOrder(_Wire):
    """One row of the list. ``price`` is read as the order's total (150 for 2 products)."""

    order_id: str | int
    seller_status: str
    order_date: str
    customer_status: str | None = None
    invoice_status: str | None = None
    customer_email: str | None = None
    product_count: int | None = None
    price: Decimal | None = None


class Customer(_Wire):
    email: str | None = None
    phone: str | int | None = None
    name: str | None = None


class AddressBlock(_Wire):
    """``address`` (delivery) and ``invoice`` (billing) of the v1.1.0 detail. The sample also
    prints a v1.0 ``address`` (``city``, ``district``, ``full_address``) under the same key
    before it; JSON parsers keep the last one, and every field here is optional."""

    corporate: bool | None = None
    name: str | None = None
    phone: str | int | None = None
    tc: str | int | None = None
    city: str | None = None
    district: str | None = None
    full_address: str | None = None
    tax_office: str | None = None
    tax_number: str | int | None = None
    company_name: str | None = None


class StatusBlock(_Wire):
    seller: str
    customer: str | None = None
    invoice: str | None = None


class OrderItem(_Wire):
    """``price`` is read as the unit price (the sample's quantity is 1, so it cannot tell)."""

    quantity: int
    price: Decimal
    name: str = ""
    barcode: str | int | None = None
    stock_code: str | None = None
    variants: list[str] = []


class OrderTotals(_Wire):
    total: Decimal
    subtotal: Decimal | None = None
    shipping: Decimal | None = None


class Tracking(_Wire):
    """``data.tracking`` of the shipping answer."""

    number: str | int | None = None
    url: str | None = None
    barcode_url: str | None = None


class ShipmentInfo(_Wire):
    """NOT IN THE DOCUMENT: a shipment as the sandbox renders it on an order (the shipping
    answer's ``tracking`` object plus the company and desi sent)."""

    tracking: Tracking | None = None
    tracking_number: str | int | None = None
    company_id: int | None = None
    company: str | None = None
    desi: int | None = None
    date: str | None = None

    @property
    def number(self) -> str | None:
        value = self.tracking.number if self.tracking is not None else None
        value = value if value not in (None, "") else self.tracking_number
        return None if value in (None, "") else str(value)


class OrderDetail(_Wire):
    """``data.order`` of the detail.

    ``shipments`` is not in the document, which prints no shipment on an order (v1.1.0 only says
    "fatura ve teslimat bilgileri" were added). UNSET — the field absent, as in the document —
    means "this answer does not tell"; a list (even empty) means "these are the shipments".
    """

    id: str | int
    date: str
    status: StatusBlock
    totals: OrderTotals
    customer: Customer | None = None
    address: AddressBlock | None = None
    invoice: AddressBlock | None = None
    items: list[OrderItem] = []
    shipments: list[ShipmentInfo] | UnsetType = UNSET


class OrderDetailData(_Wire):
    order: OrderDetail


# --------------------------------------------------------------------------------------------
# Shipping (POST /api/orders/{order_id}/shipping).
# --------------------------------------------------------------------------------------------


class ShippingRequest(_Wire):
    company_id: int
    tracking_number: str
    desi: int


class ShippingData(_Wire):
    tracking: Tracking | None = None
