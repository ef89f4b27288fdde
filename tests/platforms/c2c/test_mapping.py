"""The document's samples and status vocabulary, mapped to canonical values written by hand."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.errors import PlatformDecodeError
from pipeline.http import RequestContext, decode
from pipeline.platforms.c2c import payloads as raw
from pipeline.platforms.c2c.mapping import (
    STATUS_TABLE,
    StateReading,
    exact_amount,
    map_order,
    parse_status,
    state_may_have_changed,
    status_key,
)
from schemas import Money, OrderStatus

DATA = Path(__file__).resolve().parents[2] / "data" / "c2c"
DOC = Path(__file__).resolve().parents[4] / "shared" / "platform-docs" / "c2c.txt"
S = OrderStatus


def _sample() -> dict[str, Any]:
    (order,) = msgspec.json.decode((DATA / "GetOrdersDate.response.json").read_bytes())
    assert isinstance(order, dict)
    return order


def _map(doc: dict[str, Any]) -> Any:
    return map_order(msgspec.convert(doc, raw.Order), account="main")


def _filled(**changes: Any) -> dict[str, Any]:
    """The document's sample with the blanks filled in, as a real answer would have them."""
    doc = _sample()
    doc.update(
        siparisKodu="SP-000042",
        siparisAliciAdi="Ayşe Yılmaz",
        siparisAliciMail="ayse@example.com",
        siparisOdemeTuru="IYZICO Pool",
        siparisParaBirimi="TL",
        siparisTeslimatAdresi="Moda Mah. Bahariye Cad. No: 5 Kadıköy/İstanbul",
        siparisFaturaAdresi="Moda Mah. Bahariye Cad. No: 5 Kadıköy/İstanbul",
        siparisDurumu="Onay Bekliyor",
    )
    doc["siparisUrunleri"][0].update(urunAdi="Çay Bardağı 6'lı", urunParaBirimi="TL")
    doc.update(changes)
    return doc


# --------------------------------------------------------------------------------------------
# The sample order
# --------------------------------------------------------------------------------------------


def test_sample_order_maps_to_the_documented_values() -> None:
    order = _map(_filled())
    assert (order.platform, order.account) == ("c2c", "main")
    assert order.order_id == order.order_number == "SP-000042"
    # "05.10.2019 11:12" Istanbul (UTC+3) = 08:12 UTC
    assert order.created_at == dt.datetime(2019, 10, 5, 8, 12, tzinfo=dt.UTC)
    assert order.totals.grand_total == Money.of("65.0", "TRY")
    assert order.totals.subtotal == Money.of("50.0", "TRY")
    assert order.totals.shipping == Money.of("15.0", "TRY")
    assert order.status is S.AWAITING_APPROVAL and order.raw_status == "Onay Bekliyor"
    assert order.disputed is False
    assert order.payment_type == "IYZICO Pool"
    assert order.customer is not None and order.customer.name == "Ayşe Yılmaz"
    assert order.customer.email == "ayse@example.com"
    assert order.shipping_address is not None
    assert order.shipping_address.line.startswith("Moda Mah.")
    (item,) = order.items
    assert item.item_id == "1" and item.name == "Çay Bardağı 6'lı" and item.quantity == 1
    assert item.unit_price == Money.of("50.0", "TRY")
    assert item.line_total == Money.of("50.0", "TRY")
    assert item.discount == Money.of("0.0", "TRY")
    assert order.shipments == ()  # no tracking number in the sample
    assert order.note is None  # "" is no note


def test_the_printed_sample_as_is_has_no_order_code_and_is_refused() -> None:
    with pytest.raises(PlatformDecodeError, match="siparisKodu"):
        _map(_sample())


def test_the_printed_sample_with_a_code_maps_its_blanks_defensively() -> None:
    order = _map({**_sample(), "siparisKodu": "X1"})
    assert order.totals.grand_total.currency == "TRY"  # "" currency: the store's home currency
    assert order.status is S.UNKNOWN and order.raw_status == ""  # "" status: unknown, kept
    assert order.customer is not None and order.customer.email is None
    assert order.shipping_address is None and order.payment_type is None


@pytest.mark.parametrize(("printed", "iso"), [("TL", "TRY"), ("EUR", "EUR"), ("USD", "USD")])
def test_documented_currencies(printed: str, iso: str) -> None:
    doc = _filled(siparisParaBirimi=printed)
    doc["siparisUrunleri"][0]["urunParaBirimi"] = printed
    order = _map(doc)
    assert order.totals.grand_total.currency == iso
    assert order.items[0].unit_price.currency == iso


