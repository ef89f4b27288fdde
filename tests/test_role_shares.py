"""Role shares of the rate budget (pipeline.ratelimit "Lanes and role shares"): a poll-role and an
apply-role budget of one account never exceed a window together; in one process a command is
never held up by polls; the cadence plans with the poll share. Unit tests move a fake loop
clock; the last test runs two worker roles against the real broker and a sandbox and replays
the sandbox's request log."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from unittest import mock

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import checker
from pipeline.broker import EmbeddedBroker
from pipeline.bus import KafkaEventPublisher
from pipeline.cadence import plan
from pipeline.config import AccountConfig, Config, RateLimitConfig, RateLimitDefaults, SecretRef
from pipeline.errors import ConfigError
from pipeline.partitioning import murmur2
from pipeline.ratelimit import (
    MINUTE,
    SECOND,
    Lane,
    RateBudget,
    RateLimit,
    RateLimiterRegistry,
    Window,
    command_work,
    poll_work,
)
from pipeline.sandbox import SandboxSettings, serve
from pipeline.topics import ensure_topics
from pipeline.up import build_sandboxes, sandbox_config
from pipeline.worker import Worker, prepare_accounts
from schemas import Ship, command_attributes, encode_command, to_headers, topics
from tests.clocks import FakeLoopTime, settle


@pytest.fixture
async def clock() -> AsyncIterator[FakeLoopTime]:
    with FakeLoopTime(asyncio.get_running_loop()) as fake:
        yield fake


Grants = list[tuple[float, Lane]]


def spawn(budget: RateBudget, lane: Lane, log: Grants) -> asyncio.Task[None]:
    async def run() -> None:
        log.append((await budget.acquire(lane), lane))

    return asyncio.ensure_future(run())


def roles(limit: RateLimit, share: float) -> tuple[RateBudget, RateBudget]:
    """The poll role's and the apply role's budget of one account, as two processes make them."""
    poll = RateLimiterRegistry(
        {"p": limit}, margin=0.0, commands_share=share, split=True, pace_slices=None
    )
    apply = RateLimiterRegistry(
        {"p": limit}, margin=0.0, commands_share=share, split=True, pace_slices=None
    )
    return poll.get("p", "main"), apply.get("p", "main")


def most_in_any_window(times: list[float], period: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - period:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


# -- two processes: the poll role and the apply role ---------------------------------------------


async def test_a_poll_role_and_an_apply_role_at_full_speed_fill_a_window_exactly(
    clock: FakeLoopTime,
) -> None:
    poll, apply = roles(RateLimit.from_config(per_minute=60, day_reserve=0.0), share=0.2)
    log: Grants = []
    tasks = [spawn(poll, Lane.POLL, log) for _ in range(100)]
    tasks += [spawn(apply, Lane.COMMAND, log) for _ in range(100)]
    await settle()
    # Unpaced here (no pace_slices): each role takes its whole share at once, no more.
    assert sum(lane is Lane.POLL for _, lane in log) == 48
    assert sum(lane is Lane.COMMAND for _, lane in log) == 12
    for step in range(1, 4):
        clock.now = step * MINUTE
        await settle()
        assert most_in_any_window([t for t, _ in log], MINUTE) == 60
    for task in tasks:
        task.cancel()
    await settle()


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[int], float, list[tuple[str, int, float]]]:
    limits = draw(st.lists(st.integers(2, 9), min_size=1, max_size=2))
    share = draw(st.sampled_from([0.1, 0.2, 0.5, 0.7]))
    ops = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["poll", "command"]),
                st.integers(1, 6),
                st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.5]),
            ),
            max_size=25,
        )
    )
    return limits, share, ops


async def drive_roles(limits: list[int], share: float, ops: list[tuple[str, int, float]]) -> Grants:
    """Polls into the poll role's budget and commands into the apply role's, on one clock."""
    periods = (SECOND, 3 * SECOND)
    limit = RateLimit(
        tuple(Window(limit=n, period=p) for n, p in zip(limits, periods, strict=False))
    )
    poll, apply = roles(limit, share)
    log: Grants = []
    tasks: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()
    with FakeLoopTime(loop) as fake:
        for kind, n, step in ops:
            budget, lane = (poll, Lane.POLL) if kind == "poll" else (apply, Lane.COMMAND)
            tasks += [spawn(budget, lane, log) for _ in range(n)]
            await settle(3)
            fake.now += step
            await settle(3)
        for _ in range(200):  # 150 requests at most, at one per 3 s at the slowest
            if all(t.done() for t in tasks):
                break
            fake.now += 3.0
            await settle()
        assert all(t.done() for t in tasks)
    for w in limit.windows:
        assert most_in_any_window([t for t, _ in log], w.period) <= w.limit, (w, log)
    return log


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=scenarios())
def test_poll_and_apply_roles_driven_together_never_exceed_any_window(
    case: tuple[list[int], float, list[tuple[str, int, float]]],
) -> None:
    asyncio.run(drive_roles(*case))


def test_the_check_catches_two_processes_that_each_take_the_whole_window() -> None:
    """Without role shares (each process budgets the full limit) the same drive exceeds it."""

    def unsplit(limit: RateLimit, share: float) -> tuple[RateBudget, RateBudget]:
        return RateBudget(limit), RateBudget(limit)

    with mock.patch(f"{__name__}.roles", unsplit), pytest.raises(AssertionError):
        asyncio.run(drive_roles([4], 0.5, [("poll", 4, 0.0), ("command", 4, 0.0)]))


async def test_a_command_waiting_for_its_share_holds_no_poll_back(clock: FakeLoopTime) -> None:
    budget = RateLimiterRegistry(
        {"p": RateLimit.from_config(per_minute=10)},
        margin=0.0,
        commands_share=0.2,
        split=True,
        pace_slices=None,
    ).get("p", "main")
    log: Grants = []
    commands = [spawn(budget, Lane.COMMAND, log) for _ in range(3)]  # the share is 2
    await settle()
    polls = [spawn(budget, Lane.POLL, log) for _ in range(8)]
    await settle()
    assert sorted(lane.value for _, lane in log) == ["command"] * 2 + ["poll"] * 8
    assert budget.usage().command.waiting == 1
    for task in commands + polls:
        task.cancel()
    await settle()


async def test_a_one_role_process_counts_every_request_in_its_share(clock: FakeLoopTime) -> None:
    """A poller's token request asks the command lane (to go first); in a poll-only process it
    still counts in the polls' share, which the apply process never uses."""
    registry = RateLimiterRegistry(
        {"p": RateLimit.from_config(per_minute=10)},
        margin=0.0,
        commands_share=0.2,
        split=True,
        serves=frozenset({Lane.POLL}),
        pace_slices=None,
    )
    budget = registry.get("p", "main")
    log: Grants = []
    tasks = [spawn(budget, Lane.COMMAND, log)] + [spawn(budget, Lane.POLL, log) for _ in range(9)]
    await settle()
    assert len(log) == 8  # 1 token + 7 polls: the 8 of the polls' share, nothing of the 2
    assert budget.usage().windows[0].poll_remaining == 0
    for task in tasks:
        task.cancel()
    await settle()


