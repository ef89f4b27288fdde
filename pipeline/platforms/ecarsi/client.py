"""E-Çarşı adapter: login, order polling on a tiny daily budget, error parsing.

Readings of the document (``platform-docs/ecarsi.txt``) chosen here, beside those in
:mod:`.mapping`, :mod:`.payloads` and :mod:`.commands`:

* **Token.** ``POST /api/auth`` with ``{"email", "password"}`` answers ``data.token``, sent as
  ``Authorization: Bearer <token>``. The document states no lifetime, no expiry field and no
  refresh endpoint (Laravel Sanctum-style tokens do not expire by default), so the token is kept
  until the API answers 401, then the client logs in again once (the shared
  :class:`~pipeline.http.HttpClient` does that); ``token_lifetime`` renews it earlier if an
  operator learns of a lifetime. Login refusals (``success: false``, or any 4xx but 429) are
  :class:`~pipeline.errors.AuthError` carrying ``message.tr``.
* **Errors.** Every answer is ``{success, message{tr, en}, data, errors}``; the HTTP status is the
  error code ("Hata Kodları"). ``success: false`` — in any status — is a refusal whose
  ``platform_message`` is ``message.tr`` verbatim and whose ``platform_code`` is the HTTP status;
  field ``errors`` are added to the exception text. 401/403 are auth errors, 429 and 5xx
  retriable (``Retry-After`` honoured when sent; the document mentions none).
* **Budget.** 60 requests/minute per IP and 1000/day per token: see
  :data:`.payloads.RATE_LIMIT`. The login counts against it too.
* **Headers.** ``Accept: application/json`` goes with every request, as in the document's
  examples: a Laravel API answers errors as JSON only when asked to (without it an
  unauthenticated request may be redirected to an HTML login page).
* **Listing.** ``GET /api/orders`` has one date parameter with ``date_mode`` exact/after/before
  and no end date; whether ``after`` includes the given day is not said. We send ``per_page=100``,
  ``date_mode=after`` and the Istanbul day *before* ``start`` — right under both readings — page to
  ``pagination.last_page`` (an empty or, without pagination, short page also ends it), and keep
  the rows created in ``[start, end)``. The sort order is not documented: no early stop, and a row
  seen twice while pages shift is yielded once. A page whose first id repeats the previous
  page's, or a ``current_page`` other than the one asked, is a paging error. With no end date,
  a window far in the past still lists everything created since its start: replaying old
  windows costs more than polling recent ones. ``order_date`` has whole seconds, and the window
  is compared with it as reported.
* **Details.** The list carries status, total, date and the buyer's e-mail only — no items,
  addresses or names. With ``details=True`` (default) each order is read once with
  ``GET /api/orders/{id}``; the detailed order is cached (``cache_size`` orders) and later
  polls refresh its statuses from the list row without a request, unless the row's ``price`` or
  ``product_count`` changed (a partial cancel/return) or the order has just reached shipping
  (tracking numbers show in the detail only), which read the detail again.

  **Cost of a poll** finding N new orders: ``ceil(M / 100)`` list requests, M being the orders
  created since the day before ``start``, plus N detail requests (plus one per changed total
  and one per order newly shipped), plus one login per process start or 401. With
  ``details=False``: the list requests only, and orders without items or addresses.
  ``fetch_order`` costs one request.
* **Refunds and cancellations** have no endpoints: returns and cancellations are order statuses
  (``return_*``, ``completed_*``, ``partial_*``), so ``streams`` is ``{"orders"}`` and the two
  fetches yield nothing.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Final, NamedTuple
from urllib.parse import quote

import msgspec

from pipeline.adapter import ApplyResult, Capabilities, Malformed
from pipeline.errors import AuthError, PlatformDecodeError, PlatformError, RejectedError
from pipeline.http import (
    HttpClient,
    HttpResponse,
    RequestContext,
    ResponseClassifier,
    TokenAuth,
    decode,
)
from pipeline.masking import mask_text, register_secret
from pipeline.platforms.ecarsi import payloads as raw
from pipeline.platforms.ecarsi.commands import EcarsiCommands
from pipeline.platforms.ecarsi.mapping import (
    PLATFORM,
    SHIPPED_OR_LATER,
    created_at,
    map_list_order,
    map_order_detail,
    overlay_list,
)
from pipeline.ratelimit import Lane, RateBudget
from schemas import AnyCommand, Cancellation, Order, Refund
from schemas.times import ISTANBUL

log = logging.getLogger(__name__)

PAGE_SIZE: Final = raw.PER_PAGE_MAX
MAX_PAGES: Final = 10_000
CACHE_SIZE: Final = 10_000
#: How long the shipping-company list is trusted before a miss fetches it again.
CARRIER_TTL: Final = dt.timedelta(minutes=10)

CAPABILITIES: Final = Capabilities(
    commands=frozenset({"order.ship"}),
    streams=frozenset({"orders"}),
    max_batch={"order.ship": 1},
    max_window=None,
    page_size=PAGE_SIZE,
    sweep="window",
)


def _ack(body: bytes) -> raw.Ack | None:
    try:
        return msgspec.json.decode(body.removeprefix(b"\xef\xbb\xbf"), type=raw.Ack)
    except msgspec.MsgspecError:
        return None


class NotFoundError(RejectedError):
    """HTTP 404 answered in the vendor's envelope (a missing order, not a wrong URL)."""


