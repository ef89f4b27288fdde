"""Fuzzing the decoders that face other teams' bytes: commands (as the apply role's consumer
decodes them), events and CloudEvents headers.

The consumer under test is the real :class:`pipeline.command_consumer.CommandConsumer`; only its
two ports are stand-ins (a recording sender for the broker and no appliers), so every record ends
at the decoding step: a dead letter, or an ``invalid`` result for an account this worker lacks.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import msgspec
import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from hypothesis import given
from hypothesis import strategies as st

from pipeline.clock import ManualClock
from pipeline.command_consumer import CommandConsumer
from schemas import (
    CommandResult,
    DeadLetter,
    Outcome,
    decode_command,
    decode_event,
    encode_command,
    topics,
)
from schemas.cloudevents import CloudEventHeaderError, from_headers
from schemas.commands import COMMAND_TYPES, CommandDecodeError
from schemas.examples import sample_commands, sample_events

from .budget import fuzz_settings

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
TP = TopicPartition(topics.COMMANDS, 0)
SAMPLES = {c.type: msgspec.to_builtins(c) for c in sample_commands()}


class Recorder:
    """The broker side of the consumer: every record it would have sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]] = []

    async def send_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Any = (),
        *,
        within: float | None = None,
    ) -> None:
        self.sent.append((topic, key, value, list(headers)))

    def on(self, topic: str) -> list[bytes]:
        return [v or b"" for t, _, v, _ in self.sent if t == topic]


def _record(value: bytes | None, headers: list[tuple[str, bytes]], key: bytes | None) -> Any:
    return ConsumerRecord(
        topic=TP.topic,
        partition=TP.partition,
        offset=41,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value or b""),
        headers=headers,
    )


def dispatch(
    value: bytes | None, *, ce_id: bytes | None = None, key: bytes | None = b"pazarama:main"
) -> Recorder:
    """One record through the consumer's decoding step; what it sent to the broker."""
    recorder = Recorder()
    consumer = CommandConsumer(
        consumer_factory=lambda: None,  # type: ignore[arg-type,return-value]
        results_reader=lambda _: None,
        sender=recorder,
        applier_for=lambda _platform, _account: None,
        clock=ManualClock(NOW),
    )
    consumer.assigned_partitions.add(TP)  # results go out only for partitions it holds
    headers = [("ce_id", ce_id)] if ce_id is not None else []
    asyncio.run(consumer._dispatch(TP, _record(value, headers, key)))
    return recorder


def _letters(recorder: Recorder) -> list[DeadLetter]:
    return [msgspec.json.decode(v, type=DeadLetter) for v in recorder.on(topics.COMMANDS_DLQ)]


def _results(recorder: Recorder) -> list[CommandResult]:
    return [msgspec.json.decode(v, type=CommandResult) for v in recorder.on(topics.COMMAND_RESULTS)]


def _assert_one_fate(recorder: Recorder, value: bytes | None, ce_id: bytes | None) -> None:
    """Undecodable: one dead letter with the original bytes (plus an ``invalid`` result when the
    header names the command); decodable: one ``invalid`` result (no applier for any account)."""
    letters, results = _letters(recorder), _results(recorder)
    try:
        command = decode_command(value or b"")
    except CommandDecodeError as exc:
        assert len(letters) == 1, recorder.sent
        letter = letters[0]
        assert letter.value == value and letter.key == b"pazarama:main"
        assert (letter.topic, letter.partition, letter.offset) == (TP.topic, 0, 41)
        assert letter.error and letter.error == str(exc)[:2000]
        assert letter.error.startswith(("invalid command", "undecodable command"))
        if ce_id:
            assert [r.outcome for r in results] == [Outcome.INVALID]
            assert results[0].command_id == ce_id.decode("utf-8", "replace")
            assert results[0].error and topics.COMMANDS_DLQ in results[0].error
        else:
            assert results == []
    else:
        assert letters == []
        assert [(r.command_id, r.outcome) for r in results] == [
            (command.command_id, Outcome.INVALID)
        ]
        assert f"{command.platform}:{command.account}" in (results[0].error or "")


# ----------------------------------------------------------------------------- random input

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@fuzz_settings(150)
@given(value=st.binary(max_size=300) | st.none(), ce_id=st.none() | st.binary(max_size=20))
def test_random_bytes_end_in_the_dlq_with_the_original_bytes(
    value: bytes | None, ce_id: bytes | None
) -> None:
    _assert_one_fate(dispatch(value, ce_id=ce_id), value, ce_id)


@fuzz_settings(150)
@given(doc=json_values, ce_id=st.none() | st.just(b"cmd-from-header"))
def test_random_json_ends_in_the_dlq_or_as_invalid(doc: object, ce_id: bytes | None) -> None:
    value = json.dumps(doc).encode()
    _assert_one_fate(dispatch(value, ce_id=ce_id), value, ce_id)


def test_deeply_nested_json_is_a_dead_letter_not_a_crash() -> None:
    value = b"[" * 100_000 + b"]" * 100_000
    recorder = dispatch(value, ce_id=b"cmd-deep")
    assert [letter.value for letter in _letters(recorder)] == [value]
    assert [r.outcome for r in _results(recorder)] == [Outcome.INVALID]


# ----------------------------------------------------------------------------- near-valid

