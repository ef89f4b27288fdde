"""The HTTP layer every platform adapter shares: one session, budgets, classification, retries.

Every request passes the account's :class:`~pipeline.ratelimit.RateBudget` first (token requests
too), then goes out on the process-wide :class:`aiohttp.ClientSession`, then a
:class:`ResponseClassifier` (one overridable place per platform, like singer-sdk's
``validate_response``) turns the answer into success or the right :mod:`pipeline.errors` class.
aiohttp and msgspec exceptions are translated here with ``raise ... from``; nothing above this
module sees them.

Nothing secret reaches a log line or an exception: logs carry the method, the URL *path* (no
query), status and timing; bodies appear only as :func:`pipeline.masking.excerpt`; headers never.
"""

from __future__ import annotations

import abc
import asyncio
import datetime as dt
import email.utils
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import aiohttp
import msgspec
from yarl import URL

from pipeline import __version__
from pipeline.clock import UTC, Clock, SystemClock
from pipeline.errors import (
    AuthError,
    PlatformDecodeError,
    PlatformError,
    RateLimited,
    RejectedError,
    RetryableError,
)
from pipeline.masking import excerpt, mask_text, register_secret
from pipeline.ratelimit import Lane, RateBudget

logger = logging.getLogger(__name__)

T = TypeVar("T")
E = TypeVar("E", bound=PlatformError)
_FIELD_PATH = re.compile(r"at `(\$[^`]*)`")
_BOM = b"\xef\xbb\xbf"
MAX_RETRY_AFTER = 86400.0  # a day: ecarsi's quota is daily; anything longer is a broken header


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who is calling what, for errors, logs and metrics (``endpoint`` is a label, not a URL)."""

    platform: str
    account: str
    endpoint: str

    def error(self, cls: type[E], message: str, **details: Any) -> E:
        return cls(
            message, platform=self.platform, account=self.account, endpoint=self.endpoint, **details
        )

    def log_extra(self) -> dict[str, str]:
        return {"platform": self.platform, "account": self.account, "endpoint": self.endpoint}


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # case-insensitive
    body: bytes
    elapsed: float  # seconds from sending to the last body byte (budget wait excluded)
    path: str  # the URL path, without the query (which may carry secrets)
    received_at: dt.datetime


class HttpSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Connection pool and timeouts (seconds) of the process's one session."""

    limit: int = 100
    limit_per_host: int = 10
    total: float = 60.0
    connect: float = 10.0
    sock_read: float = 30.0
    user_agent: str = f"marketplace-pipeline/{__version__}"


class ResponseClassifier:
    """Success or the right error for a response. Platforms subclass it and override hooks.

    Default: 2xx passes through :meth:`check_body` (no-op here; vendors that answer errors with
    HTTP 200 recognise them there), 429 is :class:`RateLimited`, 5xx :class:`RetryableError`,
    401/403 :class:`AuthError`, any other status :class:`RejectedError` with the vendor's message.
    """

    message_keys: tuple[str, ...] = ("message", "userMessage", "error", "Aciklama", "hata")
    code_keys: tuple[str, ...] = ("messageCode", "code", "errorCode", "error")
    request_id_headers: tuple[str, ...] = ("X-Request-Id", "X-Correlation-Id", "Request-Id")

    def classify(self, ctx: RequestContext, response: HttpResponse) -> None:
        status = response.status
        if 200 <= status < 300:
            self.check_body(ctx, response)
            return
        if status == 429:
            retry_after = self.retry_after(response)
            hint = f", retry after {retry_after:g}s" if retry_after is not None else ""
            raise self.error(
                RateLimited,
                f"rate limited (HTTP 429){hint}",
                ctx,
                response,
                retry_after=retry_after,
            )
        if status >= 500:
            raise self.error(RetryableError, f"server error (HTTP {status})", ctx, response)
        if status in (401, 403):
            raise self.error(AuthError, f"credentials refused (HTTP {status})", ctx, response)
        message = self.platform_message(response)
        raise self.error(RejectedError, f"rejected (HTTP {status}): {message}", ctx, response)

    def check_body(self, ctx: RequestContext, response: HttpResponse) -> None:
        """Raise for an error reported inside a 2xx body. Default: trust the status."""

    def platform_message(self, response: HttpResponse) -> str:
        """The vendor's own words from an error body (masked), else a masked excerpt."""
        try:
            doc = msgspec.json.decode(response.body.removeprefix(_BOM))
        except msgspec.DecodeError:
            doc = None
        if isinstance(doc, list) and doc:
            doc = doc[0]  # c2c answers a list of {Durum, Aciklama}
        if isinstance(doc, dict):
            for key in self.message_keys:
                value = doc.get(key)
                if isinstance(value, dict):  # ecarsi: {"message": {"tr": ..., "en": ...}}
                    value = next((v for v in value.values() if isinstance(v, str) and v), None)
                if isinstance(value, str) and value:
                    return excerpt(value, 500)
        return excerpt(response.body) if response.body else "(empty body)"

    def platform_code(self, response: HttpResponse) -> str | None:
        """The vendor's error code from an error body (``messageCode``, ``code``...), if any."""
        try:
            doc = msgspec.json.decode(response.body.removeprefix(_BOM))
        except msgspec.DecodeError:
            return None
        if isinstance(doc, dict):
            for key in self.code_keys:
                value = doc.get(key)
                if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
                    return str(value)
        return None

    def request_id(self, response: HttpResponse) -> str | None:
        return next(
            (response.headers[h] for h in self.request_id_headers if h in response.headers), None
        )

    def retry_after(self, response: HttpResponse) -> float | None:
        """``Retry-After`` as seconds: a number, or an HTTP-date relative to the ``Date`` header."""
        value = response.headers.get("Retry-After", "").strip()
        if not value:
            return None
        try:
            seconds = float(value)
        except ValueError:
            when = _http_date(value)
            if when is None:
                return None
            seconds = (
                when - (_http_date(response.headers.get("Date", "")) or response.received_at)
            ).total_seconds()
        return min(max(0.0, seconds), MAX_RETRY_AFTER) if math.isfinite(seconds) else None

    def error(
        self,
        cls: type[PlatformError],
        message: str,
        ctx: RequestContext,
        response: HttpResponse,
        **extra: Any,
    ) -> PlatformError:
        """Build ``cls`` with the context, status and request id filled in (for subclasses too)."""
        extra.setdefault("request_id", self.request_id(response))
        if not issubclass(cls, RetryableError):
            extra.setdefault("platform_message", self.platform_message(response))
            extra.setdefault("platform_code", self.platform_code(response))
        return ctx.error(cls, message, status=response.status, **extra)


