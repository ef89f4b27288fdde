"""A burst of mixed commands for the five platforms through a real apply :class:`Worker` on a
broker of its own, checked against the sandboxes' ground truth.

Every command's expected outcome and effect is worked out *before* the burst from the orders'
state and the platform's seller tables (the sandboxes' worlds are the platforms' truth), so the
checks do not trust the results they verify:

* exactly one result per command on ``command-results.v1``, with the expected outcome;
* each world shows the commands' intended effect: statuses set in command order, shipments with
  their tracking numbers, nothing written for rejected, invalid, unsupported or expired ones,
  and no write sent twice;
* no documented limit broken (the sandboxes' own refusals and the rules replayed on their
  request logs) and our own configured budgets held in every sliding window;
* Softtr's 1,000 status commands take ≤ 12 HTTP requests, end to end through Kafka, and C2C's
  backlog (a third of its orders with two commands in a row) a few calls per status.

The second test injects faults during a smaller burst (5xx, 429 with Retry-After, timeouts with
the write landing, token expiry, a fault that never ends, poison bytes) and checks the outcomes,
the DLQ and that the worker neither stalls nor crashes.

First, without I/O, what a burst asks of one account's applier: batches as few as keep each
order's commands in order, and a retried command never overtaken by a later one of its order.

Orders are backfilled over the last minute only: every order is at its platform's first status
and no automatic transition (the earliest is five minutes away) can change it during the test.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import random
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from pipeline import checker, platforms
from pipeline.adapter import ApplyResult, Capabilities
from pipeline.applier import AccountApplier, Pending, batches, rounds
from pipeline.broker import EmbeddedBroker
from pipeline.clock import SystemClock
from pipeline.config import Config, HttpConfig, RateLimitConfig, RateLimitDefaults
from pipeline.platforms.c2c.mapping import WRITABLE_STATUS as C2C_STATUS
from pipeline.platforms.pazarama.mapping import WRITABLE_ITEM_STATUS as PAZARAMA_STATUS
from pipeline.platforms.softtr.mapping import WRITABLE_STATUS as SOFTTR_STATUS
from pipeline.ratelimit import RateLimit
from pipeline.sandbox import (
    FaultRule,
    RateLimitRule,
    Sandbox,
    SandboxSettings,
    ServedSandbox,
    per_tenant,
    serve,
)
from pipeline.topics import ensure_topics
from pipeline.up import sandbox_config
from pipeline.worker import APPLIER_GROUP, Worker, prepare_accounts
from schemas import (
    AnyCommand,
    AttachInvoice,
    CommandResult,
    DeadLetter,
    OrderStatus,
    Outcome,
    SetStatus,
    Ship,
    command_attributes,
    decode_result,
    encode_command,
    to_headers,
    topics,
)

pytestmark = pytest.mark.integration

S = OrderStatus
O = Outcome  # noqa: E741 - read as a column of expectations
ACCOUNT = "main"
#: Pazarama documents no limit; ours comes from the config (an operator's override) and the
#: sandbox is told to enforce the same numbers, so an overshoot is refused and counted.
PAZARAMA_LIMIT = RateLimitConfig(per_second=40, per_minute=1200)
ECARSI_CARRIER = "Yurtiçi Kargo"


# --- batching and retries of one account's backlog (no I/O) ------------------------------------


def _pending(n: int, order: str, kind: str) -> Pending:
    common: dict[str, Any] = {
        "command_id": f"c{n}",
        "platform": "x",
        "account": "a",
        "order_id": order,
        "issued_at": dt.datetime.now(dt.UTC),
    }
    if kind == "order.ship":
        return Pending(
            command=Ship(**common, carrier="Aras", tracking_number=str(n)),
            received_at=common["issued_at"],
        )
    return Pending(command=SetStatus(**common, status=S.PREPARING), received_at=common["issued_at"])


@given(
    st.lists(
        st.tuples(st.sampled_from("abcdef"), st.sampled_from(["order.set_status", "order.ship"])),
        max_size=60,
    ),
    st.integers(min_value=1, max_value=7),
)
def test_rounds_keep_each_orders_commands_in_order_in_few_batches(
    spec: list[tuple[str, str]], limit: int
) -> None:
    items = [_pending(n, order, kind) for n, (order, kind) in enumerate(spec)]
    out = rounds(items, lambda kind: limit)
    flat = [p for batch in out for p in batch]
    assert sorted(id(p) for p in flat) == sorted(id(p) for p in items)  # each exactly once
    for batch in out:
        assert 1 <= len(batch) <= limit
        assert len({p.command.order_id for p in batch}) == len(batch)
        assert len({p.command.type for p in batch}) == 1
    for order in "abcdef":
        of = [p for p in flat if p.command.order_id == order]
        assert of == [p for p in items if p.command.order_id == order]
    assert len(out) <= len(batches(items, limit))  # never more calls than cutting at repeats


def test_a_backlog_with_repeated_orders_costs_rounds_not_repeats() -> None:
    # 100 orders, each with two status commands in a row (e.g. "preparing", then "shipped").
    items = [_pending(n, f"o{n // 2}", "order.set_status") for n in range(200)]
    assert len(rounds(items, lambda kind: 100)) == 2
    assert len(batches(items, 100)) == 101  # cutting at every repeat: [o0], [o0, o1], [o1, o2]…


class _NoWait(SystemClock):
    async def sleep(self, seconds: float) -> None:
        return None


class _FlakyClient:
    """Applies every command, except that the first attempt of each one in ``flaky`` fails
    (retriable), and records the commands in the order they reached the platform."""

    platform = "fake"
    account = "a"
    capabilities = Capabilities(
        commands=frozenset({"order.set_status", "order.ship"}),
        max_batch={"order.set_status": 100, "order.ship": 100},
    )

    def __init__(self, flaky: set[str]) -> None:
        self.flaky = flaky
        self.seen: list[str] = []

    async def apply(self, commands: Sequence[AnyCommand]) -> list[ApplyResult]:
        answers = []
        for c in commands:
            self.seen.append(c.command_id)
            if c.command_id in self.flaky:
                self.flaky.discard(c.command_id)
                answers.append(
                    ApplyResult(
                        command_id=c.command_id, outcome=O.FAILED, error="503", retriable=True
                    )
                )
            else:
                answers.append(ApplyResult(command_id=c.command_id, outcome=O.APPLIED))
        return answers


async def test_a_retried_command_is_not_overtaken_by_a_later_command_of_its_order() -> None:
    # "preparing" for order a fails once; "shipped" for a must wait for its retry, while the
    # other orders' commands go on.
    items = [
        _pending(1, "a", "order.set_status"),
        _pending(2, "b", "order.set_status"),
        _pending(3, "a", "order.ship"),
        _pending(4, "c", "order.set_status"),
    ]
    client = _FlakyClient({"c1"})
    applier = AccountApplier(client, clock=_NoWait())  # type: ignore[arg-type]
    results = await applier.apply(items)
    assert [r.outcome for r in results] == [O.APPLIED] * 4
    retried_at = max(i for i, cid in enumerate(client.seen) if cid == "c1")
    assert client.seen.index("c3") > retried_at, client.seen
    assert [r.attempts for r in results] == [2, 1, 1, 1]  # waiting cost "shipped" no attempt


# --- the plan: commands with what each must do --------------------------------------------------


@dataclasses.dataclass
class Expected:
    """What the burst must leave behind, from the platforms' point of view."""

    #: (platform, order id) → raw status every item must have at the end.
    status: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)
    #: (platform, order id) → tracking numbers that must be on the order's items.
    tracking: dict[tuple[str, str], set[str]] = dataclasses.field(default_factory=dict)
    #: (platform, order id) → applied writes the platform must have recorded, no more.
    writes: collections.Counter[tuple[str, str]] = dataclasses.field(
        default_factory=collections.Counter
    )
    #: Orders commands were sent for that must be left as they were.
    untouched: set[tuple[str, str]] = dataclasses.field(default_factory=set)


