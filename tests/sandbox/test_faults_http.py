"""Every fault kind over real HTTP on 127.0.0.1; held requests are released by moving the
ManualClock or by shutting the server down, never by sleeping."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import aiohttp
import pytest

from pipeline.clock import ManualClock
from pipeline.sandbox import FaultRule, SandboxSettings, ServedSandbox, serve

from .conftest import login
from .dummy_platform import DummySandbox


async def eventually(condition: Callable[[], bool], within: float = 3.0) -> None:
    """Wait until the server task has reached a state (it offers no event to wait on)."""
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.005)


async def get_status(session: aiohttp.ClientSession, url: str, auth: dict[str, str]) -> int:
    async with session.get(url, headers=auth) as response:
        await response.read()
        return response.status


async def test_latency_holds_the_answer_until_the_clock_moves(
    served: ServedSandbox, sandbox: DummySandbox, session: aiohttp.ClientSession
) -> None:
    auth = await login(session, served)
    sandbox.faults.add(FaultRule("latency", path=r"/orders$", seconds=30, times=1))
    request = asyncio.create_task(get_status(session, served.base_url + "/orders", auth))
    await eventually(lambda: len(sandbox.log) == 2)
    for _ in range(50):  # let a wrongly unheld request finish, without waiting on the wall clock
        await asyncio.sleep(0)
    assert not request.done() and sandbox.log.entries[-1].status is None
    sandbox.advance(30)
    assert await asyncio.wait_for(request, 3) == 200
    assert sandbox.log.entries[-1].fault == "latency"


async def test_status_fault_answers_from_the_edge_then_stops(
    served: ServedSandbox, sandbox: DummySandbox, session: aiohttp.ClientSession
) -> None:
    auth = await login(session, served)
    order = next(o for o in sandbox.world.orders if o.status == "new")
    sandbox.faults.add(FaultRule("status", method="PUT", status=503, times=2))
    url = served.base_url + f"/orders/{order.id}/status"
    statuses = []
    for _ in range(3):
        async with session.put(url, json={"status": "preparing"}, headers=auth) as response:
            statuses.append(response.status)
        if len(statuses) < 3:
            assert order.status == "new"  # the handler never ran
    assert statuses == [503, 503, 200]
    assert await get_status(session, served.base_url + "/orders", auth) == 200


async def test_rate_limited_fault_sends_retry_after(
    served: ServedSandbox, sandbox: DummySandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.faults.add(FaultRule("rate_limited", retry_after=7, times=1))
    async with session.get(served.base_url + "/orders") as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "7"


async def test_timeout_fault_outlasts_the_client_timeout(
    served: ServedSandbox, sandbox: DummySandbox, session: aiohttp.ClientSession
) -> None:
    auth = await login(session, served)
    sandbox.faults.add(FaultRule("timeout", path=r"/orders$", times=1))
    with pytest.raises(TimeoutError):
        async with session.get(
            served.base_url + "/orders", headers=auth, timeout=aiohttp.ClientTimeout(total=0.3)
        ):
            pass
    assert await get_status(session, served.base_url + "/orders", auth) == 200


async def test_applied_timeout_makes_the_write_happen_without_an_answer(
    served: ServedSandbox, sandbox: DummySandbox, session: aiohttp.ClientSession
) -> None:
    auth = await login(session, served)
    order = next(o for o in sandbox.world.orders if o.status == "new")
    sandbox.faults.add(FaultRule("timeout", method="PUT", applied=True, times=1))
    with pytest.raises(TimeoutError):
        async with session.put(
            served.base_url + f"/orders/{order.id}/status",
            json={"status": "preparing"},
            headers=auth,
            timeout=aiohttp.ClientTimeout(total=0.3),
        ):
            pass
    assert order.status == "preparing"  # a retry must read the state first (invariant 4)
    assert sandbox.world.writes[-1].outcome == "applied"


async def test_shutdown_releases_a_held_request(clock: ManualClock) -> None:
    sandbox = DummySandbox(clock=clock)
    sandbox.faults.add(FaultRule("timeout", seconds=10_000))
    async with aiohttp.ClientSession() as session:
        async with serve([sandbox], shutdown_timeout=1.0) as (served,):
            request = asyncio.create_task(get_status(session, served.base_url + "/orders", {}))
            await eventually(lambda: len(sandbox.log) == 1)
        # The server is gone; the held request ended with it instead of hanging.
        assert await asyncio.wait_for(request, 3) == 503
    assert sandbox.log.entries[0].status == 503


async def test_malformed_json_is_a_200_cut_in_half(
    served: ServedSandbox, sandbox: DummySandbox, session: aiohttp.ClientSession
) -> None:
    auth = await login(session, served)
    sandbox.faults.add(FaultRule("malformed_json", path=r"/orders$", times=1))
    async with session.get(served.base_url + "/orders", headers=auth) as response:
        assert response.status == 200
        text = await response.text()
    assert text.startswith('{"success":true')
    with pytest.raises(ValueError):
        json.loads(text)


@pytest.mark.parametrize(
    ("style", "status", "marker"),
    [("nginx", 502, "<center>nginx</center>"), ("iis", 500, "500 - Internal Server Error")],
)
async def test_html_error_pages_look_like_the_servers_that_send_them(
    served: ServedSandbox,
    sandbox: DummySandbox,
    session: aiohttp.ClientSession,
    style: str,
    status: int,
    marker: str,
) -> None:
    sandbox.faults.add(FaultRule("html_error", status=status, style=style, times=1))  # type: ignore[arg-type]
    async with session.get(served.base_url + "/orders") as response:
        assert response.status == status
        assert response.content_type == "text/html"
        assert marker in await response.text()


async def test_token_expiry_fault_revokes_every_token_now(
    served: ServedSandbox, sandbox: DummySandbox, session: aiohttp.ClientSession
) -> None:
    auth = await login(session, served)
    other = await login(session, served)
    sandbox.faults.add(FaultRule("token_expiry", path=r"/orders$", times=1))
    assert await get_status(session, served.base_url + "/orders", auth) == 401
    assert await get_status(session, served.base_url + "/orders", other) == 401
    assert sandbox.log.entries[-2].fault == "token_expiry"
    assert sandbox.log.entries[-2].identity == "revoked:bearer"
    assert (
        await get_status(session, served.base_url + "/orders", await login(session, served)) == 200
    )


async def test_probability_faults_are_seeded_and_skip_lets_requests_through(
    clock: ManualClock,
) -> None:
    patterns = []
    for _ in range(2):
        sandbox = DummySandbox(clock=clock, settings=SandboxSettings(seed=9))
        sandbox.faults.add(FaultRule("status", probability=0.5, skip=3))
        async with serve([sandbox]) as (served,), aiohttp.ClientSession() as session:
            patterns.append(
                [await get_status(session, served.base_url + "/orders", {}) for _ in range(20)]
            )
    assert patterns[0] == patterns[1]
    assert patterns[0][:3] == [401, 401, 401]
    assert {401, 503} == set(patterns[0][3:])


async def test_a_fault_limited_to_one_method_leaves_others_alone(
    served: ServedSandbox, sandbox: DummySandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.faults.add(FaultRule("status", method="POST,PUT"))
    assert await get_status(session, served.base_url + "/orders", {}) == 401
    async with session.post(served.base_url + "/auth/token", json={}) as response:
        assert response.status == 503
