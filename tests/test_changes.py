import datetime as dt
import hashlib

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from pipeline import platforms
from pipeline.cadence import CostEstimate, plan
from pipeline.changes import ORDER_PARTS, detect, fingerprint
from pipeline.ratelimit import RateBudget, RateLimit
from schemas import Cancellation, Invoice, Money, Order, OrderStatus, Refund, RefundState, Shipment
from schemas.examples import sample_cancellation, sample_order, sample_refund

NOW = dt.datetime(2026, 3, 14, 12, 0, tzinfo=dt.UTC)


def test_first_sight_creates_then_nothing() -> None:
    order = sample_order()
    event, fp = detect(order, None, now=NOW)
    assert event is not None and event.type == "order.created"
    again, fp2 = detect(order, fp, now=NOW + dt.timedelta(hours=1))
    assert again is None and fp2 == fp


def test_status_change_carries_the_previous_status() -> None:
    _, fp = detect(sample_order(), None, now=NOW)
    event, _ = detect(sample_order(OrderStatus.SHIPPED, "5"), fp, now=NOW)
    assert event is not None and event.type == "order.status_changed"
    assert event.previous_status is OrderStatus.RECEIVED  # type: ignore[attr-defined]
    assert event.previous_raw_status == "3"  # type: ignore[attr-defined]


def test_raw_status_change_alone_is_a_status_change() -> None:
    _, fp = detect(sample_order(), None, now=NOW)
    event, _ = detect(sample_order(OrderStatus.RECEIVED, "3,3"), fp, now=NOW)
    assert event is not None and event.type == "order.status_changed"


CHANGES = {
    "invoice": Invoice(url="https://other.example/x.pdf"),
    "shipments": (Shipment(carrier="Aras Kargo", tracking_number="1"),),
    "totals": None,
    "note": "kapıda teslim",
}


@given(st.sampled_from(sorted(CHANGES)))
def test_other_changes_are_updates_naming_the_part(field: str) -> None:
    order = sample_order()
    _, fp = detect(order, None, now=NOW)
    if field == "totals":
        changed = msgspec.structs.replace(
            order,
            totals=msgspec.structs.replace(order.totals, grand_total=Money.of("1.00")),
        )
    else:
        changed = msgspec.structs.replace(order, **{field: CHANGES[field]})
    event, _ = detect(changed, fp, now=NOW)
    assert event is not None and event.type == "order.updated"
    part = {"note": "details"}.get(field, field)
    assert event.changed == (part,)  # type: ignore[attr-defined]


def test_updated_at_alone_is_not_a_change() -> None:
    order = sample_order()
    _, fp = detect(order, None, now=NOW)
    touched = msgspec.structs.replace(order, updated_at=NOW)
    assert detect(touched, fp, now=NOW)[0] is None


def test_refund_and_cancellation_lifecycle_events() -> None:
    refund = sample_refund()
    first, fp = detect(refund, None, now=NOW)
    assert first is not None and first.type == "refund.requested"
    approved = msgspec.structs.replace(refund, state=RefundState.APPROVED, raw_state="2")
    event, _ = detect(approved, fp, now=NOW)
    assert event is not None and event.type == "refund.updated"
    assert event.previous_state is RefundState.REQUESTED  # type: ignore[attr-defined]
    cancel, _ = detect(sample_cancellation(), None, now=NOW)
    assert cancel is not None and cancel.type == "cancellation.requested"


def test_terminal_flag() -> None:
    _, open_fp = detect(sample_order(), None, now=NOW)
    _, done_fp = detect(sample_order(OrderStatus.CANCELLED, "6"), None, now=NOW)
    assert not open_fp.terminal and done_fp.terminal


async def test_plan_uses_the_binding_window_and_the_floor() -> None:
    daily = plan(RateBudget(platforms.get("ecarsi").default_limit), recent_cost=2, floor=30)
    assert daily.interval == 86400 / (800 // 2) and "1000/day" in daily.reason
    roomy = plan(RateBudget(RateLimit.from_config(per_minute=600)), recent_cost=1, floor=30)
    assert roomy.interval == 30 and roomy.reason.startswith("floor")
    capped = plan(RateBudget(RateLimit.from_config(per_day=10)), recent_cost=5, ceiling=600)
    assert capped.interval == 600 and "capped" in capped.reason


def test_cost_estimate_follows_what_cycles_cost() -> None:
    est = CostEstimate(initial=2)
    est.observe(10)
    assert est.value == 10
    for _ in range(30):
        est.observe(4)
    assert 4 <= est.value < 4.1


def _reference_parts(record: Order | Refund | Cancellation) -> dict[str, str]:
    """The fingerprint parts as first defined (kept in checkpoints: they must not drift)."""
    encoder = msgspec.json.Encoder(order="sorted")

    def digest(value: object) -> str:
        return hashlib.blake2b(encoder.encode(value), digest_size=8).hexdigest()

    if isinstance(record, Order):
        return {
            part: digest([getattr(record, f) for f in fields])
            for part, fields in ORDER_PARTS.items()
        }
    skip = {"status", "raw_status", "updated_at", "platform", "account", "state", "raw_state"}
    return {
        "record": digest({f: getattr(record, f) for f in record.__struct_fields__ if f not in skip})
    }


@given(st.sampled_from(sorted(CHANGES)), st.text(max_size=20))
def test_fingerprints_are_the_digests_checkpoints_already_hold(field: str, note: str) -> None:
    order = msgspec.structs.replace(sample_order(), note=note or None)
    if field != "totals":
        order = msgspec.structs.replace(order, **{field: CHANGES[field]})
    for record in (order, sample_refund(), sample_cancellation()):
        assert fingerprint(record, seen_at=NOW).parts == _reference_parts(record)
    assert fingerprint(sample_order(), seen_at=NOW).parts["items"] == "f63156a1a4c6e0b4"
