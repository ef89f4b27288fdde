"""The Pazarama simulator: the merchant API of ``platform-docs/pazarama.txt`` on the sandbox
framework, at the document's paths (``base_path`` is empty), token server included.

=====  ==================================  ===============================================
POST   /connect/token                      Basic clientId:clientSecret, form grant_type=
                                           client_credentials[&scope=merchantgateway…]
POST   /order/getOrdersForApi              3.13, one month at most, endDate exclusive
POST   /order/getOrdersForApiV2            3.25: quantities split into quantity-1 items
POST   /order/getOrdersForApi-v2           3.26 spells it so: the same endpoint
PUT    /order/updateOrderStatus            3.14/3.15: one item
PUT    /order/updateOrderStatusList        3.16: every item of an order
POST   /order/api/bulk-status-update       3.33: items of one order, one shipment
POST   /order/invoice-link                 3.19: order, package or item
POST   /order/getRefund                    3.17 (+ SplitItems, 3.25)
POST   /order/updateRefund                 3.18/3.29: 2 approve, 3 reject, 9 review
POST   /order/api/cancel/items             3.23: cancellation requests
PUT    /order/api/cancel                   3.23: 2 approve, 3 reject
GET    /sellerRegister/getSellerDelivery   the carriers and their cargoCompanyIds
=====  ==================================  ===============================================

Auth: the token endpoint behaves like the IdentityServer it is (``/connect/token``): HTTP 400
with ``{"error": "invalid_request" | "invalid_client" | "unsupported_grant_type" |
"invalid_scope"}``; credentials go in Basic (or, as IdentityServer also allows, in the form);
the scope may be omitted. Tokens live one hour on the sandbox clock. An API call without a
valid token gets **HTTP 401 with an empty body** (integrators' field note).

Successes use the document's envelope ``{data, success: true, messageCode, message,
userMessage, fromCache: false}`` with ``messageCode`` "ORD0" (updateOrderStatus: null and no
``fromCache``, as its sample; getSellerDelivery: null). Refusals are **HTTP 400** (415 for a
body that is not JSON, 429 when a configured rate limit is hit) with ``{"data": null,
"success": false, "messageCode": <code>, "message": <Turkish + detail>, "userMessage":
<Turkish>, "fromCache": false}``. The document prints no failure at all, so **every code is
our invention** (:data:`~.sandbox_rules.ERRORS` holds their messages):

ORD_REQUEST_INVALID (unreadable body, missing or mistyped field, bad GUID), ORD_MEDIA_TYPE,
ORD_DATE_INVALID, ORD_DATE_RANGE (end before start), ORD_DATE_WINDOW (over one month),
ORD_PAGING_INVALID, ORD_ORDER_NOT_FOUND, ORD_ITEM_NOT_FOUND, ORD_ITEMS_REQUIRED,
ORD_STATUS_UNKNOWN, ORD_PREPARING_REQUIRED (an item at 3 must go to 12 first),
ORD_TRANSITION_INVALID, ORD_TRACKING_REQUIRED, ORD_CARGO_REQUIRED, ORD_CARGO_UNKNOWN,
ORD_DELIVERY_TYPE_INVALID, ORD_BULK_FIELDS (status 11 with other fields set),
ORD_INVOICE_LINK_INVALID, ORD_PACKAGE_INCOMPLETE, ORD_PACKAGE_NOT_FOUND, ORD_REFUND_NOT_FOUND,
ORD_REFUND_STATUS_INVALID, ORD_REFUND_NOT_PENDING, ORD_REJECT_TYPE_REQUIRED,
ORD_DESCRIPTION_REQUIRED, ORD_DOCUMENT_REQUIRED, ORD_DOCUMENT_LIMIT, ORD_DOCUMENT_TOO_LARGE,
ORD_REVIEW_TYPE_REQUIRED, ORD_QUANTITY_INVALID, ORD_CANCEL_NOT_FOUND,
ORD_CANCEL_STATUS_INVALID, ORD_CANCEL_NOT_PENDING, ORD_RATE_LIMIT.

Readings of the document (more in :mod:`.sandbox_rules` and :mod:`.sandbox_render`):

* Request keys bind case-insensitively (ASP.NET; the document sends ``RefundRejectType``,
  ``SplitItems``); unknown keys are ignored; a null optional field counts as not sent.
* Dates: ``YYYY-MM-DD``, ``YYYY-MM-DDTHH:mm``, with seconds and fractions, optionally a zone;
  naive = Istanbul. Orders are those with ``orderDate`` in ``[startDate, endDate)``; a window
  longer than one calendar month is refused (order list and V2, orderNumber form included).
  Refund and cancellation lists take any window, also end-exclusive.
* Paging from 1, no maximum page size (the document sends 500); the order list gives no counts.
* The 5,000,000-byte, 1-3 image rule for rejections (3.29, "21 Şubat itibariyle", no year) is
  always enforced; reasons 10 and 11 need no image. Images are optional for a review (9).
* updateOrderStatusList moves every item or none; status 5 cannot be reached through it (no
  cargo fields). bulk-status-update wants ``deliveryType`` 1 and ``subStatus`` 0, or, for 11,
  every field but ``status`` null (3.33). Item-level invoice links need no package fields.
* Statuses are kept per item line: a V2 unit id (or a SplitItems refund id) addresses its
  whole line (or request). ``quantity`` in decisions is checked, partial decisions are not
  simulated.

The world by itself (:mod:`.sandbox_rules`; timings are ours): a buyer cancels 3% of new items
(3 → 6, within 12 h, recorded as cancellation "8 Direkt Onay"), asks to cancel 5% at 12
(→ 18 within a day, request status 1); an item still at 12 after 4 days (the delivery duration
getSellerDelivery shows) is refunded (→ 6, cancellation "6 Auto Approved"); the carrier
delivers 1-3 days after 5 (sometimes via 19, sometimes 14); 8% of delivered items are returned
within 14 days (→ 7, refund status 1); unanswered requests are auto-approved (refunds 3 days,
cancellations 2 days); seller-rejected refunds go to the backoffice (4 or 5 in 1-4 days); an
approved return is paid back (8 → 10) in 1-3 days.
"""

