"""Commands consumed from ``commands.v1`` and the one result each gets on ``command-results.v1``.

Commands are a tagged union on ``type``, decoded strictly by one typed decoder: an unknown
type, a missing or mistyped field, or an unknown field is a :class:`CommandDecodeError` whose
message names the field path (``$.tracking_number``). Commands target a canonical status; each
platform's applier maps it to the platform's own value, or answers ``unsupported``.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Final, Literal

import msgspec

from schemas.status import OrderStatus
from schemas.times import AwareDatetime

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Command(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", forbid_unknown_fields=True
):
    """Fields every command has. ``item_ids`` empty means the whole order."""

    command_id: Id
    platform: Id
    account: Id
    order_id: Id
    issued_at: AwareDatetime
    item_ids: tuple[Id, ...] = ()
    expires_at: AwareDatetime | None = None

    @property
    def type(self) -> str:
        tag = self.__struct_config__.tag
        assert isinstance(tag, str)  # noqa: S101 - every concrete command is tagged
        return tag

    def expired(self, now: dt.datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


class SetStatus(Command, frozen=True, tag="order.set_status"):
    """Move the order (or the given items) to a canonical status."""

    status: OrderStatus
    reason: str | None = None


class Ship(Command, frozen=True, tag="order.ship"):
    """Hand the order (or items) to a carrier with a tracking number."""

    carrier: Id
    tracking_number: Id
    tracking_url: str | None = None
    #: The platform's own carrier id when the sender knows it (else resolved from ``carrier``).
    carrier_code: str | None = None
    #: Volumetric weight (desi), required by some platforms (e-Çarşı: 1-100).
    desi: Annotated[int, msgspec.Meta(ge=1)] | None = None


class AttachInvoice(Command, frozen=True, tag="order.attach_invoice"):
    """Attach an invoice link (and number) to the order or items."""

    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    number: str | None = None


Decision = Literal["approve", "reject"]


class Document(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A file attached to a decision (e.g. photos proving a return was used). ``content`` is
    base64 in JSON. Mind the topic's ``max.message.bytes`` when attaching large files."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    content: bytes


class DecideRefund(Command, frozen=True, tag="refund.decide"):
    """Approve or reject a customer's return/refund request."""

    refund_id: Id
    decision: Decision
    #: The platform's reject reason code (Pazarama RefundRejectType 1-12), required to reject
    #: where the platform requires one.
    reason_code: str | None = None
    description: str | None = None
    #: Evidence for a rejection (Pazarama requires 1-3 images, 5 MB each, for most reasons).
    documents: Annotated[tuple[Document, ...], msgspec.Meta(max_length=3)] = ()


class DecideCancellation(Command, frozen=True, tag="cancellation.decide"):
    """Approve or reject a customer's cancellation request."""

    cancellation_id: Id
    decision: Decision
    reason_code: str | None = None
    description: str | None = None


AnyCommand = SetStatus | Ship | AttachInvoice | DecideRefund | DecideCancellation
COMMAND_TYPES: Final[dict[str, type[Command]]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in (SetStatus, Ship, AttachInvoice, DecideRefund, DecideCancellation)
}


class CommandDecodeError(ValueError):
    """A command's bytes are not a valid command. The message names the field path."""


_decoder: msgspec.json.Decoder[AnyCommand] = msgspec.json.Decoder(AnyCommand)


def decode_command(raw: bytes) -> AnyCommand:
    try:
        return _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise CommandDecodeError(f"invalid command: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise CommandDecodeError(f"undecodable command: {exc}") from exc


def encode_command(command: Command) -> bytes:
    return msgspec.json.encode(command)


class Outcome(enum.StrEnum):
    """How a command ended. Exactly one final result is published per command."""

    APPLIED = "applied"
    ALREADY_APPLIED = "already_applied"
    REJECTED = "rejected"  # the platform refused it for good (its message is kept verbatim)
    UNSUPPORTED = "unsupported"  # the platform has no API for it; no HTTP call was made
    INVALID = "invalid"  # the command itself is malformed or names an unknown account
    FAILED = "failed"  # attempts or time budget exhausted; ``error`` holds the last error
    EXPIRED = "expired"  # ``expires_at`` passed before it could be applied


class CommandResult(msgspec.Struct, frozen=True, kw_only=True):
    """The result of one command, keyed ``platform:account`` on ``command-results.v1``.

    ``command_type``, ``platform``, ``account`` and ``order_id`` echo the command (empty when the
    command could not be decoded). ``message`` and ``platform_code`` are the platform's own words
    (Turkish kept verbatim); ``error`` is the pipeline's explanation.
    """

    command_id: str
    command_type: str
    platform: str
    account: str
    outcome: Outcome
    attempts: Annotated[int, msgspec.Meta(ge=0)]
    received_at: AwareDatetime
    finished_at: AwareDatetime
    order_id: str | None = None
    message: str | None = None
    platform_code: str | None = None
    request_id: str | None = None
    error: str | None = None
    schema_version: int = 1

    @property
    def duration_ms(self) -> float:
        return (self.finished_at - self.received_at).total_seconds() * 1000


_result_decoder = msgspec.json.Decoder(CommandResult)


def decode_result(raw: bytes) -> CommandResult:
    return _result_decoder.decode(raw)


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """A record on ``commands-dlq.v1``: the original bytes and where they came from."""

    error: str
    topic: str
    partition: int
    offset: int
    received_at: AwareDatetime
    key: bytes | None = None
    value: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
