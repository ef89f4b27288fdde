"""How an account's world evolves by itself: order arrivals, automatic transitions, records.

:class:`Evolution` holds the state (orders, records, the agenda of booked automatic
transitions) and the mechanics every change goes through (``_move`` records history, re-derives
the order status and re-books the affected units). :class:`~pipeline.sandbox.world.World` adds
the public reading and the seller writes on top.

The world moves only when told: :meth:`Evolution.advance` brings it to a given time, creating the
orders that arrived meanwhile (a Poisson stream at ``arrival_rate_per_hour``) and firing the
automatic transitions that fell due, each stamped with its own time, not the time of the call.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal

from pipeline.sandbox import catalogue
from pipeline.sandbox.generator import OrderGenerator, seeded_uuid
from pipeline.sandbox.lifecycle import Lifecycle, RecordLifecycle
from pipeline.sandbox.model import Order, Record, RecordKind, StatusChange, WriteRecord
from pipeline.sandbox.schedule import Agenda, Unit

FormatOrderId = Callable[[int, dt.datetime, random.Random], str]
FormatRecordId = Callable[[RecordKind, int, random.Random], str]


def default_order_id(number: int, created_at: dt.datetime, rng: random.Random) -> str:
    return str(100_000_000 + number)


def default_record_id(kind: RecordKind, number: int, rng: random.Random) -> str:
    return str(number)


class Evolution:
    """State and automatic evolution of one tenant's world (see the module docstring)."""

    def __init__(
        self,
        *,
        lifecycle: Lifecycle,
        start: dt.datetime,
        seed: int | str = 0,
        refunds: RecordLifecycle | None = None,
        cancellations: RecordLifecycle | None = None,
        generator: OrderGenerator | None = None,
        arrival_rate_per_hour: float = 0.0,
        format_order_id: FormatOrderId = default_order_id,
        format_record_id: FormatRecordId = default_record_id,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("World needs an aware start time")
        self.lifecycle = lifecycle
        self.record_lifecycles: dict[RecordKind, RecordLifecycle | None] = {
            "refund": refunds,
            "cancellation": cancellations,
        }
        self._check_tables()
        self.seed = seed
        self.generator = generator or OrderGenerator()
        self.format_order_id = format_order_id
        self.format_record_id = format_record_id
        self._now = start
        self._orders: dict[str, Order] = {}
        self._by_number: dict[int, Order] = {}
        self._records: dict[RecordKind, dict[str, Record]] = {"refund": {}, "cancellation": {}}
        self._record_keys: dict[Unit, Record] = {}
        self.writes: list[WriteRecord] = []
        self._agenda = Agenda(seed)
        self._arrivals = random.Random(f"{seed}|arrivals")
        self._backfills = 0
        self._rate = 0.0
        self._next_arrival: dt.datetime | None = None
        self.arrival_rate_per_hour = arrival_rate_per_hour

    def _check_tables(self) -> None:
        statuses = self.lifecycle.statuses
        for kind, records in self.record_lifecycles.items():
            if records is not None and not set(records.item_effects.values()) <= statuses:
                raise ValueError(f"{kind} item_effects name unknown item statuses")
        for rule in self.lifecycle.automatic:
            records = self.record_lifecycles[rule.creates] if rule.creates else None
            if rule.creates and records is None:
                raise ValueError(
                    f"rule {rule.source}->{rule.target} creates a {rule.creates} "
                    "but no lifecycle for it was given"
                )
            if records and rule.record_status and rule.record_status not in records.statuses:
                raise ValueError(f"rule {rule.source}->{rule.target}: unknown record status")

    # -- time ---------------------------------------------------------------------------------

    @property
    def now(self) -> dt.datetime:
        return self._now

    @property
    def arrival_rate_per_hour(self) -> float:
        return self._rate

    @arrival_rate_per_hour.setter
    def arrival_rate_per_hour(self, rate: float) -> None:
        if rate < 0:
            raise ValueError("arrival rate must be >= 0")
        self._rate = rate
        self._next_arrival = self._draw_arrival(self._now) if rate > 0 else None

    def _draw_arrival(self, after: dt.datetime) -> dt.datetime:
        return after + dt.timedelta(seconds=self._arrivals.expovariate(self._rate / 3600.0))

    def advance(self, now: dt.datetime) -> None:
        """Bring the world to ``now``: arrivals and automatic transitions, in time order."""
        while True:
            event_at = self._agenda.next_time()
            arrival = self._next_arrival
            if arrival is not None and arrival <= now and (event_at is None or arrival <= event_at):
                self._now = max(self._now, arrival)
                self._create(arrival)
                self._next_arrival = self._draw_arrival(arrival)
                continue
            booking = self._agenda.pop_due(now)
            if booking is None:
                break
            self._now = max(self._now, booking.at)
            self._fire(booking.unit, booking.rule, booking.at)
        self._now = max(self._now, now)

    def backfill(self, count: int, span: dt.timedelta) -> list[Order]:
        """Create ``count`` orders spread over the ``span`` before now and play their history
        forward to now, as if the account had been trading all along."""
        rng = random.Random(f"{self.seed}|backfill|{self._backfills}")
        self._backfills += 1
        end = self._now
        times = sorted(end - span * rng.random() for _ in range(count))
        created: list[Order] = []
        for at in times:
            # Events due before this arrival fire first, so numbering follows time.
            self._replay_until(at)
            created.append(self._create(at))
        self._replay_until(end)
        return created

    def spawn(self, count: int = 1) -> list[Order]:
        """Create ``count`` orders now (a burst of traffic on top of the arrival stream)."""
        return [self._create(self._now) for _ in range(count)]

    def _replay_until(self, until: dt.datetime) -> None:
        while (booking := self._agenda.pop_due(until)) is not None:
            self._fire(booking.unit, booking.rule, booking.at)

    # -- mechanics ----------------------------------------------------------------------------

    def order(self, order_id: str) -> Order:
        return self._orders[order_id]

    @staticmethod
    def _lines(order: Order, lines: Iterable[int] | None) -> list[int]:
        if lines is None:
            return [item.line for item in order.items]
        chosen = list(dict.fromkeys(lines))
        for line in chosen:
            if not 1 <= line <= len(order.items):
                raise ValueError(f"order {order.id} has no item line {line}")
        return chosen

    def _record_rules(self, kind: RecordKind) -> RecordLifecycle:
        rules = self.record_lifecycles[kind]
        if rules is None:
            raise ValueError(f"this world has no {kind} lifecycle")
        return rules

    def _create(self, at: dt.datetime) -> Order:
        number = len(self._by_number) + 1
        rng = random.Random(f"{self.seed}|order|{number}")
        order_id = self.format_order_id(number, at, rng)
        if order_id in self._orders:
            raise ValueError(f"format_order_id produced a duplicate id {order_id!r}")
        order = self.generator.order(
            rng, number=number, order_id=order_id, created_at=at, status=self.lifecycle.initial
        )
        order.status = self.lifecycle.derive([i.status for i in order.items])
        self._orders[order_id] = order
        self._by_number[number] = order
        self._book_order(order, at)
        for item in order.items:
            self._book_item(order, item.line, at)
        return order

    def _book_order(self, order: Order, since: dt.datetime) -> None:
        unit = ("order", str(order.number))
        self._agenda.book(unit, since, self.lifecycle.automatic_from(order.status, "order"))

    def _book_item(self, order: Order, line: int, since: dt.datetime) -> None:
        unit = ("item", str(order.number), str(line))
        status = order.item(line).status
        self._agenda.book(unit, since, self.lifecycle.automatic_from(status, "item"))

    def _fire(self, unit: Unit, rule_index: int, at: dt.datetime) -> None:
        if unit[0] == "record":
            record = self._record_keys[unit]
            rule = self._record_rules(record.kind).automatic[rule_index]
            self._move_record(record, rule.target, at, rule.actor, None)
            return
        rule = self.lifecycle.automatic[rule_index]
        order = self._by_number[int(unit[1])]
        candidates = [int(unit[2])] if unit[0] == "item" else [i.line for i in order.items]
        lines = [line for line in candidates if order.item(line).status == rule.source]
        if not lines:
            return
        reason = None
        if rule.creates is not None:
            reasons = {"refund": catalogue.RETURN_REASONS, "cancellation": catalogue.CANCEL_REASONS}
            rng = random.Random(f"{self.seed}|reason|{'/'.join(unit)}|{at.isoformat()}")
            reason = rng.choice(reasons[rule.creates])
        self._move(order, lines, rule.target, at, rule.actor, None, reason)
        if rule.creates is not None and reason is not None:
            self._open(rule.creates, order, lines, at, rule.actor, rule.record_status, reason, None)

    def _move(
        self,
        order: Order,
        lines: Sequence[int],
        target: str,
        at: dt.datetime,
        actor: str,
        request_id: str | None,
        reason: str | None = None,
    ) -> None:
        if not lines:
            return
        for line in lines:
            item = order.item(line)
            order.history.append(
                StatusChange(
                    at=at,
                    target=target,
                    source=item.status,
                    item_line=line,
                    actor=actor,
                    request_id=request_id,
                    reason=reason,
                )
            )
            item.status = target
            item.status_since = at
            self._book_item(order, line, at)
        order.updated_at = max(order.updated_at, at)
        derived = self.lifecycle.derive([i.status for i in order.items])
        if derived != order.status:
            order.history.append(
                StatusChange(
                    at=at,
                    target=derived,
                    source=order.status,
                    actor=actor,
                    request_id=request_id,
                    reason=reason,
                )
            )
            order.status = derived
            self._book_order(order, at)

    def _open(
        self,
        kind: RecordKind,
        order: Order,
        lines: Sequence[int],
        at: dt.datetime,
        actor: str,
        status: str | None,
        reason: str,
        request_id: str | None,
    ) -> Record:
        rules = self._record_rules(kind)
        status = status or rules.initial
        if status not in rules.statuses:
            raise ValueError(f"unknown {kind} status {status!r}")
        number = len(self._records[kind]) + 1
        rng = random.Random(f"{self.seed}|{kind}|{number}")
        record = Record(
            kind=kind,
            number=number,
            id=self.format_record_id(kind, number, rng),
            uuid=seeded_uuid(rng),
            order_id=order.id,
            item_lines=list(lines),
            status=status,
            reason=reason,
            actor=actor,
            amount=sum((order.item(line).total for line in lines), Decimal("0.00")),
            created_at=at,
            updated_at=at,
            history=[StatusChange(at=at, target=status, actor=actor, request_id=request_id)],
        )
        self._records[kind][record.id] = record
        self._entered(record, at, actor, request_id)
        return record

    def _move_record(
        self, record: Record, target: str, at: dt.datetime, actor: str, request_id: str | None
    ) -> None:
        record.history.append(
            StatusChange(
                at=at, target=target, source=record.status, actor=actor, request_id=request_id
            )
        )
        record.status = target
        record.updated_at = at
        self._entered(record, at, actor, request_id)

    def _entered(self, record: Record, at: dt.datetime, actor: str, request_id: str | None) -> None:
        """A record reached a status: book its automatic rules and apply its item effect."""
        unit = ("record", record.kind, str(record.number))
        self._record_keys[unit] = record
        rules = self._record_rules(record.kind)
        self._agenda.book(unit, at, rules.automatic_from(record.status))
        effect = rules.item_effects.get(record.status)
        if effect is not None:
            order = self.order(record.order_id)
            lines = [line for line in record.item_lines if order.item(line).status != effect]
            # The platform applies the effect, so the seller table does not apply to it.
            self._move(order, lines, effect, at, "platform", request_id)
