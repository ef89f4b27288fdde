"""CloudEvents 1.0 Kafka protocol binding, binary content mode: attributes ⇄ record headers.

The envelope in the record value stays the source of truth; the headers repeat its metadata so
routers and tools can filter without decoding JSON (``ce_type``, ``ce_subject``...). See
https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/kafka-protocol-binding.md
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Final

import msgspec

from schemas.commands import Command, CommandResult
from schemas.events import Event

SPECVERSION: Final = "1.0"
CONTENT_TYPE: Final = "application/json"
#: Source URI prefix; the full source is ``/marketplace-pipeline/<platform>/<account>``.
SOURCE_PREFIX: Final = "/marketplace-pipeline"

Headers = list[tuple[str, bytes]]


class CloudEventAttributes(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    source: str
    type: str
    time: dt.datetime | None = None
    subject: str | None = None
    datacontenttype: str = CONTENT_TYPE
    specversion: str = SPECVERSION
    extensions: dict[str, str] = msgspec.field(default_factory=dict)


class CloudEventHeaderError(ValueError):
    """Headers are missing a required CloudEvents attribute or carry an invalid one."""


def source_for(platform: str, account: str) -> str:
    return f"{SOURCE_PREFIX}/{platform}/{account}"


def to_headers(attrs: CloudEventAttributes) -> Headers:
    """Attributes → Kafka headers (``ce_`` prefix; datacontenttype as ``content-type``)."""
    headers: Headers = [
        ("ce_specversion", attrs.specversion.encode()),
        ("ce_id", attrs.id.encode()),
        ("ce_source", attrs.source.encode()),
        ("ce_type", attrs.type.encode()),
    ]
    if attrs.time is not None:
        if attrs.time.tzinfo is None:
            raise CloudEventHeaderError("ce_time must be timezone-aware")
        stamp = attrs.time.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        headers.append(("ce_time", stamp.encode()))
    if attrs.subject is not None:
        headers.append(("ce_subject", attrs.subject.encode()))
    for name, value in sorted(attrs.extensions.items()):
        headers.append((f"ce_{name}", value.encode()))
    headers.append(("content-type", attrs.datacontenttype.encode()))
    return headers


_KNOWN: Final = {"specversion", "id", "source", "type", "time", "subject"}


def from_headers(headers: Iterable[tuple[str, bytes | None]]) -> CloudEventAttributes:
    """Kafka headers → attributes. Missing required attributes are an error naming them."""
    values: dict[str, str] = {}
    content_type = CONTENT_TYPE
    for name, raw in headers:
        text = (raw or b"").decode("utf-8", "replace")
        if name == "content-type":
            content_type = text
        elif name.startswith("ce_"):
            values[name[3:]] = text
    missing = [f"ce_{k}" for k in ("specversion", "id", "source", "type") if not values.get(k)]
    if missing:
        raise CloudEventHeaderError(f"missing CloudEvents header(s): {', '.join(missing)}")
    if values["specversion"] != SPECVERSION:
        raise CloudEventHeaderError(f"unsupported ce_specversion {values['specversion']!r}")
    time = None
    if "time" in values:
        try:
            time = dt.datetime.fromisoformat(values["time"].replace("Z", "+00:00"))
        except ValueError as exc:
            raise CloudEventHeaderError(f"invalid ce_time {values['time']!r}") from exc
        if time.tzinfo is None:
            raise CloudEventHeaderError(f"ce_time without timezone: {values['time']!r}")
    return CloudEventAttributes(
        id=values["id"],
        source=values["source"],
        type=values["type"],
        time=time,
        subject=values.get("subject"),
        datacontenttype=content_type,
        specversion=values["specversion"],
        extensions={k: v for k, v in values.items() if k not in _KNOWN},
    )


def event_attributes(event: Event) -> CloudEventAttributes:
    return CloudEventAttributes(
        id=event.id,
        source=source_for(event.platform, event.account),
        type=event.type,
        time=event.time,
        subject=event.subject,
        extensions={"schemaversion": str(event.schema_version)},
    )


#: Per-process memos of :func:`event_headers`: the source of a (platform, account) and the
#: ``ce_time`` of the last instant seen (a poll stamps all its events with one ``now``).
_SOURCES: dict[tuple[str, str], bytes] = {}
_LAST_STAMP: list[tuple[dt.datetime, bytes]] = []
_SPECVERSION_BYTES: Final = SPECVERSION.encode()
_CONTENT_TYPE_BYTES: Final = CONTENT_TYPE.encode()


def event_headers(event: Event) -> Headers:
    """``to_headers(event_attributes(event))`` built directly: the publisher's per-event path.

    The same headers in the same order (a test compares them), without the intermediate
    attributes Struct, re-formatting the poll's one timestamp or the account's source."""
    source = _SOURCES.get((event.platform, event.account))
    if source is None:
        if len(_SOURCES) >= 10_000:
            _SOURCES.clear()
        source = _SOURCES[event.platform, event.account] = source_for(
            event.platform, event.account
        ).encode()
    time = event.time
    if _LAST_STAMP and _LAST_STAMP[0][0] is time:
        stamp = _LAST_STAMP[0][1]
    else:
        if time.tzinfo is None:
            raise CloudEventHeaderError("ce_time must be timezone-aware")
        stamp = time.astimezone(dt.UTC).isoformat().replace("+00:00", "Z").encode()
        _LAST_STAMP[:] = [(time, stamp)]
    return [
        ("ce_specversion", _SPECVERSION_BYTES),
        ("ce_id", event.id.encode()),
        ("ce_source", source),
        ("ce_type", event.type.encode()),
        ("ce_time", stamp),
        ("ce_subject", event.subject.encode()),
        ("ce_schemaversion", str(event.schema_version).encode()),
        ("content-type", _CONTENT_TYPE_BYTES),
    ]


def command_attributes(command: Command) -> CloudEventAttributes:
    return CloudEventAttributes(
        id=command.command_id,
        source=source_for(command.platform, command.account),
        type=command.type,
        time=command.issued_at,
        subject=command.order_id,
    )


def result_attributes(result: CommandResult) -> CloudEventAttributes:
    return CloudEventAttributes(
        id=f"{result.command_id}/result",
        source=source_for(result.platform or "unknown", result.account or "unknown"),
        type="command.result",
        time=result.finished_at,
        subject=result.order_id,
        extensions={"outcome": str(result.outcome), "commandid": result.command_id},
    )


def header_value(headers: Sequence[tuple[str, bytes | None]], name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return None if value is None else value.decode("utf-8", "replace")
    return None