def test_a_product_without_its_own_currency_takes_the_orders() -> None:
    doc = _filled(siparisParaBirimi="EUR")
    doc["siparisUrunleri"][0]["urunParaBirimi"] = ""
    assert _map(doc).items[0].line_total == Money.of("50.0", "EUR")


def test_unknown_currency_is_a_decode_error_naming_the_field() -> None:
    with pytest.raises(PlatformDecodeError, match=r"siparisParaBirimi.*'DOLAR'"):
        _map(_filled(siparisParaBirimi="DOLAR"))


def test_float_noise_from_a_double_sum_is_removed() -> None:
    order = _map(_filled(siparisToplamTutar=Decimal("65.00000000000001")))
    assert order.totals.grand_total == Money.of("65.00", "TRY")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("65.00000000000001", "65.00"),
        ("19.989999999999998", "19.99"),
        ("0.30000000000000004", "0.30"),
        ("23.19", "23.19"),
        ("50.0", "50.0"),
        ("1.805", "1.805"),  # a real third decimal is the platform's, kept
        ("-4.999999999999999", "-5.00"),
    ],
)
def test_exact_amount(given: str, expected: str) -> None:
    result = exact_amount(Decimal(given))
    assert result == Decimal(expected) and str(result) == expected


def test_shipments_group_products_by_carrier_and_tracking_number() -> None:
    doc = _filled()
    product = doc["siparisUrunleri"][0]
    doc["siparisUrunleri"] = [
        {**product, "urunKargo": "Yurtiçi Kargo", "urunKargoTakipNo": "312345678901"},
        {**product, "urunKargo": "Yurtiçi Kargo", "urunKargoTakipNo": "312345678901"},
        {**product, "urunKargo": "Aras Kargo", "urunKargoTakipNo": "11111"},
        {**product, "urunKargo": "", "urunKargoTakipNo": ""},
    ]
    order = _map(doc)
    assert [i.item_id for i in order.items] == ["1", "2", "3", "4"]
    assert [(s.carrier, s.tracking_number, s.item_ids) for s in order.shipments] == [
        ("Yurtiçi Kargo", "312345678901", ("1", "2")),
        ("Aras Kargo", "11111", ("3",)),
    ]
    assert all(s.tracking_url is None for s in order.shipments)


def test_missing_line_total_is_price_times_quantity_less_discount() -> None:
    doc = _filled()
    doc["siparisUrunleri"][0].update(urunAdet=3, urunIndirim=5.0, urunTutar=None)
    assert _map(doc).items[0].line_total == Money.of("145.0", "TRY")


@pytest.mark.parametrize(
    ("field", "value", "name"),
    [
        ("siparisTarihi", "yarın", "siparisTarihi"),
        ("siparisTarihi", "", "siparisTarihi"),
        ("siparisTarihi", "31.02.2024 10:00", "siparisTarihi"),
    ],
)
def test_bad_fields_name_field_account_and_order_but_no_personal_data(
    field: str, value: str, name: str
) -> None:
    with pytest.raises(PlatformDecodeError) as info:
        _map(_filled(**{field: value}))
    text = str(info.value)
    assert name in text and "main" in text and "SP-000042" in text
    assert "ayse" not in text and "Yılmaz" not in text and "Bahariye" not in text


def test_a_negative_quantity_is_refused() -> None:
    doc = _filled()
    doc["siparisUrunleri"][0]["urunAdet"] = -1
    with pytest.raises(PlatformDecodeError, match=r"siparisUrunleri\[0\]\.urunAdet"):
        _map(doc)


# --------------------------------------------------------------------------------------------
# Statuses
# --------------------------------------------------------------------------------------------

