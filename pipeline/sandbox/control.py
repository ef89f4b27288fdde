"""The control API under ``/_sandbox/``, so out-of-process tests, benchmarks and the demo can
drive a running sandbox the way in-process tests drive the Python objects.

=======  ===========================  =====================================================
GET      /_sandbox                    platform, base path, tenant labels, clock
GET      /_sandbox/clock              ``{"now", "manual"}``
POST     /_sandbox/clock/advance      ``{"seconds": 3600}`` or ``{"to": "<iso>"}`` (ManualClock)
POST     /_sandbox/tick               advance every world to the clock's now
GET      /_sandbox/faults             armed fault rules with match and fire counts
POST     /_sandbox/faults             a FaultRule as JSON → ``201 {"id": n}``
DELETE   /_sandbox/faults[/{id}]      remove all rules, or one
GET      /_sandbox/log?since=<seq>    the request log (credentials and tokens redacted)
GET      /_sandbox/log/summary        counts by status and path, faults, latency percentiles
DELETE   /_sandbox/log                forget the log
GET      /_sandbox/limits             rate-limit violations and admissions per rule
DELETE   /_sandbox/limits             reset windows and counters
POST     /_sandbox/tokens/expire      revoke every issued token → ``{"revoked": n}``
GET      /_sandbox/state[?tenant=x]   ground truth: orders, records, writes per tenant
GET      /_sandbox/audit              the invariant checker's side: limits replayed on the log,
                                      the truth read through the platform's own adapter,
                                      applied writes, faults fired (pipeline.checker.remote)
POST     /_sandbox/orders             ``{"count": n, "tenant": "main"}``: n new orders now
POST     /_sandbox/tenants            ``{"label", "credentials"?, "initial_orders"?}``
=======  ===========================  =====================================================

Answers are JSON; money in the state is a decimal string (exact), times are RFC 3339.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from aiohttp import web

from pipeline.clock import ManualClock
from pipeline.sandbox.faults import FaultRule

if TYPE_CHECKING:
    from pipeline.sandbox.app import Sandbox

CONTROL_PREFIX = "/_sandbox"
_T = TypeVar("_T")

_ENCODER = msgspec.json.Encoder()


class _Advance(msgspec.Struct, forbid_unknown_fields=True):
    seconds: float | None = None
    to: dt.datetime | None = None


class _Spawn(msgspec.Struct, forbid_unknown_fields=True):
    count: int = 1
    tenant: str = "main"


class _NewTenant(msgspec.Struct, forbid_unknown_fields=True):
    label: str
    credentials: dict[str, str] | None = None
    initial_orders: int | None = None
    arrival_rate_per_hour: float | None = None


def _reply(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=_ENCODER.encode(data), status=status, content_type="application/json")


def _error(message: str, status: int = 400) -> web.Response:
    return _reply({"error": message}, status)


async def _decode(request: web.Request, kind: type[_T]) -> _T:
    body = await request.read()
    try:
        return msgspec.json.decode(body or b"{}", type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
        raise web.HTTPBadRequest(
            text=_ENCODER.encode({"error": str(exc)}).decode(), content_type="application/json"
        ) from exc


def control_routes(sandbox: Sandbox) -> list[web.RouteDef]:
    def clock_state() -> dict[str, Any]:
        return {"now": sandbox.clock.now(), "manual": isinstance(sandbox.clock, ManualClock)}

    async def info(request: web.Request) -> web.Response:
        return _reply(
            {
                "platform": sandbox.platform,
                "base_path": sandbox.base_path,
                "credential_keys": sandbox.credential_keys,
                "tenants": sorted(sandbox.tenants),
                "clock": clock_state(),
            }
        )

    async def clock(request: web.Request) -> web.Response:
        return _reply(clock_state())

    async def advance(request: web.Request) -> web.Response:
        move = await _decode(request, _Advance)
        if not isinstance(sandbox.clock, ManualClock):
            return _error("the sandbox runs on the system clock", 409)
        if move.to is not None:
            if move.to.tzinfo is None:
                return _error("'to' needs a timezone")
            sandbox.clock.set(move.to)
        sandbox.advance(move.seconds or 0.0)
        return _reply(clock_state())

    async def tick(request: web.Request) -> web.Response:
        sandbox.sync()
        return _reply(clock_state())

    async def list_faults(request: web.Request) -> web.Response:
        return _reply(sandbox.faults.rules)

    async def add_fault(request: web.Request) -> web.Response:
        rule = await _decode(request, FaultRule)
        return _reply({"id": sandbox.faults.add(rule)}, 201)

    async def clear_faults(request: web.Request) -> web.Response:
        sandbox.faults.clear()
        return _reply({"cleared": True})

    async def remove_fault(request: web.Request) -> web.Response:
        if not sandbox.faults.remove(int(request.match_info["fault_id"])):
            return _error("no such fault", 404)
        return _reply({"removed": True})

    async def read_log(request: web.Request) -> web.Response:
        try:
            since = int(request.query.get("since", "0"))
        except ValueError:
            return _error("since must be an integer")
        return _reply(sandbox.log.export(since))

    async def log_summary(request: web.Request) -> web.Response:
        return _reply(sandbox.log.summary())

    async def clear_log(request: web.Request) -> web.Response:
        sandbox.log.clear()
        return _reply({"cleared": True})

    async def limits(request: web.Request) -> web.Response:
        by_key = [
            {"rule": rule, "key": key, "violations": count}
            for (rule, key), count in sandbox.limits.violations_by_key.items()
        ]
        return _reply(
            {
                "violations": dict(sandbox.limits.violations),
                "admitted": dict(sandbox.limits.admitted),
                "by_key": by_key,
            }
        )

    async def reset_limits(request: web.Request) -> web.Response:
        sandbox.limits.reset()
        return _reply({"reset": True})

    async def expire_tokens(request: web.Request) -> web.Response:
        return _reply({"revoked": sandbox.tokens.revoke_all()})

    async def state(request: web.Request) -> web.Response:
        sandbox.sync()
        wanted = request.query.get("tenant")
        if wanted is not None and wanted not in sandbox.tenants:
            return _error(f"no tenant {wanted!r}", 404)
        return _reply(
            {
                label: tenant.world.snapshot()
                for label, tenant in sandbox.tenants.items()
                if wanted is None or label == wanted
            }
        )

    async def audit(request: web.Request) -> web.Response:
        from pipeline.checker.remote import audit_sandbox  # the checker imports the sandbox

        return _reply(await audit_sandbox(sandbox, f"{request.scheme}://{request.host}"))

    async def spawn(request: web.Request) -> web.Response:
        wanted = await _decode(request, _Spawn)
        tenant = sandbox.tenants.get(wanted.tenant)
        if tenant is None:
            return _error(f"no tenant {wanted.tenant!r}", 404)
        sandbox.sync()
        orders = tenant.world.spawn(wanted.count)
        return _reply({"created": [o.id for o in orders]}, 201)

    async def add_tenant(request: web.Request) -> web.Response:
        new = await _decode(request, _NewTenant)
        try:
            tenant = sandbox.add_tenant(
                new.label,
                new.credentials,
                initial_orders=new.initial_orders,
                arrival_rate_per_hour=new.arrival_rate_per_hour,
            )
        except ValueError as exc:
            return _error(str(exc))
        return _reply({"label": tenant.label, "orders": len(tenant.world.orders)}, 201)

    p = CONTROL_PREFIX
    return [
        web.get(p, info),
        web.get(f"{p}/clock", clock),
        web.post(f"{p}/clock/advance", advance),
        web.post(f"{p}/tick", tick),
        web.get(f"{p}/faults", list_faults),
        web.post(f"{p}/faults", add_fault),
        web.delete(f"{p}/faults", clear_faults),
        web.delete(f"{p}/faults/{{fault_id:\\d+}}", remove_fault),
        web.get(f"{p}/log", read_log),
        web.get(f"{p}/log/summary", log_summary),
        web.delete(f"{p}/log", clear_log),
        web.get(f"{p}/limits", limits),
        web.delete(f"{p}/limits", reset_limits),
        web.post(f"{p}/tokens/expire", expire_tokens),
        web.get(f"{p}/state", state),
        web.get(f"{p}/audit", audit),
        web.post(f"{p}/orders", spawn),
        web.post(f"{p}/tenants", add_tenant),
    ]
