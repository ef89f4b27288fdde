"""The apply role's request records: an account's command-lane budget carried to its next owner.

In a fleet (split budgets) each account's commands are owned by one applier at a time, within
the commands share of every window. When the account's ``commands.v1`` partition moves, the new
owner must count what the old owner sent in the platform's current windows (pipeline.carryover,
"The commands lane"). This module keeps that record:

* **Writing** (:meth:`CommandRecords.attach` sets the budget's ``command_gate``): after a command
  slot is granted and before the request leaves, a :class:`~pipeline.carryover.RequestRecord`
  of the account's command-lane requests of its longest window -- the granted one included -- is
  saved as a checkpoint keyed ``platform:account:commands`` and acknowledged. Requests granted
  while a save is under way share the next save. A save that fails (broker away) is retried with
  backoff; the request waits (the applier's results could not be published either).
* **Reading** (:meth:`CommandRecords.take_over`): when partitions are taken over, after the old
  owner's window to write is over, the newest record of every account they carry is read in one
  pass over their partitions of the topic and counted in this worker's budget
  (:func:`~pipeline.carryover.seed_commands`).

The cost is one small acknowledged record per command request (at most the commands share of the
shortest window per account: Pazarama 12, Softtr 24 a minute by default), in exchange for which
a new owner waits only for what the old one really spent -- nothing for an account without
recent commands -- where it used to charge a whole share of the shortest window at every
takeover.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from pipeline import carryover
from pipeline.checkpoints import COMMANDS_STREAM, Checkpoint, checkpoint_key, request_record
from pipeline.clock import Clock
from pipeline.errors import BrokerError
from pipeline.masking import mask_text
from pipeline.ratelimit import Lane, RateBudget

log = logging.getLogger(__name__)

#: Retry delays of a failed save: first, cap (seconds).
SAVE_BACKOFF = (0.5, 5.0)


class RecordStore(Protocol):
    """What the records need of a checkpoint store (Kafka's, or the in-memory one)."""

    async def save(self, checkpoint: Checkpoint) -> None: ...

    async def load_keys(self, keys: Iterable[str]) -> dict[str, Checkpoint]: ...


@dataclass
class _Account:
    platform: str
    account: str
    budget: RateBudget
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    granted: int = 0  # slots that passed the gate, counted when they enter it
    saved: int = 0  # ``granted`` as of the start of the newest acknowledged save

    @property
    def key(self) -> str:
        return checkpoint_key(self.platform, self.account, COMMANDS_STREAM)


class CommandRecords:
    """Command-lane request records of the accounts this worker applies (module docstring)."""

    def __init__(self, store: RecordStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._accounts: dict[tuple[str, str], _Account] = {}
        self.saves = 0
        self.save_failures = 0
        #: ``platform:account`` → the previous owners' requests counted at the last takeover.
        self.counted: dict[str, int] = {}

    def attach(self, platform: str, account: str, budget: RateBudget) -> None:
        """Keep records for this account: every command slot of ``budget`` waits for one."""
        if (platform, account) in self._accounts:
            return
        state = self._accounts[(platform, account)] = _Account(platform, account, budget)

        async def gate() -> None:
            await self._gate(state)

        budget.command_gate = gate

    async def _gate(self, state: _Account) -> None:
        state.granted += 1
        mine = state.granted
        async with state.lock:
            if state.saved >= mine:  # a save begun after our grant already counts it
                return
            await self._save(state)

    async def _save(self, state: _Account) -> None:
        delay, cap = SAVE_BACKOFF
        while True:
            upto = state.granted
            now = self.clock.now()
            rec = carryover.record(state.budget, at=now, lease=0.0, lane=Lane.COMMAND)
            cp = request_record(state.platform, state.account, COMMANDS_STREAM, rec)
            try:
                await self.store.save(cp)
            except BrokerError as exc:
                self.save_failures += 1
                if delay == SAVE_BACKOFF[0]:  # once per run of failures
                    log.warning(
                        "%s: command record not saved, its request waits (retrying every "
                        "%.0fs at most): %s",
                        state.key,
                        cap,
                        mask_text(str(exc)),
                        extra={"platform": state.platform, "account": state.account},
                    )
                await asyncio.sleep(delay)
                delay = min(cap, delay * 2)
            else:
                state.saved = upto
                self.saves += 1
                return

    async def take_over(self, accounts: Iterable[tuple[str, str, RateBudget]]) -> dict[str, int]:
        """Count the previous owners' command requests of ``accounts`` (their newest records) in
        their budgets; returns ``platform:account`` → requests counted, for those with any."""
        wanted = list(accounts)
        if not wanted:
            return {}
        keys = [checkpoint_key(p, a, COMMANDS_STREAM) for p, a, _ in wanted]
        found = await self.store.load_keys(keys)  # BrokerError: the caller tries again
        now = self.clock.now()
        counted: dict[str, int] = {}
        for (platform, account, budget), key in zip(wanted, keys, strict=True):
            cp = found.get(key)
            n = carryover.seed_commands(budget, cp.requests if cp else None, now=now)
            self.counted[f"{platform}:{account}"] = n
            if n:
                counted[f"{platform}:{account}"] = n
                log.info(
                    "%s:%s: commands taken over; %d requests of the previous owner counted",
                    platform,
                    account,
                    n,
                    extra={"platform": platform, "account": account},
                )
        return counted
