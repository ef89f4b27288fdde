"""The harness of the sandbox state machines: one served sandbox on a ManualClock per run, a
plain aiohttp session (requests exactly as written, no adapter in between) and the world's
state read back between steps."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import aiohttp

from pipeline.clock import ManualClock
from pipeline.sandbox import Sandbox, SandboxSettings, serve

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


class Served:
    """A sandbox served on 127.0.0.1 for one state machine run."""

    def __init__(self, cls: type[Sandbox], *, orders: int = 6, seed: int = 3, **kw: Any) -> None:
        self.runner = asyncio.Runner()
        self.clock = ManualClock(START)
        self.sandbox = cls(
            clock=self.clock,
            settings=SandboxSettings(
                seed=seed, initial_orders=orders, history=dt.timedelta(days=2)
            ),
            **kw,
        )
        self._serving = serve([self.sandbox], shutdown_timeout=1.0)
        self.served = self.runner.run(self._serving.__aenter__())[0]
        self.session = self.runner.run(self._session())

    @staticmethod
    async def _session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    @property
    def base(self) -> str:
        return self.served.base_url

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        async def go() -> tuple[int, Any, dict[str, str]]:
            data = None if body is None else json.dumps(body).encode()
            sent = {**(headers or {})}
            if data is not None:
                sent["Content-Type"] = "application/json"
            async with self.session.request(
                method, self.base + path, data=data, headers=sent
            ) as response:
                raw = await response.read()
                try:
                    doc = json.loads(raw) if raw else None
                except ValueError:
                    doc = raw.decode("utf-8", "replace")
                return response.status, doc, dict(response.headers)

        return self.runner.run(go())

    def advance(self, seconds: float) -> None:
        self.sandbox.advance(seconds)

    def close(self) -> None:
        try:
            self.runner.run(self.session.close())
            self.runner.run(self._serving.__aexit__(None, None, None))
        finally:
            self.runner.close()
