from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
import pytest

from pipeline.clock import ManualClock
from pipeline.platforms.c2c.sandbox import C2CSandbox
from pipeline.sandbox import SandboxSettings, ServedSandbox, serve

START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
CREDENTIALS = {
    "domain": "sandbox-domain",
    "api_key": "sandbox-api_key",
    "api_password": "sandbox-api_password",
}
BODY = {
    "Domain": "sandbox-domain",
    "ApiKey": "sandbox-api_key",
    "ApiPassword": "sandbox-api_password",
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def sandbox(clock: ManualClock) -> C2CSandbox:
    return C2CSandbox(
        clock=clock,
        settings=SandboxSettings(seed=7, initial_orders=150, history=dt.timedelta(days=14)),
    )


@pytest.fixture
async def served(sandbox: C2CSandbox) -> AsyncIterator[ServedSandbox]:
    async with serve([sandbox], shutdown_timeout=1.0) as running:
        yield running[0]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def post(
    session: aiohttp.ClientSession, served: ServedSandbox, endpoint: str, body: Any
) -> tuple[int, Any]:
    """POST a JSON body (or raw bytes) to an endpoint; the status and the decoded answer."""
    data = body if isinstance(body, bytes) else msgspec.json.encode(body)
    async with session.post(
        served.base_url + endpoint, data=data, headers={"Content-Type": "application/json"}
    ) as response:
        raw = await response.read()
        return response.status, msgspec.json.decode(raw) if raw else None
