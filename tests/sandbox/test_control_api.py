"""Driving a running sandbox over HTTP, as out-of-process tests and benchmarks do."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import aiohttp

from pipeline.sandbox import RateLimitRule, ServedSandbox, per_ip, serve

from .conftest import START, login
from .dummy_platform import DummySandbox


async def test_faults_are_armed_listed_and_removed_over_http(
    served: ServedSandbox, sandbox: DummySandbox, session: aiohttp.ClientSession
) -> None:
    faults = served.control_url + "/faults"
    async with session.post(faults, json={"kind": "status", "status": 502, "times": 1}) as r:
        assert r.status == 201
        fault_id = (await r.json())["id"]
    async with session.get(served.base_url + "/orders") as r:
        assert r.status == 502
    async with session.get(faults) as r:
        (listed,) = await r.json()
    assert listed["id"] == fault_id and listed["fired"] == 1 and listed["rule"]["kind"] == "status"
    async with session.delete(f"{faults}/{fault_id}") as r:
        assert r.status == 200
    assert sandbox.faults.rules == []
    async with session.delete(f"{faults}/{fault_id}") as r:
        assert r.status == 404


async def test_invalid_fault_rules_are_refused_with_the_reason(
    served: ServedSandbox, session: aiohttp.ClientSession
) -> None:
    faults = served.control_url + "/faults"
    for bad in ({"kind": "nope"}, {"kind": "status", "status": 404}, {"kind": "latency", "x": 1}):
        async with session.post(faults, json=bad) as r:
            assert r.status == 400
            assert (await r.json())["error"]


async def test_the_clock_moves_over_http_and_the_world_follows(
    served: ServedSandbox, sandbox: DummySandbox, session: aiohttp.ClientSession
) -> None:
    async with session.post(served.control_url + "/clock/advance", json={"seconds": 3600}) as r:
        assert dt.datetime.fromisoformat((await r.json())["now"]) == START + dt.timedelta(hours=1)
    assert sandbox.world.now == START + dt.timedelta(hours=1)
    later = (START + dt.timedelta(days=2)).isoformat()
    async with session.post(served.control_url + "/clock/advance", json={"to": later}) as r:
        assert r.status == 200
    assert sandbox.world.now == START + dt.timedelta(days=2)


async def test_clock_cannot_be_advanced_on_the_system_clock(session: aiohttp.ClientSession) -> None:
    async with serve([DummySandbox()]) as (served,):
        async with session.post(served.control_url + "/clock/advance", json={"seconds": 1}) as r:
            assert r.status == 409
        async with session.get(served.control_url + "/clock") as r:
            assert (await r.json())["manual"] is False


async def test_log_is_readable_over_http_and_control_calls_are_not_in_it(
    served: ServedSandbox, session: aiohttp.ClientSession
) -> None:
    auth = await login(session, served)
    async with session.get(served.base_url + "/orders", headers=auth):
        pass
    async with session.get(served.control_url + "/log") as r:
        entries = await r.json()
    assert [e["path"] for e in entries] == ["/api/v9/auth/token", "/api/v9/orders"]
    assert "sandbox-client_secret" not in entries[0]["body"]
    async with session.get(served.control_url + "/log", params={"since": "1"}) as r:
        assert [e["seq"] for e in await r.json()] == [2]
    assert entries[1]["route"] == "/api/v9/orders"
    async with session.get(served.base_url + "/orders/nope", headers=auth):
        pass
    async with session.get(served.control_url + "/log/summary") as r:
        summary = await r.json()
    assert summary["requests"] == 3
    assert summary["by_route"]["GET /api/v9/orders/{order_id}"] == 1
    async with session.delete(served.control_url + "/log") as r:
        assert r.status == 200
    async with session.get(served.control_url + "/log") as r:
        assert await r.json() == []


async def test_state_exposes_the_ground_truth_with_exact_money(
    served: ServedSandbox, sandbox: DummySandbox, session: aiohttp.ClientSession
) -> None:
    async with session.get(served.control_url + "/state", params={"tenant": "main"}) as r:
        state = await r.json()
    orders = state["main"]["orders"]
    assert len(orders) == len(sandbox.world.orders) == 20
    first = sandbox.world.orders[0]
    assert orders[0]["id"] == first.id
    assert Decimal(orders[0]["totals"]["total"]) == first.totals.total
    assert isinstance(orders[0]["totals"]["total"], str)
    async with session.get(served.control_url + "/state", params={"tenant": "nobody"}) as r:
        assert r.status == 404


async def test_orders_and_tenants_can_be_added_over_http(
    served: ServedSandbox, sandbox: DummySandbox, session: aiohttp.ClientSession
) -> None:
    async with session.post(served.control_url + "/orders", json={"count": 3}) as r:
        assert r.status == 201 and len((await r.json())["created"]) == 3
    assert len(sandbox.world.orders) == 23
    credentials = {"client_id": "b2-id", "client_secret": "b2-secret"}
    tenant = {"label": "b2", "credentials": credentials, "initial_orders": 0}
    async with session.post(served.control_url + "/tenants", json=tenant) as r:
        assert r.status == 201
    async with session.post(served.control_url + "/tenants", json=tenant) as r:
        assert r.status == 400  # exists already
    auth = await login(session, served, "b2-id", "b2-secret")
    async with session.get(served.base_url + "/orders", headers=auth) as r:
        assert (await r.json())["data"] == []


async def test_tokens_expire_over_http(
    served: ServedSandbox, session: aiohttp.ClientSession
) -> None:
    auth = await login(session, served)
    async with session.post(served.control_url + "/tokens/expire") as r:
        assert (await r.json())["revoked"] == 1
    async with session.get(served.base_url + "/orders", headers=auth) as r:
        assert r.status == 401


async def test_limits_report_and_reset_over_http(clock: object) -> None:
    sandbox = DummySandbox(rules=[RateLimitRule("per-ip", limit=1, window=60, key=per_ip)])
    async with serve([sandbox]) as (served,), aiohttp.ClientSession() as session:
        for _ in range(3):
            async with session.get(served.base_url + "/orders"):
                pass
        async with session.get(served.control_url + "/limits") as r:
            report = await r.json()
        assert report["violations"] == {"per-ip": 2} and report["admitted"] == {"per-ip": 1}
        assert report["by_key"] == [{"rule": "per-ip", "key": "127.0.0.1", "violations": 2}]
        async with session.delete(served.control_url + "/limits") as r:
            assert r.status == 200
        async with session.get(served.base_url + "/orders") as r:
            assert r.status == 401
        async with session.get(served.control_url) as r:
            info = await r.json()
        assert info["platform"] == "dummy" and info["tenants"] == ["main"]
