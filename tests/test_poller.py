"""The poller against real sandboxes over HTTP, with an in-memory publisher and checkpoint store:
change detection, the active sweep, publish-then-checkpoint, malformed records, cadence."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from pipeline import carryover, platforms
from pipeline.checkpoints import MemoryCheckpointStore
from pipeline.clock import ManualClock
from pipeline.errors import BrokerError
from pipeline.http import HttpClient, HttpSettings
from pipeline.poller import AccountPoller, PollSettings
from pipeline.ratelimit import RateBudget, RateLimit
from pipeline.sandbox import SandboxSettings, ServedSandbox, serve
from pipeline.sandbox.faults import FaultRule
from schemas import Event, OrderStatus, expected_id

START = dt.datetime(2026, 4, 20, 9, 0, tzinfo=dt.UTC)


class Recorder:
    """An EventPublisher that keeps what it was given and can be told to fail."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.fail_next = 0
        self.crash_after: int | None = None

    async def publish(self, events: Sequence[Event]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise BrokerError("broker unreachable (test)")
        if self.crash_after is not None and len(self.events) + len(events) > self.crash_after:
            raise RuntimeError("worker crashed (test)")
        self.events.extend(events)

    def of_type(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.type == kind]


class Rig:
    def __init__(
        self, sandbox: Any, served: ServedSandbox, http: HttpClient, clock: ManualClock
    ) -> None:
        self.sandbox, self.served, self.http, self.clock = sandbox, served, http, clock
        self.store = MemoryCheckpointStore()
        self.publisher = Recorder()

    def poller(self, *, budget: RateBudget | None = None, **settings: Any) -> AccountPoller:
        spec = platforms.get(self.sandbox.platform)
        budget = budget or RateBudget(RateLimit.from_config(per_minute=100_000))
        extra = (
            {"now": self.clock.now} if "now" in inspect.signature(spec.client).parameters else {}
        )
        client = spec.client(
            account="main",
            base_url=self.served.base_url,
            token_url=self.served.root_url + "/connect/token",
            credentials={k: f"sandbox-{k}" for k in spec.credential_keys},
            http=self.http,
            budget=budget,
            **extra,
        )
        return AccountPoller(
            client,
            publisher=self.publisher,
            store=self.store,
            budget=budget,
            clock=self.clock,
            settings=PollSettings(**settings),
        )

    def tick(self, seconds: float) -> None:
        self.sandbox.advance(seconds)


async def _rig(platform: str, orders: int = 30) -> AsyncIterator[Rig]:
    clock = ManualClock(START)
    sandbox = platforms.sandbox_class(platform)(
        clock=clock,
        settings=SandboxSettings(seed=4, initial_orders=orders, history=dt.timedelta(days=20)),
    )
    sandbox.limits.rules.clear()
    async with serve([sandbox]) as served, HttpClient(HttpSettings(total=5)) as http:
        yield Rig(sandbox, served[0], http, clock)


@pytest.fixture
async def pazarama() -> AsyncIterator[Rig]:
    async for rig in _rig("pazarama"):
        yield rig


async def test_first_cycle_publishes_every_order_once_and_repeats_publish_nothing(
    pazarama: Rig,
) -> None:
    poller = pazarama.poller()
    await poller.cycle()
    created = pazarama.publisher.of_type("order.created")
    assert {e.subject for e in created} == {o.id for o in pazarama.sandbox.world.orders}
    assert all(e.id == expected_id(e) for e in created)
    count = len(pazarama.publisher.events)
    await poller.cycle(sweep=True)
    assert len(pazarama.publisher.events) == count


async def test_a_restarted_poller_remembers_what_it_published(pazarama: Rig) -> None:
    await pazarama.poller().cycle()
    count = len(pazarama.publisher.events)
    again = pazarama.poller()  # a new process: state comes from the checkpoint store only
    await again.cycle(sweep=True)
    assert len(pazarama.publisher.events) == count


async def test_new_orders_are_found_by_the_recent_loop(pazarama: Rig) -> None:
    poller = pazarama.poller()
    await poller.cycle()
    before = len(pazarama.publisher.events)
    pazarama.clock.advance(600)
    fresh = pazarama.sandbox.world.spawn(3)
    await poller.cycle()
    new = pazarama.publisher.events[before:]
    assert {e.subject for e in new if e.type == "order.created"} == {o.id for o in fresh}


async def test_a_status_change_on_an_old_order_is_found_by_the_sweep(pazarama: Rig) -> None:
    poller = pazarama.poller(overlap=dt.timedelta(minutes=10))
    await poller.cycle()
    world = pazarama.sandbox.world
    old = next(
        o
        for o in world.orders
        if o.created_at < START - dt.timedelta(days=5) and o.items[0].status == "3"
    )
    world.set_status(old.id, "12")
    pazarama.clock.advance(60)
    await poller.cycle()  # the recent loop covers the last minutes only
    assert not pazarama.publisher.of_type("order.status_changed")
    await poller.cycle(sweep=True)
    (changed,) = pazarama.publisher.of_type("order.status_changed")
    assert changed.subject == old.id
    assert changed.previous_status is OrderStatus.RECEIVED  # type: ignore[attr-defined]
    assert changed.data.status is OrderStatus.PREPARING  # type: ignore[attr-defined]


async def test_refunds_and_cancellations_are_published_on_refunds_topic(pazarama: Rig) -> None:
    world = pazarama.sandbox.world
    poller = pazarama.poller()
    await poller.cycle()
    order = next(o for o in world.orders if o.items[0].status == "3")
    world.set_status(order.id, "12")
    pazarama.clock.advance(60)
    record = world.open_record("cancellation", order.id, [1], reason="Vazgeçtim", actor="customer")
    pazarama.clock.advance(60)
    await poller.cycle()
    (requested,) = [
        e
        for e in pazarama.publisher.of_type("cancellation.requested")
        if e.data.cancellation_id == record.id  # type: ignore[attr-defined]
    ]
    assert requested.topic == "refunds.v1" and requested.subject == order.id
    world.decide("cancellation", record.id, "2")
    pazarama.clock.advance(60)
    await poller.cycle(sweep=True)
    (updated,) = [
        e
        for e in pazarama.publisher.of_type("cancellation.updated")
        if e.data.cancellation_id == record.id  # type: ignore[attr-defined]
    ]
    assert updated.previous_state.value == "requested"  # type: ignore[attr-defined]


async def test_checkpoint_advances_only_after_the_broker_acknowledged(pazarama: Rig) -> None:
    poller = pazarama.poller(broker_backoff=(0.0, 0.0))
    pazarama.publisher.fail_next = 3  # broker down for three attempts
    await poller.cycle()
    assert poller.stats.broker_errors == 3
    assert len(pazarama.publisher.of_type("order.created")) == 30  # delivered once it came back
    assert pazarama.store.saves >= 1


async def test_a_crash_before_the_checkpoint_repeats_with_identical_ids(pazarama: Rig) -> None:
    poller = pazarama.poller(publish_chunk=10)
    pazarama.publisher.crash_after = 15  # dies in the middle of the cycle
    with pytest.raises(RuntimeError):
        await poller.cycle()
    first = list(pazarama.publisher.events)
    assert 0 < len(first) < 30
    # Saved once, before the first request: the request record (its lease). No checkpoint of
    # the stream: the pass did not end, and the clock stood still (no progress save was due).
    assert pazarama.store.saves == 1
    assert list(pazarama.store.saved) == ["pazarama:main:polls"]
    record = await pazarama.store.load("pazarama:main:polls")
    assert record is not None and record.requests is not None and record.fingerprints == {}
    pazarama.publisher.crash_after = None
    await pazarama.poller(publish_chunk=10).cycle()  # the restarted worker
    ids = [e.id for e in pazarama.publisher.events]
    assert set(e.id for e in first) <= set(ids[len(first) :])  # repeats carry the same ids
    world = pazarama.sandbox.world
    assert len(set(ids)) == 30 + len(world.cancellations) + len(world.refunds)


async def test_same_world_gives_same_event_ids_in_another_worker(pazarama: Rig) -> None:
    await pazarama.poller().cycle()
    ids = {e.id for e in pazarama.publisher.events}
    other = Recorder()
    pazarama.publisher, pazarama.store = other, MemoryCheckpointStore()  # another worker's
    poller = pazarama.poller()
    await poller.cycle()
    assert {e.id for e in other.events} == ids


async def test_cadence_is_planned_from_the_daily_budget() -> None:
    async for rig in _rig("ecarsi", orders=5):
        budget = RateBudget(platforms.get("ecarsi").default_limit)
        poller = rig.poller(budget=budget)
        await poller.cycle()
        await poller.cycle()
        assert "1000/day" in poller.plan.reason
        # 800 poll requests a day at >= 1 request per cycle: never more often than 108 s.
        assert poller.plan.interval >= 86400 / 800
        assert poller.plan.interval > 30


@pytest.mark.parametrize("platform", sorted(platforms.registry()))
async def test_every_platform_polls_and_sweeps_without_repeats(platform: str) -> None:
    async for rig in _rig(platform, orders=12):
        poller = rig.poller()
        await poller.cycle(sweep=True)
        created = rig.publisher.of_type("order.created")
        assert len(created) == 12, poller.stats
        rig.clock.advance(3600)
        await poller.cycle(sweep=True)
        again = [e for e in rig.publisher.events[12:] if e.type == "order.created"]
        assert again == []
        assert poller.stats.malformed == 0


async def test_softtr_statuses_we_set_survive_a_restart_through_the_checkpoint() -> None:
    async for rig in _rig("softtr", orders=4):
        poller = rig.poller()
        await poller.cycle()
        number = rig.sandbox.world.orders[0].id
        poller.client.remember(number, "PREPARING")  # type: ignore[attr-defined]
        await poller.cycle(sweep=True)
        restarted = rig.poller()
        await restarted.load()
        assert restarted.client.platform_state()[number] == "PREPARING"  # type: ignore[attr-defined]


async def test_c2c_sweep_reads_open_orders_by_id() -> None:
    async for rig in _rig("c2c", orders=8):
        poller = rig.poller()
        await poller.cycle()
        rig.clock.advance(86400 * 2)
        before = len(rig.sandbox.log.entries)
        await poller.cycle(sweep=True)
        paths = [e.path for e in rig.sandbox.log.entries[before:]]
        assert any(p.endswith("GetOrderInfoByOrdersCode") for p in paths), paths


async def test_an_unpublishable_record_is_set_aside_and_the_rest_published(pazarama: Rig) -> None:
    from pipeline.errors import RecordRejected

    victim = pazarama.sandbox.world.orders[3].id
    real = pazarama.publisher.publish

    async def picky(events: Sequence[Event]) -> None:
        if any(e.subject == victim for e in events):
            raise RecordRejected("1 record(s) to orders.v1 refused: MessageSizeTooLargeError")
        await real(events)

    pazarama.publisher.publish = picky  # type: ignore[method-assign]
    poller = pazarama.poller()
    await poller.cycle()
    published = {e.subject for e in pazarama.publisher.of_type("order.created")}
    assert victim not in published and len(published) == 29
    assert "not publishable" in poller.checkpoints["orders"].malformed[victim]


async def test_unchanged_checkpoints_are_not_rewritten_every_cycle(pazarama: Rig) -> None:
    poller = pazarama.poller()
    await poller.cycle()
    saves = pazarama.store.saves
    await poller.cycle()  # nothing new; the cursor did not move (the clock stands still)
    assert pazarama.store.saves == saves
    pazarama.clock.advance(600)
    await poller.cycle()  # the cursor moved: written again
    assert pazarama.store.saves > saves


async def _stored(rig: Rig, stream: str) -> Any:
    saved = await rig.store.load(f"pazarama:main:{stream}")
    assert saved is not None
    return saved


async def test_idle_cycles_save_the_moving_cursor_only_every_checkpoint_every(
    pazarama: Rig,
) -> None:
    poller = pazarama.poller(checkpoint_every=dt.timedelta(seconds=60))
    await poller.cycle(sweep=True)
    first = (await _stored(pazarama, "orders")).cursor
    keys = {k: 0 for k in pazarama.store.saved}
    counted = pazarama.store.save

    async def count(cp: Any) -> None:
        keys[cp.key] = keys.get(cp.key, 0) + 1
        await counted(cp)

    pazarama.store.save = count  # type: ignore[method-assign]
    for _ in range(2):  # 40 s of idle cycles: the cursors move, nothing else does
        pazarama.clock.advance(20)
        await poller.cycle(sweep=True)
    # Only the request record was written (its 10 s lease ran out before each cycle's requests).
    assert {k for k, n in keys.items() if n} == {"pazarama:main:polls"}
    assert keys["pazarama:main:polls"] == 2
    assert (await _stored(pazarama, "orders")).cursor == first < poller.checkpoints["orders"].cursor
    pazarama.clock.advance(20)  # 60 s since the streams were saved
    await poller.cycle(sweep=True)
    for stream in poller.streams:
        saved = await _stored(pazarama, stream)
        assert saved.cursor == poller.checkpoints[stream].cursor
        assert saved.swept_at == poller.checkpoints[stream].swept_at
        assert saved.requests is None  # the request record has its own key
    assert keys["pazarama:main:orders"] == 1  # the recent loop's and the sweep's in one save


async def test_a_change_is_saved_at_once_whatever_checkpoint_every(pazarama: Rig) -> None:
    poller = pazarama.poller(checkpoint_every=dt.timedelta(hours=1))
    await poller.cycle()
    pazarama.clock.advance(20)
    fresh = pazarama.sandbox.world.spawn(1)
    await poller.cycle()
    saved = await _stored(pazarama, "orders")
    assert {o.id for o in fresh} <= set(saved.fingerprints)
    assert saved.cursor == poller.checkpoints["orders"].cursor


async def test_a_stopping_poller_saves_the_cursor_its_idle_cycles_moved(pazarama: Rig) -> None:
    poller = pazarama.poller(checkpoint_every=dt.timedelta(hours=1))
    await poller.cycle()
    pazarama.clock.advance(20)
    await poller.cycle()
    assert (await _stored(pazarama, "orders")).cursor < poller.checkpoints["orders"].cursor
    stop = asyncio.Event()
    stop.set()  # run() starts no cycle, and saves what the last ones moved
    await poller.run(stop)
    assert (await _stored(pazarama, "orders")).cursor == poller.checkpoints["orders"].cursor
    saves = pazarama.store.saves
    await poller.flush()  # nothing moved since: nothing written
    assert pazarama.store.saves == saves


async def test_a_request_record_in_a_stream_checkpoint_of_an_older_version_still_counts(
    pazarama: Rig,
) -> None:
    limit = RateLimit.from_config(per_minute=1000)
    old = pazarama.poller(budget=RateBudget(limit))
    await old.cycle()
    made = len(old.budget.recent())
    # What a version before the polls key saved: the record inside the orders checkpoint.
    orders = await _stored(pazarama, "orders")
    orders.requests = carryover.record(old.budget, at=pazarama.clock.now(), lease=10.0)
    del pazarama.store.saved["pazarama:main:polls"]
    await pazarama.store.save(orders)
    new = pazarama.poller(budget=RateBudget(limit))
    await new.load()
    assert new.seeded >= made > 0


async def test_a_backfill_killed_after_acknowledged_chunks_resumes_after_them(
    pazarama: Rig,
) -> None:
    poller = pazarama.poller(publish_chunk=10, progress_every=0)
    pazarama.publisher.crash_after = 25  # two chunks acknowledged, the third never is
    with pytest.raises(RuntimeError):
        await poller.cycle()
    first = list(pazarama.publisher.events)
    assert len(first) == 20
    pazarama.publisher.crash_after = None
    await pazarama.poller(publish_chunk=10, progress_every=0).cycle()  # the next owner
    rest = pazarama.publisher.events[len(first) :]
    assert not {e.id for e in first} & {e.id for e in rest}  # nothing acknowledged is repeated
    world = pazarama.sandbox.world
    created = {e.subject for e in pazarama.publisher.of_type("order.created")}
    assert created == {o.id for o in world.orders}  # nothing missing
    assert len(pazarama.publisher.events) == 30 + len(world.cancellations) + len(world.refunds)


async def test_progress_is_saved_no_more_often_than_progress_every(pazarama: Rig) -> None:
    poller = pazarama.poller(publish_chunk=10)  # progress_every 5 s; the clock stands still
    pazarama.publisher.crash_after = 25
    with pytest.raises(RuntimeError):
        await poller.cycle()
    # Two chunks acknowledged, but the pass was younger than progress_every: nothing saved.
    assert await pazarama.store.load("pazarama:main:orders") is None
    assert list(pazarama.store.saved) == ["pazarama:main:polls"]  # the request record only


def _watched(rig: Rig, paths: list[list[str]]) -> Any:
    """A ``save`` that notes which requests the sandbox had seen when it was called."""
    save = rig.store.save

    async def watched(cp: Any) -> None:
        paths.append([e.path for e in rig.sandbox.log.entries])
        await save(cp)

    return watched


async def test_a_new_owner_counts_the_requests_of_the_previous_one() -> None:
    async for rig in _rig("pazarama", orders=30):
        first_saves: list[list[str]] = []
        rig.store.save = _watched(rig, first_saves)  # type: ignore[method-assign]
        limit = RateLimit.from_config(per_minute=1000)
        old = rig.poller(budget=RateBudget(limit, pace_slices=10))
        await old.cycle(sweep=True)
        made = len(old.budget.recent())  # both lanes: the token request too
        # The lease was saved before the first poll request (only the token's went before).
        assert all(p.endswith("/connect/token") for p in first_saves[0]), first_saves[0]
        rig.clock.advance(20)
        new = rig.poller(budget=RateBudget(limit, pace_slices=10))
        await new.load()
        # Every request of the old owner, and those it may have sent after its last record
        # (within its lease, at its pace: burst 100 + 1000/min for 10 s).
        assert made < new.seeded <= made + 100 + 167
        assert new.budget.usage().windows[0].used == new.seeded
        again = rig.poller(budget=new.budget)  # the same process takes it back: not twice
        await new.cycle()
        await again.load()
        assert again.seeded == 0


async def test_a_slow_backfill_publishes_what_it_has_after_the_linger(pazarama: Rig) -> None:
    """A chunk goes out when its first event has waited ``publish_linger``, not only when full:
    a platform answering one order per request shows its first orders before the last one."""
    poller = pazarama.poller(publish_linger=0.05)
    fetch = poller.client.fetch_orders
    fetched = 0
    fetched_at_publish: list[int] = []

    async def slow(start: dt.datetime, end: dt.datetime) -> AsyncIterator[Any]:
        nonlocal fetched
        async for record in fetch(start, end):
            await asyncio.sleep(0.01)
            fetched += 1
            yield record

    poller.client.fetch_orders = slow  # type: ignore[method-assign]
    publish = pazarama.publisher.publish

    async def watching(events: Sequence[Event]) -> None:
        if any(e.type.startswith("order.") for e in events):
            fetched_at_publish.append(fetched)
        await publish(events)

    pazarama.publisher.publish = watching  # type: ignore[method-assign]
    await poller.cycle()
    orders = len(pazarama.sandbox.world.orders)
    assert len(fetched_at_publish) >= 2 and fetched_at_publish[0] < orders
    created = pazarama.publisher.of_type("order.created")
    assert sorted(e.subject for e in created) == sorted(o.id for o in pazarama.sandbox.world.orders)


@pytest.mark.parametrize(("cut", "left"), [(1, 0), (2, 1)])
async def test_a_detail_cut_short_is_read_once_more_before_the_cursor_passes_it(
    cut: int, left: int
) -> None:
    async for rig in _rig("ecarsi", orders=6):
        victim = rig.sandbox.world.orders[2].id
        # The first ``cut`` detail reads of that order come back cut in half (HTTP 200).
        rig.sandbox.faults.add(
            FaultRule(kind="malformed_json", method="GET", path=f"/orders/{victim}$", times=cut)
        )
        poller = rig.poller()
        await poller.cycle()
        created = {e.subject for e in rig.publisher.of_type("order.created")}
        cp = poller.checkpoints["orders"]
        reads = [e for e in rig.sandbox.log.entries if e.path.endswith(f"/orders/{victim}")]
        assert len(reads) == 2  # one read in the listing, one more by id; never a third
        if left:
            assert victim not in created and victim in cp.malformed  # the sweeps take it on
            assert len(created) == 5
        else:
            assert victim in created and cp.malformed == {}
            assert len(created) == 6
