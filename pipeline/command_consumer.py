"""The apply role's Kafka side: ``commands.v1`` in, ``command-results.v1`` (and the DLQ) out.

* Records are decoded strictly. Undecodable bytes go to ``commands-dlq.v1`` with the original
  bytes, headers, partition, offset and the error (and an ``invalid`` result when a command id
  can be recovered from the ``ce_id`` header); a decodable command naming an unknown
  platform/account gets an ``invalid`` result.
* Each account has its own queue and worker (:class:`~pipeline.applier.AccountApplier`), so a
  slow account (a 1000/day budget) never holds the others back; within an account, each order's
  commands are applied in arrival order (other orders' commands may share an earlier batch).
* **Commit after results** (invariant 3): an offset is committed only when every record up to
  it has its result acknowledged by the broker. On revocation the in-flight work of the lost
  partitions may finish within ``revoke_timeout``; what did not is left uncommitted and redone by
  the next owner.
* **Exactly one result per command**: results share the commands' key (``platform:account``)
  and partition count, so on assignment a worker reads the results partition of each command
  partition it takes and skips commands that already have a result (a crash between publishing
  a result and committing its offset does not produce a second one).
* **No result from a zombie** (:mod:`pipeline.membership`; Tansu has no transactions to fence
  an old owner): a worker publishes a result only while its group membership is known to be
  current — within ``session_timeout − margin`` of the sending of its last heartbeat answered
  ``NoError``, each send bounded by what is left of that window (a send that runs out is
  dropped from the producer, not left to go out late). Out of contact longer, it starts no new
  platform write and holds the result until a heartbeat is answered again (still the owner: it
  publishes) or its partitions are revoked. During a revocation no heartbeat is answered
  ``NoError``, so what a drain has not published by the window's end is given up; a revocation
  after its generation was reset (the broker expired it) makes the partitions *lost* at once.
  Work given up is left uncommitted and redone by the next owner (read-before-write makes a
  write that did land ``already_applied``).
* **A new owner waits out the old one**: partitions this worker did not hold in the directly
  preceding generation (or lost) are paused after assignment for ``session_timeout − margin``,
  then their results partitions are read and fetching resumes. Any result the previous owner
  could still publish was acknowledged before its window closed: ``session − margin`` after the
  sending of its last ``NoError`` heartbeat, which came before this assignment (Tansu may
  complete a rebalance without a member that is still draining, and go on answering that
  member's heartbeats ``RebalanceInProgress``: seen in the chaos run and the tests). What is
  left: a produce request the broker received in time but appended after the
  deadline (a broker stalled past the send's bound), and clocks whose rates differ by more
  than the margin (a quarter of the session, at most 2 s). Every worker of a group must use
  the same ``session_timeout_ms`` (they read one configuration).
* **Rate budget across owners** (:mod:`pipeline.command_records`): ``results_reader`` runs
  when the pause is over, so the worker's reader counts the previous owners' command requests
  of the accounts these partitions carry (their newest request records) before any command of
  them is fetched; on revocation, work on the lost partitions that did not finish within
  ``revoke_timeout`` is cancelled, so the old owner sends no request for an account the next
  owner already counts on.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.applier import AccountApplier, Pending
from pipeline.clock import Clock
from pipeline.command_log import ConsumerStats, Offsets, read_result_ids
from pipeline.command_rebalance import GroupListener, Item, Rebalancing
from pipeline.errors import BrokerError
from pipeline.masking import mask_text
from pipeline.membership import Membership
from schemas import (
    CommandDecodeError,
    CommandResult,
    DeadLetter,
    Outcome,
    decode_command,
    result_attributes,
    to_headers,
    topics,
)

__all__ = ["CommandConsumer", "ConsumerStats", "RawSender", "read_result_ids"]

log = logging.getLogger(__name__)


class RawSender(Protocol):
    """Sends one record and returns once the broker acknowledged it (``KafkaEventPublisher``)."""

    async def send_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] = (),
        *,
        within: float | None = None,
    ) -> None: ...


class CommandConsumer(Rebalancing):
    """Consumes commands for the accounts this worker's group partitions carry."""

    def __init__(
        self,
        *,
        consumer_factory: Callable[[], AIOKafkaConsumer],
        results_reader: Callable[[set[int]], Any],
        sender: RawSender,
        applier_for: Callable[[str, str], AccountApplier | None],
        clock: Clock,
        revoke_timeout: float = 30.0,
        shutdown_timeout: float = 5.0,
        queue_limit: int = 5000,
    ) -> None:
        self._consumer_factory = consumer_factory
        self._results_reader = results_reader
        self._sender = sender
        self._applier_for = applier_for
        self._clock = clock
        self._revoke_timeout = revoke_timeout
        self._shutdown_timeout = shutdown_timeout
        self._queue_limit = queue_limit
        self._offsets: dict[TopicPartition, Offsets] = {}
        self._queues: dict[str, asyncio.Queue[Item]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._done_ids: set[str] = set()
        self._active: set[tuple[TopicPartition, int]] = set()  # taken by a worker, not done
        self._active_of: dict[str, set[tuple[TopicPartition, int]]] = {}  # the same, by account
        self._changed = asyncio.Event()  # an offset finished: time to commit
        self._progress = asyncio.Event()  # a worker finished a batch
        self._group: asyncio.TaskGroup | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self.membership = Membership()
        self._stop: asyncio.Event | None = None  # run()'s: set when the worker is stopping
        self._draining: set[TopicPartition] = set()  # revoked cooperatively, being drained
        self._kept: set[TopicPartition] = set()  # revoked cooperatively: no one else had them
        self._settling: set[TopicPartition] = set()  # new here: paused until the old owner's end
        self._settle_at = 0.0
        self.stats = ConsumerStats()
        self.assigned_partitions: set[TopicPartition] = set()

    # -- the loop -----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        consumer = self._consumer = self._consumer_factory()
        await consumer.start()
        self.membership.attach(consumer)
        try:
            consumer.subscribe([topics.COMMANDS], listener=GroupListener(self))
            async with asyncio.TaskGroup() as group:
                self._group = group
                committer = group.create_task(self._commit_loop(stop))
                while not stop.is_set():
                    if self._settling and time.monotonic() >= self._settle_at:
                        await self._settle()
                    if sum(q.qsize() for q in self._queues.values()) >= self._queue_limit:
                        await asyncio.sleep(0.05)  # backpressure: let the workers catch up
                        continue
                    batch = await consumer.getmany(timeout_ms=300, max_records=500)
                    for tp, records in batch.items():
                        for record in records:
                            await self._dispatch(tp, record)
                # Shutdown: in-flight batches may finish within the deadline; the rest stays
                # uncommitted and is redone by the next owner (results are not repeated).
                await self._drain(set(self._offsets), self._shutdown_timeout)
                for task in self._workers.values():
                    task.cancel()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(2.0):  # waits out a rebalance, or a broker away
                        await self._commit()
                committer.cancel()
        finally:
            self._group = None
            with contextlib.suppress(Exception):
                # Bounded: it waits for aiokafka's coordination task (a JoinGroup may be waiting
                # for the other members) before it leaves the group. In all, 5 + 2 + 3 s: well
                # within the worker's deadline (pipeline.worker.SHUTDOWN_DEADLINE).
                async with asyncio.timeout(3.0):
                    await consumer.stop()

    async def _dispatch(self, tp: TopicPartition, record: Any) -> None:
        self.stats.received += 1
        offsets = self._offsets.setdefault(tp, Offsets())
        offsets.add(record.offset)
        received = self._clock.now()
        try:
            command = decode_command(record.value or b"")
        except CommandDecodeError as exc:
            named = dict(record.headers or ()).get("ce_id")
            if named and named.decode("utf-8", "replace") in self._done_ids:
                # Redelivered (its offset was not committed) and already answered `invalid`:
                # a second dead letter would bring a second result.
                self.stats.skipped_done += 1
                offsets.finish(record.offset)
            # The decoder may quote a value of the command (an e-mail, a phone): mask it.
            elif await self._dead_letter(tp, record, mask_text(str(exc)), received):
                offsets.finish(record.offset)
            self._changed.set()
            return
        if command.command_id in self._done_ids:
            self.stats.skipped_done += 1
            offsets.finish(record.offset)
            self._changed.set()
            return
        pending = Pending(command=command, received_at=received)
        applier = self._applier_for(command.platform, command.account)
        if applier is None:
            answered = await self._publish(
                [
                    _invalid(
                        pending,
                        received,
                        self._clock.now(),
                        f"unknown account {command.platform}:{command.account}",
                    )
                ],
                {tp},
            )
            if answered:
                offsets.finish(record.offset)
            self._changed.set()
            return
        key = f"{command.platform}:{command.account}"
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue()
            assert self._group is not None  # noqa: S101 - dispatch runs inside run()
            self._workers[key] = self._group.create_task(self._work(key, applier, queue), name=key)
        queue.put_nowait((tp, record.offset, pending))

    async def _work(self, key: str, applier: AccountApplier, queue: asyncio.Queue[Item]) -> None:
        # As many commands as the platform can batch into one call: results go out (and offsets
        # commit) as each batch finishes, not after a whole backlog.
        chunk = max([1, *applier.client.capabilities.max_batch.values()])
        while True:
            items = [await queue.get()]
            while not queue.empty() and len(items) < chunk:
                items.append(queue.get_nowait())
            taken = {(tp, offset) for tp, offset, _ in items}
            self._active |= taken
            self._active_of[key] = taken
            owned = {tp for tp, _, _ in items}
            try:
                if not await self._still_owner(owned):
                    continue  # lost: left uncommitted, unapplied, to the next owner
                results = await applier.apply([p for _, _, p in items])
                if await self._publish(results, owned):
                    for tp, offset, _ in items:
                        tracker = self._offsets.get(tp)
                        if tracker is not None:
                            tracker.finish(offset)
            finally:
                self._active -= taken
                self._active_of.pop(key, None)
                self._progress.set()
            self._changed.set()

    async def _publish(self, results: list[CommandResult], owned: set[TopicPartition]) -> bool:
        """Return True once the broker acknowledged every one of ``results``, False when the
        partitions ``owned`` were lost first (nothing more is sent; the next owner answers).

        They are sent together: one after the other, each send waited out the producer's linger
        (~6 ms), which held an account to ~160 results/s, less than a Softtr budget carries
        (12,000 commands/min; ``pipeline bench apply``). After a broker error only the results
        not acknowledged are sent again, so a retry repeats none the broker acknowledged. Each
        send happens within the membership window (module docstring).
        """
        pending = results
        delay = 0.5
        while pending:
            window = self._window(owned)
            if window is None:
                self.stats.abandoned += len(pending)
                log.warning(
                    "%d result(s) not published: partition(s) %s lost (no answered heartbeat "
                    "for %.1fs or not a member any more); the next owner answers them",
                    len(pending),
                    sorted(tp.partition for tp in owned),
                    self.membership.stale_for(),
                )
                return False
            if window <= 0:  # out of contact: wait for a heartbeat or the revocation
                await asyncio.sleep(0.1)
                continue
            pending, error = await self._send_results(pending, window)
            if pending:
                log.warning(
                    "%d result(s) not acknowledged, retrying in %.1fs: %s",
                    len(pending),
                    delay,
                    error,
                )
                await asyncio.sleep(delay)
                delay = min(30.0, delay * 2)
        for result in results:
            self._done_ids.add(result.command_id)
            self.stats.results[result.outcome.value] += 1
            self.stats.by_platform[(result.platform, result.outcome.value)] += 1
        return True

    async def _send_results(
        self, results: list[CommandResult], window: float
    ) -> tuple[list[CommandResult], BrokerError | None]:
        """Send within ``window`` seconds; the results not acknowledged and the last error.

        A record handed to the producer cannot be called back, so a cancellation (a revocation
        giving up on this batch) waits for the sends to end — bounded by ``window`` — before it
        goes on: whoever cancelled knows nothing of ours reaches the broker after that.
        """
        sends = asyncio.gather(
            *(self._send_result(r, window) for r in results), return_exceptions=True
        )
        try:
            answers = await asyncio.shield(sends)
        except asyncio.CancelledError:
            await asyncio.wait({sends})
            raise
        failed: list[CommandResult] = []
        error: BrokerError | None = None
        for result, answer in zip(results, answers, strict=True):
            if isinstance(answer, BrokerError):
                failed.append(result)
                error = answer
            elif isinstance(answer, BaseException):
                raise answer
        return failed, error

    async def _send_result(self, result: CommandResult, window: float) -> None:
        await self._sender.send_raw(
            topics.COMMAND_RESULTS,
            topics.account_key(result.platform, result.account),
            msgspec.json.encode(result),
            to_headers(result_attributes(result)),
            within=None if window == float("inf") else window,
        )

    async def _dead_letter(
        self, tp: TopicPartition, record: Any, error: str, received: dt.datetime
    ) -> bool:
        """Dead-letter the record (and answer it ``invalid`` if it names itself); False if its
        partition was lost first."""
        headers = tuple((k, v or b"") for k, v in (record.headers or ()))
        letter = DeadLetter(
            error=error[:2000],
            topic=tp.topic,
            partition=tp.partition,
            offset=record.offset,
            received_at=received,
            key=record.key,
            value=record.value,
            headers=headers,
        )
        delay = 0.5
        while True:  # a broker away must not end the consumer: retry while still the owner
            window = self._window({tp})
            if window is None:
                return False
            try:
                await self._sender.send_raw(
                    topics.COMMANDS_DLQ,
                    record.key,
                    msgspec.json.encode(letter),
                    headers,
                    within=None if window == float("inf") else max(window, 0.1),
                )
                break
            except BrokerError as exc:
                log.warning("dead letter not acknowledged, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(30.0, delay * 2)
        self.stats.dead_letters += 1
        command_id = dict(headers).get("ce_id")
        if command_id:  # the sender's CloudEvents id names the command even if its body is bad
            platform, _, account = (record.key or b"").decode("utf-8", "replace").partition(":")
            return await self._publish(
                [
                    CommandResult(
                        command_id=command_id.decode("utf-8", "replace"),
                        command_type="unknown",
                        platform=platform,
                        account=account,
                        outcome=Outcome.INVALID,
                        attempts=0,
                        received_at=received,
                        finished_at=self._clock.now(),
                        error=f"undecodable; sent to {topics.COMMANDS_DLQ}: {error[:500]}",
                    )
                ],
                {tp},
            )
        return True


def _invalid(p: Pending, received: dt.datetime, now: dt.datetime, error: str) -> CommandResult:
    cmd = p.command
    return CommandResult(
        command_id=cmd.command_id,
        command_type=cmd.type,
        platform=cmd.platform,
        account=cmd.account,
        order_id=cmd.order_id,
        outcome=Outcome.INVALID,
        attempts=0,
        received_at=received,
        finished_at=now,
        error=error,
    )
