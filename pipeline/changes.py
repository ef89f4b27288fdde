"""Change detection: which event (if any) a freshly fetched record deserves.

A record's fingerprint is a digest per *part* (status, items, shipments, totals...). Comparing it
with the fingerprint of what was last published gives the event:

* no fingerprint → ``order.created`` / ``refund.requested`` / ``cancellation.requested``;
* another canonical or raw status → ``order.status_changed`` (with the previous status) or
  ``refund.updated`` / ``cancellation.updated`` (with the previous state);
* another digest in any other part → ``order.updated`` naming the changed parts (or the
  refund/cancellation ``*.updated``);
* nothing changed → no event (invariant 2: repeats of unchanged records are suppressed).

``updated_at`` alone is not a change: platforms touch it without changing anything we publish.
Everything here is pure; the poller owns the state.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Callable
from typing import Final

import msgspec

from pipeline.checkpoints import Fingerprint
from schemas import (
    TERMINAL_ORDER_STATUSES,
    AnyEvent,
    Cancellation,
    CancellationRequested,
    CancellationState,
    CancellationUpdated,
    Order,
    OrderCreated,
    OrderStatus,
    OrderStatusChanged,
    OrderUpdated,
    Refund,
    RefundRequested,
    RefundState,
    RefundUpdated,
    new_event,
)
from schemas.events import canonical_json
from schemas.status import TERMINAL_CANCELLATION_STATES, TERMINAL_REFUND_STATES

Record = Order | Refund | Cancellation

_encoder = msgspec.json.Encoder(order="sorted")
#: A record's sorted JSON split into its top-level fields, each kept as the bytes it was.
_fields_of = msgspec.json.Decoder(dict[str, msgspec.Raw])

#: Order fields grouped into the parts ``order.updated`` names in ``changed``.
ORDER_PARTS: Final[dict[str, tuple[str, ...]]] = {
    "items": ("items",),
    "shipments": ("shipments",),
    "invoice": ("invoice",),
    "totals": ("totals",),
    "parties": ("customer", "billing"),
    "addresses": ("shipping_address", "billing_address"),
    "details": (
        "order_number",
        "created_at",
        "payment_type",
        "sales_channel",
        "disputed",
        "note",
        "internal_id",
    ),
}
_NOT_PARTS: Final = frozenset({"status", "raw_status", "updated_at", "platform", "account"})
#: A refund's or cancellation's fields left out of its one digest.
_NOT_RECORD_PARTS: Final = _NOT_PARTS | {"state", "raw_state"}


def _digest(encoded: bytes) -> str:
    return hashlib.blake2b(encoded, digest_size=8).hexdigest()


def record_id(record: Record) -> str:
    match record:
        case Order():
            return record.order_id
        case Refund():
            return record.refund_id
        case Cancellation():
            return record.cancellation_id


def _created(record: Record, fallback: dt.datetime) -> dt.datetime:
    match record:
        case Order():
            return record.created_at
        case Refund() | Cancellation():
            return record.requested_at or fallback


def _status(record: Record) -> tuple[str, str, bool]:
    match record:
        case Order():
            return record.status.value, record.raw_status, record.status in TERMINAL_ORDER_STATUSES
        case Refund():
            return record.state.value, record.raw_state, record.state in TERMINAL_REFUND_STATES
        case Cancellation():
            terminal = record.state in TERMINAL_CANCELLATION_STATES
            return record.state.value, record.raw_state, terminal


def _parts(record: Record, record_json: bytes) -> dict[str, str]:
    """A digest per part, from the record's sorted JSON (:func:`schemas.events.canonical_json`).

    A part's digest is that of the sorted JSON of its fields' values in a list (the record
    without the status fields for a refund or cancellation). The record's JSON already holds
    each value's JSON, so it is split instead of encoding every value again: the same bytes.
    """
    fields = _fields_of.decode(record_json)
    if isinstance(record, Order):
        return {
            part: _digest(_encoder.encode([fields[f] for f in names]))
            for part, names in ORDER_PARTS.items()
        }
    rest = {f: v for f, v in fields.items() if f not in _NOT_RECORD_PARTS}
    return {"record": _digest(_encoder.encode(rest))}


def fingerprint(
    record: Record, *, seen_at: dt.datetime, record_json: bytes | None = None
) -> Fingerprint:
    """The record's fingerprint; ``record_json`` is its ``canonical_json`` if already made."""
    status, raw, terminal = _status(record)
    return Fingerprint(
        parts=_parts(record, canonical_json(record) if record_json is None else record_json),
        status=status,
        raw_status=raw,
        created_at=_created(record, seen_at),
        terminal=terminal,
    )


def detect(
    record: Record, previous: Fingerprint | None, *, now: dt.datetime
) -> tuple[AnyEvent | None, Fingerprint]:
    """The event ``record`` deserves given what was last published, and its new fingerprint."""
    record_json = canonical_json(record)
    current = fingerprint(record, seen_at=now, record_json=record_json)
    if previous is not None:
        # Keep the first creation time we saw for records whose platform gives none.
        current = msgspec.structs.replace(
            current, created_at=min(current.created_at, previous.created_at)
        )
    status_changed = previous is not None and (
        previous.status != current.status or previous.raw_status != current.raw_status
    )
    changed = (
        ()
        if previous is None
        else tuple(sorted(p for p, d in current.parts.items() if previous.parts.get(p) != d))
    )
    if previous is not None and not status_changed and not changed:
        return None, current
    return _event(record, previous, status_changed, changed, now, record_json), current


def _event(
    record: Record,
    previous: Fingerprint | None,
    status_changed: bool,
    changed: tuple[str, ...],
    now: dt.datetime,
    record_json: bytes,
) -> AnyEvent:
    build: Callable[..., AnyEvent] = functools.partial(new_event, data_json=record_json)
    match record:
        case Order():
            if previous is None:
                return build(OrderCreated, time=now, data=record)
            if status_changed:
                return build(
                    OrderStatusChanged,
                    time=now,
                    data=record,
                    previous_status=OrderStatus(previous.status),
                    previous_raw_status=previous.raw_status,
                )
            return build(OrderUpdated, time=now, data=record, changed=changed)
        case Refund():
            if previous is None:
                return build(RefundRequested, time=now, data=record)
            return build(
                RefundUpdated, time=now, data=record, previous_state=RefundState(previous.status)
            )
        case Cancellation():
            if previous is None:
                return build(CancellationRequested, time=now, data=record)
            return build(
                CancellationUpdated,
                time=now,
                data=record,
                previous_state=CancellationState(previous.status),
            )
