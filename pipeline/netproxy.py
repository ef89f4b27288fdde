"""A loopback TCP proxy that can cut or stall the line: broker outages on demand.

Tests and the chaos benchmark put a :class:`TcpProxy` between the Kafka clients and the broker
and then make the broker unreachable without touching the broker process::

    async with TcpProxy("127.0.0.1", broker_port) as proxy:
        ...                      # clients connect to proxy.address
        await proxy.cut()        # open connections are reset, new ones refused
        await proxy.restore()    # the same address forwards again
        proxy.stall()            # connections stay open but no byte gets through (a hung broker)

Kafka clients connect to the addresses the broker *advertises* in its metadata, not to the
bootstrap address they were given; for every connection to pass through the proxy the broker
must advertise the proxy's address (``EmbeddedBroker(port=..., advertised_port=proxy.port)``).

Listens on 127.0.0.1 only. Every connection is owned by the proxy and closed by
:meth:`aclose`; nothing outlives the ``async with`` block.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Final, Self

__all__ = ["ProxyState", "TcpProxy"]

log = logging.getLogger(__name__)

HOST: Final = "127.0.0.1"
_CHUNK: Final = 64 * 1024


class ProxyState(enum.Enum):
    FORWARDING = "forwarding"
    #: Not listening: connecting clients get ECONNREFUSED, as from a stopped broker.
    CUT = "cut"
    #: Listening and accepting, but nothing is forwarded: a broker that hangs.
    STALLED = "stalled"


class _Link:
    """One client connection and its upstream connection."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None

    def abort(self) -> None:
        # abort(), not close(): a reset is what a client sees when a broker host goes away,
        # and it does not wait for buffered bytes to drain.
        for writer in (self.client, self.upstream):
            if writer is not None:
                writer.transport.abort()


class TcpProxy:
    """Forward ``127.0.0.1:port`` to ``target_host:target_port`` until cut.

    ``port=0`` picks a free port at :meth:`start`; after :meth:`cut`, :meth:`restore` listens on
    the same port again. Counters (``accepted``, ``forwarded_bytes``, ``dropped_bytes``) let
    tests wait for what happened instead of sleeping.
    """

    def __init__(self, target_host: str, target_port: int, *, port: int = 0) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self._port = port
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._state = ProxyState.CUT
        self._closed = False
        self._changed = asyncio.Event()
        #: Connections accepted since start (including those reset because of a stall/cut).
        self.accepted = 0
        #: Bytes forwarded in either direction.
        self.forwarded_bytes = 0
        #: Bytes received while stalled and thrown away.
        self.dropped_bytes = 0

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Listen and forward."""
        if self._server is not None or self._closed:
            raise RuntimeError("a TcpProxy starts once")
        await self._listen()

    async def aclose(self) -> None:
        """Stop listening, reset every connection and wait for their handlers. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._stop_listening()
        handlers = list(self._handlers)
        if handlers:
            # Aborted transports end both pumps at once; the bound only guards against a bug.
            async with asyncio.timeout(5):
                await asyncio.gather(*handlers, return_exceptions=True)

    # -- controls ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port == 0:
            raise RuntimeError("the proxy has not been started")
        return self._port

    @property
    def address(self) -> str:
        """``"127.0.0.1:PORT"``, usable as ``bootstrap_servers``."""
        return f"{HOST}:{self.port}"

    @property
    def state(self) -> ProxyState:
        return self._state

    @property
    def open_connections(self) -> int:
        return len(self._links)

    async def cut(self) -> None:
        """Reset every open connection and refuse new ones (stop listening)."""
        await self._stop_listening()
        self._set_state(ProxyState.CUT)
        log.info("proxy %s cut (target %s:%s)", self.address, self.target_host, self.target_port)

    def stall(self) -> None:
        """Keep accepting and keep connections open, but forward nothing (a hung broker)."""
        if self._state is ProxyState.CUT:
            raise RuntimeError("restore() a cut proxy before stalling it")
        self._set_state(ProxyState.STALLED)
        log.info("proxy %s stalled", self.address)

    async def restore(self) -> None:
        """Forward again on the same port. Connections that were stalled are reset (bytes
        were lost on them, so the stream is broken), as a client would see after a hang."""
        if self._closed:
            raise RuntimeError("the proxy is closed")
        if self._state is ProxyState.STALLED:
            self._abort_all()
        if self._server is None:
            await self._listen()
        self._set_state(ProxyState.FORWARDING)
        log.info("proxy %s restored", self.address)

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        """Return once ``condition()`` holds; it is checked after every change of a counter."""
        while True:
            self._changed.clear()
            if condition():
                return
            await self._changed.wait()

    # -- internals --------------------------------------------------------------------------

    def _set_state(self, state: ProxyState) -> None:
        self._state = state
        self._changed.set()

    async def _listen(self) -> None:
        # SO_REUSEADDR (asyncio's default on POSIX) lets restore() bind the port again even
        # though the connections we reset left it in TIME_WAIT.
        self._server = await asyncio.start_server(self._handle, HOST, self._port)
        self._port = self._server.sockets[0].getsockname()[1]
        self._set_state(ProxyState.FORWARDING)

    async def _stop_listening(self) -> None:
        """Stop accepting and reset every connection (in that order: none slips in between)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        self._abort_all()
        if server is not None:
            # Python 3.12+ waits here for the connections' handlers too; they end at once
            # now that their transports are aborted. The bound only guards against a bug.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1):
                    await server.wait_closed()

    def _abort_all(self) -> None:
        for link in list(self._links):
            link.abort()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - asyncio runs connection callbacks as tasks
        self._handlers.add(task)
        link = _Link(writer)
        self._links.add(link)
        self.accepted += 1
        self._changed.set()
        try:
            if self._state is ProxyState.CUT or self._closed:
                return
            try:
                up_reader, link.upstream = await asyncio.open_connection(
                    self.target_host, self.target_port
                )
            except OSError as exc:
                log.info("proxy %s: upstream unreachable: %s", self.address, exc)
                return
            # Either direction ending (EOF, reset, cut) ends the link: Kafka never half-closes.
            pumps = (
                asyncio.create_task(self._pump(reader, link.upstream)),
                asyncio.create_task(self._pump(up_reader, writer)),
            )
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                link.abort()
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            link.abort()
            self._links.discard(link)
            self._handlers.discard(task)
            self._changed.set()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):  # resets are how links end here
            while data := await reader.read(_CHUNK):
                if self._state is not ProxyState.FORWARDING:
                    self.dropped_bytes += len(data)
                    self._changed.set()
                    continue
                writer.write(data)
                await writer.drain()
                self.forwarded_bytes += len(data)
                self._changed.set()
