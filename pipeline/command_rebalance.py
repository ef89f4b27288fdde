"""The apply role's side of the consumer group: commits, assignments and revocations.

:class:`Rebalancing` is the part of :class:`~pipeline.command_consumer.CommandConsumer` that
the group drives (the rules are in that module's docstring): offsets committed after results,
a new owner's pause before it reads the results of partitions it takes over, cooperative
revocations drained within ``revoke_timeout``, lost ones abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from pipeline.applier import Pending
from pipeline.command_log import ConsumerStats, Offsets
from pipeline.errors import BrokerError
from pipeline.membership import Membership

log = logging.getLogger(__name__)

Item = tuple[TopicPartition, int, Pending]


class Rebalancing:
    """Group callbacks and commits; the state is the consumer's (declared here for typing)."""

    _consumer: AIOKafkaConsumer | None
    _results_reader: Callable[[set[int]], Any]
    _revoke_timeout: float
    _offsets: dict[TopicPartition, Offsets]
    _queues: dict[str, asyncio.Queue[Item]]
    _workers: dict[str, asyncio.Task[None]]
    _done_ids: set[str]
    _active: set[tuple[TopicPartition, int]]
    _active_of: dict[str, set[tuple[TopicPartition, int]]]
    _changed: asyncio.Event
    _progress: asyncio.Event
    _draining: set[TopicPartition]
    _kept: set[TopicPartition]
    _settling: set[TopicPartition]
    _settle_at: float
    membership: Membership
    _stop: asyncio.Event | None
    assigned_partitions: set[TopicPartition]
    stats: ConsumerStats

    # -- ownership ----------------------------------------------------------------------------

    def _window(self, owned: set[TopicPartition]) -> float | None:
        if not owned <= self.assigned_partitions | self._draining:
            return None
        window = self.membership.window()
        if window is not None and window <= 0:
            if not owned <= self.assigned_partitions:
                return None  # draining: no heartbeat is answered NoError during a rebalance
            if self._stop is not None and self._stop.is_set():
                return None  # stopping: waiting for contact would hold up the shutdown
        return window

    async def _still_owner(self, owned: set[TopicPartition]) -> bool:
        """Before a platform write: wait while out of contact with the group (a heartbeat comes
        back, or the revocation), so a worker being replaced starts no new write."""
        while True:
            window = self._window(owned)
            if window is None or window > 0:
                return window is not None
            await asyncio.sleep(0.1)

    # -- commits and rebalances ---------------------------------------------------------------

    async def _commit_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._changed.wait()
            self._changed.clear()
            await self._commit()

    async def _commit(self, partitions: set[TopicPartition] | None = None) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        wanted = {}
        for tp, offsets in self._offsets.items():
            if partitions is not None and tp not in partitions:
                continue
            offset = offsets.committable()
            if offset is not None:
                wanted[tp] = offset
        if not wanted:
            return
        try:
            await consumer.commit(wanted)
            self.stats.commits += 1
            for tp, offset in wanted.items():
                # A revocation may have dropped the partition while the commit was on its way.
                tracker = self._offsets.get(tp)
                if tracker is not None:
                    tracker.committed = offset
        except (CommitFailedError, KafkaError) as exc:
            # During a rebalance: the next owner redoes these records; results are not repeated
            # because it reads the results partition first.
            log.warning("commit failed (%s); records will be redone by their next owner", exc)

    async def assigned(self, partitions: set[TopicPartition]) -> None:
        # Nothing here awaits: the main loop must not fetch and dispatch a record of these
        # partitions before they count as ours and the fresh ones are paused.
        continuous = self.membership.assigned()
        # Partitions another member may have held since we last did: paused until its window
        # to publish is over, then their results are read (module docstring). Those we kept
        # need no read: every result of theirs since is ours, already in ``_done_ids``.
        fresh = partitions - (self._kept if continuous else set())
        self._kept = set()
        self.assigned_partitions |= partitions
        if fresh and self._consumer is not None:
            self._consumer.pause(*fresh)
            self._settling = fresh
            wait = self.membership.session - self.membership.margin
            if not self.membership.tracking:
                wait = 0.0
            self._settle_at = time.monotonic() + wait

    async def _settle(self) -> None:
        """The previous owners' windows are over: read their results, then fetch."""
        settling, self._settling = self._settling, set()
        try:
            async with asyncio.timeout(10.0):  # the main loop waits: bounded, then again
                self._done_ids |= await self._results_reader({tp.partition for tp in settling})
        except (KafkaError, BrokerError, OSError, TimeoutError) as exc:
            log.warning("results of partitions being taken over not read, again in 1s: %r", exc)
            if not self._settling:  # no rebalance meanwhile
                self._settling = settling & self.assigned_partitions
                self._settle_at = time.monotonic() + 1.0
            return
        consumer = self._consumer
        if consumer is not None and not self._settling:  # no rebalance meanwhile
            held = set(consumer.assignment()) & settling & self.assigned_partitions
            if held:
                consumer.resume(*held)

    async def revoked(self, partitions: set[TopicPartition]) -> None:
        self.assigned_partitions -= partitions
        unsettled = self._settling & partitions  # their results were never read here
        self._settling -= partitions
        if self.membership.lost():
            # Expired by the broker: another member may own them already and read their
            # results. Publish nothing for them; the next owner redoes what is uncommitted.
            log.warning(
                "partitions %s lost (not a member of the group any more, last answered "
                "heartbeat %.1fs ago): their unfinished commands are left to the next owner",
                sorted(tp.partition for tp in partitions),
                self.membership.stale_for(),
            )
            await self._cancel_work(partitions)
        else:
            self._draining |= partitions
            try:
                await self._drain(partitions, self._revoke_timeout)
                await self._cancel_work(partitions)
                if not self.membership.lost():
                    self._kept = partitions - unsettled
                await self._commit(partitions)
            finally:
                self._draining -= partitions
        for tp in partitions:
            self._offsets.pop(tp, None)
        for queue in self._queues.values():  # not started: the next owner does them
            kept = [item for item in _drain_queue(queue) if item[0] not in partitions]
            for item in kept:
                queue.put_nowait(item)

    async def _cancel_work(self, partitions: set[TopicPartition]) -> None:
        """Stop the account workers still busy with records of lost partitions: the next owner
        redoes those records (uncommitted) and counts on nothing more being sent for them.
        Returns when they have stopped (a send in progress ends first, within its window)."""
        stopping = []
        for key, taken in list(self._active_of.items()):
            if not any(tp in partitions for tp, _ in taken):
                continue
            log.warning("%s: unfinished work of a revoked partition cancelled", key)
            # An account's commands all come from one partition: its queue goes with it.
            self._queues.pop(key, None)
            task = self._workers.pop(key, None)
            if task is not None:
                task.cancel()
                stopping.append(task)
        if stopping:
            await asyncio.wait(stopping)

    async def _drain(self, partitions: set[TopicPartition], within: float) -> None:
        """Let the work already started on these partitions finish, for at most ``within``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while any(tp in partitions for tp, _ in self._active):
                    self._progress.clear()
                    await self._progress.wait()


def _drain_queue(queue: asyncio.Queue[Item]) -> list[Item]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


class GroupListener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: Rebalancing) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._owner.revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self._owner.assigned(set(assigned))
