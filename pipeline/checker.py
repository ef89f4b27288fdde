"""The invariant checker: what reached Kafka, compared with what the platforms really hold.

Chaos tests, benchmarks and ``pipeline up`` runs end with one question: did the pipeline keep
its promises (DESIGN "Invariants")? This module answers it from the outside, the way another
team would see the result:

1. :func:`read_topics` reads ``orders.v1`` and ``refunds.v1`` from the beginning to their end
   with a plain consumer (``assign()``, no group, no commits, nothing disturbed);
2. :func:`read_observations` reads how far every account and stream was polled from the
   checkpoints on ``_pipeline.checkpoints`` (the cursor is the pipeline's own claim: "everything
   created before this was published", invariant 1);
3. :func:`ground_truth` takes the sandboxes' worlds (every order, refund and cancellation, with
   the time of every status change) and, through each platform's own adapter, the raw status the
   platform shows *now* -- "as the adapter renders it", so this module never needs to know how a
   platform spells a status;
4. :func:`check` compares them and returns a :class:`Report`; :func:`check_pipeline` does all four.

Violations (``Report.counts`` keys, each with up to ``examples`` descriptions):

``missing_created``
    an order created before its account's orders cursor (and within the horizon) has no
    ``order.created`` event;
``stale_status``
    the last event of an order (by offset) carries a raw status other than the one the platform
    shows now, although the order has not changed since the account's last complete poll began
    (changes after that are *in flux*: counted, not judged); the same for refund and
    cancellation records and their raw state;
``missing_record``
    a refund or cancellation opened before its stream's cursor has no event (records are matched
    by id, then -- for platforms that derive per-unit ids from a record -- by order: an order
    with *n* records needs *n* distinct record ids among its events);
``conflicting_id``
    one event id seen with two different contents (anything but ``time``); plain repeats of the
    same content are at-least-once delivery and only counted (``Report.repeats``);
``bad_id``
    an id that is not the deterministic id of the event's content (``schemas.expected_id``);
``unknown``
    an event for an account, order or record the ground truth does not know;
``malformed``
    a record that is not a decodable event, or whose topic, key or ``ce_id`` header does not
    match its envelope;
``unobserved``
    an account stream the platform offers that has no checkpoint at all (never polled).

Readings chosen (and why):

* **Status "as the adapter renders it".** A platform's raw status is whatever its adapter maps:
  Pazarama joins item codes (``"3,12"``), Web Servis shows a code, Softtr shows none at all (its
  raw status is the one the pipeline set, so a fresh client reads ``""`` -- the check is vacuous
  there until commands run). A per-platform rendering table here would duplicate the adapters;
  a fresh client over the horizon is exact and costs a few hundred loopback requests. Only the
  raw status/state is judged: other parts of an order (items, shipments) are not compared yet.
* **Which id.** Adapters name orders by the platform's own identifier, which may be the world's
  id, number (Web Servis) or GUID; :func:`ground_truth` finds out per account (:data:`ID_FIELDS`)
  from what the adapter returns.
* **When a change is due.** A change is due on the topic once a complete poll began after it:
  :class:`Observation` ``since`` is the older of the checkpoint's cursor and its last sweep. The
  workers and the sandboxes must share a clock (one host); ``slack`` absorbs jitter.
* **Order of events.** The last event of an order is the one with the highest offset in its
  partition (one key, one partition), which is what a consumer ends up with.

The ground-truth read goes over HTTP to the sandboxes with their rate-limit rules suspended (the
checker is not the system under test) and is logged like any other request: check the request
logs for limit compliance (:func:`window_violations`, :func:`rule_violations`) *before* it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

import schemas
from pipeline import platforms
from pipeline.adapter import Malformed, PlatformClient
from pipeline.bus import as_config, consumer_kwargs
from pipeline.checkpoints import Checkpoint, KafkaCheckpointStore
from pipeline.config import KafkaConfig
from pipeline.errors import BrokerError, PipelineError
from pipeline.http import HttpClient
from pipeline.ratelimit import RateBudget, RateLimit
from pipeline.sandbox import (
    LogEntry,
    Order,
    RateLimitRule,
    Sandbox,
    ServedSandbox,
    World,
    per_ip,
    per_tenant,
    per_token,
)
from schemas import topics

__all__ = [
    "ID_FIELDS",
    "KINDS",
    "GroundTruth",
    "Observation",
    "Report",
    "TopicRecord",
    "TruthOrder",
    "TruthRecord",
    "WindowViolation",
    "check",
    "check_pipeline",
    "ground_truth",
    "observation_of",
    "read_observations",
    "read_topics",
    "rule_violations",
    "truth_from_worlds",
    "window_violations",
]

KINDS: Final = (
    "missing_created",
    "stale_status",
    "missing_record",
    "conflicting_id",
    "bad_id",
    "unknown",
    "malformed",
    "unobserved",
)
#: Record kinds of the sandbox worlds → the stream that polls them and its event types.
_RECORD_STREAMS: Final = {"refund": "refunds", "cancellation": "cancellations"}
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_content = msgspec.json.Encoder(order="sorted")

Key = tuple[str, str, str]  # (platform, account, order id or record id)


# --- what is on the topics ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


async def read_topics(
    target: KafkaConfig | str,
    names: Sequence[str] = (topics.ORDERS, topics.REFUNDS),
    *,
    max_wait: float = 60.0,
    environ: Mapping[str, str] | None = None,
) -> list[TopicRecord]:
    """Every record of ``names`` from the first offset to the end as of this call.

    No group: partitions are assigned, so nothing is committed and no group rebalances. The end
    of a partition is the larger of ListOffsets' answer and the high watermark of a fetch:
    Tansu answers "latest" with the last *batch's* base offset + 1 (README "Brokers"; the
    checkpoint store reads the same way). A topic that does not exist has no records (it is
    not created: only an all-topics Metadata request is sent).
    """
    consumer = AIOKafkaConsumer(**consumer_kwargs(as_config(target), environ=environ))
    out: list[TopicRecord] = []
    try:
        async with asyncio.timeout(max_wait):
            await consumer.start()
            existing = await consumer.topics()
            tps = [
                TopicPartition(name, p)
                for name in names
                if name in existing
                for p in sorted(consumer.partitions_for_topic(name) or ())
            ]
            if not tps:
                return out
            first = await consumer.beginning_offsets(tps)
            listed = await consumer.end_offsets(tps)
            todo = {tp for tp in tps if listed[tp] > first[tp]}
            consumer.assign(sorted(todo, key=lambda tp: (tp.topic, tp.partition)))
            for tp in todo:
                consumer.seek(tp, first[tp])
            end: dict[TopicPartition, int] = {}
            while todo:
                batches = await consumer.getmany(*todo, timeout_ms=200)
                for tp, records in batches.items():
                    for record in records:
                        out.append(
                            TopicRecord(
                                tp.topic,
                                tp.partition,
                                record.offset,
                                record.key,
                                record.value,
                                tuple((k, bytes(v)) for k, v in record.headers or ()),
                            )
                        )
                for tp in list(todo):
                    highwater = consumer.highwater(tp)
                    if highwater is None:  # no fetch answered yet
                        continue
                    end.setdefault(tp, max(listed[tp], highwater))
                    if await consumer.position(tp) >= end[tp]:
                        todo.discard(tp)
    except (KafkaError, TimeoutError) as exc:
        raise BrokerError(f"reading {', '.join(names)} failed: {exc!r}") from exc
    finally:
        with contextlib.suppress(KafkaError, TimeoutError, OSError):
            async with asyncio.timeout(10):
                await consumer.stop()
    # A fetch may return records past the end we fixed (still being produced): keep them, the
    # order within a partition is what matters.
    return sorted(out, key=lambda r: (r.topic, r.partition, r.offset))


# --- how far the pipeline claims to have polled -------------------------------------------------


class Observation(msgspec.Struct, frozen=True, kw_only=True):
    """One account stream as its newest checkpoint describes it.

    ``polled_until``: everything created before it was published (the cursor). ``since``: the
    last complete look at every open record began no later than this (the older of the cursor
    and the last sweep), so a change before it must be on the topic.
    """

    polled_until: dt.datetime
    since: dt.datetime
    #: When the checkpoint was made (a save retried through an outage keeps this time).
    written_at: dt.datetime | None = None


def observation_of(checkpoint: Checkpoint) -> Observation:
    swept = checkpoint.swept_at or checkpoint.cursor
    return Observation(
        polled_until=checkpoint.cursor,
        since=min(checkpoint.cursor, swept),
        written_at=checkpoint.written_at,
    )


async def read_observations(
    target: KafkaConfig | str, *, topic: str = topics.CHECKPOINTS, max_wait: float = 60.0
) -> dict[tuple[str, str, str], Observation]:
    """``(platform, account, stream)`` → :class:`Observation`, from ``_pipeline.checkpoints``."""
    async with KafkaCheckpointStore(target, topic=topic, read_timeout=max_wait) as store:
        found = await store.load_all()
    return {(c.platform, c.account, c.stream): observation_of(c) for c in found.values()}


# --- what the platforms hold --------------------------------------------------------------------


class TruthOrder(msgspec.Struct, frozen=True, kw_only=True):
    platform: str
    account: str
    order_id: str
    created_at: dt.datetime
    changed_at: dt.datetime  # the last status change of the order or any of its items
    #: The raw status the platform's adapter reads now; None: not read (or not found).
    raw_status: str | None = None


class TruthRecord(msgspec.Struct, frozen=True, kw_only=True):
    platform: str
    account: str
    kind: str  # "refund" | "cancellation"
    record_id: str
    order_id: str
    created_at: dt.datetime
    changed_at: dt.datetime


@dataclass(slots=True)
class GroundTruth:
    orders: dict[Key, TruthOrder] = field(default_factory=dict)
    records: list[TruthRecord] = field(default_factory=list)
    #: Every account, with the streams its platform offers.
    accounts: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    #: The adapter's current raw state per (platform, account, adapter record id).
    record_states: dict[Key, str] = field(default_factory=dict)
    #: Accounts whose current state could not be read, with the reason.
    unread: dict[tuple[str, str], str] = field(default_factory=dict)


def _changed_at(history: Sequence[Any], fallback: dt.datetime) -> dt.datetime:
    return max((change.at for change in history), default=fallback)


#: How a platform may name an order in its API: the world's id, its number, or its GUID.
ID_FIELDS: Final = ("id", "number", "uuid")


def _order_name(order: Order, id_field: str) -> str:
    return str(getattr(order, id_field))


def truth_from_worlds(
    worlds: Iterable[tuple[str, str, World]],
    *,
    id_fields: Mapping[tuple[str, str], str] | None = None,
) -> GroundTruth:
    """Ground truth of ``(platform, account, world)`` triples, without current raw statuses.

    ``id_fields``: which of :data:`ID_FIELDS` an account's adapter uses as ``order_id``
    (default ``id``; :func:`ground_truth` finds it out from what the adapter reads).
    """
    truth = GroundTruth()
    for platform, account, world in worlds:
        truth.accounts[(platform, account)] = platforms.get(platform).capabilities.streams
        id_field = (id_fields or {}).get((platform, account), "id")
        names = {order.id: _order_name(order, id_field) for order in world.orders}
        for order in world.orders:
            name = names[order.id]
            truth.orders[(platform, account, name)] = TruthOrder(
                platform=platform,
                account=account,
                order_id=name,
                created_at=order.created_at,
                changed_at=_changed_at(order.history, order.created_at),
            )
        for record in (*world.refunds, *world.cancellations):
            truth.records.append(
                TruthRecord(
                    platform=platform,
                    account=account,
                    kind=record.kind,
                    record_id=record.id,
                    order_id=names.get(record.order_id, record.order_id),
                    created_at=record.created_at,
                    changed_at=_changed_at(record.history, record.created_at),
                )
            )
    return truth


def _worlds(served: Sequence[ServedSandbox]) -> Iterator[tuple[ServedSandbox, str, World]]:
    # A sandbox tenant is an account: the config's `account` is the tenant's label.
    for s in served:
        for label, tenant in s.sandbox.tenants.items():
            yield s, label, tenant.world


@dataclass(slots=True)
class _Current:
    """What one account's adapter reads now."""

    orders: dict[str, str] = field(default_factory=dict)  # order_id → raw status
    records: dict[str, str] = field(default_factory=dict)  # record id → raw state
    error: str | None = None


