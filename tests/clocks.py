"""Fake event-loop clocks for the tests: time is moved by the test, nothing sleeps.

Two kinds, because the tests need two different things:

* :class:`FakeLoopTime` stands the loop's ``time()`` still until the test moves it (aiolimiter's
  ``MockLoopTime``). Timers armed with ``call_at`` fire when the fake time passes them, because
  the event loop asks the same patched ``time()``. For rate budgets and carried-over records,
  where every time value must be exact.
* :class:`ShiftedLoopTime` keeps real time running and only adds an offset that its fake
  ``sleep`` moves forward. For tests that talk to a real aiohttp server on loopback: the client's
  socket timeouts and the server need the loop's real time to pass.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from unittest import mock

#: Where :attr:`FakeLoopTime.wall` starts unless a test says otherwise (``ManualClock``'s start).
WALL_START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)


async def settle(rounds: int = 20) -> None:
    """Let woken tasks run: ``rounds`` passes of the event loop, no time passing."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class FakeLoopTime:
    """The loop's ``time()`` at ``now``, which only the test moves; a wall clock moved with it.

    ``wall`` is ``wall_start`` plus the loop time passed since ``start``: for code that takes an
    aware wall time next to loop times (request records carried between owners).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        start: float = 0.0,
        wall_start: dt.datetime = WALL_START,
    ) -> None:
        self.start = start
        self.now = start
        self.wall_start = wall_start
        self._patch = mock.patch.object(loop, "time", lambda: self.now)

    def __enter__(self) -> FakeLoopTime:
        self._patch.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._patch.stop()

    @property
    def wall(self) -> dt.datetime:
        return self.wall_start + dt.timedelta(seconds=self.now - self.start)

    async def advance(self, seconds: float) -> None:
        """Move the loop time on and let what it woke run."""
        self.now += seconds
        await settle()


class ShiftedLoopTime:
    """Loop time = real time + an offset that a fake ``sleep`` moves forward.

    Not a :class:`FakeLoopTime`: the tests using it run real HTTP against aiohttp, whose timeouts
    are armed on the loop's clock, so real time must keep passing; only the waits handed to
    ``sleep`` (retries, a penalized budget) are skipped and recorded in ``sleeps``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.offset = 0.0
        self.sleeps: list[float] = []
        real = loop.time
        self._patch = mock.patch.object(loop, "time", lambda: real() + self.offset)

    def __enter__(self) -> ShiftedLoopTime:
        self._patch.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._patch.stop()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.offset += seconds
        await asyncio.sleep(0)
