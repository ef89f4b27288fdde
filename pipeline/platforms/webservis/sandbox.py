"""The webservis simulator: one shop's "E-Ticaret API Web Servis" V2 at ``/api/v2``.

Served: ``GET auth``, ``GET order/lists``, ``GET order/show/<id>`` with the document's field
names, the answer envelope ``{"code", "message", "result"}`` (HTTP 200, errors included — the
reading fixed in :mod:`.payloads`), the access codes AUTH001–AUTH006 and the per-shop limit of
25 requests a minute. Money is JSON numbers ("float" in the tables), times Istanbul wall time
``YYYY-MM-DD HH:MM:SS``, empty texts ``""`` and empty dates ``null`` (as PHP services do).

Readings and choices (the document prints no answer at all):

* **Access order** follows the code numbers: unknown credentials AUTH002, service switched off
  AUTH001 (``tenant.data["service_active"]``), user inactive AUTH003
  (``tenant.data["user_active"]``), then the limit AUTH004, then an unknown method AUTH005
  (any path or HTTP method under the base path not in the document's method list), then the
  user's method permissions AUTH006 (``tenant.data["permissions"]``: a set of method names
  such as ``"order/lists"``, or None for all). Requests refused before AUTH004 are not counted
  against the limit (the shop cannot tell whose they are).
* **Limit.** 25 requests in any 60 s per shop (tenant), every method and user together; a
  refused request still counts (stricter than allowing a hammering client through). The
  refusal is HTTP 200 ``{"code": "AUTH004", …}`` with no ``Retry-After``: the document gives
  no hint.
* **order/lists.** ``pageStart`` is an offset, ``pageSize`` 0–100 (default 0: an empty page),
  ``orderBy`` id|createdAt|updatedAt (ties by id), ``sort`` asc|desc, ``status`` 0–5,
  ``dealerId`` (every simulated order is a retail order, dealer 0), ``startDate``/``endDate``
  exactly ``YYYY-MM-DD HH:MM:SS``, filtering the order date with both ends inclusive (to the
  second). ``total`` counts the matching orders; ``pageSize`` in the answer is the rows on the
  page. A value outside these domains is refused with the **invented** code
  ``ORDERLISTS001`` "Geçersiz parametre" (the document prints only SUCCESS for this method).
* **order/show.** A non-numeric or unknown id is ``ORDERSHOW001`` "Hatalı sipariş ID".
* **Lifecycle.** No endpoint writes an order, so the seller table is empty and no request can
  change the ground truth. The shop's staff (in the panel) and customers move orders over
  time: 1 → 2 → 3, 1 → 5 (customer cancels), 2 → 4 (cancel request while preparing),
  3 → 4 (return or exchange), 4 → 5. An order reaching 3 gets its carrier's tracking number,
  label barcode, tracking URL, shipment date and an e-invoice number; ``shipmentStatus`` is
  "Kargoya verildi".
* **Money.** Prices are VAT-inclusive TL (the generator's). ``summary.total`` = Σ lines
  (price × quantity), ``discount`` = the coupon, ``subTotal`` = total − discount, ``taxes``
  = VAT contained per rate, ``overall`` = subTotal + the shipping fee (not itemised).
* **Not simulated** (documented methods outside the pipeline's reach): ``category/show``,
  ``dealer/lists``, ``dealer/limits``, ``order/fastSale``, ``order/summary1`` and the product
  methods answer HTTP 501 with the **invented** code ``SANDBOX001`` "Bu metot sandbox'ta
  simüle edilmiyor".
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from aiohttp import web

from pipeline.sandbox import (
    ANONYMOUS,
    CARRIERS,
    CARRIERS_BY_CODE,
    ISTANBUL,
    PAYMENT_TYPES,
    AutoTransition,
    Identity,
    Item,
    Lifecycle,
    Order,
    RateLimitRule,
    Refusal,
    Sandbox,
    Tenant,
    local,
    per_tenant,
)
from pipeline.sandbox.catalogue import CATALOGUE
from pipeline.sandbox.identifiers import digits, vkn

HOUR: Final = 3600.0
DAY: Final = 24 * HOUR
WIRE_TIME: Final = "%Y-%m-%d %H:%M:%S"
_WIRE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")

#: The document's statuses (order/lists, order/show); the seller table is empty: no API writes.
STATUSES: Final = ("1", "2", "3", "4", "5")
SHIPPED: Final = "3"
AUTOMATIC: Final = (
    AutoTransition(source="1", target="2", after=(20 * 60, 8 * HOUR), probability=0.9,
                   actor="seller"),
    AutoTransition(source="1", target="5", after=(5 * 60, 6 * HOUR), probability=0.08),
    AutoTransition(source="2", target="3", after=(2 * HOUR, 36 * HOUR), probability=0.95,
                   actor="seller"),
    AutoTransition(source="2", target="4", after=(HOUR, DAY), probability=0.04),
    AutoTransition(source="3", target="4", after=(2 * DAY, 12 * DAY), probability=0.08),
    AutoTransition(source="4", target="5", after=(DAY, 5 * DAY), probability=0.6, actor="seller"),
)  # fmt: skip

#: Access codes and their messages (4.1), plus the two codes this simulator invents.
MESSAGES: Final[dict[str, str]] = {
    "SUCCESS": "İşlem başarılı",
    "AUTH001": "Web servis aktif değil",
    "AUTH002": "Geçersiz web servis kullanıcısı",
    "AUTH003": "Web servis kullanıcısı aktif değil",
    "AUTH004": "Dakikalık erişim limiti aşıldı",
    "AUTH005": "Geçersiz metot",
    "AUTH006": "Metota erişim yetkisi bulunmamaktadır",
    "ORDERSHOW001": "Hatalı sipariş ID",
    "ORDERLISTS001": "Geçersiz parametre",  # invented
    "SANDBOX001": "Bu metot sandbox'ta simüle edilmiyor",  # invented
}

#: Documented methods this simulator does not implement (answered 501 SANDBOX001).
NOT_SIMULATED: Final = (
    ("GET", "/category/show/{id}"),
    ("GET", "/dealer/lists"),
    ("POST", "/dealer/limits/{id}"),
    ("POST", "/order/fastSale"),
    ("GET", "/order/summary1"),
    ("GET", "/product/lists"),
    ("POST", "/product/save"),
    ("POST", "/product/updateStocks"),
    ("POST", "/product/updatePrices"),
)

CARRIER_IDS: Final[dict[str, int]] = {c.code: i for i, c in enumerate(CARRIERS, start=1)}
CARRIER_TAX_IDS: Final[dict[str, str]] = {
    c.code: vkn(random.Random(f"webservis|carrier|{c.code}")) for c in CARRIERS
}
CHANNELS: Final[dict[str, tuple[str, str]]] = {
    "website": ("Web", ""),
    "mobile_app": ("Mobil Uygulama", ""),
    "trendyol": ("Trendyol", "https://www.trendyol.com"),
    "hepsiburada": ("Hepsiburada", "https://www.hepsiburada.com"),
    "n11": ("N11", "https://www.n11.com"),
    "ciceksepeti": ("ÇiçekSepeti", "https://www.ciceksepeti.com"),
}
CATEGORY_IDS: Final[dict[str, int]] = {
    name: i for i, name in enumerate(sorted({p.category for p in CATALOGUE}), start=1)
}
VARIANT_NAMES: Final[dict[str, str]] = {
    "Giyim": "Beden",
    "Çocuk Giyim": "Yaş",
    "Ayakkabı": "Numara",
}
ORDER_BY: Final[dict[str, Callable[[Order], Any]]] = {
    "id": lambda o: o.number,
    "createdAt": lambda o: (o.created_at, o.number),
    "updatedAt": lambda o: (o.updated_at, o.number),
}


class _BadParameter(ValueError):
    pass


def wire_time(moment: dt.datetime | None) -> str | None:
    return None if moment is None else local(moment).strftime(WIRE_TIME)


def _int(query: dict[str, str], key: str, default: int, low: int, high: int) -> int:
    text = query.get(key)
    if text is None:
        return default
    # 4.4.1 types these "integer": ASCII digits only, as a PHP service reads them (re's \d
    # also matches "٣", which int() read as 3; found by fuzzing).
    if not re.fullmatch(r"[0-9]+", text.strip()):
        raise _BadParameter(key)
    value = int(text)
    if not low <= value <= high:
        raise _BadParameter(key)
    return value


def _choice(query: dict[str, str], key: str, default: str, allowed: Iterable[str]) -> str:
    value = query.get(key, default)
    if value not in allowed:
        raise _BadParameter(key)
    return value


def _moment(query: dict[str, str], key: str) -> dt.datetime | None:
    text = query.get(key)
    if text is None:
        return None
    if not _WIRE_TIME.match(text):
        raise _BadParameter(key)
    try:
        naive = dt.datetime.strptime(text, WIRE_TIME)  # noqa: DTZ007 - Istanbul wall time
    except ValueError:
        raise _BadParameter(key) from None
    return naive.replace(tzinfo=ISTANBUL)


class WebservisSandbox(Sandbox):
    platform = "webservis"
    credential_keys = ("api_key", "api_secret")
    base_path = "/api/v2"
    lifecycle = Lifecycle(statuses=STATUSES, initial="1", seller={}, automatic=AUTOMATIC)

    # -- framework hooks ------------------------------------------------------------------------

    def setup_tenant(self, tenant: Tenant) -> None:
        tenant.data.setdefault("service_active", True)
        tenant.data.setdefault("user_active", True)
        tenant.data.setdefault("permissions", None)

    def format_order_id(self, number: int, created_at: dt.datetime, rng: random.Random) -> str:
        return f"SP{local(created_at):%y%m%d}{number:05d}"

    def rate_limit_rules(self) -> Sequence[RateLimitRule]:
        return [
            RateLimitRule(
                "per-shop",
                limit=25,
                window=60.0,
                key=per_tenant,
                count_rejected=True,
                respond=lambda refusal: self.answer("AUTH004"),
            )
        ]

    def rate_limit_response(self, refusal: Refusal) -> web.StreamResponse:
        return self.answer("AUTH004")

    def identify(self, request: web.Request, body: bytes) -> Identity:
        key = request.headers.get("apikey")
        secret = request.headers.get("apisecret")
        if key is None and secret is None:
            return ANONYMOUS
        tenant = self.tenant_for(api_key=key, api_secret=secret)
        if tenant is None:
            return Identity("invalid:apikey")
        refused = self._inactive(tenant)
        if refused is not None:
            return Identity(f"{tenant.label}:{refused}")
        return Identity(f"{tenant.label}:apikey", tenant)

    @staticmethod
    def _inactive(tenant: Tenant) -> str | None:
        if not tenant.data.get("service_active", True):
            return "AUTH001"
        if not tenant.data.get("user_active", True):
            return "AUTH003"
        return None

    def routes(self) -> Iterable[web.RouteDef]:
        served = [
            web.get("/auth", self.auth),
            web.get("/order/lists", self.list_orders),
            web.get("/order/show/{order_id}", self.show_order),
        ]
        for method, path in NOT_SIMULATED:
            served.append(web.route(method, path, self.not_simulated))
        served.append(web.route("*", "/{tail:.*}", self.unknown_method))
        return served

    # -- answers --------------------------------------------------------------------------------

    def answer(
        self, code: str, result: Any = None, *, status: int = 200, message: str | None = None
    ) -> web.Response:
        return self.json(
            {"code": code, "message": message or MESSAGES.get(code, code), "result": result},
            status=status,
        )

    def _access(self, request: web.Request, method: str | None) -> Tenant | web.Response:
        """The tenant, or the access code's answer (AUTH001-003, AUTH006)."""
        tenant = self.identity(request).tenant
        if tenant is None:
            key = request.headers.get("apikey")
            found = self.tenant_for(api_key=key, api_secret=request.headers.get("apisecret"))
            return self.answer((self._inactive(found) if found else None) or "AUTH002")
        allowed = tenant.data.get("permissions")
        if method is not None and allowed is not None and method not in allowed:
            return self.answer("AUTH006")
        return tenant

    async def auth(self, request: web.Request) -> web.Response:
        access = self._access(request, None)
        if isinstance(access, web.Response):
            return access
        return self.answer("SUCCESS", message="Erişim başarılı")

    async def not_simulated(self, request: web.Request) -> web.Response:
        access = self._access(request, None)
        if isinstance(access, web.Response):
            return access
        return self.answer("SANDBOX001", status=501)

    async def unknown_method(self, request: web.Request) -> web.Response:
        access = self._access(request, None)
        if isinstance(access, web.Response):
            return access
        return self.answer("AUTH005")

    # -- order/lists ----------------------------------------------------------------------------

    async def list_orders(self, request: web.Request) -> web.Response:
        access = self._access(request, "order/lists")
        if isinstance(access, web.Response):
            return access
        query = dict(request.query)
        try:
            start = _int(query, "pageStart", 0, 0, 10**9)
            size = _int(query, "pageSize", 0, 0, 100)
            status = _int(query, "status", 0, 0, 5)
            dealer = _int(query, "dealerId", 0, 0, 10**9)
            order_by = _choice(query, "orderBy", "id", ORDER_BY)
            sort = _choice(query, "sort", "asc", ("asc", "desc"))
            since, until = _moment(query, "startDate"), _moment(query, "endDate")
        except _BadParameter as exc:
            return self.answer("ORDERLISTS001", message=f"Geçersiz parametre: {exc}")

        def matches(order: Order) -> bool:
            created = order.created_at.replace(microsecond=0)
            return (
                (status == 0 or order.status == str(status))
                and dealer == 0
                and (since is None or created >= since)
                and (until is None or created <= until)
            )

        orders = sorted(access.world.find(matches), key=ORDER_BY[order_by], reverse=sort == "desc")
        page = orders[start : start + size]
        rows = [self._row(order) for order in page]
        return self.answer("SUCCESS", {"total": len(orders), "pageSize": len(rows), "list": rows})

    def _row(self, order: Order) -> dict[str, Any]:
        return {
            "id": order.number,
            "code": order.id,
            "dealerId": 0,
            "shipmentFirmId": CARRIER_IDS.get(order.carrier_code, 0),
            "status": int(order.status),
            "createdAt": wire_time(order.created_at),
            "updatedAt": wire_time(order.updated_at),
        }

    # -- order/show -----------------------------------------------------------------------------

    async def show_order(self, request: web.Request) -> web.Response:
        access = self._access(request, "order/show")
        if isinstance(access, web.Response):
            return access
        text = request.match_info["order_id"]
        # 4.4.2: <order_id> is the integer "Sipariş ID", in ASCII digits ("٣" is not order 3).
        order = access.world.by_number(int(text)) if re.fullmatch(r"[0-9]{1,9}", text) else None
        if order is None:
            return self.answer("ORDERSHOW001")
        return self.answer("SUCCESS", self.render(access, order))

    def render(self, tenant: Tenant, order: Order) -> dict[str, Any]:
        """``order/show``'s result for one ground-truth order."""
        return {
            "order": self._order(tenant, order),
            "customer": self._customer(order),
            "summary": self._summary(order),
            "products": [self._product(item) for item in order.items],
        }

    @staticmethod
    def shipped_at(order: Order) -> dt.datetime | None:
        """When the order first reached 3 (kargolandı), if it ever did."""
        return next((c.at for c in order.history if c.target == SHIPPED), None)

    def _order(self, tenant: Tenant, order: Order) -> dict[str, Any]:
        carrier = CARRIERS_BY_CODE[order.carrier_code]
        channel, channel_url = CHANNELS.get(order.sales_channel, (order.sales_channel, ""))
        shipped = self.shipped_at(order)
        tracking = barcode = url = invoice = ""
        if shipped is not None:
            rng = random.Random(f"{tenant.world.seed}|{order.uuid}|shipment")
            tracking = carrier.tracking(rng)
            barcode = digits(rng, 12, "9")
            url = carrier.tracking_url(tracking)
            invoice = f"WSE{local(shipped):%Y}{order.number:09d}"
        return {
            "id": order.number,
            "code": order.id,
            "status": int(order.status),
            "shipmentFirmId": CARRIER_IDS[carrier.code],
            "shipmentFirmName": carrier.name,
            "shipmentFirmTax": CARRIER_TAX_IDS[carrier.code],
            "shipmentCode": barcode,
            "shipmentCode2": tracking,
            "shipmentUrl": url,
            "shipmentStatus": "Kargoya verildi" if shipped is not None else "",
            "shipmentDate": wire_time(shipped),
            "createdAt": wire_time(order.created_at),
            "updatedAt": wire_time(order.updated_at),
            "einvoiceCode": invoice,
            "platform": channel,
            "platformUrl": channel_url,
            "paymentMetod": PAYMENT_TYPES.get(order.payment_type, order.payment_type),
        }

    @staticmethod
    def _customer(order: Order) -> dict[str, Any]:
        buyer = order.buyer
        ship, bill = order.shipping_address, order.billing_address
        return {
            "name": buyer.full_name,
            "title": buyer.company_name or "",
            "taxBranch": buyer.tax_office or "",
            "taxId": buyer.vkn or buyer.tc_kimlik or "",
            "delivery": {
                "address": f"{ship.neighbourhood} {ship.line}",
                "district": ship.district,
                "city": ship.city,
            },
            "invoice": {
                "address": f"{bill.neighbourhood} {bill.line}",
                "district": bill.district,
                "city": bill.city,
            },
            "phone": buyer.phone,
            "email": buyer.email,
        }

    @staticmethod
    def _summary(order: Order) -> dict[str, Any]:
        totals = order.totals
        return {
            "total": totals.subtotal,
            "discount": totals.discount,
            "subTotal": totals.subtotal - totals.discount,
            "taxes": [
                {"rate": rate, "amount": amount} for rate, amount in totals.vat_by_rate.items()
            ],
            "overall": totals.total,
        }

    @staticmethod
    def _product(item: Item) -> dict[str, Any]:
        category = CATEGORY_IDS.get(item.category, 0)
        variants = (
            [{"name": VARIANT_NAMES.get(item.category, "Renk"), "value": item.variant}]
            if item.variant
            else []
        )
        return {
            "code": item.sku,
            "name": item.name,
            "barcode": item.barcode,
            "variants": variants,
            "tax": item.vat_rate,
            "categoryId": category,
            "quantity": item.quantity,
            "price": item.unit_price,
            "totalPrice": item.gross,
        }
