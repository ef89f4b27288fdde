"""``pipeline send``: a valid command lands on commands.v1 keyed by account with its CloudEvents
headers; an invalid one is refused before anything is published, naming the field."""

from __future__ import annotations

import json
import uuid
from typing import Any

import msgspec
import pytest

import schemas
from pipeline.broker import find_free_port
from schemas import examples, topics

pytestmark = pytest.mark.integration


def _on_commands(cli: Any, command_id: str) -> list[Any]:
    return [r for r in cli.read_all(topics.COMMANDS) if command_id.encode() in (r.value or b"")]


def test_send_publishes_a_valid_command_keyed_by_account_with_its_headers(cli: Any) -> None:
    command_id = f"cli-send-{uuid.uuid4()}"
    proc = cli.run(
        "send", "order.ship", "--bootstrap", cli.bootstrap,
        "--platform", "pazarama", "--account", "main", "--order", "235795225",
        "--carrier", "Yurtiçi Kargo", "--tracking", "123456789012", "--desi", "3",
        "--command-id", command_id,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"sent order.ship {command_id} → commands.v1" in proc.stdout
    [record] = _on_commands(cli, command_id)
    assert record.key == b"pazarama:main"
    command = schemas.decode_command(record.value)
    assert isinstance(command, schemas.Ship)
    assert (command.order_id, command.carrier, command.tracking_number, command.desi) == (
        "235795225",
        "Yurtiçi Kargo",
        "123456789012",
        3,
    )
    headers = dict(record.headers)
    assert headers["ce_type"] == b"order.ship"
    assert headers["ce_id"] == command_id.encode()
    assert headers["content-type"] == b"application/json"


def test_send_takes_a_whole_command_as_json(cli: Any) -> None:
    command_id = f"cli-json-{uuid.uuid4()}"
    body = {
        "type": "refund.decide",
        "command_id": command_id,
        "platform": "pazarama",
        "account": "outlet",
        "order_id": "42",
        "issued_at": "2026-03-14T12:00:00+03:00",
        "refund_id": "R-1",
        "decision": "reject",
        "reason_code": "11",
        "description": "İade paketi elime ulaşmadı",
    }
    proc = cli.run("send", "--bootstrap", cli.bootstrap, "--json", json.dumps(body))
    assert proc.returncode == 0, proc.stderr
    [record] = _on_commands(cli, command_id)
    assert record.key == b"pazarama:outlet"
    assert dict(record.headers)["ce_type"] == b"refund.decide"
    command = schemas.decode_command(record.value)
    assert isinstance(command, schemas.DecideRefund)
    assert command.description == "İade paketi elime ulaşmadı"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        # order.ship without a tracking number
        (["order.ship", "--platform", "pazarama", "--order", "1", "--carrier", "Aras"],
         "tracking_number"),
        # a status outside the canonical lifecycle
        (["order.set_status", "--platform", "c2c", "--order", "1", "--status", "sent"],
         "status"),
        # a field of the wrong type in a JSON command
        (["--json", '{"type": "order.ship", "command_id": "c", "platform": "softtr", '
          '"account": "main", "order_id": "1", "issued_at": "2026-03-14T12:00:00Z", '
          '"carrier": "Aras", "tracking_number": "1", "desi": "three"}'], "desi"),
    ],
)  # fmt: skip
def test_an_invalid_command_is_refused_naming_the_field_and_nothing_is_sent(
    cli: Any, args: list[str], field: str
) -> None:
    command_id = f"cli-bad-{uuid.uuid4()}"
    if args[0] == "--json":
        args = ["--json", args[1].replace('"command_id": "c"', f'"command_id": "{command_id}"')]
    else:
        args = [*args, "--command-id", command_id]
    proc = cli.run("send", "--bootstrap", cli.bootstrap, *args)
    assert proc.returncode == 2, proc
    assert proc.stderr.startswith("error: ") and field in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert _on_commands(cli, command_id) == []


def test_send_wait_prints_the_result_that_comes_after_it(cli: Any) -> None:
    command_id = f"cli-wait-{uuid.uuid4()}"
    send = cli.start("send", *_SET_STATUS, cli.bootstrap, "--command-id", command_id,
                     "--wait", "30")  # fmt: skip
    try:
        send.out.wait_for(f"sent order.set_status {command_id}")
        result = msgspec.structs.replace(examples.sample_result(), command_id=command_id)
        cli.produce(topics.COMMAND_RESULTS, [(b"softtr:main", msgspec.json.encode(result), [])])
        assert send.proc.wait(timeout=30) == 0, send.err.text()
        assert json.loads(send.out.text().splitlines()[-1])["command_id"] == command_id
    finally:
        send.close()


def test_send_wait_says_when_the_result_predates_the_send_or_none_came(cli: Any) -> None:
    answered, unanswered = f"cli-wait-{uuid.uuid4()}", f"cli-wait-{uuid.uuid4()}"
    result = msgspec.structs.replace(examples.sample_result(), command_id=answered)
    cli.produce(
        topics.COMMAND_RESULTS,
        [(b"softtr:main", msgspec.json.encode(result), [])],
    )
    # A repeat of an answered command id: the appliers skip it, its old result is all there is.
    proc = cli.run("send", *_SET_STATUS, cli.bootstrap, "--command-id", answered, "--wait", "20")
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["command_id"] == answered
    assert f"note: command {answered} was answered before this send" in proc.stderr

    proc = cli.run("send", *_SET_STATUS, cli.bootstrap, "--command-id", unanswered, "--wait", "2")
    assert proc.returncode == 1, proc.stderr
    assert "no result within 2s" in proc.stdout


_SET_STATUS = ("order.set_status", "--platform", "softtr", "--order", "7", "--status",
               "preparing", "--bootstrap")  # fmt: skip


def test_an_unreachable_broker_is_a_clear_error_naming_it(cli: Any) -> None:
    address = f"127.0.0.1:{find_free_port()}"
    proc = cli.run("send", "order.set_status", "--bootstrap", address, "--platform", "softtr",
                   "--order", "7", "--status", "preparing", timeout=60)  # fmt: skip
    assert proc.returncode == 2, proc
    assert f"error: cannot reach Kafka at {address}" in proc.stderr
    assert "Traceback" not in proc.stderr
