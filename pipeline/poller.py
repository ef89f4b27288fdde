"""The poller: one account's streams, fetched, compared, published, then checkpointed.

Each cycle, for every stream the platform offers (orders, refunds, cancellations):

1. **recent loop** — fetch ``[cursor − overlap, now − settle)`` (the adapter splits windows and
   pages), so new records are found quickly;
2. **active sweep**, every ``sweep_every`` cycles — refresh records not yet terminal within the
   horizon by the cheapest means the platform offers (:attr:`Capabilities.sweep`): re-list the
   older windows, list by update time, or read many ids per call; records that could not be
   mapped before are retried by id;
3. :mod:`pipeline.changes` turns each record into at most one event;
4. **publish, then checkpoint** (invariant 1): events are published in chunks and the
   checkpoint — cursor, fingerprints, malformed ids — is saved only once every event of the
   cycle was acknowledged. A crash anywhere repeats work with the same event ids.
   During a long pass (a backfill) *progress* is saved too, at most every ``progress_every``
   seconds and only when something changed: the fingerprints of records whose events were
   acknowledged, never the cursor — a worker killed again and again still gets through.
   A checkpoint in which only the cursor or the sweep time moved is saved at most every
   ``checkpoint_every`` (and when the poller stops): a new owner then re-reads a little more,
   which publishes nothing, instead of every idle cycle rewriting every stream's fingerprints
   (when and how it saves: :mod:`pipeline.poll_saves`).
5. **rate budget across owners** (:mod:`pipeline.carryover`): a small request record under
   ``platform:account:polls`` carries the account's recent requests and a lease; no poll
   request leaves without a lease in force (renewed by the budget's ``poll_gate``), and a poller
   that takes an account over seeds its budget from the newest record before its first request.

When the broker is unreachable the poller stops fetching and retries the *same* events with
backoff (no unbounded buffering); platform errors back off too; nothing kills the loop.
The interval between cycles is planned from the rate budget (:mod:`pipeline.cadence`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from pipeline import cadence, carryover
from pipeline.adapter import Malformed, PlatformClient
from pipeline.changes import Record, detect, record_id
from pipeline.checkpoints import (
    POLLS_STREAM,
    Checkpoint,
    CheckpointStore,
    Fingerprint,
    checkpoint_key,
)
from pipeline.clock import Clock
from pipeline.errors import AuthError, BrokerError, PlatformError, RateLimited, RecordRejected
from pipeline.masking import mask_text
from pipeline.poll_saves import PollSaves
from pipeline.ratelimit import RateBudget
from schemas import AnyEvent, Event, Order

log = logging.getLogger(__name__)


class EventPublisher(Protocol):
    """Publishes events; returns only once the broker acknowledged every one of them."""

    async def publish(self, events: Sequence[Event]) -> None: ...


@runtime_checkable
class UpdatedSinceClient(Protocol):
    def fetch_updated(self, since: dt.datetime) -> AsyncIterator[Order | Malformed]: ...


@runtime_checkable
class ByIdsClient(Protocol):
    def fetch_orders_by_ids(self, ids: Sequence[str]) -> AsyncIterator[Order | Malformed]: ...


@runtime_checkable
class StatefulClient(Protocol):
    """A client with memory the platform cannot give back (kept in the checkpoint)."""

    def platform_state(self) -> dict[str, str]: ...

    def restore_platform_state(self, state: dict[str, str]) -> None: ...


@dataclass(frozen=True, slots=True)
class PollSettings:
    horizon: dt.timedelta = dt.timedelta(days=30)
    overlap: dt.timedelta = dt.timedelta(minutes=10)
    settle: dt.timedelta = dt.timedelta(seconds=0)
    floor: float = 30.0  # never poll more often than this (seconds)
    ceiling: float = 3600.0
    # Sweeping every cycle (its cost planned in) means a change on an old order shows within one
    # planned interval; raise it to trade that latency for budget.
    sweep_every: int = 1
    publish_chunk: int = 500
    publish_linger: float = 1.0  # seconds an event may wait for its chunk to fill
    # Publish and checkpoint retries while the broker is away: doubling up to the cap. A 30 s
    # cap left a worker idle up to ~16 s after a 30 s outage ended (attempts at +15.5 s and
    # +31.5 s); 5 s bounds that wait. Attempts are cheap for the broker: a process's pollers
    # share one producer, whose restart is serialized.
    broker_backoff: tuple[float, float] = (0.5, 5.0)
    #: Save progress (acknowledged fingerprints) at most this often during a long pass.
    progress_every: float = 5.0
    #: Seconds a saved request record lets poll requests go out before a newer one is saved.
    lease: float = 10.0
    stop_grace: float = 5.0  # a cycle running when asked to stop may finish within this
    refresh_checkpoint: dt.timedelta = dt.timedelta(minutes=5)
    #: A checkpoint in which only the cursor or the sweep time moved is saved at most this often
    #: (what a new owner may re-read; ``pipeline status`` shows a cursor up to this old).
    checkpoint_every: dt.timedelta = dt.timedelta(seconds=60)
    platform_backoff: tuple[float, float] = (5.0, 600.0)


@dataclass(slots=True)
class PollStats:
    cycles: int = 0
    sweeps: int = 0
    events: dict[str, int] = field(default_factory=dict)
    malformed: int = 0
    broker_errors: int = 0
    platform_errors: int = 0
    last_cycle_at: dt.datetime | None = None
    last_error: str | None = None


class AccountPoller:
    """Polls every stream of one account until told to stop."""

    def __init__(
        self,
        client: PlatformClient,
        *,
        publisher: EventPublisher,
        store: CheckpointStore,
        budget: RateBudget,
        clock: Clock,
        settings: PollSettings | None = None,
        floor: float | None = None,
    ) -> None:
        self.client = client
        # A runtime-protocol isinstance costs microseconds; checkpoints ask it every cycle.
        self._stateful: StatefulClient | None = (
            client if isinstance(client, StatefulClient) else None
        )
        self.publisher = publisher
        self.store = store
        self.budget = budget
        self.clock = clock
        self.settings = settings or PollSettings()
        self.floor = floor if floor is not None else self.settings.floor
        self.streams = [
            s for s in ("orders", "refunds", "cancellations") if s in client.capabilities.streams
        ]
        self.checkpoints: dict[str, Checkpoint] = {}
        self.stats = PollStats()
        self.plan = cadence.Plan(self.floor, "not planned yet", 0.0)
        self._recent_cost = cadence.CostEstimate()
        self._sweep_cost = cadence.CostEstimate(initial=4.0)
        self._recent_from: dict[str, dt.datetime] = {}
        #: Ids the adapter could not map in the current recent pass (read once more by id).
        self._unmapped: set[str] = set()
        #: When each stream's last recent loop began reading (its ``now``).
        self._recent_at: dict[str, dt.datetime] = {}
        self.saves = PollSaves(
            platform=client.platform,
            account=client.account,
            store=store,
            budget=budget,
            clock=clock,
            settings=self.settings,
            stats=self.stats,
        )
        #: Requests of a previous owner counted in the budget at the last load.
        self.seeded = 0

    @property
    def key(self) -> str:
        return f"{self.client.platform}:{self.client.account}"

    # -- state --------------------------------------------------------------------------------

    async def load(self) -> None:
        """Load every stream's checkpoint (or start one ``horizon`` back)."""
        start = self.clock.now() - self.settings.horizon
        found: list[Checkpoint] = []
        for stream in self.streams:
            key = checkpoint_key(self.client.platform, self.client.account, stream)
            loaded = await self.store.load(key)
            if loaded is not None:
                found.append(loaded)
            self.checkpoints[stream] = loaded or Checkpoint(
                platform=self.client.platform,
                account=self.client.account,
                stream=stream,
                cursor=start,
            )
        state = self.checkpoints[self.streams[0]].platform_state if self.streams else {}
        if state and self._stateful is not None:
            self._stateful.restore_platform_state(dict(state))
        polls = await self.store.load(self._record_key)
        if polls is not None:
            found.append(polls)
        # The previous owner's requests count before ours (pipeline.carryover): the newest record,
        # the polls key's (stream checkpoints of older versions carry one too). No checkpoint at
        # all: a new account, or an owner that died before its first save -- which it makes
        # before its first request.
        records = [cp.requests for cp in found if cp.requests is not None]
        if found:
            newest = max(records, key=lambda r: r.at) if records else None
            self.seeded = carryover.seed(self.budget, newest, now=self.clock.now())
            if self.seeded:
                log.info(
                    "%s: %d requests of the previous owner counted in the budget",
                    self.key,
                    self.seeded,
                    extra={"platform": self.client.platform, "account": self.client.account},
                )
        self.saves.drop_lease()
        self.budget.poll_gate = self._renew_lease

    @property
    def _record_key(self) -> str:
        return checkpoint_key(self.client.platform, self.client.account, POLLS_STREAM)

    async def _renew_lease(self) -> None:
        """The budget's poll gate: a request record with a lease in force (pipeline.poll_saves)."""
        if self.checkpoints:
            await self.saves.renew_lease()

    # -- one cycle ----------------------------------------------------------------------------

    async def cycle(self, *, sweep: bool = False) -> int:
        """One recent-loop pass over every stream (and a sweep if asked). Returns events sent."""
        if not self.checkpoints:
            await self.load()
        before = self.budget.usage().poll.acquired
        sent = 0
        for stream in self.streams:
            sent += await self._recent(stream, sweep_follows=sweep)
        recent_requests = self.budget.usage().poll.acquired - before
        # The first cycle of a poller catches up (a backfill of the horizon, or the time it was
        # away): its cost says nothing about the steady state the cadence is planned for.
        if self.stats.cycles > 0:
            self._recent_cost.observe(recent_requests)
        if sweep:
            before = self.budget.usage().poll.acquired
            for stream in self.streams:
                sent += await self._sweep(stream)
            if self.stats.cycles > 0:
                self._sweep_cost.observe(self.budget.usage().poll.acquired - before)
            self.stats.sweeps += 1
        self.stats.cycles += 1
        self.stats.last_cycle_at = self.clock.now()
        previous = self.plan
        self.plan = cadence.plan(
            self.budget,
            recent_cost=self._recent_cost.value,
            sweep_cost=self._sweep_cost.value,
            sweep_every=self.settings.sweep_every,
            floor=self.floor,
            ceiling=self.settings.ceiling,
        )
        if abs(self.plan.interval - previous.interval) > 0.1 * previous.interval:
            log.info(
                "%s: polling every %.0fs (%s)",
                self.key,
                self.plan.interval,
                self.plan.reason,
                extra={"platform": self.client.platform, "account": self.client.account},
            )
        return sent

    def _fetch(
        self, stream: str, start: dt.datetime, end: dt.datetime
    ) -> AsyncIterator[Record | Malformed]:
        if stream == "orders":
            return self.client.fetch_orders(start, end)
        if stream == "refunds":
            return self.client.fetch_refunds(start, end)
        return self.client.fetch_cancellations(start, end)

    async def _recent(self, stream: str, *, sweep_follows: bool = False) -> int:
        cp = self.checkpoints[stream]
        now = self.clock.now()
        end = now - self.settings.settle
        start = max(cp.cursor - self.settings.overlap, now - self.settings.horizon)
        self._recent_from[stream] = start
        self._recent_at[stream] = now
        if start >= end:
            return 0
        self._unmapped = set()
        sent = await self._process(stream, self._fetch(stream, start, end), now)
        failed = sorted(self._unmapped & set(cp.malformed))
        if failed and stream == "orders":
            # Read once more by id before the cursor passes them: a body cut short on the way
            # (a proxy, a dropped connection) maps on a second read; what still fails waits
            # for the sweeps, which may be many minutes away on a daily budget.
            sent += await self._process(stream, self._reread(failed), now)
        cp.cursor = max(cp.cursor, end)
        # Only the cursor moved and this cycle's sweep saves next: one save for both times.
        await self._checkpoint(stream, times_later=sweep_follows)
        return sent

    async def _sweep(self, stream: str) -> int:
        cp = self.checkpoints[stream]
        now = self.clock.now()
        horizon_start = now - self.settings.horizon
        cp.prune(before=horizon_start)
        if self._recent_from.get(stream, now) <= horizon_start:
            # This cycle's recent loop has just read the whole horizon (a first cycle, or a
            # return after a long absence): a sweep would re-read all of it (2x the requests).
            # It counts as a sweep begun when that read began, not now: a change made while
            # it read is for the next sweep to find ("updated since" continues from here).
            cp.swept_at = self._recent_at.get(stream, now)
            await self._checkpoint(stream)
            return 0
        older = cp.cursor - self.settings.overlap
        open_ids = [
            k for k, f in cp.fingerprints.items() if not f.terminal and f.created_at < older
        ]
        retry = list(cp.malformed)
        sent = 0
        how = self.client.capabilities.sweep
        if (
            stream == "orders"
            and how == "updated_since"
            and isinstance(self.client, UpdatedSinceClient)
        ):
            since = cp.swept_at or horizon_start
            sent += await self._process(stream, self.client.fetch_updated(since), now)
        elif stream == "orders" and how == "by_ids" and isinstance(self.client, ByIdsClient):
            if open_ids or retry:
                ids = sorted(set(open_ids) | set(retry))
                sent += await self._process(stream, self.client.fetch_orders_by_ids(ids), now)
        elif open_ids and horizon_start < older:
            sent += await self._process(stream, self._fetch(stream, horizon_start, older), now)
        if stream == "orders" and retry and how != "by_ids":
            sent += await self._process(stream, self._by_id(retry), now)
        cp.swept_at = now
        await self._checkpoint(stream)
        return sent

    def _reread(self, ids: Sequence[str]) -> AsyncIterator[Record | Malformed]:
        """Orders by id, the cheapest way the platform offers."""
        if self.client.capabilities.sweep == "by_ids" and isinstance(self.client, ByIdsClient):
            return self.client.fetch_orders_by_ids(list(ids))
        return self._by_id(ids)

    async def _by_id(self, ids: Sequence[str]) -> AsyncIterator[Record | Malformed]:
        for order_id in ids:
            try:
                order = await self.client.fetch_order(order_id)
            except PlatformError as exc:
                yield Malformed(
                    stream="orders",
                    record_id=order_id,
                    endpoint="fetch_order",
                    error=mask_text(str(exc)),
                )
                continue
            if order is not None:
                yield order

    async def _process(
        self, stream: str, records: AsyncIterator[Record | Malformed], now: dt.datetime
    ) -> int:
        """Detect changes, publish in acknowledged chunks, then update the fingerprints."""
        cp = self.checkpoints[stream]
        pending: list[tuple[AnyEvent, str]] = []
        updates: dict[str, Fingerprint] = {}
        seen: set[str] = set()
        sent = 0
        first_at = 0.0
        async for record in records:
            if isinstance(record, Malformed):
                self.stats.malformed += 1
                if record.record_id is not None:
                    cp.malformed[record.record_id] = record.error[:500]
                    self._unmapped.add(record.record_id)
                continue
            rid = record_id(record)
            if rid in seen:
                continue
            seen.add(rid)
            cp.malformed.pop(rid, None)
            event, fp = detect(record, updates.get(rid) or cp.fingerprints.get(rid), now=now)
            updates[rid] = fp
            if event is not None:
                if not pending:
                    first_at = time.monotonic()
                pending.append((event, rid))
            # A chunk goes out when full, or when its first event has waited ``publish_linger``
            # (a slow platform's backfill -- one request per order at 25/min -- would otherwise
            # show nothing until 500 orders were read).
            if pending and (
                len(pending) >= self.settings.publish_chunk
                or time.monotonic() - first_at >= self.settings.publish_linger
            ):
                sent += await self._publish(pending, cp)
                pending = []
                # Every record seen so far has its events acknowledged: they may be saved.
                cp.fingerprints.update(updates)
                updates.clear()
                await self._progress(stream, since=now)
        sent += await self._publish(pending, cp)
        cp.fingerprints.update(updates)
        return sent

    async def _progress(self, stream: str, *, since: dt.datetime) -> None:
        """Save the stream's acknowledged state if the last save, or else the pass (begun at
        ``since``), is ``progress_every`` old: a short pass saves at its end only."""
        last = self.saves.saved_at(stream)
        begun = since if last is None else max(since, last)
        if (self.clock.now() - begun).total_seconds() >= self.settings.progress_every:
            await self._checkpoint(stream)

    async def _publish(self, pending: list[tuple[AnyEvent, str]], cp: Checkpoint) -> int:
        if not pending:
            return 0
        events = [e for e, _ in pending]
        delay, cap = self.settings.broker_backoff
        while True:
            try:
                await self.publisher.publish(events)
                break
            except RecordRejected:
                if len(pending) == 1:
                    raise
                # Something in the chunk can never be published: find it, set it aside as
                # malformed (reported, retried by the sweep), publish the rest.
                return await self._publish_one_by_one(pending, cp)
            except BrokerError as exc:
                # Backpressure: stop fetching, keep only this chunk, try again (invariant 1).
                self.stats.broker_errors += 1
                self.stats.last_error = mask_text(str(exc))
                log.warning(
                    "publish failed, retrying in %.1fs: %s",
                    delay,
                    self.stats.last_error,
                    extra={"platform": self.client.platform, "account": self.client.account},
                )
                await self.clock.sleep(delay)
                delay = min(cap, delay * 2)
        for event in events:
            self.stats.events[event.type] = self.stats.events.get(event.type, 0) + 1
        return len(events)

    async def _publish_one_by_one(self, pending: list[tuple[AnyEvent, str]], cp: Checkpoint) -> int:
        sent = 0
        for event, rid in pending:
            try:
                sent += await self._publish([(event, rid)], cp)
            except RecordRejected as exc:
                self.stats.malformed += 1
                cp.malformed[rid] = f"not publishable: {mask_text(str(exc))}"[:500]
                log.error(  # noqa: TRY400 - the reason is the message, a traceback adds nothing
                    "%s: %s %s cannot be published: %s",
                    self.key,
                    event.type,
                    rid,
                    mask_text(str(exc)),
                )
        return sent

    async def _checkpoint(
        self, stream: str, *, flush: bool = False, times_later: bool = False
    ) -> None:
        """Save the stream's checkpoint if it is due (:meth:`PollSaves.checkpoint`)."""
        cp = self.checkpoints[stream]
        if self._stateful is not None:
            cp.platform_state = self._stateful.platform_state()
        await self.saves.checkpoint(
            cp, flush=flush, times_later=times_later, first_cycle=self.stats.cycles == 0
        )

    async def flush(self) -> None:
        """Save every stream whose checkpoint moved since its last save (on stop or release)."""
        for stream in self.checkpoints:
            await self._checkpoint(stream, flush=True)

    # -- the loop -----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Cycle until ``stop`` is set; errors back off, never end the loop."""
        try:
            await self._run(stop)
            if self.checkpoints:
                # What the last cycles moved but did not save yet (``checkpoint_every``), within
                # the stop grace; a broker away: the next owner re-reads a little more.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.stop_grace):
                        await self.flush()
        finally:
            if self.budget.poll_gate == self._renew_lease:
                self.budget.poll_gate = None

    async def _run(self, stop: asyncio.Event) -> None:
        delay = self.settings.platform_backoff[0]
        while not stop.is_set():
            started = self.clock.now()
            try:
                sweep = self.stats.cycles % self.settings.sweep_every == 0
                if not await self._cycle_unless_stopped(stop, sweep=sweep):
                    return
                delay = self.settings.platform_backoff[0]
                wait = self.plan.interval - (self.clock.now() - started).total_seconds()
            except PlatformError as exc:
                self.stats.platform_errors += 1
                self.stats.last_error = mask_text(str(exc))
                wait = delay
                if isinstance(exc, RateLimited) and exc.retry_after:
                    wait = max(wait, exc.retry_after)
                level = logging.ERROR if isinstance(exc, AuthError) else logging.WARNING
                log.log(
                    level,
                    "poll of %s failed, next try in %.0fs: %s",
                    self.key,
                    wait,
                    self.stats.last_error,
                )
                delay = min(self.settings.platform_backoff[1], delay * 2)
            await self._sleep_or_stop(max(0.0, wait), stop)

    async def _cycle_unless_stopped(self, stop: asyncio.Event, *, sweep: bool) -> bool:
        """Run one cycle; if ``stop`` is set meanwhile, let it finish within ``stop_grace`` (so its
        checkpoint is written), else cancel it — the next owner repeats it with the same ids.
        Returns False when stopped before the cycle completed."""
        task = asyncio.create_task(self.cycle(sweep=sweep), name=f"cycle {self.key}")
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                await asyncio.wait({task}, timeout=self.settings.stop_grace)
            if not task.done():
                return False
            task.result()  # re-raise what the cycle raised
            return True
        finally:
            stopper.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _sleep_or_stop(self, seconds: float, stop: asyncio.Event) -> None:
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()
