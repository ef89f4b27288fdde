"""Fleet assignment against the real broker: accounts spread over workers by consumer-group
partitions, one owner per account, and a stopped worker's accounts taken over."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from pipeline.broker import EMBEDDED_CONSUMER_TIMEOUTS
from pipeline.checkpoints import MemoryCheckpointStore
from pipeline.clock import SystemClock
from pipeline.fleet import ACCOUNT_PARTITIONS, PollFleet, account_partition
from pipeline.http import HttpClient
from pipeline.platforms.pazarama.client import PazaramaClient
from pipeline.platforms.pazarama.sandbox import PazaramaSandbox
from pipeline.poller import AccountPoller, PollSettings
from pipeline.ratelimit import RateBudget, RateLimit
from pipeline.sandbox import SandboxSettings, ServedSandbox, serve
from pipeline.status import AccountRegistration
from schemas import Event, topics

ACCOUNTS = [f"shop{n}" for n in range(6)]


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, events: Sequence[Event]) -> None:
        self.events.extend(events)


async def _accounts_topic(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics([NewTopic(topics.ACCOUNTS, ACCOUNT_PARTITIONS, 1)])
    finally:
        await admin.close()


class Registrations:
    """Stands in for the publisher: what the fleet registers on ``_pipeline.accounts``."""

    def __init__(self) -> None:
        self.sent: list[AccountRegistration] = []

    async def send_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        assert topic == topics.ACCOUNTS
        registration = msgspec.json.decode(value or b"", type=AccountRegistration)
        assert key == f"{registration.platform}:{registration.account}".encode()
        self.sent.append(registration)

    def owners(self) -> dict[str, str | None]:
        """Newest registration per account: its worker, or None once released."""
        newest = {f"{r.platform}:{r.account}": r for r in self.sent}
        return {k: r.worker if r.owned else None for k, r in newest.items()}


class World:
    def __init__(
        self, served: ServedSandbox, sandbox: PazaramaSandbox, http: HttpClient, bootstrap: str
    ) -> None:
        self.served, self.sandbox, self.http, self.bootstrap = served, sandbox, http, bootstrap
        self.store = MemoryCheckpointStore()  # stands in for the shared checkpoint topic
        self.publisher = Recorder()
        self.registrations = Registrations()
        self.group = f"test-fleet-{uuid.uuid4().hex[:8]}"

    def fleet(self) -> PollFleet:
        async def make(platform: str, account: str) -> AccountPoller:
            budget = RateBudget(RateLimit.from_config(per_minute=10_000))
            client = PazaramaClient(
                account=account,
                base_url=self.served.base_url,
                token_url=self.served.root_url + "/connect/token",
                credentials={
                    "client_id": f"sandbox-{account}-client_id",
                    "client_secret": f"sandbox-{account}-client_secret",
                },
                http=self.http,
                budget=budget,
            )
            return AccountPoller(
                client,
                publisher=self.publisher,
                store=self.store,
                budget=budget,
                clock=SystemClock(),
                settings=PollSettings(floor=0.2, sweep_every=3),
            )

        def consumer() -> AIOKafkaConsumer:
            return AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                group_id=self.group,
                enable_auto_commit=False,
                **EMBEDDED_CONSUMER_TIMEOUTS,
            )

        return PollFleet(
            [("pazarama", a) for a in ACCOUNTS],
            make_poller=make,
            consumer_factory=consumer,
            stop_timeout=5,
            registrations=self.registrations,
        )

    def polled(self) -> set[str]:
        return {e.account for e in self.publisher.events}


@pytest.fixture
async def world(kafka_bootstrap: str) -> AsyncIterator[World]:
    await _accounts_topic(kafka_bootstrap)
    sandbox = PazaramaSandbox(settings=SandboxSettings(seed=9, initial_orders=0))
    for account in ACCOUNTS:
        sandbox.add_tenant(account, seed=hash(account) % 1000, initial_orders=4)
    async with serve([sandbox]) as served, HttpClient() as http:
        yield World(served[0], sandbox, http, kafka_bootstrap)


async def _until(predicate: object, within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.1)


def test_partition_is_stable_and_spread() -> None:
    parts = {account_partition("pazarama", f"shop{n}") for n in range(200)}
    assert len(parts) == ACCOUNT_PARTITIONS
    assert account_partition("pazarama", "shop1") == account_partition("pazarama", "shop1")


async def test_accounts_are_shared_and_taken_over(world: World) -> None:
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    a, b = world.fleet(), world.fleet()
    task_a = asyncio.create_task(a.run(stop_a))
    try:
        await _until(lambda: world.polled() == set(ACCOUNTS))
        assert a.state.accounts == {f"pazarama:{x}" for x in ACCOUNTS}
        task_b = asyncio.create_task(b.run(stop_b))
        await _until(
            lambda: (
                b.state.accounts
                and a.state.accounts
                and len(a.state.accounts) + len(b.state.accounts) == len(ACCOUNTS)
            )
        )
        assert not a.state.accounts & b.state.accounts  # one owner per account
        moved = set(b.state.accounts)
        assert {k for k, w in world.registrations.owners().items() if w == b.worker} == moved
        stop_b.set()
        await asyncio.wait_for(task_b, 15)
        await _until(lambda: a.state.accounts >= moved)  # the survivor took them back
        assert world.registrations.owners() == {k: a.worker for k in a.state.accounts}
    finally:
        stop_a.set()
        stop_b.set()
        await asyncio.wait_for(task_a, 15)
    created = [e for e in world.publisher.events if e.type == "order.created"]
    expected = sum(
        len(t.world.orders) for label, t in world.sandbox.tenants.items() if label in ACCOUNTS
    )
    assert len({e.id for e in created}) == expected  # everything, each once by id
    assert dt.datetime.now(dt.UTC) > created[0].time
