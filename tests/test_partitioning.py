"""pipeline.partitioning: the same murmur2 and the same partitions as aiokafka's."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from pipeline.partitioning import KeyPartitioner, murmur2


def test_murmur2_equals_aiokafkas_for_every_length_and_many_random_keys() -> None:
    rng = random.Random(5)
    for length in range(65):
        for _ in range(40):
            data = rng.randbytes(length)
            assert murmur2(data) == aiokafka_murmur2(data), data


@given(st.binary(max_size=300))
def test_murmur2_equals_aiokafkas_on_arbitrary_bytes(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data)


def test_murmur2_of_known_values_as_kafkas_java_client() -> None:
    # From Kafka's UtilsTest.testMurmur2 (signed ints there).
    cases = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536}
    for data, signed in cases.items():
        assert murmur2(data) == signed & 0xFFFFFFFF


def test_keys_land_on_the_partitions_aiokafkas_default_partitioner_picks() -> None:
    ours, theirs = KeyPartitioner(), DefaultPartitioner()
    rng = random.Random(9)
    keys = [f"pazarama:bench-{i % 7}:{rng.randrange(10**12)}".encode() for i in range(5000)]
    keys += [rng.randbytes(rng.randrange(1, 80)) for _ in range(2000)]
    for count in (1, 3, 12, 16, 50):
        partitions = list(range(count))
        for key in keys:
            assert ours(key, partitions, partitions) == theirs(key, partitions, partitions)


def test_a_record_without_a_key_goes_to_an_available_partition() -> None:
    partitioner = KeyPartitioner()
    assert {partitioner(None, [0, 1, 2, 3], [2]) for _ in range(20)} == {2}
    assert partitioner(None, [0, 1, 2], []) in {0, 1, 2}
