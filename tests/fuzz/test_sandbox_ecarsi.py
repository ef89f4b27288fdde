"""The E-Çarşı simulator as a state machine: random shipping calls (good and bad company ids,
tracking numbers and desi values, known and unknown orders), repeats, and time passing.

Invariants (ecarsi.txt: ``POST /api/orders/{id}/shipping`` with ``company_id``,
``tracking_number``, ``desi`` 1–100; 60 requests a minute per IP, 429 when over): a call
succeeds only with a listed company, a non-empty tracking number and an integer desi in 1–100,
on an order not yet shipped (or shipped: another parcel); every accepted call records exactly
one more shipment — the write is not idempotent, and the simulator keeps each; a refused call
changes neither status nor shipments; over the limit the answer is 429 in the vendor's envelope
with ``Retry-After``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pipeline.platforms.ecarsi import payloads as raw
from pipeline.platforms.ecarsi import sandbox_render as render
from pipeline.platforms.ecarsi.sandbox import SHIPPABLE, EcarsiSandbox

from .budget import fuzz_settings
from .machine import Served

PER_MINUTE = 9


class SmallBudget(EcarsiSandbox):
    """The document's limit, scaled down so a short run meets it."""

    per_ip_per_minute: ClassVar[int] = PER_MINUTE


COMPANY = st.sampled_from([*sorted(render.COMPANIES), 0, 99, "1", None, True, 1.0])
TRACKING = st.sampled_from(["312345678901", "  AB-1 ", "", "   ", 123, None, "x" * 300])
DESI = st.sampled_from([1, 2, 50, 100, 0, -1, 101, 10**6, "5", 5.5, True, None])
GOOD = st.tuples(
    st.sampled_from(sorted(render.COMPANIES)),
    st.sampled_from(["312345678901", "  AB-1 "]),
    st.integers(raw.DESI_MIN, raw.DESI_MAX),
)
#: Half the calls well-formed (so shipments pile up and repeats happen), half anything.
BODIES = st.one_of(GOOD, st.tuples(COMPANY, TRACKING, DESI))


def _valid(company: Any, tracking: Any, desi: Any) -> bool:
    def integer(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    return (
        integer(company)
        and company in render.COMPANIES
        and isinstance(tracking, str)
        and bool(tracking.strip())
        and integer(desi)
        and raw.DESI_MIN <= desi <= raw.DESI_MAX
    )


class EcarsiShipping(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.box = Served(SmallBudget, orders=6)
        self.requests = 0  # in the current (stood-still) minute, the login included
        status, doc, _ = self.box.call(
            "POST", "/auth", {"email": "sandbox-email", "password": "sandbox-password"}
        )
        assert status == 200, doc
        self.requests += 1
        self.headers = {"Authorization": f"Bearer {doc['data']['token']}"}
        self.accepted = 0

    def teardown(self) -> None:
        self.box.close()

    def shipments(self) -> dict[str, list[dict[str, Any]]]:
        """The shipping records the simulator keeps per order (its ``GET`` shows them)."""
        (tenant,) = self.box.sandbox.tenants.values()
        return tenant.data["shipments"]  # type: ignore[no-any-return]

    def state(self) -> dict[str, tuple[str, int]]:
        kept = self.shipments()
        return {o.id: (o.status, len(kept.get(o.id, []))) for o in self.box.sandbox.world.orders}

    @rule(data=st.data(), fields=BODIES, unknown=st.integers(0, 5))
    def ship(self, data: st.DataObject, fields: tuple[Any, Any, Any], unknown: int) -> None:
        company, tracking, desi = fields
        unknown = not unknown  # one call in six to an order the platform does not know
        before = self.state()
        order_id = "999999999" if unknown else data.draw(st.sampled_from(sorted(before)))
        body = {"company_id": company, "tracking_number": tracking, "desi": desi}
        status, doc, headers = self.box.call(
            "POST", f"/orders/{order_id}/shipping", body, self.headers
        )
        self.requests += 1
        after = self.state()
        if self.requests > PER_MINUTE:
            assert status == 429, doc
            assert doc["success"] is False and doc["message"]["tr"] and "Retry-After" in headers
            assert after == before
            self.requests -= 1  # refused requests are not counted
            return
        shippable = not unknown and before[order_id][0] in (*SHIPPABLE, "shipped")
        if status == 200:
            assert doc["success"] is True
            assert _valid(company, tracking, desi) and shippable, (body, before.get(order_id))
            assert after[order_id] == ("shipped", before[order_id][1] + 1)
            self.accepted += 1
            shipment = self.shipments()[order_id][-1]
            assert shipment["desi"] == desi and shipment["company_id"] == company
        else:
            assert status in (404, 422), (status, doc)
            assert doc["success"] is False and doc["message"]["tr"], doc
            assert not (_valid(company, tracking, desi) and shippable), (body, status, doc)
            assert after == before
        untouched = set(before) - {order_id}
        assert all(after[o] == before[o] for o in untouched)

    @rule(seconds=st.sampled_from([61, 3600, 86400]))
    def wait(self, seconds: float) -> None:
        self.box.advance(seconds)
        self.requests = 0

    @invariant()
    def every_recorded_desi_is_within_the_documented_range(self) -> None:
        for kept in self.shipments().values():
            for shipment in kept:
                assert raw.DESI_MIN <= shipment["desi"] <= raw.DESI_MAX, shipment


TestEcarsiShipping = EcarsiShipping.TestCase
TestEcarsiShipping.settings = fuzz_settings(12, stateful_step_count=15)
