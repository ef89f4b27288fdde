"""The Pazarama simulator's rules as data: status tables and timings, the carriers, and the error
codes we invented. :mod:`.sandbox_requests` reads and checks requests against them,
:mod:`.sandbox_render` draws the answers, :mod:`.sandbox` serves both.

Every timing and probability below is **our choice**: the document states none of them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Final, NamedTuple

from pipeline.platforms.pazarama import payloads as raw
from pipeline.sandbox import CARRIERS_BY_CODE, AutoTransition, Carrier, Lifecycle, RecordLifecycle

HOUR: Final = 3600.0
DAY: Final = 24 * HOUR
TOKEN_TTL: Final = dt.timedelta(seconds=raw.TOKEN_LIFETIME_SECONDS)
#: The seller's promised shipping time, shown as getSellerDelivery's ``deliveryDuration`` (the
#: sample's 4); an item still at 12 after it is refunded automatically ("Sipariş Akışı" note).
DELIVERY_DURATION_DAYS: Final = 4

# --------------------------------------------------------------------------------------------
# Item statuses ("orderItemStatus", per item: the order list's ``orderStatus`` is derived).
# --------------------------------------------------------------------------------------------

ITEM_STATUSES: Final = tuple(str(code) for code in raw.ORDER_ITEM_STATUS)

#: What a seller write may do. Minimal on purpose: the simulator sells cargo deliveries only
#: (deliveryType 1), so the digital 12 → 11/14 shortcut is refused; 16/19 (store, pickup point)
#: are reached by the carrier and left by the buyer's collection, which the seller may report.
#: Writing an item's current status again is a no-op, not an error.
SELLER_TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "3": frozenset({"12"}),
    "12": frozenset({"5", "13"}),
    "5": frozenset({"11", "14"}),
    "16": frozenset({"11"}),
    "19": frozenset({"11"}),
}

#: What happens without the seller (all per item). Delays are uniform in the range.
ITEM_AUTOMATIC: Final = (
    # The buyer cancels a new item outright; recorded as a cancellation "8: Direkt Onay".
    AutoTransition(source="3", target="6", after=(5 * 60, 12 * HOUR), probability=0.03,
                   scope="item", creates="cancellation", record_status="8"),
    # At 12 the buyer can only ask: item 18 and a cancellation request awaiting the seller.
    AutoTransition(source="12", target="18", after=(30 * 60, DAY), probability=0.05,
                   scope="item", creates="cancellation"),
    # Not shipped within the delivery duration: Pazarama refunds the buyer by itself.
    AutoTransition(source="12", target="6", after=(DELIVERY_DURATION_DAYS * DAY,) * 2,
                   scope="item", actor="platform", creates="cancellation", record_status="6"),
    # The carrier: delivered after 1-3 days, sometimes via a pickup point, sometimes not at all.
    AutoTransition(source="5", target="11", after=(DAY, 3 * DAY), scope="item", actor="carrier"),
    AutoTransition(source="5", target="19", after=(12 * HOUR, 2 * DAY), probability=0.08,
                   scope="item", actor="carrier"),
    AutoTransition(source="5", target="14", after=(DAY, 3 * DAY), probability=0.04,
                   scope="item", actor="carrier"),
    AutoTransition(source="19", target="11", after=(2 * HOUR, 3 * DAY), scope="item"),
    AutoTransition(source="16", target="11", after=(2 * HOUR, 3 * DAY), scope="item"),
    # After delivery the buyer may start a return: item 7 and a refund request (status 1).
    AutoTransition(source="11", target="7", after=(DAY, 14 * DAY), probability=0.08,
                   scope="item", creates="refund"),
    # An approved return is paid back: "10: İade Edildi".
    AutoTransition(source="8", target="10", after=(DAY, 3 * DAY), scope="item",
                   actor="platform"),
)  # fmt: skip

ITEM_LIFECYCLE: Final = Lifecycle(
    statuses=ITEM_STATUSES, initial="3", seller=SELLER_TRANSITIONS, automatic=ITEM_AUTOMATIC
)

# --------------------------------------------------------------------------------------------
# Refund (return) and cancellation requests: one status table (3.18 = 3.23) plus 9, "sent to
# review" (3.29), which only refunds reach.
# --------------------------------------------------------------------------------------------

RECORD_STATUSES: Final = (*(str(code) for code in raw.REFUND_STATUS), "9")
REFUND_STATUS_LABELS: Final[dict[str, str]] = {
    **{str(code): label for code, label in raw.REFUND_STATUS.items()},
    "9": "İncelemeye Gönderme Talep Edildi",  # the 3.29 answer's label
}

REFUND_LIFECYCLE: Final = RecordLifecycle(
    statuses=RECORD_STATUSES,
    initial="1",
    seller={"1": {"2", "3", "9"}},
    automatic=[
        AutoTransition(source="1", target="7", after=(HOUR, 2 * DAY), probability=0.05),
        # "İade tedarikçi tarafından işleme alınmaz ise 6: Auto Approved"
        AutoTransition(source="1", target="6", after=(3 * DAY,) * 2, actor="platform"),
        # A seller's rejection goes to the backoffice, which decides in 1-4 days.
        AutoTransition(source="3", target="4", after=(DAY, 2 * DAY), probability=0.3,
                       actor="backoffice"),
        AutoTransition(source="3", target="5", after=(2 * DAY, 4 * DAY), actor="backoffice"),
        AutoTransition(source="9", target="4", after=(2 * DAY, 5 * DAY), probability=0.5,
                       actor="backoffice"),
        AutoTransition(source="9", target="5", after=(3 * DAY, 6 * DAY), actor="backoffice"),
    ],
    # The "İade Akışı" table; 6 (auto approved) counts as approved, 7 (withdrawn) restores 11.
    item_effects={**{str(r): str(i) for r, i in raw.REFUND_TO_ITEM_STATUS.items()},
                  "6": "8", "7": "11", "8": "8"},
)  # fmt: skip

CANCELLATION_LIFECYCLE: Final = RecordLifecycle(
    statuses=RECORD_STATUSES,
    initial="1",
    seller={"1": {"2", "3"}},
    automatic=[
        AutoTransition(source="1", target="7", after=(30 * 60, DAY), probability=0.1),
        AutoTransition(source="1", target="6", after=(2 * DAY,) * 2, actor="platform"),
    ],
    # Approved: the item is cancelled; rejected or withdrawn: back to preparing.
    item_effects={"1": "18", "2": "6", "3": "12", "4": "6", "5": "12", "6": "6", "7": "12",
                  "8": "6"},
)  # fmt: skip

# --------------------------------------------------------------------------------------------
# Carriers: getSellerDelivery's list. MNG's and Yurtiçi's ids are the document's own.
# --------------------------------------------------------------------------------------------

_NAMESPACE: Final = uuid.UUID("6f1c1b8e-3a52-4c61-9d0e-5a9a7e0b2c11")


def stable_guid(*parts: object) -> str:
    """A GUID that depends only on ``parts`` (customer, address, product and unit ids)."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(str(p) for p in parts)))


