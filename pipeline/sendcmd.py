"""``pipeline send`` and ``pipeline dlq``: commands and dead letters from the shell.

``send`` builds a command from flags (or takes a JSON document), validates it with the same
strict decoder the appliers use — a bad command is refused here, naming the field — and
publishes it to ``commands.v1`` keyed ``platform:account`` with CloudEvents headers. With
``--wait`` it then follows ``command-results.v1`` until that command's result arrives.

``dlq list`` prints the dead letters (offset, key, error, an excerpt of the bytes; personal ids
masked in both, as in ``replay``'s table);
``dlq requeue`` sends chosen letters' original bytes and headers back to ``commands.v1`` (once
an applier bug is fixed), except letters whose command already has a result (see
:func:`dlq_requeue`). Neither joins a consumer group.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import uuid
from collections.abc import Sequence
from typing import Any, TextIO

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.bus import KafkaEventPublisher
from pipeline.command_consumer import read_result_ids
from pipeline.config import KafkaConfig
from pipeline.errors import CommandError
from pipeline.kafka_settings import consumer_kwargs
from pipeline.masking import excerpt, mask_text
from pipeline.replay import log_ends
from schemas import (
    CommandDecodeError,
    DeadLetter,
    command_attributes,
    decode_command,
    decode_result,
    encode_command,
    to_headers,
    topics,
)

#: flag → command field, per command type (the flags a shell user has).
FIELDS = {
    "status": "status",
    "carrier": "carrier",
    "tracking": "tracking_number",
    "tracking_url": "tracking_url",
    "carrier_code": "carrier_code",
    "desi": "desi",
    "url": "url",
    "number": "number",
    "refund": "refund_id",
    "cancellation": "cancellation_id",
    "decision": "decision",
    "reason_code": "reason_code",
    "description": "description",
}


def build_command(args: dict[str, Any], *, now: dt.datetime | None = None) -> bytes:
    """A command's JSON from CLI values, validated strictly (``CommandError`` names the field)."""
    if args.get("json"):
        raw = args["json"].encode()
    else:
        body: dict[str, Any] = {
            "type": args["type"],
            "command_id": args.get("command_id") or f"cli-{uuid.uuid4()}",
            "platform": args["platform"],
            "account": args["account"],
            "order_id": args["order"],
            "issued_at": (now or dt.datetime.now(dt.UTC)).isoformat(),
        }
        if args.get("items"):
            body["item_ids"] = args["items"]
        if args.get("expires_in"):
            body["expires_at"] = (
                (now or dt.datetime.now(dt.UTC)) + dt.timedelta(seconds=args["expires_in"])
            ).isoformat()
        for flag, name in FIELDS.items():
            if args.get(flag) is not None:
                body[name] = args[flag]
        raw = msgspec.json.encode(body)
    try:
        command = decode_command(raw)
    except CommandDecodeError as exc:
        raise CommandError(str(exc)) from None
    return encode_command(command)


async def send(kafka: KafkaConfig, raw: bytes, *, wait: float | None, out: TextIO) -> int:
    """Publish; with ``wait``, print the command's result (exit 1 when none came in time, or
    when the result is older than this send: appliers skip a command id they answered)."""
    command = decode_command(raw)
    ends = await _result_ends(kafka) if wait is not None else {}
    async with KafkaEventPublisher(kafka) as pub:
        await pub.send_raw(
            topics.COMMANDS,
            topics.account_key(command.platform, command.account),
            raw,
            to_headers(command_attributes(command)),
        )
    print(f"sent {command.type} {command.command_id} → {topics.COMMANDS}", file=out, flush=True)
    if wait is None:
        return 0
    found = await _await_result(kafka, command.command_id, wait)
    if found is None:
        print(f"no result within {wait:g}s", file=out)
        return 1
    result, partition, offset = found
    print(msgspec.json.encode(result).decode(), file=out)
    if offset < ends.get(partition, 0):
        print(
            f"note: command {command.command_id} was answered before this send; the appliers "
            "skip a command id they answered: send it with a new command_id to apply it",
            file=sys.stderr,
        )
        return 1
    return 0


async def _result_ends(kafka: KafkaConfig) -> dict[int, int]:
    """Where each ``command-results.v1`` partition ends now (empty: no such topic yet)."""
    consumer = AIOKafkaConsumer(**consumer_kwargs(kafka))
    await consumer.start()
    try:
        await consumer.topics()
        parts = consumer.partitions_for_topic(topics.COMMAND_RESULTS) or set()
        tps = [TopicPartition(topics.COMMAND_RESULTS, p) for p in sorted(parts)]
        ends = await log_ends(consumer, tps) if tps else {}
        return {tp.partition: end for tp, end in ends.items()}
    finally:
        async with asyncio.timeout(10):
            await consumer.stop()


