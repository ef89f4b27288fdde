"""``pipeline status`` on a prepared broker: checkpoint ages, lag from the true end offsets,
owned accounts from registrations, group members as Tansu describes them, and no side effects."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

import schemas
from pipeline.broker import EMBEDDED_CONSUMER_TIMEOUTS, EmbeddedBroker
from pipeline.bus import KafkaEventPublisher
from pipeline.checkpoints import Checkpoint, KafkaCheckpointStore
from pipeline.fleet import account_partition
from pipeline.status import (
    AccountRegistration,
    OwnedAccount,
    collect_status,
    per_ip_problems,
    publish_registration,
    render,
)
from pipeline.topics import ensure_topics, list_topics
from pipeline.worker import APPLIER_GROUP, POLLER_GROUP
from schemas import examples, topics

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2026, 3, 14, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
async def bootstrap(tmp_path: Path) -> AsyncIterator[str]:
    """A broker of our own: status reads the fleet's fixed topic and group names."""
    async with EmbeddedBroker(log_path=tmp_path / "tansu.log") as broker:
        yield broker.bootstrap


async def _commands_in_one_batch(bootstrap: str, count: int) -> int:
    """``count`` commands of one account, sent as one batch; returns their partition."""
    cmd = examples.sample_commands()[0]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50)
    await producer.start()
    try:
        futures = [
            await producer.send(
                topics.COMMANDS,
                schemas.encode_command(cmd),
                key=topics.account_key(cmd.platform, cmd.account),
            )
            for _ in range(count)
        ]
        [partition] = {(await f).partition for f in futures}
    finally:
        await producer.stop()
    return partition


async def _commit(bootstrap: str, group: str, tp: TopicPartition, offset: int) -> None:
    # assign() + commit: stores the group's offset without joining the group.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.commit({tp: offset})
    finally:
        await consumer.stop()


async def test_status_shows_checkpoint_age_and_how_far_the_cursor_is_behind(
    bootstrap: str,
) -> None:
    await ensure_topics(bootstrap, replication_factor=1)
    async with KafkaCheckpointStore(bootstrap, embedded=True) as store:
        for minutes, stream in ((2, "orders"), (30, "refunds")):
            await store.save(
                Checkpoint(
                    platform="pazarama",
                    account="main",
                    stream=stream,
                    cursor=NOW - dt.timedelta(minutes=minutes + 1),
                    written_at=NOW - dt.timedelta(minutes=minutes),
                )
            )
    status = await collect_status(bootstrap, now=NOW)
    ages = {c.key: (c.age_seconds, c.cursor_lag_seconds) for c in status.checkpoints}
    assert ages == {
        "pazarama:main:orders": (120.0, 180.0),
        "pazarama:main:refunds": (1800.0, 1860.0),
    }
    text = render(status)
    assert "pazarama:main:refunds" in text
    assert " 30m " in text


async def test_applier_lag_is_measured_from_the_true_end_of_each_partition(
    bootstrap: str,
) -> None:
    await ensure_topics(bootstrap, replication_factor=1)
    # One batch of 5: Tansu's ListOffsets says the end is 1, the high watermark says 5.
    partition = await _commands_in_one_batch(bootstrap, 5)
    await _commit(bootstrap, APPLIER_GROUP, TopicPartition(topics.COMMANDS, partition), 2)
    status = await collect_status(bootstrap, now=NOW)
    [appliers] = [g for g in status.groups if g.group == APPLIER_GROUP]
    lags = {p.partition: (p.committed, p.end, p.lag) for p in appliers.partitions}
    assert lags[partition] == (2, 5, 3)
    assert appliers.lag == 3
    assert all(c is None and e == 0 for p, (c, e, _) in lags.items() if p != partition)
    [pollers] = [g for g in status.groups if g.group == POLLER_GROUP]
    assert pollers.lag is None
    assert any("commits none" in n for n in pollers.notes)


async def test_owned_accounts_are_read_from_the_newest_registration_per_account(
    bootstrap: str,
) -> None:
    await ensure_topics(bootstrap, replication_factor=1)

    def reg(account: str, minutes: int, *, owned: bool = True) -> AccountRegistration:
        return AccountRegistration(
            platform="ecarsi",
            account=account,
            worker=f"w-{minutes}",
            host="node-1",
            pid=100 + minutes,
            partition=account_partition("ecarsi", account),
            time=NOW - dt.timedelta(minutes=minutes),
            owned=owned,
        )

    async with KafkaEventPublisher(bootstrap, embedded=True) as pub:
        for registration in (reg("a", 10), reg("b", 9), reg("b", 1, owned=False), reg("a", 2)):
            await publish_registration(pub, registration)
    status = await collect_status(bootstrap, now=NOW, expected_accounts=["ecarsi:a", "ecarsi:b"])
    owners = {a.key: (a.owned, a.worker, a.age_seconds) for a in status.accounts}
    assert owners == {"ecarsi:a": (True, "w-2", 120.0), "ecarsi:b": (False, "w-1", 60.0)}
    assert status.unowned == ["ecarsi:b"]
    assert "ecarsi:b: no owner registered" in render(status)
    assert status.problems == []


