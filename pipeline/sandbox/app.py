"""The base every platform simulator is built on: a :class:`Sandbox` subclass declares its
credential keys, lifecycle tables, rate-limit rules and routes; the base supplies tenants with
their worlds, tokens, the request log, rate-limit enforcement, fault injection and the control
API under ``/_sandbox/``, and builds the aiohttp application.

A request to a platform path goes through, outermost first:

1. the request log (every request, including refused and faulted ones) and a world sync
   (every tenant's world is advanced to the clock's now, so time-driven changes are visible);
2. fault injection (an edge failure never reaches the platform's limits or handler);
3. identification (:meth:`Sandbox.identify`, once per request) and the platform's rate limits;
4. the simulator's handler.

Control requests (``/_sandbox/…``) skip all four and are not logged.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import msgspec
from aiohttp import web

from pipeline.clock import Clock, ManualClock, SystemClock
from pipeline.sandbox.control import CONTROL_PREFIX, control_routes
from pipeline.sandbox.evolution import default_order_id, default_record_id
from pipeline.sandbox.faults import FAULT_KEY, FaultInjector, FaultSet, Handler
from pipeline.sandbox.generator import GeneratorSettings, OrderGenerator
from pipeline.sandbox.lifecycle import Lifecycle, RecordLifecycle
from pipeline.sandbox.model import RecordKind
from pipeline.sandbox.rate_limits import RateLimiter, RateLimitRule, Refusal
from pipeline.sandbox.request_log import LogEntry, RequestLog
from pipeline.sandbox.tenants import (
    ANONYMOUS,
    DEFAULT_TENANT,
    Identity,
    Tenant,
    default_credentials,
)
from pipeline.sandbox.tokens import TokenIssuer
from pipeline.sandbox.world import World

IDENTITY_KEY = web.RequestKey("sandbox.identity", Identity)
BODY_KEY = web.RequestKey("sandbox.body", bytes)
ENTRY_KEY = web.RequestKey("sandbox.log_entry", LogEntry)
LIMITED_KEY = web.RequestKey("sandbox.limited", str)
SANDBOX_KEY = web.AppKey("sandbox", object)

_JSON = msgspec.json.Encoder(decimal_format="number")


class SandboxSettings(msgspec.Struct, frozen=True, kw_only=True):
    seed: int = 0
    initial_orders: int = 0  # orders backfilled into each new tenant's world
    history: dt.timedelta = dt.timedelta(days=7)  # how far back the backfill reaches
    arrival_rate_per_hour: float = 0.0  # new orders per hour and tenant (Poisson)
    generator: GeneratorSettings = msgspec.field(default_factory=GeneratorSettings)
    max_log_entries: int = 10_000
    max_logged_body: int = 64 * 1024
    client_max_size: int = 32 * 1024 * 1024  # a platform's own upload limit is its handler's job
    control_api: bool = True


class Sandbox:
    """Base class of a platform simulator. Subclasses set the class attributes and override
    :meth:`routes` (and usually :meth:`identify`, :meth:`rate_limit_rules`,
    :meth:`rate_limit_response`, :meth:`format_order_id`)."""

    platform: ClassVar[str] = "sandbox"
    credential_keys: ClassVar[tuple[str, ...]] = ()
    base_path: ClassVar[str] = ""  # e.g. "/api": routes() paths are relative to it
    lifecycle: ClassVar[Lifecycle]
    refund_lifecycle: ClassVar[RecordLifecycle | None] = None
    cancellation_lifecycle: ClassVar[RecordLifecycle | None] = None

    def __init__(
        self, *, clock: Clock | None = None, settings: SandboxSettings | None = None
    ) -> None:
        # rate_limit_rules() and make_generator() are called from here: a subclass sets what
        # they need before calling super().__init__().
        self.clock: Clock = clock or SystemClock()
        self.settings = settings or SandboxSettings()
        seed = self.settings.seed
        self.tokens = TokenIssuer(self.clock, seed=seed)
        self.faults = FaultSet(seed)
        self.limits = RateLimiter(self.clock, self.rate_limit_rules())
        self.log = RequestLog(
            max_entries=self.settings.max_log_entries,
            max_body_bytes=self.settings.max_logged_body,
            secrets=self._secret_values,
        )
        self._injector = FaultInjector(self.faults, self.clock, self.tokens.revoke_all)
        self.tenants: dict[str, Tenant] = {}
        self.add_tenant(DEFAULT_TENANT)

    # -- hooks for simulators -------------------------------------------------------------------

    def routes(self) -> Iterable[web.RouteDef]:
        """The platform's endpoints, paths relative to :attr:`base_path`."""
        raise NotImplementedError

    def identify(self, request: web.Request, body: bytes) -> Identity:
        """Who the request authenticates as (called once per request, must not raise). The
        default knows nobody; simulators use :meth:`tenant_for`, the parsers in
        :mod:`pipeline.sandbox.tenants` and :attr:`tokens`."""
        return ANONYMOUS

    def rate_limit_rules(self) -> Sequence[RateLimitRule]:
        return ()

    def rate_limit_response(self, refusal: Refusal) -> web.StreamResponse:
        """The platform's answer when over a limit; a rule's own ``respond`` takes precedence."""
        return web.json_response(
            {"message": "Too Many Requests"},
            status=429,
            headers={"Retry-After": refusal.retry_after_header},
        )

    def format_order_id(self, number: int, created_at: dt.datetime, rng: random.Random) -> str:
        return default_order_id(number, created_at, rng)

    def format_record_id(self, kind: RecordKind, number: int, rng: random.Random) -> str:
        return default_record_id(kind, number, rng)

    def make_generator(self) -> OrderGenerator:
        return OrderGenerator(self.settings.generator)

    def setup_tenant(self, tenant: Tenant) -> None:
        """Called once per new tenant, to fill ``tenant.data`` with the simulator's own state."""

    # -- tenants --------------------------------------------------------------------------------

    def add_tenant(
        self,
        label: str,
        credentials: Mapping[str, str] | None = None,
        *,
        seed: int | str | None = None,
        initial_orders: int | None = None,
        arrival_rate_per_hour: float | None = None,
    ) -> Tenant:
        """Add an account; credentials default to ``sandbox-<label>-<key>`` (``sandbox-<key>``
        for the default tenant ``main``)."""
        if label in self.tenants:
            raise ValueError(f"tenant {label!r} exists already")
        creds = (
            dict(credentials)
            if credentials is not None
            else default_credentials(self.credential_keys, label)
        )
        missing = set(self.credential_keys) - set(creds)
        if missing:
            raise ValueError(f"tenant {label!r} lacks credentials {sorted(missing)}")
        if seed is None:
            seed = (
                self.settings.seed if label == DEFAULT_TENANT else f"{self.settings.seed}|{label}"
            )
        rate = self.settings.arrival_rate_per_hour
        world = World(
            lifecycle=self.lifecycle,
            start=self.clock.now(),
            seed=seed,
            refunds=self.refund_lifecycle,
            cancellations=self.cancellation_lifecycle,
            generator=self.make_generator(),
            arrival_rate_per_hour=rate if arrival_rate_per_hour is None else arrival_rate_per_hour,
            format_order_id=self.format_order_id,
            format_record_id=self.format_record_id,
        )
        count = self.settings.initial_orders if initial_orders is None else initial_orders
        if count:
            world.backfill(count, self.settings.history)
        tenant = Tenant(label=label, credentials=creds, world=world)
        self.tenants[label] = tenant
        self.setup_tenant(tenant)
        return tenant

    @property
    def tenant(self) -> Tenant:
        """The default tenant."""
        return self.tenants[DEFAULT_TENANT]

    @property
    def world(self) -> World:
        """The default tenant's world."""
        return self.tenant.world

    def tenant_for(self, **values: str | None) -> Tenant | None:
        """The tenant whose credentials equal all the given ones, e.g.
        ``tenant_for(email=…, password=…)``; None if none does."""
        return next((t for t in self.tenants.values() if t.matches(values)), None)

    def _secret_values(self) -> list[str]:
        values = [v for t in self.tenants.values() for v in t.credentials.values()]
        return values + [token.value for token in self.tokens.issued]

    # -- per-request helpers --------------------------------------------------------------------

    def identity(self, request: web.Request) -> Identity:
        cached = request.get(IDENTITY_KEY)
        if cached is None:
            try:
                cached = self.identify(request, self.body(request))
            except Exception:  # noqa: BLE001 - a broken identify must not become a 500 here
                cached = Identity("unidentifiable")
            request[IDENTITY_KEY] = cached
        return cached

    @staticmethod
    def body(request: web.Request) -> bytes:
        """The request body (read once by the sandbox; ``await request.read()`` works too)."""
        body: bytes = request.get(BODY_KEY, b"")
        return body

    @staticmethod
    def request_id(request: web.Request) -> str | None:
        """The request-log id, to pass to world writes as ``request_id``."""
        entry = request.get(ENTRY_KEY)
        return entry.id if entry else None

    @staticmethod
    def json(
        data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        """A JSON answer with ``Decimal`` as JSON numbers, as the vendors send money."""
        return web.Response(
            body=_JSON.encode(data),
            status=status,
            content_type="application/json",
            charset="utf-8",
            headers=headers,
        )

    # -- time -----------------------------------------------------------------------------------

    def sync(self) -> None:
        """Advance every tenant's world to the clock's now."""
        now = self.clock.now()
        for tenant in self.tenants.values():
            tenant.world.advance(now)

    def advance(self, seconds: float) -> None:
        """Move a ManualClock forward and let every world catch up."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("only a sandbox on a ManualClock can be advanced")
        self.clock.advance(seconds)
        self.sync()

    # -- the application ------------------------------------------------------------------------

    def build(self) -> web.Application:
        """A new aiohttp application serving this simulator (state lives in ``self``)."""
        app = web.Application(
            middlewares=[self._middleware], client_max_size=self.settings.client_max_size
        )
        app[SANDBOX_KEY] = self
        prefix = self.base_path.rstrip("/")
        app.router.add_routes(
            web.RouteDef(rd.method, prefix + rd.path, rd.handler, rd.kwargs)
            if isinstance(rd, web.RouteDef)
            else rd
            for rd in self.routes()
        )
        if self.settings.control_api:
            app.router.add_routes(control_routes(self))
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_startup(self, app: web.Application) -> None:
        self._injector.reopen()

    async def _on_shutdown(self, app: web.Application) -> None:
        self._injector.close()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == CONTROL_PREFIX or request.path.startswith(CONTROL_PREFIX + "/"):
            return await handler(request)
        body = await request.read()
        request[BODY_KEY] = body
        entry = self.log.open(
            at=self.clock.now(),
            method=request.method,
            path=request.path,
            query=list(request.query.items()),
            remote=request.remote,
            body=body,
        )
        request[ENTRY_KEY] = entry
        started = time.perf_counter()
        try:
            self.sync()
            response = await self._injector.handle(
                request, functools.partial(self._admit, handler=handler)
            )
        except web.HTTPException as exc:
            entry.status = exc.status
            raise
        except asyncio.CancelledError:
            entry.error = "CancelledError"
            raise
        except Exception as exc:
            entry.status = 500
            entry.error = type(exc).__name__
            raise
        else:
            entry.status = response.status
            if isinstance(response, web.Response) and isinstance(response.body, bytes):
                entry.response_size = len(response.body)
            if not response.prepared:
                response.headers["X-Sandbox-Request-Id"] = entry.id
            return response
        finally:
            entry.latency = time.perf_counter() - started
            identity = self.identity(request)
            entry.identity = identity.label
            entry.tenant = identity.tenant.label if identity.tenant else None
            resource = request.match_info.route.resource
            entry.route = resource.canonical if resource is not None else None
            entry.fault = request.get(FAULT_KEY)
            entry.limited = request.get(LIMITED_KEY)

    async def _admit(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        identity = self.identity(request)
        refusal = self.limits.check(request, identity)
        if refusal is not None:
            request[LIMITED_KEY] = refusal.rule.name
            respond = refusal.rule.respond or self.rate_limit_response
            return respond(refusal)
        return await handler(request)