async def ground_truth(
    served: Sequence[ServedSandbox], *, current: bool = True, max_wait: float = 120.0
) -> GroundTruth:
    """The worlds of ``served`` and, with ``current``, what each adapter reads there now.

    The reads run with the sandboxes' rate-limit rules suspended and are logged (see the module
    docstring). A failed read is recorded in ``unread``; those accounts' statuses go unjudged.
    """
    worlds = list(_worlds(served))
    if not current:
        return truth_from_worlds((s.sandbox.platform, a, w) for s, a, w in worlds)
    reads: dict[tuple[str, str], _Current] = {}
    async with HttpClient() as http, asyncio.TaskGroup() as group:
        for s in served:
            group.create_task(_read_sandbox(s, reads, http, max_wait))
    id_fields = {
        (s.sandbox.platform, a): _id_field(w, reads[(s.sandbox.platform, a)].orders)
        for s, a, w in worlds
    }
    truth = truth_from_worlds(
        ((s.sandbox.platform, a, w) for s, a, w in worlds), id_fields=id_fields
    )
    for (platform, account), read in reads.items():
        if read.error is not None:
            truth.unread[(platform, account)] = read.error
        for order_id, raw_status in read.orders.items():
            key = (platform, account, order_id)
            known = truth.orders.get(key)
            if known is not None:
                truth.orders[key] = msgspec.structs.replace(known, raw_status=raw_status)
        for record_id, raw_state in read.records.items():
            truth.record_states[(platform, account, record_id)] = raw_state
    return truth


