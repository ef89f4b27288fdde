"""C2C Mağaza adapter: credentials in the body, unpaged lists, many-codes reads and writes.

Readings of the document (``platform-docs/c2c.txt``) chosen here, beside those in
:mod:`.payloads`, :mod:`.mapping` and :mod:`.commands`:

* **Credentials** (``Domain``, ``ApiKey``, ``ApiPassword``) go in every POST body. They are
  registered as secrets (masked wherever they appear in a log line or an exception) and bodies
  are never logged: :class:`pipeline.http.HttpClient` logs method, path, status and timing only.
* **Errors** arrive as HTTP 200 in another shape (the C# sample: "try the list, else an
  OrderErrorResponse"). :class:`C2CClassifier` treats any JSON object where a list is promised
  as the error shape and reads its text from ``hata`` (field notes) or a .NET-style key. The
  document prints no error text, so the kind is guessed from the words: credentials →
  :class:`AuthError`, "too many requests" → :class:`RateLimited`, anything else →
  :class:`RejectedError` with the text verbatim. A list whose first element carries ``hata``
  is an error too. An object with no error text is a :class:`PlatformDecodeError`.
* **Windows.** GetOrdersDate takes ``dd.MM.yyyy HH:mm`` Istanbul wall time; whether either end
  is inclusive is not said. We send the start rounded down and the end rounded *up* to the
  minute, so nothing at an edge is lost; an order seen twice within one fetch (adjacent
  windows, an inclusive end) is yielded once, and repeats across fetches are the poller's
  fingerprints' job. No maximum window is documented (``max_window`` is None), but lists are
  unpaged and "can be very large": a fetch is split into ``window``-long requests (one day by
  default) so one answer never holds months of orders.
* **No paging**, hence no paging loop to detect; ``null`` or ``[]`` is an empty answer.
* **Active sweep** (``sweep="by_ids"``). :meth:`C2CClient.refresh_states` asks
  GetOrdersStateByOrdersCode about up to :data:`~.payloads.STATE_BATCH` (100) codes per call;
  :meth:`C2CClient.fetch_orders_by_codes` reads full orders, :data:`~.payloads.INFO_BATCH` (50)
  per call. 100 codes make a ~2 KB request and a ~6 KB answer: small enough for any proxy or
  SQL ``IN`` list, while a sweep of 1,000 open orders costs 10 of the 60 requests a minute we
  allow ourselves. The coarse vocabulary cannot show awaiting_approval → preparing or shipped →
  delivered (:func:`.mapping.state_may_have_changed`), so a sweep must re-read orders in such
  statuses in full from time to time; the full read is cheap too (one call per 50 orders).
* **Refunds and cancellations** have no endpoints: they show as order statuses ("İptal
  Edildi", "... - İptal Edildi", filter 8 "İade Edilen"), so only the ``orders`` stream exists.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, NoReturn, TypeVar

import msgspec

from pipeline.adapter import ApplyResult, Capabilities, Malformed
from pipeline.dates import format_local, split_window, turkish_fold
from pipeline.errors import AuthError, PlatformDecodeError, RateLimited, RejectedError
from pipeline.http import HttpClient, HttpResponse, RequestContext, ResponseClassifier, decode
from pipeline.masking import excerpt, mask_text, register_secret
from pipeline.platforms.c2c import payloads as raw
from pipeline.platforms.c2c.mapping import (
    PLATFORM,
    StateReading,
    StatusReading,
    map_order,
    parse_status,
    read_state,
)
from pipeline.ratelimit import Lane, RateBudget
from schemas import AnyCommand, Cancellation, Order, Refund

log = logging.getLogger(__name__)

DEFAULT_WINDOW: Final = dt.timedelta(days=1)
CREDENTIAL_KEYS: Final = frozenset({"domain", "api_key", "api_password"})
_BOM: Final = b"\xef\xbb\xbf"
_T = TypeVar("_T")
_C = TypeVar("_C", bound=raw.Credentials)

CAPABILITIES: Final = Capabilities(
    commands=frozenset({"order.set_status"}),
    streams=frozenset({"orders"}),
    max_batch={"order.set_status": raw.UPDATE_BATCH},
    max_window=None,
    # Lists are unpaged; the closest thing to a page is the by-ids batch of a sweep.
    page_size=raw.INFO_BATCH,
    sweep="by_ids",
)


def batched(items: Sequence[_T], size: int) -> Iterator[list[_T]]:
    """``items`` in consecutive chunks of at most ``size`` (``itertools.batched`` is 3.12+)."""
    if size < 1:
        raise ValueError("batch size must be >= 1")
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _keys(doc: Mapping[str, Any]) -> dict[str, Any]:
    # Property names are ASCII identifiers compared as .NET does (invariant culture): str.lower
    # is right for them; Turkish *text* is folded with turkish_fold.
    return {str(k).lower(): v for k, v in doc.items()}


def error_text(doc: Mapping[str, Any]) -> str | None:
    """The text of an error object, or None when it carries none (see ERROR_MESSAGE_KEYS)."""
    keys = _keys(doc)
    for key in raw.ERROR_MESSAGE_KEYS:
        value = keys.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    flag = keys.get("hata")
    if flag not in (None, False, "", 0):
        return f"hata: {flag}"
    return None


class C2CClassifier(ResponseClassifier):
    """HTTP 200 with a JSON object (``{"hata": "..."}``) is an error; see the module docstring."""

    message_keys = ("hata", "Hata", "HATA", "mesaj", "Mesaj", "message", "Message", "Aciklama")

    def check_body(self, ctx: RequestContext, response: HttpResponse) -> None:
        body = response.body.removeprefix(_BOM).lstrip()
        if body[:1] != b"{":
            return  # a list (the documented answer), or HTML/empty/garbage: decode() reports it
        try:
            doc = msgspec.json.decode(body, type=dict[str, Any])
        except msgspec.MsgspecError:
            return
        self.raise_error_object(ctx, response, doc)

    def raise_error_object(
        self, ctx: RequestContext, response: HttpResponse, doc: Mapping[str, Any]
    ) -> NoReturn:
        text = error_text(doc)
        if text is None:
            raise self.error(
                PlatformDecodeError,
                "a JSON object without an error text where the document promises a list",
                ctx,
                response,
                excerpt=excerpt(response.body),
            )
        message = mask_text(text)
        folded = turkish_fold(text)
        if any(hint in folded for hint in raw.RATE_LIMIT_HINTS):
            raise self.error(RateLimited, f"refused as too many requests: {message}", ctx, response)
        if any(hint in folded for hint in raw.AUTH_ERROR_HINTS):
            raise self.error(
                AuthError,
                f"credentials refused: {message}",
                ctx,
                response,
                platform_message=message,
            )
        raise self.error(
            RejectedError, f"refused: {message}", ctx, response, platform_message=message
        )


def decode_list(ctx: RequestContext, body: bytes, item: type[_T]) -> list[_T]:
    """A JSON list answer; ``null`` (a .NET service with nothing to say) is an empty list."""
    if body.removeprefix(_BOM).strip() == b"null":
        return []
    return decode(ctx, body, list[item])  # type: ignore[valid-type]


def stamp(moment: dt.datetime, *, round_up: bool = False) -> str:
    """``dd.MM.yyyy HH:mm`` Istanbul wall time; ``round_up`` for window ends."""
    if round_up and (moment.second or moment.microsecond):
        moment = moment.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    return format_local(moment, raw.DATE_TIME_FORMAT)


class _Code(msgspec.Struct, rename="camel"):
    siparis_kodu: str | int | None = None


def _code_of(item: msgspec.Raw) -> str | None:
    try:
        code = msgspec.json.decode(item, type=_Code).siparis_kodu
    except msgspec.MsgspecError:
        return None
    return None if code is None else str(code)


class C2CClient:
    """One C2C store (``Domain`` + ``ApiKey`` + ``ApiPassword``)."""

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
        window: dt.timedelta = DEFAULT_WINDOW,
        state_batch: int = raw.STATE_BATCH,
        info_batch: int = raw.INFO_BATCH,
        update_batch: int = raw.UPDATE_BATCH,
    ) -> None:
        del token_url  # no token: the credentials ride in every body
        missing = CREDENTIAL_KEYS - set(credentials)
        if missing:
            raise ValueError(f"c2c account {account!r} lacks credentials {sorted(missing)}")
        if window <= dt.timedelta(0):
            raise ValueError("window must be positive")
        self.account = account
        self._base = base_url.rstrip("/")
        self._http = http
        self._budget = budget
        self._window = window
        self.state_batch = state_batch
        self.info_batch = info_batch
        self.update_batch = update_batch
        self._domain = credentials["domain"]
        self._api_key = credentials["api_key"]
        self._api_password = credentials["api_password"]
        for value in (self._domain, self._api_key, self._api_password):
            register_secret(value)
        self._classifier = C2CClassifier()
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"C2CClient(account={self.account!r}, base_url={self._base!r})"

    async def aclose(self) -> None:
        """Nothing to release: the HTTP session belongs to the process."""

    # ------------------------------------------------------------------ requests

    def ctx(self, endpoint: str) -> RequestContext:
        return RequestContext(PLATFORM, self.account, endpoint.lstrip("/"))

    def body(self, kind: type[_C], **fields: Any) -> _C:
        """A request Struct with this account's credentials filled in."""
        return kind(
            domain=self._domain, api_key=self._api_key, api_password=self._api_password, **fields
        )

    async def call(
        self, endpoint: str, body: raw.Credentials, *, lane: Lane
    ) -> tuple[RequestContext, HttpResponse]:
        ctx = self.ctx(endpoint)
        self.requests_sent += 1
        response = await self._http.request(
            ctx,
            "POST",
            f"{self._base}{endpoint}",
            lane=lane,
            budget=self._budget,
            json=body,
            classifier=self._classifier,
        )
        return ctx, response

    def rows(self, ctx: RequestContext, response: HttpResponse) -> list[msgspec.Raw]:
        """The elements of a list answer; a first element carrying ``hata`` is an error."""
        items = decode_list(ctx, response.body, msgspec.Raw)
        if items:
            try:
                first = msgspec.json.decode(items[0], type=dict[str, Any])
            except msgspec.MsgspecError:
                return items
            if "hata" in _keys(first):
                self._classifier.raise_error_object(ctx, response, first)
        return items

    def _decode_order(self, ctx: RequestContext, item: msgspec.Raw) -> Order | Malformed:
        try:
            return map_order(
                decode(ctx, bytes(item), raw.Order), account=self.account, endpoint=ctx.endpoint
            )
        except PlatformDecodeError as exc:
            code = _code_of(item)
            error = mask_text(str(exc))
            log.warning(
                "malformed order %s from %s: %s", code, ctx.endpoint, error, extra=ctx.log_extra()
            )
            return Malformed(stream="orders", record_id=code, endpoint=ctx.endpoint, error=error)

    async def _orders(
        self, endpoint: str, body: raw.Credentials, seen: set[str], lane: Lane = Lane.POLL
    ) -> AsyncIterator[Order | Malformed]:
        ctx, response = await self.call(endpoint, body, lane=lane)
        for item in self.rows(ctx, response):
            code = _code_of(item)
            if code is not None:
                if code in seen:
                    continue
                seen.add(code)
            yield self._decode_order(ctx, item)

    # ------------------------------------------------------------------ reads

    async def fetch_orders(
        self, start: dt.datetime, end: dt.datetime
    ) -> AsyncIterator[Order | Malformed]:
        """Orders created in ``[start, end)`` via GetOrdersDate, one ``window`` per request."""
        seen: set[str] = set()
        for lo, hi in split_window(start, end, self._window):
            request = self.body(
                raw.OrdersByDateRequest,
                baslangic_tarihi=stamp(lo),
                bitis_tarihi=stamp(hi, round_up=True),
            )
            async for record in self._orders(raw.GET_ORDERS_BY_DATE, request, seen):
                yield record

    async def fetch_all(self) -> AsyncIterator[Order | Malformed]:
        """Every order of the store (GetAll, one unpaged answer: mind its size)."""
        async for record in self._orders(raw.GET_ALL, self.body(raw.GetAllRequest), set()):
            yield record

    async def fetch_orders_in_state(self, state: int) -> AsyncIterator[Order | Malformed]:
        """GetOrdersState with filter ``state`` 1–8 (:data:`~.payloads.STATE_FILTERS`)."""
        if state not in raw.STATE_FILTERS:
            raise ValueError(f"c2c state filter must be 1-8, got {state!r}")
        request = self.body(raw.OrdersByStateRequest, siparis_durumu=str(state))
        async for record in self._orders(raw.GET_ORDERS_BY_STATE, request, set()):
            yield record

    def fetch_orders_by_ids(self, ids: Sequence[str]) -> AsyncIterator[Order | Malformed]:
        """The poller's by-ids sweep (pipeline.poller.ByIdsClient): order ids are order codes."""
        return self.fetch_orders_by_codes(ids)

    async def fetch_orders_by_codes(
        self, codes: Iterable[str], *, lane: Lane = Lane.POLL
    ) -> AsyncIterator[Order | Malformed]:
        """Full orders by code via GetOrderInfoByOrdersCode, ``info_batch`` codes per call."""
        wanted = list(dict.fromkeys(c for c in codes if c))
        seen: set[str] = set()
        for chunk in batched(wanted, self.info_batch):
            request = self.body(raw.OrderCodesRequest, siparis_kodlari=chunk)
            async for record in self._orders(raw.GET_ORDER_INFO_BY_CODES, request, seen, lane):
                yield record

    async def fetch_order(self, order_id: str) -> Order | None:
        async for found in self.fetch_orders_by_codes([order_id]):
            if isinstance(found, Malformed):
                if found.record_id in (order_id, None):
                    raise self.ctx(raw.GET_ORDER_INFO_BY_CODES).error(
                        PlatformDecodeError, f"order {order_id}: {found.error}"
                    )
            elif found.order_id == order_id:
                return found
        return None

    async def order_statuses(
        self, codes: Sequence[str], *, lane: Lane = Lane.POLL
    ) -> dict[str, StatusReading]:
        """The full ``siparisDurumu`` of each known code (GetOrderInfoByOrdersCode, read down to
        code and status only, so a record malformed elsewhere still tells its status)."""
        out: dict[str, StatusReading] = {}
        for chunk in batched(list(dict.fromkeys(c for c in codes if c)), self.info_batch):
            request = self.body(raw.OrderCodesRequest, siparis_kodlari=chunk)
            ctx, response = await self.call(raw.GET_ORDER_INFO_BY_CODES, request, lane=lane)
            for item in self.rows(ctx, response):
                try:
                    row = msgspec.json.decode(item, type=raw.OrderState)
                except msgspec.MsgspecError:
                    continue
                out[row.code] = parse_status(row.siparis_durumu)
        return out

    async def refresh_states(
        self, order_codes: Sequence[str], *, lane: Lane = Lane.POLL
    ) -> dict[str, StateReading]:
        """Coarse states of many orders via GetOrdersStateByOrdersCode, ``state_batch`` codes per
        call. Codes the platform does not return (unknown orders, rows it garbled) are absent."""
        out: dict[str, StateReading] = {}
        wanted = list(dict.fromkeys(c for c in order_codes if c))
        for chunk in batched(wanted, self.state_batch):
            request = self.body(raw.OrderCodesRequest, siparis_kodlari=chunk)
            ctx, response = await self.call(raw.GET_STATES_BY_CODES, request, lane=lane)
            for item in self.rows(ctx, response):
                try:
                    row = decode(ctx, bytes(item), raw.OrderState)
                except PlatformDecodeError as exc:
                    log.warning(
                        "malformed state row from %s: %s",
                        ctx.endpoint,
                        mask_text(str(exc)),
                        extra=ctx.log_extra(),
                    )
                    continue
                out[row.code] = read_state(row)
        return out

    async def fetch_refunds(
        self, start: dt.datetime, end: dt.datetime
    ) -> AsyncIterator[Refund | Malformed]:
        """None: returns show as order statuses (no refund endpoint)."""
        for _ in ():
            yield _

    async def fetch_cancellations(
        self, start: dt.datetime, end: dt.datetime
    ) -> AsyncIterator[Cancellation | Malformed]:
        """None: cancellations show as order statuses (no cancellation endpoint)."""
        for _ in ():
            yield _

    async def apply(self, commands: Sequence[AnyCommand]) -> list[ApplyResult]:
        """One result per command, in order; see :mod:`.commands`."""
        # Imported here: the writer builds on this module's request helpers.
        from pipeline.platforms.c2c.commands import C2CCommands

        return await C2CCommands(self).apply(commands)
