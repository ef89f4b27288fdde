"""Pazarama wire Structs against the document's own samples (tests/data/pazarama/).

Every golden response decodes strictly into its Struct; every golden request we send is rebuilt
by hand and encoded; the code tables and wire names are checked against the document's text.
Expected values below were read off ``platform-docs/pazarama.txt`` by hand, not off the files.
"""

from __future__ import annotations

import base64
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.platforms.pazarama import payloads as p

DATA = Path(__file__).resolve().parents[2] / "data" / "pazarama"
# The vendor document lives beside the repository, not in it; tests that read it skip without it.
DOC = Path(__file__).resolve().parents[4] / "shared" / "platform-docs" / "pazarama.txt"


def _load(name: str) -> bytes:
    return (DATA / name).read_bytes()


# --------------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------------

#: Answers the adapter reads, each with the Struct it decodes into.
RESPONSE_TYPES: dict[str, Any] = {
    "getOrdersForApi.response.json": p.Envelope[list[p.Order]],
    "getRefund.response.json": p.Envelope[p.RefundList],
    "cancel-items.response.json": p.Envelope[p.CancelList],
    "cancel.response.json": p.Envelope[p.DecisionResult],
    "updateRefund.response.review.json": p.Envelope[p.DecisionResult],
    "updateOrderStatus.response.json": p.Ack,
    "invoice-link.response.json": p.Ack,
    "invoice-link.response.item.json": p.Ack,
    "bulk-status-update.response.json": p.Ack,
    "getSellerDelivery.response.json": p.Envelope[p.SellerDelivery],
}

#: Product, catalogue, question and finance answers: outside the pipeline's scope, but they share
#: the envelope, so they prove ``Ack`` reads every answer the document prints.
ENVELOPE_ONLY: frozenset[str] = frozenset(
    {
        "addProductsWithBarcodes.response.json",
        "cities.response.json",
        "external-status.response.json",
        "getApprovalAnswerById.response.json",
        "getApprovalAnswersByMerchant.response.json",
        "getApprovalAnswersByMerchantSearch.response.json",
        "getBrands.response.json",
        "getCategoryTree.response.json",
        "getCategoryWithAttributes.response.json",
        "getProductBatchResult.response.json",
        "getProductDetail.response.json",
        "getProductTitleCodeSearch.response.json",
        "getQuestionStatus.response.json",
        "labor-costs.response.json",
        "lake-projections.response.json",
        "lake-projections.response-2.json",
        "paymentAgreement.response.json",
        "product-commercials.get.response.json",
        "product-commercials.post.response.json",
        "product-create.response.json",
        "products.response.approved.json",
        "products.response.unapproved.json",
        "questionTopics.response.json",
        "refund-revision.response.json",
        "sellerAnswer.response.json",
        "updatePrice-v2.response.json",
        "updateStock-v2.response.json",
        "upsertSellerProductSaleLimit.response.json",
        "vatRate-bulk.response.json",
    }
)


def _response_files() -> list[str]:
    return sorted(f.name for f in DATA.glob("*.json") if ".response" in f.name)


def test_every_golden_response_has_a_struct() -> None:
    assert set(_response_files()) == set(RESPONSE_TYPES) | ENVELOPE_ONLY


@pytest.mark.parametrize("name", _response_files())
def test_golden_response_decodes_strictly(name: str) -> None:
    target = RESPONSE_TYPES.get(name, p.Ack)
    decoded = msgspec.json.decode(_load(name), type=target, strict=True)
    assert decoded.success is True  # the document prints no failure body


def _orders() -> list[p.Order]:
    env = msgspec.json.decode(
        _load("getOrdersForApi.response.json"), type=p.Envelope[list[p.Order]], strict=True
    )
    assert env.data is not None
    return env.data


