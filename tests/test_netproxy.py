"""The loopback TCP proxy used to cut, stall and restore a broker connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from pipeline.broker import find_free_port
from pipeline.netproxy import ProxyState, TcpProxy

STEP = 5.0


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[int]:
    """A server on 127.0.0.1 that sends back what it receives; yields its port."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(4096):
                writer.write(data)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def roundtrip(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        async with asyncio.timeout(STEP):
            return await reader.readexactly(len(payload))
    finally:
        writer.close()


async def connection_ended(reader: asyncio.StreamReader) -> bool:
    """True once the peer closed or reset the connection."""
    try:
        async with asyncio.timeout(STEP):
            return await reader.read(1) == b""
    except ConnectionResetError:
        return True


async def test_bytes_flow_both_ways_through_the_proxy() -> None:
    payload = bytes(range(256)) * 1000  # larger than one read, so it is pumped in chunks
    async with echo_server() as port, TcpProxy("127.0.0.1", port) as proxy:
        assert proxy.address == f"127.0.0.1:{proxy.port}"
        assert proxy.port != port
        assert await roundtrip(proxy.port, payload) == payload
        assert proxy.forwarded_bytes == 2 * len(payload)
        assert proxy.accepted == 1


async def test_cut_resets_open_connections_and_refuses_new_ones() -> None:
    async with echo_server() as port, TcpProxy("127.0.0.1", port) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
        await proxy.cut()
        assert proxy.state is ProxyState.CUT
        assert await connection_ended(reader)
        writer.close()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", proxy.port)
        async with asyncio.timeout(STEP):
            await proxy.wait_for(lambda: proxy.open_connections == 0)


async def test_restore_forwards_again_on_the_same_port() -> None:
    async with echo_server() as port, TcpProxy("127.0.0.1", port) as proxy:
        before = proxy.port
        await proxy.cut()
        await proxy.restore()
        assert proxy.port == before
        assert proxy.state is ProxyState.FORWARDING
        assert await roundtrip(proxy.port, b"again") == b"again"


async def test_stall_swallows_bytes_and_restore_resets_the_stalled_connections() -> None:
    async with echo_server() as port, TcpProxy("127.0.0.1", port) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        proxy.stall()
        writer.write(b"lost")
        await writer.drain()
        async with asyncio.timeout(STEP):
            await proxy.wait_for(lambda: proxy.dropped_bytes == 4)
        assert proxy.forwarded_bytes == 0
        assert not reader.at_eof()  # still open: a hung peer, not a closed one
        await proxy.restore()
        assert await connection_ended(reader)
        writer.close()
        assert await roundtrip(proxy.port, b"fresh") == b"fresh"


async def test_a_stalled_proxy_still_accepts_connections() -> None:
    async with echo_server() as port, TcpProxy("127.0.0.1", port) as proxy:
        proxy.stall()
        _, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"x")
        async with asyncio.timeout(STEP):
            await proxy.wait_for(lambda: proxy.dropped_bytes == 1)
        assert proxy.accepted == 1
        writer.close()


async def test_a_cut_proxy_cannot_be_stalled() -> None:
    async with echo_server() as port, TcpProxy("127.0.0.1", port) as proxy:
        await proxy.cut()
        with pytest.raises(RuntimeError, match="restore"):
            proxy.stall()


async def test_an_unreachable_target_closes_the_client_connection() -> None:
    async with TcpProxy("127.0.0.1", find_free_port()) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        assert await connection_ended(reader)
        writer.close()


async def test_aclose_ends_every_connection_and_is_idempotent() -> None:
    async with echo_server() as port:
        proxy = TcpProxy("127.0.0.1", port)
        await proxy.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"hi")
        assert await reader.readexactly(2) == b"hi"
        listening = proxy.port
        await proxy.aclose()
        await proxy.aclose()
        assert await connection_ended(reader)
        writer.close()
        assert proxy.open_connections == 0
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", listening)
        with pytest.raises(RuntimeError):
            await proxy.restore()
