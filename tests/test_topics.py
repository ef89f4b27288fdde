"""Topic specs and their creation: every contract topic, idempotent, the right partitions."""

from __future__ import annotations

import asyncio
import io

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from pipeline.broker import EmbeddedBroker, find_free_port
from pipeline.errors import BrokerError, ConfigError
from pipeline.topics import (
    CHECKPOINT_MAX_BYTES,
    TOPICS,
    TopicSpec,
    create_topics_command,
    created_topics,
    ensure_topics,
    list_topics,
    list_topics_command,
)
from schemas import topics

pytestmark = pytest.mark.integration

CONTRACT_TOPICS = {
    topics.ORDERS,
    topics.REFUNDS,
    topics.COMMANDS,
    topics.COMMAND_RESULTS,
    topics.COMMANDS_DLQ,
    topics.CHECKPOINTS,
    topics.ACCOUNTS,
}


def test_there_is_a_spec_for_every_contract_topic_and_no_other() -> None:
    assert set(TOPICS) == CONTRACT_TOPICS


def test_production_specs_replicate_three_times_and_survive_one_broker_down() -> None:
    for name, spec in TOPICS.items():
        assert spec.replication_factor == 3, name
        assert spec.configs["min.insync.replicas"] == "2", name


def test_internal_topics_are_compacted_and_checkpoints_may_be_large() -> None:
    assert TOPICS[topics.CHECKPOINTS].configs["cleanup.policy"] == "compact"
    assert TOPICS[topics.ACCOUNTS].configs["cleanup.policy"] == "compact"
    assert int(TOPICS[topics.CHECKPOINTS].configs["max.message.bytes"]) == CHECKPOINT_MAX_BYTES
    assert CHECKPOINT_MAX_BYTES >= 4 * 1024 * 1024  # checkpoints of 1-2 MB, with headroom
    for name in (topics.ORDERS, topics.REFUNDS, topics.COMMANDS, topics.COMMAND_RESULTS):
        assert TOPICS[name].configs.get("cleanup.policy", "delete") == "delete", name


def test_a_single_broker_override_lowers_min_insync_replicas_with_the_factor() -> None:
    spec = TOPICS[topics.ORDERS]
    single = spec.with_replication(1)
    assert single.replication_factor == 1
    assert single.configs["min.insync.replicas"] == "1"
    assert single.configs["retention.ms"] == spec.configs["retention.ms"]
    assert spec.configs["min.insync.replicas"] == "2"  # the table itself is untouched
    assert spec.with_replication(None) is spec
    assert spec.with_replication(5).configs["min.insync.replicas"] == "2"


async def test_ensure_topics_creates_every_topic_once_with_its_partitions_and_configs() -> None:
    async with EmbeddedBroker() as broker:
        created = await ensure_topics(broker.bootstrap, replication_factor=1)
        assert set(created) == CONTRACT_TOPICS
        assert await ensure_topics(broker.bootstrap, replication_factor=1) == []  # idempotent
        existing = await list_topics(broker.bootstrap)
        assert existing == {name: spec.partitions for name, spec in TOPICS.items()}

        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        async with asyncio.timeout(10):
            await admin.start()
            try:
                described = await admin.describe_configs(
                    [ConfigResource(ConfigResourceType.TOPIC, topics.CHECKPOINTS)]
                )
            finally:
                await admin.close()
        [response] = described
        [(_code, _msg, _type, _name, entries)] = response.resources
        configs = {entry[0]: entry[1] for entry in entries}
        assert configs == TOPICS[topics.CHECKPOINTS].with_replication(1).configs


async def test_ensure_topics_takes_other_specs_and_leaves_existing_topics_alone(
    kafka_bootstrap: str, topic_name: str
) -> None:
    first = {topic_name: TopicSpec(partitions=3)}
    assert await ensure_topics(kafka_bootstrap, first, replication_factor=1) == [topic_name]
    again = {topic_name: TopicSpec(partitions=5), f"{topic_name}.b": TopicSpec(partitions=2)}
    assert await ensure_topics(kafka_bootstrap, again, replication_factor=1) == [f"{topic_name}.b"]
    existing = await list_topics(kafka_bootstrap)
    assert existing[topic_name] == 3
    assert existing[f"{topic_name}.b"] == 2


