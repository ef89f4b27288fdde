"""C2C Mağaza's wire format: its code tables, the limits we chose, and msgspec Structs for its JSON.

Source: "C2C Mağaza - Sipariş Servisleri" (``platform-docs/c2c.txt``). Every sample the document
prints is kept under ``tests/data/c2c/`` and decoded by the tests.

Readings of the document fixed here (the rest are in :mod:`.mapping` and :mod:`.client`):

* **Credentials travel in every POST body** as ``Domain``, ``ApiKey``, ``ApiPassword`` (no auth
  header). Request Structs therefore hold secrets: their ``repr`` is masked, and they are only
  ever encoded by :meth:`pipeline.http.HttpClient.request`, which logs paths, never bodies.
* **The samples are not JSON**: each line carries a type note (``(string)``), commas are missing
  between fields and ``SiparisKodlari`` is annotated ``(string)`` although it is printed as an
  array. We send an array of strings (what the printed sample shows).
* **``SiparisDurumu`` of GetOrdersState** is "sipariş durumu sayısal değeri" ``(string)`` with
  values 1–8: we send the digit as a JSON string (``"3"``).
* **Dates** are Europe/Istanbul wall time, ``dd.MM.yyyy HH:mm`` (``"05.10.2019 11:12"``) in
  answers and in GetOrdersDate's ``BaslangicTarihi``/``BitisTarihi``;
  ``urunKargoTeslimTarihi`` is a bare date (``"07.10.2019"``, two days after the sample's order
  date: we read it as the ship-by date, not a delivery date, and do not map it).
* **Money** is printed as floats (``"urunFiyat": 50.0``, ``"siparisUyeIsYeri": 23.19``): it is
  decoded as ``Decimal`` straight from the JSON text, never through ``float``. A .NET service that
  sums doubles may send ``65.00000000000001``; :func:`.mapping.exact_amount` removes such noise.
* **Codes** (``siparisKodu``) are strings; a numeric code is accepted and turned into text.
* **Statuses** (``siparisDurumu``) are free Turkish text: nine base statuses and, for each,
  the compound forms ``"<base> - İtiraz Edildi"`` and ``"<base> - İptal Edildi"`` (27 in all,
  printed across line breaks by the PDF extraction). GetOrdersStateByOrdersCode answers in a
  vocabulary of its own (:data:`STATE_VOCABULARY`).
* **Errors** come back with HTTP 200 in another JSON shape: the document's C# sample tries the
  list first and then an ``OrderErrorResponse`` whose fields it never prints; integrators report
  a ``hata`` key. Any JSON *object* where the document promises a list is therefore an error
  (:data:`ERROR_MESSAGE_KEYS` say where its text is).
* **No paging, no documented window or batch limit, no rate limit.** Lists can be very large;
  the batch sizes below are our own, chosen to keep every request and answer small.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

import msgspec

from pipeline.ratelimit import RateLimit

BASE_URL: Final = "https://kmk.apiservisi.com/api/c2c/StoreOrderServices"
BASE_PATH: Final = "/api/c2c/StoreOrderServices"

#: The document's endpoints (every one is ``POST`` with a JSON body).
GET_ALL: Final = "/GetAll"
GET_ORDER_INFO_BY_CODES: Final = "/GetOrderInfoByOrdersCode"
GET_STATES_BY_CODES: Final = "/GetOrdersStateByOrdersCode"
GET_ORDERS_BY_DATE: Final = "/GetOrdersDate"
GET_ORDERS_BY_STATE: Final = "/GetOrdersState"
UPDATE_STATE_BY_CODES: Final = "/UpdateOrderStateByOrderCode"

#: ``BaslangicTarihi`` / ``BitisTarihi`` / ``siparisTarihi`` (Istanbul wall time).
DATE_TIME_FORMAT: Final = "%d.%m.%Y %H:%M"

# --------------------------------------------------------------------------------------------
# Code tables, with the document's Turkish labels.
# --------------------------------------------------------------------------------------------

#: The nine base values of ``siparisDurumu``, in the document's order (spelling as printed:
#: "Tedarik sürecinde" has a lower-case s).
BASE_STATUSES: Final[tuple[str, ...]] = (
    "Tamamlanmamış",
    "Onay Bekliyor",
    "Ödeme Bekliyor",
    "Tedarik sürecinde",
    "Hazırlanıyor",
    "Kargoya Verildi",
    "Teslim Edildi",
    "İptal Edildi",
    "Tamamlandı",
)
STATUS_SEPARATOR: Final = " - "
DISPUTE_SUFFIX: Final = "İtiraz Edildi"
CANCEL_SUFFIX: Final = "İptal Edildi"

#: Every value the document lists for ``siparisDurumu``, in its order: the bases, then each base
#: "- İtiraz Edildi", then each base "- İptal Edildi".
ORDER_STATUSES: Final[tuple[str, ...]] = (
    *BASE_STATUSES,
    *(f"{base}{STATUS_SEPARATOR}{DISPUTE_SUFFIX}" for base in BASE_STATUSES),
    *(f"{base}{STATUS_SEPARATOR}{CANCEL_SUFFIX}" for base in BASE_STATUSES),
)

#: GetOrdersStateByOrdersCode's own, smaller vocabulary.
STATE_VOCABULARY: Final[tuple[str, ...]] = (
    "Onay Bekliyor",
    "Kargoya Verildi",
    "Sipariş Tamamlandı",
    "İtiraz Edildi",
    "İptal Edildi",
)

#: GetOrdersState's ``SiparisDurumu`` filter.
STATE_FILTERS: Final[dict[int, str]] = {
    1: "Onay Bekleyen Siparişler",
    2: "Hazırlanan Siparişler",
    3: "Kargoya Verilen Siparişler",
    4: "Teslim Edilen Siparişler",
    5: "Tamamlanan Siparişler",
    6: "İptal Edilen Siparişler",
    7: "İtiraz Edilen Siparişler",
    8: "İade Edilen Siparişler",
}

#: UpdateOrderStateByOrderCode: "Onay Bekliyor, Hazırlanıyor, Kargoya Verildi olarak 3 farklı
#: durum belirtilebilir".
WRITABLE_STATUSES: Final[tuple[str, ...]] = ("Onay Bekliyor", "Hazırlanıyor", "Kargoya Verildi")

#: ``siparisOdemeTuru`` and the currency fields, as listed ("Alabileceği değerler").
PAYMENT_TYPES: Final[tuple[str, ...]] = ("IYZICO Pool", "bankTransfer")
CURRENCIES: Final[tuple[str, ...]] = ("TL", "EUR", "USD")

#: Where an error object's text may be (matched case-insensitively, first non-empty string
#: wins). ``hata`` is the field notes' key; the rest cover .NET defaults and the document's
#: own vocabulary (``Aciklama``).
ERROR_MESSAGE_KEYS: Final[tuple[str, ...]] = (
    "hata",
    "mesaj",
    "message",
    "aciklama",
    "error",
    "exceptionmessage",
)
#: Folded fragments of an error text that mean "your credentials were refused" (undocumented:
#: the document prints no error text at all). Anything else is a plain rejection.
AUTH_ERROR_HINTS: Final[tuple[str, ...]] = (
    "apikey",
    "api key",
    "apipassword",
    "api password",
    "şifre",
    "parola",
    "yetki",
    "kimlik",
    "domain",
    "mağaza bilgi",
    "unauthorized",
)
#: Folded fragments meaning "too many requests" (no limit is documented; a proxy or a later
#: version may still refuse).
RATE_LIMIT_HINTS: Final[tuple[str, ...]] = (
    "çok fazla istek",
    "istek limit",
    "limit aşıldı",
    "too many",
    "rate limit",
)

#: Folded ``Durum`` values of an UpdateOrderStateByOrderCode answer (the document prints only
#: ``"Durum": ""``): what reads as success or failure. Anything else is checked by re-reading.
UPDATE_SUCCESS: Final[frozenset[str]] = frozenset(
    {"başarılı", "basarili", "true", "1", "ok", "success", "tamam", "güncellendi"}
)
UPDATE_FAILURE: Final[frozenset[str]] = frozenset(
    {"başarısız", "basarisiz", "false", "0", "hata", "error", "fail", "failed"}
)

# --------------------------------------------------------------------------------------------
# Limits. None is documented; these are ours (see the module docstring and the client's).
# --------------------------------------------------------------------------------------------

#: Codes per GetOrdersStateByOrdersCode call: ~60 bytes of answer per code.
STATE_BATCH: Final = 100
#: Codes per GetOrderInfoByOrdersCode call: a full order is ~1–2 KB.
INFO_BATCH: Final = 50
#: Codes per UpdateOrderStateByOrderCode call.
UPDATE_BATCH: Final = 100
#: The default budget of an account. No documented limit: a conservative guess, overridable per
#: account in the config.
RATE_LIMIT: Final = RateLimit.from_config(per_minute=60)

# --------------------------------------------------------------------------------------------
# Requests. Field names are the document's; the credentials come first, as printed.
# --------------------------------------------------------------------------------------------


class Credentials(msgspec.Struct, kw_only=True):
    """The three credential fields every request body starts with."""

    domain: str = msgspec.field(name="Domain")
    api_key: str = msgspec.field(name="ApiKey")
    api_password: str = msgspec.field(name="ApiPassword")

    def __repr__(self) -> str:  # the values are secrets; never let a repr carry them
        return f"{type(self).__name__}(***)"


class GetAllRequest(Credentials, kw_only=True):
    """``POST GetAll``: every order of the store (unpaged)."""


class OrderCodesRequest(Credentials, kw_only=True):
    """``POST GetOrderInfoByOrdersCode`` and ``POST GetOrdersStateByOrdersCode``."""

    siparis_kodlari: list[str] = msgspec.field(name="SiparisKodlari")


class OrdersByDateRequest(Credentials, kw_only=True):
    """``POST GetOrdersDate``: ``dd.MM.yyyy HH:mm`` Istanbul wall time."""

    baslangic_tarihi: str = msgspec.field(name="BaslangicTarihi")
    bitis_tarihi: str = msgspec.field(name="BitisTarihi")


class OrdersByStateRequest(Credentials, kw_only=True):
    """``POST GetOrdersState``: ``SiparisDurumu`` "1"–"8" (:data:`STATE_FILTERS`)."""

    siparis_durumu: str = msgspec.field(name="SiparisDurumu")


class UpdateStateRequest(Credentials, kw_only=True):
    """``POST UpdateOrderStateByOrderCode``: many codes, one of :data:`WRITABLE_STATUSES`."""

    siparis_kodlari: list[str] = msgspec.field(name="SiparisKodlari")
    siparis_durumu: str = msgspec.field(name="SiparisDurumu")


# --------------------------------------------------------------------------------------------
# Responses: only the fields the adapter reads; everything optional but the code.
# --------------------------------------------------------------------------------------------


class Product(msgspec.Struct, rename="camel"):
    """One element of ``siparisUrunleri``."""

    urun_adi: str | None = None
    urun_adet: int | None = None
    urun_fiyat: Decimal | None = None
    urun_indirim: Decimal | None = None
    urun_tutar: Decimal | None = None
    urun_para_birimi: str | None = None
    urun_kargo_teslim_tarihi: str | None = None
    urun_kargo_takip_no: str | None = None
    urun_kargo: str | None = None


class Order(msgspec.Struct, rename="camel"):
    """One order as GetAll, GetOrderInfoByOrdersCode, GetOrdersDate and GetOrdersState list it."""

    siparis_kodu: str | int
    siparis_tarihi: str | None = None
    siparis_satici: str | None = None
    siparis_alici_adi: str | None = None
    siparis_alici_mail: str | None = None
    siparis_odeme_turu: str | None = None
    siparis_urunleri: list[Product] | None = None
    siparis_tutari: Decimal | None = None
    siparis_kargo_tutari: Decimal | None = None
    siparis_toplam_tutar: Decimal | None = None
    siparis_taksit_sayisi: int | None = None
    siparis_taksit_tutari: Decimal | None = None
    siparis_alt_uye_is_yeri: Decimal | None = None
    siparis_uye_is_yeri: Decimal | None = None
    siparis_iyzico_komisyonu: Decimal | None = None
    siparis_para_birimi: str | None = None
    siparis_teslimat_adresi: str | None = None
    siparis_fatura_adresi: str | None = None
    siparis_notu: str | None = None
    siparis_durumu: str | None = None

    @property
    def code(self) -> str:
        return str(self.siparis_kodu)


class OrderState(msgspec.Struct, rename="camel"):
    """One element of GetOrdersStateByOrdersCode's answer."""

    siparis_kodu: str | int
    siparis_durumu: str | None = None

    @property
    def code(self) -> str:
        return str(self.siparis_kodu)


class UpdateResult(msgspec.Struct):
    """One element of UpdateOrderStateByOrderCode's answer ``[{Durum, Aciklama}]``. The document
    prints both as empty strings; a boolean ``Durum`` is accepted too."""

    durum: str | bool | int | None = msgspec.field(default=None, name="Durum")
    aciklama: str | None = msgspec.field(default=None, name="Aciklama")
