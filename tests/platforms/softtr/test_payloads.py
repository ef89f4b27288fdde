"""Softtr wire Structs against the document's own samples (tests/data/softtr/).

Every golden response decodes into its Struct, every golden request is rebuilt by hand and
encoded, and the code tables are checked against the document's text. Expected values were read
off ``platform-docs/softtr.txt`` by hand, not off the files.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.platforms.softtr import payloads as p

DATA = Path(__file__).resolve().parents[2] / "data" / "softtr"
# The vendor document lives beside the repository, not in it; tests that read it skip without it.
DOC = Path(__file__).resolve().parents[4] / "shared" / "platform-docs" / "softtr.txt"


def _load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _doc() -> str:
    if not DOC.exists():
        pytest.skip("platform-docs/softtr.txt is not beside the repository")
    return DOC.read_text(encoding="utf-8")


def test_every_data_file_is_listed_in_the_readme_and_every_json_parses() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    files = sorted(f.name for f in DATA.iterdir() if f.name != "README.md")
    for name in files:
        assert f"`{name}`" in readme, name
        if name.endswith(".json"):
            json.loads((DATA / name).read_text(encoding="utf-8"))
    # Every repaired sample keeps its printed original beside it.
    for name in files:
        if name.endswith(".txt") and not name.endswith(".url.txt"):
            assert name.removesuffix(".txt") + ".json" in files


def test_repairs_only_drop_the_elision_lines() -> None:
    for original in DATA.glob("*.txt"):
        if original.name.endswith(".url.txt"):
            continue
        printed = original.read_text(encoding="utf-8")
        repaired = original.with_suffix(".json").read_text(encoding="utf-8")
        assert "..." in printed and "..." not in repaired
        assert re.sub(r"\s|,", "", printed.replace("...", "")) == re.sub(r"\s|,", "", repaired)


def test_list_sample_decodes() -> None:
    envelope = msgspec.json.decode(_load("orders.response.json"), type=p.Envelope[p.ListData])
    assert envelope.status == 200 and envelope.code == 200
    assert envelope.request_id == "b668ea650cec4e7d4d5bde6c6f0af8a4"
    data = envelope.data
    assert data is not None and data.content is not None
    assert (data.order_count, data.page_count, data.size, data.page) == (25, 3, 10, 3)
    (raw_row,) = data.content
    row = msgspec.json.decode(raw_row, type=p.OrderRow)
    assert row.orderno == "01092022001221-AIK"
    assert row.order_amount == Decimal("87.89")
    assert row.invoice_name == "Test Kullanıcısı Adı Soyadı"
    assert row.invoice_title == "Test Kullanıcısı Fatura Ünvanı"
    assert row.invoice_tax_office == "ATIŞALANI"
    assert row.invoice_tax_id == 1111111111  # a JSON number, though the table says string
    assert row.invoice_civ_id == ""
    assert (row.invoice_district, row.invoice_city) == ("Şişli", "İstanbul")
    assert (row.shipment_district, row.shipment_city) == ("Çerkezköy", "İstanbul")
    assert row.order_source == "WEBSITE"


def test_detail_sample_decodes() -> None:
    envelope = msgspec.json.decode(_load("order.response.json"), type=p.Envelope[p.DetailData])
    assert envelope.request_id == "72f0769ee515d8fa9c23b4e6bfe7159e"
    assert envelope.data is not None
    detail = msgspec.json.decode(envelope.data.content, type=p.OrderDetail)
    assert detail.orderno == "28092022133621-AYD"
    assert detail.order_amount == Decimal("219.90")
    assert detail.cargo_charge == Decimal("15.00")
    assert detail.tax_amount == Decimal("16.29")
    assert (detail.discount_coupon, detail.partner_code) == ("SOFTTR1", "SOFTTR")
    assert (detail.order_source, detail.payment_type) == ("WEBSITE", "Kredi Kartı")
    ship, invoice = detail.shipment_details, detail.invoice_details
    assert ship is not None and invoice is not None
    assert ship.shipment_name == "Alıcı Adı Soyadı" and ship.shipment_gsm == "08503073393"
    assert invoice.invoice_company_title == "Fatura Ünvanı"
    # Swapped in the sample: the tax office is under invoiceTaxID and vice versa.
    assert (invoice.invoice_tax_id, invoice.invoice_tax_office) == ("ATIŞALANI", "111111111")
    assert invoice.invoice_mail == "destek@softtr.com"
    (item,) = detail.items
    assert (item.item_title, item.item_brand, item.item_code) == ("Ürün Adı", "Marka", "A111111")
    assert item.item_tax_rate == Decimal(8) and item.item_quantity == 1
    assert item.item_unit_price == Decimal("219.9")


@pytest.mark.parametrize(
    "name", ["updateOrderStatus.response.json", "updateStokAndPrice.response.json"]
)
def test_write_answers_decode_to_their_request_id(name: str) -> None:
    status = msgspec.json.decode(_load(name), type=p.Status)
    assert status.code == 200 and status.request_id == "7045997c8e1cf4a3448e79b5a9ae0276"
    assert status.error_text() is None


def test_status_update_request_is_what_we_encode() -> None:
    built = [
        p.StatusUpdate(orderno="01092022001821-DIK", status="WAITING"),
        p.StatusUpdate(orderno="01092022002448-ZKB", status="PREPARING"),
        p.StatusUpdate(orderno="01092022130509-SHE", status="PENDING"),
    ]
    assert json.loads(msgspec.json.encode(built)) == json.loads(
        _load("updateOrderStatus.request.json")
    )
    decoded = msgspec.json.decode(
        _load("updateOrderStatus.request.json"), type=list[p.StatusUpdate]
    )
    assert {u.status for u in decoded} <= set(p.ORDER_STATUSES)


def test_stock_request_decodes_exactly() -> None:
    rows = msgspec.json.decode(_load("updateStokAndPrice.request.json"), type=list[p.StockAndPrice])
    assert [r.barcode for r in rows] == ["8341101923840", "8341101924244", "8341101924648"]
    assert {r.main_product_price for r in rows} == {Decimal("239.76")}
    assert {(r.variant_price, r.stock_amount) for r in rows} == {(Decimal("0.00"), 50)}


def test_url_samples_use_the_documented_parameters() -> None:
    url = urlsplit(_load("orders.request.url.txt").decode().strip())
    assert url.path == "/api/orders"
    query = parse_qs(url.query)
    assert query == {"pageSize": ["10"], "page": ["2"], "startDate": ["01-09-2022"]}
    assert re.fullmatch(r"\d{2}-\d{2}-\d{4}", query["startDate"][0])
    assert urlsplit(_load("order.request.url.txt").decode().strip()).path == "/api/order/{ORDERNO}"


def test_code_tables_match_the_document() -> None:
    doc = _doc()
    assert "[" + ",".join(p.ORDER_STATUSES) + "]" in doc
    assert doc.count("[" + ",".join(p.ORDER_SOURCES) + "]") == 2  # list and detail tables
    for status, (code, text) in p.GENERAL_ERRORS.items():
        assert f"{status} {code} {text}" in doc
    for text in p.WRITE_ERRORS:
        assert doc.count(f"400 400 {text}") == 2  # updateOrderStatus and updateStokAndPrice
    assert "(Max 100 , Varsayılan 100)" in doc and p.MAX_PAGE_SIZE == 100
    assert doc.count("Bir seferde en fazla 100") == 2
    assert p.MAX_STATUS_BATCH == p.MAX_STOCK_BATCH == 100
    assert "Örneğin : 01-10-2022" in doc and p.DATE_FORMAT == "%d-%m-%Y"


def test_wire_names_are_the_documents() -> None:
    doc = _doc()
    for struct in (p.OrderRow, p.OrderDetail, p.ShipmentDetails, p.InvoiceDetails, p.Item):
        for name in msgspec.structs.fields(struct):
            assert name.encode_name in doc, (struct.__name__, name.encode_name)


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (
            b'{"status": 400, "message": {"code": 400, "detail": {"requestID": "x", '
            b'"message": "Data s\xc4\xb1n\xc4\xb1r\xc4\xb1 a\xc5\x9f\xc4\xb1ld\xc4\xb1"}}}',
            "Data sınırı aşıldı",
        ),
        (
            b'{"status": 400, "message": {"code": 400, '
            b'"detail": {"error": "Ge\xc3\xa7ersiz istek"}}}',
            "Geçersiz istek",
        ),
        (
            b'{"status": 400, "message": {"code": 400, "detail": "orderno Bo\xc5\x9f"}}',
            "orderno Boş",
        ),
        (b'{"status": 401, "message": "Kullan\xc4\xb1c\xc4\xb1"}', "Kullanıcı"),
        (b'{"status": 500, "message": {"code": "500", "message": "Beklenmedik"}}', "Beklenmedik"),
        (b'{"status": 200, "message": {"code": 200, "detail": {"requestID": "x"}}}', None),
    ],
)
def test_error_text_is_found_in_every_plausible_place(body: bytes, text: str | None) -> None:
    """Synthetic bodies: the document prints no error body (see tests/data/softtr/README.md)."""
    assert msgspec.json.decode(body, type=p.Status).error_text() == text


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"status": 404}', 404),
        (b'{"status": "404", "message": {"code": "405"}}', 405),
        (b'{"message": {"code": 401}}', 401),
        (b'{"status": "OK"}', None),
        (b"{}", None),
    ],
)
def test_status_code_prefers_message_code(body: bytes, code: int | None) -> None:
    assert msgspec.json.decode(body, type=p.Status).code == code


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(JSON)
def test_envelopes_decode_or_raise_a_msgspec_error(value: object) -> None:
    body = msgspec.json.encode(value)
    for kind in (
        p.Envelope[p.ListData],
        p.Envelope[p.DetailData],
        p.Status,
        p.OrderRow,
        p.OrderDetail,
    ):
        try:
            decoded = msgspec.json.decode(body, type=kind)
        except msgspec.ValidationError:
            continue
        if isinstance(decoded, p.Status):
            decoded.error_text()
            _ = decoded.code, decoded.request_id
