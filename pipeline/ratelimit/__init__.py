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

Every request is its role's: a worker runs its apply role inside :func:`command_work` and its
poll role inside :func:`poll_work` (the applier also wraps each attempt), so a command's read
through the polls' list call counts as a command (unpaced) and a poller's token request as a
poll, whatever lane the adapter names.

A window marked ``shared`` counts the requests of every account of the platform together (ecarsi
limits per IP, not per token); the :class:`RateLimiterRegistry` hands all budgets of a platform
the same log for it. The guarantee holds across those accounts; lane priority and penalties stay
per account, and a slot another account gives back is noticed at the next timer, not at once.
Other processes behind the same IP cannot see this log: the registry divides every shared window
between ``processes_per_ip`` processes (the config key ``rate_limit.processes_per_ip``: how many
processes of one role send from this address; floor, at least 2 left), and the commands share is
taken of the divided limit. Split, each process's lanes hold at most that limit together and a
one-role process only its role's share of it, so N processes of each role stay within the window.

Cancellation: a cancelled waiter leaves the queue; a waiter cancelled after it was granted a slot
gives the slot back (the request was never sent), and the next waiter is woken.

The package: :mod:`~pipeline.ratelimit.limits` (windows and limits),
:mod:`~pipeline.ratelimit.budget` (the budget), :mod:`~pipeline.ratelimit.registry` (budgets per
account). Each platform's documented limit is the ``RATE_LIMIT`` of its own ``payloads`` module
(``pipeline.platforms.default_limits()`` collects them); this package never imports a platform.
"""

from pipeline.ratelimit.budget import (
    BudgetUsage,
    LaneStats,
    RateBudget,
    WindowLog,
    WindowUsage,
    command_work,
    poll_work,
)
from pipeline.ratelimit.limits import (
    DAY,
    DEFAULT_COMMANDS_SHARE,
    DEFAULT_DAY_RESERVE,
    DEFAULT_MARGIN,
    DEFAULT_PACE_SLICES,
    HOUR,
    MINUTE,
    SECOND,
    Lane,
    RateLimit,
    Window,
)
from pipeline.ratelimit.registry import RateLimiterRegistry

__all__ = [
    "DAY",
    "DEFAULT_COMMANDS_SHARE",
    "DEFAULT_DAY_RESERVE",
    "DEFAULT_MARGIN",
    "DEFAULT_PACE_SLICES",
    "HOUR",
    "MINUTE",
    "SECOND",
    "BudgetUsage",
    "Lane",
    "LaneStats",
    "RateBudget",
    "RateLimit",
    "RateLimiterRegistry",
    "Window",
    "WindowLog",
    "WindowUsage",
    "command_work",
    "poll_work",
]
