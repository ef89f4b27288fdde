from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.sandbox import AutoTransition, Lifecycle, RecordLifecycle, TransitionRejected, World

from .dummy_platform import AUTOMATIC, SELLER, STATUSES, DummySandbox, least_advanced

START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def make_world(seed: int | str = 5, **kwargs: Any) -> World:
    return World(
        lifecycle=DummySandbox.lifecycle,
        refunds=DummySandbox.refund_lifecycle,
        cancellations=DummySandbox.cancellation_lifecycle,
        start=START,
        seed=seed,
        **kwargs,
    )


def encoded(world: World) -> bytes:
    return msgspec.json.encode(world.snapshot())


def test_same_seed_gives_the_same_world_however_time_is_advanced() -> None:
    one_step, many_steps = make_world(arrival_rate_per_hour=3), make_world(arrival_rate_per_hour=3)
    one_step.backfill(25, 10 * DAY)
    many_steps.backfill(25, 10 * DAY)
    one_step.advance(START + 5 * DAY)
    for hour in range(1, 5 * 24 + 1):
        many_steps.advance(START + dt.timedelta(hours=hour))
    assert encoded(one_step) == encoded(many_steps)
    assert len(one_step.orders) > 25 + 200  # about 3 an hour for 5 days


def test_automatic_transitions_happen_at_their_own_time_with_records() -> None:
    world = make_world()
    world.backfill(200, 30 * DAY)
    cancelled = [o for o in world.orders if o.status == "cancelled"]
    assert 10 < len(cancelled) < 80  # p = 0.2
    assert {r.order_id for r in world.cancellations} == {o.id for o in cancelled}
    for order in cancelled:
        change = order.history[-1]
        assert change.target == "cancelled" and change.actor == "customer"
        assert order.created_at < change.at <= order.created_at + dt.timedelta(hours=6)
        assert order.status_at(change.at - dt.timedelta(seconds=1)) == "new"
        assert order.status_at(change.at) == "cancelled"


def test_per_item_statuses_derive_the_order_status_and_returns_open_refunds() -> None:
    world = make_world(seed=11)
    world.backfill(60, dt.timedelta(hours=1))
    multi = [o for o in world.orders if len(o.items) > 1 and o.status == "new"]
    order = multi[0]
    world.set_status(order.id, "preparing")
    world.set_status(order.id, "shipped", lines=[1])
    assert [i.status for i in order.items][:2] == ["shipped", "preparing"]
    assert order.status == "preparing"  # the dummy platform shows the least advanced item
    for o in world.orders:
        if o.status == "new":
            world.set_status(o.id, "preparing")
            world.ship(o.id, carrier_code="aras", tracking_number="12345678901", status="shipped")
    world.advance(START + 30 * DAY)
    assert world.refunds
    refund = world.refunds[0]
    returned_order = world.order(refund.order_id)
    assert refund.status == "requested" and len(refund.item_lines) == 1
    assert returned_order.item(refund.item_lines[0]).status == "returning"
    assert refund.amount == returned_order.item(refund.item_lines[0]).total
    write = world.decide("refund", refund.id, "approved", request_id="req-000009")
    assert write.outcome == "applied" and write.request_id == "req-000009"
    assert returned_order.item(refund.item_lines[0]).status == "returned"
    assert returned_order.history[-1].actor in {"platform", "customer"}
    with pytest.raises(TransitionRejected):
        world.decide("refund", refund.id, "rejected")


def test_a_refused_write_changes_nothing_and_is_still_recorded() -> None:
    world = make_world()
    order = world.backfill(1, dt.timedelta(minutes=1))[0]
    before = msgspec.json.encode(world.orders)
    with pytest.raises(TransitionRejected) as caught:
        world.set_status(order.id, "delivered", request_id="req-000001")
    assert caught.value.rejections[0].target == "delivered"
    assert msgspec.json.encode(world.orders) == before
    assert world.writes[-1].outcome == "rejected" and world.writes[-1].request_id == "req-000001"
    assert world.set_status(order.id, "new").outcome == "noop"


def test_orders_between_filters_by_creation_or_update_time() -> None:
    world = make_world()
    world.backfill(50, 10 * DAY)
    window = world.orders_between(START - 5 * DAY, START - 2 * DAY)
    assert window and all(START - 5 * DAY <= o.created_at < START - 2 * DAY for o in window)
    updated = world.orders_between(START - DAY, START, field="updated_at", end_inclusive=True)
    assert all(o.updated_at >= START - DAY for o in updated)


def test_tables_naming_undeclared_statuses_are_refused() -> None:
    with pytest.raises(ValueError, match="not declared"):
        Lifecycle(statuses=["a"], initial="a", seller={"a": ["b"]})
    with pytest.raises(ValueError, match="no lifecycle"):
        World(
            lifecycle=Lifecycle(
                statuses=["a", "b"],
                initial="a",
                seller={},
                automatic=[AutoTransition(source="a", target="b", after=(1, 2), creates="refund")],
            ),
            start=START,
        )
    with pytest.raises(ValueError, match="unknown item statuses"):
        World(
            lifecycle=Lifecycle(statuses=["a"], initial="a", seller={}),
            refunds=RecordLifecycle(
                statuses=["x"], initial="x", seller={}, item_effects={"x": "z"}
            ),
            start=START,
        )


_write = st.tuples(
    st.just("write"),
    st.integers(0, 9),
    st.sampled_from(STATUSES),
    st.none() | st.lists(st.integers(1, 4), min_size=1, max_size=3),
)
_advance = st.tuples(st.just("advance"), st.integers(1, 5 * 24 * 3600))
_decide = st.tuples(
    st.just("decide"), st.integers(0, 5), st.sampled_from(["approved", "rejected", "requested"])
)

AUTO_MOVES = {(r.source, r.target, r.actor) for r in AUTOMATIC}
EFFECT_TARGETS = {"returned"}  # the dummy's refund item effect


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 1000), operations=st.lists(_write | _advance | _decide, max_size=40))
def test_no_sequence_of_writes_produces_a_transition_outside_the_tables(
    seed: int, operations: list[tuple[Any, ...]]
) -> None:
    world = make_world(seed=seed)
    orders = world.backfill(10, 2 * DAY)
    now = START
    for operation in operations:
        if operation[0] == "write":
            _, index, target, lines = operation
            order = orders[index]
            lines = [line for line in lines if line <= len(order.items)] if lines else None
            before = encoded(world)
            try:
                world.set_status(order.id, target, lines=lines or None)
            except TransitionRejected:
                after = msgspec.json.decode(encoded(world))
                assert msgspec.json.decode(before)["orders"] == after["orders"]
        elif operation[0] == "advance":
            now += dt.timedelta(seconds=operation[1])
            world.advance(now)
        elif world.refunds:
            refund = world.refunds[operation[1] % len(world.refunds)]
            try:
                world.decide("refund", refund.id, operation[2])
            except TransitionRejected:
                pass

    for order in world.orders:
        assert order.status == least_advanced([i.status for i in order.items])
        for change in order.history[1:]:
            if change.item_line is None:
                continue  # derived order status, checked above
            move = (change.source, change.target)
            if change.actor == "seller":
                assert change.target in SELLER.get(change.source or "", set()), move
            elif change.actor == "platform":
                assert change.target in EFFECT_TARGETS, move
            else:
                assert (change.source, change.target, change.actor) in AUTO_MOVES, move
    for refund in world.refunds:
        for change in refund.history[1:]:
            assert (change.source, change.target) in {
                ("requested", "approved"),
                ("requested", "rejected"),
            }
