"""The E-Çarşı simulator: the order and shipping API of ``platform-docs/ecarsi.txt`` on the
sandbox framework, under ``/api`` as the document's URLs are.

=====  ==============================  ================================================
POST   /api/auth                       ``{"email", "password"}`` → ``data.token``
GET    /api/shipping-companies         ``data`` is the list: ids 1-7 (1 = Yurtiçi Kargo)
GET    /api/orders                     page, per_page 1-100, seller_status,
                                       customer_status, invoice_status, date, date_mode
GET    /api/orders/{order_id}          customer, address, invoice, status, items, totals
POST   /api/orders/{order_id}/shipping ``{"company_id", "tracking_number", "desi"}``
=====  ==============================  ================================================

Products, categories, variants and images are not simulated (no pipeline use).

Answers are the document's envelope ``{"success", "message": {"tr", "en"}, "data"}`` with its
messages (:data:`~.payloads.MESSAGES`); validation failures are **422** with ``errors``
(field → messages, :data:`~.payloads.FIELD_ERRORS`), a missing or dead token **401**
"Yetkisiz erişim", an unknown order **404** "Sipariş bulunamadı". Over a limit: **429** with
``{"success": false, "message": {"tr": "Çok fazla istek", …}, "data": null, "errors": null}``,
``Retry-After`` and ``X-RateLimit-Limit``/``X-RateLimit-Remaining`` (Laravel's throttle
headers). INVENTED, the document printing none of them: the 429 body, the 400 body for a body
that is not a JSON object ("İstek formatı hatalı"), the ``date_mode`` message "Geçersiz tarih
modu", the refusal to ship an order that is delivered, returned or cancelled (422 "Sipariş
durumu kargo kaydı oluşturmaya uygun değil") and the ``shipments`` list on an order.

Readings of the document:

* **Limits**: 60 requests a minute per client IP (every request, the login too) and 1000 a day
  per token (requests carrying a token the sandbox issued, valid or not), sliding windows;
  refused requests are not counted (Laravel's throttle checks before it counts).
* **Login**: both fields required (422 "Geçersiz giriş bilgileri" + field errors); an unknown
  e-mail is 401 "Geçersiz kimlik bilgileri", a known one with the wrong password 401 "Şifre
  hatalı". The e-mail *format* is not checked: the document's own sample e-mail was mangled to
  ``[email protected]`` by the page it was saved from, and DESIGN.md's default credential is
  ``sandbox-email``. Tokens do not expire (none of the document's words gives a lifetime);
  the ``token_expiry`` fault revokes them.
* **List**: newest first (not documented). ``date`` is ``dd.mm.yyyy`` (the example) or
  ``yyyy-mm-dd``; days are Istanbul days; ``exact`` is that day, ``after`` and ``before``
  *exclude* it (the strictest reading: a client that needs the day itself must ask for the day
  before). ``date`` without ``date_mode`` is ``exact``; ``date_mode`` without ``date`` does
  nothing. Default ``per_page`` 20 (the example). A GET body (the document's curl sends one)
  is ignored. Empty query values count as absent (Laravel).
* **Shipping** is validated first (422), then the order looked up (404). ``company_id`` must be
  an integer id of the list, ``tracking_number`` a non-empty string, ``desi`` an integer 1-100
  (required). Every accepted call creates one more shipment — the same call twice makes two —
  and moves the order to ``shipped``; allowed from the not-yet-shipped statuses, from
  ``partial_cancel`` (the rest still ships) and from ``shipped`` (another parcel).
* **Statuses move by themselves** (:data:`AUTOMATIC`): the platform approves or the customer
  cancels a waiting order, the seller works in the panel (approved → preparing → packaging),
  the carrier delivers and brings returns back. An order the seller shipped in the panel
  (packaging → shipped) shows one made-up shipment with the checkout carrier.
  ``customer_status`` and ``invoice_status`` are derived from the seller status
  (:data:`.sandbox_render.CUSTOMER_STATUS_OF`; an invoice counts as uploaded from shipping
  on), as the document relates them nowhere.
* Money: TL, no coupons (the document has no discount field), item ``price`` = unit price.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, ClassVar, Final

import msgspec
from aiohttp import web

from pipeline.platforms.ecarsi import payloads as raw
from pipeline.platforms.ecarsi import sandbox_render as render
from pipeline.platforms.ecarsi.mapping import NOT_SHIPPED
from pipeline.sandbox import (
    ANONYMOUS,
    AutoTransition,
    Identity,
    Lifecycle,
    Order,
    OrderGenerator,
    RateLimitRule,
    Refusal,
    Sandbox,
    Tenant,
    TransitionRejected,
    bearer_token,
    local,
    per_ip,
    per_token,
)

HOUR: Final = 3600.0
DAY: Final = 24 * HOUR

SHIPPABLE: Final = (*sorted(NOT_SHIPPED), "partial_cancel")
#: The one seller write (a shipping record) and where it may come from; shipped → shipped is a
#: second parcel (the lifecycle allows staying put).
SELLER: Final[dict[str, set[str]]] = {status: {"shipped"} for status in SHIPPABLE}
AUTOMATIC: Final = (
    AutoTransition(source="waiting", target="approved", after=(300, 2 * HOUR),
                   probability=0.92, actor="platform"),
    AutoTransition(source="waiting", target="completed_cancel", after=(600, 6 * HOUR),
                   probability=0.08),
    AutoTransition(source="approved", target="preparing", after=(HOUR, 12 * HOUR),
                   probability=0.8, actor="seller"),
    AutoTransition(source="approved", target="in_supply", after=(HOUR, 12 * HOUR),
                   probability=0.1, actor="seller"),
    AutoTransition(source="approved", target="partial_cancel", after=(HOUR, DAY),
                   probability=0.04),
    AutoTransition(source="in_supply", target="preparing", after=(DAY, 3 * DAY), actor="seller"),
    AutoTransition(source="preparing", target="packaging", after=(HOUR, 8 * HOUR),
                   probability=0.7, actor="seller"),
    AutoTransition(source="packaging", target="shipped", after=(2 * HOUR, 2 * DAY),
                   probability=0.6, actor="seller"),
    AutoTransition(source="shipped", target="delivered", after=(DAY, 3 * DAY), actor="carrier"),
    AutoTransition(source="delivered", target="return_waiting", after=(DAY, 10 * DAY),
                   probability=0.08),
    AutoTransition(source="delivered", target="partial_return", after=(DAY, 10 * DAY),
                   probability=0.03),
    AutoTransition(source="return_waiting", target="return_received", after=(DAY, 4 * DAY),
                   actor="carrier"),
    AutoTransition(source="return_received", target="completed_return", after=(HOUR, 2 * DAY),
                   actor="platform"),
)  # fmt: skip

_DAY_FORMATS: Final = (raw.LIST_DATE_FORMAT, "%Y-%m-%d")
Handler = Callable[[web.Request, Tenant], Awaitable[web.Response]]


def _int(value: object) -> int | None:
    """An integer as JSON sends it (not a bool, not a float, not a string)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _query_int(text: str | None, default: int) -> int | None:
    if text is None:
        return default
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() else None