def test_order_sample_values() -> None:
    env = msgspec.json.decode(
        _load("getOrdersForApi.response.json"), type=p.Envelope[list[p.Order]], strict=True
    )
    assert env.message_code == "ORD0"
    [order] = _orders()
    assert order.order_id == "d4fb5f23-6330-4eb0-a81c-35847560df86"
    assert order.order_number == 235795225
    assert order.order_date == "2023-01-25 15:22"
    assert order.order_amount == Decimal("1.00")
    assert order.shipment_amount == Decimal("0.00")
    assert order.discount_amount == Decimal("0.20")
    assert order.currency == "TL"
    assert order.payment_type == 1
    assert order.customer_name == "PazaramaSipariş"
    assert order.customer_email == "pzrmsprs@pazarama.com"


def test_order_addresses_and_invoice_party() -> None:
    [order] = _orders()
    ship = order.shipment_address
    bill = order.billing_address
    assert ship is not None and bill is not None
    assert ship.city_name == "Kütahya"
    assert ship.district_name == "Merkez"
    assert ship.neighborhood_name == "Merkez Mah"
    assert ship.address_detail == "Cami sk. NO: 5"
    assert ship.phone_number == "054243029677"
    assert bill.invoice_type == 1
    assert p.INVOICE_TYPE[bill.invoice_type] == "Bireysel"
    assert bill.identity_number is None
    assert bill.company_name is None
    assert bill.tax_number is None
    assert bill.tax_office is None


def test_order_item_values() -> None:
    [order] = _orders()
    [item] = order.items
    assert item.order_item_id == "5516bd97-5344-4d22-a346-0f263c0f51ca"
    assert item.order_item_status == 3
    assert p.ORDER_ITEM_STATUS[item.order_item_status] == "Siparişiniz Alındı"
    assert item.quantity == 1
    assert item.list_price == p.MoneyValue(value=Decimal("1.00"), value_int=100, currency="TL")
    assert item.discount_amount is not None
    assert item.discount_amount.value_int == 20
    assert item.total_price is not None
    assert item.total_price.value_int == 100
    assert item.cargo == p.Cargo(
        company_name="PTT", tracking_number=None, tracking_url="https://gonderitakip.ptt.gov.tr"
    )
    product = item.product
    assert product is not None
    assert product.product_id == "0de9dde9-b7e6-47a8-7205-08daef63e1be"
    assert product.name == "DenemeTişörtDeneme"
    assert product.code == "deneroyaldene-1"
    assert product.stock_code is None
    assert product.vat_rate == 18


def test_order_fields_we_do_not_read_are_in_the_sample_and_never_decoded() -> None:
    # The sample's fields the adapter does not read (the Structs leave them out: each decoded
    # Decimal and Struct costs), as the document prints them...
    [order] = msgspec.json.decode(_load("getOrdersForApi.response.json"))["data"]
    [item] = order["items"]
    assert order["discountDescription"] == "Moda100"
    assert order["orderStatus"] == 3
    assert order["shipmentAddress"]["addressId"] == "faeebdb9-7c21-4b59-8b37-03a3793f1978"
    assert order["billingAddress"]["isEInvoiceObliged"] is False
    assert (item["shipmentCode"], item["deliveryType"], item["taxIncluded"]) == ("", 1, True)
    assert item["deliveryDetail"]["phoneNumber"] is None  # repaired from `"null ,`
    assert item["listPrice"]["valueString"] == "1,00 TL"
    assert (item["taxAmount"]["value"], item["taxAmount"]["valueInt"]) == (0.15, 15)
    assert item["product"]["imageURL"].endswith("denemetirtdeneme-1.png")
    assert item["product"]["variantOptionDisplay"] == "Gece Mavisi - Ekru/S"
    # ...so any value there, of any type, leaves the order decodable.
    for holder, name in [
        (order, "discountDescription"),
        (order, "orderStatus"),
        (item, "taxAmount"),
        (item, "shipmentCost"),
        (item, "deliveryDetail"),
        (item["listPrice"], "valueString"),
        (item["product"], "imageURL"),
    ]:
        holder[name] = {"unexpected": [1, "x"]}
    decoded = msgspec.json.decode(msgspec.json.encode(order), type=p.Order, strict=True)
    assert decoded.order_number == 235795225