async def test_an_apply_only_process_counts_a_commands_reads_as_commands_unpaced() -> None:
    """A command's read of the order goes through the poll lane (the same list call polls make);
    in an apply-only process it counts in the commands' share and is not held to the polls'
    pacing (one request per ~10 s at a 0.9 share of 60/min)."""
    registry = RateLimiterRegistry(
        {"p": RateLimit.from_config(per_minute=60)},
        commands_share=0.9,
        split=True,
        serves=frozenset({Lane.COMMAND}),
    )
    budget = registry.get("p", "main")
    log: Grants = []
    tasks = [spawn(budget, Lane.POLL, log) for _ in range(60)]
    await settle(50)
    assert len(log) == 54  # the commands' share, at once
    assert budget.pace is None
    for task in tasks:
        task.cancel()
    await settle()


async def test_a_commands_reads_are_command_requests_wherever_it_runs(clock: FakeLoopTime) -> None:
    """Inside command_work (the applier wraps every attempt) a poll-lane request is a command's:
    pooled, it goes ahead of polls that filled their share; split (pipeline run), it counts in
    the commands' share, not in the polls' that another process may own."""
    pooled = RateLimiterRegistry(
        {"p": RateLimit.from_config(per_minute=10)},
        margin=0.0,
        commands_share=0.2,
        pace_slices=None,
    ).get("p", "main")
    log: Grants = []
    polls = [spawn(pooled, Lane.POLL, log) for _ in range(8)]
    await settle()
    with command_work():
        read = spawn(pooled, Lane.POLL, log)  # the task copies the context as it is now
    await settle()
    assert read.done() and not read.cancelled()
    assert (pooled.usage().poll.acquired, pooled.usage().command.acquired) == (8, 1)

    split = RateLimiterRegistry(
        {"p": RateLimit.from_config(per_minute=10)},
        margin=0.0,
        commands_share=0.2,
        split=True,
        pace_slices=None,
    ).get("p", "main")
    with command_work():
        reads = [spawn(split, Lane.POLL, log) for _ in range(3)]
    await settle()
    usage = split.usage()
    assert (usage.command.acquired, usage.poll.acquired) == (2, 0)  # the share is 2
    assert usage.windows[0].poll_remaining == 8
    for task in polls + reads:
        task.cancel()
    await settle()


