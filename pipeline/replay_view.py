"""What ``pipeline replay`` and ``pipeline tail`` make of a record: how it is decoded, filtered
and printed.

:func:`describe` turns a consumer record into a :class:`RecordView`, decoded leniently (a
debugging tool must show malformed records too): an event, command, result, dead letter,
checkpoint, registration, other JSON, or bytes.

* Filters (:class:`Filters`): ``--key`` (exact), ``--type`` (fnmatch pattern on the ``ce_type``
  header, else the value's ``type``; ``command.result`` for results), ``--platform`` /
  ``--account`` / ``--order`` (from the value's envelope, else from the key), ``--since`` /
  ``--until`` (``[since, until)``, RFC 3339 with an offset, or relative: ``90s``, ``30m``,
  ``2h``, ``7d``: :func:`parse_time`). ``--from-offset``: :func:`parse_from_offset`.
* Formats (:class:`Printer`): ``table`` (one line per record, personal ids masked with
  :func:`~pipeline.masking.mask_text`), ``json`` (the value document as stored, one per line;
  dead letters keep their bytes base64 as stored; ``--meta`` wraps it with topic, partition,
  offset, timestamp, key and headers), ``raw`` (the value bytes as stored, newline-terminated).
  json and raw are the data: they print personal data unmasked.

Time. A record's time is its Kafka timestamp (the producer's CreateTime: when it was
published; the envelope ``time`` only when a record has none). It is the time Kafka indexes, and
every topic has it (results, dead letters and checkpoints have no envelope ``time``). The
engine (:mod:`pipeline.replay`) seeks by it where the broker allows; :class:`Filters` checks
every record anyway.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import fnmatch
from typing import IO, Any, Final, Literal

import msgspec

from pipeline.config import parse_duration
from pipeline.errors import ConfigError
from pipeline.masking import excerpt, mask_text
from schemas import COMMAND_TYPES, EVENT_TYPES

__all__ = [
    "Filters",
    "Printer",
    "RecordView",
    "describe",
    "parse_from_offset",
    "parse_time",
]

Format = Literal["table", "json", "raw"]
_COMMON_COMMAND_FIELDS: Final = frozenset(
    {"type", "command_id", "platform", "account", "order_id", "issued_at", "item_ids"}
)


# --- arguments -------------------------------------------------------------------------------


def parse_time(text: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """``2h`` (before ``now``), or RFC 3339 with an offset (``2026-03-14T10:00:00+03:00``)."""
    now = now or dt.datetime.now(dt.UTC)
    with contextlib.suppress(ConfigError):
        return now - parse_duration(text)
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"invalid time {text!r} (use e.g. 2h, 30m or an RFC 3339 time)") from None
    if when.tzinfo is None:  # a guessed zone would shift the window by hours
        raise ConfigError(f"time {text!r} has no offset (add Z or +03:00)")
    return when


def parse_from_offset(text: str) -> tuple[int | None, int]:
    """``PARTITION:OFFSET`` or ``OFFSET`` (every partition); a negative offset counts back from
    the end."""
    part, sep, offset = text.rpartition(":")
    try:
        return (int(part) if sep else None), int(offset)
    except ValueError:
        raise ConfigError(f"invalid --from-offset {text!r} (PARTITION:OFFSET or OFFSET)") from None


@dataclasses.dataclass(frozen=True, slots=True)
class Filters:
    key: str | None = None
    types: tuple[str, ...] = ()
    platform: str | None = None
    account: str | None = None
    order: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def matches(self, view: RecordView) -> bool:
        if self.key is not None and view.key_text != self.key:
            return False
        if self.types and not any(fnmatch.fnmatchcase(view.type, t) for t in self.types):
            return False
        for wanted, got in (
            (self.platform, view.platform),
            (self.account, view.account),
            (self.order, view.order),
        ):
            if wanted is not None and got != wanted:
                return False
        when = view.time
        if self.since is not None and (when is None or when < self.since):
            return False
        return self.until is None or (when is not None and when < self.until)


# --- what a record is ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class RecordView:
    """One record with what the filters and formats need, decoded leniently (a debugging tool
    must show malformed records too)."""

    topic: str
    partition: int
    offset: int
    timestamp: int  # ms; -1: none
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    #: event, command, result, dead_letter, checkpoint, registration, json or bytes.
    kind: str
    doc: Any
    type: str
    platform: str | None
    account: str | None
    order: str | None
    time: dt.datetime | None

    @property
    def key_text(self) -> str:
        return (self.key or b"").decode("utf-8", "replace")


def _kind(doc: Any) -> str:
    if not isinstance(doc, dict):
        return "json"
    keys = doc.keys()
    if doc.get("type") in EVENT_TYPES and "data" in keys:
        return "event"
    if doc.get("type") in COMMAND_TYPES and "command_id" in keys:
        return "command"
    if {"command_id", "outcome"} <= keys:
        return "result"
    if {"error", "topic", "partition", "offset"} <= keys:
        return "dead_letter"
    if {"cursor", "stream", "platform", "account"} <= keys:
        return "checkpoint"
    if {"worker", "platform", "account", "partition"} <= keys:
        return "registration"
    return "json"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _when(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    with contextlib.suppress(ValueError):
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return when if when.tzinfo is not None else None
    return None


def describe(record: Any) -> RecordView:
    """A consumer record → :class:`RecordView`."""
    headers = tuple((k, v or b"") for k, v in (record.headers or ()))
    value: bytes | None = record.value
    doc: Any = None
    kind = "bytes"
    if value is not None:
        with contextlib.suppress(msgspec.DecodeError):
            doc = msgspec.json.decode(value)
            kind = _kind(doc)
    d: dict[str, Any] = doc if isinstance(doc, dict) else {}
    hdr = {k: v.decode("utf-8", "replace") for k, v in headers}
    key_parts = (record.key or b"").decode("utf-8", "replace").split(":", 2)
    platform = _text(d.get("platform")) or (key_parts[0] or None)
    account = _text(d.get("account")) or (key_parts[1] if len(key_parts) > 1 else None)
    order = _text(d.get("subject") if kind == "event" else d.get("order_id"))
    if kind == "dead_letter":
        # The letter's headers are the original command's; its bytes may still be JSON.
        with contextlib.suppress(msgspec.DecodeError, TypeError, ValueError):
            inner = msgspec.json.decode(base64.b64decode(d.get("value") or ""))
            if isinstance(inner, dict):
                order = _text(inner.get("order_id"))
    if order is None and kind in {"event", "json", "bytes"} and len(key_parts) == 3:
        order = key_parts[2]  # event keys are platform:account:order_id
    type_ = (
        hdr.get("ce_type")
        or _text(d.get("type"))
        or {
            "result": "command.result",
            "dead_letter": "dead_letter",
            "checkpoint": "checkpoint",
            "registration": "account.registration",
        }.get(kind, "")
    )
    when = (
        dt.datetime.fromtimestamp(record.timestamp / 1000, dt.UTC)
        if record.timestamp is not None and record.timestamp >= 0
        else _when(d.get("time")) or _when(hdr.get("ce_time"))
    )
    return RecordView(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=record.timestamp if record.timestamp is not None else -1,
        key=record.key,
        value=value,
        headers=headers,
        kind=kind,
        doc=doc,
        type=type_,
        platform=platform,
        account=account,
        order=order,
        time=when,
    )


def summary(view: RecordView) -> str:
    """A short, unmasked description of the record's content (the table masks the line)."""
    d: dict[str, Any] = view.doc if isinstance(view.doc, dict) else {}
    data = d.get("data") if isinstance(d.get("data"), dict) else {}
    assert isinstance(data, dict)  # noqa: S101 - narrowed above, for mypy
    match view.kind:
        case "event" if "status" in data:
            now = f"{data.get('status')} (raw {data.get('raw_status')})"
            if "previous_status" in d:
                return f"{d['previous_status']} → {now}"
            changed = d.get("changed")
            return f"{now}; changed {', '.join(changed)}" if changed else now
        case "event":
            which = data.get("refund_id") or data.get("cancellation_id")
            now = f"{data.get('state')} (raw {data.get('raw_state')})"
            prev = d.get("previous_state")
            return f"{which}: {prev} → {now}" if prev else f"{which}: {now}"
        case "command":
            extra = " ".join(
                f"{k}={v}" for k, v in d.items() if k not in _COMMON_COMMAND_FIELDS and v
            )
            return f"{d.get('command_id')} {extra}".strip()
        case "result":
            said = d.get("message") or d.get("error") or ""
            return (
                f"{d.get('outcome')} {d.get('command_id')} ({d.get('command_type')}, "
                f"{d.get('attempts')} attempts) {said}"
            ).strip()
        case "dead_letter":
            return (
                f"from {d.get('topic')}[{d.get('partition')}]@{d.get('offset')}: {d.get('error')}"
            )
        case "checkpoint":
            prints = d.get("fingerprints")
            count = len(prints) if isinstance(prints, dict) else 0
            return f"cursor {d.get('cursor')} written {d.get('written_at')} ({count} fingerprints)"
        case "registration":
            state = "owned by" if d.get("owned", True) else "released by"
            return f"{state} {d.get('worker')} (host {d.get('host')} pid {d.get('pid')})"
        case _:
            return "(tombstone)" if view.value is None else excerpt(view.value, 100)


