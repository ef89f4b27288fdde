import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

import schemas
from schemas import (
    CloudEventHeaderError,
    Money,
    OrderCreated,
    OrderStatus,
    decode_event,
    encode_event,
    event_attributes,
    expected_id,
    from_headers,
    new_event,
    to_headers,
)
from schemas.examples import sample_events, sample_order


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: e.type)
def test_every_event_type_round_trips(event: schemas.Event) -> None:
    decoded = decode_event(encode_event(event))
    assert decoded == event
    assert type(decoded) is type(event)
    assert decoded.id == expected_id(decoded)


def test_event_types_route_to_the_documented_topics() -> None:
    topics = {e.type: e.topic for e in sample_events()}
    assert topics["order.created"] == "orders.v1"
    assert topics["refund.requested"] == "refunds.v1"
    assert topics["cancellation.updated"] == "refunds.v1"
    assert set(topics) == set(schemas.EVENT_TYPES)


def test_key_is_platform_account_order() -> None:
    for event in sample_events():
        assert event.key() == b"pazarama:main:3fa85f64-5717-4562-b3fc-2c963f66afa6"


def test_same_content_observed_later_has_the_same_id() -> None:
    order = sample_order()
    first = new_event(OrderCreated, time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), data=order)
    again = new_event(OrderCreated, time=dt.datetime(2026, 1, 2, tzinfo=dt.UTC), data=order)
    assert first.id == again.id


@given(st.text(), st.text(), st.sampled_from(["TRY", "TL", "EUR"]))
def test_event_ids_are_the_uuid5_of_their_content(name: str, note: str, currency: str) -> None:
    # Pins the id function against the stdlib definition (uuid5 over the decoded name), so a
    # faster implementation can never change an id consumers already hold.
    content = {"data": {"name": name, "note": note, "currency": currency}}
    body = msgspec.json.encode(content, order="sorted")
    parts = ("order.created", "pazarama", "main", "42")
    name_bytes = b"\x1f".join([*(p.encode() for p in parts), body])
    expected = str(uuid.uuid5(schemas.events.EVENT_ID_NAMESPACE, name_bytes.decode()))
    assert schemas.event_id(*parts, content) == expected


_CHANGES: dict[str, Any] = {
    "status": OrderStatus.SHIPPED,
    "raw_status": "5",
    "order_number": "999",
    "account": "other",
    "platform": "softtr",
    "order_id": "another-id",
    "payment_type": "havale",
    "note": "kapıda",
    "disputed": True,
    "created_at": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
}


@given(st.sampled_from(sorted(_CHANGES)), st.integers(min_value=1, max_value=10**6))
def test_any_field_change_gives_a_different_id(field: str, cents: int) -> None:
    order = sample_order()
    base = new_event(OrderCreated, time=dt.datetime.now(dt.UTC), data=order)
    changed = msgspec.structs.replace(order, **{field: _CHANGES[field]})
    assert new_event(OrderCreated, time=base.time, data=changed).id != base.id
    # nested: the amount of the grand total
    totals = msgspec.structs.replace(
        order.totals, grand_total=order.totals.grand_total + Money.from_minor(cents)
    )
    repriced = msgspec.structs.replace(order, totals=totals)
    assert new_event(OrderCreated, time=base.time, data=repriced).id != base.id


def test_previous_status_is_part_of_the_id() -> None:
    order = sample_order(OrderStatus.SHIPPED, "5")
    a = new_event(
        schemas.OrderStatusChanged,
        time=dt.datetime.now(dt.UTC),
        data=order,
        previous_status=OrderStatus.RECEIVED,
        previous_raw_status="3",
    )
    b = msgspec.structs.replace(a, previous_status=OrderStatus.PREPARING)
    assert expected_id(b) != a.id


def test_decimal_places_matter_to_the_id() -> None:
    # 10.5 and 10.50 are equal amounts but a platform that changes precision changed content.
    order = sample_order()
    t1 = msgspec.structs.replace(order.totals, grand_total=Money.of(Decimal("10.5")))
    t2 = msgspec.structs.replace(order.totals, grand_total=Money.of(Decimal("10.50")))
    now = dt.datetime.now(dt.UTC)
    a = new_event(OrderCreated, time=now, data=msgspec.structs.replace(order, totals=t1))
    b = new_event(OrderCreated, time=now, data=msgspec.structs.replace(order, totals=t2))
    assert a.id != b.id


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: e.type)
def test_cloudevents_headers_round_trip(event: schemas.Event) -> None:
    headers = to_headers(event_attributes(event))
    names = [name for name, _ in headers]
    for required in ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject"):
        assert required in names
    assert ("content-type", b"application/json") in headers
    attrs = from_headers(headers)
    assert attrs == event_attributes(event).__class__(
        **{**msgspec.structs.asdict(event_attributes(event)), "time": event.time}
    )
    assert attrs.type == event.type and attrs.id == event.id and attrs.subject == event.subject


def test_missing_ce_header_is_named() -> None:
    headers = [h for h in to_headers(event_attributes(sample_events()[0])) if h[0] != "ce_id"]
    with pytest.raises(CloudEventHeaderError, match="ce_id"):
        from_headers(headers)


def test_unknown_event_type_is_a_validation_error() -> None:
    raw = encode_event(sample_events()[0]).replace(b'"order.created"', b'"order.exploded"')
    with pytest.raises(msgspec.ValidationError, match=r"order\.exploded"):
        decode_event(raw)


def test_consumers_tolerate_fields_added_later() -> None:
    raw = encode_event(sample_events()[0])
    newer = raw[:-1] + b',"added_in_v1_1":{"x":1}}'
    assert decode_event(newer) == sample_events()[0]
