"""Sample messages: one of every event, command and result type, with realistic values.

Used by the tests, by the AsyncAPI document's examples and by anyone wanting to see a message::

    python -c "import schemas.examples as e; print(e.sample_order_event())"
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from schemas.commands import (
    AnyCommand,
    AttachInvoice,
    CommandResult,
    DeadLetter,
    DecideCancellation,
    DecideRefund,
    Outcome,
    SetStatus,
    Ship,
)
from schemas.events import (
    AnyEvent,
    CancellationRequested,
    CancellationUpdated,
    OrderCreated,
    OrderStatusChanged,
    OrderUpdated,
    RefundRequested,
    RefundUpdated,
    new_event,
)
from schemas.money import Money
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
from schemas.status import CancellationState, OrderStatus, RefundState
from schemas.times import ISTANBUL

T0 = dt.datetime(2026, 3, 14, 10, 15, 30, tzinfo=ISTANBUL)


def sample_order(status: OrderStatus = OrderStatus.RECEIVED, raw_status: str = "3") -> Order:
    tl = "TRY"
    return Order(
        platform="pazarama",
        account="main",
        order_id="3fa85f64-5717-4562-b3fc-2c963f66afa6",
        order_number="1029384756",
        created_at=T0,
        updated_at=T0 + dt.timedelta(minutes=5),
        status=status,
        raw_status=raw_status,
        customer=Party(
            name="Ayşe Yılmaz",
            email="ayse.yilmaz@example.com",
            phone="05321234567",
            national_id="10000000146",
        ),
        billing=Party(
            name="Yılmaz Tekstil A.Ş.",
            kind=PartyKind.CORPORATE,
            company_name="Yılmaz Tekstil A.Ş.",
            tax_number="1234567890",
            tax_office="Kadıköy",
        ),
        shipping_address=Address(
            recipient="Ayşe Yılmaz",
            line="Caferağa Mah. Moda Cad. No: 12 D: 3",
            neighborhood="Caferağa",
            district="Kadıköy",
            city="İstanbul",
            postal_code="34710",
        ),
        items=(
            LineItem(
                item_id="item-1",
                product_id="p-77",
                sku="TSH-ORG-M",
                barcode="8690000000012",
                name="Organik Pamuk Tişört",
                quantity=2,
                unit_price=Money.of("249.90", tl),
                line_total=Money.of("449.80", tl),
                discount=Money.of("50.00", tl),
                vat_rate=Decimal(10),
                status=status,
                raw_status=raw_status,
            ),
        ),
        totals=Totals(
            subtotal=Money.of("499.80", tl),
            discount=Money.of("50.00", tl),
            shipping=Money.of("0.00", tl),
            vat=Money.of("40.89", tl),
            grand_total=Money.of("449.80", tl),
        ),
        payment_type="credit_card",
        sales_channel="pazarama",
        shipments=(
            Shipment(
                carrier="Yurtiçi Kargo",
                tracking_number="123456789012",
                tracking_url="https://www.yurticikargo.com/tr/online-servisler/gonderi-sorgula?code=123456789012",
            ),
        )
        if status == OrderStatus.SHIPPED
        else (),
        invoice=Invoice(url="https://fatura.example.com/1029384756.pdf", number="GIB2026000000123"),
    )


def sample_refund() -> Refund:
    return Refund(
        platform="pazarama",
        account="main",
        refund_id="r-5501",
        order_id="3fa85f64-5717-4562-b3fc-2c963f66afa6",
        order_number="1029384756",
        item_id="item-1",
        quantity=1,
        amount=Money.of("224.90", "TL"),
        state=RefundState.REQUESTED,
        raw_state="1",
        reason="Ürün hasarlı geldi",
        requested_at=T0 + dt.timedelta(days=4),
    )


def sample_cancellation() -> Cancellation:
    return Cancellation(
        platform="pazarama",
        account="main",
        cancellation_id="c-77",
        order_id="3fa85f64-5717-4562-b3fc-2c963f66afa6",
        item_id="item-1",
        quantity=2,
        state=CancellationState.REQUESTED,
        raw_state="18",
        reason="Vazgeçtim",
        requested_at=T0 + dt.timedelta(hours=1),
    )


def sample_events() -> list[AnyEvent]:
    seen = T0 + dt.timedelta(minutes=6)
    received = sample_order()
    shipped = sample_order(OrderStatus.SHIPPED, "5")
    refund = sample_refund()
    cancel = sample_cancellation()
    return [
        new_event(OrderCreated, time=seen, data=received),
        new_event(
            OrderStatusChanged,
            time=seen,
            data=shipped,
            previous_status=OrderStatus.RECEIVED,
            previous_raw_status="3",
        ),
        new_event(OrderUpdated, time=seen, data=shipped, changed=("invoice",)),
        new_event(RefundRequested, time=seen, data=refund),
        new_event(RefundUpdated, time=seen, data=refund, previous_state=RefundState.REQUESTED),
        new_event(CancellationRequested, time=seen, data=cancel),
        new_event(
            CancellationUpdated, time=seen, data=cancel, previous_state=CancellationState.REQUESTED
        ),
    ]


def sample_order_event() -> OrderCreated:
    event = sample_events()[0]
    assert isinstance(event, OrderCreated)  # noqa: S101
    return event


def sample_commands() -> list[AnyCommand]:
    base = {
        "platform": "pazarama",
        "account": "main",
        "order_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "issued_at": T0 + dt.timedelta(hours=2),
    }
    return [
        SetStatus(command_id="cmd-1", status=OrderStatus.PREPARING, **base),  # type: ignore[arg-type]
        Ship(
            command_id="cmd-2",
            carrier="Yurtiçi Kargo",
            tracking_number="123456789012",
            item_ids=("item-1",),
            **base,  # type: ignore[arg-type]
        ),
        AttachInvoice(
            command_id="cmd-3",
            url="https://fatura.example.com/1029384756.pdf",
            expires_at=T0 + dt.timedelta(days=1),
            **base,  # type: ignore[arg-type]
        ),
        DecideRefund(
            command_id="cmd-4",
            refund_id="r-5501",
            decision="reject",
            reason_code="3",
            description="Ürün kullanılmış",
            **base,  # type: ignore[arg-type]
        ),
        DecideCancellation(
            command_id="cmd-5",
            cancellation_id="c-77",
            decision="approve",
            **base,  # type: ignore[arg-type]
        ),
    ]


def sample_result() -> CommandResult:
    return CommandResult(
        command_id="cmd-2",
        command_type="order.ship",
        platform="pazarama",
        account="main",
        order_id="3fa85f64-5717-4562-b3fc-2c963f66afa6",
        outcome=Outcome.REJECTED,
        message="Sipariş durumu kargoya verilmeye uygun değil",
        platform_code="BadRequest",
        attempts=1,
        received_at=T0 + dt.timedelta(hours=2),
        finished_at=T0 + dt.timedelta(hours=2, seconds=1),
    )


def sample_dead_letter() -> DeadLetter:
    return DeadLetter(
        error="undecodable command: JSON is malformed: invalid character (byte 0)",
        topic="commands.v1",
        partition=3,
        offset=1200,
        received_at=T0,
        key=b"pazarama:main",
        value=b"\xff not json",
        headers=(("ce_type", b"order.ship"),),
    )