@dataclasses.dataclass
class Plan:
    commands: list[AnyCommand] = dataclasses.field(default_factory=list)
    outcomes: dict[str, frozenset[Outcome]] = dataclasses.field(default_factory=dict)
    expected: Expected = dataclasses.field(default_factory=Expected)

    def add(self, command: AnyCommand, *outcomes: Outcome) -> None:
        self.commands.append(command)
        self.outcomes[command.command_id] = frozenset(outcomes)

    def ids(self, platform: str) -> list[str]:
        return [c.command_id for c in self.commands if c.platform == platform]


class Ids:
    def __init__(self, prefix: str) -> None:
        self.prefix, self.n = prefix, 0

    def __call__(self, platform: str) -> dict[str, Any]:
        self.n += 1
        return {
            "command_id": f"{self.prefix}-{platform}-{self.n}",
            "platform": platform,
            "account": ACCOUNT,
            "issued_at": dt.datetime.now(dt.UTC),
        }


def _box(served: Sequence[ServedSandbox], platform: str) -> Sandbox:
    return next(s.sandbox for s in served if s.sandbox.platform == platform)


def plan_softtr(
    plan: Plan, box: Sandbox, ids: Ids, rng: random.Random, *, statuses: int, ships: int = 0
) -> None:
    """``statuses`` status commands on distinct orders (Softtr allows every move), then
    ``ships`` order.ship commands on others; two order numbers Softtr never issues."""
    orders = [o.id for o in box.world.orders]
    assert len(orders) >= statuses + ships
    for order in orders[:statuses]:
        status = rng.choice([S.PREPARING, S.IN_SUPPLY, S.SHIPPED, S.DELIVERED])
        plan.add(SetStatus(**ids("softtr"), order_id=order, status=status), O.APPLIED)
        plan.expected.status["softtr", order] = SOFTTR_STATUS[status]
        plan.expected.writes["softtr", order] += 1
    for order in orders[statuses : statuses + ships]:
        ship = Ship(**ids("softtr"), order_id=order, carrier="Aras Kargo", tracking_number="A1")
        plan.add(ship, O.APPLIED)
        plan.expected.status["softtr", order] = "SHIPPED"
        plan.expected.writes["softtr", order] += 1
    for bad in ("not-an-order", "31022026250000-ZZ"):
        plan.add(SetStatus(**ids("softtr"), order_id=bad, status=S.PREPARING), O.INVALID)


