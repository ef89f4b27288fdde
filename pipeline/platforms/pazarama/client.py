"""Pazarama adapter: token auth, order/refund/cancellation polling, and the write endpoints.

Readings of the document (``platform-docs/pazarama.txt``) chosen here, beside those in
:mod:`.mapping` and :mod:`.payloads`:

* **Token.** ``POST {token_url}`` with HTTP Basic ``clientId:clientSecret`` and the form body
  ``grant_type=client_credentials&scope=merchantgatewayapi.fullaccess``; the token lives one
  hour and is renewed 60 s before expiry, and once on a 401 (which comes with an empty body).
  The way to send it was a screenshot in the document: ``Authorization: Bearer <token>``.
* **Windows.** A list window may not exceed one month and ``endDate`` is exclusive: we send
  windows of at most 28 days, as Istanbul wall time with minutes (``2024-09-01T00:00``), the
  end rounded *up* to the next minute so nothing at the edge is lost (overlap is harmless:
  the poller's fingerprints drop repeats). The same windows are used for refunds and
  cancellations, which document no limit.
* **Paging.** No count comes back and the refund pages' counters contradict themselves: stop on
  a short page. A page whose first record repeats the previous page's is a paging loop (an
  error, never an endless poll). Each record of a page is decoded on its own, so one malformed
  order is reported as :class:`~pipeline.adapter.Malformed` and its neighbours still arrive.
* **Errors.** ``"success": false`` in a 200 body is a rejection carrying ``userMessage`` (or
  ``message``) verbatim and ``messageCode``.
* **Writes** are in :mod:`.commands`.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

import msgspec

from pipeline.adapter import ApplyResult, Capabilities, Malformed
from pipeline.dates import format_local, split_window
from pipeline.errors import (
    AuthError,
    PlatformDecodeError,
    RejectedError,
)
from pipeline.http import (
    HttpClient,
    HttpResponse,
    RequestContext,
    ResponseClassifier,
    TokenAuth,
    decode,
)
from pipeline.masking import mask_text, register_secret
from pipeline.platforms.pazarama import payloads as raw
from pipeline.platforms.pazarama.commands import PazaramaCommands
from pipeline.platforms.pazarama.mapping import (
    PLATFORM,
    map_cancellation,
    map_order,
    map_refund,
)
from pipeline.ratelimit import Lane, RateBudget
from schemas import (
    AnyCommand,
    Cancellation,
    Order,
    Refund,
)

log = logging.getLogger(__name__)

#: Defensive window: "1 ayı geçemez" — February has 28 days, and the minute stamps below may
#: widen a window by up to a minute at each end (start floored, exclusive end rounded up).
MAX_WINDOW: Final = dt.timedelta(days=28) - dt.timedelta(minutes=2)
PAGE_SIZE: Final = 100
MAX_PAGES: Final = 10_000
#: How far back ``fetch_order`` looks for an order it knows only by number.
LOOKUP_HORIZON: Final = dt.timedelta(days=90)

CAPABILITIES: Final = Capabilities(
    commands=frozenset(
        {
            "order.set_status",
            "order.ship",
            "order.attach_invoice",
            "refund.decide",
            "cancellation.decide",
        }
    ),
    streams=frozenset({"orders", "refunds", "cancellations"}),
    # Items of one order per bulk-status-update; commands of different orders are separate calls.
    max_batch={"order.set_status": 1, "order.ship": 1},
    max_window=MAX_WINDOW,
    page_size=PAGE_SIZE,
    sweep="window",
)

_T = TypeVar("_T")
_R = TypeVar("_R")
#: A page read: its records (mapped or Malformed), how many rows it had, the first row's id.
_Page = tuple[list[_R], int, str | None]
_ORDER_PAGE: Final = msgspec.json.Decoder(raw.Envelope[list[raw.Order]])


class PazaramaClassifier(ResponseClassifier):
    """``{"success": false, "messageCode", "message", "userMessage"}`` in a 200 is a refusal."""

    message_keys = ("userMessage", "message", "messageCode", "error_description", "error")

    def check_body(self, ctx: RequestContext, response: HttpResponse) -> None:
        try:
            ack = msgspec.json.decode(response.body.removeprefix(b"\xef\xbb\xbf"), type=raw.Ack)
        except msgspec.MsgspecError:
            return  # not an envelope (token answers, odd bodies): decode() reports it later
        if not ack.success:
            message = ack.user_message or (ack.message if ack.message != "null" else None)
            raise self.error(
                RejectedError,
                f"refused: {message or ack.message_code or 'success=false'}",
                ctx,
                response,
                platform_code=ack.message_code,
                platform_message=message,
            )


class _DeferredBodyCheck(PazaramaClassifier):
    """For order list pages: the client decodes the page anyway and its ``success`` is read
    there (``PazaramaClient._order_page``), which runs :meth:`check_body` only when it is not
    true. Checking here too parsed every ~450 kB page twice (~3 µs an order)."""

    def check_body(self, ctx: RequestContext, response: HttpResponse) -> None:
        return None


_ORDER_LIST: Final = _DeferredBodyCheck()


class TokenClassifier(ResponseClassifier):
    """The token endpoint answers bad credentials with 400/401 JSON: that is an auth failure."""

    message_keys = ("error_description", "error", "messageCode", "message")

    def classify(self, ctx: RequestContext, response: HttpResponse) -> None:
        if response.status in (400, 401, 403):
            raise self.error(
                AuthError,
                f"token request refused (HTTP {response.status}): "
                f"{self.platform_message(response)}",
                ctx,
                response,
            )
        super().classify(ctx, response)


class PazaramaAuth(TokenAuth):
    """Client-credentials token from the separate token host, renewed before its hour is up."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        budget: RateBudget,
        account: str,
    ) -> None:
        super().__init__(leeway=60.0)
        register_secret(client_id)  # a credential from the config too: never in an excerpt
        register_secret(client_secret)
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        register_secret(basic)
        self._basic = basic
        self._token_url = token_url
        self._budget = budget
        self._ctx = RequestContext(PLATFORM, account, "connect/token")

    async def fetch_token(self, http: HttpClient) -> tuple[str, float | None]:
        response = await http.request(
            self._ctx,
            "POST",
            self._token_url,
            lane=Lane.COMMAND,  # without a token neither lane can move
            budget=self._budget,
            data={"grant_type": raw.TOKEN_GRANT_TYPE, "scope": raw.TOKEN_SCOPE},
            headers={"Authorization": f"Basic {self._basic}"},
            classifier=TokenClassifier(),
        )
        answer = decode(self._ctx, response.body, raw.TokenResponse)
        token = answer.bearer
        if not token:
            raise self._ctx.error(AuthError, "token answer carries no access token")
        return token, float(answer.lifetime_seconds)


