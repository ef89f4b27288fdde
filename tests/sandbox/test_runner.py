from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from pipeline.clock import ManualClock
from pipeline.sandbox import SandboxSettings, serve

from .dummy_platform import DummySandbox


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_several_sandboxes_serve_on_their_own_loopback_ports(clock: ManualClock) -> None:
    first, second = DummySandbox(clock=clock), DummySandbox(clock=clock)
    fixed = _free_port()
    async with serve([first, second], ports=[0, fixed]) as served:
        assert served[1].port == fixed and served[0].port not in (0, fixed)
        assert served[0].base_url == f"http://127.0.0.1:{served[0].port}/api/v9"
        assert served[0].control_url == f"http://127.0.0.1:{served[0].port}/_sandbox"
        async with aiohttp.ClientSession() as session:
            for running in served:
                async with session.get(running.base_url + "/orders") as response:
                    assert response.status == 401
        assert len(first.log) == len(second.log) == 1
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as session, session.get(served[0].base_url):
            pass


async def test_ports_must_match_the_sandboxes() -> None:
    with pytest.raises(ValueError, match="one port per sandbox"):
        async with serve([DummySandbox()], ports=[0, 0]):
            pass


async def test_ticker_moves_the_worlds_to_the_clock_and_stops_on_exit(clock: ManualClock) -> None:
    sandbox = DummySandbox(clock=clock, settings=SandboxSettings(arrival_rate_per_hour=60))
    async with serve([sandbox], tick_interval=0.01):
        clock.advance(3600)  # nobody polls: only the ticker can bring the world along
        async with asyncio.timeout(3):
            while sandbox.world.now != clock.now():
                await asyncio.sleep(0.01)
        assert len(sandbox.world.orders) > 20
    tasks = {t.get_name() for t in asyncio.all_tasks()}
    assert "sandbox-ticker" not in tasks


async def test_a_sandbox_can_be_served_again_after_a_stop(clock: ManualClock) -> None:
    sandbox = DummySandbox(clock=clock)
    for _ in range(2):
        async with (
            serve([sandbox]) as (served,),
            aiohttp.ClientSession() as session,
            session.get(served.base_url + "/orders") as response,
        ):
            assert response.status == 401
    assert len(sandbox.log) == 2
