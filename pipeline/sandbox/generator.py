"""A seeded generator of realistic Turkish orders (the sandboxes' ground truth).

Everything drawn comes from the ``random.Random`` the caller passes, so the same seed gives the
same orders on every machine and Python version (string seeds hash with SHA-512, never with
``hash()``). Money is built from ``Decimal`` strings and never passes through ``float``.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Sequence
from decimal import Decimal

import msgspec

from pipeline.sandbox import catalogue, geography, identifiers, people
from pipeline.sandbox.model import (
    Address,
    Buyer,
    Item,
    Order,
    StatusChange,
    compute_totals,
    money,
)

_ZERO = Decimal("0.00")


class GeneratorSettings(msgspec.Struct, frozen=True, kw_only=True):
    corporate_share: float = 0.15
    placeholder_tc_share: float = 0.05  # e-Arşiv buyers who gave no TC kimlik no
    separate_billing_share: float = 0.2
    max_lines: int = 4
    max_quantity: int = 3
    markdown_share: float = 0.3  # sale price below list price
    coupon_share: float = 0.2
    note_share: float = 0.1
    free_shipping_over: Decimal = Decimal("500.00")
    shipping_fees: tuple[Decimal, ...] = (Decimal("39.99"), Decimal("49.90"), Decimal("59.99"))
    # ISO currency → weight; a non-TRY currency needs a rate below (TRY price × rate).
    currencies: dict[str, int] = msgspec.field(default_factory=lambda: {"TRY": 1})
    rates: dict[str, Decimal] = msgspec.field(
        default_factory=lambda: {"EUR": Decimal("0.027"), "USD": Decimal("0.029")}
    )


def seeded_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class OrderGenerator:
    """Draws orders: buyer, addresses, lines from the catalogue, prices, payment and carrier."""

    def __init__(
        self,
        settings: GeneratorSettings | None = None,
        *,
        products: Sequence[catalogue.Product] = catalogue.CATALOGUE,
        carriers: Sequence[catalogue.Carrier] = catalogue.CARRIERS,
        carrier_weights: Sequence[int] | None = None,
    ) -> None:
        self.settings = settings or GeneratorSettings()
        self.products = tuple(products)
        self.carriers = tuple(carriers)
        if carrier_weights is None:
            carrier_weights = (
                catalogue.CARRIER_WEIGHTS
                if self.carriers == catalogue.CARRIERS
                else [1] * len(self.carriers)
            )
        self.carrier_weights = tuple(carrier_weights)

    def order(
        self,
        rng: random.Random,
        *,
        number: int,
        order_id: str,
        created_at: dt.datetime,
        status: str,
    ) -> Order:
        s = self.settings
        order_uuid = seeded_uuid(rng)
        buyer = self.buyer(rng)
        shipping = self.address(rng, buyer.full_name, buyer.phone)
        if buyer.kind == "corporate" or rng.random() < s.separate_billing_share:
            billing = self.address(rng, buyer.full_name, buyer.phone, title="İş")
        else:
            billing = msgspec.structs.replace(shipping)
        if buyer.kind == "corporate":
            province = next(p for p in geography.PROVINCES if p.name == billing.city)
            buyer.tax_office = f"{rng.choice(province.tax_offices)} Vergi Dairesi"
        currency = rng.choices(list(s.currencies), weights=list(s.currencies.values()))[0]
        items = self.items(rng, currency=currency, created_at=created_at, status=status)
        coupon = self._apply_coupon(rng, items, currency)
        net = sum((i.total for i in items), _ZERO)
        shipping_fee = _ZERO if net >= s.free_shipping_over else rng.choice(s.shipping_fees)
        if currency != "TRY":
            shipping_fee = money(shipping_fee * s.rates[currency])
        payment = rng.choices(list(catalogue.PAYMENT_TYPES), weights=catalogue.PAYMENT_WEIGHTS)[0]
        installments = rng.choice(catalogue.INSTALLMENT_CHOICES) if payment == "credit_card" else 1
        channels = catalogue.SALES_CHANNELS
        carrier = rng.choices(self.carriers, weights=self.carrier_weights)[0]
        note = rng.choice(catalogue.ORDER_NOTES) if rng.random() < s.note_share else None
        return Order(
            number=number,
            id=order_id,
            uuid=order_uuid,
            created_at=created_at,
            updated_at=created_at,
            status=status,
            buyer=buyer,
            shipping_address=shipping,
            billing_address=billing,
            items=items,
            currency=currency,
            totals=compute_totals(items, shipping_fee),
            payment_type=payment,
            installments=installments,
            sales_channel=rng.choices(list(channels), weights=list(channels.values()))[0],
            carrier_code=carrier.code,
            coupon=coupon,
            note=note,
            history=[StatusChange(at=created_at, target=status, actor="customer")],
        )

    def buyer(self, rng: random.Random) -> Buyer:
        first, last = people.full_name(rng)
        buyer = Buyer(
            kind="individual",
            first_name=first,
            last_name=last,
            email=people.email(rng, first, last),
            phone=people.mobile_phone(rng),
        )
        if rng.random() < self.settings.corporate_share:
            buyer.kind = "corporate"
            buyer.company_name = people.company_name(rng)
            buyer.vkn = identifiers.vkn(rng)
            buyer.e_invoice_obliged = rng.random() < 0.5
        elif rng.random() < self.settings.placeholder_tc_share:
            buyer.tc_kimlik = identifiers.E_ARSIV_PLACEHOLDER_TC
        else:
            buyer.tc_kimlik = identifiers.tc_kimlik(rng)
        return buyer

    def address(self, rng: random.Random, name: str, phone: str, *, title: str = "Ev") -> Address:
        provinces = geography.PROVINCES
        province = rng.choices(provinces, weights=[p.weight for p in provinces])[0]
        building = f"No: {rng.randint(1, 180)}"
        if rng.random() < 0.8:
            building += f" D: {rng.randint(1, 24)}"
        return Address(
            full_name=name,
            phone=phone,
            city=province.name,
            district=rng.choice(province.districts),
            neighbourhood=rng.choice(geography.NEIGHBOURHOODS),
            line=f"{rng.choice(geography.STREETS)} {building}",
            postal_code=f"{province.plate:02d}{rng.randint(0, 999):03d}",
            title=title,
        )

    def items(
        self, rng: random.Random, *, currency: str, created_at: dt.datetime, status: str
    ) -> list[Item]:
        s = self.settings
        sizes = range(1, s.max_lines + 1)
        count = rng.choices(sizes, weights=[2 ** (s.max_lines - n) for n in sizes])[0]
        products = rng.sample(self.products, k=min(count, len(self.products)))
        items: list[Item] = []
        for line, product in enumerate(products, start=1):
            list_price = product.price
            if currency != "TRY":
                list_price = money(list_price * s.rates[currency])
            unit_price = list_price
            if rng.random() < s.markdown_share:
                percent = rng.choice((5, 10, 15, 20, 25))
                unit_price = money(list_price * (100 - percent) / 100)
            quantity = 1 if rng.random() < 0.7 else rng.randint(2, s.max_quantity)
            items.append(
                Item(
                    line=line,
                    uuid=seeded_uuid(rng),
                    sku=product.sku,
                    barcode=product.barcode,
                    name=product.name,
                    brand=product.brand,
                    category=product.category,
                    variant=rng.choice(product.variants) if product.variants else None,
                    quantity=quantity,
                    list_price=list_price,
                    unit_price=unit_price,
                    vat_rate=product.vat_rate,
                    discount=_ZERO,
                    status=status,
                    status_since=created_at,
                )
            )
        return items

    def _apply_coupon(self, rng: random.Random, items: list[Item], currency: str) -> str | None:
        """Spread a coupon over the lines in proportion to their value (last line takes the
        remainder), so line discounts add up to the coupon exactly."""
        if rng.random() >= self.settings.coupon_share:
            return None
        code, amount = rng.choice(catalogue.COUPONS)
        if currency != "TRY":
            amount = money(amount * self.settings.rates[currency])
        gross = sum((i.gross for i in items), _ZERO)
        if gross < amount * 4:  # coupons carry a minimum basket
            return None
        left = amount
        for item in items[:-1]:
            share = money(amount * item.gross / gross)
            item.discount = share
            left -= share
        items[-1].discount = left
        return code
