"""The commands side of the invariant checker, and the whole check over HTTP: planted violations
(a missing event, a conflicting id, a command with two different results, one without any,
poison without a dead letter, a write no command asked for, a shipment done twice, a limit
exceeded, a checkpoint behind) are each found, and a consistent set finds nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import msgspec
from aiohttp import ClientSession

import schemas
from pipeline import checker
from pipeline.broker import EmbeddedBroker
from pipeline.checker.remote import check_remote
from pipeline.checkpoints import KafkaCheckpointStore
from pipeline.clock import SystemClock
from pipeline.http import HttpClient
from pipeline.platforms.pazarama.client import PazaramaClient
from pipeline.platforms.pazarama.sandbox import PazaramaSandbox
from pipeline.platforms.webservis.sandbox import WebservisSandbox
from pipeline.poller import AccountPoller
from pipeline.ratelimit import RateBudget, RateLimit
from pipeline.sandbox import SandboxSettings, serve
from pipeline.testbed import send_commands
from pipeline.topics import ensure_topics
from schemas import AttachInvoice, CommandResult, Outcome, Ship, topics

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


def command(n: int, order: str, *, ship: bool = False) -> schemas.AnyCommand:
    base = {
        "command_id": f"c{n}",
        "platform": "pazarama",
        "account": "main",
        "order_id": order,
        "issued_at": NOW,
    }
    if ship:
        return Ship(**base, carrier="Aras", tracking_number=f"T{n}")
    return AttachInvoice(**base, url="https://fatura.example/1.pdf")


def result(cid: str, outcome: Outcome = Outcome.APPLIED, message: str | None = None) -> bytes:
    return msgspec.json.encode(
        CommandResult(
            command_id=cid,
            command_type="order.ship",
            platform="pazarama",
            account="main",
            outcome=outcome,
            attempts=1,
            received_at=NOW,
            finished_at=NOW,
            message=message,
        )
    )


def records(
    topic: str, values: Sequence[bytes], headers: Sequence[tuple[str, bytes]] = ()
) -> list[checker.TopicRecord]:
    return [
        checker.TopicRecord(topic, 0, n, b"pazarama:main", v, tuple(headers))
        for n, v in enumerate(values)
    ]


def effect(kind: str, target: str, names: tuple[str, ...], seq: int) -> checker.Effect:
    return checker.Effect(
        platform="pazarama", account="main", kind=kind, target=target, names=names, seq=seq
    )


def test_a_consistent_command_history_has_no_violation() -> None:
    cmds = [command(1, "o1", ship=True), command(2, "o2"), command(1, "o1", ship=True)]
    poison = checker.TopicRecord(topics.COMMANDS, 0, 3, b"k", b"\xff", (("ce_id", b"p1"),))
    letter = schemas.DeadLetter(
        error="bad", topic=topics.COMMANDS, partition=0, offset=3, received_at=NOW
    )
    report = checker.check_commands(
        [*records(topics.COMMANDS, [schemas.encode_command(c) for c in cmds]), poison],
        records(topics.COMMAND_RESULTS, [result("c1"), result("c2"), result("p1"), result("c1")]),
        records(topics.COMMANDS_DLQ, [msgspec.json.encode(letter)]),
        # A shipment named by the order's number, a status write by its GUID.
        [effect("ship", "o1", ("o1", "N1"), 1), effect("status", "x2", ("x2", "o2"), 2)],
    )
    assert report.ok, report.summary()
    assert (report.commands, report.undecodable, report.result_repeats) == (3, 1, 1)
    assert report.results == {"applied": 4} and report.effects == 2


def test_every_planted_command_violation_is_found() -> None:
    cmds = [command(1, "o1", ship=True), command(2, "o2"), command(3, "o3")]
    poison = checker.TopicRecord(topics.COMMANDS, 0, 3, b"k", b"not json", (("ce_id", b"p1"),))
    report = checker.check_commands(
        [*records(topics.COMMANDS, [schemas.encode_command(c) for c in cmds]), poison],
        records(
            topics.COMMAND_RESULTS,
            [result("c1"), result("c1", Outcome.FAILED), result("c3"), result("ghost")],
        ),
        [],
        [
            effect("ship", "o1", ("o1",), 1),
            effect("ship", "o1", ("o1",), 2),  # one Ship command, two parcels
            effect("status", "o9", ("o9", "N9"), 3),  # nobody asked
        ],
    )
    assert {k: n for k, n in report.counts.items() if n} == {
        "extra_result": 1,  # c1: applied and failed
        "missing_result": 2,  # c2, and the poison's p1
        "orphan_result": 1,  # ghost
        "not_in_dlq": 1,
        "double_effect": 1,
        "unexplained_effect": 1,
    }, report.summary()
    assert "c1" in report.examples["extra_result"][0]
    assert "(applied, failed)" in report.examples["extra_result"][0]
    assert "o9" in report.examples["unexplained_effect"][0]


def test_a_checkpoint_lagging_more_than_its_bound_is_behind() -> None:
    def obs(minutes: float) -> checker.Observation:
        at = NOW - dt.timedelta(minutes=minutes)
        return checker.Observation(polled_until=at, since=at)

    observed = {
        ("pazarama", "main", "orders"): obs(0.5),
        ("pazarama", "main", "refunds"): obs(5),
        ("ecarsi", "main", "orders"): obs(10),  # a daily budget: polled rarely, bound of its own
        ("softtr", "main", "orders"): obs(60),  # no bound given: not judged
    }
    bounds = {"pazarama": dt.timedelta(minutes=2), "ecarsi": dt.timedelta(minutes=15)}
    report = checker.checkpoints_behind(observed, bounds, now=NOW)
    assert report.counts["checkpoint_behind"] == 1 and report.streams == 3
    assert "pazarama:main refunds" in report.examples["checkpoint_behind"][0]


async def test_the_whole_check_over_http_finds_each_planted_violation(tmp_path: object) -> None:
    pazarama = PazaramaSandbox(
        settings=SandboxSettings(seed=5, initial_orders=6, history=dt.timedelta(hours=1))
    )
    webservis = WebservisSandbox(settings=SandboxSettings(seed=6))
    async with (
        EmbeddedBroker(stop_timeout=0.1) as broker,
        serve([pazarama, webservis]) as served,
        HttpClient() as http,
    ):
        bootstrap = broker.bootstrap
        await ensure_topics(bootstrap, replication_factor=1)
        paz = served[0]
        budget = RateBudget(RateLimit.from_config(per_minute=100_000))
        client = PazaramaClient(
            account="main",
            base_url=paz.base_url,
            token_url=paz.root_url + "/connect/token",
            credentials=pazarama.tenant.credentials,
            http=http,
            budget=budget,
        )
        published: list[schemas.Event] = []

        class Recorder:
            async def publish(self, events: Sequence[schemas.Event]) -> None:
                published.extend(events)

        async with KafkaCheckpointStore(bootstrap) as store:
            poller = AccountPoller(
                client, publisher=Recorder(), store=store, budget=budget, clock=SystemClock()
            )
            await poller.cycle(sweep=True)
        await client.aclose()
        created = [e for e in published if e.type == "order.created"]
        dropped, changed = created[0], created[1]
        conflicting = msgspec.structs.replace(
            changed,
            data=msgspec.structs.replace(changed.data, note="changed"),  # type: ignore[attr-defined]
        )
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            for event in [*(e for e in published if e is not dropped), conflicting]:
                await producer.send_and_wait(
                    event.topic, schemas.encode_event(event), key=event.key()
                )
            ship = command(1, changed.subject, ship=True)
            await send_commands(
                bootstrap, [ship], [(b"pazarama:main", b"\xff", [("ce_id", b"p1")])]
            )
            for outcome in (Outcome.APPLIED, Outcome.FAILED):
                await producer.send_and_wait(
                    topics.COMMAND_RESULTS, result("c1", outcome), key=b"pazarama:main"
                )
        finally:
            await producer.stop()
        # A write no command asked for, on an order nobody sent anything about.
        order = next(o for o in pazarama.world.orders if o.id != changed.subject)
        targets = pazarama.lifecycle.seller_targets(order.items[0].status)
        pazarama.world.set_status(order.id, sorted(targets)[0])
        # Web Servis documents 25 requests a minute per shop: 27 it is.
        headers = {"apikey": "sandbox-api_key", "apisecret": "sandbox-api_secret"}
        async with ClientSession() as session:
            for _ in range(27):
                async with session.get(served[1].base_url + "/auth", headers=headers) as response:
                    await response.read()

        report, audits = await check_remote(
            bootstrap, [s.root_url for s in served], behind=dt.timedelta(hours=1)
        )
    planted = {
        "missing_created": 1,
        "conflicting_id": 1,
        "extra_result": 1,
        "missing_result": 1,  # the poison's p1
        "not_in_dlq": 1,  # nobody consumed the commands
        "unexplained_effect": 1,
        "limit_exceeded": 4,  # two replayed, two refused
    }
    assert {k: report.counts[k] for k in planted} == planted, report.summary()
    assert report.counts["unobserved"] == 1  # Web Servis was never polled: that, and only that
    assert {k for k, n in report.counts.items() if n} == {*planted, "unobserved"}
    assert [a.platform for a in audits] == ["pazarama", "webservis"]
    assert audits[1].requests >= 27 and report.limits_checked >= 2
