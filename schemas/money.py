"""Exact money: a ``Decimal`` amount with an ISO 4217 currency code.

No float ever enters: :meth:`Money.of` refuses ``float``, JSON carries the amount as a string,
and arithmetic between different currencies is an error rather than a silent mix.
"""

from __future__ import annotations

import decimal
import re
from typing import Any, Final

import msgspec

#: Spellings platforms use for a currency, mapped to ISO 4217. Keys are upper-cased.
CURRENCY_ALIASES: Final[dict[str, str]] = {
    "TL": "TRY",
    "YTL": "TRY",
    "TRL": "TRY",
    "₺": "TRY",
    "TRY": "TRY",
    "EUR": "EUR",
    "€": "EUR",
    "EURO": "EUR",
    "USD": "USD",
    "$": "USD",
    "GBP": "GBP",
}
_ISO = re.compile(r"^[A-Z]{3}$")
_CANONICAL: Final = frozenset(CURRENCY_ALIASES.values())
_MINOR_UNIT: Final = decimal.Decimal("0.01")


def normalize_currency(code: str) -> str:
    """Return the ISO 4217 code for a platform's spelling (``"TL"`` → ``"TRY"``).

    Raises ``ValueError`` naming the value when it is neither a known alias nor an ISO code.
    """
    key = code.strip().upper()
    if key in CURRENCY_ALIASES:
        return CURRENCY_ALIASES[key]
    if _ISO.match(key):
        return key
    raise ValueError(f"unknown currency {code!r}")


class Money(msgspec.Struct, frozen=True, kw_only=True):
    """An exact amount of one currency. JSON: ``{"amount": "149.90", "currency": "TRY"}``."""

    amount: decimal.Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, decimal.Decimal):
            raise TypeError(f"Money.amount must be Decimal, got {type(self.amount).__name__}")
        if not self.amount.is_finite():
            raise ValueError(f"Money.amount must be finite, got {self.amount}")
        if self.currency in _CANONICAL:  # the common case: nothing to normalize
            return
        iso = normalize_currency(self.currency)
        if iso != self.currency:
            msgspec.structs.force_setattr(self, "currency", iso)

    @classmethod
    def of(cls, amount: decimal.Decimal | int | str, currency: str = "TRY") -> Money:
        """Build from a Decimal, an int or a decimal string; a ``float`` is refused."""
        if isinstance(amount, float):
            raise TypeError("Money refuses float amounts; pass a str or Decimal")
        if isinstance(amount, bool):
            raise TypeError("Money refuses bool amounts")
        try:
            value = decimal.Decimal(amount.strip() if isinstance(amount, str) else amount)
        except decimal.InvalidOperation as exc:
            raise ValueError(f"invalid money amount {amount!r}") from exc
        return cls(amount=value, currency=currency)

    @classmethod
    def from_minor(cls, minor_units: int, currency: str = "TRY") -> Money:
        """Build from an integer count of minor units (kuruş, cents): 14990 → 149.90."""
        if not isinstance(minor_units, int) or isinstance(minor_units, bool):
            raise TypeError("minor units must be an int")
        return cls(amount=decimal.Decimal(minor_units).scaleb(-2), currency=currency)

    @classmethod
    def zero(cls, currency: str = "TRY") -> Money:
        return cls(amount=decimal.Decimal("0.00"), currency=currency)

    def _same(self, other: Any) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise ValueError(f"currency mismatch: {self.currency} vs {other.currency}")
        return other

    def __add__(self, other: Money) -> Money:
        return Money(amount=self.amount + self._same(other).amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(amount=self.amount - self._same(other).amount, currency=self.currency)

    def __mul__(self, factor: int | decimal.Decimal) -> Money:
        if isinstance(factor, float | bool) or not isinstance(factor, int | decimal.Decimal):
            raise TypeError("Money can be multiplied by int or Decimal only")
        return Money(amount=self.amount * factor, currency=self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money(amount=-self.amount, currency=self.currency)

    def quantized(self) -> Money:
        """Rounded half-up to minor units (what an invoice shows)."""
        return Money(
            amount=self.amount.quantize(_MINOR_UNIT, rounding=decimal.ROUND_HALF_UP),
            currency=self.currency,
        )

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