def _id_field(world: World, adapter_ids: Iterable[str]) -> str:
    ids = set(adapter_ids)
    hits = {f: sum(_order_name(o, f) in ids for o in world.orders) for f in ID_FIELDS}
    return max(ID_FIELDS, key=lambda f: (hits[f], f == "id"))


async def _read_sandbox(
    s: ServedSandbox, reads: dict[tuple[str, str], _Current], http: HttpClient, max_wait: float
) -> None:
    spec = platforms.get(s.sandbox.platform)
    with _limits_suspended(s.sandbox):
        for label, tenant in list(s.sandbox.tenants.items()):
            read = reads[(spec.id, label)] = _Current()
            budget = RateBudget(RateLimit.from_config(per_minute=1_000_000))
            client = spec.client(
                account=label,
                base_url=s.base_url,
                token_url=s.root_url + "/connect/token",
                credentials=dict(tenant.credentials),
                http=http,
                budget=budget,
            )
            try:
                async with asyncio.timeout(max_wait):
                    await _read_account(client, tenant.world, read, s.sandbox.clock.now())
            except (PipelineError, TimeoutError) as exc:
                read.error = f"{type(exc).__name__}: {exc}"
            finally:
                await client.aclose()


@contextlib.contextmanager
def _limits_suspended(sandbox: Sandbox) -> Iterator[None]:
    saved = sandbox.limits.rules
    sandbox.limits.rules = []
    try:
        yield
    finally:
        sandbox.limits.rules = saved


