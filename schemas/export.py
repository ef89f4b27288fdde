"""Generate the published contract files: JSON Schema per type and an AsyncAPI 3.0 document.

Run ``python -m schemas.export [DIR]`` or ``pipeline schemas export``. Files written under
``schemas/json/`` by default:

* ``<name>.schema.json`` — a standalone JSON Schema (draft 2020-12) per message and record type;
* ``order-status.json`` — the canonical status lifecycle (values, transitions, terminal set);
* ``asyncapi.json`` — topics, keys, CloudEvents headers and payloads;
* ``compat/v<N>.json`` — the component schemas of the last export at schema version N, the
  baseline that :mod:`schemas.compat` checks later changes against.

Export refuses to overwrite a baseline with a breaking change: bump ``SCHEMA_VERSION`` (and the
topic's ``.vN`` suffix) instead.
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any, Final

import msgspec

from schemas import commands, events, examples, money, order, status, topics
from schemas.cloudevents import SPECVERSION
from schemas.compat import Mode, breaking_changes

DEFAULT_DIR: Final = Path(__file__).parent / "json"
DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"
ID_BASE: Final = "https://schemas.marketplace-pipeline.example/v1/"

#: name → (type, compatibility direction). "read": we publish it; "write": we consume it.
MESSAGE_TYPES: Final[dict[str, tuple[Any, Mode]]] = {
    **{tag: (cls, "read") for tag, cls in events.EVENT_TYPES.items()},
    **{tag: (cls, "write") for tag, cls in commands.COMMAND_TYPES.items()},
    "event": (events.AnyEvent, "read"),
    "command": (commands.AnyCommand, "write"),
    "command-result": (commands.CommandResult, "read"),
    "dead-letter": (commands.DeadLetter, "read"),
}
RECORD_TYPES: Final[dict[str, Any]] = {
    "order": order.Order,
    "refund": order.Refund,
    "cancellation": order.Cancellation,
    "money": money.Money,
}


def _dump(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def _clean_descriptions(data: Any) -> Any:
    """Docstrings as descriptions, dedented the same way whatever msgspec version renders them
    (0.23 started to clean them itself; older versions kept the source indentation)."""
    if isinstance(data, dict):
        return {
            k: inspect.cleandoc(v)
            if k == "description" and isinstance(v, str)
            else _clean_descriptions(v)
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [_clean_descriptions(v) for v in data]
    return data


def json_schemas() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, tp in {**{k: v[0] for k, v in MESSAGE_TYPES.items()}, **RECORD_TYPES}.items():
        schema = _clean_descriptions(msgspec.json.schema(tp))
        out[f"{name}.schema.json"] = {"$schema": DRAFT, "$id": f"{ID_BASE}{name}", **schema}
    return out


def components() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(root refs by message name, component schemas), refs as ``#/components/schemas/X``."""
    names = list(MESSAGE_TYPES)
    roots, comps = msgspec.json.schema_components(
        [MESSAGE_TYPES[n][0] for n in names], ref_template="#/components/schemas/{name}"
    )
    return dict(zip(names, roots, strict=True)), _clean_descriptions(comps)


def status_document() -> dict[str, Any]:
    return {
        "order_status": {
            "values": [s.value for s in status.OrderStatus],
            "terminal": sorted(s.value for s in status.TERMINAL_ORDER_STATUSES),
            "transitions": {
                s.value: sorted(t.value for t in targets)
                for s, targets in status.ORDER_TRANSITIONS.items()
            },
            "note": "unknown may be entered from and left to any status",
        },
        "refund_state": [s.value for s in status.RefundState],
        "cancellation_state": [s.value for s in status.CancellationState],
    }


_CE_HEADERS: Final = {
    "type": "object",
    "description": "CloudEvents 1.0 Kafka binary-mode headers (values are UTF-8 strings).",
    "properties": {
        "ce_specversion": {"type": "string", "const": SPECVERSION},
        "ce_id": {"type": "string", "description": "Same as the envelope id / command_id."},
        "ce_source": {
            "type": "string",
            "description": "/marketplace-pipeline/<platform>/<account>",
        },
        "ce_type": {"type": "string", "description": "Event type, command type or command.result"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "The order id"},
        "ce_schemaversion": {"type": "string"},
        "content-type": {"type": "string", "const": "application/json"},
    },
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "content-type"],
}

