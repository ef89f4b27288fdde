"""Pazarama's wire format: its code tables, documented limits, and msgspec Structs for its JSON.

Source: the merchant's "Pazarama API Entegrasyon Dokümanı" (``platform-docs/pazarama.txt``);
section numbers below are the document's (3.13 Siparişler … 3.33 bulk-status-update). Every
sample the document prints is kept under ``tests/data/pazarama/`` and decoded by the tests.

Rules of this module:

* Wire names are the vendor's exactly: ``rename="camel"`` turns ``order_item_id`` into
  ``orderItemId``; the few names that are not plain camelCase (``imageURL``, ``orderid``,
  ``SplitItems``, ``bytes``) are spelled out with ``msgspec.field(name=...)``.
* Response Structs declare only what the adapter reads; unknown fields are ignored, so a vendor
  adding fields never breaks polling. Anything a sample omits or nulls is optional.
* Request Structs distinguish "not sent" (``UNSET``, omitted from the JSON) from "sent as null"
  (``None``): the document's samples need both (``invoice-link`` sends ``"trackingNumber": null``,
  ``updateOrderStatus`` for status 12 sends no cargo fields at all).
* Dates stay ``str`` here; the mapping parses them. Formats seen in the document:
  ``"2023-01-25 15:22"`` (orders), ``"6 Ekim 2021 14:53"`` / ``"1 Mart 2024 10:12"`` (refunds and
  cancellations, Turkish month names), ``"2024-01-26T12:30:08.2638204+03:00"`` (7 fractional
  digits, offset), ``"2023-01-03T19:00:00"`` and ``"2023-12-28T09:12:16.333"`` (naive ISO); in
  requests ``"2023-02-01"`` and ``"2021-05-14T13:30"`` (orders, refunds) and
  ``"2023-01-01T00:00:01.768Z"`` (paymentAgreement). No time zone is stated; the only offset
  printed is ``+03:00``, so naive times are Europe/Istanbul.
* Money: order-level amounts are bare JSON numbers (``"orderAmount": 1.00``); item and refund
  amounts are objects ``{currency: "TL", value: 1.00, valueInt: 100, valueString: "1,00 TL", …}``
  where ``valueInt`` is kuruş. Amounts decode to ``Decimal`` straight from the JSON text, so
  no float ever enters.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final, Generic, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from pipeline.ratelimit import RateLimit

# --------------------------------------------------------------------------------------------
# Code tables, with the document's Turkish labels (spaces the PDF extraction lost restored).
# --------------------------------------------------------------------------------------------

#: ``orderItemStatus`` (3.13 "Response Parametreleri"), in the document's order.
ORDER_ITEM_STATUS: Final[dict[int, str]] = {
    3: "Siparişiniz Alındı",
    6: "Siparişiniz İptal Edildi",
    12: "Siparişiniz Hazırlanıyor",
    18: "İptal Süreci Başlatıldı",
    13: "Tedarik Edilemedi",
    5: "Siparişiniz Kargoya Verildi",
    16: "Siparişiniz Mağazada",
    19: "Siparişiniz Teslimat Noktasında",
    11: "Teslim Edildi",
    14: "Teslim Edilemedi",
    7: "İade Süreci Başlatıldı",
    8: "İade Onaylandı",
    9: "İade Reddedildi",
    10: "İade Edildi",
}

#: The order-level ``orderStatus``: the document lists "Status … Siparişin statüsünü
#: belirtmektedir. int" with no table of its own and prints ``"orderStatus": 3``; read it with
#: the item table. Per-item statuses are the truth (the "Sipariş Akışı" note).
ORDER_STATUS: Final[dict[int, str]] = ORDER_ITEM_STATUS

#: Every new item arrives at 3 and must be set to 12 before any other status (3.15 NOT).
ITEM_STATUS_RECEIVED: Final = 3
ITEM_STATUS_PREPARING: Final = 12

#: ``refundStatus`` of getRefund and ``status`` of updateRefund (3.18), and — the same table
#: printed again — of cancel/items and cancel (3.23). Labels as printed ("6- Auto Approved").
REFUND_STATUS: Final[dict[int, str]] = {
    1: "Onay Bekliyor",
    2: "Tedarikçi Tarafından Onaylandı",
    3: "Tedarikçi Tarafından Reddedildi",
    4: "Backoffice Tarafından Onaylandı",
    5: "Backoffice Tarafından Reddedildi",
    6: "Auto Approved",
    7: "Talep İptal Edildi",
    8: "Direkt Onay",
}
CANCELLATION_STATUS: Final[dict[int, str]] = REFUND_STATUS

#: "güncelleme işlemi için sadece Onaylama (Statü:2) ve Ret (Statü:3)" (3.18 and 3.23).
REFUND_DECISION_STATUS: Final[dict[int, str]] = {2: "Onaylama", 3: "Ret"}
CANCELLATION_DECISION_STATUS: Final[dict[int, str]] = REFUND_DECISION_STATUS

#: 3.29's "İncelemeye Gönder" sample sends ``"status": 9`` and is answered
#: ``"refundStatus": "İncelemeye Gönderme Talep Edildi"``; 9 is in no table.
REFUND_REVIEW_STATUS: Final = 9

#: getRefund status → the item status getOrdersForApi shows ("İade Akışı" table, 3.18).
#: 6 (Auto Approved) has no counterpart printed; 10 (İade Edildi) has no getRefund status.
REFUND_TO_ITEM_STATUS: Final[dict[int, int]] = {1: 7, 2: 8, 3: 9, 4: 8, 5: 9}

#: ``RefundRejectType`` (3.18), required with status 3.
REFUND_REJECT_TYPE: Final[dict[int, str]] = {
    1: "Gelen ürün bana ait değil",
    2: "Gelen ürün defolu/zarar görmüş",
    3: "Gelen ürün adedi eksik",
    4: "Gelen ürün yanlış",
    5: "Gelen ürün kullanılmış",
    6: "Gelen ürün sahte",
    7: "Gelen ürünün parçası/aksesuarı eksik",
    8: "Gönderdiğim ürün kusurlu değil",
    9: "Gönderdiğim ürün yanlış değil",
    10: "İade paketi boş geldi",
    11: "İade paketi elime ulaşmadı",
    12: "Diğer",
}

#: 3.29: images are mandatory for every reject reason except these two ("iade paketi boş geldi",
#: "iade paketi elime ulaşmadı") — "21 Şubat itibariyle" (the year is not given).
REJECT_TYPES_WITHOUT_IMAGES: Final[frozenset[int]] = frozenset({10, 11})

#: ``RefundReviewType`` (3.29, a C# enum with ``[Display(Name=…)]``).
REFUND_REVIEW_TYPE: Final[dict[int, str]] = {
    1: "Üretici firma incelemesi",  # ManufacturerReview
    2: "Yetkili servis incelemesi",  # AuthorizedServiceReview
    3: "Diğer",  # Other — the only one whose "Problem detayı" (description) is mandatory
}
REVIEW_TYPES_NEEDING_DESCRIPTION: Final[frozenset[int]] = frozenset({3})

#: ``paymentType`` of an order (3.13). getRefund prints it as text ("Banka/Kredi Kartı").
PAYMENT_TYPE: Final[dict[int, str]] = {
    1: "Banka/Kredi Kartı",
    5: "Cüzdan",
    8: "Visa-Tek Tıkla Öde",
    11: "Taksitli Ek Hesap",
}

#: ``billingAddress.invoiceType`` (3.13).
INVOICE_TYPE: Final[dict[int, str]] = {1: "Bireysel", 2: "Kurumsal"}

#: ``deliveryType`` (3.13: "Cargo = 1, Courier = 2, Store = 3 Digital= 4, Donation= 5,
#: DeliveryPoint= 10001"). Write endpoints are shown with 1 only.
DELIVERY_TYPE: Final[dict[int, str]] = {
    1: "Cargo",
    2: "Courier",
    3: "Store",
    4: "Digital",
    5: "Donation",
    10001: "DeliveryPoint",
}

#: ``messageCode`` values printed by the document — every one on a ``"success": true`` body; the
#: document defines none of them and prints no failure code. Keyed by code, valued by where seen.
OBSERVED_MESSAGE_CODES: Final[dict[str, str]] = {
    "ORD0": "order endpoints: getOrdersForApi, getRefund, invoice-link, cancel, cancel/items, "
    "updateRefund (3.29)",
    "BSK0": "product/getProductBatchResult",
    "MSS0": "listing-state …/lake-projections",
    "MER_0": "product/vatRate/bulk",
    "MER0": "GET product-commercials",
    "0": "parameter/cities",
}

#: Every table above by the vendor's field name, so a test can iterate them against the document.
STATUS_CODES: Final[dict[str, dict[int, str]]] = {
    "orderItemStatus": ORDER_ITEM_STATUS,
    "refundStatus": REFUND_STATUS,
    "RefundRejectType": REFUND_REJECT_TYPE,
    "RefundReviewType": REFUND_REVIEW_TYPE,
    "paymentType": PAYMENT_TYPE,
    "invoiceType": INVOICE_TYPE,
    "deliveryType": DELIVERY_TYPE,
}

# --------------------------------------------------------------------------------------------
# Documented limits and constants.
# --------------------------------------------------------------------------------------------

#: API host ("{baseurl} … isortagimapi.pazarama.com") and the separate token host (section 2).
#: Bandit's S105 takes the word TOKEN for a password; these are public protocol constants.
API_HOST: Final = "isortagimapi.pazarama.com"
TOKEN_URL: Final = "https://isortagimgiris.pazarama.com/connect/token"  # noqa: S105
TOKEN_GRANT_TYPE: Final = "client_credentials"  # noqa: S105
TOKEN_SCOPE: Final = "merchantgatewayapi.fullaccess"  # noqa: S105
#: "Alınan Access Token değerinin geçerlilik süresi 1 saattir."
TOKEN_LIFETIME_SECONDS: Final = 3600
#: getOrdersForApi / V2: "Başlangıç ile bitiş tarihi arası 1 ayı geçemez"; endDate is
#: exclusive ("İlgili günü kapsamamaktadır").
ORDER_WINDOW_MAX_MONTHS: Final = 1
ORDER_END_DATE_EXCLUSIVE: Final = True
#: The largest pageSize the document shows (getOrdersForApi paging sample); no maximum is stated.
ORDER_PAGE_SIZE_SAMPLE: Final = 500
#: 3.29: "Bir ürün için en fazla 3 dosya … dosya boyutu 5 MB'ı geçmemelidir." Read as 5 * 10**6
#: bytes, the smaller of the two meanings of "MB".
REFUND_MAX_DOCUMENTS: Final = 3
REFUND_MAX_DOCUMENT_BYTES: Final = 5_000_000
#: The default budget of an account. No documented limit: a conservative guess, overridable per
#: account in the config.
RATE_LIMIT: Final = RateLimit.from_config(per_minute=60)


# --------------------------------------------------------------------------------------------
# Shared shapes.
# --------------------------------------------------------------------------------------------


class _Wire(msgspec.Struct, rename="camel", kw_only=True):
    """Base of every Pazarama Struct: camelCase on the wire, keyword-only.

    Not frozen: these are transient wire records (the canonical Structs in ``schemas`` are the
    frozen ones), and mypy's dataclass_transform would demand ``frozen=True`` on every subclass.
    """


class Ack(_Wire):
    """The status half of every answer: ``{data, success, messageCode, message, userMessage}``.

    ``success`` defaults to False so a body without it counts as a failure. ``message`` is
    sometimes the string ``"null"`` (getRefund sample). Some answers (QuestionAnswer) carry only
    ``data``, ``success`` and ``fromCache``.
    """

    success: bool = False
    message_code: str | None = None
    message: str | None = None
    user_message: str | None = None


T = TypeVar("T")


class Envelope(Ack, Generic[T]):
    """An answer with its payload: ``Envelope[list[Order]]``, ``Envelope[RefundList]`` …"""

    data: T | None = None


class MoneyValue(_Wire):
    """A money object. ``value_int`` is the amount in kuruş; ``currency`` is ``"TL"``.

    Also sent, not read: ``valueString`` (``"1,00 TL"``); order samples also carry
    ``wholePartString``, ``fractionPartString`` and ``decimalSeparator``.
    """

    value: Decimal
    value_int: int | None = None
    currency: str | None = None


# --------------------------------------------------------------------------------------------
# Token (section 2). The document's success sample was a screenshot; both shapes integrators
# report are accepted. Only the error fields of OAuth and the Pazarama envelope are added.
# --------------------------------------------------------------------------------------------


class TokenData(_Wire):
    """The ``data`` of an envelope-shaped token answer."""

    access_token: str | None = None
    #: Not in the document; read when present, else TOKEN_LIFETIME_SECONDS applies.
    expires_in: int | None = None


class TokenResponse(msgspec.Struct, kw_only=True):
    """``POST /connect/token``: OAuth ``{access_token, expires_in, …}`` or ``{data: {…}}``.

    Field names are mixed on purpose: the OAuth members are snake_case, the envelope's camelCase.
    """

    access_token: str | None = None
    expires_in: int | None = None
    token_type: str | None = None
    scope: str | None = None
    error: str | None = None
    error_description: str | None = None
    data: TokenData | None = None
    success: bool | None = None
    message_code: str | None = msgspec.field(default=None, name="messageCode")
    message: str | None = None
    user_message: str | None = msgspec.field(default=None, name="userMessage")

    @property
    def bearer(self) -> str | None:
        """The access token from whichever shape the answer used, or None."""
        if self.access_token:
            return self.access_token
        if self.data is not None and self.data.access_token:
            return self.data.access_token
        return None

    @property
    def lifetime_seconds(self) -> int:
        """The token's lifetime as told, else the document's one hour."""
        told = self.expires_in
        if told is None and self.data is not None:
            told = self.data.expires_in
        return told if told is not None and told > 0 else TOKEN_LIFETIME_SECONDS


# --------------------------------------------------------------------------------------------
# Carriers (3.5 "Teslimat Tipi Görüntüleme", GET /sellerRegister/getSellerDelivery): the only
# source of the ``cargoCompanyId`` GUIDs that updateOrderStatus, bulk-status-update and
# invoice-link need. Order items name their carrier (``cargo.companyName``) but give no id.
# --------------------------------------------------------------------------------------------


class CargoCompany(_Wire):
    """One carrier the merchant may use. The sample lists each twice, once per ``cargoCardType``
    (1 and 2, undefined in the document), with the same id.
    """

    cargo_company_id: str
    cargo_company_name: str | None = None
    cargo_card_type: int | None = None


class CargoDelivery(_Wire):
    """``data.cargoCompany``. ``contracted`` true = Pazarama-contracted cargo, whose items move on
    by themselves after 12 ("Sipariş Akışı" note).
    """

    delivery_id: str | None = None
    contracted: bool | None = None
    auto_shipment_code: bool | None = None
    cargo_companies: list[CargoCompany] = []


class SellerDelivery(_Wire):
    """``data`` of getSellerDelivery. ``fastDelivery``/``storeDelivery``/… are not read."""

    cargo_company: CargoDelivery | None = None


# --------------------------------------------------------------------------------------------
# Orders (3.13 getOrdersForApi, 3.25 getOrdersForApiV2 — same shape, V2 splits quantities).
# --------------------------------------------------------------------------------------------


class Address(_Wire):
    """``shipmentAddress``. There is no postal-code field anywhere in the document. Also sent,
    not read: ``addressId``, ``title``."""

    name_surname: str | None = None
    customer_email: str | None = None
    city_name: str | None = None
    district_name: str | None = None
    neighborhood_name: str | None = None
    address_detail: str | None = None
    display_address_text: str | None = None
    phone_number: str | None = None


class BillingAddress(Address):
    """``billingAddress``: the address plus the invoice party (TCKN or company + VKN). Also
    sent, not read: ``isEInvoiceObliged``."""

    identity_number: str | None = None
    invoice_type: int | None = None
    company_name: str | None = None
    #: The table says int, the sample is null; a VKN may start with 0, so text is accepted too.
    tax_number: str | int | None = None
    tax_office: str | None = None


class Cargo(_Wire):
    """The carrier of an item as Pazarama knows it."""

    company_name: str | None = None
    #: The table says int; tracking numbers (13+ digits in the samples) are kept as text too.
    tracking_number: str | int | None = None
    tracking_url: str | None = None


class Product(_Wire):
    """``items[].product``. ``code`` is the barcode; ``stock_code`` the merchant's SKU. Also
    sent, not read: ``url``, ``imageURL``, ``variantOptionDisplay``."""

    product_id: str | None = None
    name: str | None = None
    title: str | None = None
    stock_code: str | None = None
    code: str | None = None
    vat_rate: Decimal | None = None


class OrderItem(_Wire):
    """One order line; the status lives here, not on the order.

    Also sent, not read (each Decimal and Struct decoded costs, ~10 µs an order for these):
    ``taxAmount``, ``shipmentAmount``, ``shipmentCost`` (money objects), ``discountDescription``,
    ``taxIncluded``, ``shipmentCode`` (the "PZ…" package code of contracted cargo, ``""`` when
    none), ``deliveryType``, ``deliveryDetail`` (``{phoneNumber, email}`` where a digital
    delivery's code goes), ``sellerAddressId`` (added by 3.26, in no sample).
    """

    order_item_id: str
    order_item_status: int
    quantity: int
    list_price: MoneyValue | None = None
    sale_price: MoneyValue | None = None
    total_price: MoneyValue | None = None
    discount_amount: MoneyValue | None = None
    cargo: Cargo | None = None
    product: Product | None = None


class Order(_Wire):
    """One element of getOrdersForApi's ``data`` array.

    No invoice link, update time or postal code is returned by the order list. Also sent, not
    read: ``discountDescription``, ``orderStatus`` (the status is the items').
    """

    order_id: str
    order_number: int
    order_date: str
    order_amount: Decimal | None = None
    shipment_amount: Decimal | None = None
    discount_amount: Decimal | None = None
    currency: str | None = None
    payment_type: int | None = None
    customer_id: str | None = None
    customer_name: str | None = None
    customer_email: str | None = None
    shipment_address: Address | None = None
    billing_address: BillingAddress | None = None
    items: list[OrderItem] = []


# --------------------------------------------------------------------------------------------
# Refunds (3.17 getRefund) and cancellations (3.23 cancel/items): one row shape.
# --------------------------------------------------------------------------------------------


class ResponsePage(_Wire):
    """``responsePage``. The samples contradict it (``totalPages: 0`` with one row): don't trust."""

    page_size: int | None = None
    page_index: int | None = None
    total_count: int | None = None
    total_pages: int | None = None


class RefundItem(_Wire):
    """One return request. Ties to an order by ``orderNumber`` and to a line by ``productCode``
    (barcode) only: the row carries no orderItemId.
    """

    refund_id: str
    order_number: int
    refund_status: int
    refund_number: int | None = None
    order_date: str | None = None
    refund_date: str | None = None
    refund_type: str | None = None
    refund_status_name: str | None = None
    #: Text here ("Banka/Kredi Kartı"), an int on orders.
    payment_type: str | int | None = None
    total_amount: MoneyValue | None = None
    refund_amount: MoneyValue | None = None
    customer_id: str | None = None
    customer_name: str | None = None
    customer_email: str | None = None
    customer_phone_number: str | None = None
    customer_address: str | None = None
    product_name: str | None = None
    product_code: str | None = None
    product_stock_code: str | None = None
    shipment_company_name: str | None = None
    #: Return cargo code of contracted cargo; a number in the getRefund sample, text per the table.
    shipment_code: str | int | None = None
    description: str | None = None
    bo_description: str | None = None
    #: Present in the cancel/items sample; with ``SplitItems: true`` getRefund rows are quantity 1.
    quantity: int | None = None


class CancelItem(RefundItem):
    """One cancellation request (cancel/items): the refund row shape, without ``refundNumber``."""


class RefundList(_Wire):
    """getRefund's ``data``. ``pageReport`` (counts per state) is not read."""

    refund_list: list[RefundItem] = []
    response_page: ResponsePage | None = None


class CancelList(_Wire):
    """cancel/items' ``data``."""

    refund_list: list[CancelItem] = []
    response_page: ResponsePage | None = None


class DecisionResult(_Wire):
    """``data`` of ``PUT /order/api/cancel`` and of ``POST /order/updateRefund`` (3.29 sample).

    ``refund_status`` is a Turkish label here ("Tedarikçi Tarafından Reddedildi",
    "İncelemeye Gönderme Talep Edildi"), not a code. The 3.29 answer zeroes every id.
    """

    order_number: int | None = None
    request_no: int | None = None
    refund_id: str | None = None
    order_item_id: str | None = None
    refund_type: str | None = None
    refund_status: str | None = None


# --------------------------------------------------------------------------------------------
# Request bodies we send.
# --------------------------------------------------------------------------------------------


class GetOrdersRequest(_Wire):
    """``POST /order/getOrdersForApi`` and ``…V2``. Dates ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:mm``.

    The samples send either ``orderNumber`` or ``pageSize``/``pageNumber`` with the dates.
    """

    start_date: str
    end_date: str
    page_size: int | UnsetType = UNSET
    page_number: int | UnsetType = UNSET
    order_number: int | UnsetType = UNSET


class GetRefundRequest(_Wire):
    """``POST /order/getRefund``: paged by request date, optionally one ``refundStatus``."""

    page_size: int
    page_number: int
    request_start_date: str
    request_end_date: str
    refund_status: int | UnsetType | None = UNSET
    #: PascalCase as printed twice in 3.25.
    split_items: bool | UnsetType = msgspec.field(default=UNSET, name="SplitItems")


class GetCancelItemsRequest(_Wire):
    """``POST /order/api/cancel/items``: the sample sends the unused filters as null."""

    page_size: int
    page_number: int
    request_start_date: str
    request_end_date: str
    refund_status: int | None = None
    order_number: int | None = None


class StatusItem(_Wire):
    """``item`` of ``PUT /order/updateOrderStatus``: one order line.

    3.15 sends only ``orderItemId`` and ``status``; 3.14 (status 5) adds the cargo fields.
    """

    order_item_id: str
    status: int
    delivery_type: int | UnsetType = UNSET
    shipping_tracking_number: str | UnsetType = UNSET
    tracking_url: str | UnsetType = UNSET
    cargo_company_id: str | UnsetType = UNSET


class UpdateOrderStatusRequest(_Wire):
    """``PUT /order/updateOrderStatus``."""

    order_number: int
    item: StatusItem


class UpdateOrderStatusListRequest(_Wire):
    """``PUT /order/updateOrderStatusList``: every item of an order to one status."""

    order_number: int
    status: int


class ShipmentUpdate(_Wire):
    """``updateShipmentDto`` of bulk-status-update. For status 11 only ``status`` is set and every
    other field is sent as null (3.33); otherwise ``deliveryType`` 1 and ``subStatus`` 0.
    """

    status: int
    cargo_company_id: str | None = None
    delivery_type: int | None = None
    shipment_number: str | None = None
    shipping_tracking_number: str | None = None
    sub_status: int | None = None
    tracking_url: str | None = None


class BulkStatusUpdateRequest(_Wire):
    """``POST /order/api/bulk-status-update``: several items of one order, one shipment."""

    order_number: int
    order_item_ids: list[str]
    update_shipment_dto: ShipmentUpdate


class InvoiceLinkRequest(_Wire):
    """``POST /order/invoice-link``.

    Whole order: ``deliveryCompanyId`` and ``trackingNumber`` null. One package: both set. One
    item: ``orderItemId`` added. ``orderid`` is all lower-case in all three samples.
    """

    invoice_link: str
    order_id: str = msgspec.field(name="orderid")
    order_item_id: str | UnsetType = UNSET
    delivery_company_id: str | None = None
    tracking_number: str | None = None


class DocumentObject(_Wire):
    """An image attached to a refund decision: ``{name, bytes}``, bytes as base64 on the wire."""

    name: str
    content: bytes = msgspec.field(name="bytes")


class UpdateRefundRequest(_Wire):
    """``POST /order/updateRefund``: 2 approve, 3 reject (+ reject type), 9 send to review (3.29).

    3.18 prints the reject type as ``RefundRejectType``, 3.29 as ``refundRejectType``; the server
    is .NET and binds either, so the camelCase spelling of the later sample is sent.
    """

    refund_id: str
    status: int
    quantity: int | UnsetType = UNSET
    refund_reject_type: int | UnsetType = UNSET
    document_objects: list[DocumentObject] | UnsetType = UNSET
    refund_review_type: int | UnsetType = UNSET
    description: str | UnsetType = UNSET


class CancelDecisionRequest(_Wire):
    """``PUT /order/api/cancel``: 2 approve or 3 reject one cancellation request.

    The prose says to act "refundId ve quantity değeriyle"; the sample sends no quantity.
    """

    refund_id: str
    status: int
    quantity: int | UnsetType = UNSET
