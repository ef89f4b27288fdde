"""Fleet assignment: which worker polls which account (DESIGN invariant 5, one owner per account).

Every worker of a fleet reads the same configuration and joins one consumer group on
``_pipeline.accounts``. An account belongs to the partition its key ``platform:account`` hashes to
(murmur2, Kafka's own key partitioner, so records keyed by the account land there too), and the
worker holding that partition owns the account: it runs the account's :class:`AccountPoller`.

* **assign** → load the new accounts' checkpoints (``preload``: one read of the checkpoint topic
  for all of them, not one per key — a thousand accounts take seconds, not minutes) and start
  their loops, the first cycles spread over up to 30 s (20 ms per account) so they neither
  queue for the HTTP pool together nor stay bunched; then register them (concurrently);
* **revoke** → stop those loops (between cycles, bounded by ``stop_timeout``; a cycle cut short
  is not checkpointed and is repeated by the next owner with the same event ids) — the last
  completed cycle's checkpoint is already saved, so the next owner resumes from it;
* one process with one account works the same way (it gets every partition).

The group's record stream carries nothing the fleet needs: workers register their accounts there
(an :class:`~pipeline.status.AccountRegistration` keyed ``platform:account`` on every take-over
and release, read by ``pipeline status``, because a group description cannot tell who owns what
on Tansu) and poll it only to keep their membership alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.partitioner import murmur2

from pipeline.clock import Clock, SystemClock
from pipeline.command_consumer import RawSender
from pipeline.errors import PipelineError
from pipeline.poller import AccountPoller
from pipeline.status import AccountRegistration, publish_registration, worker_identity
from schemas import topics

log = logging.getLogger(__name__)

ACCOUNT_PARTITIONS: Final = 12


def account_partition(platform: str, account: str, partitions: int = ACCOUNT_PARTITIONS) -> int:
    """The ``_pipeline.accounts`` partition of an account (same as Kafka's key partitioner)."""
    digest: int = murmur2(f"{platform}:{account}".encode())
    return (digest & 0x7FFFFFFF) % partitions


class PollerFactory(Protocol):
    def __call__(self, platform: str, account: str) -> Awaitable[AccountPoller]: ...


@dataclass(slots=True)
class _Running:
    poller: AccountPoller
    stop: asyncio.Event
    task: asyncio.Task[None]


@dataclass(slots=True)
class FleetState:
    """What this worker owns right now (for status, health and tests)."""

    partitions: set[int] = field(default_factory=set)
    accounts: set[str] = field(default_factory=set)
    assignments: int = 0
    revocations: int = 0


class PollFleet:
    """Runs the pollers of the accounts whose partitions this worker holds."""

    def __init__(
        self,
        accounts: Iterable[tuple[str, str]],
        *,
        make_poller: PollerFactory,
        consumer_factory: Callable[[], AIOKafkaConsumer],
        partitions: int = ACCOUNT_PARTITIONS,
        stop_timeout: float = 30.0,
        shutdown_timeout: float = 5.0,
        on_released: Callable[[str], object] | None = None,
        registrations: RawSender | None = None,
        clock: Clock | None = None,
        preload: Callable[[list[str]], Awaitable[object]] | None = None,
        start_spread: float = 0.02,
        max_start_spread: float = 30.0,
    ) -> None:
        self._by_partition: dict[int, list[tuple[str, str]]] = {}
        for platform, account in accounts:
            part = account_partition(platform, account, partitions)
            self._by_partition.setdefault(part, []).append((platform, account))
        self._partitions = partitions
        self._make_poller = make_poller
        self._consumer_factory = consumer_factory
        self._stop_timeout = stop_timeout
        # On shutdown a cycle gets less: the worker must stop within its deadline (a cycle cut
        # short is repeated by the next owner, with the same event ids).
        self._shutdown_timeout = shutdown_timeout
        # Told the key prefix of every account released, so caches of its state are dropped
        # (the next owner's checkpoints would otherwise go unseen if it comes back here).
        self._on_released = on_released
        # Where take-overs and releases are registered for `pipeline status` (None: nowhere).
        self._registrations = registrations
        # Told the ``platform:account`` keys about to start, before their pollers load.
        self._preload = preload
        # Accounts taken over together start their first cycles spread over up to
        # ``max_start_spread`` seconds (``start_spread`` per account): a thousand first cycles
        # at once queued for the HTTP pool until requests timed out, and cycles that start
        # together stay bunched at every interval after (`pipeline bench fleet`).
        self._start_spread = start_spread
        self._max_start_spread = max_start_spread
        self._clock = clock or SystemClock()
        self.worker, self._host, self._pid = worker_identity()
        self._running: dict[str, _Running] = {}
        self._group: asyncio.TaskGroup | None = None
        self.state = FleetState()
        self.pollers: dict[str, AccountPoller] = {}

    async def run(self, stop: asyncio.Event) -> None:
        consumer = self._consumer_factory()
        listener = _Listener(self)
        await consumer.start()
        try:
            consumer.subscribe([topics.ACCOUNTS], listener=listener)
            async with asyncio.TaskGroup() as group:
                self._group = group
                while not stop.is_set():
                    # Fetching drives the group protocol (joins, rebalances, heartbeats).
                    await consumer.getmany(timeout_ms=500, max_records=100)
                # First, so an assignment that arrives during the shutdown starts no poller
                # (one did, and kept the worker polling after SIGTERM until it was killed).
                self._group = None
                await self._stop_accounts(list(self._running), within=self._shutdown_timeout)
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self._shutdown_timeout):
                    await consumer.stop()  # leaves the group so others take over at once

    async def assigned(self, partitions: Collection[int]) -> None:
        self.state.assignments += 1
        self.state.partitions |= set(partitions)
        starting = [
            (platform, account)
            for part in sorted(partitions)
            for platform, account in self._by_partition.get(part, [])
            if f"{platform}:{account}" not in self._running
        ]
        if starting and self._preload is not None and self._group is not None:
            await self._preload([f"{platform}:{account}" for platform, account in starting])
        spread = min(self._max_start_spread, self._start_spread * len(starting))
        started = [
            pa
            for n, pa in enumerate(starting)
            if await self._start(*pa, delay=spread * n / max(1, len(starting)))
        ]
        await asyncio.gather(*(self._register(p, a, owned=True) for p, a in started))

    async def revoked(self, partitions: Collection[int]) -> None:
        self.state.revocations += 1
        self.state.partitions -= set(partitions)
        keys = [
            f"{platform}:{account}"
            for part in partitions
            for platform, account in self._by_partition.get(part, [])
        ]
        await self._stop_accounts(keys)

    async def _start(self, platform: str, account: str, *, delay: float = 0.0) -> bool:
        key = f"{platform}:{account}"
        if key in self._running or self._group is None:
            return False
        poller = await self._make_poller(platform, account)
        await poller.load()
        if self._group is None:  # the worker began stopping meanwhile
            return False
        stop = asyncio.Event()
        task = self._group.create_task(self._guard(poller, stop, delay), name=f"poll {key}")
        self._running[key] = _Running(poller, stop, task)
        self.pollers[key] = poller
        self.state.accounts.add(key)
        log.info("took over %s", key, extra={"platform": platform, "account": account})
        return True

    async def _guard(self, poller: AccountPoller, stop: asyncio.Event, delay: float) -> None:
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await stop.wait()
            if stop.is_set():
                return
        try:
            await poller.run(stop)
        except Exception:  # a bug in one account must not end the worker
            log.exception("poller of %s crashed", poller.key)

    async def _stop_accounts(self, keys: list[str], *, within: float | None = None) -> None:
        """Stop these accounts' loops together, each bounded by ``stop_timeout``."""
        running = [self._running.pop(k) for k in keys if k in self._running]
        for r in running:
            r.stop.set()
        if running:
            bound = self._stop_timeout if within is None else within
            _, late = await asyncio.wait({r.task for r in running}, timeout=bound)
            for task in late:
                task.cancel()  # its cycle is repeated by the next owner, same event ids
            if late:
                await asyncio.wait(late)
        for r in running:
            self.state.accounts.discard(r.poller.key)
            if self._on_released is not None:
                self._on_released(r.poller.key + ":")
            log.info("released %s", r.poller.key)
        released = [r.poller.key.partition(":") for r in running]
        await asyncio.gather(*(self._register(p, a, owned=False) for p, _, a in released))

    async def _register(self, platform: str, account: str, *, owned: bool) -> None:
        """Best effort: a registration that cannot be written costs `pipeline status` its view
        of this account, never the polling (the group assignment, not this record, decides)."""
        if self._registrations is None:
            return
        registration = AccountRegistration(
            platform=platform,
            account=account,
            worker=self.worker,
            host=self._host,
            pid=self._pid,
            partition=account_partition(platform, account, self._partitions),
            time=self._clock.now(),
            owned=owned,
        )
        try:
            await publish_registration(self._registrations, registration)
        except PipelineError as exc:
            log.warning("registration of %s:%s not written: %s", platform, account, exc)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, fleet: PollFleet) -> None:
        self._fleet = fleet

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._fleet.revoked(_numbers(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self._fleet.assigned(_numbers(assigned))


def _numbers(parts: Iterable[TopicPartition]) -> set[int]:
    return {tp.partition for tp in parts if tp.topic == topics.ACCOUNTS}