async def _read_account(
    client: PlatformClient, world: World, read: _Current, now: dt.datetime
) -> None:
    created = [o.created_at for o in world.orders]
    if not created:
        return
    # An hour of margin on both sides: adapters round windows to their platform's precision.
    start = min(created) - dt.timedelta(hours=1)
    end = now + dt.timedelta(hours=1)
    async for order in client.fetch_orders(start, end):
        if not isinstance(order, Malformed):
            read.orders[order.order_id] = order.raw_status
    streams = client.capabilities.streams
    if "refunds" in streams:
        async for refund in client.fetch_refunds(start, end):
            if not isinstance(refund, Malformed):
                read.records[refund.refund_id] = refund.raw_state
    if "cancellations" in streams:
        async for cancel in client.fetch_cancellations(start, end):
            if not isinstance(cancel, Malformed):
                read.records[cancel.cancellation_id] = cancel.raw_state


# --- the comparison -----------------------------------------------------------------------------


class Report(msgspec.Struct, kw_only=True):
    """Violations by kind (``counts``, ``examples``) and what was looked at."""

    counts: dict[str, int]
    examples: dict[str, list[str]]
    records: int = 0  # records read from the topics
    events: dict[str, int] = msgspec.field(default_factory=dict)  # by type, repeats included
    distinct_ids: int = 0
    repeats: int = 0  # the same id with the same content again (at-least-once)
    orders: int = 0  # ground-truth orders within the polled horizon
    statuses_checked: int = 0
    in_flux: int = 0  # orders and records that changed after their last complete poll began
    unverified: int = 0  # no current status could be read for them

    @property
    def ok(self) -> bool:
        return not any(self.counts.values())

    def summary(self) -> str:
        lines = [
            f"{self.records} records, {self.distinct_ids} distinct events "
            f"({self.repeats} repeats), {self.orders} orders due, {self.statuses_checked} "
            f"statuses checked, {self.in_flux} in flux, {self.unverified} unverified: "
            + ("OK" if self.ok else "VIOLATIONS")
        ]
        for kind in KINDS:
            if self.counts.get(kind):
                lines.append(f"  {kind}: {self.counts[kind]}")
                lines.extend(f"    {example}" for example in self.examples.get(kind, []))
        return "\n".join(lines)


