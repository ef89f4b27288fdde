"""Poll checkpoints: how far each (platform, account, stream) has been published, and what was.

A checkpoint is written only after every event up to it was acknowledged by the broker
(DESIGN invariant 1), as a record keyed ``platform:account:stream`` on ``_pipeline.checkpoints``
(a compacted topic: the newest record per key is the state). It holds:

* ``cursor`` — the recent loop's high-water mark: every record created before it was published;
* ``fingerprints`` — per record id, a digest of what was last published (invariant 2: an
  unchanged order publishes nothing, even across restarts and overlapping windows);
* ``malformed`` — records the platform returned that could not be mapped, retried by id on
  every sweep until they map (nothing is silently dropped);
* ``platform_state`` — small per-platform memory the API cannot give back (Softtr's statuses).

Encoded with msgspec JSON and gzip-compressed by the producer; fingerprints older than the
account's horizon and in a terminal state are pruned so the record stays small.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import msgspec

from schemas.times import AwareDatetime

CHECKPOINT_VERSION = 1


class Fingerprint(msgspec.Struct, frozen=True, array_like=True):
    """What was last published for one record (array-like: compact on the wire)."""

    #: Digest of each part of the record (``status``, ``items``, ``shipments``...) → changed parts.
    parts: dict[str, str]
    #: Canonical status / state and the raw value, as last published.
    status: str
    raw_status: str
    #: When the record was created on the platform (for horizon pruning and sweeps).
    created_at: AwareDatetime
    terminal: bool


class Checkpoint(msgspec.Struct, kw_only=True):
    platform: str
    account: str
    stream: str
    cursor: AwareDatetime
    fingerprints: dict[str, Fingerprint] = msgspec.field(default_factory=dict)
    malformed: dict[str, str] = msgspec.field(default_factory=dict)
    #: Last successful active sweep (``updated_since`` platforms continue from it).
    swept_at: AwareDatetime | None = None
    platform_state: dict[str, str] = msgspec.field(default_factory=dict)
    written_at: AwareDatetime | None = None
    version: int = CHECKPOINT_VERSION

    @property
    def key(self) -> str:
        return checkpoint_key(self.platform, self.account, self.stream)

    def prune(self, *, before: dt.datetime) -> int:
        """Forget terminal records created before ``before``; returns how many were dropped."""
        old = [k for k, f in self.fingerprints.items() if f.terminal and f.created_at < before]
        for k in old:
            del self.fingerprints[k]
        return len(old)


def checkpoint_key(platform: str, account: str, stream: str) -> str:
    return f"{platform}:{account}:{stream}"


class CheckpointStore(Protocol):
    """Where checkpoints live. ``save`` returns once the broker acknowledged the record."""

    async def load(self, key: str) -> Checkpoint | None: ...

    async def save(self, checkpoint: Checkpoint) -> None: ...


class MemoryCheckpointStore:
    """A store in memory, for one process (tests and ``pipeline up`` without a broker)."""

    def __init__(self) -> None:
        self.saved: dict[str, bytes] = {}
        self.saves = 0

    async def load(self, key: str) -> Checkpoint | None:
        raw = self.saved.get(key)
        return None if raw is None else decode_checkpoint(raw)

    async def save(self, checkpoint: Checkpoint) -> None:
        self.saved[checkpoint.key] = encode_checkpoint(checkpoint)
        self.saves += 1


_decoder = msgspec.json.Decoder(Checkpoint)


def encode_checkpoint(checkpoint: Checkpoint) -> bytes:
    return msgspec.json.encode(checkpoint)


def decode_checkpoint(raw: bytes) -> Checkpoint:
    return _decoder.decode(raw)
