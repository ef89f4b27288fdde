"""An account's rate budget carried from one owner to the next (DESIGN invariants 5 and 6).

Budgets live in a worker's memory. When an account moves (a worker killed and its accounts
taken over, or a rebalance), the new owner must count what the old one spent in the platform's
current windows, or it could send a second full window's worth (Web Servis: 25 a minute per
shop; E-Çarşı: 1000 a day per token). So the poller keeps a :class:`RequestRecord` under the
key ``platform:account:polls`` of ``_pipeline.checkpoints``: the account's requests of the last
longest window, bucketed, and a *lease*. (Versions before that key put the record inside every
stream checkpoint; a reader takes the newest record of either kind.)

**Writer's promise.** A poller sends no poll request before it has saved a record, and none at
or after ``at + lease`` unless it saved a newer one first (the budget's ``poll_gate`` renews the
record after a slot is granted and before the request leaves).

**Reader's rule** (:func:`seed`), when an account is loaded and its newest record was written by
another budget:

* the recorded requests count in every window at their recorded age plus the time since ``at``
  (ages are rounded *down* when recorded: a request counts as later, so longer);
* requests made after the record but before the lease ended are unknown: they happened by
  ``min(now, at + lease)`` and within ``T = min(elapsed, lease)`` seconds, so there were at most
  ``burst + rate * T`` of them under the writer's poll pacing, and at most ``limit * ceil(T /
  period)`` per window. That many are counted at ``min(now, at + lease)`` (as late as they can
  have been);
* each window keeps at most its ``limit`` newest entries (it never truly held more).
* a per-IP window (e-Çarşı's minute) is not seeded: it belongs to the address the requests go
  out from, and each process keeps within its own part of it (``rate_limit.processes_per_ip``)
  whatever accounts it owns, so the old owner's requests are counted where they were sent.

**Without a record** (only checkpoints written before records existed) nothing is known: one full
shortest window is counted now, i.e. the first poll request waits out one shortest window, and a
longer window is charged that many requests. Not a proof for a longer window whose earlier use
is unknown (E-Çarşı's day); it is the one-off cost of an upgrade.

**The commands lane** (split budgets: in a fleet an account's polls and its commands have two
owners, each within its role's share of every window) carries its own records, written by the
apply role (:class:`pipeline.command_records.CommandRecords`) under the key
``platform:account:commands`` with a stricter promise: *no command request leaves before a record
that counts it is acknowledged* (the budget's ``command_gate``, after the slot is granted). Its
lease is 0: nothing is unknown after the record. A new commands owner reads the newest record
once the old owner is fenced (``pipeline.command_consumer``: it pauses a taken-over partition for
the session timeout, then reads) and seeds it with the reader's rule above -- every window,
the longest included, counts the old owner's requests at their ages. An account without such a
record was never written by a commands owner that keeps records: nothing is counted (one
exception: while a fleet is upgraded from a version without command records, an account's
first new owner does not see the old version's writes of the last window).

Clocks of the workers are assumed in sync to within the budget's margin (1 s).
"""

from __future__ import annotations

import datetime as dt
import math

import msgspec

from pipeline.ratelimit import Lane, RateBudget
from schemas.times import AwareDatetime

#: Ages up to this many seconds are recorded to the second, older ones to the minute (the record
#: of E-Çarşı's 1000/day stays under a few hundred buckets).
FINE_AGES = 600.0


class RequestRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The requests one owner made for an account, as of ``at`` (see the module docstring)."""

    at: AwareDatetime
    #: The writing budget's token: a record this budget wrote itself is never seeded again.
    writer: str
    #: Seconds after ``at`` in which the writer may still send poll requests without a newer record.
    lease: float
    #: ``(age in whole seconds before at, requests)``, oldest first; ages are rounded down.
    ages: list[tuple[int, int]] = msgspec.field(default_factory=list)
    #: The writer's poll pacing ``(burst, requests per second)``; None: not paced.
    pace: tuple[int, float] | None = None

    @property
    def requests(self) -> int:
        return sum(n for _, n in self.ages)


def record(
    budget: RateBudget, *, at: dt.datetime, lease: float, lane: Lane = Lane.POLL
) -> RequestRecord:
    """What ``budget`` spent for ``lane`` in its longest window, as of ``at``."""
    buckets: dict[int, int] = {}
    for age in budget.recent(lane):
        whole = int(age) if age < FINE_AGES else int(age // 60) * 60
        buckets[whole] = buckets.get(whole, 0) + 1
    return RequestRecord(
        at=at,
        writer=budget.token,
        lease=lease,
        ages=sorted(buckets.items(), reverse=True),
        pace=budget.pace if lane is Lane.POLL else None,
    )


def unknown_after(
    budget: RateBudget, rec: RequestRecord, gap: float, lane: Lane = Lane.POLL
) -> int:
    """At most how many ``lane`` requests the writer of ``rec`` sent in ``gap`` seconds after
    it (a whole window per started period, of the lane's share when split)."""
    if gap <= 0:
        return 0
    caps = [
        (w.limit if lane is Lane.POLL else w.lane_limit(lane, split=budget.split), w.period)
        for w in budget.limit.windows
    ]
    bound = min(cap * math.ceil(gap / period) for cap, period in caps)
    if rec.pace is not None:
        burst, rate = rec.pace
        bound = min(bound, burst + math.ceil(rate * gap))
    return bound


def seed(budget: RateBudget, rec: RequestRecord | None, *, now: dt.datetime) -> int:
    """Count the requests of the previous poll owner in ``budget``; returns how many were counted.

    ``rec`` is None when the account has checkpoints but none carries a record (see the module
    docstring). A record written by ``budget`` itself is skipped: its requests are in it already.
    """
    if rec is None:
        shortest = min(budget.limit.windows, key=lambda w: w.period)
        return budget.seed([0.0] * shortest.limit)
    return _seed(budget, rec, now, Lane.POLL)


def seed_commands(budget: RateBudget, rec: RequestRecord | None, *, now: dt.datetime) -> int:
    """Count the requests of the previous commands owner in ``budget``'s command lane (module
    docstring); ``rec`` None: no commands owner ever wrote one, nothing to count."""
    return 0 if rec is None else _seed(budget, rec, now, Lane.COMMAND)


def _seed(budget: RateBudget, rec: RequestRecord, now: dt.datetime, lane: Lane) -> int:
    if rec.writer == budget.token:
        return 0
    elapsed = max(0.0, (now - rec.at).total_seconds())
    gap = min(elapsed, rec.lease)
    ages = [elapsed + age for age, n in rec.ages for _ in range(n)]
    ages += [elapsed - gap] * unknown_after(budget, rec, gap, lane)
    return budget.seed(ages, lane=lane)