def plan_c2c(plan: Plan, box: Sandbox, ids: Ids, rng: random.Random, *, orders: int) -> None:
    """One or two status commands per order, outcomes from C2C's seller table; unknown codes;
    order.ship (C2C has no tracking field)."""
    lifecycle = box.lifecycle
    for order in box.world.orders[:orders]:
        current = order.status
        targets = [rng.choice([S.PREPARING, S.SHIPPED, S.AWAITING_APPROVAL])]
        if rng.random() < 0.3:
            targets.append(rng.choice([S.PREPARING, S.SHIPPED]))
        key = ("c2c", order.id)
        for status in targets:
            target = C2C_STATUS[status]
            if current == target:
                outcome = O.ALREADY_APPLIED
            elif lifecycle.seller_allows(current, target):
                outcome = O.APPLIED
                current = target
                plan.expected.writes[key] += 1
            else:
                outcome = O.REJECTED
            plan.add(SetStatus(**ids("c2c"), order_id=order.id, status=status), outcome)
        plan.expected.status[key] = current
        if current == order.status:
            plan.expected.untouched.add(key)
    for n in range(3):
        plan.add(SetStatus(**ids("c2c"), order_id=f"99999{n}", status=S.PREPARING), O.REJECTED)
    first = box.world.orders[0].id
    plan.add(Ship(**ids("c2c"), order_id=first, carrier="MNG", tracking_number="1"), O.UNSUPPORTED)


def plan_pazarama(plan: Plan, box: Sandbox, ids: Ids, *, orders: int) -> None:
    """Scenarios per order (items all at 3, "new"): the document's 3 → 12 → 5 → 11 flow."""

    def ship(order: str, n: int) -> Ship:
        return Ship(
            **ids("pazarama"), order_id=order, carrier="Yurtiçi Kargo", tracking_number=f"YK{n}"
        )

    def status(order: str, value: OrderStatus) -> SetStatus:
        return SetStatus(**ids("pazarama"), order_id=order, status=value)

    p = "pazarama"
    for n, order in enumerate(o.id for o in box.world.orders[:orders]):
        key = (p, order)
        scenario = n % 7
        if scenario == 0:  # preparing
            plan.add(status(order, S.PREPARING), O.APPLIED)
            plan.expected.status[key] = str(PAZARAMA_STATUS[S.PREPARING])
            plan.expected.writes[key] += 1
        elif scenario == 1:  # shipped with a tracking number (3 → 12 first, then 5)
            plan.add(ship(order, n), O.APPLIED)
            plan.expected.status[key] = "5"
            plan.expected.tracking[key] = {f"YK{n}"}
            plan.expected.writes[key] += 2
        elif scenario == 2:  # shipped, then delivered
            plan.add(ship(order, n), O.APPLIED)
            plan.add(status(order, S.DELIVERED), O.APPLIED)
            plan.expected.status[key] = "11"
            plan.expected.tracking[key] = {f"YK{n}"}
            plan.expected.writes[key] += 3
        elif scenario == 3:  # delivered before shipping: refused before any write
            plan.add(status(order, S.DELIVERED), O.REJECTED)
            plan.expected.status[key] = "3"
            plan.expected.untouched.add(key)
        elif scenario == 4:  # the same command twice: the second finds it done
            plan.add(status(order, S.PREPARING), O.APPLIED)
            plan.add(status(order, S.PREPARING), O.ALREADY_APPLIED)
            plan.expected.status[key] = "12"
            plan.expected.writes[key] += 1
        elif scenario == 5:  # the same shipment twice
            plan.add(ship(order, n), O.APPLIED)
            plan.add(ship(order, n), O.ALREADY_APPLIED)
            plan.expected.status[key] = "5"
            plan.expected.tracking[key] = {f"YK{n}"}
            plan.expected.writes[key] += 2
        else:  # "shipped" without a carrier: order.ship is the way
            plan.add(status(order, S.SHIPPED), O.INVALID)
            plan.expected.status[key] = "3"
            plan.expected.untouched.add(key)


