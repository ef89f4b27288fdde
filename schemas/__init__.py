"""The contract other teams consume: canonical records, events, commands, results.

Install the distribution and import from here; nothing in this package imports the workers::

    import schemas
    event = schemas.decode_event(record.value)
    if isinstance(event, schemas.OrderStatusChanged):
        print(event.data.order_id, event.previous_status, "→", event.data.status)

JSON Schema files for every type and an AsyncAPI 3.0 document describing the topics live in
``schemas/json/`` (regenerate with ``pipeline schemas export``).
"""

from schemas import topics
from schemas.cloudevents import (
    CloudEventAttributes,
    CloudEventHeaderError,
    command_attributes,
    event_attributes,
    from_headers,
    result_attributes,
    to_headers,
)
from schemas.commands import (
    COMMAND_TYPES,
    AnyCommand,
    AttachInvoice,
    Command,
    CommandDecodeError,
    CommandResult,
    DeadLetter,
    DecideCancellation,
    DecideRefund,
    Document,
    Outcome,
    SetStatus,
    Ship,
    decode_command,
    decode_result,
    encode_command,
)
from schemas.events import (
    EVENT_TYPES,
    SCHEMA_VERSION,
    AnyEvent,
    CancellationRequested,
    CancellationUpdated,
    Event,
    OrderCreated,
    OrderStatusChanged,
    OrderUpdated,
    RefundRequested,
    RefundUpdated,
    decode_event,
    encode_event,
    event_id,
    expected_id,
    new_event,
)
from schemas.money import Money, normalize_currency
from schemas.order import (
    Address,
    Cancellation,
    Invoice,
    LineItem,
    Order,
    Party,
    PartyKind,
    Refund,
    Shipment,
    Totals,
)
from schemas.status import (
    ORDER_TRANSITIONS,
    TERMINAL_ORDER_STATUSES,
    CancellationState,
    OrderStatus,
    RefundState,
    is_allowed_transition,
    is_terminal,
)
from schemas.times import ISTANBUL, AwareDatetime, from_istanbul, to_istanbul

__all__ = [
    "COMMAND_TYPES",
    "EVENT_TYPES",
    "ISTANBUL",
    "ORDER_TRANSITIONS",
    "SCHEMA_VERSION",
    "TERMINAL_ORDER_STATUSES",
    "Address",
    "AnyCommand",
    "AnyEvent",
    "AttachInvoice",
    "AwareDatetime",
    "Cancellation",
    "CancellationRequested",
    "CancellationState",
    "CancellationUpdated",
    "CloudEventAttributes",
    "CloudEventHeaderError",
    "Command",
    "CommandDecodeError",
    "CommandResult",
    "DeadLetter",
    "DecideCancellation",
    "DecideRefund",
    "Document",
    "Event",
    "Invoice",
    "LineItem",
    "Money",
    "Order",
    "OrderCreated",
    "OrderStatus",
    "OrderStatusChanged",
    "OrderUpdated",
    "Outcome",
    "Party",
    "PartyKind",
    "Refund",
    "RefundRequested",
    "RefundState",
    "RefundUpdated",
    "SetStatus",
    "Ship",
    "Shipment",
    "Totals",
    "command_attributes",
    "decode_command",
    "decode_event",
    "decode_result",
    "encode_command",
    "encode_event",
    "event_attributes",
    "event_id",
    "expected_id",
    "from_headers",
    "from_istanbul",
    "is_allowed_transition",
    "is_terminal",
    "new_event",
    "normalize_currency",
    "result_attributes",
    "to_headers",
    "to_istanbul",
    "topics",
]
