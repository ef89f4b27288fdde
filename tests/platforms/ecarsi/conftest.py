"""Shared fixtures for the E-Çarşı sandbox and client tests (loopback only, clock moved by hand)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import aiohttp
import pytest

from pipeline.clock import ManualClock
from pipeline.platforms.ecarsi.sandbox import EcarsiSandbox
from pipeline.sandbox import SandboxSettings, ServedSandbox, serve

START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
EMAIL = "sandbox-email"
PASSWORD = "sandbox-password"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def sandbox(clock: ManualClock) -> EcarsiSandbox:
    return EcarsiSandbox(clock=clock, settings=SandboxSettings(seed=1, initial_orders=30))


@pytest.fixture
async def served(sandbox: EcarsiSandbox) -> AsyncIterator[ServedSandbox]:
    async with serve([sandbox], shutdown_timeout=1.0) as running:
        yield running[0]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def auth(session: aiohttp.ClientSession, served: ServedSandbox) -> dict[str, str]:
    """The Authorization header of a fresh login as the default tenant."""
    async with session.post(
        served.base_url + "/auth", json={"email": EMAIL, "password": PASSWORD}
    ) as response:
        assert response.status == 200, await response.text()
        token = (await response.json())["data"]["token"]
    return {"Authorization": f"Bearer {token}"}
