"""A bench's helper process spoken to in JSON lines: the sandbox and the worker processes of
``pipeline bench ingest`` (so that each one's CPU is its own).

The child runs ``python -c <entry>``; its first line on stdin is a plan, its first line on
stdout the answer that it is ready; then each line sent is a request answered by one line
(its logs go to stderr). ``stop`` is the last request; EOF also ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import TypeVar

import msgspec

__all__ = ["ChildProcess", "reply"]

_T = TypeVar("_T")


def reply(message: msgspec.Struct) -> None:
    """Answer the parent (in the child): one JSON line on stdout."""
    sys.stdout.buffer.write(msgspec.json.encode(message) + b"\n")
    sys.stdout.buffer.flush()


class ChildProcess:
    """One child: :meth:`start` sends the plan and returns its ready answer, :meth:`ask` sends a
    line and decodes the answer, :meth:`aclose` asks it to stop and kills it by its pid after a
    bound (idempotent)."""

    def __init__(self, entry: str) -> None:
        self._entry = entry
        self._proc: asyncio.subprocess.Process | None = None
        self._closed = False

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    async def start(self, plan: msgspec.Struct, ready: type[_T], within: float) -> _T:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            self._entry,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=256 * 1024 * 1024,  # the sandbox's ready line carries every order id
        )
        try:
            return await self.ask(msgspec.json.encode(plan), ready, within)
        except BaseException:
            await self.aclose()
            raise

    async def send(self, line: bytes) -> None:
        """Send a line without waiting for its answer (read it with :meth:`answer`)."""
        proc = self._proc
        assert proc is not None and proc.stdin  # noqa: S101
        proc.stdin.write(line + b"\n")
        await proc.stdin.drain()

    async def answer(self, answer: type[_T], within: float) -> _T:
        proc = self._proc
        assert proc is not None and proc.stdout  # noqa: S101
        async with asyncio.timeout(within):
            line = await proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the bench's child exited (status {await proc.wait()})")
        return msgspec.json.decode(line, type=answer)

    async def ask(self, line: bytes, answer: type[_T], within: float) -> _T:
        async with asyncio.timeout(within):
            await self.send(line)
        return await self.answer(answer, within)

    async def aclose(self) -> None:
        """Stop the child (idempotent): ask, wait a bound, then kill it by its pid."""
        proc = self._proc
        if proc is None or self._closed:
            return
        self._closed = True
        if proc.returncode is None:
            with contextlib.suppress(
                OSError, RuntimeError, TimeoutError, msgspec.DecodeError, msgspec.ValidationError
            ):
                await self.ask(b"stop", msgspec.Raw, 5.0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await proc.wait()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
