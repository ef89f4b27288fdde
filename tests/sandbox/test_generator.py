from __future__ import annotations

import datetime as dt
import random
import re
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.sandbox import catalogue, geography, identifiers
from pipeline.sandbox.generator import GeneratorSettings, OrderGenerator
from pipeline.sandbox.model import Order

START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
# Ğ never starts a Turkish word, so it cannot appear in capitalised names.
TURKISH_LETTERS = set("İıŞşğÜüÖöÇç")


def make_orders(seed: int, count: int = 300, **settings: Any) -> list[Order]:
    generator = OrderGenerator(GeneratorSettings(**settings))
    return [
        generator.order(
            random.Random(f"{seed}|{n}"),
            number=n,
            order_id=str(n),
            created_at=START + dt.timedelta(minutes=n),
            status="new",
        )
        for n in range(1, count + 1)
    ]


@pytest.fixture(scope="module")
def orders() -> list[Order]:
    return make_orders(seed=42)


def test_same_seed_gives_the_same_orders() -> None:
    assert msgspec.json.encode(make_orders(7, 50)) == msgspec.json.encode(make_orders(7, 50))


def test_different_seeds_give_different_orders() -> None:
    assert msgspec.json.encode(make_orders(7, 20)) != msgspec.json.encode(make_orders(8, 20))


def test_tc_kimlik_numbers_carry_valid_check_digits_or_the_e_arsiv_placeholder(
    orders: list[Order],
) -> None:
    numbers = [o.buyer.tc_kimlik for o in orders if o.buyer.kind == "individual"]
    assert numbers and all(n is not None for n in numbers)
    for number in numbers:
        assert number == identifiers.E_ARSIV_PLACEHOLDER_TC or identifiers.is_valid_tc_kimlik(
            number or ""
        )
    assert identifiers.E_ARSIV_PLACEHOLDER_TC in numbers
    assert not identifiers.is_valid_tc_kimlik(identifiers.E_ARSIV_PLACEHOLDER_TC)


def test_known_identifiers_validate_and_a_changed_digit_does_not() -> None:
    assert identifiers.is_valid_tc_kimlik("10000000146")
    assert not identifiers.is_valid_tc_kimlik("10000000145")
    assert not identifiers.is_valid_tc_kimlik("01234567890")
    for vkn in ("1234567890", "9876543217", "3250566851"):
        assert identifiers.is_valid_vkn(vkn)
    assert not identifiers.is_valid_vkn("1234567891")
    assert identifiers.is_valid_ean13("4006381333931")
    assert identifiers.is_valid_s10("EE473124829GB")


@given(st.integers(min_value=0, max_value=2**32))
def test_generated_identifiers_validate(seed: int) -> None:
    rng = random.Random(seed)
    assert identifiers.is_valid_tc_kimlik(identifiers.tc_kimlik(rng))
    assert identifiers.is_valid_vkn(identifiers.vkn(rng))
    assert identifiers.is_valid_ean13(identifiers.ean13(rng))
    assert identifiers.is_valid_s10(identifiers.s10(rng))


@given(st.text(alphabet="0123456789", min_size=12, max_size=12), st.integers(0, 11))
def test_ean13_check_digit_catches_any_single_digit_change(body: str, position: int) -> None:
    code = body + identifiers.ean13_check_digit(body)
    changed = str((int(code[position]) + 1) % 10)
    assert not identifiers.is_valid_ean13(code[:position] + changed + code[position + 1 :])


def test_catalogue_barcodes_are_valid_ean13_and_unique() -> None:
    barcodes = [p.barcode for p in catalogue.CATALOGUE]
    assert all(identifiers.is_valid_ean13(b) for b in barcodes)
    assert len(set(barcodes)) == len(barcodes)
    assert len({p.sku for p in catalogue.CATALOGUE}) == len(catalogue.CATALOGUE)


def _walk(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, msgspec.Struct):
        return [
            leaf
            for f in value.__struct_fields__
            for leaf in _walk(getattr(value, f), f"{path}.{f}")
        ]
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _walk(v, f"{path}[{k}]")]
    if isinstance(value, list | tuple):
        return [leaf for i, v in enumerate(value) for leaf in _walk(v, f"{path}[{i}]")]
    return [(path, value)]


