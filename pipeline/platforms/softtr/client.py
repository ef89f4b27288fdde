"""Softtr adapter: HTTP Basic auth, the day-filtered order list, details, and status writes.

Readings of the document (``platform-docs/softtr.txt``) chosen here, beside those in
:mod:`.mapping`, :mod:`.payloads` and :mod:`.commands`:

* **Auth.** "HTTP Basic Auth … kullanıcı adı ve şifreyi HTTP Authorization Header bilgisinde":
  ``Authorization: Basic base64(username:password)`` on every request, nothing to refresh.
* **Windows.** The list filters by *day* (``startDate``/``endDate`` as ``dd-mm-yyyy``), and the
  document never says whether ``endDate`` is inclusive. To cover ``[start, end)`` we send
  ``startDate`` = the Istanbul day of ``start`` and ``endDate`` = the day *after* the Istanbul
  day of the window's last instant: the window is covered under either reading, and under the
  inclusive one the extra day costs nothing for a poll of today (tomorrow has no orders yet).
  Both parameters are always sent — the table makes startDate "zorunlu" together with endDate,
  while the document's own example sends startDate alone (the sandbox accepts both).
  No maximum window is documented, so a window is never split.
* **Dropping, not overlapping.** Orders whose number-encoded time falls outside
  ``[start, end)`` are dropped *before* their detail is fetched: the day filter would otherwise
  hand every poll of a day the whole day again, and each order costs one detail request.
  Adjacent windows therefore never repeat an order. An order whose number encodes no time is
  yielded as :class:`~pipeline.adapter.Malformed` by every fetch whose days list it.
* **Paging.** ``page`` from 1 with ``pageSize`` (≤ 100). Stop on an empty page, on a page
  shorter than ``min(data.size, pageSize)``, or when ``page ≥ data.pageCount`` of the *latest*
  answer (so orders arriving meanwhile extend the walk). Rows are de-duplicated by number within
  one fetch (a newest-first list shifts when orders arrive while we page); a page whose first
  row repeats the previous page's first row is a paging loop (:class:`PlatformDecodeError`).
* **Details.** The list has no items, VAT or contact data, the detail has no TC kimlik no:
  every order in a window costs its list row plus ``GET /order/{orderno}``, and the canonical
  order is built from both. ``fetch_order`` reads the detail and then looks the row up in the
  list of the day the number encodes, so both paths give the same canonical order (a different
  one would be published as a spurious update). A listed order whose detail answers 404 (or
  another 4xx refusal, or an undecodable body) is ``Malformed``, so one poisoned order cannot
  block its window; timeouts, 5xx and auth failures end the fetch (the poller retries it).
* **Status memory.** Nothing the API returns carries a status. The client remembers the last
  status it set per order (``statuses``), reports it as ``raw_status`` and maps it, and forgets
  the oldest entries beyond ``status_memory_size``. It lives in memory for now: the poller's
  checkpoint will persist it (``statuses`` / ``restore_statuses`` are the hooks); until then a
  restart shows every order as ``received`` again.
* **Errors.** No error body is printed. An answer whose own ``status``/``message.code`` is 4xx
  or 5xx is classified as if the HTTP status were that code, even inside an HTTP 200; the
  vendor's message (:meth:`~.payloads.Status.error_text`) is kept verbatim and
  ``message.detail.requestID`` becomes the error's ``request_id``.
* No refunds, cancellations, invoices or tracking numbers exist in the API.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

import msgspec

from pipeline.adapter import ApplyResult, Capabilities, Malformed
from pipeline.dates import DateParseError
from pipeline.errors import PlatformDecodeError, PlatformError, RejectedError
from pipeline.http import (
    HeaderAuth,
    HttpClient,
    HttpResponse,
    RequestContext,
    ResponseClassifier,
    decode,
)
from pipeline.masking import excerpt, mask_text, register_secret
from pipeline.platforms.softtr import payloads as raw
from pipeline.platforms.softtr.commands import SofttrCommands
from pipeline.platforms.softtr.mapping import (
    NEVER_SET,
    PLATFORM,
    map_order,
    order_created_at,
)
from pipeline.ratelimit import Lane, RateBudget
from schemas import AnyCommand, Cancellation, Order, Refund
from schemas.times import ISTANBUL

log = logging.getLogger(__name__)

PAGE_SIZE: Final = raw.MAX_PAGE_SIZE
MAX_PAGES: Final = 10_000
STATUS_MEMORY_SIZE: Final = 100_000
_BOM = b"\xef\xbb\xbf"

CAPABILITIES: Final = Capabilities(
    commands=frozenset({"order.set_status", "order.ship"}),
    streams=frozenset({"orders"}),
    # Orders of different commands share one updateOrderStatus call (both types together).
    max_batch={"order.set_status": raw.MAX_STATUS_BATCH, "order.ship": raw.MAX_STATUS_BATCH},
    max_window=None,
    page_size=PAGE_SIZE,
    sweep="window",
    has_status=False,
)


class SofttrClassifier(ResponseClassifier):
    """Softtr's envelope: ``{"status", "message": {"code", "detail": {"requestID", …}}}``."""

    @staticmethod
    def _status(response: HttpResponse) -> raw.Status | None:
        try:
            return msgspec.json.decode(response.body.removeprefix(_BOM), type=raw.Status)
        except msgspec.MsgspecError:
            return None

    def check_body(self, ctx: RequestContext, response: HttpResponse) -> None:
        """An error code inside a 2xx body is classified as that HTTP status would be."""
        status = self._status(response)
        code = status.code if status is not None else None
        if code is not None and not 200 <= code < 300 and 100 <= code <= 599:
            self.classify(ctx, dataclasses.replace(response, status=code))

    def platform_message(self, response: HttpResponse) -> str:
        status = self._status(response)
        text = status.error_text() if status is not None else None
        return excerpt(text, 500) if text else super().platform_message(response)

    def request_id(self, response: HttpResponse) -> str | None:
        status = self._status(response)
        found = status.request_id if status is not None else None
        return found or super().request_id(response)

    def error(
        self,
        cls: type[PlatformError],
        message: str,
        ctx: RequestContext,
        response: HttpResponse,
        **extra: Any,
    ) -> PlatformError:
        status = self._status(response)
        if status is not None and status.code is not None:
            extra.setdefault("platform_code", str(status.code))
        return super().error(cls, message, ctx, response, **extra)


