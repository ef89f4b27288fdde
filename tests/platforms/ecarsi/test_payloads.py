"""Every sample of the document decodes into the wire Structs; values checked by hand, and the
code tables and messages checked against the document's own text."""

import json
import re
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from pipeline.platforms.ecarsi import payloads as raw

DATA = Path(__file__).parents[2] / "data" / "ecarsi"
DOC = Path(__file__).resolve().parents[4] / "shared" / "platform-docs" / "ecarsi.txt"
RESPONSES = sorted(DATA.glob("*.response.*.json"))


def _doc() -> str:
    if not DOC.exists():
        pytest.skip("platform document not available")
    return DOC.read_text()


def test_every_sample_of_the_readme_exists_and_every_file_is_listed() -> None:
    readme = (DATA / "README.md").read_text()
    listed = set(re.findall(r"^\| `([^`]+)`", readme, re.M))
    present = {p.name for p in DATA.iterdir() if p.name != "README.md"}
    assert listed == present
    assert len(RESPONSES) == 75


@pytest.mark.parametrize("path", sorted(DATA.glob("*.request.json")), ids=lambda p: p.name)
def test_every_request_sample_is_json_like_its_curl(path: Path) -> None:
    curl = (DATA / path.name.replace(".request.json", ".request.curl.txt")).read_text()
    assert "--data" in curl
    assert json.loads(path.read_text())


@pytest.mark.parametrize("path", RESPONSES, ids=lambda p: p.name)
def test_every_response_sample_decodes_as_the_envelope(path: Path) -> None:
    body = path.read_bytes()
    ack = msgspec.json.decode(body, type=raw.Ack)
    assert ack.message is not None and ack.message.tr and ack.message.en
    assert ack.success is (".success." in path.name)
    if ".validation." in path.name:
        assert isinstance(ack.errors, dict) and ack.errors
    if ".server-error." in path.name:
        assert ack.error == "..."


def test_login_samples() -> None:
    request = msgspec.json.decode((DATA / "auth.request.json").read_bytes(), type=raw.LoginRequest)
    assert request == raw.LoginRequest(email="[email\xa0protected]", password="123456")
    ok = msgspec.json.decode(
        (DATA / "auth.response.success.json").read_bytes(), type=raw.Envelope[raw.LoginData]
    )
    assert ok.success and ok.text == "Giriş başarılı"
    assert ok.data is not None and ok.data.token == "xxxxxxxx"
    assert ok.data.seller is not None and ok.data.seller.id == 1
    refused = msgspec.json.decode(
        (DATA / "auth.response.validation.json").read_bytes(), type=raw.Ack
    )
    assert refused.text == "Geçersiz giriş bilgileri"
    assert refused.errors == {
        "email": ["E-posta adresi zorunludur", "Geçerli bir e-posta adresi giriniz"],
        "password": ["Şifre zorunludur"],
    }
    for name, text in (("invalid-credentials", "Geçersiz kimlik bilgileri"),
                       ("invalid-password", "Şifre hatalı")):  # fmt: skip
        ack = msgspec.json.decode((DATA / f"auth.response.{name}.json").read_bytes(), type=raw.Ack)
        assert not ack.success and ack.text == text


def test_shipping_companies_sample() -> None:
    env = msgspec.json.decode(
        (DATA / "shipping-companies.response.success.json").read_bytes(),
        type=raw.Envelope[list[raw.ShippingCompany]],
    )
    assert env.data == [
        raw.ShippingCompany(
            id=1, name="Yurtiçi Kargo", logo="https://e-carsi.com/dosya/kargo/yurtici.png"
        )
    ]


def test_order_list_sample() -> None:
    env = msgspec.json.decode(
        (DATA / "orders.list.response.success.json").read_bytes(), type=raw.Envelope[raw.OrderPage]
    )
    assert env.data is not None and env.data.pagination == raw.Pagination(
        total=50, per_page=20, current_page=1, last_page=3
    )
    (row,) = [msgspec.json.decode(r, type=raw.ListOrder) for r in env.data.orders]
    assert row.order_id == "123456"
    assert (row.seller_status, row.customer_status, row.invoice_status) == (
        "waiting",
        "waiting",
        "not_uploaded",
    )
    assert row.customer_email == "[email\xa0protected]"
    assert row.product_count == 2 and row.price == Decimal(150)
    assert row.order_date == "2024-02-19 10:00:00"
    invalid = msgspec.json.decode(
        (DATA / "orders.list.response.validation.json").read_bytes(), type=raw.Ack
    )
    assert invalid.errors == {
        "page": [raw.FIELD_ERRORS["page"]],
        "per_page": [raw.FIELD_ERRORS["per_page"]],
    }