class EcarsiClassifier(ResponseClassifier):
    """``success: false`` in any status is a refusal carrying ``message.tr`` verbatim."""

    def check_body(self, ctx: RequestContext, response: HttpResponse) -> None:
        ack = _ack(response.body)
        if ack is not None and not ack.success:
            raise self.error(RejectedError, f"refused (HTTP {response.status})", ctx, response)

    def classify(self, ctx: RequestContext, response: HttpResponse) -> None:
        if response.status == 404:
            ack = _ack(response.body)
            if ack is not None and not ack.success and ack.message is not None:
                raise self.error(NotFoundError, "not found (HTTP 404)", ctx, response)
        super().classify(ctx, response)

    def platform_message(self, response: HttpResponse) -> str:
        ack = _ack(response.body)
        text = ack.text if ack is not None else None
        return mask_text(text) if text else super().platform_message(response)

    def error(
        self,
        cls: type[PlatformError],
        message: str,
        ctx: RequestContext,
        response: HttpResponse,
        **extra: Any,
    ) -> PlatformError:
        if not cls.retriable:
            extra.setdefault("platform_code", str(response.status))
            ack = _ack(response.body)
            if ack is not None:
                message = f"{message}: {ack.text or '(no message)'}{_field_errors(ack)}"
        return super().error(cls, mask_text(message), ctx, response, **extra)


def _field_errors(ack: raw.Ack) -> str:
    if isinstance(ack.errors, dict) and ack.errors:
        return " (" + "; ".join(f"{k}: {', '.join(v)}" for k, v in ack.errors.items()) + ")"
    if isinstance(ack.errors, list) and ack.errors:
        return " (" + "; ".join(ack.errors) + ")"
    return ""


class LoginClassifier(EcarsiClassifier):
    """A refused login (4xx other than 429, or ``success: false``) is an auth failure."""

    def classify(self, ctx: RequestContext, response: HttpResponse) -> None:
        status = response.status
        ack = _ack(response.body)
        refused = 400 <= status < 500 and status != 429
        if refused or (200 <= status < 300 and ack is not None and not ack.success):
            raise self.error(AuthError, f"login refused (HTTP {status})", ctx, response)
        super().classify(ctx, response)


class EcarsiAuth(TokenAuth):
    """E-mail and password → a Bearer token, kept until a 401 (or ``lifetime`` seconds)."""

    def __init__(
        self,
        *,
        base_url: str,
        email: str,
        password: str,
        budget: RateBudget,
        account: str,
        lifetime: float | None = None,
    ) -> None:
        super().__init__(leeway=0.0)
        register_secret(email)  # the login is a credential too: never in an excerpt
        register_secret(password)
        self._url = f"{base_url}/auth"
        self._login = raw.LoginRequest(email=email, password=password)
        self._budget = budget
        self._lifetime = lifetime
        self._ctx = RequestContext(PLATFORM, account, "auth")

    async def fetch_token(self, http: HttpClient) -> tuple[str, float | None]:
        response = await http.request(
            self._ctx,
            "POST",
            self._url,
            lane=Lane.COMMAND,  # without a token neither lane can move
            budget=self._budget,
            json=self._login,
            headers={"Accept": "application/json"},
            classifier=LoginClassifier(),
        )
        answer = decode(self._ctx, response.body, raw.Envelope[raw.LoginData])
        if answer.data is None or not answer.data.token:
            raise self._ctx.error(AuthError, "login answer carries no token")
        return answer.data.token, self._lifetime


class _Cached(NamedTuple):
    fingerprint: tuple[object, ...]
    order: Order


