"""Webservis answers → canonical values written by hand from the (synthetic) samples."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.errors import PlatformDecodeError
from pipeline.http import RequestContext, decode
from pipeline.platforms.webservis import payloads as raw
from pipeline.platforms.webservis.mapping import ORDER_STATUS, map_order, row_times, status_of
from schemas import Money, Order, OrderStatus, PartyKind

DATA = Path(__file__).resolve().parents[2] / "data" / "webservis"
S = OrderStatus
UTC = dt.UTC


def _detail(name: str = "order-show.response.synthetic.json") -> raw.OrderDetail:
    env = msgspec.json.decode((DATA / name).read_bytes(), type=raw.Envelope[raw.OrderDetail])
    assert env.payload is not None
    return env.payload


def _doc(name: str = "order-show.response.synthetic.json") -> dict[str, Any]:
    doc: dict[str, Any] = msgspec.json.decode((DATA / name).read_bytes())
    return doc


def _map(doc: dict[str, Any]) -> Order:
    detail = msgspec.json.decode(msgspec.json.encode(doc), type=raw.Envelope[raw.OrderDetail])
    assert detail.payload is not None
    return map_order(detail.payload, account="main")


def test_shipped_company_order() -> None:
    order = map_order(_detail(), account="main")
    assert (order.platform, order.account) == ("webservis", "main")
    assert order.order_id == "3" and order.order_number == "SP2401120003"
    # "2024-01-12 09:05:44" Istanbul (UTC+3) = 06:05:44 UTC
    assert order.created_at == dt.datetime(2024, 1, 12, 6, 5, 44, tzinfo=UTC)
    assert order.updated_at == dt.datetime(2024, 1, 13, 14, 20, 3, tzinfo=UTC)
    assert order.status is S.SHIPPED and order.raw_status == "3"
    assert order.totals.grand_total == Money.of("544.80")
    assert order.totals.subtotal == Money.of("594.80")
    assert order.totals.discount == Money.of("50.00")
    assert order.totals.vat == Money.of("40.89")
    assert order.totals.shipping is None
    assert order.payment_type == "Kredi Kartı" and order.sales_channel == "Web"
    (shipment,) = order.shipments
    assert shipment.carrier == "Yurtiçi Kargo" and shipment.carrier_code == "1"
    assert shipment.tracking_number == "312345678901"
    assert shipment.tracking_url is not None and shipment.tracking_url.endswith("=312345678901")
    assert shipment.shipped_at == dt.datetime(2024, 1, 13, 14, 20, 3, tzinfo=UTC)
    assert order.invoice is not None and order.invoice.number == "ABC2024000000003"


def test_company_buyer_parties_and_addresses() -> None:
    order = map_order(_detail(), account="main")
    assert order.customer is not None
    assert order.customer.name == "Ayşe Yılmaz" and order.customer.kind is PartyKind.INDIVIDUAL
    assert order.customer.email == "ayse.yilmaz@example.com"
    assert order.customer.phone == "05321234567" and order.customer.national_id is None
    billing = order.billing
    assert billing is not None and billing.kind is PartyKind.CORPORATE
    assert (billing.name, billing.company_name) == ("Yılmaz Tekstil A.Ş.", "Yılmaz Tekstil A.Ş.")
    assert (billing.tax_number, billing.tax_office) == ("1234567890", "Kadıköy")
    assert order.shipping_address is not None
    assert order.shipping_address.line == "Caferağa Mah. Moda Cad. No: 12 D: 3"
    assert (order.shipping_address.district, order.shipping_address.city) == ("Kadıköy", "İstanbul")
    assert order.shipping_address.recipient == "Ayşe Yılmaz"
    assert order.billing_address is not None
    assert order.billing_address.line == "Rasimpaşa Mah. Söğütlüçeşme Cad. No: 5"
    assert order.billing_address.recipient == "Yılmaz Tekstil A.Ş."


def test_lines_are_numbered_and_carry_variants_in_the_name() -> None:
    first, second = map_order(_detail(), account="main").items
    assert first.item_id == "1" and second.item_id == "2"
    assert first.name == "Pamuk Tişört (Beden: M, Renk: Lacivert)"
    assert (first.sku, first.barcode) == ("TSH-001", "8690000000012")
    assert first.quantity == 2 and first.unit_price == Money.of("249.90")
    assert first.line_total == Money.of("499.80") and first.vat_rate == Decimal(10)
    assert second.name == "Kürk Mantolu Madonna" and second.vat_rate == Decimal(0)
    assert second.line_total == Money.of("95.00")
    assert first.status is None and first.discount is None


def test_php_style_new_order_of_a_person() -> None:
    order = map_order(_detail("order-show.php-style.response.synthetic.json"), account="main")
    assert order.order_id == "4" and order.status is S.RECEIVED and order.raw_status == "1"
    assert order.shipments == () and order.invoice is None  # "", null, "0000-00-00 00:00:00"
    assert order.customer is not None and order.customer.national_id == "10000000146"
    assert order.billing is not None and order.billing.kind is PartyKind.INDIVIDUAL
    assert order.billing.tax_number is None and order.billing.tax_office is None
    assert order.billing_address is None  # "invoice": []
    assert order.totals.grand_total == Money.of("169.89")  # includes an unitemised shipping fee
    assert order.totals.vat == Money.of("21.65")
    (line,) = order.items
    assert line.quantity == 1 and line.vat_rate == Decimal(20)
    assert order.sales_channel == "Trendyol" and order.payment_type == "Kapıda Nakit Ödeme"


def test_list_row_times() -> None:
    env = msgspec.json.decode(
        (DATA / "order-lists.response.synthetic.json").read_bytes(),
        type=raw.Envelope[raw.OrderPage],
    )
    assert env.payload is not None
    rows = [msgspec.json.decode(r, type=raw.OrderRow) for r in env.payload.rows]
    times = row_times(rows[1], account="main")
    assert (times.order_id, times.raw_status) == ("3", "3")
    assert times.created_at == dt.datetime(2024, 1, 12, 6, 5, 44, tzinfo=UTC)
    assert times.updated_at == dt.datetime(2024, 1, 13, 14, 20, 3, tzinfo=UTC)


def test_every_documented_status_has_a_canonical_status() -> None:
    assert set(ORDER_STATUS) == set(raw.ORDER_STATUS)
    for before, after in ORDER_STATUS.values():
        assert S.UNKNOWN not in (before, after)


@pytest.mark.parametrize(
    ("code", "shipped", "expected"),
    [
        (1, False, S.RECEIVED),
        (2, False, S.PREPARING),
        (3, True, S.SHIPPED),
        (4, False, S.CANCEL_REQUESTED),
        (4, True, S.RETURN_REQUESTED),
        (5, False, S.CANCELLED),
        (5, True, S.CANCELLED),
        (0, False, S.UNKNOWN),
        (6, True, S.UNKNOWN),
        (None, False, S.UNKNOWN),
    ],
)
def test_status_table(code: int | None, shipped: bool, expected: OrderStatus) -> None:
    assert status_of(code, shipped=shipped) is expected


def test_status_4_of_an_order_never_shipped_is_a_cancel_request() -> None:
    doc = _doc()
    doc["result"]["order"].update(status=4, shipmentCode="", shipmentCode2="", shipmentUrl="")
    doc["result"]["order"]["shipmentDate"] = None
    assert _map(doc).status is S.CANCEL_REQUESTED
    doc["result"]["order"]["shipmentCode"] = "300012345678"  # only a label barcode
    assert _map(doc).status is S.RETURN_REQUESTED


def test_unknown_status_keeps_the_raw_code() -> None:
    doc = _doc()
    doc["result"]["order"]["status"] = 9
    order = _map(doc)
    assert order.status is S.UNKNOWN and order.raw_status == "9"


def test_bad_date_names_field_account_and_order_but_no_personal_data() -> None:
    doc = _doc()
    doc["result"]["order"]["createdAt"] = "yarın"
    with pytest.raises(PlatformDecodeError) as info:
        _map(doc)
    text = str(info.value)
    assert "createdAt" in text and "main" in text and "order 3" in text and "yarın" in text
    assert "Ayşe" not in text and "05321234567" not in text


def test_fractional_quantity_is_malformed_not_rounded() -> None:
    doc = _doc()
    doc["result"]["products"][0]["quantity"] = 1.5
    with pytest.raises(PlatformDecodeError, match=r"products\[0\]\.quantity"):
        _map(doc)


def test_missing_grand_total_is_malformed() -> None:
    doc = _doc()
    del doc["result"]["summary"]["overall"]
    with pytest.raises(PlatformDecodeError, match=r"summary\.overall"):
        _map(doc)
    doc["result"]["summary"] = []
    with pytest.raises(PlatformDecodeError, match="summary"):
        _map(doc)


def test_vat_rate_outside_a_percentage_is_malformed() -> None:
    doc = _doc()
    doc["result"]["products"][1]["tax"] = 118
    with pytest.raises(PlatformDecodeError, match=r"products\[1\]\.tax"):
        _map(doc)


def test_non_numeric_id_is_malformed() -> None:
    doc = _doc()
    doc["result"]["order"]["id"] = "3a"
    with pytest.raises(PlatformDecodeError, match="id"):
        _map(doc)


@pytest.mark.parametrize(
    ("title", "tax_id", "kind", "national_id", "tax_number"),
    [
        ("", "1234567890", PartyKind.CORPORATE, None, "1234567890"),
        ("", "10000000146", PartyKind.INDIVIDUAL, "10000000146", None),
        ("Demir Ticaret", "10000000146", PartyKind.CORPORATE, None, "10000000146"),
        ("Demir Ticaret", "", PartyKind.CORPORATE, None, None),
        ("", "", PartyKind.INDIVIDUAL, None, None),
        ("", "TR-123", PartyKind.INDIVIDUAL, None, "TR-123"),
        ("", 1234567890, PartyKind.CORPORATE, None, "1234567890"),
    ],
)
def test_invoice_party_from_title_and_tax_id(
    title: str, tax_id: str | int, kind: PartyKind, national_id: str | None, tax_number: str | None
) -> None:
    doc = _doc()
    doc["result"]["customer"].update(title=title, taxId=tax_id)
    billing = _map(doc).billing
    assert billing is not None
    assert (billing.kind, billing.national_id, billing.tax_number) == (
        kind,
        national_id,
        tax_number,
    )


@pytest.mark.parametrize("empty", ["", None, "0000-00-00 00:00:00", "0000-00-00"])
def test_empty_dates_are_none(empty: str | None) -> None:
    doc = _doc()
    doc["result"]["order"]["updatedAt"] = empty
    assert _map(doc).updated_at is None


# --------------------------------------------------------------------------------------------
# Property: whatever the body, a typed error or an Order — never another exception.
# --------------------------------------------------------------------------------------------

CTX = RequestContext("webservis", "main", "order/show")
SAMPLE = (DATA / "order-show.response.synthetic.json").read_bytes().strip()
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
PATHS = [
    ("order", "id"), ("order", "status"), ("order", "createdAt"), ("order", "shipmentDate"),
    ("order", "shipmentFirmId"), ("customer", "taxId"), ("customer", "delivery"),
    ("customer", "invoice"), ("summary", "overall"), ("summary", "taxes"), ("summary", "total"),
    ("products",), ("order",), ("customer",), ("summary",),
]  # fmt: skip


def _decode_and_map(body: bytes) -> Order | None:
    try:
        detail = decode(CTX, body, raw.Envelope[raw.OrderDetail]).payload
        if detail is None:
            return None
        return map_order(detail, account="main")
    except PlatformDecodeError:
        return None


@given(st.sampled_from(PATHS), JSON_VALUES)
def test_wrongly_typed_member_is_a_decode_error_or_an_order(
    path: tuple[str, ...], value: object
) -> None:
    doc = _doc()
    target = doc["result"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    result = _decode_and_map(msgspec.json.encode(doc))
    assert result is None or isinstance(result, Order)


@given(st.integers(min_value=0, max_value=len(SAMPLE)))
def test_truncated_body_is_a_decode_error(cut: int) -> None:
    result = _decode_and_map(SAMPLE[:cut])
    assert result is None or cut == len(SAMPLE)


@given(st.binary(max_size=200))
def test_random_bytes_are_a_decode_error(body: bytes) -> None:
    assert _decode_and_map(body) is None or body.strip().startswith(b"{")


@given(st.sampled_from([p for p in PATHS if len(p) == 2]))
def test_missing_member_is_a_decode_error_or_an_order(path: tuple[str, str]) -> None:
    doc = _doc()
    doc["result"][path[0]].pop(path[1], None)
    result = _decode_and_map(msgspec.json.encode(doc))
    assert result is None or isinstance(result, Order)
