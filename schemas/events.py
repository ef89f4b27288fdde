"""Event envelopes published on ``orders.v1`` and ``refunds.v1``, and their deterministic ids.

Every event is a full envelope (``id``, ``type``, ``time``, ``platform``, ``account``,
``subject``, ``schema_version``, ``data``), tagged by ``type`` so one typed decoder reads any of
them. ``subject`` is always the order id (the record key's last part); a refund or cancellation
event carries its own id inside ``data``.

The id is derived from the content — type, platform, account, subject, ``data`` and the
``previous_*`` fields — and never from ``time`` (when the pipeline observed the change). A
repeat after a crash or an overlapping poll window therefore carries the same id, and two
events with the same id always carry the same data: consumers deduplicate on ``id``.
"""

from __future__ import annotations

import collections
import hashlib
import uuid
from typing import Any, ClassVar, Final, TypeVar

import msgspec

from schemas import topics
from schemas.order import Cancellation, Order, Refund
from schemas.status import CancellationState, OrderStatus, RefundState
from schemas.times import AwareDatetime

SCHEMA_VERSION: Final = 1
#: Namespace of the uuid5 event ids (fixed forever: changing it changes every id).
EVENT_ID_NAMESPACE: Final = uuid.UUID("6f1e2c3a-9b7d-5e4f-8a21-0c3d5b7e9f10")


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Fields every event envelope has. Concrete classes add ``data``."""

    topic: ClassVar[str]

    id: str
    time: AwareDatetime
    platform: str
    account: str
    subject: str
    schema_version: int = SCHEMA_VERSION

    @property
    def type(self) -> str:
        tag = self.__struct_config__.tag
        assert isinstance(tag, str)  # noqa: S101 - every concrete event is tagged
        return tag

    def key(self) -> bytes:
        return topics.order_key(self.platform, self.account, self.subject)


class OrderCreated(Event, frozen=True, tag="order.created"):
    """An order seen for the first time."""

    topic: ClassVar[str] = topics.ORDERS
    data: Order


class OrderStatusChanged(Event, frozen=True, tag="order.status_changed"):
    """The canonical status (or, with the same canonical status, the raw status) changed."""

    topic: ClassVar[str] = topics.ORDERS
    data: Order
    previous_status: OrderStatus
    previous_raw_status: str


class OrderUpdated(Event, frozen=True, tag="order.updated"):
    """Something other than the status changed (items, shipments, invoice, addresses...)."""

    topic: ClassVar[str] = topics.ORDERS
    data: Order
    changed: tuple[str, ...] = ()


class RefundRequested(Event, frozen=True, tag="refund.requested"):
    topic: ClassVar[str] = topics.REFUNDS
    data: Refund


class RefundUpdated(Event, frozen=True, tag="refund.updated"):
    topic: ClassVar[str] = topics.REFUNDS
    data: Refund
    previous_state: RefundState | None = None


class CancellationRequested(Event, frozen=True, tag="cancellation.requested"):
    topic: ClassVar[str] = topics.REFUNDS
    data: Cancellation


class CancellationUpdated(Event, frozen=True, tag="cancellation.updated"):
    topic: ClassVar[str] = topics.REFUNDS
    data: Cancellation
    previous_state: CancellationState | None = None


AnyEvent = (
    OrderCreated
    | OrderStatusChanged
    | OrderUpdated
    | RefundRequested
    | RefundUpdated
    | CancellationRequested
    | CancellationUpdated
)
EVENT_TYPES: Final[dict[str, type[Event]]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in (
        OrderCreated,
        OrderStatusChanged,
        OrderUpdated,
        RefundRequested,
        RefundUpdated,
        CancellationRequested,
        CancellationUpdated,
    )
}

_encoder = msgspec.json.Encoder(order="sorted")
_wire_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[AnyEvent] = msgspec.json.Decoder(AnyEvent)
_E = TypeVar("_E", bound=Event)
#: Envelope fields that are not part of the id's content.
_NOT_CONTENT: Final = frozenset({"id", "time", "platform", "account", "subject", "schema_version"})
_NAMESPACE_BYTES: Final = EVENT_ID_NAMESPACE.bytes
_SEP: Final = b"\x1f"
#: The sorted JSON of the ``data`` of events built lately, by event id, until the publisher
#: writes them (see :func:`encode_event`). Bounded: an entry nobody asks for is dropped first.
_RECENT_DATA: collections.OrderedDict[str, tuple[object, bytes]] = collections.OrderedDict()
_RECENT_MAX: Final = 4096
#: Per event class, its content fields besides ``data`` (see :func:`_content_json`).
_EXTRA_CONTENT: dict[type[Event], tuple[str, ...]] = {}


def canonical_json(value: Any) -> bytes:
    """``value`` as JSON with sorted keys and no whitespace: the bytes event ids hash."""
    return _encoder.encode(value)


def event_id(event_type: str, platform: str, account: str, subject: str, content: Any) -> str:
    """Deterministic id: uuid5 over the type, the addressing fields and the sorted JSON content."""
    return _id_of_body(event_type, platform, account, subject, _encoder.encode(content))


def _id_of_body(event_type: str, platform: str, account: str, subject: str, body: bytes) -> str:
    head = _SEP.join((event_type.encode(), platform.encode(), account.encode(), subject.encode()))
    # uuid.uuid5(EVENT_ID_NAMESPACE, name.decode()) with name = head + _SEP + body hashes
    # name.decode().encode(): the same bytes (msgspec writes UTF-8). Hashing them directly, in
    # pieces, skips decoding ~2 KB to str, encoding it back and copying it, and setting the
    # version and variant bits here skips uuid.UUID's checks: the same string. A test pins
    # the ids against uuid5.
    sha1 = hashlib.sha1(_NAMESPACE_BYTES, usedforsecurity=False)
    sha1.update(head)
    sha1.update(_SEP)
    sha1.update(body)
    digest = bytearray(sha1.digest())
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_event(
    cls: type[_E],
    *,
    time: AwareDatetime,
    data: Order | Refund | Cancellation,
    data_json: bytes | None = None,
    **extra: Any,
) -> _E:
    """Build an event of ``cls`` around ``data``, computing ``subject`` and the id.

    ``extra`` carries the type's own fields (``previous_status``, ``changed``...).
    ``data_json`` is ``canonical_json(data)`` when the caller has it already (change detection
    encodes each record once for its fingerprint, its id and the record value).
    """
    event = cls(
        id="",
        time=time,
        platform=data.platform,
        account=data.account,
        subject=data.order_id,
        data=data,  # type: ignore[call-arg]
        **extra,
    )
    if data_json is None:
        data_json = _encoder.encode(data)
    event_id = _id_of_body(
        event.type, event.platform, event.account, event.subject, _content_json(event, data_json)
    )
    # The id is the only field set after construction; the draft never left this function.
    msgspec.structs.force_setattr(event, "id", event_id)
    _remember(event_id, data, data_json)
    return event


def _content_json(event: Event, data_json: bytes) -> bytes:
    """The sorted JSON of an event's content (every field but the envelope's), with ``data``
    written as the bytes given: the same bytes as encoding the content whole."""
    cls = type(event)
    names = _EXTRA_CONTENT.get(cls)
    if names is None:
        names = _EXTRA_CONTENT[cls] = tuple(
            name for name in cls.__struct_fields__ if name not in _NOT_CONTENT and name != "data"
        )
    if not names:  # *.created / *.requested: the sorted encoder's very bytes, without a dict
        return b'{"data":' + data_json + b"}"
    content: dict[str, Any] = {name: getattr(event, name) for name in names}
    content["data"] = msgspec.Raw(data_json)
    return _encoder.encode(content)


def expected_id(event: Event) -> str:
    """Recompute an event's id from its content (a consumer can verify ids with it)."""
    body = _content_json(event, _encoder.encode(getattr(event, "data", None)))
    return _id_of_body(event.type, event.platform, event.account, event.subject, body)


def _remember(event_id: str, data: object, data_json: bytes) -> None:
    if len(_RECENT_DATA) >= _RECENT_MAX:
        _RECENT_DATA.popitem(last=False)
    _RECENT_DATA[event_id] = (data, data_json)


def encode_event(event: Event) -> bytes:
    """The event's JSON record value: the envelope in field order, ``data`` with sorted keys
    (the very bytes its id hashes, so they are encoded once per event)."""
    data = getattr(event, "data", None)
    known = _RECENT_DATA.pop(event.id, None)
    data_json = known[1] if known is not None and known[0] is data else _encoder.encode(data)
    return _wire_encoder.encode(msgspec.structs.replace(event, data=msgspec.Raw(data_json)))


def decode_event(raw: bytes) -> AnyEvent:
    """Decode any event envelope; raises ``msgspec.ValidationError`` naming the field path."""
    return _decoder.decode(raw)
