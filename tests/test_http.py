"""The shared HTTP layer against a real aiohttp server on 127.0.0.1 (port chosen by the OS).

Nothing sleeps: retries get a recording ``sleep``; where the budget is penalized, the loop clock
is shifted forward instead of waited for. The only real timeout is the slow-endpoint test's
50 ms socket read timeout, which cannot be faked without faking aiohttp itself.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal
from unittest import mock

import aiohttp
import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pipeline.errors import (
    AuthError,
    PlatformDecodeError,
    PlatformError,
    RateLimited,
    RejectedError,
    RetryableError,
)
from pipeline.http import (
    HeaderAuth,
    HttpClient,
    HttpResponse,
    HttpSettings,
    RequestContext,
    ResponseClassifier,
    TokenAuth,
    decode,
)
from pipeline.masking import register_secret
from pipeline.ratelimit import Lane, RateBudget, RateLimit
from pipeline.retry import RetryPolicy, with_retries
from tests.clocks import ShiftedLoopTime

SECRET = "s3cr3t-api-key-4711"
register_secret(SECRET)
CTX = RequestContext("testplat", "main", "orders.list")
UTC = dt.UTC


@dataclass
class State:
    hits: dict[str, int] = field(default_factory=dict)
    tokens_issued: int = 0
    valid_token: str | None = "tok-2"
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def hit(self, name: str) -> int:
        self.hits[name] = self.hits.get(name, 0) + 1
        return self.hits[name]


@dataclass
class Server:
    server: TestServer
    state: State

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))


def make_app(state: State) -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        state.hit("ok")
        return web.json_response({"data": [{"id": 1}]}, headers={"X-Request-Id": "req-1"})

    async def rate(request: web.Request) -> web.Response:
        state.hit("rate")
        return web.Response(status=429, headers={"Retry-After": "7"})

    async def rate_date(request: web.Request) -> web.Response:
        headers = {"Date": "Wed, 21 Oct 2015 07:28:00 GMT"}
        headers["Retry-After"] = "Wed, 21 Oct 2015 07:30:00 GMT"
        return web.Response(status=429, headers=headers)

    async def boom(request: web.Request) -> web.Response:
        return web.Response(status=500, text="upstream exploded")

    async def flaky(request: web.Request) -> web.Response:
        if state.hit("flaky") <= 2:
            return web.Response(status=503)
        return web.json_response({"data": []})

    async def token(request: web.Request) -> web.Response:
        state.tokens_issued += 1
        form = await request.post()
        assert form["grant_type"] == "client_credentials"
        return web.json_response({"access_token": f"tok-{state.tokens_issued}", "expires_in": 3600})

    async def protected(request: web.Request) -> web.Response:
        state.hit("protected")
        if request.headers.get("Authorization") == f"Bearer {state.valid_token}":
            return web.json_response({"data": []})
        return web.Response(status=401)  # pazarama: empty body

    async def forbidden(request: web.Request) -> web.Response:
        return web.json_response({"message": "Bu işlem için yetkiniz yok"}, status=403)

    async def html(request: web.Request) -> web.Response:
        body = "<!DOCTYPE html><html><body>502 Bad Gateway</body></html>"
        return web.Response(text=body, content_type="text/html")

    async def malformed(request: web.Request) -> web.Response:
        return web.Response(text='{"data": [{"id": 1}', content_type="application/json")

    async def rejected(request: web.Request) -> web.Response:
        body = {"message": "Sipariş bulunamadı", "apikey": request.headers.get("apikey")}
        return web.json_response(body, status=400)

    async def aciklama(request: web.Request) -> web.Response:
        return web.json_response([{"Durum": False, "Aciklama": "Geçersiz durum"}], status=422)

    async def bilingual(request: web.Request) -> web.Response:
        body = {"success": False, "message": {"tr": "Kaynak bulunamadı", "en": "Not found"}}
        return web.json_response(body, status=404)

    async def plain(request: web.Request) -> web.Response:
        return web.Response(status=404, text=f"no such page; your key was {SECRET}")

    async def soft_error(request: web.Request) -> web.Response:
        return web.json_response({"success": False, "message": "Geçersiz tarih aralığı"})

    async def echo(request: web.Request) -> web.Response:
        return web.Response(
            body=await request.read(), content_type=request.content_type, status=200
        )

    async def slow(request: web.Request) -> web.Response:
        await state.release.wait()
        return web.Response(text="{}")

    app = web.Application()
    for path, handler in {
        "/ok": ok,
        "/rate": rate,
        "/rate-date": rate_date,
        "/boom": boom,
        "/flaky": flaky,
        "/protected": protected,
        "/forbidden": forbidden,
        "/html": html,
        "/malformed": malformed,
        "/rejected": rejected,
        "/aciklama": aciklama,
        "/bilingual": bilingual,
        "/plain": plain,
        "/soft-error": soft_error,
        "/slow": slow,
    }.items():
        app.router.add_get(path, handler)
    app.router.add_post("/token", token)
    app.router.add_post("/echo", echo)
    return app


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = State()
    test_server = TestServer(make_app(state), host="127.0.0.1")
    await test_server.start_server()
    try:
        yield Server(test_server, state)
    finally:
        state.release.set()
        await test_server.close()


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    async with HttpClient(HttpSettings(total=10, connect=5, sock_read=5)) as client:
        yield client


@pytest.fixture
def budget() -> RateBudget:
    return RateBudget(RateLimit.from_config(per_minute=1000))


def response(status: int, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(
        status=status,
        headers=headers or {},
        body=b"",
        elapsed=0.0,
        path="/x",
        received_at=dt.datetime(2026, 1, 15, 9, 0, tzinfo=UTC),
    )


# -- requests and classification ---------------------------------------------------------------


async def test_a_2xx_answer_comes_back_with_body_and_timing(
    server: Server, http: HttpClient, budget: RateBudget
) -> None:
    resp = await http.request(CTX, "GET", server.url("/ok"), lane=Lane.POLL, budget=budget)
    assert resp.status == 200
    assert msgspec.json.decode(resp.body) == {"data": [{"id": 1}]}
    assert resp.headers["x-request-id"] == "req-1"  # case-insensitive
    assert resp.elapsed >= 0 and resp.path == "/ok"
    assert budget.usage().poll.acquired == 1


async def test_json_bodies_are_encoded_with_msgspec(
    server: Server, http: HttpClient, budget: RateBudget
) -> None:
    class Item(msgspec.Struct):
        orderno: str
        status: str

    resp = await http.request(
        CTX, "POST", server.url("/echo"), lane=Lane.COMMAND, budget=budget, json=[Item("1", "X")]
    )
    assert resp.body == b'[{"orderno":"1","status":"X"}]'
    assert resp.headers["Content-Type"].startswith("application/json")


async def test_429_is_rate_limited_with_retry_after_and_penalizes_the_budget(
    server: Server, http: HttpClient, budget: RateBudget
) -> None:
    with pytest.raises(RateLimited) as info:
        await http.request(CTX, "GET", server.url("/rate"), lane=Lane.POLL, budget=budget)
    assert info.value.retry_after == 7.0
    assert info.value.status == 429 and info.value.retriable
    assert 6.0 < budget.usage().blocked_for <= 7.0
    assert str(info.value) == "[testplat/main] orders.list: rate limited (HTTP 429), retry after 7s"


async def test_retry_after_as_http_date_counts_from_the_server_date(
    server: Server, http: HttpClient, budget: RateBudget
) -> None:
    with pytest.raises(RateLimited) as info:
        await http.request(CTX, "GET", server.url("/rate-date"), lane=Lane.POLL, budget=budget)
    assert info.value.retry_after == 120.0


async def test_5xx_is_retryable_but_not_rate_limited(
    server: Server, http: HttpClient, budget: RateBudget
) -> None:
    with pytest.raises(RetryableError) as info:
        await http.request(CTX, "GET", server.url("/boom"), lane=Lane.POLL, budget=budget)
    assert type(info.value) is RetryableError and info.value.status == 500
    assert budget.usage().blocked_for == 0.0


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/rejected", 400, "Sipariş bulunamadı"),
        ("/aciklama", 422, "Geçersiz durum"),
        ("/bilingual", 404, "Kaynak bulunamadı"),
        ("/plain", 404, "no such page; your key was ***"),
    ],
)
async def test_other_4xx_is_rejected_with_the_platforms_own_message(
    server: Server, http: HttpClient, budget: RateBudget, path: str, status: int, message: str
) -> None:
    with pytest.raises(RejectedError) as info:
        await http.request(CTX, "GET", server.url(path), lane=Lane.COMMAND, budget=budget)
    assert info.value.status == status and not info.value.retriable
    assert info.value.platform_message == message
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, None),
        (204, None),
        (400, RejectedError),
        (401, AuthError),
        (403, AuthError),
        (404, RejectedError),
        (409, RejectedError),
        (429, RateLimited),
        (500, RetryableError),
        (503, RetryableError),
    ],
)
def test_default_classification_table(status: int, expected: type[PlatformError] | None) -> None:
    classifier = ResponseClassifier()
    if expected is None:
        classifier.classify(CTX, response(status))
        return
    with pytest.raises(PlatformError) as info:
        classifier.classify(CTX, response(status))
    assert type(info.value) is expected
    assert (info.value.platform, info.value.account, info.value.endpoint) == (
        "testplat",
        "main",
        "orders.list",
    )


@pytest.mark.parametrize(
    ("value", "date", "seconds"),
    [
        ("7", None, 7.0),
        (" 1.5 ", None, 1.5),
        ("-3", None, 0.0),
        ("nan", None, None),
        ("soon", None, None),
        ("999999999", None, 86400.0),
        ("Thu, 15 Jan 2026 09:01:00 GMT", None, 60.0),  # relative to when it was received
        ("Thu, 15 Jan 2026 09:01:00 GMT", "Thu, 15 Jan 2026 09:00:30 GMT", 30.0),
    ],
)
def test_retry_after_parsing(value: str, date: str | None, seconds: float | None) -> None:
    headers = {"Retry-After": value} | ({"Date": date} if date else {})
    assert ResponseClassifier().retry_after(response(429, headers)) == seconds


class SuccessFlagClassifier(ResponseClassifier):
    """A vendor that answers errors with HTTP 200 and ``"success": false``."""

    def check_body(self, ctx: RequestContext, response: HttpResponse) -> None:
        doc = msgspec.json.decode(response.body)
        if doc.get("success") is False:
            raise self.error(RejectedError, "success=false in a 200 answer", ctx, response)


class QuotaCodeClassifier(ResponseClassifier):
    """A vendor whose per-minute quota error comes in a 200 body (webservis AUTH004)."""

    def check_body(self, ctx: RequestContext, response: HttpResponse) -> None:
        raise self.error(RateLimited, "AUTH004", ctx, response, retry_after=60.0)


async def test_check_body_recognises_errors_in_a_200_answer(
    server: Server, http: HttpClient, budget: RateBudget
) -> None:
    url = server.url("/soft-error")
    resp = await http.request(CTX, "GET", url, lane=Lane.POLL, budget=budget)
    assert resp.status == 200  # the default classifier trusts the status
    with pytest.raises(RejectedError) as info:
        await http.request(
            CTX, "GET", url, lane=Lane.POLL, budget=budget, classifier=SuccessFlagClassifier()
        )
    assert info.value.platform_message == "Geçersiz tarih aralığı"


async def test_a_quota_code_in_a_200_answer_penalizes_the_budget(
    server: Server, http: HttpClient, budget: RateBudget
) -> None:
    with pytest.raises(RateLimited):
        await http.request(
            CTX,
            "GET",
            server.url("/ok"),
            lane=Lane.POLL,
            budget=budget,
            classifier=QuotaCodeClassifier(),
        )
    assert 59.0 < budget.usage().blocked_for <= 60.0


async def test_a_full_budget_with_max_wait_fails_without_sending(
    server: Server, http: HttpClient
) -> None:
    budget = RateBudget(RateLimit.from_config(per_minute=1))
    await http.request(CTX, "GET", server.url("/ok"), lane=Lane.POLL, budget=budget)
    with pytest.raises(RateLimited, match="no poll slot in the local budget") as info:
        await http.request(CTX, "GET", server.url("/ok"), lane=Lane.POLL, budget=budget, max_wait=0)
    assert info.value.retry_after is not None and 59 < info.value.retry_after <= 60
    assert server.state.hits["ok"] == 1


# -- authentication --------------------------------------------------------------------------


class TokenBody(msgspec.Struct):
    access_token: str
    expires_in: float


class ServerTokenAuth(TokenAuth):
    def __init__(self, url: str, budget: RateBudget) -> None:
        super().__init__()
        self.url = url
        self.budget = budget
        self.invalidations = 0

    async def fetch_token(self, http: HttpClient) -> tuple[str, float | None]:
        ctx = RequestContext(CTX.platform, CTX.account, "token")
        resp = await http.request(
            ctx,
            "POST",
            self.url,
            lane=Lane.COMMAND,
            budget=self.budget,
            data={"grant_type": "client_credentials"},
        )
        body = decode(ctx, resp.body, TokenBody)
        return body.access_token, body.expires_in

    async def invalidate(self) -> None:
        self.invalidations += 1
        await super().invalidate()


async def test_401_refreshes_the_token_once_and_every_request_passes_the_budget(
    server: Server, http: HttpClient, budget: RateBudget
) -> None:
    auth = ServerTokenAuth(server.url("/token"), budget)
    resp = await http.request(
        CTX, "GET", server.url("/protected"), lane=Lane.POLL, budget=budget, auth=auth
    )
    assert resp.status == 200
    assert (auth.invalidations, server.state.tokens_issued, server.state.hits["protected"]) == (
        1,
        2,
        2,
    )
    usage = budget.usage()
    assert (usage.command.acquired, usage.poll.acquired) == (2, 2)  # 2 token + 2 API requests
    # The fresh token is reused, not fetched again.
    await http.request(
        CTX, "GET", server.url("/protected"), lane=Lane.POLL, budget=budget, auth=auth
    )
    assert server.state.tokens_issued == 2


async def test_a_second_401_is_an_auth_error_without_token_text(
    server: Server, http: HttpClient, budget: RateBudget, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.state.valid_token = None
    auth = ServerTokenAuth(server.url("/token"), budget)
    with pytest.raises(AuthError, match="refused again after one refresh") as info:
        await http.request(
            CTX, "GET", server.url("/protected"), lane=Lane.POLL, budget=budget, auth=auth
        )
    assert auth.invalidations == 1 and server.state.hits["protected"] == 2
    assert info.value.status == 401
    for text in (str(info.value), repr(info.value.__dict__), caplog.text):
        assert "tok-1" not in text and "tok-2" not in text


async def test_fixed_credentials_refused_cost_one_request_only(
    server: Server, http: HttpClient, budget: RateBudget
) -> None:
    auth = HeaderAuth({"apikey": "fixed-key-value-1"})
    with pytest.raises(AuthError):
        await http.request(
            CTX, "GET", server.url("/protected"), lane=Lane.POLL, budget=budget, auth=auth
        )
    assert server.state.hits["protected"] == 1


async def test_403_is_an_auth_error_without_a_refresh(
    server: Server, http: HttpClient, budget: RateBudget
) -> None:
    auth = ServerTokenAuth(server.url("/token"), budget)
    with pytest.raises(AuthError, match="HTTP 403") as info:
        await http.request(
            CTX, "GET", server.url("/forbidden"), lane=Lane.POLL, budget=budget, auth=auth
        )
    assert auth.invalidations == 0
    assert info.value.platform_message == "Bu işlem için yetkiniz yok"


# -- transport failures ------------------------------------------------------------------------


async def test_a_slow_answer_is_a_retryable_timeout(server: Server, budget: RateBudget) -> None:
    async with HttpClient(HttpSettings(total=5, connect=5, sock_read=0.05)) as http:
        with pytest.raises(RetryableError, match=r"timed out after 0\.\ds") as info:
            await http.request(CTX, "GET", server.url("/slow"), lane=Lane.POLL, budget=budget)
    assert isinstance(info.value.__cause__, TimeoutError)


async def test_a_refused_connection_is_retryable(http: HttpClient, budget: RateBudget) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more.
    with pytest.raises(RetryableError, match="connection failed") as info:
        await http.request(CTX, "GET", f"http://127.0.0.1:{port}/x", lane=Lane.POLL, budget=budget)
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectionError)


async def test_a_truncated_body_is_retryable(http: HttpClient, budget: RateBudget) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b'{"data": [')
        await writer.drain()
        writer.close()

    raw = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = raw.sockets[0].getsockname()[1]
    try:
        with pytest.raises(RetryableError, match="truncated") as info:
            await http.request(
                CTX, "GET", f"http://127.0.0.1:{port}/x", lane=Lane.POLL, budget=budget
            )
        assert isinstance(info.value.__cause__, aiohttp.ClientPayloadError)
    finally:
        raw.close()
        await raw.wait_closed()


async def test_an_invalid_url_is_rejected(http: HttpClient, budget: RateBudget) -> None:
    with pytest.raises(RejectedError, match="invalid URL"):
        await http.request(CTX, "GET", "not a url", lane=Lane.POLL, budget=budget)


async def test_aclose_is_idempotent_and_final(server: Server, budget: RateBudget) -> None:
    http = HttpClient()
    await http.request(CTX, "GET", server.url("/ok"), lane=Lane.POLL, budget=budget)
    await http.aclose()
    await http.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await http.request(CTX, "GET", server.url("/ok"), lane=Lane.POLL, budget=budget)


# -- decoding ----------------------------------------------------------------------------------


class Order(msgspec.Struct):
    id: int
    kind: Literal["sale", "return"] = "sale"


class OrderList(msgspec.Struct):
    data: list[Order]


async def test_an_html_page_is_a_decode_error(
    server: Server, http: HttpClient, budget: RateBudget
) -> None:
    resp = await http.request(CTX, "GET", server.url("/html"), lane=Lane.POLL, budget=budget)
    with pytest.raises(PlatformDecodeError, match="HTML page instead of JSON") as info:
        decode(CTX, resp.body, OrderList)
    assert "502 Bad Gateway" in info.value.excerpt


async def test_malformed_json_is_a_decode_error(
    server: Server, http: HttpClient, budget: RateBudget
) -> None:
    resp = await http.request(CTX, "GET", server.url("/malformed"), lane=Lane.POLL, budget=budget)
    with pytest.raises(PlatformDecodeError, match=r"malformed JSON|unexpected shape"):
        decode(CTX, resp.body, OrderList)
    with pytest.raises(PlatformDecodeError, match=r"malformed JSON: .*truncated"):
        decode(CTX, b'{"data": ', OrderList)
    with pytest.raises(PlatformDecodeError, match="empty body"):
        decode(CTX, b"  ", OrderList)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b'{"data": [{"id": 1}, {"id": "%s"}]}', "$.data[1].id"),
        (b'{"data": [{"id": 1, "kind": "%s"}]}', "$.data[0].kind"),
        (b'{"data": [{"note": "%s"}]}', "$.data[0]"),
    ],
)
def test_a_wrong_shape_names_the_field_and_never_the_secret(body: bytes, path: str) -> None:
    with pytest.raises(PlatformDecodeError) as info:
        decode(CTX, body.replace(b"%s", SECRET.encode()), OrderList)
    assert f"field {path}:" in str(info.value)
    assert "[testplat/main] orders.list: unexpected shape for OrderList" in str(info.value)
    assert SECRET not in str(info.value) and SECRET not in info.value.excerpt
    assert isinstance(info.value.__cause__, msgspec.ValidationError)


def test_a_byte_order_mark_is_tolerated() -> None:
    assert decode(CTX, b'\xef\xbb\xbf{"data": []}', OrderList) == OrderList([])


# -- secrets -----------------------------------------------------------------------------------


async def test_a_secret_never_reaches_errors_or_logs(
    server: Server, http: HttpClient, budget: RateBudget, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = server.url("/rejected") + f"?apikey={SECRET}"
    with pytest.raises(RejectedError) as info:
        await http.request(
            CTX, "GET", url, lane=Lane.COMMAND, budget=budget, headers={"apikey": SECRET}
        )
    assert SECRET not in str(info.value)
    assert SECRET not in (info.value.platform_message or "")
    # Our loggers only: the test server's own access log prints the query (a sandbox must not).
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("pipeline"))
    assert "GET /rejected -> 400" in ours
    assert SECRET not in ours
    record = next(r for r in caplog.records if r.name == "pipeline.http")
    assert (record.__dict__["platform"], record.__dict__["status"]) == ("testplat", 400)


# -- retries -----------------------------------------------------------------------------------


async def test_retries_until_success_with_exponential_full_jitter(
    server: Server, http: HttpClient, budget: RateBudget
) -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    policy = RetryPolicy(max_attempts=5, base_delay=0.5, max_delay=30.0)
    resp = await with_retries(
        lambda: http.request(CTX, "GET", server.url("/flaky"), lane=Lane.POLL, budget=budget),
        policy,
        sleep=sleep,
        rng=random.Random(42),
    )
    assert resp.status == 200 and server.state.hits["flaky"] == 3
    expected = random.Random(42)
    assert sleeps == [0.5 * (1 - expected.random()), 1.0 * (1 - expected.random())]


async def test_retry_after_is_honoured_between_attempts(
    server: Server, http: HttpClient, budget: RateBudget
) -> None:
    with ShiftedLoopTime(asyncio.get_running_loop()) as clock, pytest.raises(RateLimited):
        await with_retries(
            lambda: http.request(
                CTX, "GET", server.url("/rate"), lane=Lane.POLL, budget=budget, max_wait=1
            ),
            RetryPolicy(max_attempts=3, base_delay=0.1),
            sleep=clock.sleep,
            rng=random.Random(1),
        )
    assert clock.sleeps == [7.0, 7.0]
    assert server.state.hits["rate"] == 3


def failing(errors: list[Exception]) -> tuple[Callable[[], Awaitable[None]], list[Exception]]:
    raised: list[Exception] = []

    async def fn() -> None:
        exc = errors[min(len(raised), len(errors) - 1)]
        raised.append(exc)
        raise exc

    return fn, raised


async def test_retries_stop_after_max_attempts_with_the_last_error() -> None:
    errors: list[Exception] = [RetryableError(f"failure {i}") for i in range(6)]
    fn, raised = failing(errors)
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    policy = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=1.5, jitter=0.0, deadline=None)
    with pytest.raises(RetryableError) as info:
        await with_retries(fn, policy, sleep=sleep, rng=random.Random(0))
    assert info.value is errors[3] and len(raised) == 4
    assert sleeps == [0.5, 1.0, 1.5]  # doubling, capped at max_delay


async def test_errors_that_are_not_retriable_are_raised_at_once() -> None:
    fn, raised = failing([RejectedError("no"), RetryableError("never reached")])
    with pytest.raises(RejectedError):
        await with_retries(fn, RetryPolicy(), sleep=mock.AsyncMock(), rng=random.Random(0))
    assert len(raised) == 1


async def test_retries_stop_before_passing_the_deadline() -> None:
    now = 0.0

    async def sleep(seconds: float) -> None:
        nonlocal now
        now += seconds

    fn, raised = failing([RetryableError("down")])
    policy = RetryPolicy(max_attempts=10, base_delay=0.4, jitter=0.0, deadline=1.0)
    with pytest.raises(RetryableError):
        await with_retries(fn, policy, sleep=sleep, rng=random.Random(0), clock=lambda: now)
    assert len(raised) == 2 and now == 0.4  # the next pause (0.8) would end at 1.2 > 1.0

    fn, raised = failing([RateLimited("busy", retry_after=300.0)])
    with pytest.raises(RateLimited):
        await with_retries(fn, RetryPolicy(deadline=120.0), sleep=sleep, rng=random.Random(0))
    assert len(raised) == 1  # waiting 300 s would pass the deadline