async def test_a_pollers_token_request_is_a_poll_in_poll_work(clock: FakeLoopTime) -> None:
    """pipeline run: a token request asks the command lane, but inside poll_work it spends the
    polls' share, not the commands' that another process may own."""
    split = RateLimiterRegistry(
        {"p": RateLimit.from_config(per_minute=10)},
        margin=0.0,
        commands_share=0.2,
        split=True,
        pace_slices=None,
    ).get("p", "main")
    log: Grants = []
    with poll_work():
        token = spawn(split, Lane.COMMAND, log)
    await settle()
    usage = split.usage()
    assert token.done() and (usage.poll.acquired, usage.command.acquired) == (1, 0)
    assert usage.windows[0].command_remaining == 2


# -- one process: pooled lanes ---------------------------------------------------------------


async def test_pooled_a_command_goes_at_once_after_polls_used_their_share(
    clock: FakeLoopTime,
) -> None:
    budget = RateLimiterRegistry(
        {"p": RateLimit.from_config(per_minute=60)},
        margin=1.0,
        commands_share=0.2,
        pace_slices=None,
    ).get("p", "main")
    log: Grants = []
    polls = [spawn(budget, Lane.POLL, log) for _ in range(100)]
    await settle()
    assert len(log) == 48
    clock.now = 5.0
    command: Grants = []
    spawn(budget, Lane.COMMAND, command)
    await settle()
    assert command == [(5.0, Lane.COMMAND)]
    # Commands may use the rest of the window, polls never more than their share.
    more = [spawn(budget, Lane.COMMAND, command) for _ in range(11)]
    await settle()
    assert len(command) == 12 and len(log) == 48
    for task in polls + more:
        task.cancel()
    await settle()


async def test_the_cadence_plans_with_the_poll_share(clock: FakeLoopTime) -> None:
    def budget(share: float) -> RateBudget:
        return RateLimiterRegistry(
            {"p": RateLimit.from_config(per_minute=60)}, margin=1.0, commands_share=share
        ).get("p", "main")

    # 20 requests a cycle: 48 polls a minute fit two cycles, 30 only one.
    fifth = plan(budget(0.2), recent_cost=20, floor=1.0)
    half = plan(budget(0.5), recent_cost=20, floor=1.0)
    assert fifth.interval == pytest.approx(61 / 2)
    assert half.interval == pytest.approx(61)
    assert "polls may use 48" in fifth.reason
    assert "polls may use 30" in half.reason


# -- the worker's apply role -----------------------------------------------------------------


def _worker_config(**rate_limit: int) -> tuple[Config, dict[str, str]]:
    accounts = [
        AccountConfig(
            platform="softtr",
            account=name,
            base_url="http://127.0.0.1:9",
            credentials={k: SecretRef(env=f"X_{k.upper()}") for k in ("username", "password")},
            rate_limit=RateLimitConfig(**rate_limit) if rate_limit else None,
        )
        for name in ("a", "b", "c", "d")
    ]
    return Config(accounts=accounts), {"X_USERNAME": "u-secret-1", "X_PASSWORD": "p-secret-1"}


def test_a_worker_takes_over_exactly_the_accounts_of_the_partitions_it_took() -> None:
    config, environ = _worker_config()
    worker = Worker(
        config, prepare_accounts(config, environ), bootstrap="x", roles=frozenset({"apply"})
    )

    def partition(key: str) -> int:
        return (murmur2(key.encode()) & 0x7FFFFFFF) % 12

    taken = partition("softtr:a")
    found = {f"{p}:{a}" for p, a, _ in worker.accounts_of({taken}, 12)}
    assert found == {key for key in worker.accounts if partition(key) == taken}
    assert "softtr:a" in found
    assert worker.accounts_of({taken}, 0) == []


def test_only_a_worker_with_both_roles_on_its_own_broker_pools_the_lanes() -> None:
    config, environ = _worker_config()
    accounts = prepare_accounts(config, environ)
    both = frozenset({"poll", "apply"})
    assert not Worker(config, accounts, bootstrap="x", embedded=True, roles=both).split
    assert Worker(config, accounts, bootstrap="x", roles=both).split  # pipeline run: a fleet
    assert Worker(config, accounts, bootstrap="x", embedded=True, roles=frozenset({"poll"})).split