def request_days(start: dt.datetime, end: dt.datetime) -> tuple[dt.date, dt.date]:
    """(startDate, endDate) covering ``[start, end)``: see the module docstring."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("windows need aware datetimes")
    last = end - dt.timedelta(microseconds=1)
    return start.astimezone(ISTANBUL).date(), last.astimezone(ISTANBUL).date() + dt.timedelta(
        days=1
    )


def _day(day: dt.date) -> str:
    return day.strftime(raw.DATE_FORMAT)


def _row_id(item: msgspec.Raw) -> str | None:
    try:
        found = msgspec.json.decode(item, type=raw.RowId).orderno
    except msgspec.MsgspecError:
        return None
    return None if found is None else str(found)


class SofttrClient:
    """One Softtr shop (an API account of its panel)."""

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
        token_url: str | None = None,  # part of the factory signature; Basic auth needs none
        page_size: int = PAGE_SIZE,
        known_statuses: Mapping[str, str] | None = None,
        status_memory_size: int = STATUS_MEMORY_SIZE,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if not 1 <= page_size <= raw.MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1-{raw.MAX_PAGE_SIZE}, got {page_size}")
        self.account = account
        self._base = base_url.rstrip("/")
        self._http = http
        self._budget = budget
        self._page_size = page_size
        self._now = now or (lambda: dt.datetime.now(dt.UTC))
        self._classifier = SofttrClassifier()
        username, password = credentials["username"], credentials["password"]
        register_secret(username)
        register_secret(password)
        basic = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._auth = HeaderAuth({"Authorization": f"Basic {basic}"})
        self._memory_size = status_memory_size
        self._statuses: collections.OrderedDict[str, str] = collections.OrderedDict()
        self.restore_statuses(known_statuses or {})
        self.requests_sent = 0

    async def aclose(self) -> None:
        """Nothing to release: the HTTP session belongs to the process."""

    # ------------------------------------------------------------------ status memory

    @property
    def statuses(self) -> dict[str, str]:
        """Order number → the raw status we last set (a copy, oldest first)."""
        return dict(self._statuses)

    def restore_statuses(self, statuses: Mapping[str, str]) -> None:
        """Load remembered statuses (e.g. from a checkpoint), keeping the newest on overflow."""
        for orderno, status in statuses.items():
            self.remember(orderno, status)

    # The poller keeps this memory in its checkpoint (pipeline.poller.StatefulClient).
    def platform_state(self) -> dict[str, str]:
        return self.statuses

    def restore_platform_state(self, state: dict[str, str]) -> None:
        self.restore_statuses(state)

    def remember(self, orderno: str, status: str) -> None:
        self._statuses[orderno] = status
        self._statuses.move_to_end(orderno)
        while len(self._statuses) > self._memory_size:
            self._statuses.popitem(last=False)

    def status_of(self, orderno: str) -> str:
        return self._statuses.get(orderno, NEVER_SET)

    # ------------------------------------------------------------------ requests

    def ctx(self, endpoint: str) -> RequestContext:
        return RequestContext(PLATFORM, self.account, endpoint)

    async def call(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        lane: Lane,
        params: Mapping[str, str | int] | None = None,
        json: object = None,
    ) -> tuple[RequestContext, HttpResponse]:
        ctx = self.ctx(endpoint)
        self.requests_sent += 1
        response = await self._http.request(
            ctx,
            method,
            f"{self._base}{path}",
            lane=lane,
            budget=self._budget,
            params=params,
            json=json,
            auth=self._auth,
            classifier=self._classifier,
        )
        return ctx, response

    async def _rows(
        self, first: dt.date, end_param: dt.date
    ) -> AsyncIterator[tuple[RequestContext, msgspec.Raw]]:
        """Every list row of the days ``first`` … ``end_param``, page by page."""
        previous_first: str | None = None
        for page in range(1, MAX_PAGES + 1):
            params: dict[str, str | int] = {
                "pageSize": self._page_size,
                "page": page,
                "startDate": _day(first),
                "endDate": _day(end_param),
            }
            ctx, response = await self.call(
                "GET", "/orders", endpoint="orders", lane=Lane.POLL, params=params
            )
            data = decode(ctx, response.body, raw.Envelope[raw.ListData]).data
            rows = (data.content if data is not None else None) or []
            if not rows:
                return
            first_id = _row_id(rows[0])
            if page > 1 and first_id is not None and first_id == previous_first:
                raise ctx.error(
                    PlatformDecodeError, f"paging loop: page {page} repeats page {page - 1}"
                )
            previous_first = first_id
            for row in rows:
                yield ctx, row
            assert data is not None  # noqa: S101 - rows came from it
            told = data.size if data.size is not None and data.size > 0 else self._page_size
            if len(rows) < min(told, self._page_size):
                return
            if data.page_count is not None and page >= data.page_count:
                return
        raise self.ctx("orders").error(PlatformDecodeError, f"more than {MAX_PAGES} pages")

    async def _detail(self, orderno: str) -> raw.OrderDetail | None:
        """``GET /order/{orderno}``; None when the platform answers 404."""
        try:
            ctx, response = await self.call(
                "GET", f"/order/{quote(orderno, safe='')}", endpoint="order", lane=Lane.POLL
            )
        except RejectedError as exc:
            if exc.status == 404:
                return None
            raise
        data = decode(ctx, response.body, raw.Envelope[raw.DetailData]).data
        if data is None or bytes(data.content).strip() == b"null":
            raise ctx.error(PlatformDecodeError, f"order {orderno}: answer without data.content")
        detail = decode(ctx, bytes(data.content), raw.OrderDetail)
        if detail.orderno != orderno:
            raise ctx.error(PlatformDecodeError, f"asked for order {orderno}, got {detail.orderno}")
        return detail

    def _malformed(self, ctx: RequestContext, record_id: str | None, error: str) -> Malformed:
        text = mask_text(error)
        log.warning(
            "malformed order %s from %s: %s", record_id, ctx.endpoint, text, extra=ctx.log_extra()
        )
        return Malformed(stream="orders", record_id=record_id, endpoint=ctx.endpoint, error=text)

    async def _complete(self, ctx: RequestContext, row: raw.OrderRow) -> Order | Malformed:
        """The canonical order of a list row: its detail, the row, and the status we set."""
        try:
            detail = await self._detail(row.orderno)
            if detail is None:
                return self._malformed(
                    self.ctx("order"), row.orderno, "listed, but its detail answers 404"
                )
            return map_order(
                detail, account=self.account, row=row, raw_status=self.status_of(row.orderno)
            )
        except (PlatformDecodeError, RejectedError) as exc:  # this order's problem, not the poll's
            return self._malformed(self.ctx("order"), row.orderno, str(exc))

    # ------------------------------------------------------------------ reads

    async def fetch_orders(
        self, start: dt.datetime, end: dt.datetime
    ) -> AsyncIterator[Order | Malformed]:
        """Orders whose number-encoded time is in ``[start, end)``."""
        if start >= end:
            return
        seen: set[str] = set()
        async for ctx, item in self._rows(*request_days(start, end)):
            record_id = _row_id(item)
            try:
                row = decode(ctx, bytes(item), raw.OrderRow)
                created = order_created_at(row.orderno)
            except PlatformDecodeError as exc:
                yield self._malformed(ctx, record_id, str(exc))
                continue
            except (ValueError, DateParseError) as exc:
                yield self._malformed(ctx, record_id, f"field orderno: {exc}")
                continue
            if not start <= created < end or row.orderno in seen:
                continue
            seen.add(row.orderno)
            yield await self._complete(ctx, row)

    async def _find_row(self, orderno: str, created: dt.datetime) -> raw.OrderRow | None:
        first, end_param = request_days(created, created + dt.timedelta(seconds=1))
        async for ctx, item in self._rows(first, end_param):
            if _row_id(item) == orderno:
                return decode(ctx, bytes(item), raw.OrderRow)
        return None

    async def fetch_order(self, order_id: str) -> Order | None:
        """The detail plus the list row of the day the number encodes; None if unknown."""
        try:
            created = order_created_at(order_id)
        except (ValueError, DateParseError):
            return None  # not a softtr order number: nothing the platform could know
        detail = await self._detail(order_id)
        if detail is None:
            return None
        row = await self._find_row(order_id, created)
        return map_order(detail, account=self.account, row=row, raw_status=self.status_of(order_id))

    async def fetch_refunds(
        self, start: dt.datetime, end: dt.datetime
    ) -> AsyncIterator[Refund | Malformed]:
        """Softtr documents no refunds or returns."""
        return
        yield

    async def fetch_cancellations(
        self, start: dt.datetime, end: dt.datetime
    ) -> AsyncIterator[Cancellation | Malformed]:
        """Softtr documents no cancellation requests."""
        return
        yield

    async def apply(self, commands: Sequence[AnyCommand]) -> list[ApplyResult]:
        """One result per command, in order; status writes are batched (see :mod:`.commands`)."""
        return await SofttrCommands(self).apply(commands)
