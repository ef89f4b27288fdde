"""The document's own samples, mapped to canonical values written by hand from the document."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.dates import parse_platform_datetime
from pipeline.errors import PlatformDecodeError
from pipeline.platforms.pazarama import mapping
from pipeline.platforms.pazarama import payloads as raw
from pipeline.platforms.pazarama.mapping import (
    ITEM_STATUS,
    derive_order_status,
    map_cancellation,
    map_order,
    map_refund,
)
from schemas import CancellationState, Money, OrderStatus, PartyKind, RefundState

DATA = Path(__file__).parents[2] / "data" / "pazarama"
S = OrderStatus


def _orders() -> list[raw.Order]:
    env = msgspec.json.decode(
        (DATA / "getOrdersForApi.response.json").read_bytes(), type=raw.Envelope[list[raw.Order]]
    )
    assert env.success and env.data is not None
    return env.data


def test_sample_order_maps_to_the_documented_values() -> None:
    order = map_order(_orders()[0], account="main")
    assert order.platform == "pazarama" and order.account == "main"
    assert order.order_id == "235795225" and order.order_number == "235795225"
    assert order.internal_id == "d4fb5f23-6330-4eb0-a81c-35847560df86"
    # "2023-01-25 15:22" Istanbul = 12:22 UTC
    assert order.created_at == dt.datetime(2023, 1, 25, 12, 22, tzinfo=dt.UTC)
    assert order.status is S.RECEIVED and order.raw_status == "3"
    assert order.totals.grand_total == Money.of("1.00", "TRY")
    assert order.totals.discount == Money.of("0.2", "TRY")
    assert order.totals.shipping == Money.of("0", "TRY")
    assert order.payment_type == "Banka/Kredi Kartı"
    assert order.customer is not None and order.customer.email == "pzrmsprs@pazarama.com"
    assert order.customer.phone == "054243029677"
    assert order.shipping_address is not None
    assert (order.shipping_address.city, order.shipping_address.district) == ("Kütahya", "Merkez")
    assert order.shipping_address.line == "Cami sk. NO: 5"
    assert order.billing is not None and order.billing.kind is PartyKind.INDIVIDUAL
    (item,) = order.items
    assert item.item_id == "5516bd97-5344-4d22-a346-0f263c0f51ca"
    assert item.quantity == 1
    assert item.unit_price == Money.from_minor(100) and item.line_total.amount == Decimal("1.00")
    assert item.discount == Money.from_minor(20)
    assert item.barcode == "deneroyaldene-1" and item.sku is None
    assert item.vat_rate == Decimal(18)  # the sample predates the 20 % rate; kept as sent
    assert item.status is S.RECEIVED and item.raw_status == "3"
    assert order.shipments == ()  # PTT named, but no tracking number yet


def test_sample_refund_row() -> None:
    env = msgspec.json.decode(
        (DATA / "getRefund.response.json").read_bytes(), type=raw.Envelope[raw.RefundList]
    )
    assert env.data is not None
    refund = map_refund(env.data.refund_list[0], account="main")
    assert refund.refund_id == "ef2affaf-fdfc-4128-b5bc-3a4c1129e662"
    assert refund.order_id == "818589784"
    assert refund.state is RefundState.REQUESTED and refund.raw_state == "1"
    assert refund.amount == Money.of("1.75", "TRY")
    # "6 Ekim 2021 19:46" Istanbul
    assert refund.requested_at == dt.datetime(2021, 10, 6, 16, 46, tzinfo=dt.UTC)
    assert refund.product_code == "201040500"
    assert refund.customer_note == "test"


def test_sample_cancellation_row() -> None:
    env = msgspec.json.decode(
        (DATA / "cancel-items.response.json").read_bytes(), type=raw.Envelope[raw.CancelList]
    )
    assert env.data is not None
    cancel = map_cancellation(env.data.refund_list[0], account="main")
    assert cancel.cancellation_id == "59eff35d-b399-407d-bc0e-62821ce9f623"
    assert cancel.order_id == "696730236"
    assert cancel.state is CancellationState.REQUESTED
    assert cancel.quantity == 1 and cancel.amount == Money.of("2.00", "TRY")
    assert cancel.requested_at == dt.datetime(2024, 3, 1, 7, 21, tzinfo=dt.UTC)


def test_every_documented_item_status_has_a_canonical_status() -> None:
    assert set(ITEM_STATUS) == set(raw.ORDER_ITEM_STATUS)
    assert S.UNKNOWN not in ITEM_STATUS.values()


def test_unknown_item_status_maps_to_unknown_and_keeps_the_code() -> None:
    order = _orders()[0]
    order.items[0].order_item_status = 99
    mapped = map_order(order, account="main")
    assert mapped.status is S.UNKNOWN and mapped.raw_status == "99"


def test_bad_date_names_field_account_and_order_but_no_personal_data() -> None:
    order = _orders()[0]
    order.order_date = "yarın"
    with pytest.raises(PlatformDecodeError) as info:
        map_order(order, account="main")
    text = str(info.value)
    assert "orderDate" in text and "main" in text and "235795225" in text and "yarın" in text
    assert "pzrmsprs" not in text


def test_valueint_disagreeing_with_value_is_an_error() -> None:
    order = _orders()[0]
    order.items[0].sale_price = raw.MoneyValue(value=Decimal("1.00"), value_int=1000, currency="TL")
    with pytest.raises(PlatformDecodeError, match="valueInt"):
        map_order(order, account="main")


def test_corporate_billing() -> None:
    order = _orders()[0]
    assert order.billing_address is not None
    order.billing_address.invoice_type = 2
    order.billing_address.company_name = "Deneme Ltd. Şti."
    order.billing_address.tax_number = 1234567890
    order.billing_address.tax_office = "Kütahya"
    billing = map_order(order, account="main").billing
    assert billing is not None and billing.kind is PartyKind.CORPORATE
    assert (billing.tax_number, billing.tax_office, billing.national_id) == (
        "1234567890",
        "Kütahya",
        None,
    )


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([S.RECEIVED, S.RECEIVED], S.RECEIVED),
        ([S.RECEIVED, S.PREPARING], S.RECEIVED),
        ([S.SHIPPED, S.DELIVERED], S.SHIPPED),
        ([S.DELIVERED, S.RETURN_REQUESTED], S.RETURN_REQUESTED),
        ([S.PREPARING, S.CANCEL_REQUESTED], S.CANCEL_REQUESTED),
        ([S.CANCELLED, S.SUPPLY_FAILED], S.CANCELLED),
        ([S.CANCELLED, S.RETURNED], S.RETURNED),
        ([S.CANCELLED, S.PREPARING], S.PARTIALLY_CANCELLED),
        ([S.CANCELLED, S.DELIVERED], S.DELIVERED),
        ([S.RETURNED, S.DELIVERED], S.PARTIALLY_RETURNED),
        ([S.DELIVERED, S.UNKNOWN], S.UNKNOWN),
        ([], S.UNKNOWN),
    ],
)
def test_order_status_rule(items: list[OrderStatus], expected: OrderStatus) -> None:
    assert derive_order_status(items) is expected


@given(st.lists(st.sampled_from(sorted(set(ITEM_STATUS.values()))), min_size=1, max_size=6))
def test_order_status_is_independent_of_item_order(items: list[OrderStatus]) -> None:
    assert derive_order_status(items) is derive_order_status(list(reversed(items)))
    assert derive_order_status(items) in {
        *items,
        S.PARTIALLY_CANCELLED,
        S.PARTIALLY_RETURNED,
        S.RETURNED,
        S.CANCELLED,
    }


def _mutated_bodies() -> st.SearchStrategy[bytes]:
    """Truncated, retyped and random versions of the document's getOrdersForApi sample."""
    sample = (DATA / "getOrdersForApi.response.json").read_bytes()
    truncated = st.integers(0, len(sample)).map(lambda n: sample[:n])
    paths = st.sampled_from(
        [
            ("orderNumber",),
            ("orderDate",),
            ("orderAmount",),
            ("items", 0, "orderItemStatus"),
            ("items", 0, "quantity"),
            ("items", 0, "salePrice", "valueInt"),
            ("items", 0, "salePrice", "value"),
            ("items", 0, "product", "vatRate"),
            ("billingAddress", "taxNumber"),
        ]
    )
    values = st.one_of(
        st.none(),
        st.integers(),
        st.floats(allow_nan=True),
        st.text(max_size=12),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )

    def retype(pair: tuple[tuple[object, ...], object]) -> bytes:
        path, value = pair
        doc = msgspec.json.decode(sample)
        node = doc["data"][0]
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return msgspec.json.encode(doc)

    return truncated | st.tuples(paths, values).map(retype) | st.binary(max_size=64)


@given(_mutated_bodies())
def test_random_bodies_give_orders_or_typed_errors(body: bytes) -> None:
    from pipeline.http import RequestContext, decode

    ctx = RequestContext("pazarama", "main", "order/getOrdersForApi")
    try:
        envelope = decode(ctx, body, raw.Envelope[list[raw.Order]])
        for order in envelope.data or []:
            mapped = map_order(order, account="main")
            assert mapped.order_id == str(order.order_number)
    except PlatformDecodeError:
        pass  # a typed error naming the account and endpoint is the promised outcome


@given(st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 12, 31)))
def test_the_order_date_fast_path_reads_what_the_general_parser_reads(moment: dt.datetime) -> None:
    text = moment.strftime("%Y-%m-%d %H:%M")
    assert mapping._order_time(text) == parse_platform_datetime(text)


@pytest.mark.parametrize(
    "text",
    [
        "2023-W01-1 15:22",
        "2023-01-25T15:22",
        "2023-13-25 15:22",
        "2023-01-25 15:2²",
        " 2023-01-25 15:22",
        "6 Ekim 2021 14:53",
    ],
)
def test_other_order_date_shapes_go_to_the_general_parser(text: str) -> None:
    assert mapping._order_time(text) is None