def test_refund_sample_values() -> None:
    env = msgspec.json.decode(
        _load("getRefund.response.json"), type=p.Envelope[p.RefundList], strict=True
    )
    assert env.data is not None
    assert env.message == "null"  # a string in the sample, not JSON null
    assert env.data.response_page == p.ResponsePage(
        page_size=100, page_index=1, total_count=49, total_pages=1
    )
    [refund] = env.data.refund_list
    assert refund.refund_id == "ef2affaf-fdfc-4128-b5bc-3a4c1129e662"
    assert refund.order_number == 818589784
    assert refund.refund_number == 564213
    assert refund.refund_status == 1
    assert p.REFUND_TO_ITEM_STATUS[refund.refund_status] == 7
    assert refund.payment_type == "Banka/Kredi Kartı"
    assert refund.order_date == "6 Ekim 2021 14:53"
    assert refund.refund_date == "6 Ekim 2021 19:46"
    assert refund.total_amount == p.MoneyValue(value=Decimal("23.5"), value_int=2350, currency="TL")
    assert refund.refund_amount is not None
    assert refund.refund_amount.value_int == 175
    assert refund.shipment_company_name == "MNG"
    assert refund.shipment_code == 54895647251356
    assert refund.product_code == "201040500"
    assert refund.product_stock_code is None
    assert refund.description == "test"


def test_cancellation_sample_values() -> None:
    env = msgspec.json.decode(
        _load("cancel-items.response.json"), type=p.Envelope[p.CancelList], strict=True
    )
    assert env.data is not None
    assert env.data.response_page is not None
    assert env.data.response_page.total_pages == 0  # with one row: the page counts lie
    [item] = env.data.refund_list
    assert isinstance(item, p.CancelItem)
    assert item.refund_id == "59eff35d-b399-407d-bc0e-62821ce9f623"
    assert item.order_number == 696730236
    assert item.order_date == "1 Mart 2024 10:12"
    assert item.refund_date == "1 Mart 2024 10:21"
    assert item.refund_status == 1
    assert p.CANCELLATION_STATUS[item.refund_status] == item.refund_status_name == "Onay Bekliyor"
    assert item.refund_number is None
    assert item.quantity == 1
    assert item.product_code == "BPD55555"
    assert item.product_stock_code == "BP55550"
    assert item.refund_amount is not None
    assert item.refund_amount.value_int == 200


def test_decision_results_carry_a_label_not_a_code() -> None:
    cancel = msgspec.json.decode(
        _load("cancel.response.json"), type=p.Envelope[p.DecisionResult], strict=True
    )
    assert cancel.data == p.DecisionResult(
        order_number=696730236,
        request_no=0,
        refund_id="59eff35d-b399-407d-bc0e-62821ce9f623",
        order_item_id="37287b10-f93f-44ef-b10b-2566709cfd64",
        refund_type="Yanlışadresseçtim",
        refund_status="Tedarikçi TarafındanReddedildi",
    )
    review = msgspec.json.decode(
        _load("updateRefund.response.review.json"), type=p.Envelope[p.DecisionResult], strict=True
    )
    assert review.data is not None
    assert review.data.refund_status == "İncelemeye Gönderme Talep Edildi"
    assert review.data.refund_id == "00000000-0000-0000-0000-000000000000"


def test_carrier_ids_come_from_seller_delivery() -> None:
    env = msgspec.json.decode(
        _load("getSellerDelivery.response.json"), type=p.Envelope[p.SellerDelivery], strict=True
    )
    assert env.data is not None and env.data.cargo_company is not None
    cargo = env.data.cargo_company
    assert cargo.contracted is False
    ids = {c.cargo_company_name: c.cargo_company_id for c in cargo.cargo_companies}
    assert ids == {
        "MNG": "8eb9aeb7-fd11-425b-9930-08d8e48cc18f",
        "YurtiçiKargo": "7b5567ff-abe7-487e-5c79-08d8e480366a",
    }
    assert [c.cargo_card_type for c in cargo.cargo_companies] == [2, 1, 1, 2]


