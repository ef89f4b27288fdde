"""``pipeline replay`` and ``pipeline tail``: read any topic for debugging, never as a group.

Both read with a group-less consumer (``assign()``): they never join a consumer group and never
commit, so running them cannot move a partition away from a worker or skip a command.

* ``replay TOPIC`` reads what the topic holds now (to each partition's end at start) and exits;
  ``tail TOPIC`` starts at the end (or at ``--since`` / ``--from-offset``) and follows until
  Ctrl-C (or ``--limit`` matches).
* Filters: ``--key`` (exact), ``--type`` (fnmatch pattern on the ``ce_type`` header, else the
  value's ``type``; ``command.result`` for results), ``--platform`` / ``--account`` /
  ``--order`` (from the value's envelope, else from the key), ``--since`` / ``--until``
  (``[since, until)``, RFC 3339 with an offset, or relative: ``90s``, ``30m``, ``2h``, ``7d``).
* Formats: ``table`` (one line per record, personal ids masked with
  :func:`~pipeline.masking.mask_text`), ``json`` (the value document as stored, one per line;
  dead letters keep their bytes base64 as stored; ``--meta`` wraps it with topic, partition,
  offset, timestamp, key and headers), ``raw`` (the value bytes as stored, newline-terminated).
  json and raw are the data: they print personal data unmasked.
* ``--to TOPIC`` re-publishes each matching record unchanged (key, value, headers) with
  ``acks=all``. A dead letter is unwrapped: the *original* command's key, bytes and headers go
  out, not the letter (``replay commands-dlq.v1 --to commands.v1`` requeues).

Time. A record's time is its Kafka timestamp (the producer's CreateTime: when it was
published; the envelope ``time`` only when a record has none). It is the time Kafka indexes, and
every topic has it (results, dead letters and checkpoints have no envelope ``time``).
``--since``/``--until`` seek with ``offsets_for_times`` where the broker honours it and filter
every record anyway. Tansu does not (README "Brokers": it searches by append time and answers
offset 0 / timestamp -1 past the end): the broker is probed once per bootstrap (a lookup one
year ahead must find nothing) and without a usable index the partitions are scanned from the
beginning and filtered.

Ends. A partition's end is max(ListOffsets latest, fetch high watermark), because Tansu answers
ListOffsets with the last *batch's* base offset + 1 (README "Brokers"): :func:`log_ends`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import fnmatch
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any, Final, Literal

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError, UnsupportedVersionError

from pipeline.bus import DEFAULT_TIMEOUT, KafkaEventPublisher, as_config, consumer_kwargs
from pipeline.config import Config, KafkaConfig, parse_duration
from pipeline.errors import BrokerError, ConfigError, PipelineError
from pipeline.masking import excerpt, mask_text
from pipeline.topics import CHECKPOINT_MAX_BYTES, TopicSpec, ensure_topics
from schemas import COMMAND_TYPES, EVENT_TYPES, DeadLetter

__all__ = [
    "Filters",
    "Printer",
    "RecordView",
    "ReplayStats",
    "describe",
    "kafka_from_args",
    "log_ends",
    "main",
    "parse_from_offset",
    "parse_time",
    "probe_time_index",
    "register",
    "replay",
]

log = logging.getLogger(__name__)

Format = Literal["table", "json", "raw"]
#: Records are fetched up to this size (the largest our topics allow: checkpoints).
_MAX_FETCH: Final = CHECKPOINT_MAX_BYTES
_POLL_MS: Final = 200
_FAR_AHEAD_MS: Final = 365 * 24 * 3600 * 1000
_COMMON_COMMAND_FIELDS: Final = frozenset(
    {"type", "command_id", "platform", "account", "order_id", "issued_at", "item_ids"}
)
_time_index_cache: dict[str, bool] = {}


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


# --- reading ---------------------------------------------------------------------------------


async def log_ends(
    consumer: AIOKafkaConsumer,
    tps: Sequence[TopicPartition],
    *,
    request_timeout: float = DEFAULT_TIMEOUT,
) -> dict[TopicPartition, int]:
    """Each partition's end offset now: max(ListOffsets latest, fetch high watermark).

    Tansu answers ListOffsets "latest" with the last batch's base offset + 1 (README
    "Brokers"), so a fetch from there tells the real end. Leaves the consumer unassigned.
    """
    try:
        async with asyncio.timeout(request_timeout):
            listed = await consumer.end_offsets(list(tps))
            first = await consumer.beginning_offsets(list(tps))
            ends = {tp: int(listed[tp]) for tp in tps}
            pending = {tp for tp in tps if listed[tp] > first[tp]}  # empty ones end where listed
            consumer.assign(sorted(pending))
            for tp in pending:
                consumer.seek(tp, listed[tp] - 1)
            while pending:
                await consumer.getmany(*pending, timeout_ms=_POLL_MS)
                for tp in list(pending):
                    highwater = consumer.highwater(tp)
                    if highwater is not None:
                        ends[tp] = max(ends[tp], highwater)
                        pending.discard(tp)
    except (KafkaError, TimeoutError) as exc:
        raise BrokerError(f"cannot read the end offsets of {sorted(tps)}: {exc!r}") from exc
    finally:
        consumer.assign([])
    return ends


async def probe_time_index(
    consumer: AIOKafkaConsumer,
    tps: Sequence[TopicPartition],
    *,
    bootstrap: str,
    refresh: bool = False,
) -> bool:
    """Whether ``offsets_for_times`` can be trusted, cached per bootstrap: a lookup a year ahead
    must find nothing (Kafka: ``None``). Tansu answers offset 0 / timestamp -1 there, and
    searches by append time anyway (README "Brokers")."""
    if not refresh and bootstrap in _time_index_cache:
        return _time_index_cache[bootstrap]
    ahead = int(time.time() * 1000) + _FAR_AHEAD_MS
    try:
        answers = await consumer.offsets_for_times({tp: ahead for tp in tps})
    except UnsupportedVersionError:
        supported = False
    else:
        supported = all(found is None for found in answers.values())
    _time_index_cache[bootstrap] = supported
    log.info("time index probe bootstrap=%s usable=%s", bootstrap, supported)
    return supported


async def _offsets_at(
    consumer: AIOKafkaConsumer, tps: Sequence[TopicPartition], when: dt.datetime
) -> dict[TopicPartition, int | None]:
    ms = int(when.timestamp() * 1000)
    answers = await consumer.offsets_for_times({tp: ms for tp in tps})
    return {
        tp: (None if found is None or found.timestamp < 0 else int(found.offset))
        for tp, found in answers.items()
    }


@dataclasses.dataclass(slots=True)
class ReplayStats:
    scanned: int = 0
    matched: int = 0
    republished: int = 0
    #: Matching records not re-published (a DLQ record that is not a dead letter).
    skipped: int = 0
    #: True: --since/--until seeked with offsets_for_times; False: scanned; None: not needed.
    time_index: bool | None = None
    partitions: list[int] = dataclasses.field(default_factory=list)
    #: Partitions given up on before their end (no progress within ``idle_timeout``).
    incomplete: list[int] = dataclasses.field(default_factory=list)


async def replay(
    kafka: KafkaConfig | str,
    topic: str,
    emit: Callable[[RecordView], object],
    *,
    filters: Filters | None = None,
    from_offsets: Mapping[int | None, int] | None = None,
    limit: int | None = None,
    to: str | None = None,
    create_to: bool = False,
    replication_factor: int | None = None,
    follow: bool = False,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[ReplayStats], object] | None = None,
    time_index: bool | None = None,
    idle_timeout: float = 5.0,
    request_timeout: float = DEFAULT_TIMEOUT,
) -> ReplayStats:
    """Read ``topic`` without a group, call ``emit`` for each record ``filters`` match (and send
    it to ``to``). ``follow``: start at the end unless told otherwise and run until ``stop``
    is set or ``limit`` records matched. ``on_ready`` is called once the start positions are
    fixed (a record produced after it is seen by a follow). ``time_index`` overrides the probe.
    """
    filters = filters or Filters()
    from_offsets = dict(from_offsets or {})
    stop = stop or asyncio.Event()
    stats = ReplayStats(time_index=time_index)
    if to is not None and follow and to == topic:
        raise ConfigError(f"tail --to {to}: re-publishing into the followed topic never ends")
    cfg = as_config(kafka)
    kwargs = consumer_kwargs(cfg, max_partition_fetch_bytes=_MAX_FETCH)
    consumer = AIOKafkaConsumer(**kwargs, fetch_max_wait_ms=_POLL_MS)
    publisher: KafkaEventPublisher | None = None
    try:
        async with asyncio.timeout(request_timeout):
            await consumer.start()
            # All topics: naming one that is missing would make Tansu create it.
            existing = await consumer.topics()
        if topic not in existing:
            raise ConfigError(f"topic {topic} does not exist")
        parts = sorted(consumer.partitions_for_topic(topic) or ())
        named = {p for p in from_offsets if p is not None}
        if named - set(parts):
            raise ConfigError(f"{topic} has no partition(s) {sorted(named - set(parts))}")
        stats.partitions = sorted(named) if named else parts
        tps = [TopicPartition(topic, p) for p in stats.partitions]
        if to is not None:
            if to not in existing:
                if not create_to:
                    raise ConfigError(f"topic {to} does not exist (--create-to creates it)")
                spec = TopicSpec(partitions=len(parts))
                await ensure_topics(cfg, {to: spec}, replication_factor=replication_factor)
            publisher = KafkaEventPublisher(
                cfg, max_request_size=_MAX_FETCH, timeout=request_timeout
            )
        start, end = await _positions(
            consumer,
            tps,
            filters,
            from_offsets,
            follow,
            stats,
            str(kwargs["bootstrap_servers"]),
            request_timeout,
        )
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, start[tp])
        if on_ready is not None:
            on_ready(stats)
        todo = {tp for tp in tps if follow or start[tp] < end[tp]}
        progress = time.monotonic()
        while todo and not stop.is_set():
            batch = await consumer.getmany(*todo, timeout_ms=_POLL_MS)
            for tp, records in batch.items():
                for record in records:
                    if not follow and record.offset >= end[tp]:
                        break
                    stats.scanned += 1
                    view = describe(record)
                    if not filters.matches(view):
                        continue
                    stats.matched += 1
                    emit(view)
                    if publisher is not None and to is not None:
                        await _republish(publisher, to, view, stats)
                    if limit is not None and stats.matched >= limit:
                        return stats
            if follow:
                continue
            for tp in list(todo):
                if await consumer.position(tp) >= end[tp]:
                    todo.discard(tp)
            if batch:
                progress = time.monotonic()
            elif time.monotonic() - progress > idle_timeout:
                # A compacted or transactional log can end in offsets no record fills.
                stats.incomplete = sorted(tp.partition for tp in todo)
                break
        return stats
    finally:
        with contextlib.suppress(KafkaError, TimeoutError, OSError):
            async with asyncio.timeout(request_timeout):
                await consumer.stop()
        if publisher is not None:
            await publisher.aclose()


async def _positions(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    filters: Filters,
    from_offsets: Mapping[int | None, int],
    follow: bool,
    stats: ReplayStats,
    bootstrap: str,
    request_timeout: float = DEFAULT_TIMEOUT,
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """Where each partition starts and (unless following) ends."""
    end = await log_ends(consumer, tps, request_timeout=request_timeout)
    try:
        async with asyncio.timeout(request_timeout):
            first = await consumer.beginning_offsets(tps)
            start: dict[TopicPartition, int] = {}
            for tp in tps:
                wanted = from_offsets.get(tp.partition, from_offsets.get(None))
                if wanted is None:
                    begin = end[tp] if follow and filters.since is None else first[tp]
                else:
                    begin = wanted if wanted >= 0 else end[tp] + wanted
                start[tp] = min(max(begin, first[tp]), end[tp])
            timed = filters.since is not None or (filters.until is not None and not follow)
            if timed and stats.time_index is None:
                stats.time_index = await probe_time_index(consumer, tps, bootstrap=bootstrap)
            if stats.time_index and filters.since is not None:
                at = await _offsets_at(consumer, tps, filters.since)
                for tp in tps:
                    found = at[tp]
                    start[tp] = max(start[tp], end[tp] if found is None else found)
            if stats.time_index and filters.until is not None and not follow:
                at = await _offsets_at(consumer, tps, filters.until)
                for tp in tps:
                    found = at[tp]
                    end[tp] = end[tp] if found is None else min(end[tp], found)
    except (KafkaError, TimeoutError) as exc:
        raise BrokerError(f"cannot find start offsets in {sorted(tps)}: {exc!r}") from exc
    return start, end


async def _republish(
    publisher: KafkaEventPublisher, to: str, view: RecordView, stats: ReplayStats
) -> None:
    key, value, headers = view.key, view.value, list(view.headers)
    if view.kind == "dead_letter":
        try:
            letter = msgspec.json.decode(view.value or b"", type=DeadLetter)
        except msgspec.DecodeError as exc:
            log.warning(
                "not re-published %d:%d: not a dead letter (%s)", view.partition, view.offset, exc
            )
            stats.skipped += 1
            return
        key, value, headers = letter.key, letter.value, list(letter.headers)
    await publisher.send_raw(to, key, value, headers)
    stats.republished += 1


# --- command line ----------------------------------------------------------------------------


def kafka_from_args(args: argparse.Namespace) -> KafkaConfig:
    """``--bootstrap`` over ``--config``'s ``[kafka]`` (shared by the operator commands)."""
    config = Config()
    if args.config:
        from pipeline import platforms
        from pipeline.config import load_config

        config = load_config(args.config, platforms=platforms.credential_keys())
    target = args.bootstrap or config.kafka.bootstrap
    if not target:
        raise ConfigError("give --bootstrap or a config with kafka.bootstrap", path="kafka")
    return msgspec.structs.replace(config.kafka, bootstrap=target)