def plan_ecarsi(plan: Plan, box: Sandbox, ids: Ids, *, ships: int) -> list[str]:
    """``ships`` shipments (one repeated), an unknown order, a desi out of range, a status
    command e-Çarşı has no endpoint for. Returns the shipped order ids."""
    p = "ecarsi"
    orders = [o.id for o in box.world.orders[:ships]]
    for n, order in enumerate(orders):
        ship = Ship(
            **ids(p), order_id=order, carrier=ECARSI_CARRIER, tracking_number=f"EC{n}", desi=2
        )
        plan.add(ship, O.APPLIED)
        plan.expected.status[p, order] = "shipped"
        plan.expected.tracking[p, order] = {f"EC{n}"}
        plan.expected.writes[p, order] += 1
    again = Ship(
        **ids(p), order_id=orders[0], carrier=ECARSI_CARRIER, tracking_number="EC0", desi=2
    )
    plan.add(again, O.ALREADY_APPLIED)
    plan.add(
        Ship(**ids(p), order_id="99999999", carrier=ECARSI_CARRIER, tracking_number="X", desi=2),
        O.REJECTED,
    )
    spare = box.world.orders[ships].id
    plan.add(
        Ship(**ids(p), order_id=spare, carrier=ECARSI_CARRIER, tracking_number="Y", desi=500),
        O.INVALID,
    )
    plan.add(SetStatus(**ids(p), order_id=spare, status=S.PREPARING), O.UNSUPPORTED)
    plan.expected.untouched.add((p, spare))
    return orders


def plan_webservis(plan: Plan, box: Sandbox, ids: Ids, *, count: int) -> None:
    orders = [o.id for o in box.world.orders]
    for n in range(count):
        order = orders[n % len(orders)]
        match n % 3:
            case 0:
                command: AnyCommand = SetStatus(
                    **ids("webservis"), order_id=order, status=S.PREPARING
                )
            case 1:
                command = Ship(
                    **ids("webservis"), order_id=order, carrier="PTT", tracking_number="1"
                )
            case _:
                command = AttachInvoice(**ids("webservis"), order_id=order, url="https://x/1.pdf")
        plan.add(command, O.UNSUPPORTED)
        plan.expected.untouched.add(("webservis", order))


