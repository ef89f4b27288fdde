"""When an account's poller writes to ``_pipeline.checkpoints``, and how it retries.

Two kinds of record (:mod:`pipeline.checkpoints`):

* **stream checkpoints** (``platform:account:stream``), saved only after every event up to
  them was acknowledged (the poller calls :meth:`PollSaves.checkpoint` then). One is written when
  what it remembers changed (fingerprints, unmapped ids, platform state); when only its cursor or
  sweep time moved -- an idle cycle -- at most every ``PollSettings.checkpoint_every``, except in
  a poller's first cycle (a new owner's progress shows at once); when nothing at all changed, at
  most every ``refresh_checkpoint`` (a fresh ``written_at`` shows the account is alive); and
  whenever it moved, on ``flush`` (the poller stops). Skipping idle saves costs a new owner
  after a kill a re-read of up to ``checkpoint_every``, which publishes nothing: the saved
  fingerprints are the ones that count. A broker that never compacts (Tansu) keeps every record,
  so every record skipped is one a take-over does not scan.
* **the request record** (``platform:account:polls``): the account's poll requests and a lease
  (:mod:`pipeline.carryover`). The budget's ``poll_gate`` calls :meth:`PollSaves.renew_lease`
  after a poll slot is granted and before the request leaves; it saves a new record unless the
  lease in force has half its time left. Small, and apart from the stream checkpoints, so renewing
  it never rewrites their fingerprints.

A save that fails because the broker is away is retried with backoff (polling waits: invariant
1); one the topic refuses (too large) is logged and skipped, since retrying cannot help.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import msgspec

from pipeline import carryover
from pipeline.checkpoints import (
    POLLS_STREAM,
    Checkpoint,
    CheckpointStore,
    encode_checkpoint,
    request_record,
)
from pipeline.clock import Clock
from pipeline.errors import BrokerError, RecordRejected
from pipeline.masking import mask_text
from pipeline.ratelimit import RateBudget

if TYPE_CHECKING:
    from pipeline.poller import PollSettings, PollStats

__all__ = ["PollSaves"]

log = logging.getLogger(__name__)

#: The cursor of the checkpoint copy whose digest says whether anything but the times changed.
_NO_TIME: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class _Saved:
    """What the last save of a stream's checkpoint held, and when it was made."""

    digest: bytes
    cursor: dt.datetime
    swept_at: dt.datetime | None
    at: dt.datetime


class PollSaves:
    """The checkpoint and request-record writes of one account's poller (module docstring)."""

    def __init__(
        self,
        *,
        platform: str,
        account: str,
        store: CheckpointStore,
        budget: RateBudget,
        clock: Clock,
        settings: PollSettings,
        stats: PollStats,
    ) -> None:
        self.platform = platform
        self.account = account
        self.store = store
        self.budget = budget
        self.clock = clock
        self.settings = settings
        self.stats = stats
        self._saved: dict[str, _Saved] = {}
        self._lease_until: dt.datetime | None = None
        self._lease_lock = asyncio.Lock()

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.account}"

    def saved_at(self, stream: str) -> dt.datetime | None:
        """When the stream's checkpoint was last saved by this poller (None: not yet)."""
        last = self._saved.get(stream)
        return None if last is None else last.at

    # -- the request record ------------------------------------------------------------------

    def drop_lease(self) -> None:
        """Forget the lease in force: the next poll request saves a record first (a new load)."""
        self._lease_until = None

    async def renew_lease(self) -> None:
        """Save a request record unless the lease in force has half its time left."""
        if self._lease_fresh():
            return
        async with self._lease_lock:
            if not self._lease_fresh():
                await self._save_request_record()

    def _lease_fresh(self) -> bool:
        left = self.settings.lease / 2
        until = self._lease_until
        return until is not None and self.clock.now() + dt.timedelta(seconds=left) < until

    async def _save_request_record(self) -> None:
        now = self.clock.now()
        rec = carryover.record(self.budget, at=now, lease=self.settings.lease)
        if await self.save(request_record(self.platform, self.account, POLLS_STREAM, rec)):
            self._lease_until = now + dt.timedelta(seconds=self.settings.lease)

    # -- stream checkpoints -------------------------------------------------------------------

    async def checkpoint(
        self,
        cp: Checkpoint,
        *,
        flush: bool = False,
        times_later: bool = False,
        first_cycle: bool = False,
    ) -> None:
        """Save ``cp`` if it is due (module docstring). ``flush``: whenever it differs from the
        last one saved; ``times_later``: not if only its times moved (a save follows in this
        cycle); ``first_cycle``: the poller's first, whose moved times are saved at once."""
        now = self.clock.now()
        # What the checkpoint remembers, without the times that move every cycle (the cursor and
        # the sweep time) or every save; the request record has a key of its own.
        kept = msgspec.structs.replace(
            cp, cursor=_NO_TIME, swept_at=None, written_at=None, requests=None
        )
        digest = hashlib.blake2b(encode_checkpoint(kept), digest_size=16).digest()
        last = self._saved.get(cp.stream)
        if last is not None and last.digest == digest:
            moved = (cp.cursor, cp.swept_at) != (last.cursor, last.swept_at)
            if (flush and not moved) or (moved and times_later):
                return
            if moved:
                due = dt.timedelta(0) if first_cycle else self.settings.checkpoint_every
            else:
                due = self.settings.refresh_checkpoint
            if not flush and now - last.at < due:
                return
        cp.written_at = now
        cp.requests = None
        if await self.save(cp):
            self._saved[cp.stream] = _Saved(digest, cp.cursor, cp.swept_at, now)

    async def save(self, cp: Checkpoint) -> bool:
        """Save ``cp``, retrying while the broker is away; False if the topic refuses it."""
        delay, cap = self.settings.broker_backoff
        while True:
            try:
                await self.store.save(cp)
            except RecordRejected as exc:
                # Too large for the topic (a very big horizon): retrying cannot help. Events are
                # out; a restart repeats them with the same ids. Say so loudly and go on.
                self.stats.last_error = mask_text(str(exc))
                log.error(  # noqa: TRY400 - the reason is the message
                    "%s: checkpoint %s not saved (%d fingerprints): %s; shorten the horizon",
                    self.key,
                    cp.key,
                    len(cp.fingerprints),
                    self.stats.last_error,
                )
                return False
            except BrokerError as exc:
                self.stats.broker_errors += 1
                self.stats.last_error = mask_text(str(exc))
                if delay == self.settings.broker_backoff[0]:  # once per run of failures
                    log.warning(
                        "%s: checkpoint %s not saved, retrying every %.0fs at most: %s",
                        self.key,
                        cp.key,
                        cap,
                        self.stats.last_error,
                        extra={"platform": self.platform, "account": self.account},
                    )
                await self.clock.sleep(delay)
                delay = min(cap, delay * 2)
            else:
                return True
