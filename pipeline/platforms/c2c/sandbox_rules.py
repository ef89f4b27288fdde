"""The C2C simulator's rules as data: statuses, what the seller may write, what happens by itself,
what each read endpoint shows, and the error texts it answers with.

The document gives the status vocabulary and the three writable targets, nothing else. Every
rule below that goes further is a reading, chosen to be strict where the document is silent:

* **Seller writes** (UpdateOrderStateByOrderCode) move an order only forward:
  Ödeme Bekliyor → Onay Bekliyor (the seller confirms a bank transfer arrived);
  Onay Bekliyor and Tedarik sürecinde → Hazırlanıyor or Kargoya Verildi;
  Hazırlanıyor → Kargoya Verildi. Writing the status an order already has is accepted and
  changes nothing. Everything else is refused — going back, touching an incomplete,
  cancelled, disputed, delivered or completed order.
* **By itself** (:data:`AUTOMATIC`): incomplete checkouts are paid or dropped, bank transfers
  arrive or the order is cancelled after three days, the seller also works in the web panel
  (actor ``seller-panel``: approved orders get prepared and shipped without the API), the
  carrier delivers, the platform completes delivered orders, customers cancel ("<stage> -
  İptal Edildi") and complain ("<stage> - İtiraz Edildi"), and the platform resolves
  complaints back to the stage or into a cancellation. A cancellation by the platform (unpaid
  transfer) is the bare "İptal Edildi". Every one of the 27 documented statuses is reachable.
* **GetOrdersStateByOrdersCode** answers in its own five words (:func:`coarse_state`):
  everything before shipping reads "Onay Bekliyor", shipped and delivered "Kargoya Verildi",
  completed "Sipariş Tamamlandı", any complaint "İtiraz Edildi", any cancellation "İptal
  Edildi" (a complaint wins over a cancellation: someone must act on it).
* **GetOrdersState** filters (:data:`STATE_FILTERS`): 1–5 the bare stage; 6 every cancelled
  form; 7 every complaint; 8 "İade Edilen" — no status is named for it: we read a cancellation
  after delivery ("Teslim Edildi - İptal Edildi", "Tamamlandı - İptal Edildi") as a return.
"""

from __future__ import annotations

from typing import Final

from pipeline.platforms.c2c import payloads as raw
from pipeline.sandbox import AutoTransition, Lifecycle

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0

APPROVAL = "Onay Bekliyor"
INCOMPLETE = "Tamamlanmamış"
AWAITING_PAYMENT = "Ödeme Bekliyor"
IN_SUPPLY = "Tedarik sürecinde"
PREPARING = "Hazırlanıyor"
SHIPPED = "Kargoya Verildi"
DELIVERED = "Teslim Edildi"
CANCELLED = "İptal Edildi"
COMPLETED = "Tamamlandı"


def disputed(stage: str) -> str:
    return f"{stage}{raw.STATUS_SEPARATOR}{raw.DISPUTE_SUFFIX}"


def cancelled(stage: str) -> str:
    return f"{stage}{raw.STATUS_SEPARATOR}{raw.CANCEL_SUFFIX}"


SELLER: Final[dict[str, frozenset[str]]] = {
    AWAITING_PAYMENT: frozenset({APPROVAL}),
    APPROVAL: frozenset({PREPARING, SHIPPED}),
    IN_SUPPLY: frozenset({PREPARING, SHIPPED}),
    PREPARING: frozenset({SHIPPED}),
}


def _auto(
    source: str, target: str, after: tuple[float, float], p: float = 1.0, actor: str = "customer"
) -> AutoTransition:
    return AutoTransition(source=source, target=target, after=after, probability=p, actor=actor)