def plan_expired(plan: Plan, served: Sequence[ServedSandbox], ids: Ids) -> None:
    """One command per platform that expired before it was sent: no request, no write."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    for s in served:
        p = s.sandbox.platform
        order = s.sandbox.world.orders[-1]
        plan.add(
            SetStatus(**ids(p), order_id=order.id, status=S.PREPARING, expires_at=past),
            O.EXPIRED,
        )
        if (p, order.id) not in plan.expected.status:
            plan.expected.untouched.add((p, order.id))


def interleave(plan: Plan, rng: random.Random) -> None:
    """Mix the platforms' commands at random, keeping each account's own order."""
    queues: dict[str, collections.deque[AnyCommand]] = collections.defaultdict(collections.deque)
    for command in plan.commands:
        queues[command.platform].append(command)
    mixed: list[AnyCommand] = []
    while queues:
        platform = rng.choices(list(queues), weights=[len(q) for q in queues.values()])[0]
        mixed.append(queues[platform].popleft())
        if not queues[platform]:
            del queues[platform]
    plan.commands = mixed


# --- the rig: broker, sandboxes, worker ---------------------------------------------------------


SIZES = {"softtr": 1100, "c2c": 240, "pazarama": 120, "ecarsi": 20, "webservis": 5}


def build_boxes(seed: int, sizes: dict[str, int] = SIZES) -> list[Sandbox]:
    boxes = []
    for n, platform in enumerate(sorted(sizes)):
        settings = SandboxSettings(
            seed=seed * 10 + n,
            initial_orders=sizes[platform],
            history=dt.timedelta(minutes=1),
            max_log_entries=50_000,
        )
        cls = platforms.sandbox_class(platform)
        kwargs: dict[str, Any] = {}
        if platform == "pazarama":
            kwargs["rules"] = [
                RateLimitRule("ours-per-second", PAZARAMA_LIMIT.per_second or 0, 1.0, per_tenant),
                RateLimitRule("ours-per-minute", PAZARAMA_LIMIT.per_minute or 0, 60.0, per_tenant),
            ]
        box = cls(settings=settings, **kwargs)
        assert isinstance(box, Sandbox)
        boxes.append(box)
    return boxes


def burst_config(
    served: Sequence[ServedSandbox], bootstrap: str, *, http_timeout: float = 10.0
) -> tuple[Config, dict[str, str]]:
    config, environ = sandbox_config(list(served), bootstrap)
    accounts = [
        msgspec.structs.replace(a, rate_limit=PAZARAMA_LIMIT) if a.platform == "pazarama" else a
        for a in config.accounts
    ]
    http = HttpConfig(total_timeout=http_timeout, connect_timeout=2.0)
    # An apply-only worker's budget is the commands' share of every window: most of it here.
    shares = RateLimitDefaults(commands_share=0.9)
    return (
        msgspec.structs.replace(config, accounts=accounts, http=http, rate_limit=shares),
        environ,
    )


Record = tuple[bytes, bytes, list[tuple[str, bytes]]]


def records_of(commands: Iterable[AnyCommand]) -> list[Record]:
    return [
        (
            topics.account_key(c.platform, c.account),
            encode_command(c),
            to_headers(command_attributes(c)),
        )
        for c in commands
    ]


async def produce(bootstrap: str, records: Sequence[Record]) -> None:
    """Everything at once, acknowledged (the burst is in the topic before the worker starts)."""
    await ensure_topics(bootstrap, replication_factor=1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topics.COMMANDS, value, key=key, headers=headers)
            for key, value, headers in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_results(bootstrap: str) -> list[CommandResult]:
    found = await checker.read_topics(bootstrap, [topics.COMMAND_RESULTS])
    return [decode_result(r.value or b"") for r in found]


async def committed_behind(bootstrap: str) -> dict[int, int]:
    """Per ``commands.v1`` partition: records after the group's committed offset."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=APPLIER_GROUP, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = [
            TopicPartition(topics.COMMANDS, p)
            for p in sorted(consumer.partitions_for_topic(topics.COMMANDS) or ())
        ]
        found = await checker.read_topics(bootstrap, [topics.COMMANDS])
        ends: collections.Counter[int] = collections.Counter()
        for r in found:
            ends[r.partition] = max(ends[r.partition], r.offset + 1)
        behind = {}
        for tp in tps:
            done = await consumer.committed(tp) or 0
            if ends[tp.partition] > done:
                behind[tp.partition] = ends[tp.partition] - done
        return behind
    finally:
        await consumer.stop()


class Running:
    """An apply worker running in this process until :meth:`stop`."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.stop_event = asyncio.Event()
        self.task = asyncio.create_task(worker.run(self.stop_event), name="apply-worker")

    def answered(self) -> int:
        commands = self.worker.commands
        return 0 if commands is None else sum(commands.stats.results.values())

    async def wait_answered(self, count: int, within: float) -> float:
        """Until the worker published ``count`` results; fails if it stalls or dies."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        last, last_change = -1, started
        async with asyncio.timeout(within):
            while self.answered() < count:
                if self.task.done():
                    self.task.result()
                    pytest.fail("the worker stopped by itself")
                now = self.answered()
                if now != last:
                    last, last_change = now, loop.time()
                elif loop.time() - last_change > 20:
                    pytest.fail(f"the worker stalled at {now} of {count} results: {self.state()}")
                await asyncio.sleep(0.1)
        return loop.time() - started

    def state(self) -> str:
        commands = self.worker.commands
        if commands is None:
            return "not started"
        # Diagnostics only: the consumer's per-account queues are not public.
        queues = {k: q.qsize() for k, q in getattr(commands, "_queues", {}).items()}
        budgets = {
            f"{p}:{a}": (b.usage().command.waiting, round(b.usage().command_available_in, 1))
            for (p, a), b in self.worker.limits
        }
        return f"queues {queues}, budgets {budgets}, stats {commands.stats}"

    async def stop(self) -> None:
        self.stop_event.set()
        await asyncio.wait_for(self.task, 30)