def test_money_is_decimal_with_two_places_and_never_float(orders: list[Order]) -> None:
    for order in orders:
        leaves = _walk(order)
        assert not [p for p, v in leaves if isinstance(v, float)]
        for path, value in leaves:
            if isinstance(value, Decimal):
                assert value.as_tuple().exponent == -2, path
        for item in order.items:
            assert isinstance(item.total, Decimal) and isinstance(item.vat_amount, Decimal)


def test_totals_add_up(orders: list[Order]) -> None:
    for order in orders:
        t = order.totals
        assert t.total == t.subtotal - t.discount + t.shipping_fee
        assert t.subtotal == sum(i.unit_price * i.quantity for i in order.items)
        assert t.vat == sum(t.vat_by_rate.values())
        assert all(i.unit_price <= i.list_price and i.discount >= 0 for i in order.items)
        if order.coupon is not None:
            coupon = dict(catalogue.COUPONS)[order.coupon]
            assert sum(i.discount for i in order.items) == coupon
        else:
            assert t.discount == 0
    assert any(o.coupon for o in orders) and any(o.totals.shipping_fee == 0 for o in orders)


def test_vat_rates_are_todays_turkish_rates(orders: list[Order]) -> None:
    rates = {item.vat_rate for order in orders for item in order.items}
    assert rates <= {0, 1, 10, 20}
    assert {1, 10, 20} <= rates


def test_addresses_use_real_province_district_pairs(orders: list[Order]) -> None:
    assert len(geography.PROVINCE_DISTRICT_PAIRS) >= 40
    for order in orders:
        for address in (order.shipping_address, order.billing_address):
            assert (address.city, address.district) in geography.PROVINCE_DISTRICT_PAIRS
            plate = next(p.plate for p in geography.PROVINCES if p.name == address.city)
            assert re.fullmatch(rf"{plate:02d}\d{{3}}", address.postal_code)


def test_buyers_look_turkish_and_reachable(orders: list[Order]) -> None:
    names = "".join(o.buyer.full_name for o in orders)
    assert set(names) >= TURKISH_LETTERS
    for order in orders:
        buyer = order.buyer
        assert re.fullmatch(r"05\d{9}", buyer.phone)
        assert re.fullmatch(r"[a-z0-9._]+@[a-z.]+", buyer.email), buyer.email


def test_corporate_buyers_have_vkn_tax_office_and_company(orders: list[Order]) -> None:
    corporate = [o for o in orders if o.buyer.kind == "corporate"]
    assert corporate
    for order in corporate:
        buyer = order.buyer
        assert buyer.company_name and buyer.tc_kimlik is None
        assert identifiers.is_valid_vkn(buyer.vkn or "")
        assert buyer.tax_office in geography.TAX_OFFICES


def test_payment_channel_and_carrier_come_from_the_tables(orders: list[Order]) -> None:
    assert {o.payment_type for o in orders} <= set(catalogue.PAYMENT_TYPES)
    assert {o.sales_channel for o in orders} <= set(catalogue.SALES_CHANNELS)
    assert {o.carrier_code for o in orders} <= set(catalogue.CARRIERS_BY_CODE)
    assert {"credit_card", "bank_transfer", "cash_on_delivery"} <= {o.payment_type for o in orders}
    for order in orders:
        assert order.installments == 1 or order.payment_type == "credit_card"


@pytest.mark.parametrize("carrier", catalogue.CARRIERS, ids=lambda c: c.code)
def test_tracking_numbers_have_the_carriers_shape(carrier: catalogue.Carrier) -> None:
    number = carrier.tracking(random.Random(carrier.code))
    assert re.fullmatch(r"[A-Z]{2}\d{9}TR|HJ\d{10}|\d{10,16}", number), number
    if carrier.code == "ptt":
        assert identifiers.is_valid_s10(number)
    assert number in carrier.tracking_url(number)


def test_foreign_currency_orders_convert_prices() -> None:
    orders = make_orders(3, 40, currencies={"EUR": 1})
    assert {o.currency for o in orders} == {"EUR"}
    assert all(i.list_price < p.price for o in orders for i in o.items
               for p in catalogue.CATALOGUE if p.sku == i.sku)  # fmt: skip