def _http_date(value: str) -> dt.datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


class Authenticator(Protocol):
    """Adds credentials to a request; forgets them when the platform answers 401.

    ``refreshable`` says whether forgetting can help: fixed credentials (API keys, Basic)
    cannot change, so a 401 with them is final and costs no second request.
    """

    refreshable: bool

    async def apply(self, http: HttpClient, headers: dict[str, str]) -> None: ...

    async def invalidate(self) -> None: ...


class HeaderAuth:
    """Fixed credential headers (API key pairs, HTTP Basic); nothing to refresh."""

    refreshable = False

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)
        for value in self._headers.values():
            register_secret(value)

    async def apply(self, http: HttpClient, headers: dict[str, str]) -> None:
        headers.update(self._headers)

    async def invalidate(self) -> None:
        return None


class TokenAuth(abc.ABC):
    """A bearer token fetched on demand, shared by concurrent requests, renewed before expiry."""

    refreshable = True

    def __init__(self, *, leeway: float = 60.0) -> None:
        self._leeway = leeway
        self._token: str | None = None
        self._expires = math.inf
        self._lock = asyncio.Lock()

    @abc.abstractmethod
    async def fetch_token(self, http: HttpClient) -> tuple[str, float | None]:
        """Get a new token through ``http.request`` (so it passes the budget) and its lifetime."""

    def header(self, token: str) -> tuple[str, str]:
        return "Authorization", f"Bearer {token}"

    async def apply(self, http: HttpClient, headers: dict[str, str]) -> None:
        loop = asyncio.get_running_loop()
        async with self._lock:  # one fetch at a time; the others reuse its token
            if self._token is None or loop.time() >= self._expires:
                token, lifetime = await self.fetch_token(http)
                register_secret(token)
                self._token = token
                self._expires = loop.time() + lifetime - self._leeway if lifetime else math.inf
            name, value = self.header(self._token)
        headers[name] = value

    async def invalidate(self) -> None:
        self._token = None


