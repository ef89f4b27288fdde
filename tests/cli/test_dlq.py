"""``pipeline dlq list|requeue``: a poison command in commands-dlq.v1 is listed (personal ids
masked) and requeued as its ORIGINAL bytes, key and headers on commands.v1."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
import pytest

import schemas
from schemas import examples, topics

pytestmark = pytest.mark.integration

PHONE = "05321234567"


def _poison(
    cli: Any, *, partition: int = 5, marker: str | None = None
) -> tuple[str, schemas.DeadLetter]:
    """A dead letter as the applier writes it; returns its PARTITION:OFFSET."""
    marker = marker or uuid.uuid4().hex
    original = (
        b'{"type":"order.ship","command_id":"cmd-' + marker.encode() + b'","platform":"pazarama",'
        b'"account":"main","order_id":"ORD-9","issued_at":"2026-03-14T12:00:00+03:00",'
        b'"carrier":"Aras","note":"' + PHONE.encode() + b'"}'
    )
    letter = schemas.DeadLetter(
        error=f"invalid command: Object missing required field `tracking_number` ({PHONE})",
        topic=topics.COMMANDS,
        partition=partition,
        offset=41,
        received_at=dt.datetime(2026, 3, 14, 9, 0, tzinfo=dt.UTC),
        key=b"pazarama:main",
        value=original,
        headers=(("ce_type", b"order.ship"), ("ce_id", b"cmd-" + marker.encode())),
    )
    [(partition, offset)] = cli.produce(
        topics.COMMANDS_DLQ, [(letter.key, msgspec.json.encode(letter), letter.headers)]
    )
    return f"{partition}:{offset}", letter


def test_dlq_list_shows_the_letter_where_it_came_from_and_masks_personal_ids(cli: Any) -> None:
    where, _ = _poison(cli)
    proc = cli.run("dlq", "list", "--bootstrap", cli.bootstrap)
    assert proc.returncode == 0, proc.stderr
    [line] = [ln for ln in proc.stdout.splitlines() if ln.startswith(f"{where}  ")]
    assert "from commands.v1[5]@41" in line and "key=pazarama:main" in line
    assert "missing required field `tracking_number`" in line
    assert PHONE not in proc.stdout
    assert proc.stdout.rstrip().endswith("dead letter(s)")


def test_dlq_requeue_puts_the_original_bytes_back_on_commands(cli: Any) -> None:
    where, letter = _poison(cli)
    proc = cli.run("dlq", "requeue", "--bootstrap", cli.bootstrap, where)
    assert proc.returncode == 0, proc.stderr
    assert f"requeued {where} → commands.v1" in proc.stdout
    [record] = [r for r in cli.read_all(topics.COMMANDS) if r.value == letter.value]
    assert record.key == letter.key
    assert record.headers == letter.headers


def test_dlq_requeue_of_an_unknown_letter_says_so_and_fails(cli: Any) -> None:
    proc = cli.run("dlq", "requeue", "--bootstrap", cli.bootstrap, "0:999999")
    assert proc.returncode == 1
    assert "no dead letter 0:999999" in proc.stderr
    proc = cli.run("dlq", "requeue", "--bootstrap", cli.bootstrap)
    assert proc.returncode == 2
    assert "PARTITION:OFFSET" in proc.stderr


def test_a_letter_whose_command_already_has_a_result_is_not_requeued(cli: Any) -> None:
    # The applier answered the undecodable command `invalid` (its ce_id named it); appliers skip
    # a command id they answered, so requeueing its bytes could never apply it.
    marker = uuid.uuid4().hex
    result = msgspec.structs.replace(
        examples.sample_result(), command_id=f"cmd-{marker}", outcome=schemas.Outcome.INVALID
    )
    # Results are keyed like their commands: the letter names the partition the key maps to.
    [(partition, _)] = cli.produce(
        topics.COMMAND_RESULTS, [(b"pazarama:main", msgspec.json.encode(result), [])]
    )
    where, letter = _poison(cli, partition=partition, marker=marker)
    proc = cli.run("dlq", "requeue", "--bootstrap", cli.bootstrap, where)
    assert proc.returncode == 1, proc
    assert f"not requeued {where}: command cmd-{marker} already has a result" in proc.stderr
    assert "new command_id" in proc.stderr
    assert [r for r in cli.read_all(topics.COMMANDS) if r.value == letter.value] == []