#: Written by hand from the document (see the mapping module's table).
EXPECTED: dict[str, tuple[OrderStatus, bool]] = {
    "Tamamlanmamış": (S.AWAITING_PAYMENT, False),
    "Onay Bekliyor": (S.AWAITING_APPROVAL, False),
    "Ödeme Bekliyor": (S.AWAITING_PAYMENT, False),
    "Tedarik sürecinde": (S.IN_SUPPLY, False),
    "Hazırlanıyor": (S.PREPARING, False),
    "Kargoya Verildi": (S.SHIPPED, False),
    "Teslim Edildi": (S.DELIVERED, False),
    "İptal Edildi": (S.CANCELLED, False),
    "Tamamlandı": (S.COMPLETED, False),
    "Tamamlanmamış - İtiraz Edildi": (S.AWAITING_PAYMENT, True),
    "Onay Bekliyor - İtiraz Edildi": (S.AWAITING_APPROVAL, True),
    "Ödeme Bekliyor - İtiraz Edildi": (S.AWAITING_PAYMENT, True),
    "Tedarik sürecinde - İtiraz Edildi": (S.IN_SUPPLY, True),
    "Hazırlanıyor - İtiraz Edildi": (S.PREPARING, True),
    "Kargoya Verildi - İtiraz Edildi": (S.SHIPPED, True),
    "Teslim Edildi - İtiraz Edildi": (S.DELIVERED, True),
    "İptal Edildi - İtiraz Edildi": (S.CANCELLED, True),
    "Tamamlandı - İtiraz Edildi": (S.COMPLETED, True),
    "Tamamlanmamış - İptal Edildi": (S.CANCELLED, False),
    "Onay Bekliyor - İptal Edildi": (S.CANCELLED, False),
    "Ödeme Bekliyor - İptal Edildi": (S.CANCELLED, False),
    "Tedarik sürecinde - İptal Edildi": (S.CANCELLED, False),
    "Hazırlanıyor - İptal Edildi": (S.CANCELLED, False),
    "Kargoya Verildi - İptal Edildi": (S.CANCELLED, False),
    "Teslim Edildi - İptal Edildi": (S.CANCELLED, False),
    "İptal Edildi - İptal Edildi": (S.CANCELLED, False),
    "Tamamlandı - İptal Edildi": (S.CANCELLED, False),
    # GetOrdersStateByOrdersCode's own vocabulary
    "Sipariş Tamamlandı": (S.COMPLETED, False),
    "İtiraz Edildi": (S.DISPUTED, True),
}


def _documented_statuses() -> list[str]:
    if not DOC.exists():
        return [*raw.ORDER_STATUSES, *raw.STATE_VOCABULARY]
    text = DOC.read_text(encoding="utf-8")
    values: list[str] = []
    for match in re.finditer(r"Alabileceği değerler :\n(.*?)\n\}", text, re.S):
        values += [v.strip() for v in " ".join(match.group(1).split()).split(",")]
    return sorted(set(values))


@pytest.mark.parametrize("value", _documented_statuses())
def test_every_documented_status_is_mapped(value: str) -> None:
    reading = parse_status(value)
    assert reading.status is not S.UNKNOWN, value
    assert (reading.status, reading.disputed) == EXPECTED[value]
    assert reading.raw == value


def test_the_exact_table_covers_both_vocabularies_and_nothing_maps_to_unknown() -> None:
    assert set(raw.ORDER_STATUSES) | set(raw.STATE_VOCABULARY) <= set(STATUS_TABLE)
    assert all(r.status is not S.UNKNOWN for r in STATUS_TABLE.values())
    assert {k: (v.status, v.disputed) for k, v in STATUS_TABLE.items() if k in EXPECTED} == EXPECTED


def test_compound_statuses_keep_stage_and_flags() -> None:
    r = parse_status("Kargoya Verildi - İptal Edildi")
    assert (r.status, r.base, r.cancelled, r.disputed) == (
        S.CANCELLED,
        "Kargoya Verildi",
        True,
        False,
    )
    r = parse_status("Hazırlanıyor - İtiraz Edildi")
    assert (r.status, r.base, r.cancelled, r.disputed) == (S.PREPARING, "Hazırlanıyor", False, True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("KARGOYA VERİLDİ - İTİRAZ EDİLDİ", (S.SHIPPED, True)),
        ("kargoya verildi-itiraz edildi", (S.SHIPPED, True)),
        ("Teslim\nEdildi - İptal\nEdildi", (S.CANCELLED, False)),  # broken over lines, as printed
        ("  Hazırlanıyor  ", (S.PREPARING, False)),
        ("Hazırlanıyor – İtiraz Edildi", (S.PREPARING, True)),  # en dash
        ("I\u0307ptal Edildi", (S.CANCELLED, False)),  # decomposed İ (I + combining dot)
        ("TEDARİK SÜRECİNDE", (S.IN_SUPPLY, False)),
        ("ödeme bekliyor", (S.AWAITING_PAYMENT, False)),
        ("Odeme Bekliyor", (S.AWAITING_PAYMENT, False)),
        ("Tamamlanmamis - Iptal Edildi", (S.CANCELLED, False)),
        ("İade Edildi", (S.RETURNED, False)),
    ],
)
def test_tolerant_matching_uses_the_turkish_fold(
    text: str, expected: tuple[OrderStatus, bool]
) -> None:
    reading = parse_status(text)
    assert (reading.status, reading.disputed) == expected
    assert reading.raw == text  # the raw text is kept exactly as sent