def _money_objects(node: object) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "valueInt" in node:
            found.append(node)
        for value in node.values():
            found += _money_objects(value)
    elif isinstance(node, list):
        for value in node:
            found += _money_objects(value)
    return found


def test_value_int_is_kurus_in_every_sample() -> None:
    money = [
        m
        for name in RESPONSE_TYPES
        for m in _money_objects(json.loads(_load(name), parse_float=Decimal))
    ]
    # 7 on the order item (shipmentCost … discountAmount), 2 on the refund, 2 on the cancellation.
    assert len(money) == 11
    for m in money:
        assert Decimal(m["value"]) * 100 == m["valueInt"], m


# --------------------------------------------------------------------------------------------
# Token: the document's sample was a screenshot, so these bodies are SYNTHETIC — the two shapes
# integrators report (OAuth and the Pazarama envelope) and the two error shapes.
# --------------------------------------------------------------------------------------------


def test_token_oauth_shape() -> None:
    body = (
        b'{"access_token":"eyJ.synthetic","expires_in":3600,"token_type":"Bearer",'
        b'"scope":"merchantgatewayapi.fullaccess"}'
    )
    token = msgspec.json.decode(body, type=p.TokenResponse, strict=True)
    assert token.bearer == "eyJ.synthetic"
    assert token.lifetime_seconds == 3600


def test_token_envelope_shape_falls_back_to_one_hour() -> None:
    body = (
        b'{"data":{"accessToken":"eyJ.synthetic"},"success":true,"messageCode":null,'
        b'"message":null,"userMessage":null}'
    )
    token = msgspec.json.decode(body, type=p.TokenResponse, strict=True)
    assert token.bearer == "eyJ.synthetic"
    assert token.lifetime_seconds == p.TOKEN_LIFETIME_SECONDS == 3600


@pytest.mark.parametrize(
    "body",
    [b'{"error":"invalid_client"}', b'{"messageCode":"invalid_token","success":false}'],
)
def test_token_error_shapes_have_no_bearer(body: bytes) -> None:
    token = msgspec.json.decode(body, type=p.TokenResponse, strict=True)
    assert token.bearer is None


# --------------------------------------------------------------------------------------------
# Requests we send, rebuilt by hand from the document and compared as parsed JSON.
# --------------------------------------------------------------------------------------------

_PNG = base64.b64decode(
    json.loads(_load("updateRefund.request.review.json"))["documentObjects"][0]["bytes"]
)

