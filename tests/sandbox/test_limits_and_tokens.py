from __future__ import annotations

import datetime as dt

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from pipeline.clock import ManualClock
from pipeline.sandbox import Identity, RateLimiter, RateLimitRule, TokenIssuer, per_ip, per_token


def _request(path: str = "/orders", method: str = "GET") -> web.Request:
    return make_mocked_request(method, path)


def test_a_request_refused_by_one_rule_does_not_use_another_rules_budget(
    clock: ManualClock,
) -> None:
    tight = RateLimitRule("tight", limit=1, window=60, key=lambda r, i: "k")
    loose = RateLimitRule("loose", limit=3, window=60, key=lambda r, i: "k")
    limiter = RateLimiter(clock, [loose, tight])
    anonymous = Identity("anonymous")
    results = [limiter.check(_request(), anonymous) for _ in range(3)]
    assert results[0] is None and results[1] is not None and results[1].rule.name == "tight"
    assert limiter.usage("loose", "k") == 1
    assert limiter.violations == {"tight": 2}


def test_counting_rejected_requests_keeps_a_hammering_client_locked_out(
    clock: ManualClock,
) -> None:
    rule = RateLimitRule("day", limit=2, window=100, key=lambda r, i: "k", count_rejected=True)
    limiter = RateLimiter(clock, [rule])
    anonymous = Identity("anonymous")
    for _ in range(4):
        limiter.check(_request(), anonymous)
        clock.advance(30)
    # At 120 s only the request at 0 s has left the window; the refused ones at 60 s and 90 s
    # still count, so the client stays locked out although it was admitted only twice.
    refusal = limiter.check(_request(), anonymous)
    assert refusal is not None and refusal.retry_after == 10.0
    assert refusal.retry_after_header == "10"
    assert limiter.admitted == {"day": 2} and limiter.violations == {"day": 3}


def test_rules_apply_only_to_their_paths_methods_and_keys(clock: ManualClock) -> None:
    rule = RateLimitRule("writes", limit=0, window=60, key=per_token, methods=frozenset({"PUT"}))
    limiter = RateLimiter(clock, [rule, RateLimitRule("ip", 0, 60, per_ip, path=r"^/admin")])
    anonymous = Identity("anonymous")
    assert limiter.check(_request(method="PUT"), anonymous) is None
    assert limiter.check(_request("/orders"), anonymous) is None


def test_tokens_expire_and_are_revoked_on_the_sandbox_clock(clock: ManualClock) -> None:
    issuer = TokenIssuer(clock, seed=1)
    token = issuer.issue("main", dt.timedelta(minutes=10))
    assert issuer.state(token.value) == "valid" and issuer.validate(token.value) == token
    assert token.label == "main/token#1" and token.lifetime == dt.timedelta(minutes=10)
    assert issuer.state("made-up") == "unknown"
    clock.advance(600)
    assert issuer.state(token.value) == "expired" and issuer.validate(token.value) is None
    fresh = issuer.issue("main", dt.timedelta(minutes=10))
    assert issuer.revoke_all() == 1
    assert issuer.state(fresh.value) == "revoked"
    assert TokenIssuer(ManualClock(), seed=1).issue("main", dt.timedelta(1)).value == token.value
