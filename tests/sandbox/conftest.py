from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import aiohttp
import pytest

from pipeline.clock import ManualClock
from pipeline.sandbox import SandboxSettings, ServedSandbox, serve

from .dummy_platform import DummySandbox

START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
MAIN_ID = "sandbox-client_id"
MAIN_SECRET = "sandbox-client_secret"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def sandbox(clock: ManualClock) -> DummySandbox:
    return DummySandbox(clock=clock, settings=SandboxSettings(seed=1, initial_orders=20))


@pytest.fixture
async def served(sandbox: DummySandbox) -> AsyncIterator[ServedSandbox]:
    async with serve([sandbox], shutdown_timeout=1.0) as running:
        yield running[0]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def login(
    session: aiohttp.ClientSession,
    served: ServedSandbox,
    client_id: str = MAIN_ID,
    client_secret: str = MAIN_SECRET,
) -> dict[str, str]:
    """Log in as a tenant; returns the Authorization header to send."""
    async with session.post(
        served.base_url + "/auth/token",
        json={"client_id": client_id, "client_secret": client_secret},
    ) as response:
        assert response.status == 200, await response.text()
        token = (await response.json())["access_token"]
    return {"Authorization": f"Bearer {token}"}