class CargoCompany(NamedTuple):
    guid: str
    carrier: Carrier


CARGO_CODES: Final = ("yurtici", "aras", "mng", "ptt", "surat")
CARGO_WEIGHTS: Final = (30, 22, 15, 8, 7)
_DOCUMENT_GUIDS: Final = {
    "mng": "8eb9aeb7-fd11-425b-9930-08d8e48cc18f",
    "yurtici": "7b5567ff-abe7-487e-5c79-08d8e480366a",
}
CARGO_COMPANIES: Final[tuple[CargoCompany, ...]] = tuple(
    CargoCompany(_DOCUMENT_GUIDS.get(code) or stable_guid("cargo", code), CARRIERS_BY_CODE[code])
    for code in CARGO_CODES
)
CARGO_BY_GUID: Final[dict[str, CargoCompany]] = {c.guid: c for c in CARGO_COMPANIES}
CARGO_BY_CODE: Final[dict[str, CargoCompany]] = {c.carrier.code: c for c in CARGO_COMPANIES}

#: Our sandbox's payment keys → ``paymentType``. Pazarama has no transfer or cash on delivery,
#: so those draws become one of its own types (chosen by order number, see the renderer).
PAYMENT_CODES: Final[dict[str, int]] = {"credit_card": 1, "card_on_delivery": 1, "wallet": 5}
OTHER_PAYMENT_CODES: Final = (1, 8, 11)

# --------------------------------------------------------------------------------------------
# Error codes. The document prints no failure at all: every code, message and the HTTP status
# below is OUR INVENTION (see the sandbox module docstring).
# --------------------------------------------------------------------------------------------

