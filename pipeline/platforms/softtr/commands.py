"""Softtr writes: status commands coalesced into ``POST /orders/updateOrderStatus`` batches.

* **Batching.** ``order.set_status`` and ``order.ship`` commands of different orders share calls
  of at most 100 ``{orderno, status}`` entries ("Bir seferde en fazla 100 sipariş"; above it the
  platform answers ``400 Data sınırı aşıldı``). Several commands for one order go out in
  successive *rounds*, one entry per order per round, so they take effect in command order
  (the document does not say how duplicates inside one array are applied).
* **Per-order results.** A successful answer is the bare envelope with
  ``message.detail.requestID``: every command of the call is ``applied`` with that request id.
  A 400 refusal of a call with several entries is split in halves and re-sent until the refused
  entries stand alone (the error names the parameter — "orderno Boş ya da Geçersiz" — not the
  order, and the document does not say whether the valid entries were applied). Re-sending a
  status is idempotent, so splitting is safe whatever the platform did with the rest; an
  undocumented lower batch limit resolves itself the same way. Other refusals (401, 404, 405)
  concern the call, not an entry, and end every command of it.
* **No read-back.** A status cannot be read, so there is no ``already_applied``: a command is
  always sent (setting a status twice is harmless) and the status is remembered on success.
  A call that timed out or answered 5xx is ``failed`` and retriable: repeating it is safe.
  A 2xx whose body cannot be read leaves the write unknown: ``failed``, retriable, for the same
  reason.
* **Ship.** Softtr has no carrier or tracking field: ``order.ship`` sets SHIPPED and its result
  is ``applied`` with a message saying the tracking data was not stored.
* **Unsupported** without any request: ``order.attach_invoice`` (no invoice endpoint), refund and
  cancellation decisions (no such records), item-level commands (the status belongs to the whole
  order), and canonical statuses outside :data:`~.mapping.WRITABLE_STATUS`.
  A command whose ``order_id`` is not a softtr order number is ``invalid`` (nothing we publish
  has such an id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipeline.adapter import ApplyResult
from pipeline.dates import DateParseError
from pipeline.errors import PlatformDecodeError, PlatformError, RejectedError
from pipeline.http import decode
from pipeline.masking import mask_text
from pipeline.platforms.softtr import payloads as raw
from pipeline.platforms.softtr.mapping import WRITABLE_STATUS, order_created_at
from pipeline.ratelimit import Lane
from schemas import (
    AnyCommand,
    AttachInvoice,
    DecideCancellation,
    DecideRefund,
    Outcome,
    SetStatus,
    Ship,
)

if TYPE_CHECKING:
    from pipeline.platforms.softtr.client import SofttrClient

ENDPOINT = "orders/updateOrderStatus"
PATH = "/orders/updateOrderStatus"
#: Refusals that concern one entry of the array (so splitting the call finds it).
SPLITTABLE_STATUS = 400


@dataclass
class _Entry:
    index: int  # position of the command in apply()'s input
    command: SetStatus | Ship
    status: str  # the softtr value to send
    requests: int = 0


@dataclass
class _Plan:
    results: list[ApplyResult | None]
    entries: list[_Entry] = field(default_factory=list)


def plan_rounds(entries: list[_Entry], batch_size: int) -> list[list[_Entry]]:
    """Calls to make, in order: rounds of one entry per order, each cut into ``batch_size``."""
    rounds: list[list[_Entry]] = []
    seen: dict[str, int] = {}
    for entry in entries:
        level = seen.get(entry.command.order_id, 0)
        seen[entry.command.order_id] = level + 1
        if level == len(rounds):
            rounds.append([])
        rounds[level].append(entry)
    return [r[i : i + batch_size] for r in rounds for i in range(0, len(r), batch_size)]


def _unsupported(command: AnyCommand, why: str) -> ApplyResult:
    return ApplyResult(command_id=command.command_id, outcome=Outcome.UNSUPPORTED, message=why)


class SofttrCommands:
    """Applies commands through one :class:`SofttrClient`."""

    def __init__(self, client: SofttrClient, *, batch_size: int = raw.MAX_STATUS_BATCH) -> None:
        self._client = client
        self._batch_size = batch_size

    def _plan(self, commands: Sequence[AnyCommand]) -> _Plan:
        plan = _Plan(results=[None] * len(commands))
        for index, command in enumerate(commands):
            result: ApplyResult | None = None
            status: str | None = None
            match command:
                case SetStatus():
                    status = WRITABLE_STATUS.get(command.status)
                    if status is None:
                        result = _unsupported(
                            command,
                            f"softtr cannot set {command.status.value}; settable: "
                            + ", ".join(s.value for s in WRITABLE_STATUS),
                        )
                case Ship():
                    status = "SHIPPED"
                case AttachInvoice():
                    result = _unsupported(command, "softtr has no invoice endpoint")
                case DecideRefund():
                    result = _unsupported(command, "softtr has no refund records or decisions")
                case DecideCancellation():
                    result = _unsupported(command, "softtr has no cancellation requests")
                case _:
                    result = _unsupported(command, f"unknown command type {command.type}")
            if result is None and command.item_ids:
                result = _unsupported(
                    command, "softtr sets the status of a whole order, not of single items"
                )
            if result is None:
                try:
                    order_created_at(command.order_id)
                except (ValueError, DateParseError):
                    result = ApplyResult(
                        command_id=command.command_id,
                        outcome=Outcome.INVALID,
                        message=f"{command.order_id!r} is not a softtr order number",
                    )
            if result is not None:
                plan.results[index] = result
            else:
                assert status is not None and isinstance(command, SetStatus | Ship)  # noqa: S101
                plan.entries.append(_Entry(index=index, command=command, status=status))
        return plan

    async def apply(self, commands: Sequence[AnyCommand]) -> list[ApplyResult]:
        plan = self._plan(commands)
        for batch in plan_rounds(plan.entries, self._batch_size):
            await self._send(batch, plan.results)
        missing = [i for i, r in enumerate(plan.results) if r is None]
        assert not missing, f"commands without a result: {missing}"  # noqa: S101
        return [r for r in plan.results if r is not None]

    async def _send(self, batch: list[_Entry], results: list[ApplyResult | None]) -> None:
        for entry in batch:
            entry.requests += 1
        body = [raw.StatusUpdate(orderno=e.command.order_id, status=e.status) for e in batch]
        try:
            ctx, response = await self._client.call(
                "POST", PATH, endpoint=ENDPOINT, lane=Lane.COMMAND, json=body
            )
            request_id = decode(ctx, response.body, raw.Status).request_id
        except RejectedError as exc:
            if len(batch) > 1 and exc.status == SPLITTABLE_STATUS:
                half = len(batch) // 2
                await self._send(batch[:half], results)
                await self._send(batch[half:], results)
                return
            for entry in batch:
                results[entry.index] = ApplyResult(
                    command_id=entry.command.command_id,
                    outcome=Outcome.REJECTED,
                    message=exc.platform_message or exc.message,
                    platform_code=exc.platform_code,
                    request_id=exc.request_id,
                    requests=entry.requests,
                )
            return
        except PlatformDecodeError as exc:  # a 2xx we cannot read: the write may have happened
            self._failed(batch, results, exc, retriable=True)
            return
        except PlatformError as exc:
            self._failed(batch, results, exc, retriable=exc.retriable)
            return
        for entry in batch:
            self._client.remember(entry.command.order_id, entry.status)
            message = None
            if isinstance(entry.command, Ship):
                message = (
                    "status set to SHIPPED; softtr has no carrier or tracking field, so "
                    f"{entry.command.carrier} {entry.command.tracking_number} was not stored"
                )
            results[entry.index] = ApplyResult(
                command_id=entry.command.command_id,
                outcome=Outcome.APPLIED,
                message=message,
                request_id=request_id,
                requests=entry.requests,
            )

    @staticmethod
    def _failed(
        batch: list[_Entry],
        results: list[ApplyResult | None],
        exc: PlatformError,
        *,
        retriable: bool,
    ) -> None:
        error = mask_text(str(exc))
        if isinstance(exc, PlatformDecodeError):
            error += " (the status write may or may not have happened; repeating it is safe)"
        for entry in batch:
            results[entry.index] = ApplyResult(
                command_id=entry.command.command_id,
                outcome=Outcome.FAILED,
                message=exc.platform_message,
                request_id=exc.request_id,
                error=error,
                requests=entry.requests,
                retriable=retriable,
            )
