"""C2C → canonical: pure functions from the raw Structs in :mod:`.payloads`.

Status table (``siparisDurumu``; ``raw_status`` always keeps the platform's full text):

===================== ====================== ===============================================
raw base              canonical              note
===================== ====================== ===============================================
Tamamlanmamış         awaiting_payment       checkout not completed (payment not finished)
Onay Bekliyor         awaiting_approval
Ödeme Bekliyor        awaiting_payment       e.g. a bank transfer not received yet
Tedarik sürecinde     in_supply
Hazırlanıyor          preparing
Kargoya Verildi       shipped
Teslim Edildi         delivered
İptal Edildi          cancelled
Tamamlandı            completed
===================== ====================== ===============================================

Compound forms are ``"<base> - <flag>"``:

* ``"<base> - İtiraz Edildi"`` → the base's canonical status with ``disputed=True`` (a complaint
  on the order at that stage; the stage is not lost).
* ``"<base> - İptal Edildi"`` → ``cancelled`` (the order was cancelled at that stage; the stage
  stays in ``raw_status`` and in :attr:`StatusReading.base`). The document does not say whether
  this is a finished cancellation or a request; "İptal Edildi" is past tense ("was cancelled"),
  so we read it as finished. A cancellation after delivery ("Teslim Edildi - İptal Edildi")
  is therefore ``cancelled``, not ``returned``: the platform says cancelled.
* GetOrdersStateByOrdersCode's vocabulary adds ``Sipariş Tamamlandı`` (completed) and a bare
  ``İtiraz Edildi`` (``disputed`` with ``disputed=True``: no stage is given). GetOrdersState's
  filter 8 ("İade Edilen Siparişler") implies a returned status the list never names; should
  ``İade Edildi`` appear it maps to ``returned``.

Matching is exact first (the table above, built as data), then tolerant of what a PDF or a .NET
service may do to the text: Unicode NFC, collapsed whitespace (the document breaks statuses over
lines), any dash as separator, the Turkish case fold (:func:`pipeline.dates.turkish_fold`;
``str.lower`` turns ``İ`` into ``i̇``) and, after it, accents dropped (``"Odeme Bekliyor"``,
``"HAZIRLANIYOR"``: no two documented values collide). Anything else is ``unknown`` with the
raw text kept; nothing here raises for a status.

Other readings:

* **Ids.** ``order_id`` = ``order_number`` = ``siparisKodu`` (writes take it). Products have no
  id: ``item_id`` is the 1-based position in ``siparisUrunleri``.
* **Money.** ``siparisParaBirimi`` (TL/EUR/USD; empty = TL, the store's home currency — the
  document's sample prints ``""``) for order amounts, ``urunParaBirimi`` (else the order's) for
  product amounts. ``urunFiyat`` is the unit price, ``urunIndirim`` the line's discount,
  ``urunTutar`` the line total; ``siparisTutari`` the goods subtotal, ``siparisKargoTutari``
  shipping, ``siparisToplamTutar`` the grand total. The iyzico and marketplace shares
  (``siparisAltUyeIsYeri``, ``siparisUyeIsYeri``, ``siparisIyzicoKomisyonu``) are the seller's
  settlement, not the buyer's order, and are not mapped.
* **Addresses** are single free-text strings: they go to ``Address.line`` unparsed.
* **Shipments**: products with a tracking number (``urunKargoTakipNo``), grouped by carrier name
  (``urunKargo``) and number. No tracking URL is given; none is invented.
* **Times.** ``siparisTarihi`` is Istanbul wall time to the minute; no update time exists.
"""

from __future__ import annotations

import decimal
import re
import unicodedata
from collections.abc import Sequence
from decimal import Decimal
from typing import Final, NamedTuple

from pipeline.dates import DateParseError, parse_platform_datetime, turkish_fold
from pipeline.errors import PlatformDecodeError
from pipeline.platforms.c2c import payloads as raw
from schemas import Address, LineItem, Money, Order, OrderStatus, Party, Shipment, Totals
from schemas.money import normalize_currency