from __future__ import annotations

import datetime as dt
import random
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

import msgspec
from aiohttp import web

from pipeline.clock import Clock
from pipeline.platforms.pazarama import payloads as raw
from pipeline.platforms.pazarama import sandbox_render as render
from pipeline.platforms.pazarama.sandbox_requests import (
    check_bulk_fields,
    check_quantity,
    check_refund_decision,
    find_line,
    find_order,
    find_order_by_guid,
    find_record,
    invoice_lines,
    page,
    read_body,
    read_paging,
    read_window,
    requests_between,
    sent,
    shipping_cargo,
    target_status,
    transition_refusal,
)
from pipeline.platforms.pazarama.sandbox_rules import (
    CANCELLATION_LIFECYCLE,
    CARGO_CODES,
    CARGO_WEIGHTS,
    ITEM_LIFECYCLE,
    REFUND_LIFECYCLE,
    TOKEN_TTL,
    CargoCompany,
    Refused,
    stable_guid,
)
from pipeline.sandbox import (
    ANONYMOUS,
    CARRIERS_BY_CODE,
    Identity,
    Order,
    OrderGenerator,
    RateLimitRule,
    Record,
    Refusal,
    Sandbox,
    SandboxSettings,
    Tenant,
    TransitionRejected,
    basic_credentials,
    bearer_token,
)
from pipeline.sandbox.generator import seeded_uuid
from pipeline.sandbox.model import RecordKind

TOKEN_PATH = "/connect/token"  # noqa: S105 - a path, not a secret
Handler = Callable[[web.Request, Tenant], web.Response]
_S = TypeVar("_S", bound=msgspec.Struct)