def test_a_refusal_other_than_already_exists_is_a_broker_error_naming_the_topic() -> None:
    answer = [("a", 0, None), ("b", 36, "Topic 'b' already exists."), ("c", 37, "bad count")]
    with pytest.raises(BrokerError, match=r"c: INVALID_PARTITIONS \(37\) bad count"):
        created_topics(answer)
    assert created_topics(answer[:2]) == ["a"]


@pytest.mark.parametrize(
    ("name", "spec", "needle"),
    [
        ("ok", TopicSpec(partitions=0), "partitions"),
        ("ok", TopicSpec(partitions=-1), "partitions"),
        ("ok", TopicSpec(partitions=1, replication_factor=0), "replication_factor"),
        ("bad name!", TopicSpec(partitions=1), "invalid topic name"),
        ("x" * 250, TopicSpec(partitions=1), "invalid topic name"),
        ("..", TopicSpec(partitions=1), "invalid topic name"),
        ("ok", TopicSpec(partitions=1, configs={"cleanup.policy": "compacted"}), "cleanup"),
    ],
)
async def test_specs_kafka_would_refuse_are_config_errors_before_any_request(
    name: str, spec: TopicSpec, needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        # No broker listens there: the spec is refused before connecting.
        await ensure_topics(f"127.0.0.1:{find_free_port()}", {name: spec})


async def test_tansu_creates_topics_kafka_refuses(kafka_bootstrap: str, topic_name: str) -> None:
    # Kafka: INVALID_PARTITIONS (37), INVALID_TOPIC_EXCEPTION (17), INVALID_CONFIG (40).
    # Tansu: created. Hence validate_spec() on our side.
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    async with asyncio.timeout(10):
        await admin.start()
        try:
            response = await admin.create_topics(
                [
                    NewTopic(f"{topic_name}.zero", 0, 1),
                    NewTopic(f"{topic_name} bad!", 1, 1),
                    NewTopic(f"{topic_name}.cfg", 1, 1, topic_configs={"cleanup.policy": "bogus"}),
                ]
            )
        finally:
            await admin.close()
    assert [code for _, code, _ in response.topic_errors] == [0, 0, 0]


async def test_an_unreachable_broker_is_a_broker_error() -> None:
    where = f"127.0.0.1:{find_free_port()}"
    with pytest.raises(BrokerError, match="cannot reach"):
        await ensure_topics(where, request_timeout=2.0)
    with pytest.raises(BrokerError, match="cannot reach"):
        await list_topics(where, request_timeout=2.0)


async def test_the_create_command_prints_created_then_exists_and_flags_a_mismatch(
    kafka_bootstrap: str, topic_name: str
) -> None:
    specs = {topic_name: TopicSpec(partitions=2), f"{topic_name}.x": TopicSpec(partitions=4)}
    out = io.StringIO()
    assert await create_topics_command(kafka_bootstrap, specs=specs, out=out) == 0
    assert out.getvalue().splitlines() == [
        f"created  {topic_name}  partitions=2",
        f"created  {topic_name}.x  partitions=4",
    ]
    out = io.StringIO()
    assert await create_topics_command(kafka_bootstrap, specs=specs, out=out) == 0
    assert out.getvalue().splitlines()[0] == f"exists   {topic_name}  partitions=2"

    out = io.StringIO()
    changed = {topic_name: TopicSpec(partitions=6)}
    assert await create_topics_command(kafka_bootstrap, specs=changed, out=out) == 1
    assert out.getvalue().strip() == f"MISMATCH {topic_name}  partitions=2 (spec 6)"


async def test_the_list_command_shows_partitions_and_marks_missing_contract_topics() -> None:
    async with EmbeddedBroker() as broker:
        await ensure_topics(
            broker.bootstrap, {topics.ORDERS: TOPICS[topics.ORDERS]}, replication_factor=1
        )
        out = io.StringIO()
        assert await list_topics_command(broker.bootstrap, out=out) == 0
    lines = out.getvalue().splitlines()
    assert f"* {topics.ORDERS}  partitions=12" in lines
    assert f"* {topics.REFUNDS}  partitions=-  (missing: run `pipeline topics create`)" in lines
    assert len(lines) == len(CONTRACT_TOPICS)
