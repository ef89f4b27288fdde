"""The world's agenda: which automatic transition fires next, and when.

A *unit* is what a rule applies to: the whole order, one item, or one record. Whenever a unit
enters a status, every automatic rule leaving that status draws (fire?, delay) from a random
stream keyed by (seed, unit, entry count), and the earliest firing rule is booked. Keying by unit
rather than drawing from one shared stream keeps each order's fate independent of how often
``advance`` is called and of what other orders do, so a seed replays identically.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
from collections.abc import Sequence

import msgspec

from pipeline.sandbox.lifecycle import AutoTransition

Unit = tuple[str, ...]  # ("order", "17") | ("item", "17", "2") | ("record", "refund", "3")


class Booking(msgspec.Struct, frozen=True, order=True):
    at: dt.datetime
    seq: int
    unit: Unit
    version: int
    rule: int  # index into the lifecycle's automatic table


class Agenda:
    def __init__(self, seed: int | str) -> None:
        self._seed = seed
        self._heap: list[Booking] = []
        self._versions: dict[Unit, int] = {}
        self._entries: dict[Unit, int] = {}
        self._seq = 0

    def book(
        self,
        unit: Unit,
        since: dt.datetime,
        candidates: Sequence[tuple[int, AutoTransition]],
    ) -> Booking | None:
        """The unit entered a new status at ``since``: forget its old booking, draw a new one."""
        version = self._versions.get(unit, 0) + 1
        self._versions[unit] = version
        entry = self._entries.get(unit, 0) + 1
        self._entries[unit] = entry
        if not candidates:
            return None
        rng = random.Random(f"{self._seed}|{'/'.join(unit)}|{entry}")
        best: tuple[float, int] | None = None
        for index, rule in candidates:
            # Always draw both numbers so adding a rule later does not shift the others' draws.
            fires = rng.random() < rule.probability
            delay = rng.uniform(*rule.after)
            if fires and (best is None or delay < best[0]):
                best = (delay, index)
        if best is None:
            return None
        self._seq += 1
        booking = Booking(
            at=since + dt.timedelta(seconds=best[0]),
            seq=self._seq,
            unit=unit,
            version=version,
            rule=best[1],
        )
        heapq.heappush(self._heap, booking)
        return booking

    def cancel(self, unit: Unit) -> None:
        self._versions[unit] = self._versions.get(unit, 0) + 1

    def next_time(self) -> dt.datetime | None:
        self._drop_stale()
        return self._heap[0].at if self._heap else None

    def pop_due(self, now: dt.datetime) -> Booking | None:
        self._drop_stale()
        if self._heap and self._heap[0].at <= now:
            return heapq.heappop(self._heap)
        return None

    def pending(self) -> list[Booking]:
        return sorted(b for b in self._heap if self._versions.get(b.unit) == b.version)

    def _drop_stale(self) -> None:
        while self._heap and self._versions.get(self._heap[0].unit) != self._heap[0].version:
            heapq.heappop(self._heap)