AUTOMATIC: Final[tuple[AutoTransition, ...]] = (
    _auto(INCOMPLETE, APPROVAL, (5 * MINUTE, 2 * HOUR), 0.5),
    _auto(INCOMPLETE, cancelled(INCOMPLETE), (DAY, 2 * DAY), actor="platform"),
    _auto(AWAITING_PAYMENT, APPROVAL, (HOUR, 2 * DAY), 0.8, actor="platform"),
    _auto(AWAITING_PAYMENT, CANCELLED, (3 * DAY, 4 * DAY), actor="platform"),
    _auto(APPROVAL, IN_SUPPLY, (HOUR, DAY), 0.05, actor="platform"),
    _auto(APPROVAL, PREPARING, (6 * HOUR, 2 * DAY), 0.4, actor="seller-panel"),
    _auto(IN_SUPPLY, PREPARING, (DAY, 3 * DAY), 0.8, actor="seller-panel"),
    _auto(PREPARING, SHIPPED, (6 * HOUR, 2 * DAY), 0.6, actor="seller-panel"),
    _auto(SHIPPED, DELIVERED, (DAY, 3 * DAY), 0.97, actor="carrier"),
    _auto(DELIVERED, COMPLETED, (3 * DAY, 7 * DAY), 0.9, actor="platform"),
    *(
        _auto(stage, cancelled(stage), (10 * MINUTE, DAY), 0.05)
        for stage in (APPROVAL, AWAITING_PAYMENT, IN_SUPPLY, PREPARING)
    ),
    _auto(SHIPPED, cancelled(SHIPPED), (DAY, 2 * DAY), 0.02),
    _auto(DELIVERED, cancelled(DELIVERED), (DAY, 7 * DAY), 0.04),
    _auto(COMPLETED, cancelled(COMPLETED), (DAY, 14 * DAY), 0.01),
    *(_auto(stage, disputed(stage), (HOUR, 5 * DAY), 0.02) for stage in raw.BASE_STATUSES),
    *(
        _auto(disputed(stage), stage, (DAY, 5 * DAY), 0.6, actor="platform")
        for stage in raw.BASE_STATUSES
    ),
    *(
        _auto(disputed(stage), cancelled(stage), (2 * DAY, 7 * DAY), 0.4, actor="platform")
        for stage in raw.BASE_STATUSES
    ),
)

LIFECYCLE: Final = Lifecycle(
    statuses=raw.ORDER_STATUSES, initial=APPROVAL, seller=SELLER, automatic=AUTOMATIC
)

#: Statuses after which goods are on their way (a shipment is shown).
SHIPPED_STAGES: Final = frozenset({SHIPPED, DELIVERED, COMPLETED})

_DISPUTED: Final = frozenset(disputed(s) for s in raw.BASE_STATUSES)
_CANCELLED: Final = frozenset({CANCELLED, *(cancelled(s) for s in raw.BASE_STATUSES)})

STATE_FILTERS: Final[dict[int, frozenset[str]]] = {
    1: frozenset({APPROVAL}),
    2: frozenset({PREPARING}),
    3: frozenset({SHIPPED}),
    4: frozenset({DELIVERED}),
    5: frozenset({COMPLETED}),
    6: _CANCELLED,
    7: _DISPUTED,
    8: frozenset({cancelled(DELIVERED), cancelled(COMPLETED)}),
}


def coarse_state(status: str) -> str:
    """What GetOrdersStateByOrdersCode shows for an order's full status."""
    if status in _DISPUTED:
        return "İtiraz Edildi"
    if status in _CANCELLED:
        return "İptal Edildi"
    if status == COMPLETED:
        return "Sipariş Tamamlandı"
    if status in (SHIPPED, DELIVERED):
        return "Kargoya Verildi"
    return "Onay Bekliyor"


def stage_of(status: str) -> str:
    return status.split(raw.STATUS_SEPARATOR, 1)[0]


# --------------------------------------------------------------------------------------------
# Texts the simulator answers with. The document prints none: all of these are invented.
# --------------------------------------------------------------------------------------------

ERR_BODY: Final = "İstek gövdesi okunamadı. Geçerli bir JSON nesnesi gönderiniz."
ERR_AUTH: Final = "Mağaza bilgileri hatalı: Domain, ApiKey veya ApiPassword doğrulanamadı."
ERR_CODES: Final = "SiparisKodlari en az bir sipariş kodu içeren bir liste olmalıdır."
ERR_TOO_MANY_CODES: Final = "Bir istekte en fazla {limit} sipariş kodu gönderilebilir."
ERR_DATE: Final = "BaslangicTarihi ve BitisTarihi 'gg.aa.yyyy ss:dd' biçiminde olmalıdır."
ERR_RANGE: Final = "BaslangicTarihi, BitisTarihi değerinden sonra olamaz."
ERR_FILTER: Final = "SiparisDurumu 1 ile 8 arasında bir değer olmalıdır."
ERR_TARGET: Final = (
    "SiparisDurumu yalnızca 'Onay Bekliyor', 'Hazırlanıyor' veya 'Kargoya Verildi' olabilir."
)
ERR_RATE: Final = "İstek limiti aşıldı. Lütfen bir süre sonra tekrar deneyiniz."

UPDATE_OK: Final = "Başarılı"
UPDATE_FAILED: Final = "Başarısız"
MSG_UPDATED: Final = "{code} kodlu siparişin durumu '{target}' olarak güncellendi."
MSG_NOT_FOUND: Final = "{code} kodlu sipariş bulunamadı."
MSG_NOT_ALLOWED: Final = "{code} kodlu siparişin durumu '{source}' iken '{target}' olamaz."
