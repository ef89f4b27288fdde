"""One account's request budget: exact sliding windows, two lanes, role shares, 429 penalties,
poll pacing (the package docstring has the rules)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import math
import secrets
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

import msgspec
from aiolimiter import AsyncLimiter

from pipeline.ratelimit.limits import Lane, RateLimit, Window

#: The role whose work runs in this context: every request it makes is that role's, whatever
#: lane the adapter names (a shipment reads the order through the same list call polls use; a
#: poller's token request asks the command lane to go first).
_WORK: contextvars.ContextVar[Lane | None] = contextvars.ContextVar("pipeline_work", default=None)


@contextlib.contextmanager
def _work(lane: Lane) -> Iterator[None]:
    token = _WORK.set(lane)
    try:
        yield
    finally:
        _WORK.reset(token)


def command_work() -> contextlib.AbstractContextManager[None]:
    """Within this block (and the tasks it starts), every request is a command's: served with
    the commands' priority, in their share, never paced."""
    return _work(Lane.COMMAND)


def poll_work() -> contextlib.AbstractContextManager[None]:
    """Within this block (and the tasks it starts), every request is a poll's: in the polls'
    share, paced."""
    return _work(Lane.POLL)


class WindowUsage(msgspec.Struct, frozen=True, kw_only=True):
    limit: int
    period: float
    shared: bool
    used: int  # acquisitions in the current sliding window, both lanes (every account's, if shared)
    remaining: int
    poll_remaining: int  # what polls may still take, after the commands' share
    command_remaining: int  # what commands may still take (split: of their share)
    next_free_in: float  # seconds until the oldest counted acquisition leaves the window


class LaneStats(msgspec.Struct, frozen=True, kw_only=True):
    acquired: int
    waits: int  # acquisitions that had to queue
    wait_seconds: float
    waiting: int  # queued right now


class BudgetUsage(msgspec.Struct, frozen=True, kw_only=True):
    windows: tuple[WindowUsage, ...]
    command: LaneStats
    poll: LaneStats
    blocked_for: float  # seconds left of a 429 penalty
    command_available_in: float
    poll_available_in: float

    def lane(self, lane: Lane) -> LaneStats:
        return self.command if lane is Lane.COMMAND else self.poll


class WindowLog:
    """Acquisition times of one window, oldest first (appended on a monotonic loop clock).

    Budgets given the same log for a ``shared`` window count each other's requests.
    """

    def __init__(self) -> None:
        self.times: collections.deque[float] = collections.deque()

    def prune(self, now: float, period: float) -> None:
        times = self.times
        while times and times[0] + period <= now:
            times.popleft()


class _Counters:
    __slots__ = ("acquired", "wait_seconds", "waits")

    def __init__(self) -> None:
        self.acquired = 0
        self.waits = 0
        self.wait_seconds = 0.0


class _Acquisition:
    """``await budget.acquire(lane)`` or ``async with budget.acquire(lane):``.

    Awaiting it returns the loop time at which the slot was counted.
    """

    __slots__ = ("_budget", "_lane")

    def __init__(self, budget: RateBudget, lane: Lane) -> None:
        self._budget = budget
        self._lane = lane

    def __await__(self) -> Generator[Any, None, float]:
        return self._budget._acquire(self._lane).__await__()

    async def __aenter__(self) -> None:
        await self._budget._acquire(self._lane)

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None  # the slot is spent once the request may have left


