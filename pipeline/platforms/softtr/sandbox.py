"""The Softtr simulator: the document's paths under ``/api``, Basic auth, the day-filtered list,
details, and atomic batched status writes, on the shared framework (:mod:`pipeline.sandbox`).

Readings of ``platform-docs/softtr.txt`` (the adapter's docstrings list the client's side):

* **Auth.** HTTP Basic with a tenant's ``username``/``password`` (default ``sandbox-username`` /
  ``sandbox-password``). Anything else: 401 "Kullanıcı bilgileri eksik yada yanlış", on every
  path under ``/api`` (also unknown ones, which otherwise answer 404).
* **Envelope.** Every answer is ``{"status", "message": {"code", "detail": {"requestID"}}}``
  plus ``data`` where the document shows one. ``requestID`` is 32 hex digits derived from the
  request-log id (:meth:`SofttrSandbox.vendor_request_id`), so tests can relate the two.
  **Invented**: the document prints no error body; errors use the same envelope with the HTTP
  status as ``status``/``message.code`` and the table's text in ``message.detail.message``.
* **List.** ``pageSize`` 1-100 (default 100), ``page`` ≥ 1 (default 1); anything else is
  400 "<param> Boş ya da Geçersiz". ``startDate``/``endDate`` are ``dd-mm-yyyy`` Istanbul days,
  both **inclusive**; ``startDate`` alone (the document's own example) lists from that day on;
  ``endDate`` without ``startDate`` is refused ("startDate Boş ya da Geçersiz": the table makes
  startDate mandatory with endDate); ``endDate`` before ``startDate`` is refused ("endDate Boş
  ya da Geçersiz", invented). Orders are listed **newest first** (the hostile choice: orders
  arriving while a client pages shift the pages). A page past the end has empty ``content``.
* **Detail.** ``GET /order/{orderno}``; unknown numbers: 404 "Geçersiz veya bulunamayan kaynak".
* **Status writes.** ``POST /orders/updateOrderStatus`` takes a JSON array: not an array or
  empty → 400 "Geçersiz istek"; more than 100 entries → 400 "Data sınırı aşıldı"; a missing or
  unknown ``orderno`` → 400 "orderno Boş ya da Geçersiz"; a status outside the enum, or a move
  the seller table refuses → 400 "status Boş ya da Geçersiz". A refused call changes nothing
  (atomic: the document does not say, and all-or-nothing is the reading a client must survive).
  Entries for one order inside one array are applied in array order. The document states no
  transition rules, so the seller table allows every status from every status; a subclass can
  declare a stricter :class:`~pipeline.sandbox.Lifecycle`.
* **Stock.** ``POST /products/updateStokAndPrice`` checks the same array rules (≤ 100 entries,
  the four documented fields) and records the write; ``GET /products/list`` has no documented
  answer and is not simulated (404).
* **Other methods** on a documented path: 405 "Geçersiz istek".
* **Time.** New orders start at WAITING (the enum's first value) and never move by themselves:
  the API cannot show a status, so a change the seller did not make would be invisible anyway.
  Order numbers are ``ddmmyyyyHHMMSS-XXX`` of the Istanbul creation time; creation times are
  whole seconds (the number is the platform's only clock). The three letters are a bijection of
  the order counter, so orders created in the same second never collide.
* **Money.** ``orderAmount`` = goods after the coupon, *without* ``cargoCharge`` (as in the
  document's detail sample); ``taxAmount`` the VAT in it; ``itemUnitPrice`` the VAT-inclusive
  price before the coupon. Everything is TRY (no currency field exists).
* **Rate limits.** None documented, none enforced by default; rules passed to the constructor
  answer 429 in the vendor's envelope with ``Retry-After`` (invented shape).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, Final

import msgspec
from aiohttp import web

from pipeline.clock import Clock
from pipeline.platforms.softtr import payloads as raw
from pipeline.sandbox import (
    ANONYMOUS,
    PAYMENT_TYPES,
    Identity,
    Lifecycle,
    Order,
    OrderGenerator,
    RateLimitRule,
    Refusal,
    Sandbox,
    SandboxSettings,
    Tenant,
    basic_credentials,
    local,
)
from pipeline.sandbox.model import Item

STATUSES: Final = raw.ORDER_STATUSES
INITIAL: Final = "WAITING"
#: The document restricts no move: every status may be set from every status.
SELLER: Final[dict[str, set[str]]] = {s: set(STATUSES) for s in STATUSES}
#: The generator's sales channels → ``orderSource`` (the app sells through the shop's site).
ORDER_SOURCE: Final[dict[str, str]] = {
    "website": "WEBSITE",
    "mobile_app": "WEBSITE",
    "trendyol": "TRENDYOL",
    "hepsiburada": "HEPSIBURADA",
    "n11": "N11",
    "ciceksepeti": "CICEKSEPETI",
}
_DAY = re.compile(r"^\d{2}-\d{2}-\d{4}$")
_LETTERS = 26**3
_STOCK_FIELDS: Final = ("barcode", "mainProductPrice", "variantPrice", "stockAmount")


def order_letters(number: int) -> str:
    """Three letters that differ for any two counters less than 26³ apart."""
    n = (number * 7919 + 4729) % _LETTERS  # 7919 is prime to 26³ = 2³·13³: a bijection
    return "".join(chr(65 + (n // 26**k) % 26) for k in (2, 1, 0))


class _WholeSeconds(OrderGenerator):
    """Orders in whole seconds and lira: the order number is Softtr's only clock."""

    def order(
        self,
        rng: random.Random,
        *,
        number: int,
        order_id: str,
        created_at: dt.datetime,
        status: str,
    ) -> Order:
        return super().order(
            rng,
            number=number,
            order_id=order_id,
            created_at=created_at.replace(microsecond=0),
            status=status,
        )


