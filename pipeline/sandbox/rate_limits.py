"""Platform rate limits, enforced the way the platform does: sliding windows on the sandbox clock,
keyed by whatever the platform counts (client IP, token, shop), answered with the platform's own
refusal (an HTTP 429 with JSON, or an HTTP 200 carrying an error code).

A rule applies to a request when its path pattern and methods match and its key function returns
a key; ``None`` (e.g. no token yet) means the rule does not count that request. A request is
admitted only if every applicable rule has room; then it counts against all of them. Refused
requests count too when ``count_rejected`` is set (some platforms do, and a client that keeps
hammering stays locked out).
"""

from __future__ import annotations

import math
import re
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from pipeline.clock import Clock
from pipeline.sandbox.tenants import Identity

KeyFunc = Callable[[web.Request, Identity], str | None]


def per_ip(request: web.Request, identity: Identity) -> str | None:
    return request.remote


def per_tenant(request: web.Request, identity: Identity) -> str | None:
    """One budget per account (a "per shop" limit), whoever calls for it."""
    return identity.tenant.label if identity.tenant else None


def per_token(request: web.Request, identity: Identity) -> str | None:
    """One budget per issued token, valid or not (a platform counts what it receives)."""
    return identity.token.label if identity.token else None


@dataclass(frozen=True)
class RateLimitRule:
    name: str
    limit: int
    window: float  # seconds
    key: KeyFunc
    path: str | None = None  # regular expression searched in the request path
    methods: frozenset[str] | None = None
    count_rejected: bool = False
    # The platform's refusal; None = the simulator's default (see Sandbox.rate_limit_response).
    respond: Callable[[Refusal], web.StreamResponse] | None = None

    def applies(self, request: web.Request) -> bool:
        if self.methods is not None and request.method not in self.methods:
            return False
        return self.path is None or re.search(self.path, request.path) is not None


@dataclass(frozen=True)
class Refusal:
    rule: RateLimitRule
    key: str
    retry_after: float  # seconds until the oldest counted request leaves the window

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after)))


class RateLimiter:
    def __init__(self, clock: Clock, rules: Sequence[RateLimitRule] = ()) -> None:
        self._clock = clock
        self.rules = list(rules)
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self.violations: Counter[str] = Counter()
        self.violations_by_key: Counter[tuple[str, str]] = Counter()
        self.admitted: Counter[str] = Counter()

    def check(self, request: web.Request, identity: Identity) -> Refusal | None:
        """Admit (and count) the request, or say which rule refuses it."""
        now = self._clock.now().timestamp()
        counted: list[tuple[RateLimitRule, deque[float]]] = []
        refusal: Refusal | None = None
        for rule in self.rules:
            key = rule.key(request, identity) if rule.applies(request) else None
            if key is None:
                continue
            window = self._windows.setdefault((rule.name, key), deque())
            while window and window[0] <= now - rule.window:
                window.popleft()
            counted.append((rule, window))
            if refusal is None and len(window) >= rule.limit:
                refusal = Refusal(rule, key, window[0] + rule.window - now)
        if refusal is not None:
            self.violations[refusal.rule.name] += 1
            self.violations_by_key[(refusal.rule.name, refusal.key)] += 1
            counted = [(rule, window) for rule, window in counted if rule.count_rejected]
        for rule, window in counted:
            window.append(now)
            if refusal is None:
                self.admitted[rule.name] += 1
        return refusal

    def usage(self, rule_name: str, key: str) -> int:
        """Requests counted in the rule's current window for ``key``."""
        rule = next(r for r in self.rules if r.name == rule_name)
        window = self._windows.get((rule_name, key), deque())
        now = self._clock.now().timestamp()
        return sum(1 for t in window if t > now - rule.window)

    def reset(self) -> None:
        self._windows.clear()
        self.violations.clear()
        self.violations_by_key.clear()
        self.admitted.clear()
