"""The Pazarama simulator as a state machine: random single-item status writes (every documented
item status and some that are not), time passing (automatic moves, token expiry), over HTTP.

Invariants (pazarama.txt: an item goes 3 → 12 before anything else; our seller table in
``sandbox_rules``): a write succeeds only for a move the table allows, or a repeat of the current
status; from 3 anything but 12 is ``ORD_PREPARING_REQUIRED``; a refused write leaves every item
as it was; a rate limit (no number is documented, so one is switched on here) answers 429 in
Pazarama's own envelope with ``Retry-After``.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from pipeline.platforms.pazarama import payloads as raw
from pipeline.platforms.pazarama.sandbox import PazaramaSandbox
from pipeline.platforms.pazarama.sandbox_rules import CARGO_BY_CODE, SELLER_TRANSITIONS
from pipeline.sandbox import RateLimitRule, per_token

from .budget import fuzz_settings
from .machine import Served
from .pazarama_login import pazarama_token

PER_MINUTE = 10
STATUSES = st.sampled_from([*sorted(raw.ORDER_ITEM_STATUS), 0, 4, 99])
SHIPPING = {
    "deliveryType": 1,
    "shippingTrackingNumber": "312345678901",
    "cargoCompanyId": CARGO_BY_CODE["yurtici"].guid,
}


class PazaramaItems(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.box = Served(
            PazaramaSandbox,
            orders=4,
            rules=[RateLimitRule("fuzz-per-token", PER_MINUTE, 60.0, per_token)],
        )
        self.login()

    def login(self) -> None:
        self.headers = {"Authorization": f"Bearer {pazarama_token(self.box)}"}
        self.requests = 0  # per token, in the current (stood-still) minute

    def teardown(self) -> None:
        self.box.close()

    def items(self) -> dict[tuple[str, str], str]:
        return {(o.id, i.uuid): i.status for o in self.box.sandbox.world.orders for i in o.items}

    @rule(data=st.data(), status=STATUSES, aimed=st.booleans())
    def set_item_status(self, data: st.DataObject, status: int, aimed: bool) -> None:
        before = self.items()
        order_id, item = data.draw(st.sampled_from(sorted(before)))
        allowed = sorted(SELLER_TRANSITIONS.get(before[(order_id, item)], ()), key=int)
        if aimed and allowed:  # half the writes aim at a legal move, so chains form
            status = int(data.draw(st.sampled_from(allowed)))
        body = {"orderNumber": int(order_id), "item": {"orderItemId": item, "status": status}}
        if status == 5:
            body["item"] |= SHIPPING
        code, doc, headers = self.box.call("PUT", "/order/updateOrderStatus", body, self.headers)
        self.requests += 1
        after = self.items()
        if self.requests > PER_MINUTE:
            assert code == 429 and doc["success"] is False, doc
            assert doc["messageCode"] == "ORD_RATE_LIMIT" and "Retry-After" in headers
            assert after == before
            self.requests -= 1
            return
        source, target = before[(order_id, item)], str(status)
        legal = target == source or target in SELLER_TRANSITIONS.get(source, frozenset())
        if code == 200:
            assert doc["success"] is True and legal, (source, target, doc)
            assert after == {**before, (order_id, item): target}
        else:
            assert code == 400 and doc["success"] is False and doc["data"] is None, doc
            assert not legal, (source, target, doc)
            if source == "3" and target in raw_statuses():
                assert doc["messageCode"] == "ORD_PREPARING_REQUIRED", doc
            assert after == before

    @rule(seconds=st.sampled_from([61, 3600, 86400, 3 * 86400]))
    def wait(self, seconds: float) -> None:
        self.box.advance(seconds)
        self.login()  # the token lives an hour; the limit window moved on


def raw_statuses() -> set[str]:
    return {str(s) for s in raw.ORDER_ITEM_STATUS} - {"3", "12"}


TestPazaramaItems = PazaramaItems.TestCase
TestPazaramaItems.settings = fuzz_settings(10, stateful_step_count=15)
