"""C2C wire Structs against the document's own samples (tests/data/c2c/).

Every golden response decodes into its Struct; every golden request is rebuilt by hand from our
request Structs; the code tables are checked against the document's text. Expected values were
read off ``platform-docs/c2c.txt`` by hand, not off the files.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.platforms.c2c import payloads as p

DATA = Path(__file__).resolve().parents[2] / "data" / "c2c"
DOC = Path(__file__).resolve().parents[4] / "shared" / "platform-docs" / "c2c.txt"
needs_doc = pytest.mark.skipif(not DOC.exists(), reason="the vendor document is not beside us")

DOMAIN = "entegrasyonu yapılmak istenen mağazanın bulunduğu c2c sisteminin domaini"
API_KEY = "entegrasyonu yapılmak istenen mağazanın sahibi tarafından size sağlanan ApiKey"
API_PASSWORD = "entegrasyonu yapılmak istenen mağazanın sahibi tarafından size sağlanan ApiPassword"
CREDS = {"domain": DOMAIN, "api_key": API_KEY, "api_password": API_PASSWORD}
ORDER_LISTS = (
    "GetAll.response.json",
    "GetOrderInfoByOrdersCode.response.json",
    "GetOrdersDate.response.json",
    "GetOrdersState.response.json",
)


def _load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ORDER_LISTS)
def test_order_list_samples_decode_with_the_printed_values(name: str) -> None:
    (order,) = msgspec.json.decode(_load(name), type=list[p.Order])
    assert order.code == ""
    assert order.siparis_tarihi == "05.10.2019 11:12"
    assert order.siparis_tutari == Decimal("50.0")
    assert order.siparis_kargo_tutari == Decimal("15.0")
    assert order.siparis_toplam_tutar == Decimal("65.0")
    assert order.siparis_taksit_sayisi == 1
    assert order.siparis_taksit_tutari == Decimal("0.0")
    assert order.siparis_alt_uye_is_yeri == Decimal("40.0")
    assert order.siparis_uye_is_yeri == Decimal("23.19")
    assert order.siparis_iyzico_komisyonu == Decimal("1.81")
    assert order.siparis_para_birimi == "" and order.siparis_durumu == ""
    assert order.siparis_urunleri is not None
    (product,) = order.siparis_urunleri
    assert product.urun_adet == 1
    assert (product.urun_fiyat, product.urun_indirim, product.urun_tutar) == (
        Decimal("50.0"),
        Decimal("0.0"),
        Decimal("50.0"),
    )
    assert product.urun_kargo_teslim_tarihi == "07.10.2019"
    assert product.urun_kargo_takip_no == "" and product.urun_kargo == ""


def test_amounts_are_exact_decimals_never_floats() -> None:
    (order,) = msgspec.json.decode(_load("GetAll.response.json"), type=list[p.Order])
    assert isinstance(order.siparis_uye_is_yeri, Decimal)
    assert str(order.siparis_uye_is_yeri) == "23.19"  # a float would be 23.190000000000001...
    noisy = msgspec.json.decode(b'{"siparisKodu": "1", "siparisToplamTutar": 65.00000000000001}')
    assert noisy["siparisToplamTutar"] != Decimal("65.00000000000001")  # untyped: float
    typed = msgspec.json.decode(
        b'{"siparisKodu": "1", "siparisToplamTutar": 65.00000000000001}', type=p.Order
    )
    assert typed.siparis_toplam_tutar == Decimal("65.00000000000001")


def test_every_order_list_sample_is_the_same_object() -> None:
    first = json.loads(_load(ORDER_LISTS[0]))
    for name in ORDER_LISTS[1:]:
        assert json.loads(_load(name)) == first


def test_state_sample_decodes() -> None:
    (row,) = msgspec.json.decode(
        _load("GetOrdersStateByOrdersCode.response.json"), type=list[p.OrderState]
    )
    assert (row.code, row.siparis_durumu) == ("", "")


def test_update_sample_decodes_with_capitalised_names() -> None:
    (row,) = msgspec.json.decode(
        _load("UpdateOrderStateByOrderCode.response.json"), type=list[p.UpdateResult]
    )
    assert (row.durum, row.aciklama) == ("", "")
    boolean = msgspec.json.decode(b'[{"Durum": true, "Aciklama": "x"}]', type=list[p.UpdateResult])
    assert boolean[0].durum is True


def test_numeric_order_codes_are_read_as_text() -> None:
    order = msgspec.json.decode(b'{"siparisKodu": 12345}', type=p.Order)
    assert order.code == "12345"


def test_unknown_vendor_fields_are_ignored() -> None:
    order = msgspec.json.decode(b'{"siparisKodu": "A", "yeniAlan": [1, 2]}', type=p.Order)
    assert order.code == "A"


# --------------------------------------------------------------------------------------------
# Requests: what we send has exactly the document's field names and shape
# --------------------------------------------------------------------------------------------

REQUESTS: list[tuple[str, Any]] = [
    ("GetAll.request.json", p.GetAllRequest(**CREDS)),
    (
        "GetOrderInfoByOrdersCode.request.json",
        p.OrderCodesRequest(**CREDS, siparis_kodlari=["sipariş kodu", "sipariş kodu"]),
    ),
    (
        "GetOrdersStateByOrdersCode.request.json",
        p.OrderCodesRequest(**CREDS, siparis_kodlari=["sipariş kodu", "sipariş kodu"]),
    ),
    (
        "GetOrdersDate.request.json",
        p.OrdersByDateRequest(
            **CREDS, baslangic_tarihi="01.04.2022 00:00", bitis_tarihi="30.04.2022 00:00"
        ),
    ),
    (
        "GetOrdersState.request.json",
        p.OrdersByStateRequest(**CREDS, siparis_durumu="sipariş durumu sayısal değeri"),
    ),
    (
        "UpdateOrderStateByOrderCode.request.json",
        p.UpdateStateRequest(
            **CREDS,
            siparis_kodlari=["sipariş kodu", "sipariş kodu"],
            siparis_durumu=(
                "Onay Bekliyor,Hazırlanıyor,Kargoya Verildi olarak 3 farklı durum belirtilebilir"
            ),
        ),
    ),
]


@pytest.mark.parametrize(("name", "built"), REQUESTS, ids=[n for n, _ in REQUESTS])
def test_requests_we_build_match_the_document(name: str, built: Any) -> None:
    golden = json.loads(_load(name))
    encoded = msgspec.json.encode(built)
    assert json.loads(encoded) == golden
    # the credentials come first, as printed
    assert list(json.loads(encoded))[:3] == ["Domain", "ApiKey", "ApiPassword"]
    assert msgspec.json.decode(_load(name), type=type(built)) == built


def test_request_structs_never_show_credentials_in_repr() -> None:
    request = p.OrderCodesRequest(
        domain="magaza.example",
        api_key="ak-123456",
        api_password="pw-654321",
        siparis_kodlari=["1"],
    )
    for text in (repr(request), str(request), f"{request!r}"):
        assert "ak-123456" not in text and "pw-654321" not in text and "magaza" not in text


# --------------------------------------------------------------------------------------------
# Golden files against the document
# --------------------------------------------------------------------------------------------

LINES = {
    "GetAll.request.txt": (15, 19),
    "GetAll.response.txt": (23, 69),
    "GetAll.csharp.txt": (71, 106),
    "GetOrderInfoByOrdersCode.request.txt": (115, 123),
    "GetOrderInfoByOrdersCode.response.txt": (127, 173),
    "GetOrdersStateByOrdersCode.request.txt": (182, 190),
    "GetOrdersStateByOrdersCode.response.txt": (194, 200),
    "GetOrdersStateByOrdersCode.csharp.txt": (202, 237),
    "GetOrdersDate.request.txt": (246, 252),
    "GetOrdersDate.response.txt": (256, 302),
    "GetOrdersState.request.txt": (311, 324),
    "GetOrdersState.response.txt": (328, 363),
    "UpdateOrderStateByOrderCode.request.txt": (372, 381),
    "UpdateOrderStateByOrderCode.response.txt": (385, 389),
}


@needs_doc
@pytest.mark.parametrize("name", sorted(LINES))
def test_originals_are_verbatim_copies_of_the_document(name: str) -> None:
    first, last = LINES[name]
    lines = _doc_text().split("\n")[first - 1 : last]
    assert (DATA / name).read_text(encoding="utf-8") == "\n".join(lines) + "\n"


def test_every_sample_file_is_listed_in_the_readme() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for path in DATA.iterdir():
        if path.name != "README.md":
            assert f"`{path.name}`" in readme, path.name


# --------------------------------------------------------------------------------------------
# Code tables against the document's text
# --------------------------------------------------------------------------------------------


def _value_lists(text: str) -> list[list[str]]:
    """Each "Alabileceği değerler :" list of siparisDurumu, whitespace the PDF broke repaired."""
    found = []
    for match in re.finditer(
        r'"siparisDurumu": "", \(string\) --> Alabileceği değerler :\n(.*?)\n\}', text, re.S
    ):
        flat = " ".join(match.group(1).split())
        found.append([v.strip() for v in flat.split(",")])
    return found


@needs_doc
def test_status_vocabulary_is_the_documents() -> None:
    lists = _value_lists(_doc_text())
    assert len(lists) == 4  # GetAll, GetOrderInfoByOrdersCode, GetOrdersDate, and the state one
    full = [values for values in lists if len(values) > 5]
    assert len(full) == 3
    for values in full:
        assert tuple(values) == p.ORDER_STATUSES
    (state,) = [values for values in lists if len(values) == 5]
    assert tuple(state) == p.STATE_VOCABULARY
    assert len(p.ORDER_STATUSES) == 27 == len(set(p.ORDER_STATUSES))


@needs_doc
def test_state_filters_writable_statuses_payment_types_and_currencies_are_the_documents() -> None:
    text = _doc_text()
    filters = dict(re.findall(r"^(\d) //(.+)$", text, re.M))
    assert {int(k): v for k, v in filters.items()} == p.STATE_FILTERS
    writable = re.search(r'"SiparisDurumu":"(.+?) olarak 3 farklı durum', text)
    assert writable is not None
    assert tuple(writable.group(1).split(",")) == p.WRITABLE_STATUSES
    assert "Alabileceği değerler : IYZICO Pool, bankTransfer" in text
    assert p.PAYMENT_TYPES == ("IYZICO Pool", "bankTransfer")
    assert text.count("Alabileceği değerler : TL, EUR, USD") == 8
    assert p.CURRENCIES == ("TL", "EUR", "USD")


@needs_doc
def test_endpoints_and_base_path_are_the_documents() -> None:
    text = _doc_text()
    for endpoint in (
        p.GET_ALL,
        p.GET_ORDER_INFO_BY_CODES,
        p.GET_STATES_BY_CODES,
        p.GET_ORDERS_BY_DATE,
        p.GET_ORDERS_BY_STATE,
        p.UPDATE_STATE_BY_CODES,
    ):
        assert f"POST {p.BASE_PATH}{endpoint}\n" in text
        assert f"{p.BASE_URL}{endpoint}\n" in text


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@given(st.decimals(min_value=-(10**9), max_value=10**9, allow_nan=False, allow_infinity=False))
def test_any_json_number_decodes_to_the_exact_decimal_of_its_text(value: Decimal) -> None:
    text = format(value, "f")
    order = msgspec.json.decode(
        f'{{"siparisKodu": "X", "siparisTutari": {text}}}'.encode(), type=p.Order
    )
    assert order.siparis_tutari == Decimal(text)
