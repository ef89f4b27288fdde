"""``pipeline replay`` and ``pipeline tail`` as a user runs them, on a topic of known records:
every filter (key, time, offset, type, limit), every format, ``--to``, and tail until Ctrl-C."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import signal
import time
import uuid
from typing import Any

import msgspec
import pytest

import schemas
from pipeline.topics import TopicSpec, ensure_topics
from schemas import examples

pytestmark = pytest.mark.integration

PHONE = "05321234567"  # in the sample order's customer


@dataclasses.dataclass(frozen=True)
class Topic:
    name: str
    wave_a: list[schemas.AnyEvent]  # partition 0, key KEY_A, before `middle`
    wave_b: list[schemas.AnyEvent]  # partition 1, key KEY_B, after `middle`
    middle: dt.datetime


KEY_A = "pazarama:main:" + examples.sample_order().order_id
KEY_B = "ecarsi:shop2:E-1"


def _record(event: schemas.AnyEvent) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    key = f"{event.platform}:{event.account}:{event.subject}".encode()
    return key, schemas.encode_event(event), schemas.to_headers(schemas.event_attributes(event))


def _ecarsi_events() -> list[schemas.AnyEvent]:
    order = msgspec.structs.replace(
        examples.sample_order(), platform="ecarsi", account="shop2", order_id="E-1"
    )
    shipped = msgspec.structs.replace(order, status=schemas.OrderStatus.SHIPPED, raw_status="5")
    return [
        schemas.new_event(schemas.OrderCreated, time=examples.T0, data=order),
        schemas.new_event(
            schemas.OrderStatusChanged,
            time=examples.T0,
            data=shipped,
            previous_status=schemas.OrderStatus.RECEIVED,
            previous_raw_status="3",
        ),
    ]


@pytest.fixture(scope="module")
def topic(cli: Any) -> Topic:
    name = f"test.cli-replay.{uuid.uuid4().hex[:8]}"
    asyncio.run(ensure_topics(cli.bootstrap, {name: TopicSpec(partitions=2)}, replication_factor=1))
    wave_a = examples.sample_events()[:3]  # order.created, order.status_changed, order.updated
    wave_b = _ecarsi_events()
    cli.produce(name, [_record(e) for e in wave_a], partition=0)
    time.sleep(0.05)  # millisecond record timestamps on both sides of `middle`
    middle = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    cli.produce(name, [_record(e) for e in wave_b], partition=1)
    return Topic(name, wave_a, wave_b, middle)


def _replay(cli: Any, topic: Topic, *args: str) -> Any:
    proc = cli.run("replay", topic.name, "--bootstrap", cli.bootstrap, *args)
    assert proc.returncode == 0, proc.stderr
    return proc


def _events(stdout: str) -> list[schemas.AnyEvent]:
    return [schemas.decode_event(line.encode()) for line in stdout.splitlines()]


def test_replay_by_key_as_a_table_masks_personal_ids(cli: Any, topic: Topic) -> None:
    proc = _replay(cli, topic, "--key", KEY_A)
    header, *lines = proc.stdout.splitlines()
    assert header.split()[:4] == ["TIME", "P:OFFSET", "TYPE", "KEY"]
    assert len(lines) == 3
    for line, event in zip(lines, topic.wave_a, strict=True):
        assert event.type in line and KEY_A in line
    assert PHONE not in proc.stdout
    assert "3 of 5 records matched" in proc.stderr


def test_replay_by_key_as_json_prints_the_envelopes_as_stored(cli: Any, topic: Topic) -> None:
    proc = _replay(cli, topic, "--key", KEY_A, "--format", "json")
    assert _events(proc.stdout) == topic.wave_a


def test_replay_by_key_as_raw_prints_the_value_bytes(cli: Any, topic: Topic) -> None:
    proc = cli.run("replay", topic.name, "--bootstrap", cli.bootstrap, "--key", KEY_B,
                   "--format", "raw")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.encode() == b"".join(schemas.encode_event(e) + b"\n" for e in topic.wave_b)


def test_replay_since_and_until_split_the_topic_at_a_time(cli: Any, topic: Topic) -> None:
    at = topic.middle.isoformat()
    assert _events(_replay(cli, topic, "--since", at, "--format", "json").stdout) == topic.wave_b
    assert _events(_replay(cli, topic, "--until", at, "--format", "json").stdout) == topic.wave_a
    proc = _replay(cli, topic, "--since", "1h", "--format", "json")  # relative: everything
    assert len(_events(proc.stdout)) == 5


def test_replay_from_an_offset_of_one_partition_or_back_from_every_end(
    cli: Any, topic: Topic
) -> None:
    proc = _replay(cli, topic, "--from-offset", "0:1", "--format", "json")
    assert _events(proc.stdout) == topic.wave_a[1:]
    proc = _replay(cli, topic, "--from-offset", "-1", "--format", "json")
    assert sorted(e.id for e in _events(proc.stdout)) == sorted(
        [topic.wave_a[-1].id, topic.wave_b[-1].id]
    )


def test_replay_by_type_pattern_and_limit(cli: Any, topic: Topic) -> None:
    proc = _replay(cli, topic, "--type", "order.status_*", "--format", "json")
    assert sorted(e.id for e in _events(proc.stdout)) == sorted(
        [topic.wave_a[1].id, topic.wave_b[1].id]
    )
    proc = _replay(cli, topic, "--limit", "2", "--format", "json", "--from-offset", "0:0")
    assert _events(proc.stdout) == topic.wave_a[:2]
    assert "2 of" in proc.stderr


def test_replay_to_republishes_matches_unchanged(cli: Any, topic: Topic) -> None:
    scratch = f"{topic.name}.scratch"
    proc = _replay(cli, topic, "--key", KEY_B, "--to", scratch, "--create-to",
                   "--replication-factor", "1")  # fmt: skip
    assert f"2 of 5 records matched, 2 re-published to {scratch}" in proc.stderr
    copied = cli.read_all(scratch)
    assert [(r.key, r.value, r.headers) for r in copied] == [
        (k, v, tuple(h)) for k, v, h in (_record(e) for e in topic.wave_b)
    ]


def test_tail_prints_new_matching_records_until_ctrl_c(cli: Any, topic: Topic) -> None:
    tail = cli.start("tail", topic.name, "--bootstrap", cli.bootstrap, "--format", "json",
                     "--type", "order.created")  # fmt: skip
    try:
        tail.err.wait_for("following")
        assert tail.out.lines == []  # from the end: nothing already there is printed
        new = schemas.new_event(
            schemas.OrderCreated,
            time=examples.T0,
            data=msgspec.structs.replace(examples.sample_order(), order_id="TAIL-1"),
        )
        other = schemas.new_event(
            schemas.OrderUpdated, time=examples.T0, data=new.data, changed=("invoice",)
        )
        cli.produce(topic.name, [_record(other), _record(new)], partition=0)
        [line] = tail.out.wait_for(new.id, timeout=15)
        assert schemas.decode_event(line.encode()) == new
        assert tail.stop(signal.SIGINT) == 0
        assert "1 of 2 records matched" in tail.err.text()
        assert "Traceback" not in tail.err.text()
    finally:
        tail.close()
