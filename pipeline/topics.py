"""Every topic the pipeline uses, with its partition count and configs, and how to create them.

``TOPICS`` is the table ``pipeline topics create`` applies and the workers ensure at start-up
(Tansu auto-creates an unknown topic with 4 partitions on the first produce, so nothing may rely
on that). Partition counts are final: Tansu cannot add partitions, and on Kafka adding them
moves keys to other partitions -- which breaks per-order ordering and one owner per account.

Replication: the specs carry the production value (3, with ``min.insync.replicas=2`` so an
``acks="all"`` write survives one broker down). The embedded broker is a single node: pass
``replication_factor=1`` (``pipeline up`` does); ``min.insync.replicas`` is then lowered to
match, or Kafka would refuse every ``acks="all"`` write. Tansu accepts any factor and ignores it.

Partition counts: the event topics are keyed by order and read by other teams' consumer groups,
so 12 gives their groups room to scale; ``commands.v1`` and ``_pipeline.accounts`` bound how
many workers can share the fleet's accounts (a partition is owned by one worker). Retention:
events and results two weeks (a consumer may be down over a long weekend and replay), commands
a week (older ones would expire anyway), the DLQ a month (a person looks at it). Internal
topics are compacted (the newest record per key is the state); checkpoints can reach 1-2 MB.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Final, TextIO

import msgspec
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from pipeline.config import KafkaConfig
from pipeline.errors import BrokerError, ConfigError
from pipeline.kafka_settings import DEFAULT_TIMEOUT, admin_kwargs, as_config
from schemas import topics as names

__all__ = [
    "CHECKPOINT_MAX_BYTES",
    "COMMAND_MAX_BYTES",
    "TOPICS",
    "TopicSpec",
    "create_topics_command",
    "created_topics",
    "ensure_topics",
    "list_topics",
    "list_topics_command",
    "validate_spec",
]

_DAY_MS: Final = 24 * 60 * 60 * 1000
#: Checkpoints hold a fingerprint per recent order; 8 MiB leaves room above the ~1-2 MB
#: expected (the checkpoint store's producer and reader are sized to match).
CHECKPOINT_MAX_BYTES: Final = 8 * 1024 * 1024
#: Commands may carry documents (``refund.decide`` photos); the DLQ wraps a command.
COMMAND_MAX_BYTES: Final = 5 * 1024 * 1024
_DLQ_MAX_BYTES: Final = COMMAND_MAX_BYTES + 64 * 1024


class TopicSpec(msgspec.Struct, frozen=True, kw_only=True):
    partitions: int
    replication_factor: int = 3
    configs: dict[str, str] = msgspec.field(default_factory=dict)

    def with_replication(self, factor: int | None) -> TopicSpec:
        """This spec on a cluster of ``factor`` replicas (``min.insync.replicas`` capped)."""
        if factor is None or factor == self.replication_factor:
            return self
        configs = dict(self.configs)
        if "min.insync.replicas" in configs:
            configs["min.insync.replicas"] = str(min(int(configs["min.insync.replicas"]), factor))
        return msgspec.structs.replace(self, replication_factor=factor, configs=configs)


def _events(partitions: int) -> TopicSpec:
    return TopicSpec(
        partitions=partitions,
        configs={
            "cleanup.policy": "delete",
            "retention.ms": str(14 * _DAY_MS),
            "min.insync.replicas": "2",
        },
    )


def _compacted(partitions: int, max_bytes: int | None = None) -> TopicSpec:
    configs = {
        "cleanup.policy": "compact",
        "min.insync.replicas": "2",
        # Roll segments hourly and clean at 10 % dirty: a poll loop rewrites every key each
        # minute, and only closed segments are compacted.
        "segment.ms": str(60 * 60 * 1000),
        "min.cleanable.dirty.ratio": "0.1",
    }
    if max_bytes is not None:
        configs["max.message.bytes"] = str(max_bytes)
    return TopicSpec(partitions=partitions, configs=configs)


TOPICS: Final[Mapping[str, TopicSpec]] = {
    names.ORDERS: _events(12),
    names.REFUNDS: _events(12),
    names.COMMANDS: TopicSpec(
        partitions=12,
        configs={
            "retention.ms": str(7 * _DAY_MS),
            "max.message.bytes": str(COMMAND_MAX_BYTES),
            "min.insync.replicas": "2",
        },
    ),
    names.COMMAND_RESULTS: _events(12),
    names.COMMANDS_DLQ: TopicSpec(
        partitions=3,
        configs={
            "retention.ms": str(30 * _DAY_MS),
            "max.message.bytes": str(_DLQ_MAX_BYTES),
            "min.insync.replicas": "2",
        },
    ),
    names.CHECKPOINTS: _compacted(12, CHECKPOINT_MAX_BYTES),
    names.ACCOUNTS: _compacted(12),
}

_ALREADY_EXISTS: Final = TopicAlreadyExistsError.errno  # 36; Tansu answers it too
_TOPIC_NAME: Final = re.compile(r"[A-Za-z0-9._-]{1,249}")


async def ensure_topics(
    target: KafkaConfig | str,
    specs: Mapping[str, TopicSpec] = TOPICS,
    *,
    replication_factor: int | None = None,
    request_timeout: float = DEFAULT_TIMEOUT,
) -> list[str]:
    """Create every topic of ``specs`` that does not exist; return the names created.

    Idempotent: an existing topic is left alone (its partitions and configs are not compared
    here; :func:`list_topics` shows them). ``replication_factor`` overrides the specs' (1 for the
    embedded broker). A spec Kafka would refuse is a :class:`ConfigError` (checked here, as
    Tansu accepts anything); any other refusal is a :class:`BrokerError` naming the topic.
    """
    new = []
    for name, spec in specs.items():
        validate_spec(name, spec)
        final = spec.with_replication(replication_factor)
        new.append(
            NewTopic(
                name, final.partitions, final.replication_factor, topic_configs=dict(final.configs)
            )
        )
    if not new:
        return []
    async with _admin(target, request_timeout) as admin:
        try:
            async with asyncio.timeout(request_timeout):
                response = await admin.create_topics(new)
        except (KafkaError, TimeoutError) as exc:
            raise BrokerError(f"creating topics failed: {exc!r}") from exc
    return created_topics(response.topic_errors)


def created_topics(topic_errors: Iterable[tuple[str, int, str | None]]) -> list[str]:
    """The names a CreateTopics answer created; "already exists" is fine, the rest is not."""
    created, failed = [], []
    for topic, code, message in topic_errors:
        if code == 0:
            created.append(topic)
        elif code != _ALREADY_EXISTS:
            error = for_code(code)
            failed.append(f"{topic}: {error.message} ({code}) {message or ''}".strip())
    if failed:
        raise BrokerError("cannot create topics: " + "; ".join(failed))
    return sorted(created)


def validate_spec(name: str, spec: TopicSpec) -> None:
    """Refuse what Kafka would refuse. Tansu accepts any name, partition count, replication
    factor and config value (README "Brokers"), so without this a typo would pass every test
    on the embedded broker and fail in production."""
    if not _TOPIC_NAME.fullmatch(name) or name in {".", ".."}:
        raise ConfigError(f"invalid topic name {name!r} (1-249 of a-z A-Z 0-9 . _ -)")
    if spec.partitions < 1:
        raise ConfigError(f"topic {name}: partitions must be at least 1, not {spec.partitions}")
    if spec.replication_factor < 1:
        raise ConfigError(
            f"topic {name}: replication_factor must be at least 1, not {spec.replication_factor}"
        )
    policy = spec.configs.get("cleanup.policy", "delete")
    if not set(policy.split(",")) <= {"delete", "compact"}:
        raise ConfigError(f"topic {name}: unknown cleanup.policy {policy!r}")


async def list_topics(
    target: KafkaConfig | str, *, request_timeout: float = DEFAULT_TIMEOUT
) -> dict[str, int]:
    """Every topic the broker knows, with its partition count (from a Metadata request)."""
    async with _admin(target, request_timeout) as admin:
        try:
            async with asyncio.timeout(request_timeout):
                described: list[dict[str, Any]] = await admin.describe_topics()
        except (KafkaError, TimeoutError) as exc:
            raise BrokerError(f"listing topics failed: {exc!r}") from exc
    return {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}


async def create_topics_command(
    target: KafkaConfig | str,
    *,
    replication_factor: int | None = None,
    specs: Mapping[str, TopicSpec] = TOPICS,
    out: TextIO | None = None,
) -> int:
    """``pipeline topics create``: ensure the topics, print one line per topic; exit status."""
    stream = out if out is not None else sys.stdout
    created = set(await ensure_topics(target, specs, replication_factor=replication_factor))
    existing = await list_topics(target)
    status = 0
    for name, spec in specs.items():
        have = existing.get(name)
        if name in created:
            line = f"created  {name}  partitions={spec.partitions}"
        elif have == spec.partitions:
            line = f"exists   {name}  partitions={have}"
        else:
            # Not fixable here: adding partitions would move keys (and Tansu cannot).
            line = f"MISMATCH {name}  partitions={have} (spec {spec.partitions})"
            status = 1
        print(line, file=stream)
    return status


async def list_topics_command(target: KafkaConfig | str, *, out: TextIO | None = None) -> int:
    """``pipeline topics list``: every topic with its partitions; ours marked, missing ones too."""
    stream = out if out is not None else sys.stdout
    existing = await list_topics(target)
    for name in sorted(existing.keys() | TOPICS.keys()):
        have = existing.get(name)
        spec = TOPICS.get(name)
        if have is None:
            note = "  (missing: run `pipeline topics create`)"
        elif spec is not None and spec.partitions != have:
            note = f"  (spec {spec.partitions})"
        else:
            note = ""
        mark = "*" if spec is not None else " "
        print(f"{mark} {name}  partitions={have if have is not None else '-'}{note}", file=stream)
    return 0


@contextlib.asynccontextmanager
async def _admin(target: KafkaConfig | str, request_timeout: float) -> AsyncIterator[Any]:
    """An admin client started and closed within bounds; failing to start is a BrokerError."""
    kwargs = admin_kwargs(as_config(target), timeout=request_timeout)
    client = AIOKafkaAdminClient(**kwargs)
    try:
        try:
            async with asyncio.timeout(request_timeout):
                await client.start()
        except (KafkaError, TimeoutError) as exc:
            raise BrokerError(
                f"cannot reach Kafka at {kwargs['bootstrap_servers']}: {exc!r}"
            ) from exc
        yield client
    finally:
        with contextlib.suppress(KafkaError, TimeoutError, OSError):
            async with asyncio.timeout(request_timeout):
                await client.close()