@dataclasses.dataclass
class Rig:
    broker: EmbeddedBroker
    served: list[ServedSandbox]
    config: Config
    environ: dict[str, str]

    def start(self) -> Running:
        worker = Worker(
            self.config,
            prepare_accounts(self.config, self.environ),
            bootstrap=self.broker.bootstrap,
            embedded=True,
            roles=frozenset({"apply"}),
        )
        return Running(worker)


async def _rig(seed: int, sizes: dict[str, int], *, http_timeout: float) -> AsyncIterator[Rig]:
    async with EmbeddedBroker() as broker, serve(build_boxes(seed, sizes)) as served:
        config, environ = burst_config(served, broker.bootstrap, http_timeout=http_timeout)
        yield Rig(broker, served, config, environ)


# --- the checks ---------------------------------------------------------------------------------


def one_result_each(plan: Plan, results: Sequence[CommandResult]) -> dict[str, CommandResult]:
    counts = collections.Counter(r.command_id for r in results)
    repeated = {k: n for k, n in counts.items() if n > 1}
    assert not repeated, f"commands with more than one result: {repeated}"
    by_id = {r.command_id: r for r in results}
    missing = set(plan.outcomes) - set(by_id)
    assert not missing, f"{len(missing)} commands without a result, e.g. {sorted(missing)[:5]}"
    return by_id


def wrong_outcomes(plan: Plan, by_id: dict[str, CommandResult]) -> list[str]:
    return [
        f"{cid}: {by_id[cid].outcome} not in {sorted(o.value for o in want)}: "
        f"{by_id[cid].message or by_id[cid].error}"
        for cid, want in plan.outcomes.items()
        if by_id[cid].outcome not in want
    ]


def truth_mismatches(plan: Plan, served: Sequence[ServedSandbox]) -> list[str]:
    """Where a world differs from the effect the commands were meant to have."""
    worlds = {s.sandbox.platform: s.sandbox.world for s in served}
    problems = []
    for (p, order_id), status in plan.expected.status.items():
        order = worlds[p].get(order_id)
        assert order is not None
        seen = {item.status for item in order.items}
        if seen != {status}:
            problems.append(f"{p} {order_id}: items at {sorted(seen)}, expected {status}")
    for (p, order_id), numbers in plan.expected.tracking.items():
        order = worlds[p].get(order_id)
        assert order is not None
        have = {i.shipment.tracking_number for i in order.items if i.shipment is not None}
        if not numbers <= have:
            problems.append(f"{p} {order_id}: tracking {sorted(have)}, expected {sorted(numbers)}")
    applied: collections.Counter[tuple[str, str]] = collections.Counter()
    for p, world in worlds.items():
        for write in world.writes:
            if write.outcome == "applied":
                applied[p, write.target] += 1
    for key in set(plan.expected.writes) | set(applied):
        if applied[key] != plan.expected.writes[key]:
            problems.append(
                f"{key[0]} {key[1]}: {applied[key]} applied writes, "
                f"expected {plan.expected.writes[key]}"
            )
    for key in plan.expected.untouched:
        order = worlds[key[0]].get(key[1])
        if order is not None and any(h.actor == "seller" for h in order.history):
            problems.append(f"{key[0]} {key[1]}: changed by a seller write, expected untouched")
    return problems


def limit_findings(served: Sequence[ServedSandbox], config: Config) -> dict[str, int]:
    """Refusals by the sandboxes, their documented rules replayed on the request logs, and our
    own configured budget's windows replayed where the platform documents none."""
    found: dict[str, int] = {}
    overrides = {a.platform: a.rate_limit for a in config.accounts}
    for s in served:
        box = s.sandbox
        for rule, count in box.limits.violations.items():
            found[f"{box.platform} {rule} refused"] = count
        for rule, violations in checker.rule_violations(box).items():
            found[f"{box.platform} {rule} replayed"] = len(violations)
        override = overrides.get(box.platform)
        limit = platforms.get(box.platform).default_limit
        if override is not None:
            windows = msgspec.structs.asdict(override)
            windows.pop("commands_share", None)
            limit = limit.merged(RateLimit.from_config(**windows))
        for window in limit.windows:
            own = checker.window_violations(
                box.log.entries,
                limit=window.limit,
                window=window.period,
                key=lambda entry: entry.tenant,
            )
            found[f"{box.platform} budget {window.limit}/{window.period:g}s"] = len(own)
    return found


def requests(box: Sandbox, path: str = "") -> int:
    return sum(1 for e in box.log.entries if path in e.path)


# --- the tests ----------------------------------------------------------------------------------


