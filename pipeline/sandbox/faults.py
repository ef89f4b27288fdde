"""Fault injection: the failures a platform's edge produces, switched on per test.

A :class:`FaultRule` matches requests by method and path pattern and fires ``times`` times, or on
a seeded ``probability`` share of them, optionally after letting ``skip`` matches through.

=============== ==========================================================================
kind            what the client sees
=============== ==========================================================================
latency         the real answer, ``seconds`` late (on the sandbox clock)
status          a bare ``status`` (default 503) from the edge; the handler never runs
rate_limited    429 with ``Retry-After: retry_after``, from the edge (not the platform's
                own limit shape: that is what the platform's RateLimitRule produces)
timeout         nothing for ``seconds`` (default an hour), then 504; with ``applied`` the
                handler runs first, so the write happens but its answer never arrives
malformed_json  HTTP 200, the real answer cut in half (a proxy that dropped the connection)
html_error      an nginx or IIS HTML error page with ``status`` (default 502)
token_expiry    every issued token is revoked now; the request goes on and meets the
                platform's own "token expired" answer
=============== ==========================================================================

Held requests (latency, timeout) wait on the sandbox clock, so tests move a ``ManualClock``
instead of sleeping, and they are released when the server shuts down.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Literal

import msgspec
from aiohttp import web

from pipeline.clock import Clock

FaultKind = Literal[
    "latency", "status", "rate_limited", "timeout", "malformed_json", "html_error", "token_expiry"
]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FAULT_KEY = web.RequestKey("sandbox.fault", str)
DEFAULT_HOLD = 3600.0


class FaultRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: FaultKind
    method: str = "*"  # "*" or a comma-separated list: "POST,PUT"
    path: str = ""  # regular expression searched in the request path; "" matches every path
    times: int | None = None  # fire at most this many times (None: no limit)
    probability: float | None = None  # fire on this share of matches, from a seeded stream
    skip: int = 0  # let this many matching requests through first
    seconds: float = 0.0  # latency, or how long a timeout holds (0: an hour)
    status: int | None = None  # status kind (default 503), html_error (default 502)
    retry_after: float = 1.0
    style: Literal["nginx", "iis"] = "nginx"
    applied: bool = False  # timeout only: run the handler before holding the answer back

    def __post_init__(self) -> None:
        if self.kind == "status" and self.status is not None and not 500 <= self.status <= 599:
            raise ValueError("a status fault needs a 5xx status")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        if self.times is not None and self.times < 0:
            raise ValueError("times must be >= 0")
        re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        if self.method != "*" and method not in {m.strip().upper() for m in self.method.split(",")}:
            return False
        return re.search(self.path, path) is not None


class ArmedFault(msgspec.Struct, kw_only=True):
    id: int
    rule: FaultRule
    matched: int = 0
    fired: int = 0

    @property
    def exhausted(self) -> bool:
        return self.rule.times is not None and self.fired >= self.rule.times


class FaultSet:
    """The rules in force, in the order they were added; the first one that fires wins."""

    def __init__(self, seed: int | str = 0) -> None:
        self._rng = random.Random(f"{seed}|faults")
        self._armed: dict[int, ArmedFault] = {}
        self._next_id = 1
        self.fired: Counter[str] = Counter()

    def add(self, rule: FaultRule) -> int:
        armed = ArmedFault(id=self._next_id, rule=rule)
        self._armed[armed.id] = armed
        self._next_id += 1
        return armed.id

    def remove(self, fault_id: int) -> bool:
        return self._armed.pop(fault_id, None) is not None

    def clear(self) -> None:
        self._armed.clear()

    @property
    def rules(self) -> list[ArmedFault]:
        return list(self._armed.values())

    def pick(self, method: str, path: str) -> FaultRule | None:
        for armed in self._armed.values():
            rule = armed.rule
            if armed.exhausted or not rule.matches(method, path):
                continue
            armed.matched += 1
            if armed.matched <= rule.skip:
                continue
            if rule.probability is not None and self._rng.random() >= rule.probability:
                continue
            armed.fired += 1
            self.fired[rule.kind] += 1
            return rule
        return None


def html_error_page(status: int, style: Literal["nginx", "iis"]) -> web.Response:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    if style == "iis":
        body = _IIS_PAGE.format(status=status, phrase=phrase)
        headers = {"Server": "Microsoft-IIS/10.0", "X-Powered-By": "ASP.NET"}
    else:
        body = _NGINX_PAGE.format(status=status, phrase=phrase)
        headers = {"Server": "nginx"}
    return web.Response(status=status, text=body, content_type="text/html", headers=headers)


_NGINX_PAGE = """<html>
<head><title>{status} {phrase}</title></head>
<body>
<center><h1>{status} {phrase}</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""

_IIS_PAGE = """<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" \
"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"/>
<title>{status} - {phrase}.</title>
</head>
<body>
<div id="header"><h1>Server Error</h1></div>
<div id="content">
 <div class="content-container"><fieldset>
  <h2>{status} - {phrase}.</h2>
  <h3>There is a problem with the resource you are looking for, and it cannot be displayed.</h3>
 </fieldset></div>
</div>
</body>
</html>
"""

_CUT_SHORT = b'{"data": [{"id": 1, "na'


class FaultInjector:
    """Applies the fault (if any) picked for a request, around the rest of the handler chain."""

    def __init__(self, faults: FaultSet, clock: Clock, revoke_tokens: Callable[[], int]) -> None:
        self.faults = faults
        self._clock = clock
        self._revoke_tokens = revoke_tokens
        self._closing = asyncio.Event()

    def close(self) -> None:
        """Release every held request (server shutdown)."""
        self._closing.set()

    def reopen(self) -> None:
        """Serve again after a shutdown (the same sandbox started by a new runner)."""
        self._closing.clear()

    async def handle(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        rule = self.faults.pick(request.method, request.path)
        if rule is None:
            return await handler(request)
        request[FAULT_KEY] = rule.kind
        match rule.kind:
            case "latency":
                if not await self._hold(rule.seconds):
                    return _shutting_down()
                return await handler(request)
            case "status":
                status = rule.status or 503
                return web.Response(status=status, text=f"{status} {HTTPStatus(status).phrase}")
            case "rate_limited":
                seconds = str(max(0, round(rule.retry_after)))
                return web.Response(
                    status=429, text="Too Many Requests", headers={"Retry-After": seconds}
                )
            case "timeout":
                response = await handler(request) if rule.applied else None
                if not await self._hold(rule.seconds or DEFAULT_HOLD):
                    return _shutting_down()
                return html_error_page(504, rule.style) if response is None else response
            case "malformed_json":
                response = await handler(request)
                body = response.body if isinstance(response, web.Response) else None
                if not isinstance(body, bytes) or len(body) < 2:
                    body = _CUT_SHORT
                return web.Response(
                    status=200, body=body[: len(body) // 2], content_type="application/json"
                )
            case "html_error":
                return html_error_page(rule.status or 502, rule.style)
            case "token_expiry":
                self._revoke_tokens()
                return await handler(request)

    async def _hold(self, seconds: float) -> bool:
        """Wait ``seconds`` on the sandbox clock; False if the server began shutting down."""
        if self._closing.is_set():
            return False
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({sleeper, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, closing):
                task.cancel()
            await asyncio.gather(sleeper, closing, return_exceptions=True)
        return not self._closing.is_set()


def _shutting_down() -> web.Response:
    return web.Response(status=503, text="503 Service Unavailable", headers={"Connection": "close"})