#: Values no field of that kind accepts (each mutation below makes the command invalid).
_NOT_AN_ID = st.sampled_from([None, 7, [], {}, "", "x" * 201, True])
_NOT_OPTIONAL_TEXT = st.sampled_from([7, [], {}, True, 1.5])
_NOT_A_TIME = st.sampled_from(["2026-05-01T12:00:00", "yarın", "", 1746100800, None, "2026-13-01"])
_WRONG: dict[str, st.SearchStrategy[Any]] = {
    "command_id": _NOT_AN_ID,
    "platform": _NOT_AN_ID,
    "account": _NOT_AN_ID,
    "order_id": _NOT_AN_ID,
    "issued_at": _NOT_A_TIME,
    "expires_at": _NOT_A_TIME.filter(lambda v: v is not None),
    "item_ids": st.sampled_from(["item-1", [1], [""], {"a": 1}, ["x" * 201]]),
    "status": st.sampled_from(["bogus", "PREPARING", 3, None, ""]),
    "reason": _NOT_OPTIONAL_TEXT,
    "carrier": _NOT_AN_ID,
    "tracking_number": _NOT_AN_ID,
    "tracking_url": _NOT_OPTIONAL_TEXT,
    "carrier_code": _NOT_OPTIONAL_TEXT,
    "desi": st.sampled_from([0, -3, "5", 2.5, True]),
    "url": st.sampled_from(["", "u" * 2001, None, 9]),
    "number": _NOT_OPTIONAL_TEXT,
    "refund_id": _NOT_AN_ID,
    "cancellation_id": _NOT_AN_ID,
    "decision": st.sampled_from(["maybe", "APPROVE", None, 1]),
    "reason_code": _NOT_OPTIONAL_TEXT,
    "description": _NOT_OPTIONAL_TEXT,
    "documents": st.sampled_from(
        [
            [{"name": "a.png", "content": "aGk="}] * 4,
            [{"name": "", "content": "aGk="}],
            [{"name": "a.png", "content": "not base64!"}],
            [{"name": "a.png"}],
            [{"name": "a.png", "content": "aGk=", "size": 2}],
            "a.png",
        ]
    ),
}
_OPTIONAL = {"expires_at", "item_ids", "reason", "tracking_url", "carrier_code", "desi", "number"}
_OPTIONAL |= {"reason_code", "description", "documents"}


def fields_of(kind: str) -> set[str]:
    return {f.name for f in msgspec.structs.fields(COMMAND_TYPES[kind])}


@st.composite
def near_valid(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A sample command with exactly one field broken; the field the error must name."""
    kind = draw(st.sampled_from(sorted(SAMPLES)))
    doc = dict(SAMPLES[kind])
    fields = sorted(set(_WRONG) & fields_of(kind) | set(doc) - {"type"})
    name = draw(st.sampled_from(fields))
    how = draw(st.sampled_from(["wrong", "missing", "extra", "type"]))
    if how == "missing" and name not in _OPTIONAL:
        doc.pop(name, None)
        return doc, name
    if how == "extra":
        extra = draw(st.sampled_from(["bogus", "Command_Id", "status_code", "trackingNumber"]))
        doc[extra] = draw(json_values)
        return doc, extra
    if how == "type":
        doc["type"] = draw(st.sampled_from(["order.unknown", "", None, 3, "ORDER.SHIP"]))
        return doc, "type"
    doc[name] = draw(_WRONG[name])
    return doc, name


@fuzz_settings(200)
@given(case=near_valid(), with_id=st.booleans())
def test_a_command_with_one_bad_field_is_invalid_naming_the_field(
    case: tuple[dict[str, Any], str], with_id: bool
) -> None:
    doc, field = case
    value = json.dumps(doc, ensure_ascii=False).encode()
    ce_id = b"cmd-near" if with_id else None
    recorder = dispatch(value, ce_id=ce_id)
    with pytest.raises(CommandDecodeError) as caught:
        decode_command(value)
    letters = _letters(recorder)
    assert len(letters) == 1 and letters[0].value == value
    assert f"`{field}`" in letters[0].error or f"$.{field}" in letters[0].error, letters[0].error
    assert letters[0].error == str(caught.value)
    if with_id:
        (result,) = _results(recorder)
        assert result.outcome is Outcome.INVALID and result.command_id == "cmd-near"
        assert field in (result.error or "")


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_the_unmutated_samples_decode(kind: str) -> None:
    """The near-valid generator starts from commands that are valid (else it proves nothing)."""
    value = msgspec.json.encode(SAMPLES[kind])
    assert encode_command(decode_command(value)) == encode_command(decode_command(value))
    (result,) = _results(dispatch(value))
    assert result.outcome is Outcome.INVALID and "unknown account pazarama:main" in (
        result.error or ""
    )


# ----------------------------------------------------------------------------- events, headers

EVENT_SAMPLES = [msgspec.json.encode(e) for e in sample_events()]


@fuzz_settings(150)
@given(
    value=st.binary(max_size=300)
    | json_values.map(lambda d: json.dumps(d).encode())
    | st.tuples(st.sampled_from(EVENT_SAMPLES), st.integers(0, 4000)).map(lambda t: t[0][: t[1]])
)
def test_the_event_decoder_raises_only_its_documented_error(value: bytes) -> None:
    try:
        decode_event(value)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        assert str(exc)


@fuzz_settings(150)
@given(
    headers=st.lists(
        st.tuples(
            st.sampled_from(["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time"])
            | st.text(max_size=12),
            st.none() | st.binary(max_size=30) | st.sampled_from([b"1.0", b"2026-05-01T12:00Z"]),
        ),
        max_size=8,
    )
)
def test_cloudevents_headers_raise_only_their_own_error(
    headers: list[tuple[str, bytes | None]],
) -> None:
    try:
        attrs = from_headers(headers)
    except CloudEventHeaderError as exc:
        assert str(exc)
    else:
        assert attrs.id and attrs.source and attrs.type
        assert attrs.time is None or attrs.time.tzinfo is not None
