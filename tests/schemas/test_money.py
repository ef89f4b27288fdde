import decimal
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import Money, normalize_currency

amounts = st.decimals(
    allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9), max_value=10**9
)
currencies = st.sampled_from(["TRY", "EUR", "USD"])


def test_tl_becomes_try() -> None:
    assert Money.of("10", "TL").currency == "TRY"
    assert normalize_currency(" tl ") == "TRY"
    assert msgspec.json.decode(b'{"amount":"1.00","currency":"TL"}', type=Money).currency == "TRY"


def test_unknown_currency_is_an_error_naming_the_value() -> None:
    with pytest.raises(ValueError, match="'LIRA'"):
        Money.of("1", "LIRA")
    with pytest.raises(msgspec.ValidationError, match="LIRA"):
        msgspec.json.decode(b'{"amount":"1.00","currency":"LIRA"}', type=Money)


def test_float_is_refused_everywhere() -> None:
    with pytest.raises(TypeError):
        Money.of(0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money.of("1.00") * 1.5  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money(amount=0.1, currency="TRY")  # type: ignore[arg-type]


def test_json_number_is_read_exactly_and_written_as_string() -> None:
    money = msgspec.json.decode(b'{"amount": 0.1, "currency": "TRY"}', type=Money)
    assert money.amount == Decimal("0.1")
    assert msgspec.json.encode(money) == b'{"amount":"0.1","currency":"TRY"}'


def test_currency_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="TRY vs EUR"):
        Money.of("1", "TRY") + Money.of("1", "EUR")


def test_from_minor_units() -> None:
    assert Money.from_minor(14990).amount == Decimal("149.90")
    assert Money.from_minor(-5).amount == Decimal("-0.05")


def test_quantize_rounds_half_up() -> None:
    assert Money.of("0.125").quantized().amount == Decimal("0.13")


@given(amounts, amounts, currencies)
def test_addition_is_exact(a: Decimal, b: Decimal, cur: str) -> None:
    with decimal.localcontext(decimal.Context(prec=50)):
        total = Money.of(a, cur) + Money.of(b, cur)
        assert total.amount == a + b
        assert (total - Money.of(b, cur)).amount == a


@given(amounts, currencies)
def test_json_round_trip_keeps_every_digit(a: Decimal, cur: str) -> None:
    money = Money.of(a, cur)
    raw = msgspec.json.encode(money)
    assert f'"amount":"{a}"'.encode() in raw  # a string, never a JSON number
    assert msgspec.json.decode(raw, type=Money) == money


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_minor_units_round_trip(n: int) -> None:
    assert Money.from_minor(n).amount * 100 == n
