"""The document's own samples mapped to canonical values written by hand from the document."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.dates import DateParseError
from pipeline.errors import PlatformDecodeError
from pipeline.platforms.softtr import payloads as raw
from pipeline.platforms.softtr.mapping import (
    SALES_CHANNEL,
    STATUS,
    WRITABLE_STATUS,
    canonical_status,
    map_order,
    order_created_at,
)
from schemas import Money, OrderStatus, PartyKind
from schemas.times import ISTANBUL

DATA = Path(__file__).parents[2] / "data" / "softtr"
S = OrderStatus
UTC = dt.UTC


def _detail() -> raw.OrderDetail:
    envelope = msgspec.json.decode(
        (DATA / "order.response.json").read_bytes(), type=raw.Envelope[raw.DetailData]
    )
    assert envelope.data is not None
    return msgspec.json.decode(envelope.data.content, type=raw.OrderDetail)


def _row() -> raw.OrderRow:
    envelope = msgspec.json.decode(
        (DATA / "orders.response.json").read_bytes(), type=raw.Envelope[raw.ListData]
    )
    assert envelope.data is not None and envelope.data.content
    return msgspec.json.decode(envelope.data.content[0], type=raw.OrderRow)


def test_detail_sample_maps_to_the_documented_values() -> None:
    order = map_order(_detail(), account="main")
    assert (order.platform, order.account) == ("softtr", "main")
    assert order.order_id == order.order_number == "28092022133621-AYD"
    # 28.09.2022 13:36:21 Istanbul (UTC+3) = 10:36:21 UTC
    assert order.created_at == dt.datetime(2022, 9, 28, 10, 36, 21, tzinfo=UTC)
    assert order.updated_at is None
    assert order.status is S.RECEIVED and order.raw_status == ""
    assert order.totals.grand_total == Money.of("219.90")
    assert order.totals.shipping == Money.of("15.00")
    assert order.totals.vat == Money.of("16.29")
    assert order.totals.subtotal is None and order.totals.discount is None
    assert order.payment_type == "Kredi Kartı" and order.sales_channel == "website"
    (item,) = order.items
    assert (item.item_id, item.name, item.sku, item.quantity) == ("1", "Ürün Adı", "A111111", 1)
    assert item.unit_price == Money.of("219.9") and item.line_total == Money.of("219.9")
    assert item.vat_rate == Decimal(8)
    ship = order.shipping_address
    assert ship is not None
    assert (ship.recipient, ship.line) == ("Alıcı Adı Soyadı", "Alıcı Adresi")
    assert (ship.district, ship.city, ship.phone) == ("Çerkezköy", "İstanbul", "08503073393")
    bill = order.billing_address
    assert bill is not None and (bill.district, bill.city) == ("Şişli", "İstanbul")
    # The sample's swapped tax fields are read by shape: the digits are the tax number.
    billing = order.billing
    assert billing is not None and billing.kind is PartyKind.CORPORATE
    assert (billing.name, billing.company_name) == ("Fatura Ünvanı", "Fatura Ünvanı")
    assert (billing.tax_number, billing.tax_office) == ("111111111", "ATIŞALANI")
    assert billing.email == "destek@softtr.com" and billing.national_id is None
    assert order.customer is not None
    assert (order.customer.name, order.customer.email) == ("Fatura Adı Soyadı", "destek@softtr.com")
    assert order.shipments == () and order.invoice is None


def test_list_row_completes_the_detail() -> None:
    row = _row()
    detail = msgspec.structs.replace(_detail(), orderno=row.orderno)
    order = map_order(detail, account="main", row=row, raw_status="PREPARING")
    # 01.09.2022 00:12:21 Istanbul = 31.08.2022 21:12:21 UTC
    assert order.created_at == dt.datetime(2022, 8, 31, 21, 12, 21, tzinfo=UTC)
    assert order.status is S.PREPARING and order.raw_status == "PREPARING"
    billing = order.billing
    assert billing is not None
    # The list row's fields are the right way round; its number is zero-padded to 10 digits.
    assert (billing.tax_number, billing.tax_office) == ("1111111111", "ATIŞALANI")
    assert order.totals.grand_total == Money.of("219.90")  # the detail's amount wins


def test_individual_with_tc_kimlik_from_the_list_row() -> None:
    row = msgspec.structs.replace(
        _row(),
        invoice_title="",
        invoice_tax_id="",
        invoice_tax_office="",
        invoice_civ_id="10000000146",
    )
    invoice = msgspec.structs.replace(
        _detail().invoice_details,
        invoice_company_title="",
        invoice_tax_id="",
        invoice_tax_office="",
    )
    detail = msgspec.structs.replace(_detail(), orderno=row.orderno, invoice_details=invoice)
    billing = map_order(detail, account="main", row=row).billing
    assert billing is not None and billing.kind is PartyKind.INDIVIDUAL
    assert billing.national_id == "10000000146" and billing.tax_number is None
    assert billing.name == "Fatura Adı Soyadı"


def test_tax_number_sent_as_a_number_keeps_its_leading_zero() -> None:
    row = msgspec.structs.replace(_row(), invoice_tax_id=123456789)
    detail = msgspec.structs.replace(_detail(), orderno=row.orderno)
    billing = map_order(detail, account="main", row=row).billing
    assert billing is not None and billing.tax_number == "0123456789"


@pytest.mark.parametrize(
    ("orderno", "local"),
    [
        ("28092022133621-AYD", dt.datetime(2022, 9, 28, 13, 36, 21)),
        ("01092022001221-AIK", dt.datetime(2022, 9, 1, 0, 12, 21)),
        ("01092022001821-DIK", dt.datetime(2022, 9, 1, 0, 18, 21)),
        ("01092022002448-ZKB", dt.datetime(2022, 9, 1, 0, 24, 48)),
        ("01092022130509-SHE", dt.datetime(2022, 9, 1, 13, 5, 9)),
    ],
)
def test_every_order_number_in_the_document_encodes_istanbul_time(
    orderno: str, local: dt.datetime
) -> None:
    assert order_created_at(orderno) == local.replace(tzinfo=ISTANBUL).astimezone(UTC)


@pytest.mark.parametrize(
    "orderno",
    [
        "",
        "28092022133621",
        "2809202213362-AYD",
        "32092022133621-AYD",
        "28132022133621-X",
        "28092022253621-AYD",
        "AYD-28092022133621",
        "28092022133621-",
    ],
)
def test_numbers_without_a_date_are_refused(orderno: str) -> None:
    with pytest.raises((ValueError, DateParseError)):
        order_created_at(orderno)


def test_bad_order_number_names_field_account_and_order_but_no_personal_data() -> None:
    detail = msgspec.structs.replace(_detail(), orderno="ABC-1")
    with pytest.raises(PlatformDecodeError) as info:
        map_order(detail, account="main")
    text = str(info.value)
    assert "orderno" in text and "main" in text and "ABC-1" in text and "softtr" in text
    assert "08503073393" not in text and "destek@" not in text


def test_every_documented_status_has_a_canonical_status_and_writes_round_trip() -> None:
    assert set(raw.ORDER_STATUSES) == set(STATUS) - {""}
    assert S.UNKNOWN not in STATUS.values()
    assert set(WRITABLE_STATUS.values()) == set(raw.ORDER_STATUSES)
    for canonical, written in WRITABLE_STATUS.items():
        assert canonical_status(written) is canonical


def test_never_set_is_received_and_unknown_values_keep_their_raw_value() -> None:
    assert canonical_status("") is S.RECEIVED
    assert canonical_status("waiting") is S.UNKNOWN  # exact match only
    order = map_order(_detail(), account="main", raw_status="ARCHIVED")
    assert order.status is S.UNKNOWN and order.raw_status == "ARCHIVED"


def test_every_documented_order_source_is_a_channel() -> None:
    assert set(SALES_CHANNEL) == set(raw.ORDER_SOURCES)
    detail = msgspec.structs.replace(_detail(), order_source="AMAZON")
    assert map_order(detail, account="main").sales_channel == "AMAZON"


def test_row_joined_to_another_order_is_an_error() -> None:
    with pytest.raises(PlatformDecodeError, match="wrong detail"):
        map_order(_detail(), account="main", row=_row())


@pytest.mark.parametrize(
    ("change", "field"),
    [({"item_quantity": -1}, "itemQuantity"), ({"item_tax_rate": Decimal(120)}, "itemTaxRate")],
)
def test_bad_item_values_are_decode_errors(change: dict[str, object], field: str) -> None:
    detail = _detail()
    detail.items[0] = msgspec.structs.replace(detail.items[0], **change)
    with pytest.raises(PlatformDecodeError, match=field):
        map_order(detail, account="main")


def test_missing_order_amount_falls_back_to_the_lines() -> None:
    detail = msgspec.structs.replace(_detail(), order_amount=None)
    assert map_order(detail, account="main").totals.grand_total == Money.of("219.9")


@given(st.datetimes(min_value=dt.datetime(2017, 1, 1), max_value=dt.datetime(2099, 12, 31)))
def test_order_number_time_round_trips(local: dt.datetime) -> None:
    """Since 2016 Istanbul has no DST, so every wall time is unambiguous."""
    local = local.replace(microsecond=0)
    assert order_created_at(f"{local:%d%m%Y%H%M%S}-QXZ") == local.replace(
        tzinfo=ISTANBUL
    ).astimezone(UTC)


def _mutations() -> st.SearchStrategy[bytes]:
    sample = (DATA / "order.response.json").read_bytes()
    values = st.none() | st.booleans() | st.integers() | st.text(max_size=6) | st.floats()
    keys = st.sampled_from(
        [
            "orderno",
            "orderAmount",
            "cargoCharge",
            "taxAmount",
            "items",
            "invoiceDetails",
            "shipmentDetails",
            "itemQuantity",
            "itemUnitPrice",
            "itemTaxRate",
            "invoiceTaxID",
        ]
    )
    truncated = st.integers(0, len(sample)).map(lambda n: sample[:n])

    def retype(pair: tuple[str, object]) -> bytes:
        key, value = pair
        doc = msgspec.json.decode(sample)
        content = doc["data"]["content"]
        target = content["items"][0] if key.startswith("item") and key != "items" else content
        if key == "invoiceTaxID":
            target = content["invoiceDetails"]
        target[key] = value
        return msgspec.json.encode(doc)

    return truncated | st.tuples(keys, values).map(retype) | st.binary(max_size=64)


@given(_mutations())
def test_random_bodies_map_to_an_order_or_a_typed_error(body: bytes) -> None:
    try:
        envelope = msgspec.json.decode(body, type=raw.Envelope[raw.DetailData])
        assert envelope.data is not None
        detail = msgspec.json.decode(envelope.data.content, type=raw.OrderDetail)
    except (msgspec.MsgspecError, AssertionError):
        return  # the client turns these into PlatformDecodeError (tested in test_client)
    try:
        order = map_order(detail, account="main")
    except PlatformDecodeError:
        return
    assert order.order_id == detail.orderno
