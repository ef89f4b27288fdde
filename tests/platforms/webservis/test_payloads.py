"""Webservis wire Structs against the document (tests/data/webservis/).

The document prints no JSON: the response files are synthetic (see the data README) and the
values below were written by hand from those files' construction, not read back by code. The
code tables, limits and wire names are checked against the document's own text.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.platforms.webservis import payloads as p

DATA = Path(__file__).resolve().parents[2] / "data" / "webservis"
# The vendor document lives beside the repository, not in it; tests that read it skip without it.
DOC = Path(__file__).resolve().parents[4] / "shared" / "platform-docs" / "webservis.txt"

RESPONSE_TYPES: dict[str, Any] = {
    "order-lists.response.synthetic.json": p.Envelope[p.OrderPage],
    "order-show.response.synthetic.json": p.Envelope[p.OrderDetail],
    "order-show.php-style.response.synthetic.json": p.Envelope[p.OrderDetail],
    "auth004.response.synthetic.json": p.Envelope[p.OrderDetail],
    "ordershow001.response.synthetic.json": p.Envelope[p.OrderDetail],
}


def _load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _raw_doc() -> str:
    if not DOC.exists():
        pytest.skip(f"vendor document not found at {DOC}")
    # The PDF extraction garbled ş and ğ in section 4.1 ("Eriřim", "deęil", "ařıldı").
    return DOC.read_text(encoding="utf-8").replace("ř", "ş").replace("ę", "ğ")


def _doc() -> str:
    """The document without whitespace (the extraction splits and joins words freely)."""
    return re.sub(r"\s+", "", _raw_doc())


def _doc_names() -> set[str]:
    """Every field name the tables print: ``taxes.*.rate`` gives ``taxes`` and ``rate``."""
    return {part for token in _raw_doc().split() for part in token.split(".") if part != "*"}


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def test_every_response_file_has_a_struct_and_is_listed_in_the_readme() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    files = {f.name for f in DATA.iterdir() if f.name != "README.md"}
    assert {f for f in files if f.endswith(".json")} == set(RESPONSE_TYPES)
    for name in files:
        assert f"`{name}`" in readme, name


@pytest.mark.parametrize("name", sorted(RESPONSE_TYPES))
def test_response_file_decodes(name: str) -> None:
    envelope = msgspec.json.decode(_load(name), type=RESPONSE_TYPES[name])
    assert envelope.code in p.RESPONSE_CODES


def test_list_page_values() -> None:
    env = msgspec.json.decode(
        _load("order-lists.response.synthetic.json"), type=p.Envelope[p.OrderPage]
    )
    page = env.payload
    assert env.code == "SUCCESS" and env.message == "İşlem başarılı"
    assert page is not None and (page.total, page.page_size, len(page.rows)) == (2, 2, 2)
    rows = [msgspec.json.decode(r, type=p.OrderRow) for r in page.rows]
    assert [r.id for r in rows] == [4, 3]
    assert rows[1].code == "SP2401120003" and rows[1].dealer_id == 7
    assert rows[1].shipment_firm_id == 1 and rows[1].status == 3
    assert (rows[1].created_at, rows[1].updated_at) == (
        "2024-01-12 09:05:44",
        "2024-01-13 17:20:03",
    )


def test_show_values() -> None:
    detail = msgspec.json.decode(
        _load("order-show.response.synthetic.json"), type=p.Envelope[p.OrderDetail]
    ).payload
    assert detail is not None
    info = detail.order
    assert (info.id, info.code, info.status) == (3, "SP2401120003", 3)
    assert info.shipment_code == "300012345678" and info.shipment_code2 == "312345678901"
    assert info.shipment_date == "2024-01-13 17:20:03" and info.einvoice_code == "ABC2024000000003"
    assert info.payment_method == "Kredi Kartı" and info.platform == "Web"
    customer = p.present(detail.customer)
    assert customer is not None and customer.tax_id == "1234567890"
    assert customer.tax_branch == "Kadıköy" and customer.title == "Yılmaz Tekstil A.Ş."
    delivery = p.present(customer.delivery)
    assert delivery is not None and delivery.city == "İstanbul" and delivery.district == "Kadıköy"
    summary = p.present(detail.summary)
    assert summary is not None
    assert (summary.total, summary.discount, summary.sub_total, summary.overall) == (
        Decimal("594.80"),
        Decimal("50.00"),
        Decimal("544.80"),
        Decimal("544.80"),
    )
    assert [(t.rate, t.amount) for t in summary.taxes] == [
        (Decimal(10), Decimal("40.89")),
        (Decimal(0), Decimal("0.00")),
    ]
    first, second = detail.products
    assert first.quantity == 2 and first.price == Decimal("249.90")
    assert first.total_price == Decimal("499.80") and first.tax == Decimal(10)
    assert [(v.name, v.value) for v in first.variants] == [("Beden", "M"), ("Renk", "Lacivert")]
    assert second.variants == [] and second.category_id == 30


def test_php_style_answer_decodes_with_strings_and_empty_array() -> None:
    detail = msgspec.json.decode(
        _load("order-show.php-style.response.synthetic.json"), type=p.Envelope[p.OrderDetail]
    ).payload
    assert detail is not None
    assert detail.order.id == "4" and detail.order.status == "1"
    assert detail.order.einvoice_code is None and detail.order.shipment_code == ""
    customer = p.present(detail.customer)
    assert customer is not None and customer.invoice == [] and p.present(customer.invoice) is None
    summary = p.present(detail.summary)
    assert summary is not None and summary.overall == Decimal("169.89")
    assert detail.products[0].quantity == Decimal(1)


def test_error_answers_have_no_payload() -> None:
    env = msgspec.json.decode(
        _load("auth004.response.synthetic.json"), type=p.Envelope[p.OrderDetail]
    )
    assert env.code == "AUTH004" and env.payload is None
    status = msgspec.json.decode(_load("ordershow001.response.synthetic.json"), type=p.Status)
    assert (status.code, status.message) == ("ORDERSHOW001", "Hatalı sipariş ID")


def test_empty_php_array_result_is_no_payload() -> None:
    env = msgspec.json.decode(b'{"code": "SUCCESS", "result": []}', type=p.Envelope[p.OrderPage])
    assert env.payload is None


def test_body_without_code_is_not_an_answer() -> None:
    with pytest.raises(msgspec.ValidationError, match="code"):
        msgspec.json.decode(b'{"message": "x", "result": {}}', type=p.Envelope[p.OrderPage])


@given(
    extra=st.dictionaries(
        st.text(min_size=1, max_size=12).filter(lambda k: k not in {"id", "code", "status"}),
        st.one_of(
            st.none(), st.integers(), st.text(max_size=8), st.lists(st.integers(), max_size=2)
        ),
        max_size=4,
    )
)
def test_fields_the_vendor_adds_never_break_decoding(extra: dict[str, object]) -> None:
    row = {"id": 4, "code": "SP1", "status": 1, **extra}
    decoded = msgspec.json.decode(msgspec.json.encode(row), type=p.OrderRow)
    assert decoded.id == 4 and decoded.status == 1


# --------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------


def test_the_documents_list_example_is_what_the_query_struct_sends() -> None:
    url = (DATA / "order-lists.request.url.txt").read_text(encoding="utf-8").strip()
    parts = urlsplit(url)
    assert parts.path == "web_servis/order/lists"
    sent = dict(parse_qsl(parts.query))
    query = msgspec.convert(sent, p.ListOrdersQuery, strict=False)
    assert query == p.ListOrdersQuery(page_start=0, page_size=50, order_by="id", sort="desc")
    assert {k: str(v) for k, v in query.params().items()} == sent


def test_query_sends_every_filter_under_its_wire_name() -> None:
    query = p.ListOrdersQuery(
        page_start=200,
        page_size=100,
        order_by="updatedAt",
        sort="desc",
        start_date="2024-01-01 00:00:00",
        end_date="2024-01-31 23:59:59",
        status=4,
        dealer_id=0,
    )
    assert query.params() == {
        "pageStart": 200,
        "pageSize": 100,
        "orderBy": "updatedAt",
        "sort": "desc",
        "startDate": "2024-01-01 00:00:00",
        "endDate": "2024-01-31 23:59:59",
        "status": 4,
        "dealerId": 0,
    }


def test_show_example_takes_the_id_as_a_path_segment() -> None:
    url = (DATA / "order-show.request.url.txt").read_text(encoding="utf-8").strip()
    assert url == "web_servis/order/show/3"


def test_php_sample_sends_the_two_credential_headers_to_v2() -> None:
    php = (DATA / "auth.request.php.txt").read_text(encoding="utf-8")
    assert '"https://www.site.com/api/v2/auth"' in php
    assert f'"{p.HEADER_API_KEY}: ".$api_key' in php
    assert f'"{p.HEADER_API_SECRET}: ".$api_secret' in php


# --------------------------------------------------------------------------------------------
# Tables and names against the document
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "label"), sorted(p.RESPONSE_CODES.items()))
def test_response_code_is_printed_in_the_document(code: str, label: str) -> None:
    doc = _doc()
    assert re.sub(r"\s+", "", code + label) in doc


def test_document_prints_no_code_missing_from_the_table() -> None:
    printed = set(re.findall(r"\b([A-Z]+\d{3})\b", _raw_doc()))
    assert printed, "no codes found: the extraction changed"
    assert printed <= set(p.RESPONSE_CODES)


@pytest.mark.parametrize(("code", "label"), sorted(p.ORDER_LIST_STATUS_FILTER.items()))
def test_order_status_is_printed_in_the_document(code: int, label: str) -> None:
    assert re.sub(r"\s+", "", f"{code}:{label}") in _doc()


def test_fast_sale_prints_4_as_delivered_unlike_the_list_table() -> None:
    doc = _doc()
    assert "4=TeslimEdilenSipariş" in doc and "4:İptal/değişim/iadeSiparişleri" in doc
    assert p.FAST_SALE_STATUS[4] != p.ORDER_STATUS[4]


def test_documented_limits() -> None:
    doc = _doc()
    assert f"1dakikadaenfazla{p.REQUESTS_PER_MINUTE}istek" in doc
    assert f"integermax:{p.ORDER_PAGE_SIZE_MAX}HayırDef:{p.ORDER_PAGE_SIZE_DEFAULT}" in doc
    assert f"integermax:{p.PRODUCT_PAGE_SIZE_MAX}HayırDef:0" in doc
    assert f"Maksimum{p.PRODUCT_SAVE_MAX}ürün" in doc
    assert f"Maksimum{p.PRODUCT_UPDATE_STOCKS_MAX}ürün" in doc
    assert f"Maksimum{p.PRODUCT_UPDATE_PRICES_MAX}ürün" in doc
    assert "YYYY-MM-DDhh:ii:ss" in doc and "Y-m-dH:i:s" in doc


WIRE_STRUCTS = (p.OrderRow, p.OrderPage, p.OrderInfo, p.Customer, p.Place, p.Summary, p.Tax,
                p.Product, p.Variant)  # fmt: skip


@pytest.mark.parametrize("struct", WIRE_STRUCTS, ids=lambda s: s.__name__)
def test_every_wire_name_is_spelled_as_in_the_document(struct: type[msgspec.Struct]) -> None:
    names = _doc_names()
    for field in msgspec.structs.fields(struct):
        assert field.encode_name in names, (
            f"{struct.__name__}.{field.name} as {field.encode_name!r}"
        )


def test_query_names_are_the_documents() -> None:
    doc = _doc()
    for field in msgspec.structs.fields(p.ListOrdersQuery):
        assert (
            field.encode_name + "integer" in doc
            or field.encode_name + "string" in doc
            or (field.encode_name + "datetime" in doc)
        ), field.encode_name
    assert set(p.ORDER_BY) == {"id", "createdAt", "updatedAt"}
    for value, label in {**p.ORDER_BY, **p.SORT}.items():
        assert re.sub(r"\s+", "", f"{value}:{label}") in doc or value == "id"