class HttpClient:
    """The process's one HTTP session: ``async with HttpClient() as http:``; idempotent aclose()."""

    def __init__(
        self,
        settings: HttpSettings | None = None,
        *,
        classifier: ResponseClassifier | None = None,
        penalty_without_retry_after: float = 5.0,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings or HttpSettings()
        self._clock = clock or SystemClock()
        self._classifier = classifier or ResponseClassifier()
        self._penalty = penalty_without_retry_after
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    async def __aenter__(self) -> Self:
        self._get_session()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("HttpClient is closed")
        if self._session is None:
            s = self.settings
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=s.limit, limit_per_host=s.limit_per_host),
                timeout=aiohttp.ClientTimeout(
                    total=s.total, connect=s.connect, sock_read=s.sock_read
                ),
                headers={"User-Agent": s.user_agent},
                # Accounts of one platform share a host: a cookie set for one must never ride
                # along with another's request.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def request(
        self,
        ctx: RequestContext,
        method: str,
        url: str,
        *,
        lane: Lane,
        budget: RateBudget,
        params: Mapping[str, str | int | float] | None = None,
        json: object = None,
        data: bytes | str | Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: Authenticator | None = None,
        classifier: ResponseClassifier | None = None,
        max_wait: float | None = None,
    ) -> HttpResponse:
        """Send one request and classify the answer; on 401 refresh credentials once.

        ``json`` is encoded with msgspec (Structs welcome). ``max_wait`` bounds the wait for the
        budget: past it, :class:`RateLimited` without a request having been sent.
        """
        classifier = classifier or self._classifier
        body = data
        sent_headers = dict(headers or {})
        if json is not None:
            body = msgspec.json.encode(json)
            sent_headers.setdefault("Content-Type", "application/json")

        async def attempt() -> HttpResponse:
            final = dict(sent_headers)
            if auth is not None:
                await auth.apply(self, final)
            return await self._send(ctx, method, url, lane, budget, params, body, final, max_wait)

        response = await attempt()
        if response.status == 401 and auth is not None and auth.refreshable:
            logger.info(
                "HTTP 401 on %s: refreshing credentials once", response.path, extra=ctx.log_extra()
            )
            await auth.invalidate()
            response = await attempt()
            if response.status == 401:
                raise classifier.error(
                    AuthError,
                    "credentials refused again after one refresh (HTTP 401)",
                    ctx,
                    response,
                )
        try:
            classifier.classify(ctx, response)
        except RateLimited as exc:
            budget.penalize(exc.retry_after if exc.retry_after is not None else self._penalty)
            raise
        return response

    async def _send(
        self,
        ctx: RequestContext,
        method: str,
        url: str,
        lane: Lane,
        budget: RateBudget,
        params: Mapping[str, str | int | float] | None,
        data: bytes | str | Mapping[str, str] | None,
        headers: dict[str, str],
        max_wait: float | None,
    ) -> HttpResponse:
        session = self._get_session()
        path = mask_text(URL(url).path)
        try:
            async with asyncio.timeout(max_wait):
                await budget.acquire(lane)
        except TimeoutError:
            usage = budget.usage()
            wait = usage.command_available_in if lane is Lane.COMMAND else usage.poll_available_in
            message = f"no {lane.value} slot in the local budget within {max_wait:g}s"
            raise ctx.error(RateLimited, message, retry_after=wait) from None
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with session.request(
                method, url, params=params, data=data, headers=headers, allow_redirects=True
            ) as resp:
                raw = await resp.read()
                status, resp_headers = resp.status, resp.headers
        except TimeoutError as exc:  # also aiohttp's ServerTimeoutError and its subclasses
            raise ctx.error(
                RetryableError, f"timed out after {loop.time() - started:.1f}s"
            ) from exc
        except aiohttp.ClientPayloadError as exc:
            raise ctx.error(RetryableError, "response body truncated or malformed") from exc
        except aiohttp.ClientConnectionError as exc:
            raise ctx.error(RetryableError, f"connection failed: {mask_text(str(exc))}") from exc
        except aiohttp.InvalidURL as exc:
            raise ctx.error(RejectedError, f"invalid URL for {method} {path}") from exc
        except aiohttp.ClientError as exc:
            # e.g. an unparsable status line or too many redirects; its text may hold the URL.
            raise ctx.error(RetryableError, f"HTTP protocol error: {type(exc).__name__}") from exc
        elapsed = loop.time() - started
        logger.debug(
            "%s %s -> %d in %.3fs",
            method,
            path,
            status,
            elapsed,
            extra={**ctx.log_extra(), "status": status, "elapsed": elapsed},
        )
        return HttpResponse(
            status=status,
            headers=resp_headers,
            body=raw,
            elapsed=elapsed,
            path=path,
            received_at=self._clock.now(),
        )


def decode(ctx: RequestContext, body: bytes, type_: type[T]) -> T:
    """Decode a JSON body into ``type_``; a bad body is a :class:`PlatformDecodeError`.

    The error names the field path msgspec reports (``$.data[0].id``) and carries a masked,
    truncated excerpt of the body.
    """
    body = body.removeprefix(_BOM)  # .NET services (c2c) may prefix one
    if body.lstrip()[:1] == b"<":
        raise ctx.error(PlatformDecodeError, "HTML page instead of JSON", excerpt=excerpt(body))
    if not body.strip():
        raise ctx.error(PlatformDecodeError, "empty body instead of JSON")
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        reason = mask_text(str(exc))
        match = _FIELD_PATH.search(reason)
        field = f"field {match.group(1)}: " if match else ""
        message = f"unexpected shape for {type_.__name__}: {field}{reason}"
        raise ctx.error(PlatformDecodeError, message, excerpt=excerpt(body)) from exc
    except msgspec.DecodeError as exc:
        message = f"malformed JSON: {mask_text(str(exc))}"
        raise ctx.error(PlatformDecodeError, message, excerpt=excerpt(body)) from exc