class PazaramaSandbox(Sandbox):
    """The Pazarama merchant API. ``rules`` adds rate limits (the document states none)."""

    platform = "pazarama"
    credential_keys = ("client_id", "client_secret")
    base_path = ""
    lifecycle = ITEM_LIFECYCLE
    refund_lifecycle = REFUND_LIFECYCLE
    cancellation_lifecycle = CANCELLATION_LIFECYCLE

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        settings: SandboxSettings | None = None,
        rules: Sequence[RateLimitRule] = (),
    ) -> None:
        self._rules = list(rules)
        super().__init__(clock=clock, settings=settings)

    # -- framework hooks ------------------------------------------------------------------------

    def rate_limit_rules(self) -> Sequence[RateLimitRule]:
        return self._rules

    def rate_limit_response(self, refusal: Refusal) -> web.StreamResponse:
        exc = Refused("ORD_RATE_LIMIT", status=429)
        return self._refusal(exc, headers={"Retry-After": refusal.retry_after_header})

    def make_generator(self) -> OrderGenerator:
        # Pazarama sells in TL only and through its own carriers.
        settings = msgspec.structs.replace(self.settings.generator, currencies={"TRY": 1})
        carriers = [CARRIERS_BY_CODE[code] for code in CARGO_CODES]
        return OrderGenerator(settings, carriers=carriers, carrier_weights=CARGO_WEIGHTS)

    def format_order_id(self, number: int, created_at: dt.datetime, rng: random.Random) -> str:
        return str(200_000_000 + number * 1000 + rng.randint(0, 999))  # 9 digits, as printed

    def format_record_id(self, kind: RecordKind, number: int, rng: random.Random) -> str:
        return seeded_uuid(rng)  # refundId is a GUID for both kinds

    def identify(self, request: web.Request, body: bytes) -> Identity:
        if request.path == TOKEN_PATH:
            creds = basic_credentials(request)
            if creds is not None:
                client_id, secret = (urllib.parse.unquote_plus(c) for c in creds)
            else:
                form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
                client_id = form.get("client_id", [""])[0]
                secret = form.get("client_secret", [""])[0]
            tenant = self.tenant_for(client_id=client_id or None, client_secret=secret or None)
            return (
                Identity(f"{tenant.label}:basic", tenant) if tenant else Identity("invalid:basic")
            )
        value = bearer_token(request)
        if value is None:
            return ANONYMOUS
        token = self.tokens.lookup(value)
        state = self.tokens.state(value)
        if token is None or state != "valid":
            return Identity(f"{state}:bearer", None, token, state)
        return Identity(token.label, self.tenants[token.tenant], token, state)

    def routes(self) -> Iterable[web.RouteDef]:
        orders = self._api(lambda r, t: self._orders(r, t, split=False))
        split = self._api(lambda r, t: self._orders(r, t, split=True))
        return [
            web.post(TOKEN_PATH, self.token),
            web.post("/order/getOrdersForApi", orders),
            web.post("/order/getOrdersForApiV2", split),
            web.post("/order/getOrdersForApi-v2", split),
            web.put("/order/updateOrderStatus", self._api(self._update_item, write=True)),
            web.put("/order/updateOrderStatusList", self._api(self._update_order, write=True)),
            web.post("/order/api/bulk-status-update", self._api(self._bulk, write=True)),
            web.post("/order/invoice-link", self._api(self._invoice, write=True)),
            web.post("/order/getRefund", self._api(self._refunds)),
            web.post("/order/updateRefund", self._api(self._decide_refund, write=True)),
            web.post("/order/api/cancel/items", self._api(self._cancellations)),
            web.put("/order/api/cancel", self._api(self._decide_cancellation, write=True)),
            web.get("/sellerRegister/getSellerDelivery", self._api(self._seller_delivery)),
        ]

    # -- plumbing -------------------------------------------------------------------------------

    def _refusal(self, exc: Refused, headers: dict[str, str] | None = None) -> web.Response:
        body = render.failure(exc.code, exc.message, exc.user_message)
        return self.json(body, status=exc.status, headers=headers)

    def _api(
        self, handler: Handler, *, write: bool = False
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            tenant = self.identity(request).tenant
            if tenant is None:
                return web.Response(status=401)  # empty body, as integrators report
            try:
                return handler(request, tenant)
            except Refused as exc:
                if write and not exc.logged:
                    tenant.world.log_write(
                        request.path.rsplit("/", 1)[-1],
                        exc.target or "",
                        [],
                        {"code": exc.code},
                        "rejected",
                        self.request_id(request),
                        reason=exc.message,
                    )
                return self._refusal(exc)

        return serve

    def _read(self, request: web.Request, cls: type[_S]) -> _S:
        return read_body(self.body(request), request.content_type, cls)

    def _move(
        self,
        request: web.Request,
        tenant: Tenant,
        order: Order,
        target: str,
        lines: list[int] | None,
        shipment: tuple[CargoCompany, str, str | None] | None = None,
    ) -> None:
        """Apply a status write (with a shipment for 5) through the world's seller table."""
        world, request_id = tenant.world, self.request_id(request)
        try:
            if shipment is not None:
                cargo, tracking, url = shipment
                world.ship(
                    order.id,
                    carrier_code=cargo.carrier.code,
                    tracking_number=tracking,
                    tracking_url=url,
                    carrier_name=cargo.carrier.name,
                    lines=lines,
                    status=target,
                    request_id=request_id,
                )
            else:
                world.set_status(order.id, target, lines=lines, request_id=request_id)
        except TransitionRejected as exc:
            raise transition_refusal(order, exc) from None

    # -- token ----------------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        def error(code: str) -> web.Response:
            return self.json({"error": code}, status=400, headers={"Cache-Control": "no-store"})

        if request.content_type != "application/x-www-form-urlencoded":
            return error("invalid_request")
        tenant = self.identity(request).tenant
        if tenant is None:
            return error("invalid_client")
        form = urllib.parse.parse_qs(self.body(request).decode("utf-8", "replace"))
        if form.get("grant_type") != [raw.TOKEN_GRANT_TYPE]:
            return error("unsupported_grant_type")
        scopes = " ".join(form.get("scope", [])).split()
        if any(scope != raw.TOKEN_SCOPE for scope in scopes):
            return error("invalid_scope")
        token = self.tokens.issue(tenant.label, TOKEN_TTL, scope=raw.TOKEN_SCOPE)
        return self.json(
            {
                "access_token": token.value,
                "expires_in": int(TOKEN_TTL.total_seconds()),
                "token_type": "Bearer",
                "scope": raw.TOKEN_SCOPE,
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    # -- orders ---------------------------------------------------------------------------------

    def _orders(self, request: web.Request, tenant: Tenant, *, split: bool) -> web.Response:
        req: raw.GetOrdersRequest = self._read(request, raw.GetOrdersRequest)
        lo, hi = read_window(
            req.start_date, req.end_date, names=("startDate", "endDate"), max_one_month=True
        )
        orders = tenant.world.orders_between(lo, hi)
        number, size, index = sent(req.order_number), sent(req.page_size), sent(req.page_number)
        if number is not None:
            orders = [o for o in orders if o.id == str(number)]
        if number is None or size is not None or index is not None:
            orders = page(orders, *read_paging(size, index))
        return self.json(render.envelope([render.render_order(o, split=split) for o in orders]))

    def _update_item(self, request: web.Request, tenant: Tenant) -> web.Response:
        req: raw.UpdateOrderStatusRequest = self._read(request, raw.UpdateOrderStatusRequest)
        order = find_order(tenant.world, req.order_number)
        item = req.item
        line = find_line(order, item.order_item_id)
        target = target_status(item.status, order)
        if sent(item.delivery_type) not in (None, *raw.DELIVERY_TYPE):
            detail = f"deliveryType={item.delivery_type}"
            raise Refused("ORD_DELIVERY_TYPE_INVALID", detail, target=order.id)
        shipment = None
        if target == "5":
            tracking = sent(item.shipping_tracking_number)
            cargo = shipping_cargo(sent(item.cargo_company_id), tracking, order)
            shipment = (cargo, str(tracking).strip(), sent(item.tracking_url))
        self._move(request, tenant, order, target, [line], shipment)
        # The 3.14 sample: messageCode null and no fromCache.
        return self.json(
            {
                "data": None,
                "success": True,
                "messageCode": None,
                "message": None,
                "userMessage": None,
            }
        )

    def _update_order(self, request: web.Request, tenant: Tenant) -> web.Response:
        req: raw.UpdateOrderStatusListRequest = self._read(
            request, raw.UpdateOrderStatusListRequest
        )
        order = find_order(tenant.world, req.order_number)
        target = target_status(req.status, order)
        if target == "5":
            raise Refused("ORD_TRACKING_REQUIRED", "updateOrderStatusList", target=order.id)
        self._move(request, tenant, order, target, None)
        return self.json(render.envelope(None))

    def _bulk(self, request: web.Request, tenant: Tenant) -> web.Response:
        req: raw.BulkStatusUpdateRequest = self._read(request, raw.BulkStatusUpdateRequest)
        order = find_order(tenant.world, req.order_number)
        if not req.order_item_ids:
            raise Refused("ORD_ITEMS_REQUIRED", "orderItemIds", target=order.id)
        lines = list(dict.fromkeys(find_line(order, i) for i in req.order_item_ids))
        dto = req.update_shipment_dto
        target = target_status(dto.status, order)
        check_bulk_fields(dto, target, order)
        shipment = None
        if target == "5":
            cargo = shipping_cargo(dto.cargo_company_id, dto.shipping_tracking_number, order)
            tracking = str(dto.shipping_tracking_number).strip()
            shipment = (cargo, tracking, sent(dto.tracking_url))
        self._move(request, tenant, order, target, lines, shipment)
        return self.json(render.envelope(None))

    def _invoice(self, request: web.Request, tenant: Tenant) -> web.Response:
        req: raw.InvoiceLinkRequest = self._read(request, raw.InvoiceLinkRequest)
        order = find_order_by_guid(tenant.world, req.order_id)
        lines = invoice_lines(req, order)
        tenant.world.attach_invoice(
            order.id, req.invoice_link.strip(), lines=lines, request_id=self.request_id(request)
        )
        return self.json(render.envelope(None))

    # -- refunds and cancellations --------------------------------------------------------------

    def _refunds(self, request: web.Request, tenant: Tenant) -> web.Response:
        req: raw.GetRefundRequest = self._read(request, raw.GetRefundRequest)
        size, number = read_paging(req.page_size, req.page_number)
        world = tenant.world
        start, end = req.request_start_date, req.request_end_date
        records = requests_between(world.refunds, start, end, sent(req.refund_status))
        rows = render.request_rows(world, records, kind="refund", split=req.split_items is True)
        data = render.request_page(
            page(rows, size, number), len(rows), size, number, render.page_report(records)
        )
        return self.json(render.envelope(data, message="null"))  # "null" as in its sample

    def _cancellations(self, request: web.Request, tenant: Tenant) -> web.Response:
        req: raw.GetCancelItemsRequest = self._read(request, raw.GetCancelItemsRequest)
        size, number = read_paging(req.page_size, req.page_number)
        world = tenant.world
        start, end = req.request_start_date, req.request_end_date
        records = requests_between(world.cancellations, start, end, req.refund_status)
        if req.order_number is not None:
            records = [r for r in records if r.order_id == str(req.order_number)]
        rows = render.request_rows(world, records, kind="cancellation")
        data = render.request_page(
            page(rows, size, number), len(rows), size, number, render.page_report(records)
        )
        return self.json(render.envelope(data))

    def _decide(
        self,
        request: web.Request,
        tenant: Tenant,
        kind: RecordKind,
        record: Record,
        status: str,
        note: str | None = None,
    ) -> web.Response:
        try:
            tenant.world.decide(
                kind, record.id, status, note=note, request_id=self.request_id(request)
            )
        except TransitionRejected:
            code = "ORD_REFUND_NOT_PENDING" if kind == "refund" else "ORD_CANCEL_NOT_PENDING"
            detail = f"refundStatus={record.status}"
            raise Refused(code, detail, target=record.id, logged=True) from None
        order = tenant.world.order(record.order_id)
        return self.json(render.envelope(render.decision(order, record)))

    def _decide_refund(self, request: web.Request, tenant: Tenant) -> web.Response:
        req: raw.UpdateRefundRequest = self._read(request, raw.UpdateRefundRequest)
        record = find_record(tenant.world, "refund", req.refund_id)
        order = tenant.world.order(record.order_id)
        check_quantity(req.quantity, render.record_quantity(order, record), record.id)
        note = check_refund_decision(req, record.id)
        return self._decide(request, tenant, "refund", record, str(req.status), note)

    def _decide_cancellation(self, request: web.Request, tenant: Tenant) -> web.Response:
        req: raw.CancelDecisionRequest = self._read(request, raw.CancelDecisionRequest)
        record = find_record(tenant.world, "cancellation", req.refund_id)
        order = tenant.world.order(record.order_id)
        check_quantity(req.quantity, render.record_quantity(order, record), record.id)
        if req.status not in raw.CANCELLATION_DECISION_STATUS:
            raise Refused("ORD_CANCEL_STATUS_INVALID", f"status={req.status}", target=record.id)
        return self._decide(request, tenant, "cancellation", record, str(req.status))

    def _seller_delivery(self, request: web.Request, tenant: Tenant) -> web.Response:
        data = render.seller_delivery(stable_guid("delivery", tenant.label))
        return self.json(render.envelope(data, code=None))
