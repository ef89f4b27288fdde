"""C2C writes: ``order.set_status`` → UpdateOrderStateByOrderCode, many codes per call.

* **What can be written.** Only "Onay Bekliyor" (awaiting_approval), "Hazırlanıyor" (preparing)
  and "Kargoya Verildi" (shipped), for whole orders. Any other target, a command naming items,
  ``order.ship`` (no tracking-number field exists: set ``shipped`` instead), invoices and refund
  or cancellation decisions are ``unsupported``, answered without any HTTP call.
* **Batching.** Commands of one call to :meth:`C2CCommands.apply` that target the same status
  share requests, up to :data:`~.payloads.UPDATE_BATCH` (100) codes each. Commands are taken in
  waves so that two commands for the same order keep their order: a command whose order already
  has a different target in the current wave starts a new wave.
* **No double effect** (invariant 4). Before writing, the orders are read
  (GetOrderInfoByOrdersCode): an order already at the target is ``already_applied`` and is not
  sent; an order the platform does not know is ``rejected`` without a write.
* **The answer** ``[{Durum, Aciklama}]`` has no order code and its values are not documented.
  Rows are paired with codes by the code an ``Aciklama`` names, else by position when there is
  one row per code. A ``Durum`` reading as success (:data:`~.payloads.UPDATE_SUCCESS`) is
  ``applied``, as failure ``rejected`` with ``Aciklama`` verbatim; anything unclear (one row for
  many codes, an unknown word, an undecodable answer) is settled by reading the orders again;
  an order still not at the target then is ``failed`` and retriable (the retry reads first).
* **Failures.** An error object (``{"hata": …}``) refuses the whole call: every order in it is
  ``rejected`` with the platform's text — unless the text says the credentials were refused
  (``failed``, not retriable) or too many requests were made (``failed``, retriable). A timeout
  or 5xx is ``failed`` and retriable: the next attempt reads first, so a write that did land is
  then ``already_applied``. ``requests`` counts the calls a command's batch made (read, write
  and, when needed, the second read), shared by every command of the batch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from pipeline.adapter import ApplyResult
from pipeline.dates import turkish_fold
from pipeline.errors import PlatformDecodeError, PlatformError, RejectedError
from pipeline.masking import mask_text
from pipeline.platforms.c2c import payloads as raw
from pipeline.platforms.c2c.client import C2CClient, batched, decode_list
from pipeline.platforms.c2c.mapping import WRITABLE_STATUS, StatusReading
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

_WRITABLE_NAMES = ", ".join(f"{k.value} ({v})" for k, v in WRITABLE_STATUS.items())
UNSUPPORTED: dict[type, str] = {
    Ship: (
        "c2c has no API for carriers or tracking numbers; "
        "order.set_status shipped sets 'Kargoya Verildi' without them"
    ),
    AttachInvoice: "c2c has no invoice API",
    DecideRefund: "c2c has no refund API: returns show as order statuses",
    DecideCancellation: "c2c has no cancellation API: cancellations show as order statuses",
}


class _Verdict(NamedTuple):
    outcome: Outcome
    message: str | None = None
    platform_code: str | None = None
    error: str | None = None
    retriable: bool = False
    request_id: str | None = None


def _failure(exc: PlatformError) -> _Verdict:
    if isinstance(exc, RejectedError):
        return _Verdict(
            Outcome.REJECTED,
            exc.platform_message or exc.message,
            exc.platform_code,
            request_id=exc.request_id,
        )
    return _Verdict(
        Outcome.FAILED,
        exc.platform_message,
        error=mask_text(str(exc)),
        retriable=exc.retriable,
        request_id=exc.request_id,
    )


def _word(value: str | bool | int | None) -> bool | None:
    """Success (True), failure (False) or unclear (None) from a ``Durum``."""
    if isinstance(value, bool):
        return value
    folded = turkish_fold(str(value)).strip() if value is not None else ""
    if folded in raw.UPDATE_SUCCESS:
        return True
    if folded in raw.UPDATE_FAILURE:
        return False
    return None


def _at_target(reading: StatusReading | None, target: str) -> bool:
    return (
        reading is not None
        and reading.base == target
        and not reading.disputed
        and not reading.cancelled
    )


def pair_rows(
    codes: Sequence[str], rows: Sequence[raw.UpdateResult]
) -> dict[str, raw.UpdateResult | None]:
    """Which answer row speaks for which code (None: no row can be attributed to it)."""
    named: dict[str, raw.UpdateResult] = {}
    for row in rows:
        text = row.aciklama or ""
        hits = [c for c in codes if re.search(rf"(?<![\w]){re.escape(c)}(?![\w])", text)]
        if len(hits) == 1 and hits[0] not in named:
            named[hits[0]] = row
    if named:
        return {code: named.get(code) for code in codes}
    if len(rows) == len(codes):
        return dict(zip(codes, rows, strict=True))
    return dict.fromkeys(codes)


class C2CCommands:
    """Applies commands through one :class:`C2CClient`."""

    def __init__(self, client: C2CClient) -> None:
        self._client = client

    async def apply(self, commands: Sequence[AnyCommand]) -> list[ApplyResult]:
        results: list[ApplyResult | None] = [None] * len(commands)
        wave: dict[str, list[tuple[int, SetStatus]]] = {}
        targets: dict[str, str] = {}  # order code → target in the current wave
        for index, command in enumerate(commands):
            target = self._target(command)
            if isinstance(target, ApplyResult):
                results[index] = target
                continue
            assert isinstance(command, SetStatus)  # noqa: S101 - _target answered the rest
            if targets.get(command.order_id, target) != target:
                await self._run(wave, results)
                wave, targets = {}, {}
            wave.setdefault(target, []).append((index, command))
            targets[command.order_id] = target
        await self._run(wave, results)
        done = [r for r in results if r is not None]
        assert len(done) == len(commands)  # noqa: S101 - every command got exactly one result
        return done

    @staticmethod
    def _target(command: AnyCommand) -> str | ApplyResult:
        """The status text to write, or the result of a command that needs no request."""
        message: str | None
        match command:
            case SetStatus():
                target = WRITABLE_STATUS.get(command.status)
                if target is not None and not command.item_ids:
                    return target
                message = (
                    "c2c sets the status of whole orders only; item_ids cannot be honoured"
                    if target is not None
                    else f"c2c sellers can set only {_WRITABLE_NAMES}; not {command.status.value}"
                )
            case _:
                message = UNSUPPORTED[type(command)]
        return ApplyResult(
            command_id=command.command_id, outcome=Outcome.UNSUPPORTED, message=message
        )

    async def _run(
        self, wave: dict[str, list[tuple[int, SetStatus]]], results: list[ApplyResult | None]
    ) -> None:
        for target, members in wave.items():
            codes = list(dict.fromkeys(c.order_id for _, c in members))
            for chunk in batched(codes, self._client.update_batch):
                before = self._client.requests_sent
                verdicts = await self._set(target, chunk)
                requests = self._client.requests_sent - before
                wanted = set(chunk)
                for index, command in members:
                    if command.order_id in wanted:
                        v = verdicts[command.order_id]
                        results[index] = ApplyResult(
                            command_id=command.command_id,
                            outcome=v.outcome,
                            message=v.message,
                            platform_code=v.platform_code,
                            request_id=v.request_id,
                            error=v.error,
                            requests=requests,
                            retriable=v.retriable,
                        )

    async def _set(self, target: str, codes: list[str]) -> dict[str, _Verdict]:
        client = self._client
        try:
            before = await client.order_statuses(codes, lane=Lane.COMMAND)
        except PlatformError as exc:
            return dict.fromkeys(codes, _failure(exc))
        verdicts: dict[str, _Verdict] = {}
        pending: list[str] = []
        for code in codes:
            reading = before.get(code)
            if reading is None:
                verdicts[code] = _Verdict(
                    Outcome.REJECTED,
                    f"order {code} not found: GetOrderInfoByOrdersCode does not return it",
                )
            elif _at_target(reading, target):
                verdicts[code] = _Verdict(Outcome.ALREADY_APPLIED)
            else:
                pending.append(code)
        if not pending:
            return verdicts
        request = client.body(
            raw.UpdateStateRequest, siparis_kodlari=pending, siparis_durumu=target
        )
        try:
            ctx, response = await client.call(raw.UPDATE_STATE_BY_CODES, request, lane=Lane.COMMAND)
            rows = decode_list(ctx, response.body, raw.UpdateResult)
        except PlatformDecodeError:
            rows = []  # the write may have happened: the re-read below settles it
        except PlatformError as exc:
            verdicts.update(dict.fromkeys(pending, _failure(exc)))
            return verdicts
        unclear: list[tuple[str, raw.UpdateResult | None]] = []
        for code, row in pair_rows(pending, rows).items():
            word = _word(row.durum) if row is not None else None
            if row is not None and word is True:
                verdicts[code] = _Verdict(Outcome.APPLIED, row.aciklama)
            elif row is not None and word is False:
                verdicts[code] = _Verdict(
                    Outcome.REJECTED, row.aciklama or str(row.durum), str(row.durum)
                )
            else:
                unclear.append((code, row))
        if unclear:
            verdicts.update(await self._verify(target, unclear))
        return verdicts

    async def _verify(
        self, target: str, unclear: list[tuple[str, raw.UpdateResult | None]]
    ) -> dict[str, _Verdict]:
        """Settle unclear answers by the orders' state after the write."""
        try:
            after = await self._client.order_statuses(
                [code for code, _ in unclear], lane=Lane.COMMAND
            )
        except PlatformError as exc:
            return {code: _failure(exc) for code, _ in unclear}
        verdicts: dict[str, _Verdict] = {}
        for code, row in unclear:
            reading = after.get(code)
            message = row.aciklama if row is not None else None
            code_text = None if row is None or row.durum is None else str(row.durum)
            if _at_target(reading, target):
                verdicts[code] = _Verdict(Outcome.APPLIED, message, code_text)
            elif message:
                verdicts[code] = _Verdict(Outcome.REJECTED, message, code_text)
            else:
                shown = reading.raw if reading is not None else "nothing"
                # Nothing says the platform refused it: the next attempt reads first and writes
                # only if the order is still not at the target, so trying again is safe.
                verdicts[code] = _Verdict(
                    Outcome.FAILED,
                    error=f"order {code}: the answer did not say and the order shows {shown!r}",
                    retriable=True,
                )
        return verdicts