REQUESTS: dict[str, msgspec.Struct] = {
    "getOrdersForApi.request.orderNumber.json": p.GetOrdersRequest(
        order_number=735071747, start_date="2021-05-14T13:30", end_date="2021-05-24T17:30"
    ),
    "getOrdersForApi.request.paging.json": p.GetOrdersRequest(
        page_size=500, page_number=1, start_date="2023-02-01", end_date="2023-02-17"
    ),
    "getOrdersForApiV2.request.orderNumber.json": p.GetOrdersRequest(
        order_number=735071747, start_date="2024-09-01T00:01", end_date="2024-09-30T23:59"
    ),
    "getOrdersForApiV2.request.paging.json": p.GetOrdersRequest(
        page_size=500, page_number=1, start_date="2024-09-01", end_date="2024-09-30"
    ),
    "getRefund.request.json": p.GetRefundRequest(
        page_size=10,
        page_number=1,
        refund_status=1,
        request_start_date="2021-10-01",
        request_end_date="2021-10-08",
    ),
    "getRefund.request.splitItems.json": p.GetRefundRequest(
        page_size=10,
        page_number=1,
        refund_status=1,
        split_items=True,
        request_start_date="2021-10-01",
        request_end_date="2021-10-08",
    ),
    "cancel-items.request.json": p.GetCancelItemsRequest(
        page_size=10,
        page_number=1,
        refund_status=None,
        request_start_date="2024-02-20",
        request_end_date="2024-03-02",
        order_number=None,
    ),
    "updateOrderStatus.request.shipped.json": p.UpdateOrderStatusRequest(
        order_number=127063369,
        item=p.StatusItem(
            order_item_id="6b09a841-2fb1-4afb-bdc1-7078f95ba4c5",
            status=5,
            delivery_type=1,
            shipping_tracking_number="1615598038857",
            tracking_url="https://www.yurticikargo.com/",
            cargo_company_id="7b5567ff-abe7-487e-5c79-08d8e480366a",
        ),
    ),
    "updateOrderStatus.request.preparing.json": p.UpdateOrderStatusRequest(
        order_number=735071747,
        item=p.StatusItem(order_item_id="d6da388c-f465-4f9c-8800-afc9271b801b", status=12),
    ),
    "updateOrderStatusList.request.json": p.UpdateOrderStatusListRequest(
        order_number=735071747, status=11
    ),
    "bulk-status-update.request.json": p.BulkStatusUpdateRequest(
        order_number=236730742,
        order_item_ids=["3fa85f64-5717-4562-b3fc-2c963f66afa6"],
        update_shipment_dto=p.ShipmentUpdate(
            cargo_company_id="8eb9aeb7-fd11-425b-9930-08d8e48cc18f",
            delivery_type=1,
            shipment_number="PZörnek",
            shipping_tracking_number="604164846124örnek",
            status=5,
            sub_status=0,
            tracking_url="https://www.araskargo.com.tr/#!/takipörnek",
        ),
    ),
    "invoice-link.request.order.json": p.InvoiceLinkRequest(
        invoice_link="https://faturaUrl.pdf", order_id="0d145804-5d05-4e4a-a4a0-921e45c8a5e3"
    ),
    "invoice-link.request.package.json": p.InvoiceLinkRequest(
        invoice_link="https://faturaUrl.pdf",
        order_id="0d145804-5d05-4e4a-a4a0-921e45c8a5e3",
        delivery_company_id="6d6e004a-23b1-43d1-4d30-08d8e87e3449",
        tracking_number="321321321",
    ),
    "invoice-link.request.item.json": p.InvoiceLinkRequest(
        invoice_link="https://faturaUrl.pdf",
        order_item_id="209c4d98-08de-4ea4-b681-c4b148b2e8fb",
        order_id="0d145804-5d05-4e4a-a4a0-921e45c8a5e3",
        delivery_company_id="6d6e004a-23b1-43d1-4d30-08d8e87e3449",
        tracking_number="321321321",
    ),
    "updateRefund.request.approve.json": p.UpdateRefundRequest(
        refund_id="ef2affaf-fdfc-4128-b5bc-3a4c1129e662", status=2
    ),
    "updateRefund.request.reject.json": p.UpdateRefundRequest(
        refund_id="ef2affaf-fdfc-4128-b5bc-3a4c1129e662", status=3, refund_reject_type=1
    ),
    "updateRefund.request.review.json": p.UpdateRefundRequest(
        refund_id="14ecbc64-5a01-4979-980b-7f7a60ebb5e8",
        status=p.REFUND_REVIEW_STATUS,
        quantity=1,
        refund_reject_type=0,
        document_objects=[p.DocumentObject(name="images.png", content=_PNG)],
        refund_review_type=2,
        description="apiden iade incelecelemey gönderme test- fotograf var, yorum var",
    ),
    "cancel.request.json": p.CancelDecisionRequest(
        refund_id="59eff35d-b399-407d-bc0e-62821ce9f623", status=3
    ),
}

