"""A loopback HTTP server that answers whatever the current fuzz example says, and one event loop
kept across examples (a hypothesis test is synchronous; starting a server per example would
cost more than the example).

The adapter under test talks to it through the project's own :class:`pipeline.http.HttpClient`,
so status classification, BOM handling, body reading and error translation are all exercised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from aiohttp import web

from pipeline.http import HttpClient, HttpSettings

T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"


#: ``(method, path) -> Answer`` for the example being run.
Responder = Callable[[str, str], Answer]


@dataclass
class FuzzServer:
    responder: Responder = field(default=lambda method, path: Answer(404, b""))
    requests: list[tuple[str, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.requests.append((request.method, request.path))
        answer = self.responder(request.method, request.path)
        return web.Response(
            status=answer.status,
            body=answer.body,
            headers={"Content-Type": answer.content_type},
        )


class LoopRig:
    """One event loop, one server on 127.0.0.1, one HttpClient — shared by a module's examples."""

    def __init__(self) -> None:
        self.runner = asyncio.Runner()
        self.server = FuzzServer()
        self.base = ""
        self.http: HttpClient | None = None
        self._site_runner: web.AppRunner | None = None

    def run(self, coro: Awaitable[T]) -> T:
        return self.runner.run(coro)  # type: ignore[arg-type]

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.server.handle)
        self._site_runner = web.AppRunner(app, access_log=None)
        await self._site_runner.setup()
        site = web.TCPSite(self._site_runner, "127.0.0.1", 0)
        await site.start()
        port = self._site_runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{port}"
        self.http = HttpClient(HttpSettings(total=10, sock_read=10, connect=2))
        await self.http.__aenter__()

    async def _stop(self) -> None:
        if self.http is not None:
            await self.http.aclose()
        if self._site_runner is not None:
            await self._site_runner.cleanup()

    def __enter__(self) -> LoopRig:
        self.run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self._stop())
        finally:
            self.runner.close()
