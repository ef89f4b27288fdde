"""Readiness probe for the embedded broker: one Kafka Metadata v0 round trip.

:class:`~pipeline.broker.EmbeddedBroker` is ready when the broker answers a Metadata request
that advertises the address we gave it. :func:`probe` (async) and :func:`probe_blocking` send
that request to ``127.0.0.1:PORT`` and return the ``(host, port)`` of every broker in the
answer; :data:`NOT_YET` are the exceptions that mean "still coming up, ask again".

Written against the wire format (stable since Kafka 0.8) rather than aiokafka's internal
client, so the async and the blocking start share it, and polling a port that is not yet
listening does not fill the log with aiokafka's connection errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Final

__all__ = ["HOST", "NOT_YET", "probe", "probe_blocking"]

#: The embedded broker binds loopback only; :mod:`pipeline.broker` takes it from here, so the
#: address it starts the broker on and the address probed are one constant.
HOST: Final = "127.0.0.1"

_METADATA_API_KEY: Final = 3
_CLIENT_ID: Final = b"pipeline-readiness"


class _ProbeError(Exception):
    """The port answered, but not with a Kafka Metadata response (yet)."""


def _metadata_request(correlation_id: int) -> bytes:
    header = struct.pack(">hhih", _METADATA_API_KEY, 0, correlation_id, len(_CLIENT_ID))
    body = header + _CLIENT_ID + struct.pack(">i", 0)  # v0: an empty topic list = all topics
    return struct.pack(">i", len(body)) + body


def _advertised_brokers(frame: bytes, correlation_id: int) -> list[tuple[str, int]]:
    """``(host, port)`` of every broker in a Metadata v0 response (without its size prefix)."""
    try:
        got, count = struct.unpack_from(">ii", frame, 0)
        if got != correlation_id:
            raise _ProbeError(f"correlation id {got}, expected {correlation_id}")
        pos, brokers = 8, []
        for _ in range(count):
            (_node_id, host_len) = struct.unpack_from(">ih", frame, pos)
            pos += 6
            host = frame[pos : pos + host_len].decode()
            pos += host_len
            (port,) = struct.unpack_from(">i", frame, pos)
            pos += 4
            brokers.append((host, port))
    except (struct.error, UnicodeDecodeError) as exc:
        raise _ProbeError(f"malformed Metadata response: {exc}") from exc
    return brokers


def _frame_size(prefix: bytes) -> int:
    (size,) = struct.unpack(">i", prefix)
    if not 0 < size < 1 << 20:
        raise _ProbeError(f"implausible response size {size}")
    return int(size)


def probe_blocking(port: int, timeout: float) -> list[tuple[str, int]]:
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(_metadata_request(1))
        frame = _recv_exactly(sock, _frame_size(_recv_exactly(sock, 4)))
    return _advertised_brokers(frame, 1)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise _ProbeError("connection closed mid-response")
        buf += chunk
    return bytes(buf)


async def probe(port: int) -> list[tuple[str, int]]:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(_metadata_request(1))
        await writer.drain()
        frame = await reader.readexactly(_frame_size(await reader.readexactly(4)))
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return _advertised_brokers(frame, 1)


# Connection refused, reset, timeouts (TimeoutError is an OSError), short reads
# (IncompleteReadError is an EOFError): the broker is still coming up.
NOT_YET: Final = (OSError, EOFError, _ProbeError)