class _Findings:
    def __init__(self, examples: int) -> None:
        self.counts = dict.fromkeys(KINDS, 0)
        self.examples: dict[str, list[str]] = {kind: [] for kind in KINDS}
        self._limit = examples

    def add(self, kind: str, text: str) -> None:
        self.counts[kind] += 1
        if len(self.examples[kind]) < self._limit:
            self.examples[kind].append(text)


@dataclass(slots=True)
class _Seen:
    """The decoded events, indexed for the checks."""

    created: set[Key] = field(default_factory=set)
    last_order: dict[Key, _Last] = field(default_factory=dict)
    #: (platform, account, kind, order id) → record ids seen on the topic.
    record_ids: dict[tuple[str, str, str, str], set[str]] = field(default_factory=dict)
    last_record: dict[Key, _Last] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Last:
    """The newest event of an order or a record, and the raw status or state it carries."""

    position: tuple[int, int]  # (partition, offset)
    event: schemas.AnyEvent
    raw: str

    def replaced_by(self, position: tuple[int, int], event: schemas.AnyEvent) -> bool:
        # One key, one partition: the offset orders them. Across partitions (a wrong key,
        # reported as malformed) only the observation time can.
        if position[0] == self.position[0]:
            return position[1] > self.position[1]
        return event.time >= self.event.time


def _record_of(event: schemas.AnyEvent) -> tuple[str, str, str] | None:
    """(kind, record id, raw state) of a refund or cancellation event."""
    match event:
        case schemas.RefundRequested() | schemas.RefundUpdated():
            return "refund", event.data.refund_id, event.data.raw_state
        case schemas.CancellationRequested() | schemas.CancellationUpdated():
            return "cancellation", event.data.cancellation_id, event.data.raw_state
    return None


def _decode(record: TopicRecord, found: _Findings) -> schemas.AnyEvent | None:
    where = f"{record.topic}[{record.partition}]@{record.offset}"
    try:
        event = schemas.decode_event(record.value or b"")
    except msgspec.DecodeError as exc:
        found.add("malformed", f"{where}: not an event ({exc})")
        return None
    headers = dict(record.headers)
    problems = []
    if event.topic != record.topic:
        problems.append(f"{event.type} belongs on {event.topic}")
    if record.key != event.key():
        problems.append(f"key {record.key!r} != {event.key()!r}")
    if "ce_id" in headers and headers["ce_id"] != event.id.encode():
        problems.append("ce_id header differs from the id")
    if problems:
        found.add("malformed", f"{where} {event.id}: " + "; ".join(problems))
    return event


def _index(records: Iterable[TopicRecord], found: _Findings, report: Report) -> _Seen:
    seen = _Seen()
    contents: dict[str, bytes] = {}
    for record in records:
        event = _decode(record, found)
        if event is None:
            continue
        report.events[event.type] = report.events.get(event.type, 0) + 1
        content = _content.encode(msgspec.structs.replace(event, time=_EPOCH))
        earlier = contents.get(event.id)
        if earlier is None:
            contents[event.id] = content
            if schemas.expected_id(event) != event.id:
                found.add("bad_id", f"{event.id} ({event.type} {event.subject})")
        elif earlier != content:
            found.add("conflicting_id", f"{event.id} ({event.type} {event.subject}): two contents")
        else:
            report.repeats += 1
        position = (record.partition, record.offset)
        order_key = (event.platform, event.account, event.subject)
        data = event.data
        if record.topic == topics.ORDERS and isinstance(data, schemas.Order):
            if isinstance(event, schemas.OrderCreated):
                seen.created.add(order_key)
            last = seen.last_order.get(order_key)
            if last is None or last.replaced_by(position, event):
                seen.last_order[order_key] = _Last(position, event, data.raw_status)
        described = _record_of(event)
        if described is not None:
            kind, rid, raw_state = described
            seen.record_ids.setdefault((*order_key[:2], kind, event.subject), set()).add(rid)
            rkey = (event.platform, event.account, rid)
            last = seen.last_record.get(rkey)
            if last is None or last.replaced_by(position, event):
                seen.last_record[rkey] = _Last(position, event, raw_state)
    report.distinct_ids = len(contents)
    return seen


