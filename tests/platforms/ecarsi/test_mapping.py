"""The document's samples mapped to canonical values written by hand; status tables against the
document; random and broken bodies end in a typed error or a value, never another exception."""

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
from pipeline.platforms.ecarsi import payloads as raw
from pipeline.platforms.ecarsi.mapping import (
    CUSTOMER_OVERRIDES,
    SELLER_STATUS,
    map_list_order,
    map_order_detail,
    order_status,
    overlay_list,
    tracking_numbers,
)
from schemas import Invoice, Money, OrderStatus, PartyKind

DATA = Path(__file__).parents[2] / "data" / "ecarsi"
DOC = Path(__file__).resolve().parents[4] / "shared" / "platform-docs" / "ecarsi.txt"
S = OrderStatus
CTX = RequestContext("ecarsi", "main", "orders")
NBSP_EMAIL = "[email\xa0protected]"


def _row(**changes: Any) -> raw.ListOrder:
    env = msgspec.json.decode(
        (DATA / "orders.list.response.success.json").read_bytes(), type=raw.Envelope[raw.OrderPage]
    )
    assert env.data is not None
    row = msgspec.json.decode(env.data.orders[0], type=raw.ListOrder)
    return msgspec.structs.replace(row, **changes)


def _detail_doc() -> dict[str, Any]:
    doc: dict[str, Any] = msgspec.json.decode(
        (DATA / "orders.detail.response.success.json").read_bytes()
    )
    return doc


def _detail(doc: dict[str, Any] | None = None) -> raw.OrderDetail:
    body = msgspec.json.encode(doc or _detail_doc())
    data = decode(CTX, body, raw.Envelope[raw.OrderDetailData]).data
    assert data is not None
    return data.order


def test_list_sample_maps_to_the_documented_values() -> None:
    order = map_list_order(_row(), account="main")
    assert (order.platform, order.account) == ("ecarsi", "main")
    assert order.order_id == "123456" and order.order_number == "123456"
    # "2024-02-19 10:00:00" Istanbul = 07:00 UTC
    assert order.created_at == dt.datetime(2024, 2, 19, 7, 0, tzinfo=dt.UTC)
    assert order.status is S.AWAITING_APPROVAL and order.raw_status == "waiting"
    assert order.totals.grand_total == Money.of("150", "TRY")
    assert order.customer is not None and order.customer.email == NBSP_EMAIL
    assert order.items == () and order.invoice is None and order.shipping_address is None


def test_detail_sample_maps_to_the_documented_values() -> None:
    order = map_order_detail(_detail(), account="main")
    assert order.order_id == "123456"
    assert order.created_at == dt.datetime(2024, 2, 19, 7, 0, tzinfo=dt.UTC)
    assert order.status is S.AWAITING_APPROVAL and order.raw_status == "waiting"
    assert order.customer is not None
    assert (order.customer.name, order.customer.phone) == ("Ahmet Yılmaz", "5551234567")
    assert order.shipping_address is not None
    assert order.shipping_address.recipient == "Taha KOÇAK"
    assert (order.shipping_address.city, order.shipping_address.district) == ("Adana", "Aladag")
    assert order.shipping_address.line == "Aladag asdasdasdas"
    assert order.shipping_address.phone == "5555555555"
    assert order.billing_address is not None and order.billing_address.district == "Ceyhan"
    assert order.billing is not None and order.billing.kind is PartyKind.INDIVIDUAL
    assert order.billing.name == "Taha KOÇAK"
    assert order.billing.national_id == "11111111111"  # the e-Arşiv placeholder
    assert order.billing.tax_office is None and order.billing.tax_number is None  # "" = absent
    (item,) = order.items
    assert item.item_id == "1" and item.name == "iPhone 13 (128GB, Siyah)"
    assert (item.sku, item.barcode, item.quantity) == ("IP13-128", "123456789", 1)
    assert item.unit_price == Money.of("25000") and item.line_total == Money.of("25000")
    assert order.totals.grand_total == Money.of("25000")
    assert order.totals.subtotal == Money.of("25000")
    assert order.totals.shipping == Money.of("0")
    assert order.shipments == () and order.invoice is None


def test_detail_items_price_is_the_unit_price() -> None:
    doc = _detail_doc()
    doc["data"]["order"]["items"][0].update(quantity=3, price=10.5)
    (item,) = map_order_detail(_detail(doc), account="main").items
    assert item.unit_price.amount == Decimal("10.5")
    assert item.line_total.amount == Decimal("31.5")


def test_corporate_invoice_is_a_corporate_party() -> None:
    doc = _detail_doc()
    doc["data"]["order"]["invoice"].update(
        corporate=True, company_name="Örnek Ltd. Şti.", tax_office="Kadıköy", tax_number=1234567890
    )
    billing = map_order_detail(_detail(doc), account="main").billing
    assert billing is not None and billing.kind is PartyKind.CORPORATE
    assert billing.name == "Örnek Ltd. Şti." and billing.company_name == "Örnek Ltd. Şti."
    assert (billing.tax_number, billing.tax_office) == ("1234567890", "Kadıköy")
    assert billing.national_id is None


