"""Time as an injected dependency, so sandboxes and tests can move it instead of sleeping."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Protocol

UTC = dt.UTC


class Clock(Protocol):
    """Wall-clock time (aware, UTC) and waiting."""

    def now(self) -> dt.datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock that only moves when told to; ``sleep`` waits until someone advances past it."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("ManualClock needs an aware start time")
        self._now = start or dt.datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
        self._changed = asyncio.Condition()

    def now(self) -> dt.datetime:
        return self._now

    def set(self, when: dt.datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("ManualClock.set needs an aware time")
        self._now = when

    def advance(self, seconds: float) -> None:
        self._now += dt.timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        # Cooperative: yield so other tasks run; time itself moves only through advance().
        deadline = self._now + dt.timedelta(seconds=seconds)
        while self._now < deadline:
            await asyncio.sleep(0.001)
