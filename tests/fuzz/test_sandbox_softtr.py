"""The Softtr simulator as a state machine: random status batches (sizes around the limit, good
and bad statuses, known and unknown order numbers, one order twice) and list requests with odd
paging values, over HTTP with Basic auth.

Invariants (softtr.txt: ``POST /orders/updateOrderStatus`` takes at most 100 entries, else
``400 Data sınırı aşıldı``; statuses from the documented enum): a batch over 100 is refused with
exactly that text and changes nothing; a batch with an unknown order or status is refused whole
(our atomic reading) and changes nothing; an accepted batch leaves each order at its last entry's
status; a list request with a bad ``page``/``pageSize`` is a 400 naming the parameter, never a 500.
"""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from pipeline.platforms.softtr import payloads as raw
from pipeline.platforms.softtr.sandbox import SofttrSandbox

from .budget import fuzz_settings
from .machine import Served

AUTH = {"Authorization": "Basic " + base64.b64encode(b"sandbox-username:sandbox-password").decode()}
STATUS = st.sampled_from([*raw.ORDER_STATUSES, "waiting", "SHIPPED ", "", "İPTAL", 3, None])
SIZES = st.sampled_from([1, 2, 3, 99, 100, 101, 150])


class SofttrBatches(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.box = Served(SofttrSandbox, orders=5)

    def teardown(self) -> None:
        self.box.close()

    def statuses(self) -> dict[str, str]:
        return {o.id: o.status for o in self.box.sandbox.world.orders}

    @rule(data=st.data(), size=SIZES, good=st.booleans())
    def update(self, data: st.DataObject, size: int, good: bool) -> None:
        before = self.statuses()
        numbers = st.sampled_from(sorted(before))
        if not good:
            numbers = numbers | st.sampled_from(["01012020000000-XXX", "", 5])
        statuses = st.sampled_from(raw.ORDER_STATUSES) if good else STATUS
        entries: list[dict[str, Any]] = [
            {"orderno": data.draw(numbers), "status": data.draw(statuses)}
            for _ in range(min(size, 4))
        ]
        entries += [entries[-1]] * (size - len(entries))  # the same order again, up to the size
        status, doc, _ = self.box.call("POST", "/orders/updateOrderStatus", entries, AUTH)
        after = self.statuses()
        valid = all(e["orderno"] in before and e["status"] in raw.ORDER_STATUSES for e in entries)
        if size > raw.MAX_STATUS_BATCH:
            assert status == 400, doc
            assert doc["message"]["detail"]["message"] == raw.DATA_LIMIT_EXCEEDED
            assert after == before
        elif not valid:
            assert status == 400, doc
            assert doc["message"]["detail"]["message"].endswith("Boş ya da Geçersiz")
            assert after == before
        else:
            assert status == 200, doc
            last = {e["orderno"]: e["status"] for e in entries}
            assert after == {**before, **last}

    @rule(
        name=st.sampled_from(["page", "pageSize"]),
        value=st.sampled_from(["0", "-1", "x", "²", "٣", "1.5", "", "101", "99999999999"]),
    )
    def odd_paging(self, name: str, value: str) -> None:
        status, doc, _ = self.box.call(
            "GET", f"/orders?{name}={value}&startDate=01-03-2026&endDate=03-03-2026", None, AUTH
        )
        if status == 200:  # "" is "not sent" to some readings; 101 pages past the end is empty
            assert value in ("", "101", "99999999999") or name == "page", (name, value, doc)
            return
        assert status == 400, (name, value, status, doc)
        assert doc["message"]["detail"]["message"] == raw.INVALID_PARAMETER.format(parametre=name)


TestSofttrBatches = SofttrBatches.TestCase
TestSofttrBatches.settings = fuzz_settings(10, stateful_step_count=12)