def _arg(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def _add_options(cmd: argparse.ArgumentParser, *, follow: bool) -> None:
    cmd.add_argument("topic", help="the topic to read (never joined as a group, never committed)")
    cmd.add_argument("--config", default=None, help="TOML configuration (kafka settings)")
    cmd.add_argument("--bootstrap", default=None, help="host:port (overrides the config)")
    cmd.add_argument(
        "--since",
        type=_arg(parse_time),
        help="from this time: 2h / 30m / 7d ago, or RFC 3339 with an offset (record timestamp)",
    )
    if not follow:
        cmd.add_argument("--until", type=_arg(parse_time), help="before this time (same forms)")
    cmd.add_argument(
        "--from-offset",
        dest="from_offset",
        action="append",
        type=_arg(parse_from_offset),
        default=[],
        metavar="[PARTITION:]OFFSET",
        help="start there (negative: that many before the end); with PARTITION only the named "
        "partitions are read; repeatable",
    )
    cmd.add_argument("--key", default=None, help="exact record key, e.g. pazarama:main:42")
    cmd.add_argument(
        "--type",
        dest="types",
        metavar="PATTERN",
        action="append",
        default=[],
        help="event/command type (ce_type header or envelope), fnmatch pattern: 'order.*'",
    )
    cmd.add_argument("--platform", default=None)
    cmd.add_argument("--account", default=None)
    cmd.add_argument("--order", default=None, help="order id (envelope subject / order_id)")
    cmd.add_argument("--limit", type=int, default=None, help="stop after this many matches")
    cmd.add_argument(
        "--format",
        choices=["table", "json", "raw"],
        default="table",
        help="table: one line per record, personal ids masked; json: the value document as "
        "stored, one per line; raw: the value bytes as stored. json and raw ARE the data and "
        "print personal data unmasked",
    )
    cmd.add_argument(
        "--meta", action="store_true", help="json: wrap each document with partition, offset..."
    )
    cmd.add_argument(
        "--to",
        default=None,
        metavar="TOPIC",
        help="re-publish matches unchanged (key, value, headers); a dead letter's ORIGINAL "
        "command is re-published, not the letter",
    )
    cmd.add_argument(
        "--create-to",
        action="store_true",
        help="create the --to topic if missing (partitions as the source topic)",
    )
    cmd.add_argument(
        "--replication-factor",
        type=int,
        default=None,
        help="for --create-to (default 3, as the topic specs; 1 on a single broker)",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``replay`` and ``tail`` to the ``pipeline`` command line."""
    rep = sub.add_parser(
        "replay", help="print (or re-publish) what a topic holds, filtered; no consumer group"
    )
    _add_options(rep, follow=False)
    rep.set_defaults(func=_cmd_replay, follow=False)
    tail = sub.add_parser(
        "tail", help="follow a topic live from its end (or --since), filtered; no consumer group"
    )
    _add_options(tail, follow=True)
    tail.set_defaults(func=_cmd_replay, follow=True, until=None)


def _cmd_replay(args: argparse.Namespace) -> int:
    kafka = kafka_from_args(args)
    printer = Printer(args.format, sys.stdout.buffer, meta=args.meta, flush=args.follow)
    filters = Filters(
        key=args.key,
        types=tuple(args.types),
        platform=args.platform,
        account=args.account,
        order=args.order,
        since=args.since,
        until=args.until,
    )

    def ready(stats: ReplayStats) -> None:
        said = [
            f"{'following' if args.follow else 'reading'} {args.topic}",
            f"partitions {','.join(map(str, stats.partitions))}",
        ]
        if args.follow and not (args.since or args.from_offset):
            said.append("from the end")
        if stats.time_index is not None:
            said.append("seeking by time" if stats.time_index else "no time index: scanning")
        if args.follow:
            said.append("Ctrl-C stops")
        print("; ".join(said), file=sys.stderr, flush=True)

    async def run() -> ReplayStats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            return await replay(
                kafka,
                args.topic,
                printer,
                filters=filters,
                from_offsets=dict(args.from_offset),
                limit=args.limit,
                to=args.to,
                create_to=args.create_to,
                replication_factor=args.replication_factor,
                follow=args.follow,
                stop=stop,
                on_ready=ready,
            )
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    try:
        stats = asyncio.run(run())
        sys.stdout.flush()
    except BrokenPipeError:  # `pipeline replay ... | head`: stop quietly, as cat does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail
        return 0
    sent = f", {stats.republished} re-published to {args.to}" if args.to else ""
    skipped = f", {stats.skipped} not re-published (see log)" if stats.skipped else ""
    cut = f"; partitions {stats.incomplete} stopped early" if stats.incomplete else ""
    print(
        f"{stats.matched} of {stats.scanned} records matched{sent}{skipped}{cut}", file=sys.stderr
    )
    return 1 if stats.incomplete else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``replay``/``tail`` alone (``python -c 'from pipeline.replay import main; ...'``)."""
    parser = argparse.ArgumentParser(prog="pipeline")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    try:
        result: int = args.func(args)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return result