@pytest.mark.timeout(120)
async def test_a_mixed_burst_has_one_result_per_command_and_the_intended_effect() -> None:
    rng = random.Random(20260511)
    async for rig in _rig(1, SIZES, http_timeout=10.0):
        served = rig.served
        ids = Ids("burst")
        plan = Plan()
        plan_softtr(plan, _box(served, "softtr"), ids, rng, statuses=1000)
        plan_c2c(plan, _box(served, "c2c"), ids, rng, orders=200)
        plan_pazarama(plan, _box(served, "pazarama"), ids, orders=100)
        plan_ecarsi(plan, _box(served, "ecarsi"), ids, ships=12)
        plan_webservis(plan, _box(served, "webservis"), ids, count=30)
        plan_expired(plan, served, ids)
        interleave(plan, rng)
        await produce(rig.broker.bootstrap, records_of(plan.commands))

        running = rig.start()
        try:
            took = await running.wait_answered(len(plan.commands), within=90)
        finally:
            await running.stop()
        results = await read_results(rig.broker.bootstrap)
        by_id = one_result_each(plan, results)
        assert len(results) == len(plan.commands)
        wrong = wrong_outcomes(plan, by_id)
        assert not wrong, f"{len(wrong)} unexpected outcomes:\n" + "\n".join(wrong[:20])
        problems = truth_mismatches(plan, served)
        assert not problems, "\n".join(problems[:20])
        limits = limit_findings(served, rig.config)
        assert not any(limits.values()), limits
        softtr_calls = requests(_box(served, "softtr"), "/updateOrderStatus")
        assert softtr_calls <= 12, softtr_calls
        # ~260 C2C commands, a third of the orders with two in a row: a few calls per target.
        assert requests(_box(served, "c2c")) <= 40
        assert requests(_box(served, "webservis")) == 0
        assert await committed_behind(rig.broker.bootstrap) == {}
        print(
            f"\n{len(plan.commands)} commands answered in {took:.1f}s; "
            f"outcomes {dict(collections.Counter(r.outcome.value for r in results))}; "
            f"requests { ({s.sandbox.platform: requests(s.sandbox) for s in served}) }; "
            f"softtr updateOrderStatus calls {softtr_calls}"
        )


FAULT_SIZES = {"softtr": 260, "c2c": 120, "pazarama": 80, "ecarsi": 16, "webservis": 3}
#: Seconds before our HTTP client gives up on an answer (the timeout faults hold longer).
FAULT_HTTP_TIMEOUT = 1.5
HELD = 4.0


def arm_faults(served: Sequence[ServedSandbox]) -> dict[str, list[int]]:
    """Transient faults on every platform that writes, and one that never ends."""
    rules = {
        "softtr": [
            FaultRule(kind="status", status=503, path="updateOrderStatus", times=2),
            FaultRule(kind="rate_limited", path="updateOrderStatus", times=1, retry_after=1),
            FaultRule(kind="timeout", path="updateOrderStatus", times=1, seconds=HELD),
            FaultRule(kind="html_error", path="updateOrderStatus", times=1, skip=2),
        ],
        "c2c": [
            FaultRule(kind="html_error", status=502, path="GetOrderInfoByOrdersCode", times=1),
            # The write lands but its answer never arrives: the retry's read finds it done.
            FaultRule(
                kind="timeout", path="UpdateOrderState", times=1, seconds=HELD, applied=True
            ),
            FaultRule(kind="malformed_json", path="UpdateOrderState", times=1),
        ],
        "pazarama": [
            FaultRule(kind="token_expiry", path="getOrdersForApi", times=1, skip=10),
            FaultRule(kind="token_expiry", path="bulk-status-update", times=1, skip=3),
            FaultRule(kind="status", status=500, path="bulk-status-update", times=2, skip=5),
            FaultRule(kind="rate_limited", path="getOrdersForApi", times=1, skip=30),
            FaultRule(
                kind="timeout",
                path="updateOrderStatusList",
                times=1,
                skip=4,
                seconds=HELD,
                applied=True,
            ),
            FaultRule(kind="status", status=503, path="invoice-link"),  # never ends
        ],
        "ecarsi": [
            FaultRule(kind="token_expiry", path="/orders/", times=1, skip=4),
            FaultRule(
                kind="timeout", method="POST", path="/shipping", times=1, skip=1,
                seconds=HELD, applied=True,
            ),
            FaultRule(kind="rate_limited", method="POST", path="/shipping", times=1, skip=3),
            FaultRule(kind="status", status=503, method="GET", path="/orders/", times=1, skip=8),
        ],
    }  # fmt: skip
    armed: dict[str, list[int]] = {}
    for s in served:
        for rule in rules.get(s.sandbox.platform, []):
            armed.setdefault(s.sandbox.platform, []).append(s.sandbox.faults.add(rule))
    return armed