#: 3.18 prints `RefundRejectType` (PascalCase) where 3.29 prints `refundRejectType`; we send the
#: latter, which a .NET binder reads either way, so this one file is compared case-blind on keys.
CASE_BLIND_KEYS: frozenset[str] = frozenset({"updateRefund.request.reject.json"})

#: Request samples of endpoints the pipeline does not call (products, questions, finance …).
NOT_SENT: frozenset[str] = frozenset(
    {
        "addProductsWithBarcodes.request.json",
        "delivery-cancel.request.json",
        "delivery-split.request.json",
        "external-status.request.json",
        "getApprovalAnswersByMerchantSearch.request.json",
        "getProductDetail.request.json",
        "getProductTitleCodeSearch.request.json",
        "labor-costs.request.json",
        "paymentAgreement.request.json",
        "product-commercials.post.request.json",
        "product-commercials.put.request.json",
        "product-create.commercials-fragment.json",
        "product-create.request.json",
        "refund-revision.request.json",
        "sellerAnswer.request.json",
        "updatePrice-v2.request.json",
        "updateStock-v2.request.json",
        "upsertSellerProductCommercial.request.json",
        "upsertSellerProductSaleLimit.request.json",
        "vatRate-bulk.request.json",
    }
)


def _fold_keys(node: object) -> object:
    if isinstance(node, dict):
        return {k.lower(): _fold_keys(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_fold_keys(v) for v in node]
    return node


def test_every_golden_request_is_built_or_knowingly_skipped() -> None:
    files = {f.name for f in DATA.glob("*.json") if ".response" not in f.name}
    assert files == set(REQUESTS) | NOT_SENT


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_request_struct_reproduces_golden_request(name: str) -> None:
    ours = json.loads(msgspec.json.encode(REQUESTS[name]))
    theirs = json.loads(_load(name))
    if name in CASE_BLIND_KEYS:
        ours, theirs = _fold_keys(ours), _fold_keys(theirs)
    assert ours == theirs


def test_review_image_is_a_png_sent_as_base64() -> None:
    assert _PNG.startswith(b"\x89PNG\r\n\x1a\n")
    body = json.loads(msgspec.json.encode(REQUESTS["updateRefund.request.review.json"]))
    assert base64.b64decode(body["documentObjects"][0]["bytes"]) == _PNG


def test_unset_fields_are_omitted_and_none_fields_sent_as_null() -> None:
    status = json.loads(
        msgspec.json.encode(p.StatusItem(order_item_id="x", status=p.ITEM_STATUS_PREPARING))
    )
    assert status == {"orderItemId": "x", "status": 12}
    delivered = json.loads(msgspec.json.encode(p.ShipmentUpdate(status=11)))
    assert delivered == {
        "status": 11,
        "cargoCompanyId": None,
        "deliveryType": None,
        "shipmentNumber": None,
        "shippingTrackingNumber": None,
        "subStatus": None,
        "trackingUrl": None,
    }


# --------------------------------------------------------------------------------------------
# Tables and names against the document's text.
# --------------------------------------------------------------------------------------------


def _squashed_doc() -> str:
    if not DOC.exists():
        pytest.skip(f"vendor document not found at {DOC}")
    # The PDF extraction drops and inserts spaces at random; compare without any whitespace.
    return re.sub(r"\s+", "", DOC.read_text(encoding="utf-8"))


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize(
    ("field", "code", "label"),
    [
        (field, code, label)
        for field, table in p.STATUS_CODES.items()
        for code, label in table.items()
        if field not in {"RefundReviewType", "deliveryType"}
    ],
)
def test_code_table_entry_is_printed_in_the_document(field: str, code: int, label: str) -> None:
    doc = _squashed_doc()
    assert any(_squash(f"{code}{sep}{label}") in doc for sep in (":", "-")), (field, code)


@pytest.mark.parametrize(("code", "label"), sorted(p.DELIVERY_TYPE.items()))
def test_delivery_type_is_printed_in_the_document(code: int, label: str) -> None:
    assert f"{label}={code}" in _squashed_doc()


@pytest.mark.parametrize(("code", "label"), sorted(p.REFUND_REVIEW_TYPE.items()))
def test_review_type_is_printed_in_the_document(code: int, label: str) -> None:
    pattern = re.escape(_squash(f'[Display(Name = "{label}")]')) + rf"\w+={code},"
    assert re.search(pattern, _squashed_doc())


def test_tables_have_the_documented_sizes() -> None:
    assert len(p.ORDER_ITEM_STATUS) == 14
    assert sorted(p.REFUND_STATUS) == list(range(1, 9))
    assert sorted(p.REFUND_REJECT_TYPE) == list(range(1, 13))
    assert p.REFUND_DECISION_STATUS.keys() == {2, 3}
    assert p.REJECT_TYPES_WITHOUT_IMAGES.issubset(p.REFUND_REJECT_TYPE)


def _wire_structs() -> list[type[msgspec.Struct]]:
    found = [
        obj
        for obj in vars(p).values()
        if isinstance(obj, type)
        and issubclass(obj, msgspec.Struct)
        and obj.__module__ == p.__name__
    ]
    # The token answer is not in the document (its sample was a screenshot).
    return [s for s in found if s not in {p.TokenResponse, p.TokenData}]


@pytest.mark.parametrize("struct", _wire_structs(), ids=lambda s: s.__name__)
def test_every_wire_name_is_spelled_as_in_the_document(struct: type[msgspec.Struct]) -> None:
    doc = _squashed_doc()
    for field in msgspec.structs.fields(struct):
        assert f'"{field.encode_name}"' in doc, f"{struct.__name__}.{field.name}"


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

_json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


def _with_extra(node: object, extra: dict[str, object]) -> object:
    if isinstance(node, dict):
        grown = {k: _with_extra(v, extra) for k, v in node.items()}
        grown.update({k: v for k, v in extra.items() if k not in node})
        return grown
    if isinstance(node, list):
        return [_with_extra(v, extra) for v in node]
    return node


#: A new key must not be one we declare, or it would be a changed field, not an added one.
_DECLARED = {f.encode_name for s in _wire_structs() for f in msgspec.structs.fields(s)}
_new_keys = st.text(min_size=1, max_size=12).filter(lambda k: k not in _DECLARED)


@given(extra=st.dictionaries(_new_keys, _json_values, max_size=3))
def test_fields_the_vendor_adds_never_break_decoding(extra: dict[str, object]) -> None:
    for name, target in RESPONSE_TYPES.items():
        original = json.loads(_load(name))
        grown = json.dumps(_with_extra(original, extra)).encode()
        assert msgspec.json.decode(grown, type=target) == msgspec.json.decode(
            _load(name), type=target
        )


@given(
    refund_id=st.uuids().map(str),
    status=st.sampled_from(sorted(p.REFUND_DECISION_STATUS)),
    reject=st.none() | st.sampled_from(sorted(p.REFUND_REJECT_TYPE)),
    images=st.lists(st.binary(max_size=64), max_size=p.REFUND_MAX_DOCUMENTS),
    description=st.none() | st.text(max_size=40),
)
def test_refund_decision_round_trips(
    refund_id: str, status: int, reject: int | None, images: list[bytes], description: str | None
) -> None:
    request = p.UpdateRefundRequest(
        refund_id=refund_id,
        status=status,
        refund_reject_type=msgspec.UNSET if reject is None else reject,
        document_objects=[
            p.DocumentObject(name=f"{i}.png", content=b) for i, b in enumerate(images)
        ],
        description=msgspec.UNSET if description is None else description,
    )
    wire = msgspec.json.encode(request)
    assert msgspec.json.decode(wire, type=p.UpdateRefundRequest) == request
    assert ("refundRejectType" in json.loads(wire)) is (reject is not None)
