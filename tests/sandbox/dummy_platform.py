"""A tiny platform simulator built on the framework, the way the five real ones are written:
token auth, a paged order list, per-item status writes checked against the seller table,
shipments, refunds, and an error body of its own."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from aiohttp import web

from pipeline.clock import Clock
from pipeline.sandbox import (
    ANONYMOUS,
    AutoTransition,
    Identity,
    Lifecycle,
    Order,
    RateLimitRule,
    RecordLifecycle,
    Refusal,
    Sandbox,
    SandboxSettings,
    TransitionRejected,
    bearer_token,
)

HOUR = 3600.0
DAY = 24 * HOUR
TOKEN_TTL = dt.timedelta(hours=1)

STATUSES = ("new", "preparing", "shipped", "delivered", "cancelled", "returning", "returned")
SELLER = {"new": {"preparing", "cancelled"}, "preparing": {"shipped"}}
AUTOMATIC = (
    AutoTransition(source="new", target="cancelled", after=(60, 6 * HOUR), probability=0.2,
                   creates="cancellation", record_status="done"),
    AutoTransition(source="shipped", target="delivered", after=(DAY, 3 * DAY), actor="carrier"),
    AutoTransition(source="delivered", target="returning", after=(DAY, 10 * DAY),
                   probability=0.3, scope="item", creates="refund"),
)  # fmt: skip
ORDER_STATUS_ORDER = {s: i for i, s in enumerate(STATUSES)}


def least_advanced(statuses: Sequence[str]) -> str:
    return min(statuses, key=ORDER_STATUS_ORDER.__getitem__)


class WriteStatus(msgspec.Struct):
    status: str
    lines: list[int] | None = None


class DummySandbox(Sandbox):
    platform = "dummy"
    credential_keys = ("client_id", "client_secret")
    base_path = "/api/v9"
    lifecycle = Lifecycle(
        statuses=STATUSES, initial="new", seller=SELLER, automatic=AUTOMATIC, derive=least_advanced
    )
    refund_lifecycle = RecordLifecycle(
        statuses=("requested", "approved", "rejected"),
        initial="requested",
        seller={"requested": {"approved", "rejected"}},
        item_effects={"approved": "returned"},
    )
    cancellation_lifecycle = RecordLifecycle(
        statuses=("waiting", "done"), initial="waiting", seller={"waiting": {"done"}}
    )

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
        return self.json(
            {"success": False, "message": "too many requests"},
            status=429,
            headers={"Retry-After": refusal.retry_after_header},
        )

    def format_order_id(self, number: int, created_at: dt.datetime, rng: random.Random) -> str:
        return f"D{created_at:%y%m%d}-{number:05d}"

    def identify(self, request: web.Request, body: bytes) -> Identity:
        if request.path.endswith("/auth/token"):
            try:
                creds = msgspec.json.decode(body, type=dict[str, str])
            except (msgspec.DecodeError, msgspec.ValidationError):
                return ANONYMOUS
            tenant = self.tenant_for(client_id=creds.get("client_id"),
                                     client_secret=creds.get("client_secret"))  # fmt: skip
            return (
                Identity(f"{tenant.label}:login", tenant) if tenant else Identity("invalid:login")
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
        return [
            web.post("/auth/token", self.login),
            web.get("/orders", self.list_orders),
            web.get("/orders/{order_id}", self.show_order),
            web.put("/orders/{order_id}/status", self.update_status),
            web.post("/refunds/{refund_id}/approve", self.approve_refund),
        ]

    # -- handlers -------------------------------------------------------------------------------

    def _error(self, status: int, message: str) -> web.Response:
        return self.json({"success": False, "message": message}, status=status)

    async def login(self, request: web.Request) -> web.Response:
        identity = self.identity(request)
        if identity.tenant is None:
            return self._error(400, "invalid_client")
        token = self.tokens.issue(identity.tenant.label, TOKEN_TTL)
        return self.json({"access_token": token.value, "expires_in": 3600})

    def _render(self, order: Order) -> dict[str, Any]:
        return {
            "id": order.id,
            "status": order.status,
            "createdAt": order.created_at.isoformat(),
            "total": order.totals.total,
            "items": [
                {"line": i.line, "barcode": i.barcode, "status": i.status} for i in order.items
            ],
        }

    async def list_orders(self, request: web.Request) -> web.Response:
        tenant = self.identity(request).tenant
        if tenant is None:
            return web.Response(status=401)  # as some vendors do: 401 and an empty body
        page, size = int(request.query.get("page", "1")), int(request.query.get("size", "50"))
        if size > 100:
            return self._error(400, "size must be <= 100")
        orders = tenant.world.orders[(page - 1) * size : page * size]
        return self.json({"success": True, "data": [self._render(o) for o in orders]})

    async def show_order(self, request: web.Request) -> web.Response:
        tenant = self.identity(request).tenant
        if tenant is None:
            return web.Response(status=401)
        order = tenant.world.get(request.match_info["order_id"])
        if order is None:
            return self._error(404, "order not found")
        return self.json({"success": True, "data": self._render(order)})

    async def update_status(self, request: web.Request) -> web.Response:
        tenant = self.identity(request).tenant
        if tenant is None:
            return web.Response(status=401)
        order_id = request.match_info["order_id"]
        if tenant.world.get(order_id) is None:
            return self._error(404, "order not found")
        write = msgspec.json.decode(self.body(request), type=WriteStatus)
        try:
            tenant.world.set_status(order_id, write.status, lines=write.lines,
                                    request_id=self.request_id(request))  # fmt: skip
        except TransitionRejected as exc:
            return self._error(400, str(exc))
        return self.json({"success": True})

    async def approve_refund(self, request: web.Request) -> web.Response:
        tenant = self.identity(request).tenant
        if tenant is None:
            return web.Response(status=401)
        refund_id = request.match_info["refund_id"]
        try:
            tenant.world.decide(
                "refund", refund_id, "approved", request_id=self.request_id(request)
            )
        except KeyError:
            return self._error(404, "refund not found")
        except TransitionRejected as exc:
            return self._error(400, str(exc))
        return self.json({"success": True})