def _stamp(moment: dt.datetime, *, round_up: bool = False) -> str:
    """Istanbul wall time to the minute; ``round_up`` for exclusive ends."""
    if round_up and (moment.second or moment.microsecond):
        moment = moment.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    return format_local(moment, "%Y-%m-%dT%H:%M")


class PazaramaClient:
    """One Pazarama merchant account."""

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
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.account = account
        self._base = base_url.rstrip("/")
        self._http = http
        self._budget = budget
        self._page_size = page_size
        self._now = now or (lambda: dt.datetime.now(dt.UTC))
        self._classifier = PazaramaClassifier()
        self._auth = PazaramaAuth(
            token_url=token_url or raw.TOKEN_URL,
            client_id=credentials["client_id"],
            client_secret=credentials["client_secret"],
            budget=budget,
            account=account,
        )
        self._carriers: list[raw.CargoCompany] | None = None
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
        json: object = None,
        classifier: ResponseClassifier | None = None,
    ) -> tuple[RequestContext, HttpResponse]:
        ctx = self.ctx(path.lstrip("/"))
        self.requests_sent += 1
        response = await self._http.request(
            ctx,
            method,
            f"{self._base}{path}",
            lane=lane,
            budget=self._budget,
            json=json,
            auth=self._auth,
            classifier=classifier or self._classifier,
        )
        return ctx, response

    async def _pages(
        self,
        path: str,
        build: Callable[[int], object],
        read: Callable[[RequestContext, HttpResponse], _Page[_R]],
        classifier: ResponseClassifier | None = None,
    ) -> AsyncIterator[list[_R]]:
        """Each page's records (mapped, or :class:`Malformed`), a page at a time."""
        previous_first: str | None = None
        for page in range(1, MAX_PAGES + 1):
            ctx, response = await self.call(
                "POST", path, lane=Lane.POLL, json=build(page), classifier=classifier
            )
            records, count, first = read(ctx, response)
            if count:
                if page > 1 and first is not None and first == previous_first:
                    raise ctx.error(
                        PlatformDecodeError, f"paging loop: page {page} repeats page {page - 1}"
                    )
                previous_first = first
            yield records
            if count < self._page_size:
                return
        raise self.ctx(path).error(PlatformDecodeError, f"more than {MAX_PAGES} pages")

    def _order_page(self, ctx: RequestContext, response: HttpResponse) -> _Page[Order | Malformed]:
        """A page of orders decoded in one pass straight into order Structs; a page that does
        not decode so (a malformed record, an odd envelope, a refusal) is read again record by
        record, so that one bad order becomes a :class:`Malformed` and its neighbours arrive."""
        try:
            page = _ORDER_PAGE.decode(response.body)
        except msgspec.MsgspecError:
            page = None
        if page is None or not page.success:
            # The refusal check the page's classifier left to us (_ORDER_LIST), then the
            # record-by-record reading with its precise errors.
            self._classifier.check_body(ctx, response)
            items = self._order_rows(ctx, response.body)
            order_id = self._id_of("orderNumber")
            mapped = [
                self._decode_record(ctx, item, raw.Order, self._map_order, "orders", order_id)
                for item in items
            ]
            return mapped, len(items), order_id(items[0]) if items else None
        orders = page.data or []
        records: list[Order | Malformed] = []
        for order in orders:
            try:
                records.append(map_order(order, account=self.account))
            except PlatformDecodeError as exc:
                records.append(self._malformed(ctx, "orders", str(order.order_number), exc))
        return records, len(orders), str(orders[0].order_number) if orders else None

    def _map_order(self, order: raw.Order) -> Order:
        return map_order(order, account=self.account)

    @staticmethod
    def _order_rows(ctx: RequestContext, body: bytes) -> list[msgspec.Raw]:
        return decode(ctx, body, raw.Envelope[list[msgspec.Raw]]).data or []

    @staticmethod
    def _refund_rows(ctx: RequestContext, body: bytes) -> list[msgspec.Raw]:
        data = decode(ctx, body, raw.Envelope[_RefundRows]).data
        return data.refund_list if data else []

    @staticmethod
    def _id_of(key: str) -> Callable[[msgspec.Raw], str | None]:
        class _Id(msgspec.Struct):
            value: str | int | None = msgspec.field(default=None, name=key)

        def get(item: msgspec.Raw) -> str | None:
            try:
                found = msgspec.json.decode(item, type=_Id).value
            except msgspec.MsgspecError:
                return None
            return None if found is None else str(found)

        return get

    def _decode_record(
        self,
        ctx: RequestContext,
        item: msgspec.Raw,
        type_: type[_T],
        mapper: Callable[[_T], _R],
        stream: str,
        id_of: Callable[[msgspec.Raw], str | None],
    ) -> _R | Malformed:
        try:
            return mapper(decode(ctx, bytes(item), type_))
        except PlatformDecodeError as exc:
            # Only now: parsing every record a second time for its id cost ~3 µs an order.
            return self._malformed(ctx, stream, id_of(item), exc)

    def _malformed(
        self, ctx: RequestContext, stream: str, record_id: str | None, exc: PlatformDecodeError
    ) -> Malformed:
        log.warning(
            "malformed %s record %s from %s: %s",
            stream,
            record_id,
            ctx.endpoint,
            mask_text(str(exc)),
            extra=ctx.log_extra(),
        )
        return Malformed(
            stream=stream, record_id=record_id, endpoint=ctx.endpoint, error=mask_text(str(exc))
        )

    # ------------------------------------------------------------------ reads

    async def fetch_orders(
        self, start: dt.datetime, end: dt.datetime, *, order_number: int | None = None
    ) -> AsyncIterator[Order | Malformed]:
        for lo, hi in split_window(start, end, MAX_WINDOW):

            def body(page: int, lo: dt.datetime = lo, hi: dt.datetime = hi) -> object:
                if order_number is not None:
                    return raw.GetOrdersRequest(
                        start_date=_stamp(lo),
                        end_date=_stamp(hi, round_up=True),
                        order_number=order_number,
                    )
                return raw.GetOrdersRequest(
                    start_date=_stamp(lo),
                    end_date=_stamp(hi, round_up=True),
                    page_size=self._page_size,
                    page_number=page,
                )

            async for records in self._pages(
                "/order/getOrdersForApi", body, self._order_page, _ORDER_LIST
            ):
                for record in records:
                    yield record

    async def fetch_order(self, order_id: str) -> Order | None:
        """Look an order up by number, newest month first, back to :data:`LOOKUP_HORIZON`."""
        try:
            number = int(order_id)
        except ValueError:
            return None
        end = self._now() + dt.timedelta(minutes=1)
        start = end - LOOKUP_HORIZON
        for lo, hi in reversed(split_window(start, end, MAX_WINDOW)):
            async for found in self.fetch_orders(lo, hi, order_number=number):
                if isinstance(found, Order) and found.order_id == order_id:
                    return found
                if isinstance(found, Malformed):
                    raise self.ctx("order/getOrdersForApi").error(
                        PlatformDecodeError, f"order {order_id}: {found.error}"
                    )
        return None

    async def _fetch_requests(
        self, path: str, start: dt.datetime, end: dt.datetime, stream: str
    ) -> AsyncIterator[Refund | Cancellation | Malformed]:
        refund_id = self._id_of("refundId")
        type_: type[raw.RefundItem | raw.CancelItem]
        mapper: Callable[[Any], Refund | Cancellation]
        if stream == "refunds":
            type_, mapper = raw.RefundItem, functools.partial(map_refund, account=self.account)
        else:
            type_ = raw.CancelItem
            mapper = functools.partial(map_cancellation, account=self.account)

        def read(
            ctx: RequestContext, response: HttpResponse
        ) -> _Page[Refund | Cancellation | Malformed]:
            items = self._refund_rows(ctx, response.body)
            mapped: list[Refund | Cancellation | Malformed] = [
                self._decode_record(ctx, item, type_, mapper, stream, refund_id) for item in items
            ]
            return mapped, len(items), refund_id(items[0]) if items else None

        for lo, hi in split_window(start, end, MAX_WINDOW):

            def body(page: int, lo: dt.datetime = lo, hi: dt.datetime = hi) -> object:
                if stream == "refunds":
                    return raw.GetRefundRequest(
                        page_size=self._page_size,
                        page_number=page,
                        request_start_date=_stamp(lo),
                        request_end_date=_stamp(hi, round_up=True),
                    )
                return raw.GetCancelItemsRequest(
                    page_size=self._page_size,
                    page_number=page,
                    request_start_date=_stamp(lo),
                    request_end_date=_stamp(hi, round_up=True),
                )

            async for records in self._pages(path, body, read):
                for record in records:
                    yield record

    async def fetch_refunds(
        self, start: dt.datetime, end: dt.datetime
    ) -> AsyncIterator[Refund | Malformed]:
        async for record in self._fetch_requests("/order/getRefund", start, end, "refunds"):
            assert isinstance(record, Refund | Malformed)  # noqa: S101
            yield record

    async def fetch_cancellations(
        self, start: dt.datetime, end: dt.datetime
    ) -> AsyncIterator[Cancellation | Malformed]:
        async for record in self._fetch_requests(
            "/order/api/cancel/items", start, end, "cancellations"
        ):
            assert isinstance(record, Cancellation | Malformed)  # noqa: S101
            yield record

    async def carriers(self) -> list[raw.CargoCompany]:
        if self._carriers is None:
            ctx, response = await self.call(
                "GET", "/sellerRegister/getSellerDelivery", lane=Lane.COMMAND
            )
            data = decode(ctx, response.body, raw.Envelope[raw.SellerDelivery]).data
            delivery = data.cargo_company if data else None
            self._carriers = list(delivery.cargo_companies) if delivery else []
        return self._carriers

    async def apply(self, commands: Sequence[AnyCommand]) -> list[ApplyResult]:
        """One result per command, in order; see :mod:`.commands` for each command's requests."""
        writer = PazaramaCommands(self)
        return [await writer.apply_one(command) for command in commands]


# Defined once: a Struct class made per call costs msgspec a type analysis per decode (a
# thousand-account worker spent ~7 % of its CPU there, `pipeline bench fleet --profile`).
class _RefundRows(msgspec.Struct, rename="camel"):
    refund_list: list[msgspec.Raw] = []


@functools.cache
def _id_reader(key: str) -> Callable[[msgspec.Raw], str | None]:
    """Reads the field ``key`` of a record as a string, None when absent or unreadable."""
    id_type = msgspec.defstruct(
        "_Id", [("value", str | int | None, msgspec.field(default=None, name=key))]
    )
    decoder = msgspec.json.Decoder(id_type)

    def get(item: msgspec.Raw) -> str | None:
        try:
            found = getattr(decoder.decode(item), "value", None)
        except msgspec.MsgspecError:
            return None
        return None if found is None else str(found)

    return get
