"""``pipeline status``: the fleet as the broker and our own records see it, without joining it.

Four parts, each read group-less (``assign()``) or through the admin API, so asking never
triggers a rebalance:

* **groups** -- the poll and apply consumer groups as ``describe_consumer_groups`` tells them.
  On Tansu that is little (README "Brokers"): member ids only, no assignments, client ids or
  hosts, members that left still listed, ``Empty`` for a group never seen. Ownership is therefore
  read from our own records (next point), not from the description;
* **owned accounts** -- the newest :class:`AccountRegistration` per account on
  ``_pipeline.accounts`` (key ``platform:account``, so it lands on the partition that decides the
  account's owner): which worker (id, host, pid) took it and when, or released it. Workers write
  one on every take-over and release (:func:`publish_registration`, called by the fleet);
* **checkpoints** -- per ``platform:account:stream``: when it was last written and how far its
  cursor is behind now (:meth:`~pipeline.checkpoints.KafkaCheckpointStore.load_all`);
* **lag** -- per partition of each group's topic: end offset minus committed offset. The end is
  max(ListOffsets latest, fetch high watermark) (:func:`~pipeline.replay.log_ends`: Tansu counts
  batches there), and committed offsets are asked for by partition (Tansu drops the connection
  when asked for all of a group's offsets). The poll role commits nothing (its work is
  ownership, not records), so its group shows no lag.

A part that cannot be read (a topic missing, a broker gap) is reported in ``problems`` and the
others are still shown. ``--json`` prints :class:`Status` as one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import sys
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError

from pipeline import platforms
from pipeline.bus import KafkaEventPublisher
from pipeline.checkpoints import RECORD_STREAMS, KafkaCheckpointStore
from pipeline.command_consumer import RawSender
from pipeline.config import KafkaConfig
from pipeline.errors import PipelineError
from pipeline.kafka_settings import DEFAULT_TIMEOUT, admin_kwargs, as_config, consumer_kwargs
from pipeline.replay import log_ends, replay
from pipeline.replay_cli import kafka_from_args
from pipeline.replay_view import RecordView
from schemas import topics
from schemas.times import AwareDatetime

__all__ = [
    "AccountRegistration",
    "CheckpointAge",
    "GroupStatus",
    "Member",
    "OwnedAccount",
    "PartitionLag",
    "Status",
    "collect_status",
    "main",
    "publish_registration",
    "register",
    "render",
    "worker_identity",
]

log = logging.getLogger(__name__)


# --- registrations on _pipeline.accounts --------------------------------------------------------


class AccountRegistration(msgspec.Struct, frozen=True, kw_only=True):
    """Who owns an account's polling, keyed ``platform:account`` on ``_pipeline.accounts``.

    Written by the worker on take-over (``owned=True``) and release (``owned=False``). A worker
    that crashed writes no release: the next owner's registration replaces its record.
    """

    platform: str
    account: str
    worker: str
    host: str
    pid: int
    #: The ``_pipeline.accounts`` partition that decides the owner.
    partition: int
    time: AwareDatetime
    owned: bool = True


_registration_decoder = msgspec.json.Decoder(AccountRegistration)


def worker_identity() -> tuple[str, str, int]:
    """(worker id, host, pid) for this process; the id is unique across restarts (in a
    container every worker may be pid 1 on a reused hostname)."""
    host, pid = socket.gethostname(), os.getpid()
    return f"{host}-{pid}-{uuid.uuid4().hex[:6]}", host, pid


async def publish_registration(sender: RawSender, registration: AccountRegistration) -> None:
    """Send one registration and return once it is acknowledged (``BrokerError`` otherwise)."""
    await sender.send_raw(
        topics.ACCOUNTS,
        topics.account_key(registration.platform, registration.account),
        msgspec.json.encode(registration),
        [("content-type", b"application/json")],
    )


# --- what status shows ---------------------------------------------------------------------------


class Member(msgspec.Struct, frozen=True, kw_only=True):
    member_id: str
    client_id: str
    host: str
    #: ``None``: the broker did not say (Tansu never does).
    partitions: list[int] | None


class PartitionLag(msgspec.Struct, frozen=True, kw_only=True):
    partition: int
    #: ``None``: the group never committed an offset here.
    committed: int | None
    end: int
    lag: int | None


class GroupStatus(msgspec.Struct, kw_only=True):
    group: str
    topic: str
    state: str
    members: list[Member]
    partitions: list[PartitionLag]
    lag: int | None
    notes: list[str] = msgspec.field(default_factory=list)


class OwnedAccount(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    owned: bool
    worker: str
    host: str
    pid: int
    partition: int
    since: AwareDatetime
    age_seconds: float


class CheckpointAge(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    cursor: AwareDatetime
    written_at: AwareDatetime | None
    #: Seconds since the checkpoint was written (``None``: the record has no ``written_at``).
    age_seconds: float | None
    #: Seconds the recent loop's cursor is behind now.
    cursor_lag_seconds: float
    fingerprints: int


class Status(msgspec.Struct, kw_only=True):
    at: AwareDatetime
    bootstrap: str
    groups: list[GroupStatus]
    accounts: list[OwnedAccount]
    checkpoints: list[CheckpointAge]
    #: Configured accounts (with ``--config``) that no worker has registered.
    unowned: list[str] = msgspec.field(default_factory=list)
    #: What could not be read (a missing topic, an undecodable record, the broker away).
    problems: list[str] = msgspec.field(default_factory=list)
    notes: list[str] = msgspec.field(default_factory=list)


# --- collecting ----------------------------------------------------------------------------------


async def collect_status(
    kafka: KafkaConfig | str,
    *,
    now: dt.datetime | None = None,
    groups: Mapping[str, str] | None = None,
    expected_accounts: Sequence[str] = (),
    request_timeout: float = DEFAULT_TIMEOUT,
    processes_per_ip: int | None = None,
) -> Status:
    """Read everything :class:`Status` shows. ``groups``: group → topic it commits on (default:
    the poll and apply roles'). ``processes_per_ip``: the fleet file's, to check it against the
    poll workers found on each host (:func:`per_ip_problems`)."""
    cfg = as_config(kafka)
    now = now or dt.datetime.now(dt.UTC)
    if groups is None:
        # Imported here: the fleet imports this module (registrations), and the worker the fleet.
        from pipeline.worker import APPLIER_GROUP, POLLER_GROUP

        groups = {POLLER_GROUP: topics.ACCOUNTS, APPLIER_GROUP: topics.COMMANDS}
    status = Status(at=now, bootstrap=str(cfg.bootstrap), groups=[], accounts=[], checkpoints=[])
    consumer = AIOKafkaConsumer(**consumer_kwargs(cfg))
    admin = AIOKafkaAdminClient(**admin_kwargs(cfg, timeout=request_timeout))
    try:
        async with asyncio.timeout(request_timeout):
            await consumer.start()
            await admin.start()
            existing = await consumer.topics()  # all topics: naming one would create it
        for group, topic in groups.items():
            status.groups.append(
                await _group(admin, consumer, group, topic, existing, status, request_timeout)
            )
    except (KafkaError, TimeoutError) as exc:
        status.problems.append(f"broker at {cfg.bootstrap}: {exc!r}")
        return status
    finally:
        with contextlib.suppress(KafkaError, TimeoutError, OSError):
            async with asyncio.timeout(request_timeout):
                await consumer.stop()
        with contextlib.suppress(KafkaError, TimeoutError, OSError):
            async with asyncio.timeout(request_timeout):
                await admin.close()
    await _registrations(cfg, status, existing, now)
    await _checkpoints(cfg, status, existing, now)
    owners = {a.key for a in status.accounts if a.owned}
    status.unowned = sorted(set(expected_accounts) - owners)
    if processes_per_ip is not None:
        status.problems.extend(per_ip_problems(status.accounts, processes_per_ip=processes_per_ip))
    return status


def per_ip_problems(
    accounts: Sequence[OwnedAccount],
    *,
    processes_per_ip: int,
    per_ip: Mapping[str, int] | None = None,
) -> list[str]:
    """Hosts where more poll workers own accounts of a platform with a per-IP limit than
    ``rate_limit.processes_per_ip`` divides that limit between.

    Each process keeps to ``limit // processes_per_ip`` of the address's window, so n processes
    behind one address send up to n times that: more than the limit once n > processes_per_ip.
    Processes on one host share its address; containers and hosts behind one NAT address share
    it too, and a host name cannot show that (README "Rate limits across roles"). Only the poll
    role registers its accounts: appliers are not counted. ``per_ip``: platform → its per-IP
    limit (default: the platforms' documented per-IP windows).
    """
    if per_ip is None:
        per_ip = {
            pid: w.limit
            for pid, limit in platforms.default_limits().items()
            for w in limit.windows
            if w.shared
        }
    workers: dict[tuple[str, str], set[str]] = {}
    for a in accounts:
        platform = a.key.partition(":")[0]
        if a.owned and platform in per_ip:
            workers.setdefault((a.host, platform), set()).add(a.worker)
    problems = []
    for (host, platform), found in sorted(workers.items()):
        n = len(found)
        if n > processes_per_ip:
            limit = per_ip[platform]
            problems.append(
                f"host {host}: {n} poll workers own {platform} accounts but "
                f"rate_limit.processes_per_ip = {processes_per_ip}: together they may send "
                f"{n} x {limit // processes_per_ip} requests per window against {platform}'s "
                f"per-IP limit of {limit}; set it to at least {n} in the fleet file"
            )
    return problems


async def _group(
    admin: AIOKafkaAdminClient,
    consumer: AIOKafkaConsumer,
    group: str,
    topic: str,
    existing: set[str],
    status: Status,
    request_timeout: float,
) -> GroupStatus:
    out = GroupStatus(group=group, topic=topic, state="?", members=[], partitions=[], lag=None)
    try:
        async with asyncio.timeout(request_timeout):
            [response] = await admin.describe_consumer_groups([group])
        described = response.to_object()["groups"][0]
        out.state = described["state"] or "?"
        out.members = [_member(m) for m in described["members"]]
    except (KafkaError, TimeoutError, KeyError, IndexError, ValueError) as exc:
        status.problems.append(f"group {group}: cannot describe it: {exc!r}")
    if out.members and all(m.partitions is None for m in out.members):
        out.notes.append(
            "the broker reports no assignments (Tansu; it may also list members that left): "
            "see owned accounts"
        )
    if topic not in existing:
        status.problems.append(f"group {group}: topic {topic} does not exist")
        return out
    tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    try:
        ends = await log_ends(consumer, tps, request_timeout=request_timeout)
        async with asyncio.timeout(request_timeout):
            # With partitions named: Tansu drops the connection when asked for all of a group's.
            committed = await admin.list_consumer_group_offsets(group, partitions=tps)
    except (PipelineError, KafkaError, TimeoutError) as exc:
        status.problems.append(f"group {group}: no lag for {topic}: {exc!r}")
        return out
    for tp in tps:
        meta = committed.get(tp)
        offset = meta.offset if meta is not None and meta.offset >= 0 else None
        lag = None if offset is None else max(0, ends[tp] - offset)
        out.partitions.append(
            PartitionLag(partition=tp.partition, committed=offset, end=ends[tp], lag=lag)
        )
    known = [p.lag for p in out.partitions if p.lag is not None]
    out.lag = sum(known) if known else None
    if not known:
        why = (
            " (the poll role commits none: its work is ownership)"
            if topic == topics.ACCOUNTS
            else ""
        )
        out.notes.append(f"no committed offsets{why}")
    return out


def _member(m: Mapping[str, Any]) -> Member:
    partitions: list[int] | None = None
    raw = m.get("member_assignment") or b""
    if raw:
        with contextlib.suppress(Exception):  # whatever a broker sends, status goes on
            assignment = ConsumerProtocolMemberAssignment.decode(raw)
            partitions = sorted(tp.partition for tp in assignment.partitions())
    return Member(
        member_id=str(m.get("member_id", "")),
        client_id=str(m.get("client_id", "")),
        host=str(m.get("client_host", "")),
        partitions=partitions,
    )


async def _registrations(
    cfg: KafkaConfig, status: Status, existing: set[str], now: dt.datetime
) -> None:
    if topics.ACCOUNTS not in existing:
        status.problems.append(f"topic {topics.ACCOUNTS} does not exist")
        return
    newest: dict[str, tuple[int, int, bytes | None]] = {}

    def keep(view: RecordView) -> None:
        newest[view.key_text] = (view.partition, view.offset, view.value)

    try:
        await replay(cfg, topics.ACCOUNTS, keep)
    except PipelineError as exc:
        status.problems.append(f"{topics.ACCOUNTS}: {exc}")
        return
    for key, (partition, offset, value) in sorted(newest.items()):
        try:
            reg = _registration_decoder.decode(value or b"")
        except msgspec.DecodeError as exc:
            status.problems.append(f"{topics.ACCOUNTS} {partition}:{offset} ({key}): {exc}")
            continue
        status.accounts.append(
            OwnedAccount(
                key=key,
                owned=reg.owned,
                worker=reg.worker,
                host=reg.host,
                pid=reg.pid,
                partition=reg.partition,
                since=reg.time,
                age_seconds=(now - reg.time).total_seconds(),
            )
        )
    if not newest:
        status.notes.append(f"no registrations on {topics.ACCOUNTS}: no worker wrote any yet")


async def _checkpoints(
    cfg: KafkaConfig, status: Status, existing: set[str], now: dt.datetime
) -> None:
    if topics.CHECKPOINTS not in existing:
        status.problems.append(f"topic {topics.CHECKPOINTS} does not exist")
        return
    # The store's publisher only answers metadata here: no idempotence probe (it logs an
    # error on brokers without it, Tansu).
    publisher = KafkaEventPublisher(cfg, idempotence=False)
    try:
        async with KafkaCheckpointStore(cfg, publisher=publisher) as store:
            loaded = await store.load_all()
    except PipelineError as exc:  # BrokerError, CheckpointDecodeError (names the key)
        status.problems.append(f"checkpoints: {exc}")
        return
    finally:
        await publisher.aclose()
    for key, cp in loaded.items():
        if cp.stream in RECORD_STREAMS:  # request records: no cursor
            continue
        written = cp.written_at
        status.checkpoints.append(
            CheckpointAge(
                key=key,
                cursor=cp.cursor,
                written_at=written,
                age_seconds=None if written is None else (now - written).total_seconds(),
                cursor_lag_seconds=(now - cp.cursor).total_seconds(),
                fingerprints=len(cp.fingerprints),
            )
        )


# --- rendering -----------------------------------------------------------------------------------


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = abs(seconds)
    sign = "-" if seconds < 0 else ""  # a clock ahead of ours
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return (
                f"{sign}{s / size:.1f}{unit}" if s < 10 * size else f"{sign}{s // size:.0f}{unit}"
            )
    return f"{sign}{s:.0f}s"


def _stamp(when: dt.datetime | None) -> str:
    if when is None:
        return "-"
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def render(status: Status) -> str:
    """The human-readable tables."""
    lines = [f"pipeline status at {_stamp(status.at)}  (broker {status.bootstrap})", ""]
    for g in status.groups:
        lag = "-" if g.lag is None else str(g.lag)
        lines.append(
            f"GROUP {g.group} on {g.topic}: {g.state}, {len(g.members)} member(s), lag {lag}"
        )
        for m in g.members:
            parts = "not reported" if m.partitions is None else ",".join(map(str, m.partitions))
            who = " ".join(x for x in (m.client_id, m.host) if x)
            lines.append(f"  member {m.member_id} {who}  partitions: {parts}")
        shown = [p for p in g.partitions if p.end > 0 or p.committed is not None]
        if shown:
            lines.append(f"  {'PARTITION':>9}  {'COMMITTED':>9}  {'END':>9}  {'LAG':>9}")
            for p in shown:
                committed = "-" if p.committed is None else str(p.committed)
                lag_p = "-" if p.lag is None else str(p.lag)
                lines.append(f"  {p.partition:>9}  {committed:>9}  {p.end:>9}  {lag_p:>9}")
        if len(shown) < len(g.partitions):
            lines.append(f"  ({len(g.partitions) - len(shown)} empty partition(s) not shown)")
        lines.extend(f"  note: {n}" for n in g.notes)
        lines.append("")
    lines.append(f"OWNED ACCOUNTS (registrations on {topics.ACCOUNTS})")
    if status.accounts:
        lines.append(
            f"  {'ACCOUNT':<28} {'STATE':<8} {'PART':>4}  {'WORKER':<32} {'HOST':<16} "
            f"{'PID':>7}  {'SINCE':<20} {'AGE':>6}"
        )
        for a in status.accounts:
            lines.append(
                f"  {a.key:<28} {'owned' if a.owned else 'released':<8} {a.partition:>4}  "
                f"{a.worker:<32} {a.host:<16} {a.pid:>7}  {_stamp(a.since):<20} "
                f"{_age(a.age_seconds):>6}"
            )
    lines.extend(f"  {key}: no owner registered" for key in status.unowned)
    lines.append("")
    lines.append(f"CHECKPOINTS ({topics.CHECKPOINTS})")
    if status.checkpoints:
        lines.append(
            f"  {'KEY':<36} {'WRITTEN':<20} {'AGE':>6}  {'CURSOR':<20} {'BEHIND':>6}  FINGERPRINTS"
        )
        for c in status.checkpoints:
            lines.append(
                f"  {c.key:<36} {_stamp(c.written_at):<20} {_age(c.age_seconds):>6}  "
                f"{_stamp(c.cursor):<20} {_age(c.cursor_lag_seconds):>6}  {c.fingerprints}"
            )
    else:
        lines.append("  (none)")
    for title, said in (("NOTES", status.notes), ("PROBLEMS", status.problems)):
        if said:
            lines += ["", title, *(f"  {x}" for x in said)]
    return "\n".join(lines)


# --- command line --------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``status`` to the ``pipeline`` command line."""
    cmd = sub.add_parser(
        "status",
        help="groups, owned accounts, checkpoint ages and lag (read-only; joins no group)",
    )
    cmd.add_argument(
        "--config", default=None, help="TOML configuration (kafka settings; accounts expected)"
    )
    cmd.add_argument("--bootstrap", default=None, help="host:port (overrides the config)")
    cmd.add_argument("--json", action="store_true", help="one JSON document, for machines")
    cmd.set_defaults(func=_cmd_status)


def _cmd_status(args: argparse.Namespace) -> int:
    kafka = kafka_from_args(args)
    expected: list[str] = []
    if args.config:
        from pipeline.config import load_config

        config = load_config(args.config, platforms=platforms.credential_keys())
        expected = [a.key for a in config.accounts if a.enabled]
        per_ip: int | None = config.rate_limit.processes_per_ip
    else:
        per_ip = None
    status = asyncio.run(collect_status(kafka, expected_accounts=expected, processes_per_ip=per_ip))
    if args.json:
        sys.stdout.write(msgspec.json.encode(status).decode() + "\n")
    else:
        print(render(status))
    return 1 if status.problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``status`` alone (``python -c 'from pipeline.status import main; ...'``)."""
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