class EcarsiClient:
    """One E-Çarşı seller account."""

    platform: str = PLATFORM
    capabilities: Capabilities = CAPABILITIES

    def __init__(
        self,
        *,
        account: str,
        base_url: str,
        credentials: Mapping[str, str],
        http: HttpClient,
        budget: RateBudget,
        token_url: str | None = None,  # accepted and unused: the login lives under base_url
        page_size: int = PAGE_SIZE,
        details: bool = True,
        cache_size: int = CACHE_SIZE,
        default_desi: int | None = None,
        token_lifetime: float | None = None,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if not raw.PER_PAGE_MIN <= page_size <= raw.PER_PAGE_MAX:
            raise ValueError(f"page_size must be 1-100, got {page_size}")
        self.account = account
        self._base = base_url.rstrip("/")
        self._http = http
        self._budget = budget
        self._page_size = page_size
        self._details = details
        self._cache: collections.OrderedDict[str, _Cached] = collections.OrderedDict()
        self._cache_size = cache_size
        self.default_desi = default_desi
        self.now = now or (lambda: dt.datetime.now(dt.UTC))
        self._classifier = EcarsiClassifier()
        self._auth = EcarsiAuth(
            base_url=self._base,
            email=credentials["email"],
            password=credentials["password"],
            budget=budget,
            account=account,
            lifetime=token_lifetime,
        )
        self._carriers: list[raw.ShippingCompany] | None = None
        self._carriers_at: dt.datetime | None = None
        self.requests_sent = 0

    async def aclose(self) -> None:
        """Nothing to release: the HTTP session belongs to the process."""

    # ------------------------------------------------------------------ requests

    def ctx(self, endpoint: str) -> RequestContext:
        return RequestContext(PLATFORM, self.account, endpoint)

    async def call(
        self,
        method: str,
        path: str,
        *,
        lane: Lane,
        endpoint: str | None = None,
        params: Mapping[str, str | int] | None = None,
        json: object = None,
    ) -> tuple[RequestContext, HttpResponse]:
        ctx = self.ctx(endpoint or path.lstrip("/"))
        self.requests_sent += 1
        response = await self._http.request(
            ctx,
            method,
            f"{self._base}{path}",
            lane=lane,
            budget=self._budget,
            params=params,
            json=json,
            headers={"Accept": "application/json"},
            auth=self._auth,
            classifier=self._classifier,
        )
        return ctx, response

    async def read_order(self, order_id: str, *, lane: Lane) -> raw.OrderDetail | None:
        """``GET /api/orders/{id}`` decoded; None when the platform says it does not exist."""
        try:
            ctx, response = await self.call(
                "GET", f"/orders/{quote(order_id, safe='')}", lane=lane, endpoint="orders/{id}"
            )
        except NotFoundError:
            return None
        data = decode(ctx, response.body, raw.Envelope[raw.OrderDetailData]).data
        if data is None:
            raise ctx.error(PlatformDecodeError, "detail answer without data.order")
        return data.order

    async def shipping_companies(self, *, refresh: bool = False) -> list[raw.ShippingCompany]:
        """The contracted carriers, cached (a miss may ask again after :data:`CARRIER_TTL`)."""
        stale = self._carriers_at is None or self.now() - self._carriers_at > CARRIER_TTL
        if self._carriers is None or (refresh and stale):
            ctx, response = await self.call("GET", "/shipping-companies", lane=Lane.COMMAND)
            data = decode(ctx, response.body, raw.Envelope[list[raw.ShippingCompany]]).data
            self._carriers = list(data or [])
            self._carriers_at = self.now()
        return self._carriers

    # ------------------------------------------------------------------ reads

    def _malformed(self, ctx: RequestContext, record_id: str | None, exc: Exception) -> Malformed:
        text = mask_text(str(exc))
        log.warning(
            "malformed order record %s from %s: %s",
            record_id,
            ctx.endpoint,
            text,
            extra=ctx.log_extra(),
        )
        return Malformed(stream="orders", record_id=record_id, endpoint=ctx.endpoint, error=text)

    @staticmethod
    def _row_id(item: msgspec.Raw) -> str | None:
        class _Id(msgspec.Struct):
            order_id: str | int | None = None

        try:
            found = msgspec.json.decode(item, type=_Id).order_id
        except msgspec.MsgspecError:
            return None
        return None if found is None else str(found)

    async def _pages(self, start: dt.datetime) -> AsyncIterator[tuple[RequestContext, msgspec.Raw]]:
        day = (start.astimezone(ISTANBUL).date() - dt.timedelta(days=1)).strftime(
            raw.LIST_DATE_FORMAT
        )
        previous_first: str | None = None
        for page in range(1, MAX_PAGES + 1):
            params: dict[str, str | int] = {
                "page": page,
                "per_page": self._page_size,
                "date": day,
                "date_mode": "after",
            }
            ctx, response = await self.call("GET", "/orders", lane=Lane.POLL, params=params)
            data = decode(ctx, response.body, raw.Envelope[raw.OrderPage]).data
            rows = data.orders if data is not None else []
            pagination = data.pagination if data is not None else None
            if pagination is not None and pagination.current_page not in (None, page):
                raise ctx.error(
                    PlatformDecodeError,
                    f"paging error: asked page {page}, got {pagination.current_page}",
                )
            if rows:
                first = self._row_id(rows[0])
                if page > 1 and first is not None and first == previous_first:
                    raise ctx.error(
                        PlatformDecodeError, f"paging loop: page {page} repeats page {page - 1}"
                    )
                previous_first = first
            for row in rows:
                yield ctx, row
            if not rows:
                return
            if pagination is not None and pagination.last_page is not None:
                if page >= pagination.last_page:
                    return
            elif len(rows) < self._page_size:
                return
        raise self.ctx("orders").error(PlatformDecodeError, f"more than {MAX_PAGES} pages")

    async def fetch_orders(
        self, start: dt.datetime, end: dt.datetime
    ) -> AsyncIterator[Order | Malformed]:
        """Orders created in ``[start, end)``; see the module docstring for the cost."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("fetch_orders needs aware datetimes")
        if start >= end:
            return
        seen: set[str] = set()
        async for ctx, item in self._pages(start):
            record_id = self._row_id(item)
            try:
                row = decode(ctx, bytes(item), raw.ListOrder)
                when = created_at(row, account=self.account)
            except PlatformDecodeError as exc:
                yield self._malformed(ctx, record_id, exc)
                continue
            order_id = str(row.order_id).strip()
            if not order_id:  # its detail would be "GET /orders/", the list itself
                yield self._malformed(
                    ctx, record_id, ctx.error(PlatformDecodeError, "empty order_id")
                )
                continue
            if order_id in seen or not start <= when < end:
                continue
            seen.add(order_id)
            yield await self._order_for(ctx, row, order_id)

    async def _order_for(
        self, ctx: RequestContext, row: raw.ListOrder, order_id: str
    ) -> Order | Malformed:
        try:
            if not self._details:
                return map_list_order(row, account=self.account)
            fingerprint = (row.price, row.product_count, row.seller_status in SHIPPED_OR_LATER)
            cached = self._cache.get(order_id)
            if cached is not None and cached.fingerprint == fingerprint:
                order = overlay_list(cached.order, row)
            else:
                detail = await self.read_order(order_id, lane=Lane.POLL)
                if detail is None:
                    raise ctx.error(
                        PlatformDecodeError, f"order {order_id} is listed but its detail is 404"
                    )
                order = map_order_detail(detail, account=self.account)
        except (PlatformDecodeError, RejectedError) as exc:  # this order's, not the poll's
            return self._malformed(ctx, order_id, exc)
        self._cache[order_id] = _Cached(fingerprint, order)
        self._cache.move_to_end(order_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return order

    async def fetch_order(self, order_id: str) -> Order | None:
        """One order by id: one request."""
        detail = await self.read_order(order_id, lane=Lane.POLL)
        return None if detail is None else map_order_detail(detail, account=self.account)

    async def fetch_refunds(
        self, start: dt.datetime, end: dt.datetime
    ) -> AsyncIterator[Refund | Malformed]:
        """No refund endpoint: returns are order statuses (``return_*``, ``partial_return``)."""
        none: tuple[Refund, ...] = ()
        for refund in none:
            yield refund

    async def fetch_cancellations(
        self, start: dt.datetime, end: dt.datetime
    ) -> AsyncIterator[Cancellation | Malformed]:
        """No cancellation endpoint: cancellations are order statuses (``*_cancel``)."""
        none: tuple[Cancellation, ...] = ()
        for cancellation in none:
            yield cancellation

    async def apply(self, commands: Sequence[AnyCommand]) -> list[ApplyResult]:
        """One result per command, in order; see :mod:`.commands`."""
        writer = EcarsiCommands(self)
        return [await writer.apply_one(command) for command in commands]