PLATFORM: Final = "c2c"
S = OrderStatus

#: Base ``siparisDurumu`` → canonical (the module docstring's table).
BASE_STATUS: Final[dict[str, OrderStatus]] = {
    "Tamamlanmamış": S.AWAITING_PAYMENT,
    "Onay Bekliyor": S.AWAITING_APPROVAL,
    "Ödeme Bekliyor": S.AWAITING_PAYMENT,
    "Tedarik sürecinde": S.IN_SUPPLY,
    "Hazırlanıyor": S.PREPARING,
    "Kargoya Verildi": S.SHIPPED,
    "Teslim Edildi": S.DELIVERED,
    "İptal Edildi": S.CANCELLED,
    "Tamamlandı": S.COMPLETED,
}
#: Canonical target of ``order.set_status`` → the text UpdateOrderStateByOrderCode takes (the only
#: three the document allows).
WRITABLE_STATUS: Final[dict[OrderStatus, str]] = {
    S.AWAITING_APPROVAL: "Onay Bekliyor",
    S.PREPARING: "Hazırlanıyor",
    S.SHIPPED: "Kargoya Verildi",
}
#: Whole values of GetOrdersStateByOrdersCode (and filter 8) that are not bases.
EXTRA_STATUS: Final[dict[str, tuple[OrderStatus, bool]]] = {
    "Sipariş Tamamlandı": (S.COMPLETED, False),
    "İtiraz Edildi": (S.DISPUTED, True),
    "İade Edildi": (S.RETURNED, False),
}
#: Suffix → (sets disputed, sets cancelled).
SUFFIX_FLAGS: Final[dict[str, tuple[bool, bool]]] = {
    raw.DISPUTE_SUFFIX: (True, False),
    raw.CANCEL_SUFFIX: (False, True),
}
#: Canonical status → what GetOrdersStateByOrdersCode is expected to answer for it (our reading:
#: everything before shipping reads "Onay Bekliyor", shipped and delivered read "Kargoya
#: Verildi"). Used only to decide whether a coarse answer may hide a change.
COARSE_STATE: Final[dict[OrderStatus, OrderStatus]] = {
    S.AWAITING_PAYMENT: S.AWAITING_APPROVAL,
    S.AWAITING_APPROVAL: S.AWAITING_APPROVAL,
    S.IN_SUPPLY: S.AWAITING_APPROVAL,
    S.PREPARING: S.AWAITING_APPROVAL,
    S.SHIPPED: S.SHIPPED,
    S.DELIVERED: S.SHIPPED,
    S.COMPLETED: S.COMPLETED,
    S.CANCELLED: S.CANCELLED,
}

_DASH = re.compile(r"\s*[-‐‑‒–—]\s*")
_CENT = Decimal("0.01")
_NOISE = Decimal("1e-9")
_ONE = Decimal(1)


class StatusReading(NamedTuple):
    """A ``siparisDurumu`` read without loss."""

    status: OrderStatus
    raw: str
    disputed: bool = False
    cancelled: bool = False
    #: The stage the flags apply to, as the platform spelled it (None when not recognised).
    base: str | None = None


class StateReading(NamedTuple):
    """What :meth:`C2CClient.refresh_states` returns per code."""

    status: OrderStatus
    raw: str
    disputed: bool


