"""Rate budgets on a fake loop clock (``tests.clocks.FakeLoopTime``): the loop's ``time()`` is
patched, nothing sleeps. Time values are multiples of 1/4 so float sums stay exact and the checks
below compare what the budget compared.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from unittest import mock

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import platforms
from pipeline.errors import ConfigError
from pipeline.ratelimit import (
    DAY,
    MINUTE,
    Lane,
    RateBudget,
    RateLimit,
    RateLimiterRegistry,
    Window,
    WindowLog,
)
from tests.clocks import FakeLoopTime, settle

#: Every platform's default limit, as the workers take them from the platform registry.
LIMITS = platforms.default_limits()


@pytest.fixture
async def clock() -> AsyncIterator[FakeLoopTime]:
    with FakeLoopTime(asyncio.get_running_loop()) as fake:
        yield fake


def spawn(budget: RateBudget, lane: Lane, log: list[tuple[float, Lane]]) -> asyncio.Task[None]:
    async def run() -> None:
        # The time the budget counted, which a resumed task may see later on the fake clock.
        log.append((await budget.acquire(lane), lane))

    return asyncio.ensure_future(run())


def per_minute(limit: int, reserve: float = 0.0) -> RateBudget:
    return RateBudget(RateLimit((Window(limit=limit, period=MINUTE, reserve=reserve),)))


async def test_burst_up_to_the_limit_then_waits_for_the_oldest_to_leave(
    clock: FakeLoopTime,
) -> None:
    budget = per_minute(3)
    for t in (0.0, 10.0, 20.0):
        clock.now = t
        await budget.acquire(Lane.POLL)
    log: list[tuple[float, Lane]] = []
    task = spawn(budget, Lane.POLL, log)
    await clock.advance(39.75)  # now 59.75: the first slot frees at 60
    assert not task.done()
    await clock.advance(0.25)
    assert task.done()
    assert log == [(60.0, Lane.POLL)]


async def test_every_window_applies_at_once(clock: FakeLoopTime) -> None:
    budget = RateBudget(RateLimit.from_config(per_minute=2, per_day=3, day_reserve=0.0))
    for _ in range(2):
        await budget.acquire(Lane.POLL)
    log: list[tuple[float, Lane]] = []
    tasks = [spawn(budget, Lane.POLL, log) for _ in range(2)]
    await clock.advance(60)
    assert [t for t, _ in log] == [60.0]  # the minute refilled, the day allows one more
    await clock.advance(3600)
    assert len(log) == 1
    await clock.advance(DAY - 3660)
    assert [t for t, _ in log] == [60.0, DAY]
    assert all(t.done() for t in tasks)


async def test_waiting_commands_are_served_before_waiting_polls(clock: FakeLoopTime) -> None:
    budget = per_minute(1)
    await budget.acquire(Lane.POLL)
    log: list[tuple[float, Lane]] = []
    poll = spawn(budget, Lane.POLL, log)
    await settle()
    command = spawn(budget, Lane.COMMAND, log)
    await settle()
    await clock.advance(60)
    assert command.done() and not poll.done()
    await clock.advance(60)
    assert log == [(60.0, Lane.COMMAND), (120.0, Lane.POLL)]


async def test_each_lane_is_served_in_arrival_order(clock: FakeLoopTime) -> None:
    budget = per_minute(1)
    await budget.acquire(Lane.POLL)
    log: list[tuple[float, Lane]] = []
    tasks = []
    for _ in range(3):
        tasks.append(spawn(budget, Lane.POLL, log))
        await settle()
    for served in range(1, 4):
        await clock.advance(60)
        assert [t.done() for t in tasks] == [i < served for i in range(3)]
    assert [t for t, _ in log] == [60.0, 120.0, 180.0]


async def test_a_new_command_does_not_queue_behind_waiting_polls(clock: FakeLoopTime) -> None:
    budget = per_minute(4, reserve=0.5)
    await budget.acquire(Lane.POLL)
    await budget.acquire(Lane.POLL)
    log: list[tuple[float, Lane]] = []
    poll = spawn(budget, Lane.POLL, log)  # blocked by the reserve
    await settle()
    await budget.acquire(Lane.COMMAND)  # passes at once
    assert not poll.done()
    assert budget.usage().poll.waiting == 1
    poll.cancel()
    await settle()


async def test_polls_leave_the_reserve_to_commands(clock: FakeLoopTime) -> None:
    budget = RateBudget(RateLimit((Window(limit=10, period=DAY, reserve=0.2),)))
    for _ in range(8):
        await budget.acquire(Lane.POLL)
    usage = budget.usage().windows[0]
    assert (usage.used, usage.remaining, usage.poll_remaining) == (8, 2, 0)
    log: list[tuple[float, Lane]] = []
    poll = spawn(budget, Lane.POLL, log)
    await settle()
    assert not poll.done()
    await budget.acquire(Lane.COMMAND)
    await budget.acquire(Lane.COMMAND)
    assert budget.usage().command_available_in == DAY
    poll.cancel()
    await settle()


async def test_a_cancelled_waiter_does_not_hold_up_the_next(clock: FakeLoopTime) -> None:
    budget = per_minute(1)
    await budget.acquire(Lane.POLL)
    log: list[tuple[float, Lane]] = []
    first, second = spawn(budget, Lane.POLL, log), spawn(budget, Lane.POLL, log)
    await settle()
    first.cancel()
    await clock.advance(60)
    assert first.cancelled() and second.done()
    assert log == [(60.0, Lane.POLL)]
    assert budget.usage().windows[0].used == 1


async def test_a_waiter_cancelled_after_its_grant_gives_the_slot_back(
    clock: FakeLoopTime,
) -> None:
    budget = per_minute(1)
    await budget.acquire(Lane.POLL)
    log: list[tuple[float, Lane]] = []
    first, second = spawn(budget, Lane.POLL, log), spawn(budget, Lane.POLL, log)
    await settle()
    clock.now = 60.0
    # One round lets the timer run and grant ``first``; ``first`` resumes only a round later.
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert budget.usage().poll.acquired == 2  # granted, not yet resumed
    first.cancel()
    await settle()
    assert first.cancelled()
    assert second.done()
    assert log == [(60.0, Lane.POLL)]
    usage = budget.usage()
    assert usage.windows[0].used == 1 and usage.poll.acquired == 2


async def test_penalize_holds_both_lanes_until_retry_after(clock: FakeLoopTime) -> None:
    budget = per_minute(100)
    await budget.acquire(Lane.POLL)
    budget.penalize(30)
    log: list[tuple[float, Lane]] = []
    tasks = [spawn(budget, Lane.COMMAND, log), spawn(budget, Lane.POLL, log)]
    await clock.advance(29.75)
    assert log == []
    assert budget.usage().blocked_for == 0.25
    budget.penalize(0.1)  # a shorter penalty never shortens the longer one
    await clock.advance(0.25)
    assert log == [(30.0, Lane.COMMAND), (30.0, Lane.POLL)]
    assert all(t.done() for t in tasks)


async def test_async_with_takes_a_slot(clock: FakeLoopTime) -> None:
    budget = per_minute(5)
    async with budget.acquire(Lane.COMMAND):
        pass
    assert budget.usage().command.acquired == 1
    assert budget.usage().windows[0].used == 1


async def test_usage_reports_windows_and_wait_counters(clock: FakeLoopTime) -> None:
    budget = RateBudget(RateLimit.from_config(per_minute=2, per_day=10))
    await budget.acquire(Lane.POLL)
    clock.now = 15.0
    await budget.acquire(Lane.POLL)
    log: list[tuple[float, Lane]] = []
    spawn(budget, Lane.POLL, log)
    await clock.advance(5)  # now 20
    usage = budget.usage()
    minute, day = usage.windows
    assert (minute.limit, minute.used, minute.remaining, minute.next_free_in) == (2, 2, 0, 40.0)
    assert (day.limit, day.period, day.used, day.poll_remaining) == (10, DAY, 2, 6)
    assert usage.poll.waiting == 1 and usage.poll.waits == 1
    assert usage.poll_available_in == 40.0
    await clock.advance(40)
    usage = budget.usage()
    assert usage.poll.waits == 1 and usage.poll.wait_seconds == 40.0
    assert usage.command.waits == 0 and usage.command.acquired == 0
    assert msgspec.json.decode(msgspec.json.encode(usage))["poll"]["acquired"] == 3


def test_from_config_reserves_a_fifth_of_the_day_only() -> None:
    limit = RateLimit.from_config(per_minute=60, per_day=1000)
    minute, day = limit.windows
    assert (minute.limit, minute.period, minute.poll_limit) == (60, MINUTE, 60)
    assert (day.limit, day.period, day.poll_limit) == (1000, DAY, 800)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"limit": 0, "period": 60.0}, "limit >= 1"),
        ({"limit": 1, "period": 0.0}, "period > 0"),
        ({"limit": 1, "period": 60.0, "reserve": 1.0}, "reserve"),
    ],
)
def test_invalid_windows_are_refused(kwargs: dict[str, float], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Window(**kwargs)  # type: ignore[arg-type]


def test_two_windows_with_one_period_are_refused() -> None:
    with pytest.raises(ValueError, match="same period"):
        RateLimit((Window(limit=1, period=60), Window(limit=2, period=60)))


async def test_sustainable_interval_for_the_documented_limits(clock: FakeLoopTime) -> None:
    ecarsi = RateBudget(LIMITS["ecarsi"])
    # day: 800 for polls, 4 per cycle -> 200 cycles a day -> 432 s; the minute allows 4 s.
    assert ecarsi.sustainable_interval(4) == 432.0
    assert ecarsi.sustainable_interval(4, Lane.COMMAND) == DAY / 250
    webservis = RateBudget(LIMITS["webservis"])
    assert webservis.sustainable_interval(7) == 20.0  # 3 whole cycles fit in a minute
    assert webservis.sustainable_interval(50) == 120.0  # larger than a window: paced
    with pytest.raises(ValueError):
        webservis.sustainable_interval(0)
    margin = RateBudget(LIMITS["webservis"], margin=1.0)
    assert margin.sustainable_interval(25) == 61.0


@pytest.mark.parametrize(("factor", "must_wait"), [(1.0, False), (0.99, True)])
async def test_cycles_at_the_sustainable_interval_never_wait_and_faster_ones_do(
    clock: FakeLoopTime, factor: float, must_wait: bool
) -> None:
    budget = RateBudget(LIMITS["ecarsi"])
    interval = budget.sustainable_interval(4) * factor
    log: list[tuple[float, Lane]] = []
    tasks = []
    for cycle in range(260):
        clock.now = cycle * interval
        tasks += [spawn(budget, Lane.POLL, log) for _ in range(4)]
        await settle(3)
    assert (budget.usage().poll.waits > 0) is must_wait
    for task in tasks:
        task.cancel()
    await settle()


# -- the hard guarantee, over random acquisition patterns -------------------------------------

windows_st = st.lists(
    st.builds(
        Window,
        limit=st.integers(1, 5),
        period=st.sampled_from([1.0, 2.0, 3.0, 5.0, 10.0]),
        reserve=st.just(0.0),
        shared=st.booleans(),
    )
    | st.builds(  # a window shared by the lanes has room for both
        Window,
        limit=st.integers(2, 5),
        period=st.sampled_from([1.0, 2.0, 3.0, 5.0, 10.0]),
        reserve=st.sampled_from([0.25, 0.5]),
        shared=st.booleans(),
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda w: w.period,
)
ops_st = st.lists(
    st.one_of(
        st.tuples(
            st.just("spawn"), st.integers(0, 1), st.sampled_from(list(Lane)), st.integers(1, 4)
        ),
        st.tuples(
            st.just("advance"),
            st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 7.0]),
            st.sampled_from([1, 2, 2, 20]),
        ),
        st.tuples(st.just("cancel"), st.integers(0, 3)),
        # Cancel right after the grants that a step of time triggers, before the tasks resume.
        st.tuples(st.just("advance-cancel"), st.sampled_from([0.5, 1.0, 2.0]), st.integers(0, 3)),
        st.tuples(st.just("penalize"), st.integers(0, 1), st.sampled_from([0.5, 2.0, 5.0])),
    ),
    max_size=40,
)


class CountingBudget(RateBudget):
    """Keeps the stamps the budget counts (granted minus given back), to find leaked slots."""

    def __init__(self, limit: RateLimit, shared_logs: dict[float, WindowLog]) -> None:
        super().__init__(limit, shared_logs=shared_logs)
        self.counted: list[float] = []

    def _grant(self, lane: Lane, now: float) -> None:
        super()._grant(lane, now)
        self.counted.append(now)

    def _give_back(self, lane: Lane, stamp: float) -> None:
        super()._give_back(lane, stamp)
        self.counted.remove(stamp)


Grant = tuple[float, Lane]


def assert_within(windows: Iterable[Window], log: list[Grant]) -> None:
    """At most ``limit`` grants (``poll_limit`` polls) in any half-open interval of a period."""
    times = sorted(t for t, _ in log)
    polls = sorted(t for t, lane in log if lane is Lane.POLL)
    for w in windows:
        assert all(b - a >= w.period for a, b in zip(times, times[w.limit :], strict=False))
        assert all(b - a >= w.period for a, b in zip(polls, polls[w.poll_limit :], strict=False))


def cancel_one(tasks: list[asyncio.Task[None]], i: int) -> None:
    # Among the unfinished, which include tasks granted but not yet resumed.
    pending = [t for t in tasks if not t.done()]
    if pending:
        pending[i % len(pending)].cancel()


async def run_scenario(windows: list[Window], ops: list[tuple[object, ...]]) -> None:
    """Two accounts on one limit (``shared`` windows shared), driven by ``ops`` on a fake clock."""
    loop = asyncio.get_running_loop()
    with FakeLoopTime(loop) as clock:
        shared = {w.period: WindowLog() for w in windows if w.shared}
        limit = RateLimit(tuple(windows))
        budgets = [CountingBudget(limit, shared), CountingBudget(limit, shared)]
        logs: list[list[Grant]] = [[], []]
        tasks: list[asyncio.Task[None]] = []
        penalties: list[tuple[int, float, float]] = []  # (account, when, blocked until)
        for op in ops:
            match op:
                case ("spawn", int(who), Lane() as lane, int(n)):
                    tasks += [spawn(budgets[who], lane, logs[who]) for _ in range(n)]
                    await settle(2)
                case ("advance", float(dt), int(rounds)):
                    clock.now += dt
                    await settle(rounds)
                case ("advance-cancel", float(dt), int(i)):
                    clock.now += dt
                    await settle(2)  # the timer has granted; the granted have not run yet
                    cancel_one(tasks, i)
                case ("cancel", int(i)):
                    cancel_one(tasks, i)
                case ("penalize", int(who), float(s)):
                    budgets[who].penalize(s)
                    penalties.append((who, clock.now, clock.now + s))
        await settle()
        # Nothing leaked: every slot a budget counts was taken by a task that went on.
        for budget, log in zip(budgets, logs, strict=True):
            assert sorted(budget.counted) == sorted(t for t, _ in log)
            for w, usage in zip(windows, budget.usage().windows, strict=True):
                counted = logs[0] + logs[1] if w.shared else log
                assert usage.used == sum(1 for t, _ in counted if t + w.period > clock.now)
        # Liveness: everything not cancelled gets through once time moves on.
        for _ in range(40):
            if all(t.done() for t in tasks):
                break
            await clock.advance(10.0)
        assert all(t.done() for t in tasks)
        assert len(logs[0]) + len(logs[1]) == sum(not t.cancelled() for t in tasks)

    assert_within([w for w in windows if w.shared], logs[0] + logs[1])
    for log in logs:
        assert_within(windows, log)
    for who, when, until in penalties:
        assert not any(when < t < until for t, _ in logs[who])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(windows=windows_st, ops=ops_st)
def test_no_sliding_window_ever_holds_more_than_its_limit(
    windows: list[Window], ops: list[tuple[object, ...]]
) -> None:
    asyncio.run(run_scenario(windows, ops))


def test_the_property_check_catches_a_leaky_bucket() -> None:
    """The check above can fail: a budget that ignores the window log breaks it."""

    def fake_admit_at(self: RateBudget, lane: Lane, now: float) -> float:
        return now

    with (
        mock.patch.object(RateBudget, "_admit_at", fake_admit_at),
        pytest.raises(AssertionError),
    ):
        asyncio.run(run_scenario([Window(limit=1, period=1.0)], [("spawn", 0, Lane.POLL, 2)]))


# -- registry ---------------------------------------------------------------------------------


def test_default_limits_follow_the_documents() -> None:
    assert set(LIMITS) == {"softtr", "pazarama", "c2c", "ecarsi", "webservis"}
    ecarsi = {w.period: w for w in LIMITS["ecarsi"].windows}
    assert (ecarsi[MINUTE].limit, ecarsi[MINUTE].shared) == (60, True)
    assert (ecarsi[DAY].limit, ecarsi[DAY].shared, ecarsi[DAY].poll_limit) == (1000, False, 800)
    assert [(w.limit, w.period) for w in LIMITS["webservis"].windows] == [(25, MINUTE)]


def test_registry_gives_one_budget_per_account_from_the_defaults() -> None:
    registry = RateLimiterRegistry(LIMITS)
    budget = registry.get("webservis", "main")
    assert registry.get("webservis", "main") is budget
    assert registry.get("webservis", "outlet") is not budget
    assert budget.limit == LIMITS["webservis"]
    assert [key for key, _ in registry] == [("webservis", "main"), ("webservis", "outlet")]


def test_config_overrides_merge_by_period() -> None:
    registry = RateLimiterRegistry(LIMITS)
    budget = registry.get("ecarsi", "main", RateLimit.from_config(per_minute=30, per_hour=500))
    windows = {w.period: w for w in budget.limit.windows}
    assert windows[MINUTE] == Window(limit=30, period=MINUTE, shared=True)
    assert windows[3600.0].limit == 500
    assert windows[DAY].limit == 1000  # the documented day quota stays
    with pytest.raises(ConfigError, match="other limits"):
        registry.get("ecarsi", "main", RateLimit.from_config(per_minute=10))


def test_unknown_platform_needs_a_fallback() -> None:
    with pytest.raises(ConfigError, match="'acme'"):
        RateLimiterRegistry(LIMITS).get("acme", "main")
    fallback = RateLimit.from_config(per_minute=10)
    assert RateLimiterRegistry({}, fallback=fallback).get("acme", "main").limit == fallback


async def test_a_shared_window_counts_every_account_of_the_platform(
    clock: FakeLoopTime,
) -> None:
    table = {
        "p": RateLimit((Window(limit=2, period=MINUTE, shared=True), Window(limit=5, period=DAY)))
    }
    registry = RateLimiterRegistry(table, margin=0.0)
    a, b = registry.get("p", "a"), registry.get("p", "b")
    await a.acquire(Lane.POLL)
    await b.acquire(Lane.POLL)
    log: list[tuple[float, Lane]] = []
    waiting = spawn(a, Lane.COMMAND, log)
    await clock.advance(59.75)
    assert not waiting.done()
    assert a.usage().windows[1].used == 1  # the day window is the account's own
    await clock.advance(0.25)
    assert log == [(60.0, Lane.COMMAND)]


async def test_the_registry_margin_lengthens_every_window(clock: FakeLoopTime) -> None:
    registry = RateLimiterRegistry(LIMITS, margin=1.0, pace_slices=None)
    budget = registry.get("webservis", "main")
    for _ in range(25):
        await budget.acquire(Lane.POLL)
    log: list[tuple[float, Lane]] = []
    spawn(budget, Lane.POLL, log)
    await clock.advance(60)
    assert log == []
    await clock.advance(1)
    assert log == [(61.0, Lane.POLL)]


# --- poll pacing (aiolimiter) -------------------------------------------------------------


async def test_polls_are_paced_but_commands_are_not() -> None:
    """A poll burst cannot take a whole window at once; a command arriving during it goes at once.

    Real time, small numbers: 20 per second, paced in slices of 2 (burst) at 20/s.
    """
    budget = RateBudget(RateLimit((Window(limit=20, period=1.0),)), pace_slices=10)
    loop = asyncio.get_running_loop()
    start = loop.time()
    stamps: list[float] = []

    async def poll() -> None:
        stamps.append(await budget.acquire(Lane.POLL) - start)

    polls = [asyncio.create_task(poll()) for _ in range(20)]
    await asyncio.sleep(0.1)
    command_at = await budget.acquire(Lane.COMMAND) - start
    await asyncio.gather(*polls)
    assert command_at < 0.15  # without pacing the polls would have taken all 20 slots at t=0
    assert sum(1 for t in stamps if t < 0.1) <= 2 + 3  # burst of 2, then ~20/s
    assert max(stamps) > 0.7  # the 20 polls were spread over most of the second


async def test_pacing_never_loosens_the_exact_windows() -> None:
    budget = RateBudget(RateLimit((Window(limit=6, period=0.3),)), pace_slices=2)
    loop = asyncio.get_running_loop()
    stamps = sorted(await asyncio.gather(*(budget.acquire(Lane.POLL) for _ in range(18))))
    for i, t in enumerate(stamps):
        assert len([u for u in stamps[i:] if u < t + 0.3]) <= 6
    assert loop.time() - stamps[0] < 2


def test_registry_budgets_are_paced_by_default() -> None:
    budget = RateLimiterRegistry(LIMITS).get("webservis", "paced")
    assert budget._pacer is not None
    assert budget._pacer.max_rate == 2  # 25/min in slices of 10 → bursts of 2


# --- processes behind one IP (rate_limit.processes_per_ip) --------------------------------------


def test_processes_per_ip_divides_the_per_ip_window_and_keeps_the_day() -> None:
    registry = RateLimiterRegistry(LIMITS, processes_per_ip=2)
    ecarsi = {w.period: w for w in registry.get("ecarsi", "main").limit.windows}
    assert (ecarsi[MINUTE].limit, ecarsi[MINUTE].shared) == (30, True)
    assert ecarsi[DAY] == LIMITS["ecarsi"].windows[1]  # per token: 1000, not divided
    # A window per account is the account's whichever process sends: not divided.
    assert registry.get("webservis", "main").limit == LIMITS["webservis"]
    # An account's own per-minute for e-Çarşı is the address's limit, divided alike.
    own = registry.get("ecarsi", "outlet", RateLimit.from_config(per_minute=40))
    assert own.limit.windows[0] == Window(limit=20, period=MINUTE, shared=True)
    assert RateLimiterRegistry(LIMITS).limit_for("ecarsi") == LIMITS["ecarsi"]


@pytest.mark.parametrize(
    ("share", "commands", "polls"), [(0.2, 6, 24), (0.1, 3, 27), (0.5, 15, 15), (0.01, 1, 29)]
)
def test_the_commands_share_is_taken_of_the_divided_window(
    share: float, commands: int, polls: int
) -> None:
    registry = RateLimiterRegistry(LIMITS, commands_share=share, split=True, processes_per_ip=2)
    minute, day = registry.get("ecarsi", "main").limit.windows
    assert (minute.limit, minute.command_share, minute.poll_limit) == (30, commands, polls)
    assert (day.limit, day.command_share) == (1000, max(1, int(1000 * share)))
    # An account's own share applies to the divided window as well.
    own = registry.limit_for("ecarsi", share=0.5).windows[0]
    assert (own.command_share, own.poll_limit) == (15, 15)


def test_a_processes_per_ip_that_leaves_a_per_ip_window_below_2_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="at least 1") as info:
        RateLimiterRegistry(LIMITS, processes_per_ip=0)
    assert info.value.path == "rate_limit.processes_per_ip"
    registry = RateLimiterRegistry(LIMITS, processes_per_ip=31)
    with pytest.raises(ConfigError, match=r"ecarsi: 60 per 60s per IP .* leaves 1") as info:
        registry.get("ecarsi", "main")
    assert info.value.path == "rate_limit.processes_per_ip"
    with pytest.raises(ConfigError) as info:  # an account's own limit is divided too
        RateLimiterRegistry(LIMITS, processes_per_ip=2).limit_for(
            "ecarsi", RateLimit.from_config(per_minute=3)
        )
    assert info.value.path == "rate_limit.processes_per_ip"
    assert registry.get("webservis", "main").limit == LIMITS["webservis"]
    last = RateLimiterRegistry(LIMITS, processes_per_ip=30).get("ecarsi", "main")
    assert last.limit.windows[0].limit == 2


@pytest.mark.parametrize(
    "roles",
    [
        pytest.param([frozenset(Lane)] * 2, id="two-run-workers"),
        pytest.param(
            [frozenset({Lane.POLL})] * 2 + [frozenset({Lane.COMMAND})] * 2,
            id="two-pollers-two-appliers",
        ),
    ],
)
async def test_processes_behind_one_ip_never_exceed_its_window_together(
    clock: FakeLoopTime, roles: list[frozenset[Lane]]
) -> None:
    """Each process (a registry of its own, as in a fleet) drives two e-Çarşı accounts on every
    lane it serves as fast as its budgets let it, for five minutes: all of them together never
    send more than the documented 60 in any 60 s, and fill it."""
    processes = [
        RateLimiterRegistry(
            LIMITS,
            margin=0.0,  # the tightest the budgets may go: the window exactly
            pace_slices=None,
            commands_share=0.2,
            split=True,
            serves=serves,
            processes_per_ip=2,
        )
        for serves in roles
    ]
    logs: list[list[tuple[float, Lane]]] = [[] for _ in processes]
    senders = [
        (registry.get("ecarsi", f"{i}{name}"), lane, logs[i])
        for i, (registry, serves) in enumerate(zip(processes, roles, strict=True))
        for name in "ab"
        for lane in serves
    ]
    tasks: list[asyncio.Task[None]] = []
    for _ in range(int(5 * MINUTE / 0.5)):
        tasks = [t for t in tasks if not t.done()]
        if len(tasks) < 20 * len(senders):  # a backlog on every lane of every process
            tasks += [spawn(b, lane, log) for b, lane, log in senders for _ in range(20)]
        await clock.advance(0.5)
    every = [grant for log in logs for grant in log]
    assert_within([Window(limit=60, period=MINUTE)], every)
    for log in logs:
        assert_within([Window(limit=30, period=MINUTE)], log)
    assert sum(1 for t, _ in every if t < MINUTE) == 60  # the address's whole minute, no more
    assert len(every) == 5 * 60
    for task in tasks:
        task.cancel()
    await settle()