async def test_members_are_listed_but_tansu_reports_no_assignments(bootstrap: str) -> None:
    await ensure_topics(bootstrap, replication_factor=1)
    member = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=APPLIER_GROUP, **EMBEDDED_CONSUMER_TIMEOUTS
    )
    await member.start()
    try:
        member.subscribe([topics.COMMANDS])
        async with asyncio.timeout(10):
            while not member.assignment():
                await member.getmany(timeout_ms=100)
        status = await collect_status(bootstrap, now=NOW)
    finally:
        await member.stop()
    [appliers] = [g for g in status.groups if g.group == APPLIER_GROUP]
    assert len(appliers.members) == 1
    # Kafka says which partitions the member holds; Tansu does not (README "Brokers").
    assert appliers.members[0].partitions is None
    assert any("no assignments" in n for n in appliers.notes)


async def test_missing_topics_are_reported_and_not_created(bootstrap: str) -> None:
    status = await collect_status(bootstrap, now=NOW)
    said = " ".join(status.problems)
    for topic in (topics.ACCOUNTS, topics.COMMANDS, topics.CHECKPOINTS):
        assert f"{topic} does not exist" in said
    assert await list_topics(bootstrap) == {}
    assert "PROBLEMS" in render(status)


async def test_cli_status_prints_json(bootstrap: str) -> None:
    await ensure_topics(bootstrap, replication_factor=1)
    async with KafkaCheckpointStore(bootstrap, embedded=True) as store:
        await store.save(Checkpoint(platform="c2c", account="x", stream="orders", cursor=NOW))
    run = "import sys; from pipeline.status import main; sys.exit(main(sys.argv[1:]))"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        run,
        "status",
        "--bootstrap",
        bootstrap,
        "--json",
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    doc = json.loads(out)
    assert [c["key"] for c in doc["checkpoints"]] == ["c2c:x:orders"]
    assert {g["group"] for g in doc["groups"]} == {POLLER_GROUP, APPLIER_GROUP}


def _owned(key: str, worker: str, host: str = "node-1", *, owned: bool = True) -> OwnedAccount:
    return OwnedAccount(
        key=key, owned=owned, worker=worker, host=host, pid=1, partition=0, since=NOW,
        age_seconds=0.0,
    )  # fmt: skip


def test_more_poll_workers_on_a_host_than_processes_per_ip_is_a_problem() -> None:
    accounts = [_owned(f"ecarsi:{n}", f"w{n % 3}") for n in range(6)]
    (problem,) = per_ip_problems(accounts, processes_per_ip=2)
    # Three processes each keeping to 60 // 2 = 30 a minute: 90 against e-Çarşı's 60 per IP.
    assert problem.startswith("host node-1: 3 poll workers own ecarsi accounts")
    assert "3 x 30 requests per window" in problem and "per-IP limit of 60" in problem
    assert per_ip_problems(accounts, processes_per_ip=3) == []


def test_workers_on_other_hosts_released_accounts_and_per_account_limits_do_not_count() -> None:
    accounts = [
        _owned("ecarsi:a", "w1", "node-1"),
        _owned("ecarsi:b", "w2", "node-2"),  # another address
        _owned("ecarsi:c", "w3", "node-1", owned=False),  # released
        _owned("webservis:a", "w4", "node-1"),  # 25/min per shop: an account's own limit
        _owned("pazarama:a", "w5", "node-1"),
    ]
    assert per_ip_problems(accounts, processes_per_ip=1) == []


async def test_status_checks_processes_per_ip_against_the_registered_workers(
    bootstrap: str,
) -> None:
    await ensure_topics(bootstrap, replication_factor=1)
    async with KafkaEventPublisher(bootstrap, embedded=True) as pub:
        for n, account in enumerate(("p1", "p2")):
            await publish_registration(
                pub,
                AccountRegistration(
                    platform="ecarsi", account=account, worker=f"ip-w{n}", host="node-9",
                    pid=200 + n, partition=account_partition("ecarsi", account), time=NOW,
                    owned=True,
                ),
            )  # fmt: skip
    status = await collect_status(bootstrap, now=NOW, processes_per_ip=1)
    assert [p for p in status.problems if "node-9" in p] == [
        "host node-9: 2 poll workers own ecarsi accounts but rate_limit.processes_per_ip = 1: "
        "together they may send 2 x 60 requests per window against ecarsi's per-IP limit of "
        "60; set it to at least 2 in the fleet file"
    ]
    status = await collect_status(bootstrap, now=NOW, processes_per_ip=2)
    assert [p for p in status.problems if "node-9" in p] == []