def _day(text: str) -> dt.date | None:
    for pattern in _DAY_FORMATS:
        try:
            return dt.datetime.strptime(text.strip(), pattern).date()  # noqa: DTZ007 - a day
        except ValueError:
            continue
    return None


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None


class EcarsiSandbox(Sandbox):
    platform = "ecarsi"
    credential_keys = ("email", "password")
    base_path = "/api"
    lifecycle = Lifecycle(
        statuses=raw.SELLER_STATUS, initial="waiting", seller=SELLER, automatic=AUTOMATIC
    )
    #: No lifetime is documented; tokens outlive any test (the token_expiry fault revokes them).
    token_ttl: ClassVar[dt.timedelta] = dt.timedelta(days=3650)
    per_ip_per_minute: ClassVar[int] = raw.RATE_PER_IP_PER_MINUTE
    per_token_per_day: ClassVar[int] = raw.RATE_PER_TOKEN_PER_DAY

    # -- framework hooks ------------------------------------------------------------------------

    def rate_limit_rules(self) -> Sequence[RateLimitRule]:
        return [
            RateLimitRule("per-ip-minute", self.per_ip_per_minute, 60.0, per_ip),
            RateLimitRule("per-token-day", self.per_token_per_day, DAY, per_token),
        ]

    def rate_limit_response(self, refusal: Refusal) -> web.StreamResponse:
        body = {
            "success": False,
            "message": render.message("too_many_requests"),
            "data": None,
            "errors": None,
        }
        headers = {
            "Retry-After": refusal.retry_after_header,
            "X-RateLimit-Limit": str(refusal.rule.limit),
            "X-RateLimit-Remaining": "0",
        }
        return self.json(body, status=429, headers=headers)

    def make_generator(self) -> OrderGenerator:
        settings = msgspec.structs.replace(
            self.settings.generator, coupon_share=0.0, currencies={"TRY": 1}
        )
        return OrderGenerator(settings)

    def format_order_id(self, number: int, created_at: dt.datetime, rng: random.Random) -> str:
        return str(100_000 + number)

    def setup_tenant(self, tenant: Tenant) -> None:
        tenant.data["seller_id"] = len(self.tenants)  # main is 1, as in the sample
        tenant.data["shipments"] = {}

    def identify(self, request: web.Request, body: bytes) -> Identity:
        if request.method == "POST" and request.path == f"{self.base_path}/auth":
            creds = _json_object(body) or {}
            email, password = creds.get("email"), creds.get("password")
            if isinstance(email, str) and isinstance(password, str):
                tenant = self.tenant_for(email=email, password=password)
                if tenant is not None:
                    return Identity(f"{tenant.label}:login", tenant)
            return Identity("invalid:login")
        value = bearer_token(request)
        if value is None:
            return ANONYMOUS
        token = self.tokens.lookup(value)
        state = self.tokens.state(value)
        if token is None or state != "valid":
            return Identity(f"{state}:bearer", None, token, state)
        return Identity(token.label, self.tenants[token.tenant], token, state)

    def routes(self) -> Iterable[web.RouteDef]:
        return [
            web.post("/auth", self.login),
            web.get("/shipping-companies", self._authed(self.companies)),
            web.get("/orders", self._authed(self.list_orders)),
            web.get("/orders/{order_id}", self._authed(self.show_order)),
            web.post("/orders/{order_id}/shipping", self._authed(self.ship)),
        ]

    # -- answers --------------------------------------------------------------------------------

    def ok(self, key: str, data: Any = None) -> web.Response:
        return self.json({"success": True, "message": render.message(key), "data": data})

    def refuse(
        self, status: int, key: str, errors: dict[str, list[str]] | None = None
    ) -> web.Response:
        body: dict[str, Any] = {"success": False, "message": render.message(key)}
        if errors is not None:
            body["errors"] = errors
        return self.json(body, status=status)

    def _authed(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            tenant = self.identity(request).tenant
            if tenant is None:
                return self.refuse(401, "unauthorized")
            return await handler(request, tenant)

        return serve

    # -- rendering (overridable per instance, e.g. to break one record in a test) -------------

    def render_row(self, order: Order) -> dict[str, Any]:
        return render.row(order)

    def render_order(self, tenant: Tenant, order: Order) -> dict[str, Any]:
        return render.detail(order, tenant.data["shipments"].get(order.id, []))

    # -- handlers -------------------------------------------------------------------------------

    async def login(self, request: web.Request) -> web.Response:
        creds = _json_object(self.body(request))
        if creds is None:
            return self.refuse(400, "bad_request")
        errors = {
            field: [raw.FIELD_ERRORS[field]]
            for field in ("email", "password")
            if not isinstance(creds.get(field), str) or not creds[field].strip()
        }
        if errors:
            return self.refuse(422, "invalid_login", errors)
        tenant = self.identity(request).tenant
        if tenant is None:
            known = self.tenant_for(email=creds["email"])
            return self.refuse(401, "invalid_password" if known else "invalid_credentials")
        token = self.tokens.issue(tenant.label, self.token_ttl)
        seller = {"id": tenant.data["seller_id"], "email": tenant.credentials["email"]}
        return self.ok("login_ok", {"token": token.value, "seller": seller})

    async def companies(self, request: web.Request, tenant: Tenant) -> web.Response:
        return self.ok("companies_ok", render.companies())

    async def list_orders(self, request: web.Request, tenant: Tenant) -> web.Response:
        query = {k: v for k, v in request.query.items() if v.strip()}
        errors: dict[str, list[str]] = {}
        page = _query_int(query.get("page"), 1)
        if page is None or page < raw.PAGE_MIN:
            errors["page"] = [raw.FIELD_ERRORS["page"]]
        per_page = _query_int(query.get("per_page"), 20)
        if per_page is None or not raw.PER_PAGE_MIN <= per_page <= raw.PER_PAGE_MAX:
            errors["per_page"] = [raw.FIELD_ERRORS["per_page"]]
        for field, table in raw.STATUS_CODES.items():
            if field in query and query[field] not in table:
                errors[field] = [raw.FIELD_ERRORS["status"]]
        day = _day(query["date"]) if "date" in query else None
        if "date" in query and day is None:
            errors["date"] = [raw.FIELD_ERRORS["date"]]
        mode = query.get("date_mode", "exact")
        if mode not in raw.DATE_MODES:
            errors["date_mode"] = [raw.FIELD_ERRORS["date_mode"]]
        if errors or page is None or per_page is None:
            return self.refuse(422, "invalid_parameters", errors)

        def wanted(order: Order) -> bool:
            shown = {
                "seller_status": order.status,
                "customer_status": render.customer_status(order),
                "invoice_status": render.invoice_status(order),
            }
            if any(query.get(field, value) != value for field, value in shown.items()):
                return False
            if day is None:
                return True
            created = local(order.created_at).date()
            return {"exact": created == day, "after": created > day, "before": created < day}[mode]

        orders = sorted(
            tenant.world.find(wanted), key=lambda o: (o.created_at, o.number), reverse=True
        )
        chunk = orders[(page - 1) * per_page : page * per_page]
        pagination = {
            "total": len(orders),
            "per_page": per_page,
            "current_page": page,
            "last_page": max(1, math.ceil(len(orders) / per_page)),
        }
        rows = [self.render_row(order) for order in chunk]
        return self.ok("orders_ok", {"orders": rows, "pagination": pagination})

    async def show_order(self, request: web.Request, tenant: Tenant) -> web.Response:
        order = tenant.world.get(request.match_info["order_id"])
        if order is None:
            return self.refuse(404, "order_not_found")
        return self.ok("order_ok", {"order": self.render_order(tenant, order)})

    async def ship(self, request: web.Request, tenant: Tenant) -> web.Response:
        body = _json_object(self.body(request))
        if body is None:
            return self.refuse(400, "bad_request")
        company_id, desi = _int(body.get("company_id")), _int(body.get("desi"))
        tracking = body.get("tracking_number")
        errors: dict[str, list[str]] = {}
        if company_id not in render.COMPANIES:
            errors["company_id"] = [raw.FIELD_ERRORS["company_id"]]
        if not isinstance(tracking, str) or not tracking.strip():
            errors["tracking_number"] = [raw.FIELD_ERRORS["tracking_number"]]
        if desi is None or not raw.DESI_MIN <= desi <= raw.DESI_MAX:
            errors["desi"] = [raw.FIELD_ERRORS["desi"]]
        order = tenant.world.get(request.match_info["order_id"])
        if errors or company_id is None or desi is None or not isinstance(tracking, str):
            return self.refuse(422, "invalid_parameters", errors)
        if order is None:
            return self.refuse(404, "order_not_found")
        carrier = render.COMPANIES[company_id]
        number = tracking.strip()
        try:
            tenant.world.ship(
                order.id,
                carrier_code=carrier.code,
                carrier_name=carrier.name,
                tracking_number=number,
                tracking_url=render.tracking_url(carrier, number),
                status="shipped",
                desi=desi,
                request_id=self.request_id(request),
            )
        except TransitionRejected:
            return self.refuse(422, "shipping_not_allowed")
        info = render.tracking(carrier, number)
        tenant.data["shipments"].setdefault(order.id, []).append(
            {
                "company_id": company_id,
                "company": carrier.name,
                "desi": desi,
                "date": render.stamp(tenant.world.now),
                "tracking": info,
            }
        )
        return self.ok("shipping_ok", {"tracking": info})
