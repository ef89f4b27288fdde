"""Pazarama writes: commands → requests, following the document's rules.

* An item must go 3 → 12 before anything else: a command targeting a later status for items
  still at 3 first moves them to 12 (one extra request), as the document prescribes. A whole
  order at 3 goes to 12 with ``updateOrderStatusList``; several items of an order share one
  ``bulk-status-update``; a single item uses ``updateOrderStatus``.
* Shipping (status 5) needs a carrier id from ``getSellerDelivery`` (matched by name with a
  Turkish-aware fold, or given as ``carrier_code``) and a tracking number — hence ``order.ship``;
  ``order.set_status`` to ``shipped`` is ``invalid``. Status 11 is sent with every other field
  null (3.33).
* Every status write is preceded by a read of the order, so a repeat after a timeout or a crash
  answers ``already_applied`` instead of writing twice (invariant 4).
* invoice-link takes the order GUID (``internal_id``) and at most one item.
* Refund rejection needs a ``RefundRejectType`` 1-12 (``reason_code``), a description and —
  except for reasons 10 and 11 — 1 to 3 images of at most 5 MB (``documents``); a command
  without them is ``invalid`` and no request is sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from pipeline.adapter import ApplyResult
from pipeline.dates import turkish_fold
from pipeline.errors import PlatformDecodeError, PlatformError, RejectedError
from pipeline.platforms.pazarama import payloads as raw
from pipeline.platforms.pazarama.mapping import PLATFORM, SELLER_SOURCES, WRITABLE_ITEM_STATUS
from pipeline.ratelimit import Lane
from schemas import (
    AnyCommand,
    AttachInvoice,
    DecideCancellation,
    DecideRefund,
    Order,
    OrderStatus,
    Outcome,
    SetStatus,
    Ship,
)

if TYPE_CHECKING:
    from pipeline.platforms.pazarama.client import PazaramaClient


class PazaramaCommands:
    """Applies commands through one :class:`PazaramaClient`."""

    def __init__(self, client: PazaramaClient) -> None:
        self._client = client

    async def apply_one(self, command: AnyCommand) -> ApplyResult:
        before = self._client.requests_sent
        try:
            match command:
                case SetStatus():
                    outcome, message = await self._set_status(command)
                case Ship():
                    outcome, message = await self._ship(command)
                case AttachInvoice():
                    outcome, message = await self._attach_invoice(command)
                case DecideRefund():
                    outcome, message = await self._decide_refund(command)
                case DecideCancellation():
                    outcome, message = await self._decide_cancellation(command)
        except PlatformError as exc:
            return ApplyResult.from_error(
                command.command_id, exc, requests=self._client.requests_sent - before
            )
        return ApplyResult(
            command_id=command.command_id,
            outcome=outcome,
            message=message,
            requests=self._client.requests_sent - before,
        )

    async def _order_for(self, command: AnyCommand) -> Order:
        order = await self._client.fetch_order(command.order_id)
        if order is None:
            raise self._client.ctx("order/getOrdersForApi").error(
                RejectedError,
                f"order {command.order_id} not found",
                platform_message=f"order {command.order_id} not found in the lookup horizon",
            )
        return order

    @staticmethod
    def _items(order: Order, command: AnyCommand) -> list[tuple[str, int]]:
        """(item id, current raw code) of the items a command targets."""
        wanted = set(command.item_ids)
        unknown = wanted - {i.item_id for i in order.items}
        if unknown:
            raise RejectedError(
                f"unknown item id(s) {sorted(unknown)}",
                platform=PLATFORM,
                platform_message=f"order {order.order_id} has no item(s) {sorted(unknown)}",
            )
        return [
            (item.item_id, int(item.raw_status or 0))
            for item in order.items
            if not wanted or item.item_id in wanted
        ]

    async def _to_preparing(self, order: Order, items: list[tuple[str, int]]) -> None:
        """The document's rule: items at 3 go to 12 before any other status."""
        at_received = [i for i, code in items if code == raw.ITEM_STATUS_RECEIVED]
        if not at_received:
            return
        all_items = {i.item_id for i in order.items}
        number = int(order.order_id)
        if set(at_received) == all_items:
            await self._client.call(
                "PUT",
                "/order/updateOrderStatusList",
                lane=Lane.COMMAND,
                json=raw.UpdateOrderStatusListRequest(
                    order_number=number, status=raw.ITEM_STATUS_PREPARING
                ),
            )
        else:
            await self._status_write(
                number,
                at_received,
                raw.ShipmentUpdate(status=raw.ITEM_STATUS_PREPARING, delivery_type=1, sub_status=0),
            )

    async def _status_write(
        self, number: int, item_ids: list[str], update: raw.ShipmentUpdate
    ) -> None:
        if len(item_ids) == 1 and update.status == raw.ITEM_STATUS_PREPARING:
            await self._client.call(
                "PUT",
                "/order/updateOrderStatus",
                lane=Lane.COMMAND,
                json=raw.UpdateOrderStatusRequest(
                    order_number=number,
                    item=raw.StatusItem(order_item_id=item_ids[0], status=update.status),
                ),
            )
            return
        await self._client.call(
            "POST",
            "/order/api/bulk-status-update",
            lane=Lane.COMMAND,
            json=raw.BulkStatusUpdateRequest(
                order_number=number, order_item_ids=item_ids, update_shipment_dto=update
            ),
        )

    async def _set_status(self, command: SetStatus) -> tuple[Outcome, str | None]:
        code = WRITABLE_ITEM_STATUS.get(command.status)
        if code is None:
            return Outcome.UNSUPPORTED, (
                f"pazarama sellers cannot set {command.status.value}; writable: "
                + ", ".join(s.value for s in WRITABLE_ITEM_STATUS)
            )
        if command.status is OrderStatus.SHIPPED:
            return Outcome.INVALID, "shipping needs a carrier and tracking number: use order.ship"
        order = await self._order_for(command)
        items = self._items(order, command)
        pending = [(i, c) for i, c in items if c != code]
        if not pending:
            return Outcome.ALREADY_APPLIED, None
        refusal = _not_allowed(pending, code)
        if refusal:
            return Outcome.REJECTED, refusal
        await self._to_preparing(order, pending)
        if code != raw.ITEM_STATUS_PREPARING:
            update = (
                raw.ShipmentUpdate(status=code)  # 11: every other field null (3.33)
                if code == 11
                else raw.ShipmentUpdate(status=code, delivery_type=1, sub_status=0)
            )
            await self._status_write(int(order.order_id), [i for i, _ in pending], update)
        return Outcome.APPLIED, None

    async def _carrier_id(self, command: Ship) -> str | None:
        if command.carrier_code:
            return command.carrier_code
        wanted = turkish_fold(command.carrier).replace(" kargo", "").strip()
        for carrier in await self._client.carriers():
            name = turkish_fold(carrier.cargo_company_name or "")
            if name and (wanted in name or name.replace(" kargo", "").strip() in wanted):
                return carrier.cargo_company_id
        return None

    async def _ship(self, command: Ship) -> tuple[Outcome, str | None]:
        order = await self._order_for(command)
        items = self._items(order, command)
        targets = {i for i, _ in items}
        shipped = [
            s
            for s in order.shipments
            if s.tracking_number == command.tracking_number and targets <= set(s.item_ids)
        ]
        if shipped:
            return Outcome.ALREADY_APPLIED, None
        refusal = _not_allowed([(i, c) for i, c in items if c != 5], 5)
        if refusal:
            return Outcome.REJECTED, refusal
        carrier_id = await self._carrier_id(command)
        if carrier_id is None:
            return Outcome.INVALID, (
                f"carrier {command.carrier!r} is not among the seller's cargo companies"
            )
        await self._to_preparing(order, items)
        await self._status_write(
            int(order.order_id),
            [i for i, _ in items],
            raw.ShipmentUpdate(
                status=5,
                cargo_company_id=carrier_id,
                delivery_type=1,
                sub_status=0,
                shipping_tracking_number=command.tracking_number,
                tracking_url=command.tracking_url,
            ),
        )
        return Outcome.APPLIED, None

    async def _attach_invoice(self, command: AttachInvoice) -> tuple[Outcome, str | None]:
        order = await self._order_for(command)
        if order.internal_id is None:
            raise self._client.ctx("order/invoice-link").error(
                PlatformDecodeError, f"order {order.order_id} has no orderId GUID"
            )
        if len(command.item_ids) > 1:
            return Outcome.INVALID, "pazarama links an invoice to a whole order or to one item"
        self._items(order, command)
        await self._client.call(
            "POST",
            "/order/invoice-link",
            lane=Lane.COMMAND,
            json=raw.InvoiceLinkRequest(
                invoice_link=command.url,
                order_id=order.internal_id,
                order_item_id=command.item_ids[0] if command.item_ids else msgspec.UNSET,
            ),
        )
        return Outcome.APPLIED, None

    async def _decide_refund(self, command: DecideRefund) -> tuple[Outcome, str | None]:
        if command.decision == "approve":
            request = raw.UpdateRefundRequest(refund_id=command.refund_id, status=2)
        else:
            problem = _reject_problem(command)
            if problem:
                return Outcome.INVALID, problem
            reject_type = int(command.reason_code or 0)
            request = raw.UpdateRefundRequest(
                refund_id=command.refund_id,
                status=3,
                refund_reject_type=reject_type,
                description=command.description or "",
                document_objects=[
                    raw.DocumentObject(name=d.name, content=d.content) for d in command.documents
                ]
                or msgspec.UNSET,
            )
        await self._client.call("POST", "/order/updateRefund", lane=Lane.COMMAND, json=request)
        return Outcome.APPLIED, None

    async def _decide_cancellation(self, command: DecideCancellation) -> tuple[Outcome, str | None]:
        status = 2 if command.decision == "approve" else 3
        await self._client.call(
            "PUT",
            "/order/api/cancel",
            lane=Lane.COMMAND,
            json=raw.CancelDecisionRequest(refund_id=command.cancellation_id, status=status),
        )
        return Outcome.APPLIED, None