ERRORS: Final[dict[str, str]] = {
    "ORD_REQUEST_INVALID": "İstek gövdesi okunamadı veya zorunlu bir alan eksik.",
    "ORD_MEDIA_TYPE": "İstek gövdesi application/json olmalıdır.",
    "ORD_DATE_INVALID": "Tarih YYYY-AA-GG veya YYYY-AA-GGTSS:DD biçiminde olmalıdır.",
    "ORD_DATE_RANGE": "Bitiş tarihi başlangıç tarihinden önce olamaz.",
    "ORD_DATE_WINDOW": "Başlangıç ile bitiş tarihi arası 1 ayı geçemez.",
    "ORD_PAGING_INVALID": "pageSize ve pageNumber 1 veya daha büyük olmalıdır.",
    "ORD_ORDER_NOT_FOUND": "Sipariş bulunamadı.",
    "ORD_ITEM_NOT_FOUND": "Sipariş kalemi bulunamadı.",
    "ORD_ITEMS_REQUIRED": "En az bir sipariş kalemi gönderilmelidir.",
    "ORD_STATUS_UNKNOWN": "Geçersiz sipariş statüsü.",
    "ORD_PREPARING_REQUIRED": "Statü öncelikle 12 (Siparişiniz Hazırlanıyor) olmalıdır.",
    "ORD_TRANSITION_INVALID": "Bu statü güncellemesine izin verilmiyor.",
    "ORD_TRACKING_REQUIRED": "Kargoya verildi statüsü için kargo takip numarası zorunludur.",
    "ORD_CARGO_REQUIRED": "Kargoya verildi statüsü için kargo firması zorunludur.",
    "ORD_CARGO_UNKNOWN": "Kargo firması bulunamadı.",
    "ORD_DELIVERY_TYPE_INVALID": "Geçersiz teslimat tipi veya alt statü.",
    "ORD_BULK_FIELDS": "Teslim edildi için status alanı hariç diğer alanlar null olmalıdır.",
    "ORD_INVOICE_LINK_INVALID": "Fatura linki geçerli bir http(s) adresi olmalıdır.",
    "ORD_PACKAGE_INCOMPLETE": "Paket için kargo firması ve takip numarası birlikte gönderilmeli.",
    "ORD_PACKAGE_NOT_FOUND": "Bu kargo firması ve takip numarasıyla paket bulunamadı.",
    "ORD_REFUND_NOT_FOUND": "İade talebi bulunamadı.",
    "ORD_REFUND_STATUS_INVALID": "İade için yalnızca 2 (Onay), 3 (Ret), 9 (İnceleme) geçerlidir.",
    "ORD_REFUND_NOT_PENDING": "İade talebi onay beklemiyor.",
    "ORD_REJECT_TYPE_REQUIRED": "Ret için 1-12 arası RefundRejectType zorunludur.",
    "ORD_DESCRIPTION_REQUIRED": "Açıklama alanı zorunludur.",
    "ORD_DOCUMENT_REQUIRED": "Bu ret sebebi için en az bir görsel zorunludur.",
    "ORD_DOCUMENT_LIMIT": "En fazla 3 dosya eklenebilir.",
    "ORD_DOCUMENT_TOO_LARGE": "Dosya boyutu 5 MB'ı geçmemelidir.",
    "ORD_REVIEW_TYPE_REQUIRED": "İncelemeye gönderme için 1-3 arası RefundReviewType zorunludur.",
    "ORD_QUANTITY_INVALID": "Geçersiz adet.",
    "ORD_CANCEL_NOT_FOUND": "İptal talebi bulunamadı.",
    "ORD_CANCEL_STATUS_INVALID": "İptal için yalnızca 2 (Onay) ve 3 (Ret) kullanılabilir.",
    "ORD_CANCEL_NOT_PENDING": "İptal talebi onay beklemiyor.",
    "ORD_RATE_LIMIT": "Çok fazla istek gönderildi, lütfen daha sonra tekrar deneyin.",
}


class Refused(Exception):
    """A request the simulator refuses: HTTP 400 (unless told) with the envelope."""

    def __init__(
        self,
        code: str,
        detail: str | None = None,
        *,
        status: int = 400,
        target: str | None = None,
        logged: bool = False,
    ) -> None:
        if code not in ERRORS:
            raise ValueError(f"undeclared error code {code}")
        self.code = code
        self.detail = detail
        self.status = status
        self.target = target  # the order or record refused, for the world's write log
        self.logged = logged  # the world logged the refusal already (a seller-table refusal)
        super().__init__(f"{code}: {detail or ERRORS[code]}")

    @property
    def user_message(self) -> str:
        return ERRORS[self.code]

    @property
    def message(self) -> str:
        return f"{ERRORS[self.code]} {self.detail}" if self.detail else ERRORS[self.code]