def test_order_detail_sample_keeps_the_second_address() -> None:
    env = msgspec.json.decode(
        (DATA / "orders.detail.response.success.json").read_bytes(),
        type=raw.Envelope[raw.OrderDetailData],
    )
    assert env.data is not None
    order = env.data.order
    assert order.id == "123456" and order.date == "2024-02-19 10:00:00"
    assert order.customer == raw.Customer(
        email="[email\xa0protected]", phone="5551234567", name="Ahmet Yılmaz"
    )
    # "address" appears twice; the v1.1.0 block (the second) wins, as in every JSON parser.
    assert order.address is not None
    assert (order.address.city, order.address.district) == ("Adana", "Aladag")
    assert order.address.tc == "11111111111" and order.address.corporate is False
    assert order.address.name == "Taha KOÇAK" and order.address.tax_office == ""
    assert order.invoice is not None and order.invoice.district == "Ceyhan"
    assert order.invoice.full_address == "Büyükmangit dasdasdas"
    assert order.status == raw.StatusBlock(
        seller="waiting", customer="waiting", invoice="not_uploaded"
    )
    (item,) = order.items
    assert (item.name, item.barcode, item.stock_code) == ("iPhone 13", "123456789", "IP13-128")
    assert item.quantity == 1 and item.price == Decimal(25000)
    assert item.variants == ["128GB", "Siyah"]
    assert order.totals == raw.OrderTotals(
        subtotal=Decimal(25000), shipping=Decimal(0), total=Decimal(25000)
    )
    assert order.shipments is msgspec.UNSET  # the document shows no shipment on an order
    assert (
        json.loads((DATA / "orders.detail.response.success.json").read_text())["data"]["order"][
            "address"
        ]["city"]
        == "Adana"
    )


def test_shipping_samples() -> None:
    request = msgspec.json.decode(
        (DATA / "orders.shipping.request.json").read_bytes(), type=raw.ShippingRequest
    )
    assert request == raw.ShippingRequest(company_id=1, tracking_number="1234567890", desi=2)
    assert msgspec.json.decode(msgspec.json.encode(request)) == json.loads(
        (DATA / "orders.shipping.request.json").read_text()
    )
    env = msgspec.json.decode(
        (DATA / "orders.shipping.response.success.json").read_bytes(),
        type=raw.Envelope[raw.ShippingData],
    )
    assert env.text == raw.MESSAGES["shipping_ok"][0]
    assert env.data is not None and env.data.tracking == raw.Tracking(
        number="1234567890",
        url="https://www.yurticikargo.com/takip?code=1234567890",
        barcode_url="https://e-carsi.com/kargo-barkod/1234567890.png",
    )
    invalid = msgspec.json.decode(
        (DATA / "orders.shipping.response.validation.json").read_bytes(), type=raw.Ack
    )
    assert invalid.errors == {
        field: [raw.FIELD_ERRORS[field]] for field in ("company_id", "tracking_number", "desi")
    }


def _options(doc: str, parameter: str) -> dict[str, str]:
    section = doc[doc.index("Sipariş Listesi") :]
    start = section.index(f"\n{parameter}\n")
    text = section[start : section.index("Örnek:", start)]
    return dict(re.findall(r"(\w+) \(([^)]+)\)", text))


@pytest.mark.parametrize("field", sorted(raw.STATUS_CODES))
def test_code_tables_are_the_documents(field: str) -> None:
    assert _options(_doc(), field) == raw.STATUS_CODES[field]


def test_limits_and_error_codes_are_the_documents() -> None:
    doc = _doc()
    assert f"dakikada maksimum {raw.RATE_PER_IP_PER_MINUTE} istek" in doc
    assert f"günlük maksimum {raw.RATE_PER_TOKEN_PER_DAY} istek" in doc
    assert "en az: 1, en fazla: 100" in doc
    for code, label in raw.HTTP_ERROR_CODES.items():
        assert f"{code} - {label}" in doc
    assert "exact,after,before" in doc and raw.DATE_MODES == ("exact", "after", "before")


INVENTED = {"too_many_requests", "bad_request", "shipping_not_allowed"}


@pytest.mark.parametrize("key", sorted(raw.MESSAGES))
def test_messages_are_printed_by_the_document_unless_marked_invented(key: str) -> None:
    doc = _doc()
    tr, en = raw.MESSAGES[key]
    printed = f'"tr": "{tr}",\n        "en": "{en}"' in doc
    assert printed is (key not in INVENTED)


def test_field_messages_are_printed_by_the_document_except_date_mode() -> None:
    doc = _doc()
    for field, text in raw.FIELD_ERRORS.items():
        assert (f'"{text}"' in doc) is (field != "date_mode"), field