def _not_allowed(items: list[tuple[str, int]], target: int) -> str | None:
    """Refuse locally, before any write, what the platform's status flow would refuse midway
    (e.g. "delivered" for an item never shipped, which would otherwise leave it accepted)."""
    allowed = SELLER_SOURCES.get(target, frozenset())
    stuck = [(i, c) for i, c in items if c not in allowed]
    if not stuck:
        return None
    label = raw.ORDER_ITEM_STATUS.get(target, str(target))
    where = ", ".join(f"{i} at {c} ({raw.ORDER_ITEM_STATUS.get(c, '?')})" for i, c in stuck)
    sources = ", ".join(str(c) for c in sorted(allowed))
    return f"status {target} ({label}) is reachable only from {sources}; items: {where}"


def _reject_problem(command: DecideRefund) -> str | None:
    """Why a rejection would be refused by Pazarama (3.18, 3.29), or None."""
    try:
        reject_type = int(command.reason_code or "")
    except ValueError:
        return (
            "rejecting a pazarama refund needs reason_code = RefundRejectType 1-12, got "
            f"{command.reason_code!r}"
        )
    if reject_type not in raw.REFUND_REJECT_TYPE:
        return f"RefundRejectType must be 1-12, got {reject_type}"
    if not (command.description or "").strip():
        return "rejecting a pazarama refund needs a description"
    if reject_type not in raw.REJECT_TYPES_WITHOUT_IMAGES:
        if not command.documents:
            return f"reject reason {reject_type} needs 1-3 images (documents)"
        too_big = [
            d.name for d in command.documents if len(d.content) > raw.REFUND_MAX_DOCUMENT_BYTES
        ]
        if too_big:
            return f"documents over 5 MB: {too_big}"
    return None