def test_a_window_too_small_to_share_fails_the_start_with_its_account() -> None:
    config, environ = _worker_config()
    small = msgspec.structs.replace(
        config.accounts[2], rate_limit=RateLimitConfig(per_second=1)
    )  # as if the file's check were skipped
    config = msgspec.structs.replace(
        config, accounts=[*config.accounts[:2], small, config.accounts[3]]
    )
    with pytest.raises(ConfigError) as info:
        Worker(config, prepare_accounts(config, environ), bootstrap="x")
    assert info.value.path == "accounts[2].rate_limit"
    assert "cannot be shared between polls and commands" in str(info.value)


# -- two worker roles on one account: the sandbox's request log ---------------------------------


def ships(box: object, count: int, *, first: int = 0, prefix: str = "shares") -> list[Ship]:
    """Pazarama shipments for ``count`` of the sandbox's orders, from the ``first``."""
    world = box.world  # type: ignore[attr-defined]
    return [
        Ship(
            command_id=f"{prefix}-{n}",
            platform="pazarama",
            account="main",
            order_id=order.id,
            issued_at=dt.datetime.now(dt.UTC),
            carrier="Yurtiçi Kargo",
            tracking_number=f"TR{n:08d}",
        )
        for n, order in enumerate(world.orders[first : first + count], start=first)
    ]


async def send_ships(bootstrap: str, commands: list[Ship]) -> None:
    async with KafkaEventPublisher(bootstrap, embedded=True) as pub:
        for ship in commands:
            await pub.send_raw(
                topics.COMMANDS,
                topics.account_key("pazarama", "main"),
                encode_command(ship),
                to_headers(command_attributes(ship)),
            )


@pytest.mark.timeout(90)
async def test_a_poll_worker_and_an_apply_worker_on_one_account_stay_within_its_limit() -> None:
    per_second = 4
    boxes = build_sandboxes(
        ["pazarama"],
        SandboxSettings(seed=11, initial_orders=400, history=dt.timedelta(days=20)),
    )
    async with EmbeddedBroker() as broker, serve(boxes) as served:
        config, environ = sandbox_config(served, broker.bootstrap)
        limits = RateLimitConfig(per_second=per_second, per_minute=1000)
        config = msgspec.structs.replace(
            config,
            accounts=[msgspec.structs.replace(a, rate_limit=limits) for a in config.accounts],
            rate_limit=RateLimitDefaults(commands_share=0.5),
        )
        accounts = prepare_accounts(config, environ)
        poller = Worker(
            config, accounts, bootstrap=broker.bootstrap, embedded=True, roles=frozenset({"poll"})
        )
        applier = Worker(
            config, accounts, bootstrap=broker.bootstrap, embedded=True, roles=frozenset({"apply"})
        )
        box = served[0].sandbox
        await ensure_topics(broker.bootstrap, replication_factor=1)
        await send_ships(broker.bootstrap, ships(box, 12))
        stop = asyncio.Event()
        async with asyncio.TaskGroup() as group:
            group.create_task(poller.run(stop))
            group.create_task(applier.run(stop))
            await asyncio.sleep(14.0)
            stop.set()
        # Both roles sent at the same time (each could send ~20 in the run; a loaded machine
        # may take seconds to join the groups, so only a few are required: the windows judge).
        polls = poller.budget("pazarama", "main").usage().poll.acquired
        commands = applier.budget("pazarama", "main").usage().command.acquired
        assert polls >= 6 and commands >= 6, (polls, commands)
        assert len(box.log.entries) >= polls + commands
        found = checker.window_violations(
            box.log.entries, limit=per_second, window=SECOND, key=lambda e: e.tenant
        )
        assert found == [], f"{len(found)} requests over {per_second}/s"


# -- pipeline bench apply measures against the apply role's share -------------------------------


def test_bench_apply_measures_against_the_apply_share() -> None:
    from pipeline.bench import apply as bench

    ecarsi = bench.apply_share(bench.limit_of("ecarsi", None), 0.2)
    assert bench.limit_text(ecarsi) == "12/min per IP + 200/day"
    pazarama = bench.apply_share(bench.limit_of("pazarama", None), 0.5)
    assert bench.allowance(pazarama, 120.0) == 60  # two minutes of 30
    # The burst outlasts what the share (not the whole limit) carries in the run.
    assert bench.burst_size("pazarama", pazarama, 125.0) == round(60 / 3 * 1.25)


def test_bench_apply_refuses_a_share_outside_zero_one(capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.bench import apply as bench

    assert bench.main(["--commands-share", "1"]) == 2
    assert "--commands-share 1: use 0 < F < 1" in capsys.readouterr().err
