"""The commands check: one final result per command, poison in the DLQ, every platform write
explained by a command and no non-idempotent write done twice.

Run it on a settled system (no command still being applied): a command without a result is
counted as ``missing_result`` whatever the reason.

* **Commands.** Every distinct ``command_id`` on ``commands.v1`` (a producer's retry may write
  one twice) needs exactly one ``CommandResult`` -- one content: the same result record twice
  (a retried send without an idempotent producer, as on Tansu) is counted in
  ``result_repeats``, two different ones are an ``extra_result``. A record that is not a
  command needs a dead letter naming its partition and offset on ``commands-dlq.v1``; when
  its ``ce_id`` header names it, it needs exactly one (``invalid``) result too.
* **Effects.** A write the platform *applied* (the world's write log, ``noop`` and ``rejected``
  ones aside) is explained when a command of the same account names its order -- by any of the
  order's names (id, number, GUID: adapters differ) -- or the record it decides. A shipment is
  not idempotent: applied shipments of an order beyond the shipping commands for it are a
  ``double_effect`` (a retried request that landed twice is a second parcel).
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Sequence

import msgspec

import schemas
from pipeline.checker.reading import TopicRecord
from pipeline.checker.report import Findings, Report
from pipeline.checker.truth import WorldLike

__all__ = ["Effect", "check_commands", "effects_of"]

#: Write kinds of the sandbox worlds → the command type that asks for it.
_SHIP = "ship"


class Effect(msgspec.Struct, frozen=True, kw_only=True):
    """One write a platform applied, with every name a command may use for what it touched."""

    platform: str
    account: str
    kind: str  # "status" | "ship" | "invoice" | "refund" | "cancellation" | ...
    target: str  # the world's order id or record id
    names: tuple[str, ...]  # the order's id, number, GUID; a record's id and its order's names
    seq: int
    request_id: str | None = None


def effects_of(
    platform: str, account: str, world: WorldLike, writes: Iterable[object]
) -> list[Effect]:
    """The applied writes of one account's world (``writes``: its ``WriteRecord`` list)."""
    names: dict[str, tuple[str, ...]] = {}
    for order in world.orders:
        names[order.id] = tuple(dict.fromkeys(str(n) for n in (order.id, order.number, order.uuid)))
    for record in (*world.refunds, *world.cancellations):
        names[record.id] = (record.id, *names.get(record.order_id, (record.order_id,)))
    out = []
    for write in writes:
        if getattr(write, "outcome", None) != "applied":
            continue
        target = str(getattr(write, "target", ""))
        out.append(
            Effect(
                platform=platform,
                account=account,
                kind=str(getattr(write, "kind", "")),
                target=target,
                names=names.get(target, (target,)),
                seq=int(getattr(write, "seq", 0)),
                request_id=getattr(write, "request_id", None),
            )
        )
    return out


def _subjects(command: schemas.AnyCommand) -> set[str]:
    found = {command.order_id}
    if isinstance(command, schemas.DecideRefund):
        found.add(command.refund_id)
    elif isinstance(command, schemas.DecideCancellation):
        found.add(command.cancellation_id)
    return found


def check_commands(
    commands: Iterable[TopicRecord],
    results: Iterable[TopicRecord],
    dead_letters: Iterable[TopicRecord],
    effects: Sequence[Effect] = (),
    *,
    report: Report | None = None,
    examples: int = 5,
) -> Report:
    """Check the command topics and the platforms' applied writes; adds to ``report``."""
    found = Findings(examples, report)
    report = found.report
    decoded: dict[str, schemas.AnyCommand] = {}
    poison: list[TopicRecord] = []
    for record in commands:
        try:
            command = schemas.decode_command(record.value or b"")
        except (schemas.CommandDecodeError, msgspec.DecodeError, ValueError):
            poison.append(record)
            continue
        decoded.setdefault(command.command_id, command)
    report.undecodable = len(poison)

    by_id: dict[str, int] = collections.Counter()
    contents: dict[str, set[bytes]] = collections.defaultdict(set)
    outcomes: dict[str, list[str]] = collections.defaultdict(list)
    for record in results:
        try:
            result = schemas.decode_result(record.value or b"")
        except (msgspec.DecodeError, ValueError) as exc:
            found.add("malformed", f"{record.topic}[{record.partition}]@{record.offset}: {exc}")
            continue
        by_id[result.command_id] += 1
        if (record.value or b"") not in contents[result.command_id]:
            outcomes[result.command_id].append(result.outcome.value)
        contents[result.command_id].add(record.value or b"")
        report.results[result.outcome.value] = report.results.get(result.outcome.value, 0) + 1

    lettered: set[tuple[str, int, int]] = set()
    for record in dead_letters:
        report.dead_letters += 1
        try:
            letter = msgspec.json.decode(record.value or b"", type=schemas.DeadLetter)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            found.add("malformed", f"{record.topic}[{record.partition}]@{record.offset}: {exc}")
            continue
        lettered.add((letter.topic, letter.partition, letter.offset))

    expected: dict[str, str] = {
        cid: f"{c.type} {c.platform}:{c.account}" for cid, c in decoded.items()
    }
    for record in poison:
        where = f"{record.topic}[{record.partition}]@{record.offset}"
        if (record.topic, record.partition, record.offset) not in lettered:
            found.add("not_in_dlq", f"{where}: undecodable, no dead letter")
        ce_id = dict(record.headers).get("ce_id")
        if ce_id:
            expected.setdefault(ce_id.decode("utf-8", "replace"), f"undecodable {where}")
    report.commands = len(expected)

    for cid, what in sorted(expected.items()):
        count = by_id.get(cid, 0)
        if count == 0:
            found.add("missing_result", f"{cid} ({what}): no result")
        elif len(contents[cid]) > 1:
            found.add(
                "extra_result",
                f"{cid} ({what}): {len(contents[cid])} different results "
                f"({', '.join(outcomes[cid])})",
            )
        elif count > 1:  # the same result record again: a producer's retry, not a second answer
            report.result_repeats += count - 1
    for cid in sorted(set(by_id) - set(expected)):
        found.add("orphan_result", f"{cid}: a result for no command on {schemas.topics.COMMANDS}")

    _check_effects(decoded.values(), effects, found)
    return report


def _check_effects(
    commands: Iterable[schemas.AnyCommand], effects: Sequence[Effect], found: Findings
) -> None:
    asked: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
    ships: collections.Counter[tuple[str, str, str]] = collections.Counter()
    for command in commands:
        asked[(command.platform, command.account)] |= _subjects(command)
        if isinstance(command, schemas.Ship):
            ships[(command.platform, command.account, command.order_id)] += 1
    found.report.effects += len(effects)
    shipped: collections.Counter[tuple[str, str, str]] = collections.Counter()
    first_name: dict[tuple[str, str, str], tuple[str, ...]] = {}
    for effect in effects:
        account = (effect.platform, effect.account)
        where = (
            f"{effect.platform}:{effect.account} {effect.kind} {effect.target} (write {effect.seq})"
        )
        if not asked[account] & set(effect.names):
            found.add("unexplained_effect", f"{where}: no command names it")
        if effect.kind == _SHIP:
            key = (*account, effect.target)
            shipped[key] += 1
            first_name[key] = effect.names
    for key, count in sorted(shipped.items()):
        allowed = sum(ships[(key[0], key[1], name)] for name in first_name[key])
        if count > max(allowed, 1):
            found.add(
                "double_effect",
                f"{key[0]}:{key[1]} order {key[2]}: {count} shipments, {allowed} ship command(s)",
            )
