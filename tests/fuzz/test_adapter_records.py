"""Fuzzing one record of a page (or one order's detail answer) for every platform stream, over
real HTTP through the platform's own client.

Properties: nothing but the project's errors escape — and for a broken record nothing escapes
at all; the broken record becomes a ``Malformed`` naming its id when the id is still readable
(or maps, or is dropped as outside the window); every other record of the page arrives mapped;
errors stay short and free of credentials and personal ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.errors import RejectedError

from .budget import fuzz_settings
from .drive import Outcome, check_safe, encode, fetch
from .mutate import mutated
from .scenarios import RECORDS, SCENARIOS, Scenario
from .served import Answer, LoopRig

DETAILED = sorted(name for name, s in SCENARIOS.items() if s.detail is not None)


@pytest.fixture(scope="module")
def rig() -> Iterator[LoopRig]:
    with LoopRig() as running:
        yield running


def _details(scenario: Scenario, records: list[Any]) -> dict[str, Answer]:
    if scenario.detail is None:
        return {}
    return {str(scenario.record_id(r)): Answer(200, encode(scenario.detail(r))) for r in records}


def baseline(rig: LoopRig, scenario: Scenario) -> list[str]:
    cache: dict[str, list[str]] = rig.__dict__.setdefault("baselines", {})
    if scenario.name not in cache:
        records = scenario.records()
        outcome = fetch(
            rig,
            scenario,
            Answer(200, encode(scenario.envelope(records))),
            _details(scenario, records),
        )
        assert outcome.error is None and not outcome.malformed, (outcome.error, outcome.malformed)
        assert len(outcome.mapped) == RECORDS
        cache[scenario.name] = [_canonical_id(m) for m in outcome.mapped]
    return cache[scenario.name]


def _canonical_id(item: Any) -> str:
    for attr in ("refund_id", "cancellation_id", "order_id"):
        if hasattr(item, attr):
            return str(getattr(item, attr))
    raise AssertionError(item)


def _readable_id(scenario: Scenario, record: Any) -> str | None:
    """The id the client can read back from a broken record (str or int, as the documents
    type ids); None when it is gone or of another type."""
    if not isinstance(record, dict):
        return None
    key = {"pazarama": None, "c2c": "siparisKodu", "softtr": "orderno", "ecarsi": "order_id"}.get(
        scenario.platform, "id"
    )
    if key is None:
        key = "orderNumber" if scenario.stream == "orders" else "refundId"
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value)


def _check_page(
    outcome: Outcome, scenario: Scenario, good: list[str], broken: int, *, detail: bool = False
) -> None:
    check_safe(outcome, scenario)
    if detail and scenario.detail_refusal_ends_fetch and isinstance(outcome.error, RejectedError):
        return
    assert outcome.error is None, f"one broken record ended the fetch: {outcome.error!r}"[:1500]
    mapped = [_canonical_id(m) for m in outcome.mapped]
    others = [good[i] for i in range(RECORDS) if i != broken]
    for wanted in others:
        assert mapped.count(wanted) == 1, f"good record {wanted} lost or repeated: {mapped}"
    # The broken one: at most one item for it (mapped, Malformed, or dropped out of window).
    assert len(outcome.items) <= RECORDS, outcome.items


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_golden_page_maps_completely(rig: LoopRig, name: str) -> None:
    """The fuzzing starts from pages every client maps without a Malformed (else it proves
    nothing about "the others still arrive")."""
    assert len(set(baseline(rig, SCENARIOS[name]))) == RECORDS


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_broken_record_is_malformed_and_its_neighbours_arrive(rig: LoopRig, name: str) -> None:
    scenario = SCENARIOS[name]
    good = baseline(rig, scenario)
    records = scenario.records()

    @fuzz_settings(40)
    @given(broken=st.integers(0, RECORDS - 1), data=st.data())
    def run(broken: int, data: st.DataObject) -> None:
        page = list(records)
        page[broken], what = data.draw(mutated(records[broken], scenario.secrets), label="record")
        details = _details(scenario, [r for i, r in enumerate(page) if i != broken])
        readable = _readable_id(scenario, page[broken])
        if scenario.detail is not None and readable is not None:
            details[readable] = Answer(200, encode(scenario.detail(records[broken])))
        outcome = fetch(rig, scenario, Answer(200, encode(scenario.envelope(page))), details)
        _check_page(outcome, scenario, good, broken)
        for bad in outcome.malformed:
            assert bad.stream == scenario.stream and bad.endpoint
            if readable is not None:
                assert bad.record_id == readable, (what, bad)

    run()


@pytest.mark.parametrize("name", DETAILED)
def test_a_broken_detail_answer_is_that_orders_malformed(rig: LoopRig, name: str) -> None:
    scenario = SCENARIOS[name]
    assert scenario.detail is not None
    good = baseline(rig, scenario)
    records = scenario.records()

    @fuzz_settings(40)
    @given(broken=st.integers(0, RECORDS - 1), data=st.data())
    def run(broken: int, data: st.DataObject) -> None:
        assert scenario.detail is not None
        details = _details(scenario, records)
        record_id = str(scenario.record_id(records[broken]))
        doc, what = data.draw(mutated(scenario.detail(records[broken]), scenario.secrets))
        details[record_id] = Answer(200, encode(doc))
        outcome = fetch(rig, scenario, Answer(200, encode(scenario.envelope(records))), details)
        _check_page(outcome, scenario, good, broken, detail=True)
        for bad in outcome.malformed:
            assert bad.record_id == record_id, (what, bad)

    run()