def _normal(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def status_key(text: str) -> str:
    """The matching key of a status text: the Turkish case fold (``İ`` → ``i``, ``I`` → ``ı``),
    then accents and the dot of ``ı`` dropped, so ``"KARGOYA VERİLDİ"``, ``"Hazirlaniyor"`` and
    ``"ODEME BEKLIYOR"`` all find their status (no two documented values share a key)."""
    decomposed = unicodedata.normalize("NFKD", turkish_fold(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("ı", "i")


_FOLDED_BASE: Final = {status_key(k): (k, v) for k, v in BASE_STATUS.items()}
_FOLDED_EXTRA: Final = {status_key(k): v for k, v in EXTRA_STATUS.items()}
_FOLDED_SUFFIX: Final = {status_key(k): v for k, v in SUFFIX_FLAGS.items()}


def _read_parts(text: str) -> StatusReading | None:
    folded = status_key(text)
    if folded in _FOLDED_EXTRA:
        status, disputed = _FOLDED_EXTRA[folded]
        return StatusReading(status, text, disputed=disputed)
    head, *suffixes = _DASH.split(text)
    base = _FOLDED_BASE.get(status_key(head))
    disputed = cancelled = False
    for suffix in suffixes:
        flags = _FOLDED_SUFFIX.get(status_key(suffix))
        if flags is None:
            return None
        disputed |= flags[0]
        cancelled |= flags[1]
    if base is None:
        # An unknown stage with a known flag still tells us the flag.
        if suffixes:
            return StatusReading(S.CANCELLED if cancelled else S.UNKNOWN, text, disputed, cancelled)
        return None
    name, status = base
    return StatusReading(S.CANCELLED if cancelled else status, text, disputed, cancelled, name)


def parse_status(value: str | None) -> StatusReading:
    """Read a ``siparisDurumu`` (either endpoint's vocabulary); unknown text → ``unknown``."""
    text = value or ""
    exact = STATUS_TABLE.get(text)
    if exact is not None:
        return exact
    normal = _normal(text)
    found = _read_parts(normal) if normal else None
    if found is None:
        return StatusReading(S.UNKNOWN, text)
    return found._replace(raw=text)


def _build_table() -> dict[str, StatusReading]:
    table: dict[str, StatusReading] = {}
    for text in (*raw.ORDER_STATUSES, *EXTRA_STATUS):
        reading = _read_parts(text)
        assert reading is not None  # noqa: S101 - every documented value is readable
        table[text] = reading
    return table


#: Every documented raw value (both vocabularies) → its reading: the exact-match table.
STATUS_TABLE: Final[dict[str, StatusReading]] = _build_table()


def read_state(row: raw.OrderState) -> StateReading:
    reading = parse_status(row.siparis_durumu)
    return StateReading(reading.status, reading.raw, reading.disputed)


def state_may_have_changed(known: Order, fresh: StateReading) -> bool:
    """Whether a coarse GetOrdersStateByOrdersCode answer may mean ``known`` changed.

    The coarse vocabulary cannot show awaiting_approval → preparing or shipped → delivered: an
    active sweep must still re-read such orders in full now and then (see the client).
    """
    expected = S.DISPUTED if known.disputed else COARSE_STATE.get(known.status)
    if expected is None:
        return True
    return expected != fresh.status or fresh.disputed != known.disputed


# --------------------------------------------------------------------------------------------
# Orders
# --------------------------------------------------------------------------------------------


def exact_amount(value: Decimal) -> Decimal:
    """The amount the platform meant: float noise from a .NET double sum (``65.00000000000001``)
    is rounded to kuruş; a genuine third decimal is kept."""
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {value}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -2:
        return value
    cents = value.quantize(_CENT, rounding=decimal.ROUND_HALF_EVEN)
    return cents if abs(value - cents) <= _NOISE * max(_ONE, abs(value)) else value


class _Ctx:
    """Where a value came from, for error messages (never includes personal data)."""

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

    def currency(self, field: str, value: str | None, default: str) -> str:
        text = (value or "").strip()
        if not text:
            return default
        try:
            return normalize_currency(text)
        except ValueError:
            raise self.error(field, f"unknown currency {text!r}") from None

    def money(self, field: str, value: Decimal | None, currency: str) -> Money | None:
        if value is None:
            return None
        try:
            return Money.of(exact_amount(value), currency)
        except (ValueError, TypeError, decimal.InvalidOperation) as exc:
            raise self.error(field, str(exc)) from None


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    return value.strip() or None


def _line(
    position: int, product: raw.Product, order_currency: str, ctx: _Ctx
) -> tuple[LineItem, Shipment | None]:
    where = f"siparisUrunleri[{position - 1}]"
    currency = ctx.currency(f"{where}.urunParaBirimi", product.urun_para_birimi, order_currency)
    quantity = product.urun_adet
    if quantity is None or quantity < 0:
        raise ctx.error(f"{where}.urunAdet", f"invalid quantity {quantity!r}")
    unit = ctx.money(f"{where}.urunFiyat", product.urun_fiyat, currency)
    if unit is None:
        raise ctx.error(f"{where}.urunFiyat", "missing price")
    discount = ctx.money(f"{where}.urunIndirim", product.urun_indirim, currency)
    total = ctx.money(f"{where}.urunTutar", product.urun_tutar, currency)
    if total is None:
        total = unit * quantity - (discount or Money.zero(currency))
    tracking = _text(product.urun_kargo_takip_no)
    shipment = (
        Shipment(carrier=_text(product.urun_kargo), tracking_number=tracking) if tracking else None
    )
    item = LineItem(
        item_id=str(position),
        name=product.urun_adi or "",
        quantity=quantity,
        unit_price=unit,
        line_total=total,
        discount=discount,
    )
    return item, shipment


def _shipments(pairs: Sequence[tuple[LineItem, Shipment | None]]) -> tuple[Shipment, ...]:
    grouped: dict[tuple[str | None, str | None], list[str]] = {}
    for item, shipment in pairs:
        if shipment is not None:
            grouped.setdefault((shipment.carrier, shipment.tracking_number), []).append(
                item.item_id
            )
    return tuple(
        Shipment(carrier=carrier, tracking_number=number, item_ids=tuple(ids))
        for (carrier, number), ids in grouped.items()
    )


def map_order(order: raw.Order, *, account: str, endpoint: str = "GetOrdersDate") -> Order:
    """One order element of any list endpoint → canonical :class:`schemas.Order`."""
    code = order.code.strip()
    ctx = _Ctx(account, endpoint, f"order {code or '?'}")
    if not code:
        raise ctx.error("siparisKodu", "empty order code")
    if not order.siparis_tarihi:
        raise ctx.error("siparisTarihi", "missing date")
    try:
        created = parse_platform_datetime(order.siparis_tarihi)
    except DateParseError as exc:
        raise ctx.error("siparisTarihi", str(exc)) from None
    currency = ctx.currency("siparisParaBirimi", order.siparis_para_birimi, "TRY")
    pairs = [
        _line(position, product, currency, ctx)
        for position, product in enumerate(order.siparis_urunleri or (), start=1)
    ]
    subtotal = ctx.money("siparisTutari", order.siparis_tutari, currency)
    shipping = ctx.money("siparisKargoTutari", order.siparis_kargo_tutari, currency)
    grand_total = ctx.money("siparisToplamTutar", order.siparis_toplam_tutar, currency)
    if grand_total is None:
        if subtotal is None:
            raise ctx.error("siparisToplamTutar", "missing total")
        grand_total = subtotal + (shipping or Money.zero(currency))
    reading = parse_status(order.siparis_durumu)
    name = order.siparis_alici_adi or ""
    delivery = _text(order.siparis_teslimat_adresi)
    invoice = _text(order.siparis_fatura_adresi)
    return Order(
        platform=PLATFORM,
        account=account,
        order_id=code,
        order_number=code,
        created_at=created,
        status=reading.status,
        raw_status=reading.raw,
        disputed=reading.disputed,
        totals=Totals(grand_total=grand_total, subtotal=subtotal, shipping=shipping),
        customer=Party(name=name, email=_text(order.siparis_alici_mail)),
        shipping_address=Address(recipient=_text(name), line=delivery) if delivery else None,
        billing_address=Address(recipient=_text(name), line=invoice) if invoice else None,
        items=tuple(item for item, _ in pairs),
        payment_type=_text(order.siparis_odeme_turu),
        sales_channel=PLATFORM,
        shipments=_shipments(pairs),
        note=_text(order.siparis_notu),
    )