# --- output ----------------------------------------------------------------------------------

_TABLE_HEADER: Final = (
    f"{'TIME':<24}  {'P:OFFSET':<10}  {'TYPE':<22}  {'KEY':<30}  {'SUBJECT':<20}  SUMMARY"
)


class Printer:
    """Writes matching records to a binary stream in one of the formats."""

    def __init__(
        self, fmt: Format, out: IO[bytes], *, meta: bool = False, flush: bool = False
    ) -> None:
        self.format = fmt
        self.out = out
        self.meta = meta
        self.flush = flush
        self._header_done = fmt != "table"

    def __call__(self, view: RecordView) -> None:
        if not self._header_done:
            self.out.write(_TABLE_HEADER.encode() + b"\n")
            self._header_done = True
        self.out.write(self.render(view))
        if self.flush:
            self.out.flush()

    def render(self, view: RecordView) -> bytes:
        if self.format == "raw":
            return (view.value or b"") + b"\n"
        if self.format == "json":
            return msgspec.json.encode(self._document(view)) + b"\n"
        stamp = (
            view.time.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            if view.time
            else "-"
        )
        summ = summary(view).replace("\n", " ")
        summ = summ if len(summ) <= 160 else summ[:160] + "…"
        line = (
            f"{stamp:<24}  {f'{view.partition}:{view.offset}':<10}  {view.type or '-':<22}  "
            f"{view.key_text or '-':<30}  {view.order or '-':<20}  {summ}"
        )
        # Masked as a whole: keys, subjects and free text may all carry personal ids. json and
        # raw are the data itself and are not masked (their --help says so).
        return mask_text(line).encode() + b"\n"

    def _document(self, view: RecordView) -> Any:
        if view.doc is not None or view.value is None:
            value: Any = view.doc
        else:  # not JSON: the bytes, base64 (as msgspec encodes bytes)
            value = {"undecodable": view.value}
        if not self.meta:
            return value
        return {
            "topic": view.topic,
            "partition": view.partition,
            "offset": view.offset,
            "timestamp": view.timestamp,
            "key": view.key_text if view.key is not None else None,
            "headers": [[k, v.decode("utf-8", "replace")] for k, v in view.headers],
            "value": value,
        }
