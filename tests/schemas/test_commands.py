import datetime as dt

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemas
from schemas import CommandDecodeError, decode_command, encode_command
from schemas.examples import sample_commands, sample_result


@pytest.mark.parametrize("command", sample_commands(), ids=lambda c: c.type)
def test_every_command_type_round_trips(command: schemas.Command) -> None:
    assert decode_command(encode_command(command)) == command


def test_command_type_set_is_the_documented_one() -> None:
    assert set(schemas.COMMAND_TYPES) == {
        "order.set_status",
        "order.ship",
        "order.attach_invoice",
        "refund.decide",
        "cancellation.decide",
    }


def _ship(**override: object) -> bytes:
    body = msgspec.to_builtins(sample_commands()[1])
    body.update(override)
    return msgspec.json.encode({k: v for k, v in body.items() if v is not ...})


def test_missing_field_is_named() -> None:
    with pytest.raises(CommandDecodeError, match=r"tracking_number"):
        decode_command(_ship(tracking_number=...))


def test_wrong_type_names_the_path() -> None:
    with pytest.raises(CommandDecodeError, match=r"\$\.desi"):
        decode_command(_ship(desi="heavy"))


def test_unknown_field_is_refused() -> None:
    with pytest.raises(CommandDecodeError, match="tracking_numbr"):
        decode_command(_ship(tracking_numbr="x"))


def test_unknown_command_type_is_refused() -> None:
    with pytest.raises(CommandDecodeError, match=r"order\.teleport"):
        decode_command(_ship(type="order.teleport"))


def test_naive_issued_at_is_refused() -> None:
    with pytest.raises(CommandDecodeError, match="issued_at"):
        decode_command(_ship(issued_at="2026-01-01T10:00:00"))


def test_unknown_status_is_refused() -> None:
    body = msgspec.to_builtins(sample_commands()[0])
    body["status"] = "teleported"
    with pytest.raises(CommandDecodeError, match=r"\$\.status"):
        decode_command(msgspec.json.encode(body))


def test_empty_command_id_is_refused() -> None:
    with pytest.raises(CommandDecodeError, match="command_id"):
        decode_command(_ship(command_id=""))


def test_expiry() -> None:
    cmd = sample_commands()[2]
    assert cmd.expires_at is not None
    assert not cmd.expired(cmd.expires_at - dt.timedelta(seconds=1))
    assert cmd.expired(cmd.expires_at)


@given(st.binary(max_size=300))
def test_random_bytes_only_ever_raise_command_decode_error(raw: bytes) -> None:
    try:
        decode_command(raw)
    except CommandDecodeError:
        pass


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(["type", "command_id", "platform", "order_id", "x"]),
        st.one_of(
            st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2)
        ),
    )
)
def test_random_json_objects_only_ever_raise_command_decode_error(body: dict[str, object]) -> None:
    try:
        decode_command(msgspec.json.encode(body))
    except CommandDecodeError:
        pass


def test_result_round_trips_and_reports_duration() -> None:
    result = sample_result()
    decoded = schemas.decode_result(msgspec.json.encode(result))
    assert decoded == result
    assert decoded.duration_ms == 1000.0
    assert decoded.outcome is schemas.Outcome.REJECTED
