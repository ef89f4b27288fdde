"""Request budgets per (platform, account): exact sliding windows, two lanes, 429 penalties.

A :class:`RateBudget` enforces several windows at once (ecarsi: 60/minute *and* 1000/day) with a
hard guarantee: in **any** interval ``[t, t + period)`` at most ``limit`` acquisitions happen, for
every window. It keeps a log of acquisition times per window on the running loop's clock
(``loop.time()``, so tests move a fake clock instead of sleeping). We do not build on aiolimiter:
its leaky bucket starts full and admits up to ~2×limit in a sliding window, and a second wait
queue would fight the lane priority and the cancellation rules below. The log is exact and small
(at most ``limit`` entries per window).

Daily windows are rolling 24 h, stricter than calendar days, so also safe for calendar quotas.

Polls are also *paced* with an :class:`aiolimiter.AsyncLimiter` (a leaky bucket) on the shortest
window: they may not take more than ``1/pace_slices`` of it in a burst, and flow at its rate
after that. The exact log above decides what is allowed; the pacer decides how evenly polls use
it, so a poll cycle never empties a minute's budget in one second and leaves a command that
arrives a moment later waiting for the rest of the minute. Commands are never paced.

Lanes and role shares: commands (writes other teams are waiting for) are served before polls,
and every window keeps a **commands share** (``reserve``, the config key
``rate_limit.commands_share``, default 0.2): ``max(1, floor(limit * share))`` requests of each
window belong to commands and polls get the rest. How the two lanes count depends on whether one
process owns both roles of the account:

* **pooled** (``pipeline up`` on its own embedded broker: nothing else can poll or write the
  account): one log per window for both lanes; commands may use the whole window, polls at most
  their share of it, so a command never waits for a window full of polls;
* **split** (``pipeline poll``, ``pipeline apply``, and ``pipeline run`` — in a fleet an account's
  polls and commands are assigned by two consumer groups and may land in two processes): each
  lane has logs of its own, commands at most their share and polls at most the rest of every
  window, so the two owners together never exceed the window, wherever they run.

A window marked ``shared`` counts the requests of every account of the platform together (ecarsi
limits per IP, not per token); the :class:`RateLimiterRegistry` hands all budgets of a platform
the same log for it. The guarantee holds across those accounts; lane priority and penalties stay
per account, and a slot another account gives back is noticed at the next timer, not at once.
Workers on other processes behind the same IP are not counted: give such a fleet lower limits.

Cancellation: a cancelled waiter leaves the queue; a waiter cancelled after it was granted a slot
gives the slot back (the request was never sent), and the next waiter is woken.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import math
import secrets
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator, Mapping
from types import MappingProxyType, TracebackType
from typing import Any

import msgspec
from aiolimiter import AsyncLimiter

from pipeline.errors import ConfigError

SECOND = 1.0
MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
DEFAULT_DAY_RESERVE = 0.2
#: Of every window, what commands keep (``rate_limit.commands_share``): e-Çarşı's day split stays
#: 800 polls / 200 commands as before, and a minute window's polls rarely need more than 80 %.
DEFAULT_COMMANDS_SHARE = 0.2
# Our clock and the platform's never agree to the millisecond, and a request leaves a little after
# it took its slot: the registry lengthens every window by this much so a burst that is legal for
# us is legal for the server too.
DEFAULT_MARGIN = 1.0
# Polls may burst a tenth of the shortest window, then flow at its rate (see the docstring).
DEFAULT_PACE_SLICES = 10


class Lane(enum.Enum):
    COMMAND = "command"
    POLL = "poll"


class Window(msgspec.Struct, frozen=True, kw_only=True):
    """At most ``limit`` requests in any ``period`` seconds; polls leave the last ``reserve``."""

    limit: int
    period: float
    reserve: float = 0.0
    shared: bool = False

    def __post_init__(self) -> None:
        if self.limit < 1 or not self.period > 0:
            raise ValueError(f"a window needs limit >= 1 and period > 0, got {self!r}")
        if not 0 <= self.reserve < 1:
            raise ValueError(f"reserve is a fraction in [0, 1), got {self.reserve!r}")

        if self.reserve > 0 and self.limit < 2:
            raise ValueError(
                f"a window of {self.limit} request cannot be shared between polls and commands"
                f" (limit {self.limit} per {self.period:g}s, commands share {self.reserve:g})"
            )

    @property
    def command_share(self) -> int:
        """Requests of the window that belong to commands: ``max(1, floor(limit * reserve))``."""
        if self.reserve <= 0:
            return 0
        # round() first: 1000 * 0.2 is 200.00000000000003 in floats.
        return max(1, math.floor(round(self.limit * self.reserve, 6)))

    @property
    def poll_limit(self) -> int:
        return self.limit - self.command_share

    def lane_limit(self, lane: Lane, *, split: bool = False) -> int:
        """What ``lane`` may hold of this window: pooled, commands may take all of it; split,
        each lane its own share (a window without a share is all the polls')."""
        if lane is Lane.POLL:
            return self.poll_limit
        return self.command_share if split else self.limit


class RateLimit(msgspec.Struct, frozen=True):
    """The windows one budget enforces together; periods must differ."""

    windows: tuple[Window, ...]

    def __post_init__(self) -> None:
        periods = [w.period for w in self.windows]
        if len(set(periods)) != len(periods):
            raise ValueError(f"two windows with the same period in {self!r}")

    @classmethod
    def from_config(
        cls,
        per_second: int | None = None,
        per_minute: int | None = None,
        per_hour: int | None = None,
        per_day: int | None = None,
        *,
        day_reserve: float = DEFAULT_DAY_RESERVE,
    ) -> RateLimit:
        """Build from the config keys (``rate_limit = { per_minute = 60, per_day = 1000 }``)."""
        pairs = ((per_second, SECOND), (per_minute, MINUTE), (per_hour, HOUR), (per_day, DAY))
        # The registry applies the configured commands share to every window (with_share); this
        # day reserve is what a budget built straight from the config keys keeps.
        windows = tuple(
            Window(limit=n, period=p, reserve=day_reserve if p >= DAY else 0.0)
            for n, p in pairs
            if n is not None
        )
        return cls(windows)

    def with_share(self, share: float) -> RateLimit:
        """Every window with ``share`` of it kept for commands (see the module docstring)."""
        if not 0 <= share < 1:
            raise ValueError(f"a commands share is a fraction in [0, 1), got {share!r}")
        return RateLimit(tuple(msgspec.structs.replace(w, reserve=share) for w in self.windows))

    def merged(self, override: RateLimit | None) -> RateLimit:
        """``override``'s limits win per period; reserve and sharing stay as the defaults say."""
        if override is None:
            return self
        by_period = {w.period: w for w in self.windows}
        for w in override.windows:
            base = by_period.get(w.period)
            by_period[w.period] = (
                w if base is None else msgspec.structs.replace(base, limit=w.limit)
            )
        return RateLimit(tuple(sorted(by_period.values(), key=lambda w: w.period)))


# The documented limits (platform-docs/). The registry takes this table as an argument, so it can
# move into each platform's folder (a RATE_LIMIT constant next to its client) without touching the
# machinery here.
DEFAULT_LIMITS: Mapping[str, RateLimit] = MappingProxyType(
    {
        # "Her IP adresi için dakikada maksimum 60 istek" (per IP: shared by all accounts of this
        # process), "Token başına günlük maksimum 1000 istek" (per token: per account).
        "ecarsi": RateLimit(
            (
                Window(limit=60, period=MINUTE, shared=True),
                Window(limit=1000, period=DAY, reserve=DEFAULT_DAY_RESERVE),
            )
        ),
        # "1 dakikada en fazla 25 istek ... e-ticaret sitesi bazındadır": a shop is an account.
        "webservis": RateLimit.from_config(per_minute=25),
        # No documented limit: conservative guesses, overridable per account in the config.
        "pazarama": RateLimit.from_config(per_minute=60),
        "softtr": RateLimit.from_config(per_minute=120),
        "c2c": RateLimit.from_config(per_minute=60),
    }
)


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
        if split and len(serves) == 1:
            # A one-role process counts every request in its role's share, whatever lane asked
            # (a poller's token request asks the command lane, to go first).
            (own,) = serves
            other = Lane.COMMAND if own is Lane.POLL else Lane.POLL
            self._lanes[other] = self._lanes[own]
            self._history[other] = self._history[own]
        self._longest = max(w.period for w in limit.windows) + margin

    def acquire(self, lane: Lane = Lane.POLL) -> _Acquisition:
        """Wait for a slot in every window, commands before polls."""
        return _Acquisition(self, lane)

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
        window, as if this budget had granted them to ``lane`` (pooled: to both lanes' logs).
        Returns how many were counted.

        Each window keeps at most its lane's cap of newest entries (its ``limit`` when pooled): a
        window never truly held more, so dropping the oldest surplus never lets a request through
        that the truth would not.
        """
        now = self._now()
        times = sorted(now - max(0.0, a) for a in ages)
        logs = [
            (period, log, cap if self.split else w.limit)
            for w, period, log, cap in self._lanes[lane]
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
        gate = self.poll_gate
        if lane is Lane.POLL and gate is not None:
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


class RateLimiterRegistry:
    """Budgets keyed by (platform, account), created from a per-platform defaults table.

    ``split`` and the default ``commands_share`` apply to every budget it creates (module
    docstring); an account may give its own share to :meth:`get`.
    """

    def __init__(
        self,
        defaults: Mapping[str, RateLimit],
        *,
        fallback: RateLimit | None = None,
        margin: float = DEFAULT_MARGIN,
        pace_slices: int | None = DEFAULT_PACE_SLICES,
        commands_share: float | None = None,
        split: bool = False,
        serves: frozenset[Lane] = frozenset(Lane),
    ) -> None:
        self._pace_slices = pace_slices
        self._serves = serves
        self._defaults = dict(defaults)
        self._fallback = fallback
        self._margin = margin
        self._share = commands_share
        self.split = split
        self._budgets: dict[tuple[str, str], RateBudget] = {}
        self._shared: dict[tuple[str, Lane], dict[float, WindowLog]] = {}

    def limit_for(
        self, platform: str, override: RateLimit | None = None, share: float | None = None
    ) -> RateLimit:
        """The limit a budget of ``platform`` gets: ``override`` merged over the default, every
        window keeping ``share`` (else the registry's, else the table's reserves) for commands."""
        default = self._defaults.get(platform, self._fallback)
        if default is None:
            raise ConfigError(f"no rate limit known for platform {platform!r}", path="rate_limit")
        limit = default.merged(override)
        share = self._share if share is None else share
        return limit if share is None else limit.with_share(share)

    def get(
        self,
        platform: str,
        account: str,
        override: RateLimit | None = None,
        *,
        share: float | None = None,
    ) -> RateBudget:
        """The account's budget, created on first use with ``override`` merged over the default."""
        key = (platform, account)
        limit = self.limit_for(platform, override, share)
        budget = self._budgets.get(key)
        if budget is None:
            lanes = {
                lane: self._shared.setdefault((platform, lane), {})
                for lane in (Lane.POLL, Lane.COMMAND)
            }
            for w in limit.windows:
                if w.shared:
                    for logs in lanes.values():
                        logs.setdefault(w.period, WindowLog())
            budget = self._budgets[key] = RateBudget(
                limit,
                margin=self._margin,
                shared_logs=lanes[Lane.POLL],
                pace_slices=self._pace_slices,
                split=self.split,
                shared_command_logs=lanes[Lane.COMMAND],
                serves=self._serves,
            )
        elif (override is not None or share is not None) and budget.limit != limit:
            raise ConfigError(
                f"{platform}/{account} already has a budget with other limits", path="rate_limit"
            )
        return budget

    def __iter__(self) -> Iterator[tuple[tuple[str, str], RateBudget]]:
        return iter(list(self._budgets.items()))