def test_shipments_are_read_only_when_the_answer_has_them() -> None:
    assert tracking_numbers(_detail()) is None
    doc = _detail_doc()
    doc["data"]["order"]["shipments"] = [
        {
            "company_id": 1,
            "company": "Yurtiçi Kargo",
            "date": "2024-02-20 11:30:00",
            "tracking": {"number": "1234567890", "url": "https://example.invalid/t"},
        },
        {"tracking_number": 987},
    ]
    detail = _detail(doc)
    assert tracking_numbers(detail) == {"1234567890", "987"}
    first, second = map_order_detail(detail, account="main").shipments
    assert first.carrier == "Yurtiçi Kargo" and first.carrier_code == "1"
    assert first.tracking_url == "https://example.invalid/t"
    assert first.shipped_at == dt.datetime(2024, 2, 20, 8, 30, tzinfo=dt.UTC)
    assert second.tracking_number == "987" and second.shipped_at is None
    doc["data"]["order"]["shipments"] = []
    assert tracking_numbers(_detail(doc)) == frozenset()


def _document_seller_statuses() -> list[str]:
    if not DOC.exists():
        pytest.skip("platform document not available")
    text = DOC.read_text()
    start = text.index("Satıcı durumu filtresi.")
    return re.findall(r"(\w+) \(", text[start : text.index("Örnek:", start)])


def test_every_documented_seller_status_is_mapped() -> None:
    statuses = _document_seller_statuses()
    assert len(statuses) == 13
    unmapped = [s for s in statuses if order_status(s) is S.UNKNOWN]
    assert unmapped == []
    assert set(SELLER_STATUS) == set(statuses) == set(raw.SELLER_STATUS)


def test_partial_return_and_cancel_are_order_statuses() -> None:
    assert order_status("partial_return") is S.PARTIALLY_RETURNED
    assert order_status("partial_cancel") is S.PARTIALLY_CANCELLED
    assert order_status("completed_return") is S.RETURNED
    assert order_status("completed_cancel") is S.CANCELLED


def test_unknown_status_is_unknown_and_kept_raw() -> None:
    order = map_list_order(_row(seller_status="on_hold"), account="main")
    assert order.status is S.UNKNOWN and order.raw_status == "on_hold"


@pytest.mark.parametrize(
    ("seller", "customer", "expected"),
    [
        ("preparing", "cancelled", S.CANCEL_REQUESTED),
        ("waiting", "cancelled", S.CANCEL_REQUESTED),
        ("delivered", "returned", S.RETURN_REQUESTED),
        ("completed_cancel", "cancelled", S.CANCELLED),
        ("delivered", "completed", S.DELIVERED),
        ("shipped", "waiting", S.SHIPPED),
    ],
)
def test_customer_status_overrides(seller: str, customer: str, expected: OrderStatus) -> None:
    assert order_status(seller, customer) is expected
    assert {c for _, c in CUSTOMER_OVERRIDES} <= set(raw.CUSTOMER_STATUS)


def test_overlay_takes_the_statuses_of_a_newer_list_row_only() -> None:
    detailed = map_order_detail(_detail(), account="main")
    newer = overlay_list(detailed, _row(seller_status="shipped", invoice_status="uploaded"))
    assert newer.status is S.SHIPPED and newer.raw_status == "shipped"
    assert newer.invoice == Invoice()
    assert newer.items == detailed.items and newer.totals == detailed.totals


def test_bad_fields_name_record_and_field_without_personal_data() -> None:
    with pytest.raises(PlatformDecodeError) as caught:
        map_list_order(_row(order_date="2024-02-30 10:00:00"), account="main")
    assert "order 123456: field order_date" in str(caught.value)
    with pytest.raises(PlatformDecodeError, match="field price"):
        map_list_order(_row(price=None), account="main")
    doc = _detail_doc()
    doc["data"]["order"]["items"][0]["quantity"] = -1
    with pytest.raises(PlatformDecodeError, match=r"items\[0\]\.quantity") as caught:
        map_order_detail(_detail(doc), account="main")
    assert "5551234567" not in str(caught.value) and "11111111111" not in str(caught.value)


# -- property tests -----------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _parse_detail(body: bytes) -> object:
    data = decode(CTX, body, raw.Envelope[raw.OrderDetailData]).data
    return None if data is None else map_order_detail(data.order, account="main")


def _parse_row(body: bytes) -> object:
    return map_list_order(decode(CTX, body, raw.ListOrder), account="main")


def _mutate(doc: Any, path: list[str | int], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict) and isinstance(head, str) and head in doc:
        return {**doc, head: _mutate(doc[head], rest, value)}
    if isinstance(doc, list) and isinstance(head, int) and 0 <= head < len(doc):
        return [_mutate(v, rest, value) if i == head else v for i, v in enumerate(doc)]
    return doc


def _paths(doc: Any, prefix: list[str | int]) -> list[list[str | int]]:
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, [*prefix, key])
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            out += _paths(value, [*prefix, index])
    return out


DETAIL_PATHS = _paths(_detail_doc(), [])


@given(st.binary(max_size=200) | JSON.map(msgspec.json.encode))
def test_random_bodies_give_a_typed_error_or_a_value(body: bytes) -> None:
    for parse in (_parse_detail, _parse_row):
        try:
            parse(body)
        except PlatformDecodeError:
            pass


@given(
    st.sampled_from(DETAIL_PATHS), JSON | st.sampled_from(["", "NaN", "1e400", "-5", "Infinity"])
)
def test_mutated_detail_gives_a_typed_error_or_a_value(path: list[str | int], value: Any) -> None:
    body = msgspec.json.encode(_mutate(_detail_doc(), path, value))
    try:
        _parse_detail(body)
    except PlatformDecodeError:
        pass


@given(st.integers(min_value=1, max_value=2000))
def test_truncated_bodies_give_a_typed_error(cut: int) -> None:
    body = (DATA / "orders.detail.response.success.json").read_bytes().strip()
    with pytest.raises(PlatformDecodeError):
        _parse_detail(body[: len(body) - cut])