def test_plain_lower_would_have_failed_where_the_fold_succeeds() -> None:
    # The reason for turkish_fold: str.lower turns "İ" into "i" + a combining dot.
    assert "İPTAL EDİLDİ".lower() != "iptal edildi"
    assert parse_status("İPTAL EDİLDİ").status is S.CANCELLED
    # "I" folds to dotless ı in Turkish; the key then drops the dot difference, so an ASCII
    # spelling still matches.
    reading = parse_status("HAZIRLANIYOR - ITIRAZ EDILDI")
    assert (reading.status, reading.disputed) == (S.PREPARING, True)


def test_no_two_documented_values_share_a_matching_key() -> None:
    values = {*raw.ORDER_STATUSES, *raw.STATE_VOCABULARY, "İade Edildi"}
    keys = [status_key(v) for v in values]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(
    ("text", "status", "disputed"),
    [
        ("Yeni Durum", S.UNKNOWN, False),
        ("", S.UNKNOWN, False),
        ("Yeni Durum - İtiraz Edildi", S.UNKNOWN, True),
        ("Yeni Durum - İptal Edildi", S.CANCELLED, False),
        ("Hazırlanıyor - Bilinmeyen", S.UNKNOWN, False),
        ("-", S.UNKNOWN, False),
    ],
)
def test_unknown_statuses_map_to_unknown_keeping_the_raw_text(
    text: str, status: OrderStatus, disputed: bool
) -> None:
    reading = parse_status(text)
    assert (reading.status, reading.disputed, reading.raw) == (status, disputed, text)


def test_order_keeps_the_full_raw_status_and_the_dispute_flag() -> None:
    order = _map(_filled(siparisDurumu="Teslim Edildi - İtiraz Edildi"))
    assert (order.status, order.disputed) == (S.DELIVERED, True)
    assert order.raw_status == "Teslim Edildi - İtiraz Edildi"


@given(st.text(max_size=60))
def test_any_status_text_reads_without_raising_and_keeps_the_raw_text(text: str) -> None:
    reading = parse_status(text)
    assert reading.raw == text
    assert isinstance(reading.status, OrderStatus)


# --------------------------------------------------------------------------------------------
# The coarse state answer and the sweep
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("known", "fresh", "changed"),
    [
        ("Onay Bekliyor", "Onay Bekliyor", False),
        ("Hazırlanıyor", "Onay Bekliyor", False),  # the coarse answer cannot tell them apart
        ("Teslim Edildi", "Kargoya Verildi", False),
        ("Tamamlandı", "Sipariş Tamamlandı", False),
        ("Onay Bekliyor - İptal Edildi", "İptal Edildi", False),
        ("Hazırlanıyor - İtiraz Edildi", "İtiraz Edildi", False),
        ("Hazırlanıyor", "Kargoya Verildi", True),
        ("Kargoya Verildi", "İtiraz Edildi", True),
        ("Hazırlanıyor - İtiraz Edildi", "Onay Bekliyor", True),
        ("Teslim Edildi", "Sipariş Tamamlandı", True),
    ],
)
def test_state_may_have_changed(known: str, fresh: str, changed: bool) -> None:
    order = _map(_filled(siparisDurumu=known))
    reading = parse_status(fresh)
    assert (
        state_may_have_changed(order, StateReading(reading.status, fresh, reading.disputed))
        is changed
    )


def test_an_unknown_known_status_always_asks_for_a_full_read() -> None:
    order = _map(_filled(siparisDurumu="Yeni Durum"))
    assert state_may_have_changed(order, StateReading(S.AWAITING_APPROVAL, "Onay Bekliyor", False))


# --------------------------------------------------------------------------------------------
# Robustness: whatever arrives, a typed error or a value
# --------------------------------------------------------------------------------------------

CTX = RequestContext("c2c", "main", "GetOrdersDate")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = sorted(_filled())


def _decode_and_map(body: bytes) -> None:
    try:
        order = decode(CTX, body, raw.Order)
        map_order(order, account="main")
    except PlatformDecodeError:
        pass


@given(st.sampled_from(FIELDS), json_values)
def test_a_wrongly_typed_field_is_a_decode_error_or_a_value(field: str, value: Any) -> None:
    _decode_and_map(msgspec.json.encode(_filled(**{field: value})))


@given(st.integers(min_value=0, max_value=2000))
def test_a_truncated_body_is_a_decode_error(cut: int) -> None:
    body = msgspec.json.encode(_filled())
    _decode_and_map(body[:cut])


@given(st.binary(max_size=200))
def test_random_bytes_are_a_decode_error_or_a_value(body: bytes) -> None:
    _decode_and_map(body)


@given(json_values)
def test_random_json_is_a_decode_error_or_a_value(value: Any) -> None:
    _decode_and_map(msgspec.json.encode(value))
