"""How long this worker may still act as the owner of its consumer-group partitions.

Kafka fences a partition's old owner with transactions (a zombie's writes are aborted); Tansu
has none (README "Brokers"), so the command consumer fences itself with the group's own clock:

* the broker expires a member ``session_timeout`` after the last heartbeat it *received*, and
  only then (or after the member rejoined) may its partitions go to another member;
* so a member whose heartbeat *sent* at ``c`` was answered ``NoError`` is the owner at least
  until ``c + session`` (``RebalanceInProgress`` does not count: Tansu answers it to a member
  it has already left out of the new generation), and
  anything it writes and has acknowledged before ``c + session − margin`` is in the log before
  a new owner can be assigned — and before that owner reads the results index;
* a member whose generation was reset (``UnknownMemberId``, ``IllegalGeneration``) is no longer
  the owner at all, whatever the clock says.

aiokafka keeps the time of its last good heartbeat to itself (a local variable of its heartbeat
task); :meth:`Membership.attach` wraps the coordinator's ``_do_heartbeat`` (private, checked
at attach time) to record when each answered heartbeat was sent. Without it (another aiokafka)
the window is unbounded and a warning says so; the new owner's wait still applies.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

#: aiokafka's generation before a member joined, and after ``reset_generation()``.
NO_GENERATION = -1


class Membership:
    """Tracks the group contact of one consumer: :meth:`window` is how long it may still publish
    as the owner of its assigned partitions (0: wait for a heartbeat; ``None``: it is not a
    member of the generation it was assigned in — its partitions are lost)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._now = clock
        self.session = math.inf  # seconds; known once attached
        self.margin = 0.0
        self.contact = -math.inf  # monotonic time a heartbeat answered OK was *sent*
        self._coordinator: Any = None
        self._generation: int | None = None  # the generation of the current assignment

    def attach(self, consumer: Any) -> None:
        """Start tracking a started group consumer's heartbeats."""
        self.session = getattr(consumer, "_session_timeout_ms", 10_000) / 1000
        # Room for the heartbeat's trip to the broker and the acknowledgement's trip back, and
        # for the two clocks' rates: a quarter of the session, at most 2 s.
        self.margin = min(2.0, self.session / 4)
        coordinator: Any = getattr(consumer, "_coordinator", None)
        heartbeat = getattr(coordinator, "_do_heartbeat", None)
        if heartbeat is None or not hasattr(coordinator, "generation"):
            log.warning("aiokafka heartbeats cannot be observed: results are not fenced by time")
            return
        self._coordinator = coordinator
        coordinator._do_heartbeat = self._observed(heartbeat)

    def _observed(self, heartbeat: Callable[[], Awaitable[bool]]) -> Callable[[], Awaitable[bool]]:
        coordinator = self._coordinator

        async def do_heartbeat() -> bool:
            sent = self._now()
            ok = await heartbeat()
            # aiokafka answers True for ``RebalanceInProgress`` too (and then asks to rejoin).
            # Tansu gives that answer even to a member it left out of the generation it just
            # completed (tests/test_apply_takeover.py), so only ``NoError`` counts as contact.
            rejoin = getattr(coordinator, "_rejoin_needed_fut", None)
            if ok and not (rejoin is not None and rejoin.done()):
                self.contact = max(self.contact, sent)
            return ok

        return do_heartbeat

    def assigned(self) -> bool:
        """An assignment arrived: the group answered just now, in this generation. True when
        it directly follows this member's previous generation (no generation in between that
        could have given its partitions to another member)."""
        self.contact = max(self.contact, self._now())
        if self._coordinator is None:
            return False
        previous, self._generation = self._generation, self._coordinator.generation
        return previous is not None and self._generation == previous + 1

    @property
    def tracking(self) -> bool:
        return self._coordinator is not None

    def lost(self) -> bool:
        """This member's generation is gone: another member may own its partitions now."""
        if self._coordinator is None or self._generation is None:
            return False
        generation: int = self._coordinator.generation
        return generation == NO_GENERATION or generation != self._generation

    def window(self) -> float | None:
        """Seconds left in which a write is surely in the log before a new owner reads it."""
        if self.lost():
            return None
        if self._coordinator is None:
            return math.inf
        return max(0.0, self.contact + self.session - self.margin - self._now())

    def stale_for(self) -> float:
        """Seconds since the last answered heartbeat was sent."""
        return self._now() - self.contact
