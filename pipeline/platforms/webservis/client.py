"""Webservis adapter: header auth, answer codes in HTTP 200 bodies, offset paging, detail calls.

Readings of the document (``platform-docs/webservis.txt``) chosen here, beside those in
:mod:`.mapping` and :mod:`.payloads`:

* **Auth.** ``apikey`` and ``apisecret`` headers on every request (section 3); nothing to
  refresh. ``GET auth`` is never called: it would spend a request of the 25 per minute.
* **Answer codes.** Every answer is ``{"code", "message", "result"}`` with HTTP 200, errors
  included. ``AUTH001``–``AUTH003`` and ``AUTH006`` (service off, unknown or inactive user, no
  permission for the method) are :class:`AuthError`: only the shop's operator can fix them.
  ``AUTH004`` is :class:`RateLimited`; the answer carries no hint, so ``retry_after`` is the
  whole minute (a ``Retry-After`` header wins if one ever comes). ``AUTH005`` (invalid method:
  wrong path or base URL) and every other code — ``ORDERSHOW001`` and the codes of methods we
  do not call, or a code the document does not list — are :class:`RejectedError` carrying the
  code and the message verbatim (the document's own description when the message is missing).
  The same codes in a non-2xx body are classified the same way; 429 and 5xx keep their usual
  meaning.
* **Which calls.** ``order/lists`` rows have no money, lines or customer, so every order needs
  one ``order/show`` (see :mod:`.mapping`). **Cost per poll**: ``ceil(rows / page_size)`` list
  requests plus one ``order/show`` per listed order not served from the detail cache. At 25
  requests per minute for the whole shop that is at most ~24 orders per minute in detail;
  a window of 500 orders costs 5 + 500 requests, ~20 minutes of the shop's budget. Hence:
  * the **active sweep** is :meth:`WebservisClient.fetch_updated`: ``orderBy=updatedAt&sort=desc``
    from offset 0, stopping at the first row older than ``since`` — one list request plus one
    detail per changed order;
  * a **detail cache** (``detail_cache`` orders, LRU) skips ``order/show`` for a listed order
    whose ``updatedAt`` and ``status`` equal those of the cached detail. This trusts
    ``updatedAt`` ("Güncellenme tarihi") to move on every change; ``detail_cache=0`` turns it
    off;
  * rows outside the requested window and rows already seen in the same call are dropped
    before their detail is fetched.
* **Windows.** ``startDate``/``endDate`` filter the order date (``createdAt``); whether the end
  is inclusive is not said. We send the start floored and the end rounded up to the second
  (covering both readings) and keep the rows whose ``createdAt`` — the order's canonical
  ``created_at`` — lies in ``[start, end)``, so adjacent windows split the orders exactly, and
  rows outside cost no detail request. No maximum window is documented, so none is split.
* **Paging.** ``pageStart`` is an offset; ``pageSize`` ≤ 100 and its default 0 lists nothing,
  so it is always sent. Windows page ``orderBy=id&sort=asc``: new orders have higher ids and
  land behind the cursor, never shifting it. Paging stops on a short page or when the offset
  reaches ``total`` (which counts at least the matching orders in every reading). A page whose
  first row repeats the previous page's is a paging loop (an error, never an endless poll).
  In the descending sweep an order updated mid-sweep jumps to the front, shifting the rest down:
  the boundary row may repeat (dropped) and the moved order is seen by the *next* sweep — so
  the caller must take the next ``since`` from before this sweep started, never from the newest
  ``updatedAt`` seen.
* **Malformed records.** A list row or a detail that cannot be decoded or mapped, and a listed
  order that ``order/show`` answers ``ORDERSHOW001`` for, is yielded as
  :class:`~pipeline.adapter.Malformed`; the rest of the page still arrives.
* **Streams.** The document has no refunds or cancellations: those fetches yield nothing and
  ``capabilities.streams`` is ``{"orders"}``. Status 4 (cancel/exchange/return) is visible on
  the order itself.
* **Writes**: none (:mod:`.commands`).
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from typing import Final

import msgspec

from pipeline.adapter import ApplyResult, Capabilities, Malformed
from pipeline.dates import format_local
from pipeline.errors import (
    AuthError,
    PlatformDecodeError,
    PlatformError,
    RateLimited,
    RejectedError,
)
from pipeline.http import (
    HeaderAuth,
    HttpClient,
    HttpResponse,
    RequestContext,
    ResponseClassifier,
    decode,
)
from pipeline.masking import mask_text
from pipeline.platforms.webservis import payloads as raw
from pipeline.platforms.webservis.commands import unsupported_results
from pipeline.platforms.webservis.mapping import PLATFORM, RowTimes, map_order, row_times
from pipeline.ratelimit import Lane, RateBudget
from schemas import AnyCommand, Cancellation, Order, Refund

log = logging.getLogger(__name__)

PAGE_SIZE: Final = raw.ORDER_PAGE_SIZE_MAX
MAX_PAGES: Final = 10_000
DETAIL_CACHE: Final = 1_000
#: AUTH004 says "per minute" and nothing more: the longest wait that can be needed.
RATE_LIMIT_RETRY_AFTER: Final = 60.0
LIST: Final = "order/lists"
SHOW: Final = "order/show"
ORDER_NOT_FOUND: Final = "ORDERSHOW001"

#: Answer code → the error it is (anything else but SUCCESS: RejectedError).
CODE_ERRORS: Final[dict[str, type[PlatformError]]] = {
    "AUTH001": AuthError,
    "AUTH002": AuthError,
    "AUTH003": AuthError,
    "AUTH004": RateLimited,
    "AUTH005": RejectedError,
    "AUTH006": AuthError,
}

CAPABILITIES: Final = Capabilities(
    commands=frozenset(),
    streams=frozenset({"orders"}),
    max_batch={},
    max_window=None,
    page_size=PAGE_SIZE,
    sweep="updated_since",
)


class WebservisClassifier(ResponseClassifier):
    """A ``code`` other than ``SUCCESS`` is an error, whatever the HTTP status (see above)."""

    message_keys = ("message",)

    def classify(self, ctx: RequestContext, response: HttpResponse) -> None:
        status = response.status
        if status != 429 and status < 500:
            answer = _status(response.body)
            if answer is not None and answer.code != raw.SUCCESS:
                raise self.code_error(ctx, response, answer)
        super().classify(ctx, response)

    def code_error(
        self, ctx: RequestContext, response: HttpResponse, answer: raw.Status
    ) -> PlatformError:
        code = answer.code
        text = answer.message or raw.RESPONSE_CODES.get(code) or ""
        cls = CODE_ERRORS.get(code, RejectedError)
        message = f"{code}: {mask_text(text)}" if text else code
        if cls is RateLimited:
            retry_after = self.retry_after(response)
            if retry_after is None:
                retry_after = RATE_LIMIT_RETRY_AFTER
            return self.error(
                RateLimited,
                f"rate limited ({message}), retry after {retry_after:g}s",
                ctx,
                response,
                retry_after=retry_after,
                platform_code=code,
            )
        return self.error(
            cls,
            f"refused: {message}",
            ctx,
            response,
            platform_code=code,
            platform_message=text or None,
        )


def _status(body: bytes) -> raw.Status | None:
    try:
        return msgspec.json.decode(body.removeprefix(b"\xef\xbb\xbf"), type=raw.Status)
    except msgspec.MsgspecError:
        return None  # not an envelope (HTML page, truncated JSON): decode() reports it later


def _stamp(moment: dt.datetime, *, round_up: bool = False) -> str:
    """Istanbul wall time to the second; ``round_up`` for ends."""
    if round_up and moment.microsecond:
        moment = moment + dt.timedelta(seconds=1)
    return format_local(moment.replace(microsecond=0), raw.DATETIME_FORMAT)


def _floor(moment: dt.datetime) -> dt.datetime:
    return moment.replace(microsecond=0)


class _RowId(msgspec.Struct):
    id: int | str | None = None


def _row_id(item: msgspec.Raw) -> str | None:
    try:
        found = msgspec.json.decode(item, type=_RowId).id
    except msgspec.MsgspecError:
        return None
    return None if found is None else str(found).strip()


class WebservisClient:
    """One shop (an "e-ticaret sitesi") on the generic E-Ticaret API Web Servis V2."""

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
        token_url: str | None = None,
        page_size: int = PAGE_SIZE,
        detail_cache: int = DETAIL_CACHE,
        max_pages: int = MAX_PAGES,
    ) -> None:
        if not 1 <= page_size <= raw.ORDER_PAGE_SIZE_MAX:
            raise ValueError(f"page_size must be 1-{raw.ORDER_PAGE_SIZE_MAX}, got {page_size}")
        self.account = account
        self._base = base_url.rstrip("/")
        self._http = http
        self._budget = budget
        self._page_size = page_size
        self._max_pages = max_pages
        self._classifier = WebservisClassifier()
        self._auth = HeaderAuth(
            {
                raw.HEADER_API_KEY: credentials["api_key"],
                raw.HEADER_API_SECRET: credentials["api_secret"],
            }
        )
        self._cache_size = detail_cache
        self._cache: collections.OrderedDict[str, Order] = collections.OrderedDict()
        self.requests_sent = 0
        self.cache_hits = 0

    async def aclose(self) -> None:
        """Nothing to release: the HTTP session belongs to the process."""

    # ------------------------------------------------------------------ requests

    def ctx(self, endpoint: str) -> RequestContext:
        return RequestContext(PLATFORM, self.account, endpoint)

    async def _get(
        self, endpoint: str, path: str, params: Mapping[str, str | int] | None = None
    ) -> tuple[RequestContext, HttpResponse]:
        ctx = self.ctx(endpoint)
        self.requests_sent += 1
        response = await self._http.request(
            ctx,
            "GET",
            f"{self._base}/{path}",
            lane=Lane.POLL,
            budget=self._budget,
            params=params,
            auth=self._auth,
            classifier=self._classifier,
        )
        return ctx, response

    async def _rows(
        self, query: raw.ListOrdersQuery
    ) -> AsyncGenerator[tuple[RequestContext, msgspec.Raw]]:
        """Every row of ``order/lists`` for ``query``, page by page (offsets)."""
        offset = 0
        previous_first: str | None = None
        for page in range(1, self._max_pages + 1):
            params = msgspec.structs.replace(query, page_start=offset).params()
            ctx, response = await self._get(LIST, LIST, params)
            data = decode(ctx, response.body, raw.Envelope[raw.OrderPage]).payload
            rows = data.rows if data is not None else []
            if rows:
                first = _row_id(rows[0])
                if page > 1 and first is not None and first == previous_first:
                    raise ctx.error(
                        PlatformDecodeError,
                        f"paging loop: pageStart={offset} repeats the previous page",
                    )
                previous_first = first
            for row in rows:
                yield ctx, row
            offset += len(rows)
            if len(rows) < query.page_size:
                return
            if data is not None and data.total is not None and offset >= data.total:
                return
        raise self.ctx(LIST).error(PlatformDecodeError, f"more than {self._max_pages} pages")

    def _malformed(self, ctx: RequestContext, record_id: str | None, error: str) -> Malformed:
        text = mask_text(error)
        log.warning(
            "malformed order %s from %s: %s", record_id, ctx.endpoint, text, extra=ctx.log_extra()
        )
        return Malformed(stream="orders", record_id=record_id, endpoint=ctx.endpoint, error=text)

    def _row(self, ctx: RequestContext, item: msgspec.Raw) -> RowTimes | Malformed:
        try:
            row = decode(ctx, bytes(item), raw.OrderRow)
            times = row_times(row, account=self.account, endpoint=ctx.endpoint)
        except PlatformDecodeError as exc:
            return self._malformed(ctx, _row_id(item), str(exc))
        return times

    # ------------------------------------------------------------------ detail

    async def _show(self, order_id: str) -> Order:
        ctx, response = await self._get(SHOW, f"{SHOW}/{order_id}")
        detail = decode(ctx, response.body, raw.Envelope[raw.OrderDetail]).payload
        if detail is None:
            raise ctx.error(PlatformDecodeError, f"order {order_id}: answer without a result")
        order = map_order(detail, account=self.account, endpoint=SHOW)
        if order.order_id != order_id:
            raise ctx.error(
                PlatformDecodeError, f"asked for order {order_id}, got order {order.order_id}"
            )
        self._remember(order)
        return order

    def _remember(self, order: Order) -> None:
        if self._cache_size <= 0:
            return
        self._cache[order.order_id] = order
        self._cache.move_to_end(order.order_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _cached(self, times: RowTimes) -> Order | None:
        """The cached detail when the row shows no change since it was fetched."""
        order = self._cache.get(times.order_id)
        if order is None or times.updated_at is None or order.updated_at != times.updated_at:
            return None
        if times.raw_status != order.raw_status:
            return None
        self._cache.move_to_end(times.order_id)
        self.cache_hits += 1
        return order

    async def _detail(self, ctx: RequestContext, times: RowTimes) -> Order | Malformed:
        cached = self._cached(times)
        if cached is not None:
            return cached
        try:
            return await self._show(times.order_id)
        except PlatformDecodeError as exc:
            return self._malformed(self.ctx(SHOW), times.order_id, str(exc))
        except RejectedError as exc:
            if exc.platform_code != ORDER_NOT_FOUND:
                raise
            return self._malformed(
                self.ctx(SHOW), times.order_id, f"listed by {ctx.endpoint}, but {exc}"
            )

    # ------------------------------------------------------------------ reads

    async def _orders(
        self,
        query: raw.ListOrdersQuery,
        keep: Callable[[RowTimes], bool],
        stop: Callable[[RowTimes], bool],
    ) -> AsyncIterator[Order | Malformed]:
        seen: set[str] = set()
        async with contextlib.aclosing(self._rows(query)) as rows:
            async for ctx, item in rows:
                times = self._row(ctx, item)
                if isinstance(times, Malformed):
                    yield times
                    continue
                if stop(times):
                    return
                if times.order_id in seen or not keep(times):
                    continue
                seen.add(times.order_id)
                yield await self._detail(ctx, times)

    async def fetch_orders(
        self, start: dt.datetime, end: dt.datetime
    ) -> AsyncIterator[Order | Malformed]:
        """Orders created in ``[start, end)``: one list window, one detail per order."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("fetch_orders needs aware datetimes")
        if end <= start:
            return
        query = raw.ListOrdersQuery(
            page_start=0,
            page_size=self._page_size,
            order_by="id",
            sort="asc",
            start_date=_stamp(start),
            end_date=_stamp(end, round_up=True),
        )

        def inside(times: RowTimes) -> bool:
            created = times.created_at
            return created is None or start <= created < end  # no date: let the detail decide

        async for record in self._orders(query, inside, lambda _: False):
            yield record

    async def fetch_updated(self, since: dt.datetime) -> AsyncIterator[Order | Malformed]:
        """Orders changed at or after ``since``, newest change first (the active sweep).

        Pages ``orderBy=updatedAt&sort=desc`` and stops at the first row older than ``since``
        (floored to the second: the API's precision). A row without ``updatedAt`` counts as
        changed at its ``createdAt``; if a shop left it empty on new orders, MySQL would sort
        them last and the sweep would stop before them — new orders are the creation-window
        poll's job anyway. Take the next ``since`` from before this call started.
        """
        if since.tzinfo is None:
            raise ValueError("fetch_updated needs an aware datetime")
        query = raw.ListOrdersQuery(
            page_start=0, page_size=self._page_size, order_by="updatedAt", sort="desc"
        )
        floor = _floor(since)

        def older(times: RowTimes) -> bool:
            changed = times.updated_at or times.created_at
            return changed is not None and changed < floor

        async for record in self._orders(query, lambda _: True, older):
            yield record

    async def fetch_order(self, order_id: str) -> Order | None:
        """One order by its id (``order/show/<id>``); ``None`` when the shop does not know it."""
        text = order_id.strip()
        if not (text.isascii() and text.isdigit()) or int(text) <= 0:  # int("²") raises
            return None
        try:
            return await self._show(str(int(text)))
        except RejectedError as exc:
            if exc.platform_code == ORDER_NOT_FOUND:
                return None
            raise

    async def fetch_refunds(
        self, start: dt.datetime, end: dt.datetime
    ) -> AsyncIterator[Refund | Malformed]:
        """The document has no refunds or returns: nothing, without a request."""
        none: tuple[Refund, ...] = ()
        for record in none:
            yield record

    async def fetch_cancellations(
        self, start: dt.datetime, end: dt.datetime
    ) -> AsyncIterator[Cancellation | Malformed]:
        """The document has no cancellation records: nothing, without a request."""
        none: tuple[Cancellation, ...] = ()
        for record in none:
            yield record

    async def apply(self, commands: Sequence[AnyCommand]) -> list[ApplyResult]:
        """Every command is ``unsupported`` (no order write endpoint); no request is made."""
        return unsupported_results(commands)
