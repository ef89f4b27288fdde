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
import hashlib
from collections.abc import Callable
from typing import Any, Final

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
from schemas.status import TERMINAL_CANCELLATION_STATES, TERMINAL_REFUND_STATES

Record = Order | Refund | Cancellation

_encoder = msgspec.json.Encoder(order="sorted")

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


def _digest(value: Any) -> str:
    return hashlib.blake2b(_encoder.encode(value), digest_size=8).hexdigest()


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


def _parts(record: Record) -> dict[str, str]:
    if isinstance(record, Order):
        return {
            part: _digest([getattr(record, f) for f in fields])
            for part, fields in ORDER_PARTS.items()
        }
    fields = {
        f: getattr(record, f) for f in record.__struct_fields__ if f not in _NOT_PARTS | {"state"}
    }
    fields.pop("raw_state", None)
    return {"record": _digest(fields)}


def fingerprint(record: Record, *, seen_at: dt.datetime) -> Fingerprint:
    status, raw, terminal = _status(record)
    return Fingerprint(
        parts=_parts(record),
        status=status,
        raw_status=raw,
        created_at=_created(record, seen_at),
        terminal=terminal,
    )


def detect(
    record: Record, previous: Fingerprint | None, *, now: dt.datetime
) -> tuple[AnyEvent | None, Fingerprint]:
    """The event ``record`` deserves given what was last published, and its new fingerprint."""
    current = fingerprint(record, seen_at=now)
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
    return _event(record, previous, status_changed, changed, now), current


def _event(
    record: Record,
    previous: Fingerprint | None,
    status_changed: bool,
    changed: tuple[str, ...],
    now: dt.datetime,
) -> AnyEvent:
    build: Callable[..., AnyEvent] = new_event
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