async def _scan(kafka: KafkaConfig, topic: str) -> AIOKafkaConsumer | None:
    """A group-less consumer at the beginning of every partition of ``topic`` (None: no such
    topic yet — never asked for by name, which would make Tansu create it)."""
    consumer = AIOKafkaConsumer(**consumer_kwargs(kafka))
    await consumer.start()
    await consumer.topics()
    parts = consumer.partitions_for_topic(topic) or set()
    if not parts:
        await consumer.stop()
        return None
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    return consumer


async def _await_result(
    kafka: KafkaConfig, command_id: str, wait: float
) -> tuple[Any, int, int] | None:
    """The command's first result with its partition and offset (None: none within ``wait``)."""
    try:
        async with asyncio.timeout(wait):
            consumer = None
            while consumer is None:  # the results topic may not exist yet
                consumer = await _scan(kafka, topics.COMMAND_RESULTS)
                if consumer is None:
                    await asyncio.sleep(0.5)
            return await _find_result(consumer, command_id)
    except TimeoutError:
        return None


async def _find_result(consumer: AIOKafkaConsumer, command_id: str) -> tuple[Any, int, int]:
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, records in batch.items():
                for record in records:
                    try:
                        result = decode_result(record.value or b"")
                    except msgspec.MsgspecError:
                        continue
                    if result.command_id == command_id:
                        return result, tp.partition, record.offset
    finally:
        await consumer.stop()


async def dead_letters(kafka: KafkaConfig) -> list[tuple[int, int, DeadLetter]]:
    consumer = await _scan(kafka, topics.COMMANDS_DLQ)
    out: list[tuple[int, int, DeadLetter]] = []
    if consumer is None:
        return out
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=700)
            if not batch:
                return out
            for tp, records in batch.items():
                for record in records:
                    letter = msgspec.json.decode(record.value or b"", type=DeadLetter)
                    out.append((tp.partition, record.offset, letter))
    finally:
        await consumer.stop()


async def dlq_list(kafka: KafkaConfig, out: TextIO) -> int:
    letters = await dead_letters(kafka)
    for partition, offset, letter in letters:
        key = (letter.key or b"").decode("utf-8", "replace")
        print(
            f"{partition}:{offset}  from {letter.topic}[{letter.partition}]@{letter.offset}  "
            f"key={key}  error={mask_text(letter.error[:160])}",
            file=out,
        )
        print(f"    bytes: {excerpt(letter.value or b'', 120)}", file=out)
    print(f"{len(letters)} dead letter(s)", file=out)
    return 0


async def dlq_requeue(kafka: KafkaConfig, which: Sequence[str], out: TextIO) -> int:
    """Send the chosen letters (``partition:offset``, or ``all``) back to ``commands.v1``.

    A letter whose ``ce_id`` names a command that already has a result (the applier answers an
    undecodable command it can name ``invalid``) is not sent: appliers skip a command id they
    have answered, so it would never be applied. That one is re-driven by sending the corrected
    command under a new ``command_id``.
    """
    letters = await dead_letters(kafka)
    chosen = [(p, o, letter) for p, o, letter in letters if "all" in which or f"{p}:{o}" in which]
    answered = await _answered({letter.partition for _, _, letter in chosen}, kafka)
    refused = 0
    async with KafkaEventPublisher(kafka) as pub:
        for p, o, letter in chosen:
            command_id = dict(letter.headers).get("ce_id", b"").decode("utf-8", "replace")
            if command_id and command_id in answered:
                refused += 1
                print(
                    f"not requeued {p}:{o}: command {command_id} already has a result, so the "
                    "appliers would skip it; send the corrected command with a new command_id",
                    file=sys.stderr,
                )
                continue
            await pub.send_raw(topics.COMMANDS, letter.key, letter.value, list(letter.headers))
            print(f"requeued {p}:{o} → {topics.COMMANDS}", file=out)
    missing = set(which) - {"all"} - {f"{p}:{o}" for p, o, _ in chosen}
    for name in sorted(missing):
        print(f"no dead letter {name}", file=sys.stderr)
    return 1 if missing or refused else 0


async def _answered(partitions: set[int], kafka: KafkaConfig) -> set[str]:
    """Command ids with a result in the ``command-results.v1`` partitions of these commands
    partitions (results are keyed like their commands)."""
    if not partitions:
        return set()
    consumer = AIOKafkaConsumer(**consumer_kwargs(kafka))
    await consumer.start()
    try:
        return await read_result_ids(consumer, partitions)
    finally:
        async with asyncio.timeout(10):
            await consumer.stop()