_CHANNELS: Final = {
    "orders": (
        topics.ORDERS,
        "platform:account:order_id",
        "Order events.",
        [t for t, c in events.EVENT_TYPES.items() if c.topic == topics.ORDERS],
    ),
    "refunds": (
        topics.REFUNDS,
        "platform:account:order_id",
        "Refund and cancellation events (subject and key are the order).",
        [t for t, c in events.EVENT_TYPES.items() if c.topic == topics.REFUNDS],
    ),
    "commands": (
        topics.COMMANDS,
        "platform:account",
        "Commands to apply on a platform. One applier owns an account.",
        list(commands.COMMAND_TYPES),
    ),
    "commandResults": (
        topics.COMMAND_RESULTS,
        "platform:account",
        "Exactly one final result per command.",
        ["command-result"],
    ),
    "commandsDlq": (
        topics.COMMANDS_DLQ,
        "platform:account (or the original key)",
        "Undecodable commands with their original bytes and the error.",
        ["dead-letter"],
    ),
}


def _samples() -> dict[str, Any]:
    found: list[Any] = [
        *examples.sample_events(),
        *examples.sample_commands(),
    ]
    out = {m.type: msgspec.to_builtins(m) for m in found}
    out["command-result"] = msgspec.to_builtins(examples.sample_result())
    out["dead-letter"] = msgspec.to_builtins(examples.sample_dead_letter())
    return out


def asyncapi() -> dict[str, Any]:
    roots, comps = components()
    samples = _samples()
    messages: dict[str, Any] = {}
    for name, root in roots.items():
        if name in {"event", "command"}:
            continue
        messages[name] = {
            "name": name,
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/CloudEventHeaders"},
            "payload": root,
        }
        if name in samples:
            messages[name]["examples"] = [{"name": "sample", "payload": samples[name]}]
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for cid, (address, key, description, names) in _CHANNELS.items():
        channels[cid] = {
            "address": address,
            "description": description,
            "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names},
            "bindings": {"kafka": {"bindingVersion": "0.5.0"}},
        }
        action = "receive" if cid == "commands" else "send"
        operations[f"{action}_{cid}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{cid}"},
            "messages": [{"$ref": f"#/channels/{cid}/messages/{n}"} for n in names],
            "bindings": {"kafka": {"bindingVersion": "0.5.0"}},
            "description": f"Record key: {key}.",
        }
        for n in names:
            messages[n]["bindings"] = {
                "kafka": {"key": {"type": "string", "description": key}, "bindingVersion": "0.5.0"}
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "marketplace pipeline",
            "version": f"{events.SCHEMA_VERSION}.0.0",
            "description": "Orders, refunds and cancellations from five Turkish marketplaces, "
            "and the commands that act on them.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {"host": "kafka:9092", "protocol": "kafka"},
            "embedded": {"host": "127.0.0.1:9092", "protocol": "kafka"},
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": {**comps, "CloudEventHeaders": _CE_HEADERS},
        },
    }


def baseline_document() -> dict[str, Any]:
    roots, comps = components()
    return {
        "schema_version": events.SCHEMA_VERSION,
        "roots": {n: {"schema": roots[n], "mode": MESSAGE_TYPES[n][1]} for n in roots},
        "components": comps,
    }


def compat_problems(baseline: dict[str, Any]) -> list[str]:
    """Breaking changes of the current code against a baseline written by :func:`export`."""
    current = baseline_document()
    problems: list[str] = []
    for name, root in baseline["roots"].items():
        if name not in current["roots"]:
            problems.append(f"{name}: message type removed")
            continue
        problems += breaking_changes(
            root["schema"],
            current["roots"][name]["schema"],
            old_defs=baseline["components"],
            new_defs=current["components"],
            mode=root["mode"],
            path=name,
        )
    return problems


def rendered(directory: Path = DEFAULT_DIR) -> dict[Path, str]:
    """Every file :func:`export` writes, with its content (tests compare them to the repo)."""
    files = {directory / name: _dump(doc) for name, doc in json_schemas().items()}
    files[directory / "order-status.json"] = _dump(status_document())
    files[directory / "asyncapi.json"] = _dump(asyncapi())
    files[directory / "compat" / f"v{events.SCHEMA_VERSION}.json"] = _dump(baseline_document())
    return files


def export(directory: Path = DEFAULT_DIR) -> list[Path]:
    """Write the files; refuse when the change breaks the committed baseline of this version."""
    baseline_path = directory / "compat" / f"v{events.SCHEMA_VERSION}.json"
    if baseline_path.exists():
        problems = compat_problems(json.loads(baseline_path.read_text()))
        if problems:
            raise SystemExit(
                "breaking change(s) against schema version "
                f"{events.SCHEMA_VERSION}; bump SCHEMA_VERSION to publish them:\n  "
                + "\n  ".join(problems)
            )
    written = []
    for path, text in rendered(directory).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0]) if args else DEFAULT_DIR
    for path in export(directory):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
