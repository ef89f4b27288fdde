"""The framework over real HTTP on 127.0.0.1, through the dummy platform."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from pipeline.clock import ManualClock
from pipeline.sandbox import (
    RateLimitRule,
    Refusal,
    SandboxSettings,
    ServedSandbox,
    per_ip,
    per_tenant,
    per_token,
    serve,
)

from .conftest import login
from .dummy_platform import DummySandbox


async def test_request_log_records_who_asked_what_and_how_it_went(
    served: ServedSandbox, sandbox: DummySandbox, session: aiohttp.ClientSession
) -> None:
    auth = await login(session, served)
    async with session.get(
        served.base_url + "/orders", params={"page": "1", "size": "5"}, headers=auth
    ) as response:
        assert response.status == 200
        request_id = response.headers["X-Sandbox-Request-Id"]
        assert len((await response.json())["data"]) == 5

    login_entry, list_entry = sandbox.log.entries
    assert login_entry.method == "POST" and login_entry.path == "/api/v9/auth/token"
    assert login_entry.json() == {
        "client_id": "sandbox-client_id",
        "client_secret": "sandbox-client_secret",
    }
    assert login_entry.identity == "main:login"
    assert list_entry.id == request_id
    assert list_entry.query == [("page", "1"), ("size", "5")]
    assert list_entry.identity == "main/token#1" and list_entry.tenant == "main"
    assert list_entry.status == 200 and list_entry.latency >= 0
    assert list_entry.at == sandbox.clock.now()
    assert list_entry.response_size and list_entry.response_size > 100
    assert sandbox.log.summary().by_route == {
        "POST /api/v9/auth/token": 1,
        "GET /api/v9/orders": 1,
    }


async def test_exported_log_hides_credentials_and_tokens(
    served: ServedSandbox, sandbox: DummySandbox, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    auth = await login(session, served)
    async with session.get(served.base_url + "/orders", headers=auth):
        pass
    exported = sandbox.log.export()
    assert "sandbox-client_secret" not in exported[0].body and "***" in exported[0].body
    path = tmp_path / "log.jsonl"
    assert sandbox.log.write_jsonl(path) == 2
    text = path.read_text()
    assert "sandbox-client_secret" not in text
    assert auth["Authorization"].split()[1] not in text


async def test_logged_bodies_are_bounded(clock: ManualClock) -> None:
    sandbox = DummySandbox(clock=clock, settings=SandboxSettings(max_logged_body=10))
    async with (
        serve([sandbox]) as (served,),
        aiohttp.ClientSession() as session,
        session.post(served.base_url + "/auth/token", data=b"x" * 1000) as response,
    ):
        assert response.status == 400
    entry = sandbox.log.entries[0]
    assert entry.body == b"x" * 10 and entry.body_size == 1000 and entry.body_truncated


async def test_token_expires_on_the_sandbox_clock(
    served: ServedSandbox, sandbox: DummySandbox, session: aiohttp.ClientSession
) -> None:
    auth = await login(session, served)
    sandbox.advance(3599)
    async with session.get(served.base_url + "/orders", headers=auth) as response:
        assert response.status == 200
    sandbox.advance(1)
    async with session.get(served.base_url + "/orders", headers=auth) as response:
        assert response.status == 401
        assert await response.read() == b""
    assert sandbox.log.entries[-1].identity == "expired:bearer"


async def test_wrong_credentials_are_refused(
    served: ServedSandbox, session: aiohttp.ClientSession
) -> None:
    async with session.post(
        served.base_url + "/auth/token",
        json={"client_id": "sandbox-client_id", "client_secret": "x"},
    ) as response:
        assert response.status == 400


async def test_tenant_limit_answers_with_the_platforms_own_body(clock: ManualClock) -> None:
    def quota_code(refusal: Refusal) -> web.StreamResponse:
        # A vendor that reports its quota in an HTTP 200 body.
        return web.json_response({"code": "LIMIT01", "message": "Dakikalık erişim limiti aşıldı"})

    rule = RateLimitRule("per-shop", limit=3, window=60, key=per_tenant, respond=quota_code)
    sandbox = DummySandbox(clock=clock, rules=[rule])
    async with serve([sandbox]) as (served,), aiohttp.ClientSession() as session:
        auth = await login(session, served)
        statuses = []
        for _ in range(5):
            async with session.get(served.base_url + "/orders", headers=auth) as response:
                statuses.append((response.status, (await response.json()).get("code")))
        # The login counted too: the shop's budget covers every request made for it.
        assert statuses == [(200, None)] * 2 + [(200, "LIMIT01")] * 3
        assert sandbox.limits.violations["per-shop"] == 3
        assert [e.limited for e in sandbox.log.entries[-3:]] == ["per-shop"] * 3
        sandbox.advance(60)
        async with session.get(served.base_url + "/orders", headers=auth) as response:
            assert (await response.json()).get("code") is None


async def test_ip_limit_is_a_sliding_window_with_retry_after(clock: ManualClock) -> None:
    rule = RateLimitRule("per-ip", limit=2, window=60, key=per_ip)
    sandbox = DummySandbox(clock=clock, rules=[rule])
    async with serve([sandbox]) as (served,), aiohttp.ClientSession() as session:
        url = served.base_url + "/orders"
        async with session.get(url) as first:
            assert first.status == 401  # counted although unauthenticated: it is per IP
        sandbox.advance(30)
        async with session.get(url) as second:
            assert second.status == 401
        async with session.get(url) as third:
            assert third.status == 429
            assert third.headers["Retry-After"] == "30"
            assert await third.json() == {"success": False, "message": "too many requests"}
        sandbox.advance(30)  # the first request left the window
        async with session.get(url) as fourth:
            assert fourth.status == 401
        assert sandbox.limits.violations_by_key[("per-ip", "127.0.0.1")] == 1


async def test_token_limit_counts_per_token(clock: ManualClock) -> None:
    rule = RateLimitRule("per-token", limit=2, window=86400, key=per_token, path=r"/orders")
    sandbox = DummySandbox(clock=clock, rules=[rule])
    async with serve([sandbox]) as (served,), aiohttp.ClientSession() as session:
        first, second = await login(session, served), await login(session, served)
        results = []
        for auth in (first, first, first, second):
            async with session.get(served.base_url + "/orders", headers=auth) as response:
                results.append(response.status)
        assert results == [200, 200, 429, 200]


async def test_tenants_see_only_their_own_orders(
    served: ServedSandbox, sandbox: DummySandbox, session: aiohttp.ClientSession
) -> None:
    other = sandbox.add_tenant("second", {"client_id": "id-2", "client_secret": "secret-2"},
                               initial_orders=3)  # fmt: skip
    auth_main = await login(session, served)
    auth_other = await login(session, served, "id-2", "secret-2")
    async with session.get(served.base_url + "/orders", headers=auth_other) as response:
        ids = [o["id"] for o in (await response.json())["data"]]
    assert ids == [o.id for o in other.world.orders]
    async with session.get(served.base_url + f"/orders/{ids[0]}", headers=auth_main) as response:
        main_sees = response.status
    assert main_sees == 404 or ids[0] in {o.id for o in sandbox.world.orders}
    assert sandbox.log.entries[-1].identity == "main/token#1"
    assert sandbox.tenants["main"].credentials["client_id"] == "sandbox-client_id"


async def test_writes_follow_the_seller_table_and_name_their_request(
    served: ServedSandbox, sandbox: DummySandbox, session: aiohttp.ClientSession
) -> None:
    order = next(o for o in sandbox.world.orders if o.status == "new")
    auth = await login(session, served)
    url = served.base_url + f"/orders/{order.id}/status"
    async with session.put(url, json={"status": "shipped"}, headers=auth) as response:
        assert response.status == 400
        assert "new->shipped" in (await response.json())["message"]
    async with session.put(url, json={"status": "preparing"}, headers=auth) as response:
        assert response.status == 200
        request_id = response.headers["X-Sandbox-Request-Id"]
    rejected, applied = sandbox.world.writes[-2:]
    assert rejected.outcome == "rejected" and applied.outcome == "applied"
    assert applied.request_id == request_id
    assert order.status == "preparing" and order.history[-1].request_id == request_id


@pytest.mark.parametrize("size", ["101"])
async def test_dummy_platform_validation_is_its_own(
    served: ServedSandbox, session: aiohttp.ClientSession, size: str
) -> None:
    auth = await login(session, served)
    async with session.get(served.base_url + "/orders", params={"size": size}, headers=auth) as r:
        assert r.status == 400
        assert json.loads(await r.text())["message"] == "size must be <= 100"


async def test_unknown_paths_are_logged_with_the_routers_answer(
    served: ServedSandbox, sandbox: DummySandbox, session: aiohttp.ClientSession
) -> None:
    async with session.get(served.base_url + "/no/such/endpoint") as response:
        assert response.status == 404
    async with session.delete(served.base_url + "/orders") as response:
        assert response.status == 405
    assert [(e.path, e.status) for e in sandbox.log.entries] == [
        ("/api/v9/no/such/endpoint", 404),
        ("/api/v9/orders", 405),
    ]
    assert sandbox.log.entries[0].route is None
