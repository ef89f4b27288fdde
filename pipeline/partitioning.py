"""Kafka's key partitioner (murmur2, as the Java client and aiokafka compute it), faster.

aiokafka's :func:`aiokafka.partitioner.murmur2` reads each 4-byte word byte by byte with masks
and modulos: about 6 µs for a 30-byte event key, a tenth of what the worker spends publishing an
event. :func:`murmur2` here unpacks all words in one ``struct`` call and keeps the arithmetic
minimal, and returns the same value for every input (tests compare them on many keys, all
lengths 0..64 and random bytes). :class:`KeyPartitioner` is a drop-in ``partitioner=`` for
:class:`aiokafka.AIOKafkaProducer`: the same partition as aiokafka's ``DefaultPartitioner`` for
every key, so records keyed by an account or an order land where every other reader (the
checkpoint store, the fleet's account assignment, other teams' Java clients) looks for them.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence
from typing import Final

__all__ = ["KeyPartitioner", "murmur2"]

_SEED: Final = 0x9747B28C
_M: Final = 0x5BD1E995
_MASK: Final = 0xFFFFFFFF
#: ``struct`` formats by word count, made once each (keys are short: a few dozen sizes).
_WORDS: dict[int, struct.Struct] = {}


def murmur2(data: bytes) -> int:
    """MurmurHash2 of ``data`` as Kafka computes it (``Utils.murmur2``), an unsigned 32-bit int."""
    length = len(data)
    h = _SEED ^ length
    count = length >> 2
    words = _WORDS.get(count)
    if words is None:
        words = _WORDS[count] = struct.Struct(f"<{count}I")
    m, mask = _M, _MASK
    for k in words.unpack_from(data):
        k = (k * m) & mask
        k = ((k ^ (k >> 24)) * m) & mask
        h = ((h * m) & mask) ^ k
    tail = length & 3
    if tail:
        end = length - tail
        if tail == 3:
            h ^= data[end + 2] << 16
        if tail >= 2:
            h ^= data[end + 1] << 8
        h = ((h ^ data[end]) * m) & mask
    h = ((h ^ (h >> 13)) * m) & mask
    return h ^ (h >> 15)


class KeyPartitioner:
    """``partitioner=`` for aiokafka: murmur2 of the key over all partitions, as
    ``DefaultPartitioner`` does; a record without a key goes to a random available partition."""

    def __call__(
        self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
    ) -> int:
        if key is None:
            return random.choice(available or all_partitions)
        return all_partitions[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]
