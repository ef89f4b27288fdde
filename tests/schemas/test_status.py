from schemas import ORDER_TRANSITIONS, TERMINAL_ORDER_STATUSES, OrderStatus, is_allowed_transition


def test_every_status_has_a_row() -> None:
    assert set(ORDER_TRANSITIONS) == set(OrderStatus)


def test_every_status_is_reachable_from_the_start() -> None:
    start = {OrderStatus.AWAITING_PAYMENT, OrderStatus.RECEIVED}
    seen, todo = set(start), list(start)
    while todo:
        for nxt in ORDER_TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen | {OrderStatus.UNKNOWN} == set(OrderStatus)


def test_cancelled_and_returned_have_no_way_out() -> None:
    assert not ORDER_TRANSITIONS[OrderStatus.CANCELLED]
    assert not ORDER_TRANSITIONS[OrderStatus.RETURNED]
    assert {OrderStatus.CANCELLED, OrderStatus.RETURNED} <= TERMINAL_ORDER_STATUSES


def test_unknown_is_allowed_both_ways_and_other_jumps_are_not() -> None:
    assert is_allowed_transition(OrderStatus.CANCELLED, OrderStatus.UNKNOWN)
    assert is_allowed_transition(OrderStatus.UNKNOWN, OrderStatus.DELIVERED)
    assert not is_allowed_transition(OrderStatus.CANCELLED, OrderStatus.SHIPPED)
    assert is_allowed_transition(OrderStatus.RECEIVED, OrderStatus.PREPARING)
    assert not is_allowed_transition(OrderStatus.DELIVERED, OrderStatus.PREPARING)