class _Refused(Exception):
    """A 4xx answer with the vendor's text, raised by validators."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


_Handler = Callable[[web.Request, Tenant], Awaitable[web.Response]]


def _bad(parameter: str) -> _Refused:
    return _Refused(400, raw.INVALID_PARAMETER.format(parametre=parameter))


class SofttrSandbox(Sandbox):
    platform = "softtr"
    credential_keys = ("username", "password")
    base_path = "/api"
    lifecycle = Lifecycle(statuses=STATUSES, initial=INITIAL, seller=SELLER)

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        settings: SandboxSettings | None = None,
        rules: Sequence[RateLimitRule] = (),
    ) -> None:
        self._rules = list(rules)
        self._refusals = 0
        super().__init__(clock=clock, settings=settings)

    # -- framework hooks ------------------------------------------------------------------------

    def make_generator(self) -> OrderGenerator:
        settings = msgspec.structs.replace(self.settings.generator, currencies={"TRY": 1})
        return _WholeSeconds(settings)

    def format_order_id(self, number: int, created_at: dt.datetime, rng: random.Random) -> str:
        return f"{local(created_at):%d%m%Y%H%M%S}-{order_letters(number)}"

    def rate_limit_rules(self) -> Sequence[RateLimitRule]:
        return self._rules

    def rate_limit_response(self, refusal: Refusal) -> web.StreamResponse:
        self._refusals += 1
        request_id = self._hex(f"refusal|{self._refusals}")
        body = _envelope(429, request_id, "Too Many Requests")
        return self.json(body, status=429, headers={"Retry-After": refusal.retry_after_header})

    def identify(self, request: web.Request, body: bytes) -> Identity:
        pair = basic_credentials(request)
        if pair is None:
            return ANONYMOUS
        tenant = self.tenant_for(username=pair[0], password=pair[1])
        return Identity(f"{tenant.label}:basic", tenant) if tenant else Identity("invalid:basic")

    def routes(self) -> Iterable[web.RouteDef]:
        guard = self._guarded
        return [
            web.get("/orders", guard(self.list_orders)),
            web.route("*", "/orders", guard(self.not_allowed)),
            web.get("/order/{orderno}", guard(self.show_order)),
            web.route("*", "/order/{orderno}", guard(self.not_allowed)),
            web.post("/orders/updateOrderStatus", guard(self.update_status)),
            web.route("*", "/orders/updateOrderStatus", guard(self.not_allowed)),
            web.post("/products/updateStokAndPrice", guard(self.update_stock)),
            web.route("*", "/products/updateStokAndPrice", guard(self.not_allowed)),
            web.route("*", "/{tail:.*}", guard(self.not_found)),
        ]

    # -- answers --------------------------------------------------------------------------------

    def _hex(self, text: str) -> str:
        seed = f"{self.platform}|{self.settings.seed}|{text}".encode()
        return hashlib.blake2b(seed, digest_size=16).hexdigest()

    def vendor_request_id(self, log_id: str) -> str:
        """The ``requestID`` answered to the request logged as ``log_id``."""
        return self._hex(log_id)

    def answer(
        self, request: web.Request, status: int, text: str | None = None, data: Any = None
    ) -> web.Response:
        log_id = self.request_id(request) or "unlogged"
        body = _envelope(status, self.vendor_request_id(log_id), text)
        if data is not None:
            body["data"] = data
        return self.json(body, status=status)

    def _guarded(self, handler: _Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        """Authenticate first (401 on every path), then turn a :class:`_Refused` into its answer."""

        async def guarded(request: web.Request) -> web.Response:
            tenant = self.identity(request).tenant
            if tenant is None:
                return self.answer(request, 401, raw.GENERAL_ERRORS[401][1])
            try:
                return await handler(request, tenant)
            except _Refused as refusal:
                return self.answer(request, refusal.status, refusal.text)

        return guarded

    # -- handlers -------------------------------------------------------------------------------

    async def not_allowed(self, request: web.Request, tenant: Tenant) -> web.Response:
        raise _Refused(405, raw.GENERAL_ERRORS[405][1])

    async def not_found(self, request: web.Request, tenant: Tenant) -> web.Response:
        raise _Refused(404, raw.GENERAL_ERRORS[404][1])

    async def list_orders(self, request: web.Request, tenant: Tenant) -> web.Response:
        size = _int_param(request, "pageSize", raw.MAX_PAGE_SIZE, high=raw.MAX_PAGE_SIZE)
        page = _int_param(request, "page", 1)
        first, last = _day_range(request)

        def listed(order: Order) -> bool:
            day = local(order.created_at).date()
            return (first is None or first <= day) and (last is None or day <= last)

        orders = sorted(
            tenant.world.find(listed), key=lambda o: (o.created_at, o.number), reverse=True
        )
        data = {
            "orderCount": len(orders),
            "pageCount": math.ceil(len(orders) / size),
            "size": size,
            "page": page,
            "content": [_row(o) for o in orders[(page - 1) * size : page * size]],
        }
        return self.answer(request, 200, data=data)

    async def show_order(self, request: web.Request, tenant: Tenant) -> web.Response:
        order = tenant.world.get(request.match_info["orderno"])
        if order is None:
            raise _Refused(404, raw.GENERAL_ERRORS[404][1])
        return self.answer(request, 200, data={"content": _detail(order)})

    def _array(self, request: web.Request) -> list[Any]:
        try:
            entries = msgspec.json.decode(self.body(request))
        except msgspec.DecodeError:
            raise _Refused(400, raw.INVALID_REQUEST) from None
        if not isinstance(entries, list) or not entries:
            raise _Refused(400, raw.INVALID_REQUEST)
        if len(entries) > raw.MAX_STATUS_BATCH:
            raise _Refused(400, raw.DATA_LIMIT_EXCEEDED)
        return entries

    async def update_status(self, request: web.Request, tenant: Tenant) -> web.Response:
        world, log_id = tenant.world, self.request_id(request)
        try:
            writes = _status_entries(self._array(request))
            current: dict[str, str] = {}
            for orderno, status in writes:
                order = world.get(orderno)
                if order is None:
                    raise _bad("orderno")
                if not self.lifecycle.seller_allows(current.get(orderno, order.status), status):
                    raise _bad("status")
                current[orderno] = status
        except _Refused as refusal:
            excerpt = self.body(request)[:200].decode("utf-8", "replace")
            world.log_write(
                "status", "updateOrderStatus", [], {"body": excerpt}, "rejected", log_id,
                reason=refusal.text,
            )  # fmt: skip
            raise
        for orderno, status in writes:
            world.set_status(orderno, status, request_id=log_id)
        return self.answer(request, 200)

    async def update_stock(self, request: web.Request, tenant: Tenant) -> web.Response:
        entries = self._array(request)
        for entry in entries:
            _stock_entry(entry)
        for entry in entries:
            details = {key: str(entry[key]) for key in _STOCK_FIELDS}
            tenant.world.log_write(
                "stock", str(entry["barcode"]), [], details, "applied", self.request_id(request)
            )
        return self.answer(request, 200)


# -- validation ---------------------------------------------------------------------------------


def _int_param(request: web.Request, name: str, default: int, *, high: int | None = None) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    # ASCII digits only: "²".isdigit() is True and int("²") raised (a 500, found by fuzzing).
    if not (text.isascii() and text.isdigit()):  # int("²") raised: a 500 (found by fuzzing)
        raise _bad(name)
    if int(text) < 1 or (high is not None and int(text) > high):
        raise _bad(name)
    return int(text)


def _parse_day(request: web.Request, name: str) -> dt.date | None:
    text = request.query.get(name)
    if text is None:
        return None
    if not _DAY.match(text):
        raise _bad(name)
    try:
        return dt.datetime.strptime(text, raw.DATE_FORMAT).date()  # noqa: DTZ007 - a bare day
    except ValueError:
        raise _bad(name) from None


def _day_range(request: web.Request) -> tuple[dt.date | None, dt.date | None]:
    first, last = _parse_day(request, "startDate"), _parse_day(request, "endDate")
    if last is not None and first is None:
        raise _bad("startDate")
    if first is not None and last is not None and last < first:
        raise _bad("endDate")
    return first, last


def _status_entries(entries: list[Any]) -> list[tuple[str, str]]:
    writes = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise _Refused(400, raw.INVALID_REQUEST)
        orderno, status = entry.get("orderno"), entry.get("status")
        if not isinstance(orderno, str) or not orderno.strip():
            raise _bad("orderno")
        if status not in STATUSES:
            raise _bad("status")
        writes.append((orderno, str(status)))
    return writes


def _stock_entry(entry: Any) -> None:
    if not isinstance(entry, dict):
        raise _Refused(400, raw.INVALID_REQUEST)
    barcode = entry.get("barcode")
    if not isinstance(barcode, str) or not barcode.strip():
        raise _bad("barcode")
    for name in ("mainProductPrice", "variantPrice"):
        value = entry.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise _bad(name)
    stock = entry.get("stockAmount")
    if isinstance(stock, bool) or not isinstance(stock, int) or stock < 0:
        raise _bad("stockAmount")


# -- rendering ----------------------------------------------------------------------------------


def _envelope(status: int, request_id: str, text: str | None) -> dict[str, Any]:
    detail: dict[str, str] = {"requestID": request_id}
    if text is not None:
        detail["message"] = text
    return {"status": status, "message": {"code": status, "detail": detail}}


def _amount(order: Order) -> Decimal:
    return order.totals.subtotal - order.totals.discount


def _street(address: Any) -> str:
    return f"{address.neighbourhood} {address.line}"


def _row(order: Order) -> dict[str, Any]:
    buyer, bill, ship = order.buyer, order.billing_address, order.shipping_address
    corporate = buyer.kind == "corporate"
    return {
        "orderno": order.id,
        "orderAmount": _amount(order),
        "invoiceName": bill.full_name,
        "invoiceTitle": (buyer.company_name or "") if corporate else "",
        "invoiceTaxOffice": (buyer.tax_office or "") if corporate else "",
        # The list sample prints the tax number as a JSON number: so does the sandbox.
        "invoiceTaxID": int(buyer.vkn) if corporate and buyer.vkn else "",
        "invoiceCivID": "" if corporate else (buyer.tc_kimlik or ""),
        "invoiceAddress": _street(bill),
        "invoiceDistrict": bill.district,
        "invoiceCity": bill.city,
        "shipmentName": ship.full_name,
        "shipmentAddress": _street(ship),
        "shipmentDistrict": ship.district,
        "shipmentCity": ship.city,
        "orderSource": ORDER_SOURCE.get(order.sales_channel, "WEBSITE"),
    }


def _item(item: Item) -> dict[str, Any]:
    title = f"{item.name} ({item.variant})" if item.variant else item.name
    return {
        "itemTitle": title,
        "itemBrand": item.brand,
        "itemCode": item.sku,
        "itemTaxRate": item.vat_rate,
        "itemQuantity": item.quantity,
        "itemUnitPrice": item.unit_price,
    }


def _detail(order: Order) -> dict[str, Any]:
    buyer, bill, ship = order.buyer, order.billing_address, order.shipping_address
    corporate = buyer.kind == "corporate"
    return {
        "orderno": order.id,
        "orderAmount": _amount(order),
        "cargoCharge": order.totals.shipping_fee,
        "taxAmount": order.totals.vat,
        "discount_coupon": order.coupon or "",
        "partner_code": "",
        "orderSource": ORDER_SOURCE.get(order.sales_channel, "WEBSITE"),
        "paymentType": PAYMENT_TYPES.get(order.payment_type, order.payment_type),
        "shipmentDetails": {
            "shipmentName": ship.full_name,
            "shipmentAddress": _street(ship),
            "shipmentDistrict": ship.district,
            "shipmentCity": ship.city,
            "shipmentGsm": ship.phone,
        },
        "invoiceDetails": {
            "invoiceName": bill.full_name,
            "invoiceCompanyTitle": (buyer.company_name or "") if corporate else "",
            "invoiceTaxID": (buyer.vkn or "") if corporate else "",
            "invoiceTaxOffice": (buyer.tax_office or "") if corporate else "",
            "invoiceAddress": _street(bill),
            "invoiceDistrict": bill.district,
            "invoiceCity": bill.city,
            "invoiceGsm": buyer.phone,
            "invoicePhone": bill.phone,
            "invoiceMail": buyer.email,
        },
        "items": [_item(item) for item in order.items],
    }
