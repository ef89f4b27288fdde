"""The shared sandbox framework: the base every platform simulator builds on.

A simulator (``pipeline/platforms/<id>/sandbox.py``) subclasses :class:`Sandbox`, declares its
credential keys, its status tables (:class:`Lifecycle`, :class:`RecordLifecycle`), its rate
limits (:class:`RateLimitRule`) and its routes, and renders the ground truth (the
:class:`Order` records in each tenant's :class:`World`) in its vendor's JSON. :func:`serve` runs
simulators on loopback ports. Nothing in this package names a platform. A sketch, for a
fictional vendor with header credentials and a per-shop limit answered in an HTTP 200 body::

    class AcmeSandbox(Sandbox):
        platform = "acme"
        credential_keys = ("api_key", "api_secret")
        base_path = "/api/v2"
        lifecycle = Lifecycle(
            statuses=["1", "2", "3", "4", "5"],
            initial="1",
            seller={"1": {"2", "5"}, "2": {"3"}},
            automatic=[
                AutoTransition(source="1", target="5", after=(60, 3600), probability=0.05),
                AutoTransition(source="3", target="4", after=(86400, 3 * 86400),
                               actor="carrier"),
            ],
        )

        def identify(self, request, body):
            tenant = self.tenant_for(api_key=request.headers.get("X-Key"),
                                     api_secret=request.headers.get("X-Secret"))
            return Identity(f"{tenant.label}:headers", tenant) if tenant else ANONYMOUS

        def rate_limit_rules(self):
            return [RateLimitRule("per-shop", limit=25, window=60, key=per_tenant,
                                  respond=lambda refusal: self.json({"code": "LIMIT"}))]

        def routes(self):
            return [web.get("/order/show/{order_id}", self.show)]

        async def show(self, request):
            tenant = self.identity(request).tenant
            if tenant is None:
                return self.json({"code": "NOAUTH"})
            order = tenant.world.get(request.match_info["order_id"])
            if order is None:
                return self.json({"code": "NOTFOUND"})
            return self.json({"code": "OK", "result": {"id": order.id,
                              "status": int(order.status), "total": order.totals.total}})

Writes go through the world so they are checked and recorded::

    tenant.world.set_status(order_id, "2", request_id=self.request_id(request))
    # raises TransitionRejected when the seller table does not allow it
"""

from pipeline.sandbox.app import Sandbox, SandboxSettings
from pipeline.sandbox.catalogue import CARRIERS, CARRIERS_BY_CODE, PAYMENT_TYPES, Carrier
from pipeline.sandbox.faults import FaultRule, FaultSet
from pipeline.sandbox.generator import GeneratorSettings, OrderGenerator
from pipeline.sandbox.lifecycle import (
    AutoTransition,
    Lifecycle,
    RecordLifecycle,
    Rejection,
    TransitionRejected,
)
from pipeline.sandbox.model import (
    ISTANBUL,
    Address,
    Buyer,
    Item,
    Order,
    Record,
    Shipment,
    StatusChange,
    Totals,
    WriteRecord,
    local,
)
from pipeline.sandbox.rate_limits import (
    RateLimiter,
    RateLimitRule,
    Refusal,
    per_ip,
    per_tenant,
    per_token,
)
from pipeline.sandbox.request_log import LogEntry, RequestLog
from pipeline.sandbox.runner import ServedSandbox, serve
from pipeline.sandbox.tenants import (
    ANONYMOUS,
    Identity,
    Tenant,
    basic_credentials,
    bearer_token,
)
from pipeline.sandbox.tokens import IssuedToken, TokenIssuer
from pipeline.sandbox.world import World, WorldSnapshot

__all__ = [
    "ANONYMOUS",
    "CARRIERS",
    "CARRIERS_BY_CODE",
    "ISTANBUL",
    "PAYMENT_TYPES",
    "Address",
    "AutoTransition",
    "Buyer",
    "Carrier",
    "FaultRule",
    "FaultSet",
    "GeneratorSettings",
    "Identity",
    "IssuedToken",
    "Item",
    "Lifecycle",
    "LogEntry",
    "Order",
    "OrderGenerator",
    "RateLimitRule",
    "RateLimiter",
    "Record",
    "RecordLifecycle",
    "Refusal",
    "Rejection",
    "RequestLog",
    "Sandbox",
    "SandboxSettings",
    "ServedSandbox",
    "Shipment",
    "StatusChange",
    "Tenant",
    "TokenIssuer",
    "Totals",
    "TransitionRejected",
    "World",
    "WorldSnapshot",
    "WriteRecord",
    "basic_credentials",
    "bearer_token",
    "local",
    "per_ip",
    "per_tenant",
    "per_token",
    "serve",
]
