"""The committed contract files are what the code generates, validate real messages, and the
compatibility checker catches breaking changes."""

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest

from schemas import events, export
from schemas.compat import breaking_changes
from schemas.examples import sample_commands, sample_dead_letter, sample_events, sample_result

JSON_DIR = Path(export.__file__).parent / "json"


def test_committed_files_match_the_code() -> None:
    stale = [
        str(path.relative_to(JSON_DIR))
        for path, text in export.rendered(JSON_DIR).items()
        if not path.exists() or path.read_text() != text
    ]
    assert not stale, f"run `pipeline schemas export`; stale: {stale}"


def _validator(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((JSON_DIR / f"{name}.schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _samples() -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for ev in sample_events():
        out += [(ev.type, ev), ("event", ev)]
    for cmd in sample_commands():
        out += [(cmd.type, cmd), ("command", cmd)]
    out += [("command-result", sample_result()), ("dead-letter", sample_dead_letter())]
    out += [("order", sample_events()[0].data)]  # type: ignore[attr-defined]
    return out


@pytest.mark.parametrize(
    ("name", "message"), _samples(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_json_schema_validates_the_messages_we_produce(name: str, message: Any) -> None:
    _validator(name).validate(json.loads(msgspec.json.encode(message)))


def test_json_schema_rejects_a_broken_message() -> None:
    body = json.loads(msgspec.json.encode(sample_commands()[1]))
    del body["tracking_number"]
    with pytest.raises(jsonschema.ValidationError, match="tracking_number"):
        _validator("order.ship").validate(body)
    naive = json.loads(msgspec.json.encode(sample_events()[0]))
    naive["data"]["totals"]["grand_total"]["amount"] = 12.5
    with pytest.raises(jsonschema.ValidationError):
        _validator("order.created").validate(naive)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [
            r for v in node.values() for r in _refs(v)
        ]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_asyncapi_document_is_self_consistent() -> None:
    doc = json.loads((JSON_DIR / "asyncapi.json").read_text())
    assert doc["asyncapi"] == "3.0.0"
    assert {c["address"] for c in doc["channels"].values()} == {
        "orders.v1",
        "refunds.v1",
        "commands.v1",
        "command-results.v1",
        "commands-dlq.v1",
    }
    for ref in _refs(doc):
        node: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
    headers = doc["components"]["schemas"]["CloudEventHeaders"]
    assert {"ce_id", "ce_type", "ce_source", "ce_specversion"} <= set(headers["required"])


def test_current_code_is_compatible_with_the_committed_baseline() -> None:
    baseline = json.loads((JSON_DIR / "compat" / f"v{events.SCHEMA_VERSION}.json").read_text())
    assert export.compat_problems(baseline) == []


# --- the checker itself must be able to fail ---------------------------------------------


def _baseline() -> dict[str, Any]:
    return export.baseline_document()


def _check(old: dict[str, Any], new: dict[str, Any], root: str) -> list[str]:
    return breaking_changes(
        old["roots"][root]["schema"],
        new["roots"][root]["schema"],
        old_defs=old["components"],
        new_defs=new["components"],
        mode=old["roots"][root]["mode"],
        path=root,
    )


def test_removed_event_field_is_breaking() -> None:
    old = _baseline()
    new = copy.deepcopy(old)
    del new["components"]["Order"]["properties"]["order_number"]
    new["components"]["Order"]["required"].remove("order_number")
    assert any("order_number" in p and "removed" in p for p in _check(old, new, "order.created"))


def test_widened_event_field_is_breaking_for_readers() -> None:
    old = _baseline()
    new = copy.deepcopy(old)
    new["components"]["Order"]["properties"]["order_number"] = {
        "anyOf": [{"type": "string"}, {"type": "null"}]
    }
    assert any("order_number" in p for p in _check(old, new, "order.created"))


def test_required_field_made_optional_is_breaking_for_readers() -> None:
    old = _baseline()
    new = copy.deepcopy(old)
    new["components"]["Order"]["required"].remove("raw_status")
    assert any("raw_status" in p for p in _check(old, new, "order.created"))


def test_added_optional_field_and_enum_value_are_fine_for_readers() -> None:
    old = _baseline()
    new = copy.deepcopy(old)
    new["components"]["Order"]["properties"]["loyalty_points"] = {"type": "integer"}
    new["components"]["OrderStatus"]["enum"].append("teleported")
    assert _check(old, new, "order.created") == []


def test_narrowed_command_field_is_breaking_for_producers() -> None:
    old = _baseline()
    new = copy.deepcopy(old)
    new["components"]["Ship"]["properties"]["tracking_url"] = {"type": "string"}
    assert any("tracking_url" in p for p in _check(old, new, "order.ship"))


def test_new_required_command_field_and_removed_enum_value_break_producers() -> None:
    old = _baseline()
    new = copy.deepcopy(old)
    new["components"]["Ship"]["required"].append("desi")
    new["components"]["OrderStatus"]["enum"].remove("preparing")
    problems = _check(old, new, "order.ship") + _check(old, new, "order.set_status")
    assert any("desi" in p and "required" in p for p in problems)
    assert any("preparing" in p for p in problems)


def test_export_refuses_a_breaking_baseline(tmp_path: Path) -> None:
    export.export(tmp_path)
    baseline_path = tmp_path / "compat" / f"v{events.SCHEMA_VERSION}.json"
    doc = json.loads(baseline_path.read_text())
    doc["components"]["Order"]["properties"]["vanished"] = {"type": "string"}
    baseline_path.write_text(json.dumps(doc))
    with pytest.raises(SystemExit, match="vanished"):
        export.export(tmp_path)