class RateBudget:
    """One account's request budget. Use it from one event loop (it reads ``loop.time()``)."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        margin: float = 0.0,
        shared_logs: Mapping[float, WindowLog] | None = None,
        pace_slices: int | None = None,
        split: bool = False,
        shared_command_logs: Mapping[float, WindowLog] | None = None,
        serves: frozenset[Lane] = frozenset(Lane),
    ) -> None:
        self.limit = limit
        self.margin = margin
        #: Split: each lane counts in logs of its own, within its share (module docstring).
        self.split = split
        #: Tells this budget's request records from another process's (pipeline.carryover).
        self.token = secrets.token_hex(8)
        #: Awaited after a poll slot was granted, before the request leaves: the poller renews
        #: its request record there (pipeline.carryover). Raising gives the slot back.
        self.poll_gate: Callable[[], Awaitable[None]] | None = None
        #: The same for a command slot: the apply role saves its command-lane record there
        #: (pipeline.command_records), so no command request leaves uncounted by one.
        self.command_gate: Callable[[], Awaitable[None]] | None = None
        #: (burst, requests per second) of the poll pacer: at most ``burst + rate * T`` polls
        #: in any ``T`` seconds.
        self.pace: tuple[int, float] | None = None
        self._pacer: AsyncLimiter | None = None
        # An apply-only process counts a poll-lane request (a command's read) as a command, and
        # commands are never paced.
        if pace_slices is not None and (not split or Lane.POLL in serves):
            if pace_slices < 1:
                raise ValueError("pace_slices must be >= 1")
            shortest = min(limit.windows, key=lambda w: w.period)
            burst = max(1, shortest.poll_limit // pace_slices)
            # Capacity ``burst``, drained at poll_limit per period: the window's poll rate.
            period = (shortest.period + margin) * burst / max(1, shortest.poll_limit)
            self._pacer = AsyncLimiter(burst, period)
            self.pace = (burst, burst / period)
        if split and any(w.command_share < 1 for w in limit.windows):
            raise ValueError(f"a split budget needs a commands share in every window: {limit!r}")

        def logs(shared: Mapping[float, WindowLog] | None) -> list[tuple[Window, float, WindowLog]]:
            # (window, enforced period, log): a shared window uses the platform-wide log if given.
            shared = shared or {}
            return [
                (w, w.period + margin, (shared.get(w.period) if w.shared else None) or WindowLog())
                for w in limit.windows
            ]

        self._windows = logs(shared_logs)
        # Per lane: (window, enforced period, log, what the lane may hold of that log).
        command_logs = logs(shared_command_logs) if split else self._windows
        self._lanes = {
            Lane.POLL: [(w, p, log, w.lane_limit(Lane.POLL)) for w, p, log in self._windows],
            Lane.COMMAND: [
                (w, p, log, w.lane_limit(Lane.COMMAND, split=split)) for w, p, log in command_logs
            ],
        }
        self._queues: dict[Lane, collections.deque[asyncio.Future[float]]] = {
            Lane.COMMAND: collections.deque(),
            Lane.POLL: collections.deque(),
        }
        self._counters = {lane: _Counters() for lane in Lane}
        self._blocked_until = -math.inf
        self._timer: asyncio.TimerHandle | None = None
        # This account's own requests (both lanes) over the longest window, whatever the logs
        # share with other accounts: what a request record carries to the next owner.
        # Split, one per lane: a poll record then carries the polls only (the commands owner
        # accounts for its own lane).
        self._history = {Lane.POLL: WindowLog()}
        self._history[Lane.COMMAND] = WindowLog() if split else self._history[Lane.POLL]
        #: Whose gate a lane's slot passes: its own, or in a one-role process the role's.
        self._role_of = {lane: lane for lane in Lane}
        if split and len(serves) == 1:
            # A one-role process counts every request in its role's share, whatever lane asked
            # (a poller's token request asks the command lane, to go first).
            (own,) = serves
            other = Lane.COMMAND if own is Lane.POLL else Lane.POLL
            self._lanes[other] = self._lanes[own]
            self._history[other] = self._history[own]
            self._role_of[other] = own
        self._longest = max(w.period for w in limit.windows) + margin

    def acquire(self, lane: Lane = Lane.POLL) -> _Acquisition:
        """Wait for a slot in every window, commands before polls (inside :func:`command_work`
        or :func:`poll_work`, that role's lane whatever ``lane`` says)."""
        return _Acquisition(self, _WORK.get() or lane)

    def penalize(self, seconds: float) -> None:
        """The platform said "retry after ``seconds``": hold both lanes until then."""
        until = self._now() + max(0.0, seconds)
        if until > self._blocked_until:
            self._blocked_until = until
            self._dispatch()

    def usage(self) -> BudgetUsage:
        now = self._now()
        windows = []
        polls, commands = self._lanes[Lane.POLL], self._lanes[Lane.COMMAND]
        for (w, period, log, poll_cap), (_, _, clog, command_cap) in zip(
            polls, commands, strict=True
        ):
            log.prune(now, period)
            clog.prune(now, period)
            used = len(log.times) + (len(clog.times) if clog is not log else 0)
            oldest = min((q[0] for q in (log.times, clog.times) if q), default=None)
            windows.append(
                WindowUsage(
                    limit=w.limit,
                    period=w.period,
                    shared=w.shared,
                    used=used,
                    remaining=max(0, w.limit - used),
                    poll_remaining=max(0, poll_cap - len(log.times)),
                    command_remaining=max(0, command_cap - len(clog.times)),
                    next_free_in=oldest + period - now if oldest is not None else 0.0,
                )
            )
        stats = {
            lane: LaneStats(
                acquired=c.acquired,
                waits=c.waits,
                wait_seconds=c.wait_seconds,
                waiting=sum(not f.done() for f in self._queues[lane]),
            )
            for lane, c in self._counters.items()
        }
        return BudgetUsage(
            windows=tuple(windows),
            command=stats[Lane.COMMAND],
            poll=stats[Lane.POLL],
            blocked_for=max(0.0, self._blocked_until - now),
            command_available_in=self._admit_at(Lane.COMMAND, now) - now,
            poll_available_in=self._admit_at(Lane.POLL, now) - now,
        )

    def sustainable_interval(self, requests_per_cycle: int, lane: Lane = Lane.POLL) -> float:
        """Smallest cycle interval for ``requests_per_cycle`` requests repeated forever.

        Exact for cycles that send their requests together at the start of each cycle: with
        ``k = lane_limit // n`` cycles fitting in a window, a half-open window of length P holds
        ``ceil(P / I)`` cycle starts, so ``I >= P / k``. A cycle larger than a window (``k == 0``)
        cannot be sent at once; it is paced by the budget and the long-run bound ``n * P / limit``
        applies. The margin counts as part of the period.
        """
        n = requests_per_cycle
        if n < 1:
            raise ValueError("a cycle has at least one request")
        interval = 0.0
        for _, period, _, cap in self._lanes[lane]:
            k = cap // n
            interval = max(interval, period / k if k else n * period / cap)
        return interval

    def recent(self, lane: Lane = Lane.POLL) -> list[float]:
        """Ages (seconds before now, oldest first) of this account's requests still inside
        its longest window, seeded ones included: both lanes' when pooled, ``lane``'s when split."""
        now = self._now()
        history = self._history[lane]
        history.prune(now, self._longest)
        return [now - t for t in history.times]

    def seed(self, ages: Iterable[float], lane: Lane = Lane.POLL) -> int:
        """Count requests made ``ages`` seconds ago (by another owner of the account) in every
        window but a per-IP one, as if this budget had granted them to ``lane`` (pooled: to both
        lanes' logs).
        Returns how many were counted.

        Each window keeps at most its lane's cap of newest entries (its ``limit`` when pooled): a
        window never truly held more, so dropping the oldest surplus never lets a request through
        that the truth would not.
        """
        now = self._now()
        times = sorted(now - max(0.0, a) for a in ages)
        # A shared (per-IP) window belongs to this process's address, not to the account: the
        # previous owner's requests went out from its own address, or its own part of ours
        # (``processes_per_ip``), and are counted there.
        logs = [
            (period, log, cap if self.split else w.limit)
            for w, period, log, cap in self._lanes[lane]
            if not w.shared
        ]
        for period, log, cap in [*logs, (self._longest, self._history[lane], None)]:
            merged = sorted([*log.times, *(t for t in times if t + period > now)])
            if cap is not None:
                merged = merged[-cap:]
            log.times = collections.deque(merged)
        self._dispatch()
        return len(times)

    # -- internals --------------------------------------------------------------------------

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _admit_at(self, lane: Lane, now: float) -> float:
        """The earliest time (>= now) at which ``lane`` may take a slot, as things stand."""
        at = max(now, self._blocked_until)
        for _, period, log, cap in self._lanes[lane]:
            log.prune(now, period)
            excess = len(log.times) - cap
            if excess >= 0:
                # Once the oldest excess + 1 entries have left, one slot is free for this lane.
                at = max(at, log.times[excess] + period)
        return at

    def _grant(self, lane: Lane, now: float) -> None:
        for _, _, log, _ in self._lanes[lane]:
            log.times.append(now)
        self._history[lane].times.append(now)
        self._counters[lane].acquired += 1

    def _give_back(self, lane: Lane, stamp: float) -> None:
        for log in [*(log for _, _, log, _ in self._lanes[lane]), self._history[lane]]:
            # Equal stamps are interchangeable; a pruned one needs no giving back.
            if stamp in log.times:
                log.times.remove(stamp)
        self._counters[lane].acquired -= 1

    def _dispatch(self) -> None:
        """Grant what can be granted now, commands first; arm a timer for the next head."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = self._now()
        # Pooled, polls only move when no command waits: a waiting command is blocked by a window
        # or a penalty, and a poll's limits are never looser, so this loses nothing. Split, the
        # lanes count in logs of their own: a command waiting for its share holds no poll back.
        wake = math.inf
        for lane in (Lane.COMMAND, Lane.POLL):
            queue = self._queues[lane]
            while queue:
                if queue[0].done():  # cancelled; its task has not run its cleanup yet
                    queue.popleft()
                    continue
                at = self._admit_at(lane, now)
                if at > now:
                    wake = min(wake, at)
                    break
                fut = queue.popleft()
                self._grant(lane, now)
                fut.set_result(now)
            if wake < math.inf and not self.split:
                break
        if wake < math.inf:
            self._timer = asyncio.get_running_loop().call_at(wake, self._dispatch)

    async def _acquire(self, lane: Lane) -> float:
        stamp = await self._take(lane)
        gate = self.poll_gate if self._role_of[lane] is Lane.POLL else self.command_gate
        if gate is not None:
            try:
                await gate()
            except BaseException:
                self._give_back(lane, stamp)  # the request never left
                self._dispatch()
                raise
        return stamp

    async def _take(self, lane: Lane) -> float:
        if lane is Lane.POLL and self._pacer is not None:
            await self._pacer.acquire()  # cancellation-safe; spends nothing of the exact log
        loop = asyncio.get_running_loop()
        now = loop.time()
        # Commands queue behind commands only; polls behind both lanes, unless split.
        if lane is Lane.COMMAND or self.split:
            queued = bool(self._queues[lane])
        else:
            queued = any(self._queues.values())
        if not queued and self._admit_at(lane, now) <= now:
            self._grant(lane, now)
            return now
        fut: asyncio.Future[float] = loop.create_future()
        self._queues[lane].append(fut)
        counters = self._counters[lane]
        counters.waits += 1
        try:
            self._dispatch()
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._give_back(lane, fut.result())  # granted, but the request never left
            else:
                fut.cancel()
                if fut in self._queues[lane]:
                    self._queues[lane].remove(fut)
            self._dispatch()
            raise
        finally:
            counters.wait_seconds += loop.time() - now
