"""Fuzzing whole answers for every platform stream, over real HTTP through the platform's own
client: truncated JSON, empty and HTML bodies, random JSON and bytes, odd statuses, a BOM, a
3 MB body, the envelope with one node broken, and each vendor's error envelope inside an
HTTP 200.

Properties: only the project's errors (:mod:`pipeline.errors`) escape; error texts stay short and
free of credentials and personal ids; an error envelope is an error, never "no orders".
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given

from pipeline.errors import PlatformError

from .budget import fuzz_settings
from .drive import check_safe, encode, fetch
from .mutate import CONFUSERS, broken_bodies
from .scenarios import SCENARIOS, golden
from .served import Answer, LoopRig

DETAILED = sorted(name for name, s in SCENARIOS.items() if s.detail is not None)

#: Each vendor's way of saying "no" with HTTP 200 (from its document, or the field notes).
ERROR_ENVELOPES: dict[str, list[object]] = {
    "pazarama": [
        {
            "data": None,
            "success": False,
            "messageCode": "ORD9",
            "message": "Hata",
            "userMessage": "Tarih aralığı 1 ayı geçemez",
        },
        {"success": False, "messageCode": "invalid_token"},
    ],
    "c2c": [
        {"hata": "ApiKey veya ApiPassword hatalı"},
        [{"hata": True, "mesaj": "Hata oluştu"}],
        {"Message": "An error has occurred."},
    ],
    "softtr": [
        {
            "status": 400,
            "message": {"code": 400, "text": "Geçersiz istek", "detail": {"requestID": "abc"}},
        },
        {"status": "500", "message": "Sunucu hatası"},
    ],
    "ecarsi": [
        golden("ecarsi", "orders.list.response.validation.json"),
        golden("ecarsi", "orders.list.response.server-error.json"),
    ],
    "webservis": [
        golden("webservis", "auth004.response.synthetic.json"),
        {"code": "AUTH002", "message": "Kullanıcı bulunamadı", "result": None},
        {"code": "ORDERLISTS001", "message": None, "result": None},
    ],
}


@pytest.fixture(scope="module")
def rig() -> Iterator[LoopRig]:
    with LoopRig() as running:
        yield running


def _golden_page(name: str) -> tuple[bytes, dict[str, Answer]]:
    scenario = SCENARIOS[name]
    records = scenario.records()
    details = {}
    if scenario.detail is not None:
        details = {
            str(scenario.record_id(r)): Answer(200, encode(scenario.detail(r))) for r in records
        }
    return encode(scenario.envelope(records)), details


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_broken_list_answer_raises_only_pipeline_errors(rig: LoopRig, name: str) -> None:
    scenario = SCENARIOS[name]
    good, details = _golden_page(name)

    @fuzz_settings(30)
    @given(answer=broken_bodies(good, scenario.secrets))
    def run(answer: tuple[int, bytes, str]) -> None:
        status, body, _ = answer
        content_type = "text/html" if body.lstrip()[:1] == b"<" else "application/json"
        check_safe(fetch(rig, scenario, Answer(status, body, content_type), details), scenario)

    run()


@pytest.mark.parametrize("name", DETAILED)
def test_a_broken_detail_answer_raises_only_pipeline_errors(rig: LoopRig, name: str) -> None:
    scenario = SCENARIOS[name]
    good, details = _golden_page(name)
    target = sorted(details)[1]

    @fuzz_settings(25)
    @given(answer=broken_bodies(details[target].body, scenario.secrets))
    def run(answer: tuple[int, bytes, str]) -> None:
        status, body, _ = answer
        outcome = fetch(rig, scenario, Answer(200, good), {**details, target: Answer(status, body)})
        check_safe(outcome, scenario)
        # Whatever happened to this order, an order listed before it was not lost silently.
        if outcome.error is None:
            assert len(outcome.items) == len(details), outcome.items

    run()


@pytest.mark.parametrize(
    ("name", "envelope"),
    [(n, e) for n, s in sorted(SCENARIOS.items()) for e in ERROR_ENVELOPES[s.platform]],
)
def test_an_error_envelope_in_a_200_is_an_error_not_an_empty_list(
    rig: LoopRig, name: str, envelope: object
) -> None:
    scenario = SCENARIOS[name]
    outcome = fetch(rig, scenario, Answer(200, encode(envelope)))
    check_safe(outcome, scenario)
    assert isinstance(outcome.error, PlatformError), (outcome.error, outcome.items)
    assert outcome.items == []
    assert outcome.error.platform == scenario.platform and outcome.error.account == "main"
    assert outcome.error.endpoint


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_an_html_error_page_names_platform_account_and_endpoint(rig: LoopRig, name: str) -> None:
    scenario = SCENARIOS[name]
    page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    for status in (200, 502):
        outcome = fetch(rig, scenario, Answer(status, page, "text/html"))
        check_safe(outcome, scenario)
        assert isinstance(outcome.error, PlatformError)
        assert outcome.error.retriable == (status == 502)
        assert f"[{scenario.platform}/main]" in str(outcome.error)


def _envelope_paths(doc: object, records: object, prefix: tuple[object, ...] = ()) -> list:
    """Every node of the envelope outside the records themselves."""
    out: list[tuple[object, ...]] = []
    if doc is records:
        return out
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    )
    for key, value in items:
        if value is records:
            continue
        out.append((*prefix, key))
        out.extend(_envelope_paths(value, records, (*prefix, key)))
    return out


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_envelope_field_with_every_type_confuser(rig: LoopRig, name: str) -> None:
    """Exhaustive where hypothesis would be lucky: each envelope node (status, message, paging
    counters...) set to each confusing value, and each node deleted."""
    scenario = SCENARIOS[name]
    records = scenario.records()
    _, details = _golden_page(name)
    envelope = scenario.envelope(records)
    listed = envelope if isinstance(envelope, list) else None
    paths = _envelope_paths(envelope, listed if listed is not None else _records_of(envelope))
    assert paths or listed is not None
    for path in paths:
        for value in [*CONFUSERS, _DELETE]:
            doc = scenario.envelope(records)
            parent = doc
            for step in path[:-1]:
                parent = parent[step]
            if value is _DELETE:
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
            outcome = fetch(rig, scenario, Answer(200, encode(doc)), details)
            try:
                check_safe(outcome, scenario)
            except AssertionError as exc:
                raise AssertionError(f"{path} = {value!r}: {exc}") from exc


_DELETE = object()


def _children(node: object) -> list[tuple[object, object]]:
    if isinstance(node, dict):
        return list(node.items())
    if isinstance(node, list):
        return list(enumerate(node))
    return []


def _records_of(envelope: object) -> object:
    """The records list inside an envelope (the longest list of objects)."""
    found: list[list[object]] = []

    def walk(node: object) -> None:
        if isinstance(node, list) and node and all(isinstance(n, dict) for n in node):
            found.append(node)
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
        )
        for child in children:
            walk(child)

    walk(envelope)
    return max(found, key=len)