def poison() -> list[Record]:
    """Bytes no decoder accepts, on three accounts' partitions."""
    return [
        (b"softtr:main", b"\xff{not json", [("ce_id", b"poison-1")]),
        (b"pazarama:main", b'{"type": "order.ship", "command_id": "p-2"}', []),
        (b"c2c:main", b"", [("ce_id", b"poison-3")]),
    ]


@pytest.mark.timeout(120)
async def test_faults_during_a_burst_end_in_the_right_outcomes_and_poison_goes_to_the_dlq() -> None:
    rng = random.Random(7)
    async for rig in _rig(2, FAULT_SIZES, http_timeout=FAULT_HTTP_TIMEOUT):
        served = rig.served
        ids = Ids("fault")
        plan = Plan()
        plan_softtr(plan, _box(served, "softtr"), ids, rng, statuses=220, ships=20)
        plan_c2c(plan, _box(served, "c2c"), ids, rng, orders=100)
        plan_pazarama(plan, _box(served, "pazarama"), ids, orders=56)
        plan_ecarsi(plan, _box(served, "ecarsi"), ids, ships=10)
        pazarama = _box(served, "pazarama")
        stuck = [o.id for o in pazarama.world.orders[60:61]]  # five attempts: ~4-8 s of backoff
        for order in stuck:
            url = f"https://faturalar.example/{order}.pdf"
            plan.add(AttachInvoice(**ids("pazarama"), order_id=order, url=url), O.FAILED)
            plan.expected.untouched.add(("pazarama", order))
        interleave(plan, rng)
        # A write whose answer was lost may be found done by the retry's read.
        for command in plan.commands:
            want = plan.outcomes[command.command_id]
            if command.platform != "softtr" and O.APPLIED in want:
                plan.outcomes[command.command_id] = want | {O.ALREADY_APPLIED}
        armed = arm_faults(served)
        records = records_of(plan.commands)
        for n, bad in enumerate(poison()):  # in the middle: later commands must still go
            records.insert(len(records) * (n + 1) // 4, bad)
        await produce(rig.broker.bootstrap, records)

        running = rig.start()
        expected = len(plan.commands) + 2  # two poison records name their command (ce_id)
        try:
            took = await running.wait_answered(expected, within=90)
            assert not running.task.done(), "the worker stopped"
        finally:
            await running.stop()
        results = await read_results(rig.broker.bootstrap)
        by_id = one_result_each(plan, results)
        assert len(results) == expected
        assert by_id["poison-1"].outcome is O.INVALID and by_id["poison-3"].outcome is O.INVALID
        wrong = wrong_outcomes(plan, by_id)
        assert not wrong, f"{len(wrong)} unexpected outcomes:\n" + "\n".join(wrong[:20])
        for order in stuck:
            (result,) = [r for r in results if r.order_id == order]
            assert result.attempts == 5 and "503" in (result.error or ""), result
        problems = truth_mismatches(plan, served)
        assert not problems, "\n".join(problems[:20])
        limits = limit_findings(served, rig.config)
        assert not any(limits.values()), limits
        for s in served:  # every armed fault met the requests it was meant for
            for armed_fault in s.sandbox.faults.rules:
                if armed_fault.rule.times is not None:
                    assert armed_fault.fired == armed_fault.rule.times, (
                        s.sandbox.platform,
                        armed_fault,
                    )
        retried = [r for r in results if r.attempts > 1 and r.outcome is not O.FAILED]
        assert retried, "no command needed a second attempt: the faults missed"

        found = await checker.read_topics(rig.broker.bootstrap, [topics.COMMANDS_DLQ])
        letters = [msgspec.json.decode(r.value or b"", type=DeadLetter) for r in found]
        assert sorted(ltr.value or b"" for ltr in letters) == sorted(v for _, v, _ in poison())
        assert all("undecodable" in ltr.error or "invalid" in ltr.error for ltr in letters)
        assert await committed_behind(rig.broker.bootstrap) == {}
        print(
            f"\n{len(plan.commands)} commands + 3 poison answered in {took:.1f}s; "
            f"outcomes {dict(collections.Counter(r.outcome.value for r in results))}; "
            f"retried {len(retried)}; faults fired "
            f"{ {s.sandbox.platform: dict(s.sandbox.faults.fired) for s in served} }"
        )
        del armed
