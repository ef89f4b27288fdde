"""Poll cadence planned from the account's rate budget, never a fixed "every minute".

A poll cycle costs some requests (list pages, detail reads, a sweep now and then). The budget
knows, per window, what polls may use after the commands' share (``rate_limit.commands_share``
of *every* window, pipeline.ratelimit); the planned interval is the
smallest one at which the measured cost per cycle, repeated forever, stays inside every window —
and never below the configured floor. E-Çarşı's 1000/day with 20 % kept for commands gives polls
800 a day: at 3 requests a cycle that is a cycle every 5.4 minutes, whatever the floor says.

The plan explains itself (``reason``) so an operator sees *why* an account polls as it does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.ratelimit import Lane, RateBudget

_PERIOD_NAMES = {1.0: "s", 60.0: "min", 3600.0: "h", 86400.0: "day"}


@dataclass(frozen=True, slots=True)
class Plan:
    interval: float  # seconds between the starts of two cycles
    reason: str
    requests_per_cycle: float


class CostEstimate:
    """Requests per cycle, as an exponentially weighted average of what cycles really cost."""

    def __init__(self, initial: float = 2.0, weight: float = 0.3) -> None:
        self.value = initial
        self._weight = weight
        self._samples = 0

    def observe(self, requests: float) -> None:
        if self._samples == 0:
            self.value = max(1.0, requests)
        else:
            self.value = (1 - self._weight) * self.value + self._weight * max(1.0, requests)
        self._samples += 1


def plan(
    budget: RateBudget,
    *,
    recent_cost: float,
    sweep_cost: float = 0.0,
    sweep_every: int = 1,
    floor: float = 30.0,
    ceiling: float = 3600.0,
) -> Plan:
    """Plan the interval between recent-loop cycles.

    ``sweep_cost`` requests are spent once every ``sweep_every`` cycles, so a cycle costs on
    average ``recent_cost + sweep_cost / sweep_every``.
    """
    per_cycle = max(1.0, recent_cost + sweep_cost / max(1, sweep_every))
    needed = max(1, math.ceil(per_cycle - 1e-9))
    by_budget = budget.sustainable_interval(needed, Lane.POLL)
    if by_budget > floor:
        window = _binding_window(budget, needed)
        reason = f"budget {window} at {per_cycle:.1f} requests/cycle"
        interval = by_budget
    else:
        reason = f"floor {floor:g}s (budget allows {by_budget:.1f}s at {per_cycle:.1f} req/cycle)"
        interval = floor
    if interval > ceiling:
        reason += f"; capped at {ceiling:g}s"
        interval = ceiling
    return Plan(interval=interval, reason=reason, requests_per_cycle=per_cycle)


def _binding_window(budget: RateBudget, needed: int) -> str:
    worst, text = -1.0, ""
    for window in budget.limit.windows:
        cap = window.lane_limit(Lane.POLL)
        per = window.period / max(1, cap // needed) if cap >= needed else window.period
        if per > worst:
            unit = _PERIOD_NAMES.get(window.period, f"{window.period:g}s")
            worst, text = per, f"{window.limit}/{unit} (polls may use {cap})"
    return text
