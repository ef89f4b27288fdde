"""One account's ground truth on a platform, as simulators and tests read and write it: its
orders, refund and cancellation records, every status change with its time, and every seller
write with the request that sent it.

Seller writes (:meth:`World.set_status`, :meth:`World.ship`, :meth:`World.decide` …) happen at
the world's ``now`` and are checked against the lifecycle's seller table; a refused write raises
:class:`~pipeline.sandbox.lifecycle.TransitionRejected` and is still recorded in ``writes``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Literal, NoReturn

import msgspec

from pipeline.sandbox import catalogue
from pipeline.sandbox.evolution import Evolution
from pipeline.sandbox.lifecycle import Rejection, TransitionRejected
from pipeline.sandbox.model import Order, Record, RecordKind, Shipment, WriteOutcome, WriteRecord


class WorldSnapshot(msgspec.Struct, kw_only=True):
    now: dt.datetime
    orders: list[Order]
    refunds: list[Record]
    cancellations: list[Record]
    writes: list[WriteRecord]


class World(Evolution):
    """One tenant's orders and records; see the module docstring."""

    # -- reading ------------------------------------------------------------------------------

    @property
    def orders(self) -> list[Order]:
        """Every order, in creation order."""
        return list(self._by_number.values())

    def get(self, order_id: str) -> Order | None:
        return self._orders.get(order_id)

    def by_number(self, number: int) -> Order | None:
        return self._by_number.get(number)

    def find(self, predicate: Callable[[Order], bool]) -> list[Order]:
        return [o for o in self.orders if predicate(o)]

    def orders_between(
        self,
        start: dt.datetime,
        end: dt.datetime,
        *,
        field: Literal["created_at", "updated_at"] = "created_at",
        end_inclusive: bool = False,
    ) -> list[Order]:
        def inside(o: Order) -> bool:
            at: dt.datetime = getattr(o, field)
            return start <= at and (at <= end if end_inclusive else at < end)

        return self.find(inside)

    @property
    def refunds(self) -> list[Record]:
        return list(self._records["refund"].values())

    @property
    def cancellations(self) -> list[Record]:
        return list(self._records["cancellation"].values())

    def record(self, kind: RecordKind, record_id: str) -> Record:
        return self._records[kind][record_id]

    def snapshot(self) -> WorldSnapshot:
        return WorldSnapshot(
            now=self._now,
            orders=self.orders,
            refunds=self.refunds,
            cancellations=self.cancellations,
            writes=list(self.writes),
        )

    # -- seller writes ------------------------------------------------------------------------

    def check_status(
        self, order_id: str, target: str, lines: Sequence[int] | None = None
    ) -> list[Rejection]:
        order = self.order(order_id)
        rejections = []
        for line in self._lines(order, lines):
            source = order.item(line).status
            if not self.lifecycle.seller_allows(source, target):
                rejections.append(Rejection(line, source, target))
        return rejections

    def set_status(
        self,
        order_id: str,
        target: str,
        *,
        lines: Sequence[int] | None = None,
        request_id: str | None = None,
        kind: str = "status",
        details: dict[str, str] | None = None,
    ) -> WriteRecord:
        """Move items (all by default) to ``target`` if the seller table allows every move."""
        order = self.order(order_id)
        chosen = self._lines(order, lines)
        details = {"status": target, **(details or {})}
        rejections = self.check_status(order_id, target, chosen)
        if rejections:
            self._refuse(kind, order_id, chosen, details, request_id, rejections)
        changed = [line for line in chosen if order.item(line).status != target]
        self._move(order, changed, target, self._now, "seller", request_id)
        return self.log_write(
            kind, order_id, chosen, details, "applied" if changed else "noop", request_id
        )

    def ship(
        self,
        order_id: str,
        *,
        carrier_code: str,
        tracking_number: str,
        tracking_url: str | None = None,
        carrier_name: str | None = None,
        lines: Sequence[int] | None = None,
        status: str | None = None,
        desi: int | None = None,
        request_id: str | None = None,
    ) -> WriteRecord:
        """Record a shipment on items and, with ``status``, move them (checked like a write)."""
        order = self.order(order_id)
        chosen = self._lines(order, lines)
        details = {"carrier": carrier_code, "tracking_number": tracking_number}
        if status is not None:
            details["status"] = status
            rejections = self.check_status(order_id, status, chosen)
            if rejections:
                self._refuse("ship", order_id, chosen, details, request_id, rejections)
        known = catalogue.CARRIERS_BY_CODE.get(carrier_code)
        shipment = Shipment(
            carrier_code=carrier_code,
            carrier_name=carrier_name or (known.name if known else carrier_code),
            tracking_number=tracking_number,
            tracking_url=tracking_url,
            shipped_at=self._now,
            desi=desi,
        )
        for line in chosen:
            order.item(line).shipment = shipment
        order.updated_at = self._now
        if status is not None:
            changed = [line for line in chosen if order.item(line).status != status]
            self._move(order, changed, status, self._now, "seller", request_id)
        return self.log_write("ship", order_id, chosen, details, "applied", request_id)

    def attach_invoice(
        self,
        order_id: str,
        invoice: str,
        *,
        lines: Sequence[int] | None = None,
        request_id: str | None = None,
    ) -> WriteRecord:
        """Attach an invoice link or number to the order, or to the given items only."""
        order = self.order(order_id)
        if lines is None:
            order.invoice = invoice
        for line in self._lines(order, lines) if lines is not None else ():
            order.item(line).invoice = invoice
        order.updated_at = self._now
        return self.log_write(
            "invoice", order_id, list(lines or []), {"invoice": invoice}, "applied", request_id
        )

    def open_record(
        self,
        kind: RecordKind,
        order_id: str,
        lines: Sequence[int] | None = None,
        *,
        reason: str,
        actor: str = "seller",
        status: str | None = None,
        request_id: str | None = None,
    ) -> Record:
        """Open a refund or cancellation record (e.g. a seller-initiated cancellation)."""
        order = self.order(order_id)
        chosen = self._lines(order, lines)
        record = self._open(kind, order, chosen, self._now, actor, status, reason, request_id)
        self.log_write(
            f"{kind}.open",
            record.id,
            chosen,
            {"status": record.status, "order": order_id},
            "applied",
            request_id,
        )
        return record

    def decide(
        self,
        kind: RecordKind,
        record_id: str,
        target: str,
        *,
        note: str | None = None,
        request_id: str | None = None,
    ) -> WriteRecord:
        """The seller moves a record (approve, reject …) if its seller table allows it."""
        record = self.record(kind, record_id)
        rules = self._record_rules(kind)
        details = {"status": target} | ({"note": note} if note else {})
        if not rules.seller_allows(record.status, target):
            rejection = Rejection(None, record.status, target)
            self._refuse(kind, record_id, record.item_lines, details, request_id, [rejection])
        if record.status == target:
            return self.log_write(kind, record_id, record.item_lines, details, "noop", request_id)
        record.note = note or record.note
        self._move_record(record, target, self._now, "seller", request_id)
        return self.log_write(kind, record_id, record.item_lines, details, "applied", request_id)

    def log_write(
        self,
        kind: str,
        target: str,
        lines: Sequence[int],
        details: dict[str, str],
        outcome: WriteOutcome,
        request_id: str | None,
        *,
        reason: str | None = None,
    ) -> WriteRecord:
        """Append to the write log; simulators call it for writes they refuse themselves."""
        write = WriteRecord(
            seq=len(self.writes) + 1,
            at=self._now,
            request_id=request_id,
            kind=kind,
            target=target,
            item_lines=list(lines),
            details=details,
            outcome=outcome,
            reason=reason,
        )
        self.writes.append(write)
        return write

    def _refuse(
        self,
        kind: str,
        target: str,
        lines: Sequence[int],
        details: dict[str, str],
        request_id: str | None,
        rejections: Sequence[Rejection],
    ) -> NoReturn:
        error = TransitionRejected(target, rejections)
        self.log_write(kind, target, lines, details, "rejected", request_id, reason=str(error))
        raise error