def check(
    records: Iterable[TopicRecord],
    truth: GroundTruth,
    observed: Mapping[tuple[str, str, str], Observation],
    *,
    horizon: dt.timedelta | None = None,
    now: dt.datetime | None = None,
    slack: dt.timedelta = dt.timedelta(seconds=1),
    examples: int = 5,
) -> Report:
    """Compare the topics' ``records`` with ``truth`` given how far each stream was ``observed``.

    ``horizon``: orders created before ``now - horizon`` are out of scope (the accounts'
    configured horizon). ``slack`` widens every time comparison against clock jitter.
    """
    now = now or dt.datetime.now(dt.UTC)
    found = _Findings(examples)
    report = Report(counts=found.counts, examples=found.examples)
    records = list(records)
    report.records = len(records)
    seen = _index(records, found, report)

    for (platform, account), streams in sorted(truth.accounts.items()):
        for stream in sorted(streams & {"orders", *_RECORD_STREAMS.values()}):
            if (platform, account, stream) not in observed:
                found.add("unobserved", f"{platform}:{account} {stream}: no checkpoint")

    oldest = now - horizon if horizon is not None else None
    for key, order in sorted(truth.orders.items()):
        obs = observed.get((order.platform, order.account, "orders"))
        if obs is None or order.created_at >= obs.polled_until - slack:
            continue
        if oldest is not None and order.created_at < oldest:
            continue
        report.orders += 1
        name = ":".join(key)
        if key not in seen.created:
            found.add(
                "missing_created",
                f"{name} created {order.created_at:%H:%M:%S.%f}, polled until "
                f"{obs.polled_until:%H:%M:%S.%f}: no order.created",
            )
        last = seen.last_order.get(key)
        if last is None:
            continue
        if order.changed_at >= obs.since - slack:
            report.in_flux += 1
        elif order.raw_status is None or (order.platform, order.account) in truth.unread:
            report.unverified += 1
        else:
            report.statuses_checked += 1
            if last.raw != order.raw_status:
                found.add(
                    "stale_status",
                    f"{name}: last event {last.event.type} says {last.raw!r}, the platform "
                    f"{order.raw_status!r} (unchanged since {order.changed_at:%H:%M:%S})",
                )

    _check_records(truth, seen, observed, found, report, slack)

    known_accounts = set(truth.accounts)
    truth_records = {(r.platform, r.account, r.kind, r.order_id) for r in truth.records}
    for key, last in sorted(seen.last_order.items()):
        if key[:2] not in known_accounts:
            found.add("unknown", f"{':'.join(key)}: no such account")
        elif key not in truth.orders:
            found.add(
                "unknown", f"{':'.join(key)}: no such order ({last.event.type} {last.event.id})"
            )
    for (platform, account, kind, order_id), ids in sorted(seen.record_ids.items()):
        if (platform, account, kind, order_id) not in truth_records:
            found.add(
                "unknown",
                f"{platform}:{account}:{order_id}: no {kind} on this order, events for "
                f"{sorted(ids)[:3]}",
            )
    return report


def _check_records(
    truth: GroundTruth,
    seen: _Seen,
    observed: Mapping[tuple[str, str, str], Observation],
    found: _Findings,
    report: Report,
    slack: dt.timedelta,
) -> None:
    by_order: dict[tuple[str, str, str, str], list[TruthRecord]] = defaultdict(list)
    for record in truth.records:
        by_order[(record.platform, record.account, record.kind, record.order_id)].append(record)
    for (platform, account, kind, order_id), due_and_not in sorted(by_order.items()):
        obs = observed.get((platform, account, _RECORD_STREAMS[kind]))
        if obs is None:
            continue
        due = [r for r in due_and_not if r.created_at < obs.polled_until - slack]
        ids = set(seen.record_ids.get((platform, account, kind, order_id), set()))
        unmatched = [r for r in due if r.record_id not in ids]
        spare = ids - {r.record_id for r in due_and_not}
        # Per-unit ids derived from a record (one per unit returned) match by order.
        for record in unmatched[len(spare) :]:
            found.add(
                "missing_record",
                f"{platform}:{account}:{order_id} {kind} {record.record_id} opened "
                f"{record.created_at:%H:%M:%S}: no event on {topics.REFUNDS}",
            )
        # Current raw state of every record id on this order's events.
        settled = all(r.changed_at < obs.since - slack for r in due_and_not)
        for rid in sorted(ids):
            last = seen.last_record.get((platform, account, rid))
            if last is None:
                continue
            if not settled:
                report.in_flux += 1
                continue
            state = truth.record_states.get((platform, account, rid))
            if state is None:
                report.unverified += 1
                continue
            report.statuses_checked += 1
            if last.raw != state:
                found.add(
                    "stale_status",
                    f"{platform}:{account}:{order_id} {kind} {rid}: last event says "
                    f"{last.raw!r}, the platform {state!r}",
                )


