"""Webservis writes: none of the pipeline's commands has an endpoint.

The document (V2.0.3) offers, for orders, only reads (``order/lists``, ``order/show``,
``order/summary1``) and ``order/fastSale``, which *creates* an order. There is no way to set a
status, hand an order to a carrier, attach an invoice or decide a refund or cancellation (the
document has no refund or cancellation records at all). Every command is therefore answered
``unsupported`` — with the reason below, at once, without any HTTP request (the applier can
also answer from ``capabilities.commands``, which is empty).

The product writes (``product/save`` ≤ 5, ``product/updateStocks`` ≤ 30,
``product/updatePrices`` ≤ 15 per call) exist, but the contract has no stock or price commands
yet; their batch limits are in :mod:`.payloads` for when it does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from pipeline.adapter import ApplyResult
from schemas import AnyCommand, Outcome

_NO_ORDER_WRITES: Final = (
    "the webservis API (V2.0.3) has no order write endpoint; orders are changed in the shop's "
    "panel (order/fastSale only creates new orders)"
)

#: command type → why it cannot be applied (every command type of the contract).
UNSUPPORTED: Final[dict[str, str]] = {
    "order.set_status": _NO_ORDER_WRITES,
    "order.ship": _NO_ORDER_WRITES + "; shipment codes can only be read (order/show)",
    "order.attach_invoice": _NO_ORDER_WRITES + "; the e-invoice code can only be read",
    "refund.decide": "the webservis API (V2.0.3) has no refund or return records",
    "cancellation.decide": "the webservis API (V2.0.3) has no cancellation records",
}


def unsupported_results(commands: Sequence[AnyCommand]) -> list[ApplyResult]:
    """One ``unsupported`` result per command, in order; no request is made."""
    return [
        ApplyResult(
            command_id=command.command_id,
            outcome=Outcome.UNSUPPORTED,
            message=UNSUPPORTED.get(command.type, _NO_ORDER_WRITES),
            requests=0,
        )
        for command in commands
    ]
