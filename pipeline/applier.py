"""The applier: commands from ``commands.v1`` applied to one account, one final result each.

Per account, commands are taken in the order they arrived (their topic is keyed by account, so
one applier owns an account's queue and its budget) and applied in **batches** where the
platform allows it (:attr:`Capabilities.max_batch`: Softtr 100 orders per call, C2C 100 codes):
a batch never holds two commands for the same order, so an order's commands keep their order.
Commands of *other* orders may go in an earlier batch than a repeat ahead of them
(:func:`rounds`): a backlog where some orders have two commands in a row costs about two calls
per type, not one call per repeat.

Every command ends in exactly one :class:`~schemas.CommandResult`:

* ``expired`` when ``expires_at`` passed before it could be applied, ``unsupported`` when the
  platform has no API for it — both without any HTTP call;
* the adapter's answer otherwise (``applied``, ``already_applied``, ``rejected`` with the
  platform's own words, ``invalid``);
* a ``failed`` *retriable* answer (timeout, 5xx, 429) is tried again with exponential backoff
  and jitter (the budget already holds the 429's ``Retry-After``) until the command's attempt or
  time budget is spent; then ``failed`` with the last error. Non-idempotent writes are safe to
  repeat because the adapters read the platform's state first (invariant 4). Later commands of
  the same order wait for the retry (unsent, no attempt spent), so they never overtake it.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from pipeline.adapter import ApplyResult, PlatformClient
from pipeline.clock import Clock
from pipeline.errors import PipelineError
from pipeline.masking import mask_text
from pipeline.ratelimit import command_work
from schemas import AnyCommand, CommandResult, Outcome

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ApplySettings:
    max_attempts: int = 5
    time_budget: float = 300.0  # seconds from receipt to the last attempt's start
    base_delay: float = 0.5
    max_delay: float = 30.0


@dataclass(slots=True)
class Pending:
    command: AnyCommand
    received_at: dt.datetime
    attempts: int = 0
    last: ApplyResult | None = None


ResultSink = Callable[[Sequence[CommandResult]], Awaitable[None]]


def batches(commands: Sequence[Pending], limit: int) -> list[list[Pending]]:
    """Consecutive batches of at most ``limit`` of one type, never two of the same order.

    Order is kept: a command is never moved before an earlier one of the same order, and a
    batch ends where the type changes or an order repeats.
    """
    out: list[list[Pending]] = []
    current: list[Pending] = []
    orders: set[str] = set()
    for item in commands:
        cmd = item.command
        if current and (
            len(current) >= limit or cmd.type != current[0].command.type or cmd.order_id in orders
        ):
            out.append(current)
            current, orders = [], set()
        current.append(item)
        orders.add(cmd.order_id)
    if current:
        out.append(current)
    return out


def rounds(commands: Sequence[Pending], limit: Callable[[str], int]) -> list[list[Pending]]:
    """As few batches as keep every order's commands in their order.

    Repeatedly, the earliest command left decides the batch's type, and the batch takes (in
    arrival order, up to ``limit(type)``) each command of that type that is the earliest one
    left of its order. Only commands of different orders ever change places.
    """
    left = list(commands)
    out: list[list[Pending]] = []
    while left:
        kind = left[0].command.type
        size = max(1, limit(kind))
        batch: list[Pending] = []
        blocked: set[str] = set()  # orders with an earlier command still left
        rest: list[Pending] = []
        for item in left:
            cmd = item.command
            if len(batch) < size and cmd.type == kind and cmd.order_id not in blocked:
                batch.append(item)
            else:
                rest.append(item)
            blocked.add(cmd.order_id)
        out.append(batch)
        left = rest
    return out


class AccountApplier:
    """Applies one account's commands, each order's in arrival order, batching where allowed."""

    def __init__(
        self,
        client: PlatformClient,
        *,
        clock: Clock,
        settings: ApplySettings | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.clock = clock
        self.settings = settings or ApplySettings()
        self._rng = rng or random.Random()
        self.http_batches = 0

    def _result(self, p: Pending, outcome: Outcome, **kw: object) -> CommandResult:
        cmd = p.command
        return CommandResult(
            command_id=cmd.command_id,
            command_type=cmd.type,
            platform=cmd.platform,
            account=cmd.account,
            order_id=cmd.order_id,
            outcome=outcome,
            attempts=p.attempts,
            received_at=p.received_at,
            finished_at=self.clock.now(),
            **kw,  # type: ignore[arg-type]
        )

    def _from_apply(self, p: Pending, answer: ApplyResult) -> CommandResult:
        return self._result(
            p,
            answer.outcome,
            message=answer.message,
            platform_code=answer.platform_code,
            request_id=answer.request_id,
            error=answer.error,
        )

    async def apply(self, items: Sequence[Pending]) -> list[CommandResult]:
        """Apply these commands (one account, arrival order); one final result per command."""
        results: dict[str, CommandResult] = {}
        caps = self.client.capabilities
        todo: list[Pending] = []
        for p in items:
            cmd = p.command
            if cmd.expired(self.clock.now()):
                results[cmd.command_id] = self._result(
                    p, Outcome.EXPIRED, error=f"expired at {cmd.expires_at}"
                )
            elif cmd.type not in caps.commands:
                results[cmd.command_id] = self._result(
                    p,
                    Outcome.UNSUPPORTED,
                    message=f"{self.client.platform} has no API for {cmd.type}",
                )
            else:
                todo.append(p)
        position = {id(p): n for n, p in enumerate(items)}
        while todo:
            retry: list[Pending] = []
            waiting: set[str] = set()  # orders with a command to be retried
            for planned in self._batches(todo):
                # A later command of an order whose earlier one waits for a retry waits too
                # (unsent, no attempt spent): e.g. "shipped" must not overtake "preparing".
                batch = [p for p in planned if p.command.order_id not in waiting]
                retry += [p for p in planned if p.command.order_id in waiting]
                if not batch:
                    continue
                for p, answer in zip(batch, await self._attempt(batch), strict=True):
                    if answer.outcome is Outcome.FAILED and answer.retriable and self._may_retry(p):
                        retry.append(p)
                        waiting.add(p.command.order_id)
                    else:
                        results[p.command.command_id] = self._from_apply(p, answer)
            retry.sort(key=lambda p: position[id(p)])  # arrival order again
            if retry:
                await self.clock.sleep(self._backoff(max(p.attempts for p in retry)))
            todo = retry
        return [results[p.command.command_id] for p in items]

    def _batches(self, items: Sequence[Pending]) -> list[list[Pending]]:
        caps = self.client.capabilities
        return rounds(items, lambda kind: caps.max_batch.get(kind, 1))

    async def _attempt(self, batch: list[Pending]) -> list[ApplyResult]:
        for p in batch:
            p.attempts += 1
        self.http_batches += 1
        try:
            with command_work():  # its reads are the command's requests, not polls
                answers = await self.client.apply([p.command for p in batch])
        except PipelineError as exc:  # adapters answer per command; this is the safety net
            error = mask_text(str(exc))
            answers = [
                ApplyResult(
                    command_id=p.command.command_id,
                    outcome=Outcome.FAILED,
                    error=error,
                    retriable=exc.retriable,
                )
                for p in batch
            ]
        if len(answers) != len(batch):
            raise RuntimeError(
                f"{self.client.platform} adapter answered {len(answers)} results for "
                f"{len(batch)} commands"
            )
        for p, answer in zip(batch, answers, strict=True):
            p.last = answer
        return answers

    def _may_retry(self, p: Pending) -> bool:
        spent = (self.clock.now() - p.received_at).total_seconds()
        return p.attempts < self.settings.max_attempts and spent < self.settings.time_budget

    def _backoff(self, attempt: int) -> float:
        cap = min(self.settings.max_delay, self.settings.base_delay * 2.0 ** (attempt - 1))
        jitter: float = self._rng.random()
        return cap * (0.5 + 0.5 * jitter)  # half to full: retries of a burst spread out
