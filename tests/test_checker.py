"""The invariant checker finds every kind of violation when one is planted, and none in a clean
run: a Pazarama sandbox (orders with per-item statuses, refunds, cancellations) polled by the real
poller, its events turned into topic records, and the checker run on them."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable, Sequence

import msgspec
import pytest
from aiohttp import ClientSession
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

import schemas
from pipeline import checker
from pipeline.checkpoints import (
    Checkpoint,
    KafkaCheckpointStore,
    MemoryCheckpointStore,
    decode_checkpoint,
)
from pipeline.clock import ManualClock
from pipeline.http import HttpClient
from pipeline.platforms.pazarama.client import PazaramaClient
from pipeline.platforms.pazarama.sandbox import PazaramaSandbox
from pipeline.platforms.webservis.client import WebservisClient
from pipeline.platforms.webservis.sandbox import WebservisSandbox
from pipeline.poller import AccountPoller, PollSettings
from pipeline.ratelimit import RateBudget, RateLimit
from pipeline.sandbox import LogEntry, SandboxSettings, ServedSandbox, serve
from schemas import Event

START = dt.datetime(2026, 4, 20, 9, 0, tzinfo=dt.UTC)
NO_SLACK = dt.timedelta(0)


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, events: Sequence[Event]) -> None:
        self.events.extend(events)


def as_records(events: Sequence[Event]) -> list[checker.TopicRecord]:
    """Events as the topics would hold them: keyed, one partition per key hash, in order."""
    offsets: dict[tuple[str, int], int] = {}
    out = []
    for event in events:
        partition = sum(event.key()) % 3
        offset = offsets.get((event.topic, partition), 0)
        offsets[(event.topic, partition)] = offset + 1
        out.append(
            checker.TopicRecord(
                event.topic,
                partition,
                offset,
                event.key(),
                schemas.encode_event(event),
                (("ce_id", event.id.encode()),),
            )
        )
    return out


class Rig:
    def __init__(self, sandbox: PazaramaSandbox, served: ServedSandbox, http: HttpClient) -> None:
        self.sandbox, self.served, self.http = sandbox, served, http
        self.clock = sandbox.clock
        assert isinstance(self.clock, ManualClock)
        self.publisher = Recorder()
        self.store = MemoryCheckpointStore()
        self.pollers = {label: self._poller(label) for label in sandbox.tenants}

    def _poller(self, label: str) -> AccountPoller:
        budget = RateBudget(RateLimit.from_config(per_minute=100_000))
        client = PazaramaClient(
            account=label,
            base_url=self.served.base_url,
            token_url=self.served.root_url + "/connect/token",
            credentials=self.sandbox.tenants[label].credentials,
            http=self.http,
            budget=budget,
        )
        return AccountPoller(
            client,
            publisher=self.publisher,
            store=self.store,
            budget=budget,
            clock=self.clock,
            settings=PollSettings(overlap=dt.timedelta(minutes=10)),
        )

    async def poll(self) -> None:
        for poller in self.pollers.values():
            await poller.cycle(sweep=True)

    def advance(self, seconds: float) -> None:
        self.sandbox.advance(seconds)

    def observed(self) -> dict[tuple[str, str, str], checker.Observation]:
        cps = [decode_checkpoint(raw) for raw in self.store.saved.values()]
        return {(c.platform, c.account, c.stream): checker.observation_of(c) for c in cps}

    async def check(
        self,
        events: Sequence[Event] | None = None,
        *,
        records: list[checker.TopicRecord] | None = None,
        observed: dict[tuple[str, str, str], checker.Observation] | None = None,
        horizon: dt.timedelta | None = None,
    ) -> checker.Report:
        truth = await checker.ground_truth([self.served])
        return checker.check(
            records if records is not None else as_records(events or self.publisher.events),
            truth,
            observed if observed is not None else self.observed(),
            horizon=horizon,
            now=self.clock.now(),
            slack=NO_SLACK,
        )

    def first(self, kind: str, where: Callable[[Event], bool] = lambda e: True) -> Event:
        return next(e for e in self.publisher.events if e.type == kind and where(e))


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    clock = ManualClock(START)
    sandbox = PazaramaSandbox(
        clock=clock,
        settings=SandboxSettings(seed=11, initial_orders=10, history=dt.timedelta(days=3)),
    )
    sandbox.add_tenant("shop2", initial_orders=6)
    async with serve([sandbox]) as served, HttpClient() as http:
        rig = Rig(sandbox, served[0], http)
        await rig.poll()
        # A lively hour: an order accepted, a cancellation and a return opened, new orders.
        world = sandbox.world
        open_orders = [o for o in world.orders if all(i.status == "3" for i in o.items)]
        rig.advance(600)
        world.set_status(open_orders[0].id, "12")
        world.open_record("cancellation", open_orders[1].id, [1], reason="Vazgeçtim")
        world.open_record("refund", open_orders[2].id, [1], reason="Beden uymadı")
        world.spawn(2)
        rig.advance(600)
        await rig.poll()
        rig.advance(60)
        await rig.poll()
        yield rig


async def test_a_clean_run_passes_and_says_what_it_looked_at(rig: Rig) -> None:
    report = await rig.check()
    assert report.ok, report.summary()
    world = rig.sandbox.world
    assert report.orders == len(world.orders) + len(rig.sandbox.tenants["shop2"].world.orders)
    assert report.statuses_checked >= report.orders  # every order and both records
    assert report.events["order.status_changed"] >= 1
    worlds = [t.world for t in rig.sandbox.tenants.values()]
    assert report.events["cancellation.requested"] == sum(len(w.cancellations) for w in worlds)
    assert report.events["refund.requested"] == sum(len(w.refunds) for w in worlds) == 1
    assert report.repeats == 0 and report.distinct_ids == report.records


async def test_repeats_with_the_same_content_are_at_least_once_not_a_violation(rig: Rig) -> None:
    events = rig.publisher.events
    again = [msgspec.structs.replace(e, time=e.time + dt.timedelta(minutes=5)) for e in events]
    report = await rig.check([*events, *again])
    assert report.ok, report.summary()
    assert report.repeats == len(events)


async def test_an_order_without_order_created_is_missing(rig: Rig) -> None:
    victim = rig.sandbox.world.orders[4].id
    report = await rig.check([e for e in rig.publisher.events if e.subject != victim])
    assert report.counts["missing_created"] == 1
    assert victim in report.examples["missing_created"][0]
    assert not report.ok


async def test_an_order_the_checkpoint_holds_as_unmapped_is_counted_not_missing(
    rig: Rig,
) -> None:
    victim = rig.sandbox.world.orders[4].id
    observed = rig.observed()
    key = ("pazarama", "main", "orders")
    observed[key] = msgspec.structs.replace(observed[key], unmapped=frozenset({victim}))
    events = [e for e in rig.publisher.events if e.subject != victim]
    report = await rig.check(events, observed=observed)
    assert report.ok, report.summary()
    assert report.unmapped == 1 and "1 held as unmapped" in report.summary()
    # Another order missing is still missing.
    other = rig.sandbox.world.orders[5].id
    report = await rig.check([e for e in events if e.subject != other], observed=observed)
    assert report.counts["missing_created"] == 1 and other in report.examples["missing_created"][0]


async def test_an_order_created_before_the_horizon_is_not_due(rig: Rig) -> None:
    oldest = min(rig.sandbox.world.orders, key=lambda o: o.created_at)
    kept = [e for e in rig.publisher.events if e.subject != oldest.id]
    horizon = rig.clock.now() - oldest.created_at - dt.timedelta(seconds=1)
    report = await rig.check(kept, horizon=horizon)
    assert report.ok, report.summary()


async def test_an_order_created_after_the_cursor_is_not_due_yet(rig: Rig) -> None:
    fresh = rig.sandbox.world.spawn(1)[0]  # after the last poll: nobody claimed to have seen it
    report = await rig.check()
    assert report.ok, report.summary()
    rig.advance(60)
    await rig.poll()
    report = await rig.check([e for e in rig.publisher.events if e.subject != fresh.id])
    assert report.counts["missing_created"] == 1


async def test_a_status_change_that_never_reached_the_topic_is_stale(rig: Rig) -> None:
    changed = rig.first("order.status_changed")
    report = await rig.check([e for e in rig.publisher.events if e.id != changed.id])
    assert report.counts["stale_status"] == 1, report.summary()
    assert changed.subject in report.examples["stale_status"][0]
    assert "'3'" in report.examples["stale_status"][0]  # what the last event still says


async def test_a_change_after_the_last_poll_began_is_in_flux_not_stale(rig: Rig) -> None:
    order = next(o for o in rig.sandbox.world.orders if o.items[0].status == "3")
    rig.advance(5)
    rig.sandbox.world.set_status(order.id, "12")  # after the last poll: not published yet
    report = await rig.check()
    assert report.ok, report.summary()
    assert report.in_flux >= 1
    rig.advance(60)
    await rig.poll()  # polled since: now it must be on the topic
    changed = [e for e in rig.publisher.events if e.subject == order.id][-1]
    assert changed.type == "order.status_changed"
    report = await rig.check([e for e in rig.publisher.events if e.id != changed.id])
    assert report.counts["stale_status"] == 1


async def test_a_refund_and_a_cancellation_without_events_are_missing(rig: Rig) -> None:
    world = rig.sandbox.world
    refund, cancellation = world.refunds[-1], world.cancellations[-1]
    gone = {refund.order_id, cancellation.order_id}
    kept = [
        e
        for e in rig.publisher.events
        if e.topic != schemas.topics.REFUNDS or e.subject not in gone
    ]
    report = await rig.check(kept)
    assert report.counts["missing_record"] == 2, report.summary()
    text = " ".join(report.examples["missing_record"])
    assert f"refund {refund.id}" in text and f"cancellation {cancellation.id}" in text


async def test_a_record_whose_decision_was_not_published_is_stale(rig: Rig) -> None:
    record = rig.sandbox.world.cancellations[0]
    rig.sandbox.world.decide("cancellation", record.id, "2")
    rig.advance(60)
    await rig.poll()
    updated = rig.first("cancellation.updated")
    report = await rig.check([e for e in rig.publisher.events if e.id != updated.id])
    assert report.counts["stale_status"] == 1, report.summary()
    assert record.id in report.examples["stale_status"][0]


async def test_one_id_with_two_contents_conflicts(rig: Rig) -> None:
    created = rig.first("order.created")
    other = msgspec.structs.replace(
        created,
        data=msgspec.structs.replace(created.data, note="changed"),  # type: ignore[attr-defined]
    )
    report = await rig.check([*rig.publisher.events, other])
    assert report.counts["conflicting_id"] == 1, report.summary()
    assert created.id in report.examples["conflicting_id"][0]


async def test_an_id_not_derived_from_the_content_is_bad(rig: Rig) -> None:
    created = rig.first("order.created")
    forged = msgspec.structs.replace(created, id=str(uuid.uuid4()))
    events = [forged if e is created else e for e in rig.publisher.events]
    report = await rig.check(events)
    assert report.counts["bad_id"] == 1, report.summary()


async def test_events_the_ground_truth_does_not_know_are_unknown(rig: Rig) -> None:
    created = rig.first("order.created")
    data = created.data  # type: ignore[attr-defined]
    ghost_order = schemas.new_event(
        schemas.OrderCreated,
        time=created.time,
        data=msgspec.structs.replace(data, order_id="999999999", order_number="999999999"),
    )
    ghost_account = schemas.new_event(
        schemas.OrderCreated, time=created.time, data=msgspec.structs.replace(data, account="ghost")
    )
    refund = rig.first("refund.requested")
    ghost_refund = schemas.new_event(
        schemas.RefundRequested,
        time=refund.time,
        data=msgspec.structs.replace(
            refund.data,  # type: ignore[attr-defined]
            order_id=data.order_id,
            refund_id="R-404",
        ),
    )
    report = await rig.check([*rig.publisher.events, ghost_order, ghost_account, ghost_refund])
    assert report.counts["unknown"] == 3, report.summary()
    text = " ".join(report.examples["unknown"])
    assert "999999999" in text and "ghost" in text and "R-404" in text


async def test_undecodable_and_misplaced_records_are_malformed(rig: Rig) -> None:
    records = as_records(rig.publisher.events)
    once = [r for r in records if sum(x.key == r.key for x in records) == 1]
    good = once[0]  # an order with one event: a copy of it cannot make it stale
    bad = [
        checker.TopicRecord(good.topic, 0, 10_000, b"k", b"<html>502</html>"),
        checker.TopicRecord(schemas.topics.REFUNDS, 0, 10_001, good.key, good.value),
        checker.TopicRecord(good.topic, good.partition, 10_002, b"wrong:key", good.value),
    ]
    report = await rig.check(records=[*records, *bad])
    assert report.counts["malformed"] == 3, report.summary()
    assert {k for k, n in report.counts.items() if n} == {"malformed"}


async def test_a_stream_never_polled_is_unobserved(rig: Rig) -> None:
    observed = rig.observed()
    del observed[("pazarama", "shop2", "refunds")]
    report = await rig.check(observed=observed)
    assert report.counts["unobserved"] == 1, report.summary()
    assert "pazarama:shop2 refunds" in report.examples["unobserved"][0]


async def test_examples_are_bounded_and_the_summary_names_every_kind(rig: Rig) -> None:
    kept = [e for e in rig.publisher.events if e.type != "order.created"]
    truth = await checker.ground_truth([rig.served])
    report = checker.check(
        as_records(kept), truth, rig.observed(), now=rig.clock.now(), slack=NO_SLACK, examples=2
    )
    assert report.counts["missing_created"] == 18
    assert len(report.examples["missing_created"]) == 2
    assert "missing_created: 18" in report.summary()


async def test_ground_truth_reads_outside_the_limits_and_restores_them() -> None:
    sandbox = WebservisSandbox(settings=SandboxSettings(seed=2, initial_orders=40))
    rules = list(sandbox.limits.rules)
    async with serve([sandbox]) as served:
        truth = await checker.ground_truth(served)
    assert sandbox.limits.rules == rules  # restored
    assert sandbox.limits.violations.total() == 0  # 40 details + lists at once: not limited
    assert all(o.raw_status is not None for o in truth.orders.values())
    assert not truth.unread


# --- reading Kafka ---------------------------------------------------------------------------


async def test_read_topics_reads_every_record_of_a_batched_partition(
    kafka_bootstrap: str, topic_name: str
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic_name, 3, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=200, acks="all")
    await producer.start()
    try:
        # One batch per partition: Tansu's ListOffsets says 1, the high watermark 20.
        sent = [
            await producer.send(topic_name, b"%d" % i, key=b"k", partition=i % 3) for i in range(60)
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    records = await checker.read_topics(kafka_bootstrap, [topic_name, "no.such.topic"])
    assert len(records) == 60
    for p in range(3):
        offsets = [r.offset for r in records if r.partition == p]
        assert offsets == list(range(20))


async def test_read_observations_takes_the_newest_checkpoint_per_stream(
    kafka_bootstrap: str, topic_name: str
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic_name, 2, 1)])
    finally:
        await admin.close()
    async with KafkaCheckpointStore(kafka_bootstrap, topic=topic_name) as store:
        for minute in (1, 2, 3):
            await store.save(
                Checkpoint(
                    platform="c2c",
                    account="main",
                    stream="orders",
                    cursor=START + dt.timedelta(minutes=minute),
                    swept_at=START + dt.timedelta(minutes=minute - 1),
                )
            )
    observed = await checker.read_observations(kafka_bootstrap, topic=topic_name)
    assert observed == {
        ("c2c", "main", "orders"): checker.Observation(
            polled_until=START + dt.timedelta(minutes=3),
            since=START + dt.timedelta(minutes=2),
        )
    }


# --- rate limits from request logs -------------------------------------------------------------


def entries(times: Sequence[float], key: str = "shop") -> list[LogEntry]:
    return [
        LogEntry(
            id=f"r{i}",
            seq=i,
            at=START + dt.timedelta(seconds=t),
            method="GET",
            path="/api/v2/order/lists",
            query=[],
            remote="127.0.0.1",
            tenant=key,
        )
        for i, t in enumerate(times)
    ]


def test_a_window_holding_limit_requests_is_compliant() -> None:
    log = entries([i * 2.0 for i in range(25)] + [60.0 + 0.001])  # the first left the window
    assert checker.window_violations(log, limit=25, window=60, key=lambda e: e.tenant) == []


def test_the_request_over_the_limit_in_any_sliding_window_is_a_violation() -> None:
    log = entries([0.0, *[30 + i * 0.1 for i in range(25)], 59.0])
    found = checker.window_violations(log, limit=25, window=60, key=lambda e: e.tenant)
    assert [(v.count, v.at) for v in found] == [
        (26, START + dt.timedelta(seconds=32.4)),
        (27, START + dt.timedelta(seconds=59)),
    ]


def test_keys_have_their_own_windows_and_faults_do_not_count() -> None:
    log = entries([i * 0.1 for i in range(20)], "a") + entries([i * 0.1 for i in range(20)], "b")
    assert checker.window_violations(log, limit=20, window=60, key=lambda e: e.tenant) == []
    log[0].fault = "status"
    log.extend(entries([5.0], "a"))
    assert checker.window_violations(log, limit=20, window=60, key=lambda e: e.tenant) == []
    found = checker.window_violations(log, limit=19, window=60, key=lambda e: e.tenant)
    assert {v.key for v in found} == {"a", "b"}


async def test_rule_violations_replay_a_sandbox_log_against_its_documented_limits() -> None:
    sandbox = WebservisSandbox(settings=SandboxSettings(seed=1))
    headers = {"apikey": "sandbox-api_key", "apisecret": "sandbox-api_secret"}
    async with serve([sandbox]) as served, ClientSession() as http:
        for _ in range(25):
            async with http.get(served[0].base_url + "/auth", headers=headers) as response:
                assert response.status == 200
        assert checker.rule_violations(sandbox) == {"per-shop": []}
        for _ in range(2):
            async with http.get(served[0].base_url + "/auth", headers=headers) as response:
                await response.read()
    found = checker.rule_violations(sandbox)["per-shop"]
    assert [v.count for v in found] == [26, 27] and found[0].key == "main"
    assert sandbox.limits.violations["per-shop"] == 2  # the sandbox refused the same two


async def test_changes_made_while_a_backfill_is_read_are_not_lost() -> None:
    """A first cycle reads the whole horizon and skips its sweep; the next sweep ("updated
    since", Web Servis) must start from when that read began, or every change made while the
    backlog was read and published is lost for good (found by the process tests)."""
    clock = ManualClock(START)
    sandbox = WebservisSandbox(
        clock=clock,
        settings=SandboxSettings(seed=4, initial_orders=12, history=dt.timedelta(hours=3)),
    )
    sandbox.limits.rules.clear()  # the clock stands still between requests: no window empties
    publisher = Recorder()
    real = publisher.publish

    async def slow_publish(events: Sequence[Event]) -> None:
        if not publisher.events:
            sandbox.advance(7200)  # two hours pass while the backlog goes out: orders move on
        await real(events)

    publisher.publish = slow_publish  # type: ignore[method-assign]
    store = MemoryCheckpointStore()
    async with serve([sandbox]) as served, HttpClient() as http:
        budget = RateBudget(RateLimit.from_config(per_minute=100_000))
        client = WebservisClient(
            account="main",
            base_url=served[0].base_url,
            credentials=sandbox.tenant.credentials,
            http=http,
            budget=budget,
        )
        poller = AccountPoller(client, publisher=publisher, store=store, budget=budget, clock=clock)
        for _ in range(3):
            await poller.cycle(sweep=True)
            sandbox.advance(60)
        moved = [o for o in sandbox.world.orders if any(h.at > START for h in o.history)]
        assert moved  # the world did change while the backlog was read
        cps = [decode_checkpoint(raw) for raw in store.saved.values()]
        observed = {(c.platform, c.account, c.stream): checker.observation_of(c) for c in cps}
        truth = await checker.ground_truth(served)
        report = checker.check(
            as_records(publisher.events), truth, observed, now=clock.now(), slack=NO_SLACK
        )
    assert report.ok, report.summary()
    changed = {e.subject for e in publisher.events if e.type == "order.status_changed"}
    assert changed == {str(o.number) for o in moved}
