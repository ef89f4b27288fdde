import asyncio
import datetime as dt

import pytest

from pipeline.clock import ManualClock


async def test_manual_sleep_returns_only_when_time_is_advanced_past_it() -> None:
    clock = ManualClock()
    task = asyncio.create_task(clock.sleep(10))
    await asyncio.sleep(0.01)
    assert not task.done()
    clock.advance(9.9)
    await asyncio.sleep(0.01)
    assert not task.done()
    clock.advance(0.2)
    await asyncio.wait_for(task, 1)


async def test_cancelled_sleeper_is_forgotten() -> None:
    clock = ManualClock()
    task = asyncio.create_task(clock.sleep(5))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock._sleepers == []


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        ManualClock(dt.datetime(2026, 1, 1))
