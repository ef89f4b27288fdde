"""The demo driver of ``pipeline up``: plays the warehouse and accounting teams.

It consumes the order and refund events the pollers publish and answers with the commands real
teams would send, through ``commands.v1`` like any other producer, so the whole loop runs:

* a new order → ``order.set_status preparing`` then, a little later, ``order.ship`` with a
  carrier and tracking number (or ``set_status shipped`` where there is no ship API): an order is
  never accepted without being shipped (an item left "preparing" is refunded automatically on
  some platforms and costs the seller); where the platform takes invoice links,
  ``order.attach_invoice``;
* a refund request → ``refund.decide`` approve (most) or reject with reason 11 ("iade paketi
  elime ulaşmadı", the reason that needs no photos);
* a cancellation request → ``cancellation.decide`` approve.

Only commands the platform supports are sent (its declared capabilities); the applier would
answer ``unsupported`` anyway, but a demo should show the useful path. A platform whose document
has no write API at all (Web Servis) gets the first few ``order.set_status preparing`` anyway, so
the loop is visible there too: each is answered ``unsupported`` without a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

from pipeline import platforms
from pipeline.bus import KafkaEventPublisher
from pipeline.errors import BrokerError
from schemas import (
    AnyCommand,
    AttachInvoice,
    CancellationRequested,
    DecideCancellation,
    DecideRefund,
    OrderCreated,
    OrderStatus,
    RefundRequested,
    SetStatus,
    Ship,
    command_attributes,
    decode_event,
    encode_command,
    to_headers,
    topics,
)

log = logging.getLogger(__name__)

CARRIERS = ("Yurtiçi Kargo", "Aras Kargo", "MNG Kargo", "PTT Kargo")
OPEN = {OrderStatus.RECEIVED, OrderStatus.AWAITING_APPROVAL, OrderStatus.PREPARING}


class DemoDriver:
    def __init__(
        self,
        *,
        publisher: KafkaEventPublisher,
        consumer_factory: Callable[[], AIOKafkaConsumer],
        seed: int = 1,
        ship_after: float = 5.0,
        read_only_samples: int = 3,
    ) -> None:
        self._publisher = publisher
        self._consumer_factory = consumer_factory
        self._rng = random.Random(seed)
        self._ship_after = ship_after
        self._later: list[tuple[float, AnyCommand]] = []
        self._read_only_samples = read_only_samples
        self._read_only_sent: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()

    def _supports(self, platform: str, command_type: str) -> bool:
        try:
            return command_type in platforms.get(platform).capabilities.commands
        except Exception:  # noqa: BLE001 - an unknown platform simply gets nothing
            return False

    def _read_only(self, platform: str) -> bool:
        try:
            return not platforms.get(platform).capabilities.commands
        except Exception:  # noqa: BLE001 - an unknown platform simply gets nothing
            return False

    async def run(self, stop: asyncio.Event) -> None:
        consumer = self._consumer_factory()
        await consumer.start()
        try:
            consumer.subscribe([topics.ORDERS, topics.REFUNDS])
            loop = asyncio.get_running_loop()
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=500, max_records=200)
                for records in batch.values():
                    for record in records:
                        with contextlib.suppress(Exception):
                            await self._react(decode_event(record.value or b""), loop.time())
                due = [c for at, c in self._later if at <= loop.time()]
                self._later = [(at, c) for at, c in self._later if at > loop.time()]
                for command in due:
                    await self._send(command)
                with contextlib.suppress(Exception):
                    await consumer.commit()
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await consumer.stop()

    async def _react(self, event: object, now: float) -> None:
        issued = dt.datetime.now(dt.UTC)
        match event:
            case OrderCreated(data=order) if order.status in OPEN:
                base: dict[str, Any] = {
                    "platform": order.platform,
                    "account": order.account,
                    "order_id": order.order_id,
                    "issued_at": issued,
                }
                n = f"{order.platform}-{order.account}-{order.order_id}"
                can_ship = self._supports(order.platform, "order.ship")
                can_set = self._supports(order.platform, "order.set_status")
                account = f"{order.platform}:{order.account}"
                sample = (
                    self._read_only(order.platform)
                    and self._read_only_sent[account] < self._read_only_samples
                )
                if sample:  # answered `unsupported` without a request: the loop is visible
                    self._read_only_sent[account] += 1
                if can_set or sample:
                    await self._send(
                        SetStatus(command_id=f"demo-prep-{n}", status=OrderStatus.PREPARING, **base)
                    )
                # Accepting is always followed by shipping (on some platforms an accepted order
                # left unshipped is refunded automatically and costs the seller).
                if can_ship:
                    tracking = f"{self._rng.randrange(10**11, 10**12)}"
                    ship: AnyCommand = Ship(
                        command_id=f"demo-ship-{n}",
                        carrier=self._rng.choice(CARRIERS),
                        tracking_number=tracking,
                        desi=self._rng.randint(1, 20),
                        **base,
                    )
                    self._later.append((now + self._ship_after, ship))
                elif can_set:
                    shipped = SetStatus(
                        command_id=f"demo-shipped-{n}", status=OrderStatus.SHIPPED, **base
                    )
                    self._later.append((now + self._ship_after, shipped))
                if self._supports(order.platform, "order.attach_invoice"):
                    self._later.append(
                        (
                            now + self._ship_after,
                            AttachInvoice(
                                command_id=f"demo-invoice-{n}",
                                url=f"https://fatura.example.com/{order.platform}/{order.order_id}.pdf",
                                **base,
                            ),
                        )
                    )
            case RefundRequested(data=refund) if self._supports(refund.platform, "refund.decide"):
                approve = self._rng.random() < 0.8
                await self._send(
                    DecideRefund(
                        command_id=f"demo-refund-{refund.platform}-{refund.refund_id}",
                        platform=refund.platform,
                        account=refund.account,
                        order_id=refund.order_id,
                        issued_at=issued,
                        refund_id=refund.refund_id,
                        decision="approve" if approve else "reject",
                        reason_code=None if approve else "11",
                        description=None if approve else "İade paketi elime ulaşmadı",
                    )
                )
            case CancellationRequested(data=cancel) if self._supports(
                cancel.platform, "cancellation.decide"
            ):
                await self._send(
                    DecideCancellation(
                        command_id=f"demo-cancel-{cancel.platform}-{cancel.cancellation_id}",
                        platform=cancel.platform,
                        account=cancel.account,
                        order_id=cancel.order_id,
                        issued_at=issued,
                        cancellation_id=cancel.cancellation_id,
                        decision="approve",
                    )
                )
            case _:
                return

    async def _send(self, command: AnyCommand) -> None:
        try:
            await self._publisher.send_raw(
                topics.COMMANDS,
                topics.account_key(command.platform, command.account),
                encode_command(command),
                to_headers(command_attributes(command)),
            )
        except BrokerError as exc:
            log.warning("demo driver could not send %s: %s", command.command_id, exc)
            return
        self.sent[f"{command.platform}:{command.type}"] += 1