async def check_pipeline(
    bootstrap: KafkaConfig | str,
    served: Sequence[ServedSandbox],
    *,
    horizon: dt.timedelta | None = None,
    examples: int = 5,
    max_wait: float = 120.0,
) -> Report:
    """Read the topics, the checkpoints and the sandboxes, and :func:`check` them."""
    records = await read_topics(bootstrap, max_wait=max_wait)
    observed = await read_observations(bootstrap, max_wait=max_wait)
    truth = await ground_truth(served, max_wait=max_wait)
    return check(records, truth, observed, horizon=horizon, examples=examples)


# --- rate limits from the request logs ----------------------------------------------------------


class WindowViolation(msgspec.Struct, frozen=True, kw_only=True):
    """``count`` requests of ``key`` within ``window`` seconds ending at ``at`` (> ``limit``)."""

    key: str
    at: dt.datetime
    count: int
    limit: int
    window: float


def window_violations(
    entries: Iterable[LogEntry],
    *,
    limit: int,
    window: float,
    key: Callable[[LogEntry], str | None],
    counted: Callable[[LogEntry], bool] | None = None,
) -> list[WindowViolation]:
    """Every request that was the (limit+1)-th or later of its key within a sliding window.

    ``key`` says whose budget a request counts against (None: not counted); ``counted`` filters
    further. By default every request that reached the platform counts, refused ones too -- a
    platform counts what it receives; injected edge faults never reached it and do not.
    """
    keep = counted or (lambda entry: entry.fault is None)
    times: dict[str, list[float]] = defaultdict(list)
    violations = []
    for entry in sorted(entries, key=lambda e: (e.at, e.seq)):
        who = key(entry)
        if who is None or not keep(entry):
            continue
        now = entry.at.timestamp()
        recent = times[who]
        recent.append(now)
        while recent and recent[0] <= now - window:
            recent.pop(0)
        if len(recent) > limit:
            violations.append(
                WindowViolation(key=who, at=entry.at, count=len(recent), limit=limit, window=window)
            )
    return violations


#: The framework's key functions and the log field that holds the same key.
_LOG_KEYS: Final[dict[Any, Callable[[LogEntry], str | None]]] = {
    per_tenant: lambda entry: entry.tenant,
    per_ip: lambda entry: entry.remote,
    # A valid token's identity label is the token's label ("main/token#3"); requests with an
    # expired or unknown token are logged without it and go uncounted here.
    per_token: lambda entry: entry.identity if "/token#" in entry.identity else None,
}


def rule_violations(
    sandbox: Sandbox, rules: Sequence[RateLimitRule] | None = None
) -> dict[str, list[WindowViolation]]:
    """Each documented limit of ``sandbox`` (its rate-limit rules) checked on its request log.

    Independent of the sandbox's own enforcement (``sandbox.limits.violations`` counts refusals):
    this replays the log. A rule keyed by a function of its own (not per tenant / IP / token)
    is counted per tenant.
    """
    out: dict[str, list[WindowViolation]] = {}
    for rule in sandbox.limits.rules if rules is None else rules:
        log_key = _LOG_KEYS.get(rule.key, _LOG_KEYS[per_tenant])
        pattern = re.compile(rule.path) if rule.path else None

        def applies(entry: LogEntry, rule: RateLimitRule = rule, pattern: Any = pattern) -> bool:
            if rule.methods is not None and entry.method not in rule.methods:
                return False
            if pattern is not None and not pattern.search(entry.path):
                return False
            return entry.fault is None

        out[rule.name] = window_violations(
            sandbox.log.entries,
            limit=rule.limit,
            window=rule.window,
            key=log_key,
            counted=applies,
        )
    return out
