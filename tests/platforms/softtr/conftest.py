"""Fixtures for the Softtr tests: a sandbox on a ManualClock served on 127.0.0.1, one HTTP
session with small timeouts, and a client factory bound to the sandbox's default tenant."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pipeline.clock import ManualClock
from pipeline.http import HttpClient, HttpSettings
from pipeline.platforms.softtr.client import SofttrClient
from pipeline.platforms.softtr.sandbox import SofttrSandbox
from pipeline.ratelimit import RateBudget, RateLimit
from pipeline.sandbox import SandboxSettings, ServedSandbox, serve

#: 12:00 in Istanbul.
START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
CREDENTIALS = {"username": "sandbox-username", "password": "sandbox-password"}

MakeClient = Callable[..., SofttrClient]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def sandbox(clock: ManualClock) -> SofttrSandbox:
    return SofttrSandbox(clock=clock, settings=SandboxSettings(seed=1, initial_orders=30))


@pytest.fixture
async def served(sandbox: SofttrSandbox) -> AsyncIterator[ServedSandbox]:
    async with serve([sandbox], shutdown_timeout=1.0) as running:
        yield running[0]


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    async with HttpClient(HttpSettings(total=2, sock_read=1, connect=1)) as client:
        yield client


@pytest.fixture
def make_client(served: ServedSandbox, http: HttpClient) -> MakeClient:
    def make(**kwargs: Any) -> SofttrClient:
        options: dict[str, Any] = {
            "account": "main",
            "base_url": served.base_url,
            "credentials": CREDENTIALS,
            "http": http,
            "budget": RateBudget(RateLimit.from_config(per_minute=100_000)),
        }
        options.update(kwargs)
        return SofttrClient(**options)

    return make
