"""The events check: the topics' records against the ground truth, given how far each stream
was observed (the violations are described in the package docstring)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import msgspec

import schemas
from pipeline.checker.reading import Observation, TopicRecord, read_observations, read_topics
from pipeline.checker.report import Findings, Report
from pipeline.checker.truth import GroundTruth, Key, TruthRecord, ground_truth
from pipeline.config import KafkaConfig
from pipeline.sandbox import ServedSandbox
from schemas import topics

__all__ = ["check", "check_pipeline"]

#: Record kinds of the sandbox worlds → the stream that polls them and its event types.
_RECORD_STREAMS: Final = {"refund": "refunds", "cancellation": "cancellations"}
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_content = msgspec.json.Encoder(order="sorted")


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


def _decode(record: TopicRecord, found: Findings) -> schemas.AnyEvent | None:
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


def _index(records: Iterable[TopicRecord], found: Findings, report: Report) -> _Seen:
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
    found = Findings(examples)
    report = found.report
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
        if key not in seen.created and order.order_id in obs.unmapped:
            report.unmapped += 1  # known to the pipeline, retried by its sweeps
        elif key not in seen.created:
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
    found: Findings,
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
