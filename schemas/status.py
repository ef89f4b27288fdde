"""The canonical lifecycle of an order, a refund and a cancellation.

Every platform maps its own raw statuses onto these (the raw value travels beside the canonical
one, so nothing is lost), and an unrecognised raw status becomes ``unknown`` instead of an error.

Order lifecycle. The happy path is::

    awaiting_payment → awaiting_approval → received → in_supply → preparing → shipped
        → at_pickup_point → delivered → completed

with side branches: cancel_requested → cancelled / partially_cancelled (before shipping),
supply_failed (the seller could not supply), undeliverable (carrier gave up) → returned,
return_requested → return_approved | return_rejected → returned | completed, partially_returned,
and disputed (a complaint on an open order, resolved back into the lifecycle). The exact arrows
are the data in :data:`ORDER_TRANSITIONS` (also exported as ``schemas/json/order-status.json``).
``unknown`` may be entered from and left to any status. The graph documents what consumers may
see; the poller publishes whatever the platform says even when an arrow is missing.

Terminal statuses (an active sweep may stop refreshing them): completed, cancelled, returned,
supply_failed. ``undeliverable`` and ``return_rejected`` are not terminal: goods still move.
"""

from __future__ import annotations

import enum
from typing import Final


class OrderStatus(enum.StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    AWAITING_APPROVAL = "awaiting_approval"
    RECEIVED = "received"
    IN_SUPPLY = "in_supply"
    PREPARING = "preparing"
    SHIPPED = "shipped"
    AT_PICKUP_POINT = "at_pickup_point"
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"
    COMPLETED = "completed"
    CANCEL_REQUESTED = "cancel_requested"
    CANCELLED = "cancelled"
    PARTIALLY_CANCELLED = "partially_cancelled"
    SUPPLY_FAILED = "supply_failed"
    RETURN_REQUESTED = "return_requested"
    RETURN_APPROVED = "return_approved"
    RETURN_REJECTED = "return_rejected"
    RETURNED = "returned"
    PARTIALLY_RETURNED = "partially_returned"
    DISPUTED = "disputed"
    UNKNOWN = "unknown"


S = OrderStatus
_OPEN: Final = frozenset(
    {
        S.AWAITING_PAYMENT,
        S.AWAITING_APPROVAL,
        S.RECEIVED,
        S.IN_SUPPLY,
        S.PREPARING,
        S.SHIPPED,
        S.AT_PICKUP_POINT,
        S.DELIVERED,
        S.UNDELIVERABLE,
        S.RETURN_REQUESTED,
        S.RETURN_APPROVED,
        S.RETURN_REJECTED,
        S.CANCEL_REQUESTED,
        S.PARTIALLY_CANCELLED,
        S.PARTIALLY_RETURNED,
    }
)

#: status → statuses it may move to (besides ``unknown``, which is always allowed both ways).
ORDER_TRANSITIONS: Final[dict[OrderStatus, frozenset[OrderStatus]]] = {
    S.AWAITING_PAYMENT: frozenset({S.AWAITING_APPROVAL, S.RECEIVED, S.CANCELLED}),
    S.AWAITING_APPROVAL: frozenset(
        {S.RECEIVED, S.IN_SUPPLY, S.PREPARING, S.CANCEL_REQUESTED, S.CANCELLED}
    ),
    S.RECEIVED: frozenset(
        {
            S.AWAITING_APPROVAL,
            S.IN_SUPPLY,
            S.PREPARING,
            S.SHIPPED,
            S.CANCEL_REQUESTED,
            S.CANCELLED,
            S.PARTIALLY_CANCELLED,
            S.SUPPLY_FAILED,
            S.DISPUTED,
        }
    ),
    S.IN_SUPPLY: frozenset(
        {S.PREPARING, S.SHIPPED, S.SUPPLY_FAILED, S.CANCEL_REQUESTED, S.CANCELLED, S.DISPUTED}
    ),
    S.PREPARING: frozenset(
        {
            S.SHIPPED,
            S.CANCEL_REQUESTED,
            S.CANCELLED,
            S.PARTIALLY_CANCELLED,
            S.SUPPLY_FAILED,
            S.DISPUTED,
        }
    ),
    S.SHIPPED: frozenset({S.AT_PICKUP_POINT, S.DELIVERED, S.UNDELIVERABLE, S.RETURNED, S.DISPUTED}),
    S.AT_PICKUP_POINT: frozenset({S.DELIVERED, S.UNDELIVERABLE, S.RETURNED, S.DISPUTED}),
    S.DELIVERED: frozenset(
        {S.COMPLETED, S.RETURN_REQUESTED, S.PARTIALLY_RETURNED, S.RETURNED, S.DISPUTED}
    ),
    S.UNDELIVERABLE: frozenset({S.SHIPPED, S.RETURNED, S.CANCELLED, S.DELIVERED}),
    S.COMPLETED: frozenset({S.RETURN_REQUESTED, S.DISPUTED}),
    S.CANCEL_REQUESTED: frozenset(
        {S.CANCELLED, S.PARTIALLY_CANCELLED, S.RECEIVED, S.PREPARING, S.SHIPPED}
    ),
    S.CANCELLED: frozenset(),
    S.PARTIALLY_CANCELLED: frozenset(
        {S.PREPARING, S.SHIPPED, S.CANCELLED, S.DELIVERED, S.DISPUTED}
    ),
    S.SUPPLY_FAILED: frozenset({S.CANCELLED}),
    S.RETURN_REQUESTED: frozenset(
        {S.RETURN_APPROVED, S.RETURN_REJECTED, S.RETURNED, S.PARTIALLY_RETURNED, S.DISPUTED}
    ),
    S.RETURN_APPROVED: frozenset({S.RETURNED, S.PARTIALLY_RETURNED}),
    S.RETURN_REJECTED: frozenset({S.COMPLETED, S.DELIVERED, S.DISPUTED}),
    S.RETURNED: frozenset(),
    S.PARTIALLY_RETURNED: frozenset({S.RETURNED, S.COMPLETED, S.RETURN_REQUESTED}),
    S.DISPUTED: _OPEN | frozenset({S.CANCELLED, S.RETURNED, S.COMPLETED}),
    S.UNKNOWN: frozenset(set(S) - {S.UNKNOWN}),
}

TERMINAL_ORDER_STATUSES: Final = frozenset({S.COMPLETED, S.CANCELLED, S.RETURNED, S.SUPPLY_FAILED})


def is_allowed_transition(old: OrderStatus, new: OrderStatus) -> bool:
    """Whether the lifecycle documents ``old → new`` (staying put is always allowed)."""
    if old == new or S.UNKNOWN in (old, new):
        return True
    return new in ORDER_TRANSITIONS[old]


def is_terminal(status: OrderStatus) -> bool:
    return status in TERMINAL_ORDER_STATUSES


class RefundState(enum.StrEnum):
    """A return/refund request: the customer asks, the seller (or platform) decides."""

    REQUESTED = "requested"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    COMPLETED = "completed"  # money returned to the customer
    WITHDRAWN = "withdrawn"  # the customer cancelled the request
    UNKNOWN = "unknown"


class CancellationState(enum.StrEnum):
    """A cancellation request on an order or an item."""

    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"  # the customer took the request back
    UNKNOWN = "unknown"


TERMINAL_REFUND_STATES: Final = frozenset(
    {RefundState.REJECTED, RefundState.COMPLETED, RefundState.WITHDRAWN}
)
TERMINAL_CANCELLATION_STATES: Final = frozenset(
    {CancellationState.REJECTED, CancellationState.COMPLETED, CancellationState.WITHDRAWN}
)
