"""Worker roles assembled from a configuration: the poll role today (``pipeline poll``).

A worker reads the same TOML as every other worker of its fleet, resolves the credentials of
every enabled account (a missing secret stops it at start, naming the key), makes sure the
topics exist, and runs a :class:`~pipeline.fleet.PollFleet`: the consumer group decides which
accounts it polls. Shared per process: one HTTP session, one rate-budget registry (budgets per
account, so a fleet never splits an account's budget between two workers), one publisher.

Rate budgets are *split* by role (pipeline.ratelimit: polls within ``1 − commands_share`` of
every window, commands within the share, each in logs of its own) unless the worker runs both
roles on an embedded broker of its own (``pipeline up``): only then can nothing else poll or
write its accounts, and the lanes are *pooled*. A split worker's apply role keeps command-lane
request records and counts the previous owner's when it takes an account's commands over
(:mod:`pipeline.command_records`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Final

from aiokafka import AIOKafkaConsumer

from pipeline import platforms
from pipeline.adapter import PlatformClient
from pipeline.applier import AccountApplier
from pipeline.bus import KafkaEventPublisher
from pipeline.checkpoints import POLLS_STREAM, Checkpoint, KafkaCheckpointStore, checkpoint_key
from pipeline.clock import Clock, SystemClock
from pipeline.command_consumer import CommandConsumer, read_result_ids
from pipeline.command_records import CommandRecords
from pipeline.config import (
    AccountConfig,
    Config,
    commands_share,
    parse_duration,
    resolve_credentials,
)
from pipeline.errors import BrokerError, ConfigError
from pipeline.fleet import PollFleet
from pipeline.http import HttpClient, HttpSettings
from pipeline.kafka_settings import consumer_kwargs
from pipeline.masking import mask_text
from pipeline.partitioning import murmur2
from pipeline.poller import AccountPoller, PollSettings
from pipeline.ratelimit import (
    Lane,
    RateBudget,
    RateLimit,
    RateLimiterRegistry,
    command_work,
    poll_work,
)
from pipeline.topics import ensure_topics
from schemas import topics

log = logging.getLogger(__name__)

POLLER_GROUP = "marketplace-pipeline.pollers"
APPLIER_GROUP = "marketplace-pipeline.appliers"
#: A stop signal (SIGTERM/SIGINT) is honoured gracefully within this many seconds: in-flight
#: commands get 5 s of it (then 2 s to commit, 3 s to leave), poll cycles 5 s (then 5 s to
#: leave), then the producer is flushed; what still runs then is cancelled.
SHUTDOWN_DEADLINE: Final = 15.0
#: After that cancellation, how long the worker waits before it gives up on its tasks.
FORCE_GRACE: Final = 3.0
_LANES = {"poll": Lane.POLL, "apply": Lane.COMMAND}
#: A broker unreachable at start is tried again after these many seconds: first, cap.
BROKER_WAIT: Final = (1.0, 10.0)


@dataclass(frozen=True, slots=True)
class Account:
    config: AccountConfig
    credentials: Mapping[str, str]

    @property
    def key(self) -> str:
        return self.config.key


def prepare_accounts(config: Config, environ: Mapping[str, str] | None = None) -> list[Account]:
    """Resolve every enabled account's secrets now, so a missing one fails the start."""
    return [
        Account(acc, resolve_credentials(acc, index=i, environ=environ))
        for i, acc in enumerate(config.accounts)
        if acc.enabled
    ]


def _override(acc: AccountConfig) -> RateLimit | None:
    rl = acc.rate_limit
    if rl is None:
        return None
    return RateLimit.from_config(
        per_second=rl.per_second,
        per_minute=rl.per_minute,
        per_hour=rl.per_hour,
        per_day=rl.per_day,
    )


class TakeoverLoads:
    """The checkpoint store as the pollers see it: the checkpoints of accounts being taken over
    are read in one pass over the topic (:meth:`preload`, ``load_all``) and each is served once
    from there; any other load or save is the store's.

    One scan per key would cost the worker a read of its partition per stream and account (on
    Tansu, which never compacts, every checkpoint ever saved there): a thousand accounts took
    minutes to start. Keys of accounts not taken over are dropped from the store's cache at
    once, since another worker owns them and its later saves would go unseen.
    """

    #: Every key a poller loads: its streams' checkpoints and its request record.
    STREAMS = ("orders", "refunds", "cancellations", POLLS_STREAM)

    def __init__(self, store: KafkaCheckpointStore) -> None:
        self.store = store
        self._pending: dict[str, Checkpoint | None] = {}
        self._owned: set[str] = set()  # "platform:account:" of every account this worker polls

    async def preload(self, accounts: list[str]) -> None:
        self._owned.update(f"{key}:" for key in accounts)
        try:
            found = await self.store.load_all()
        except BrokerError as exc:  # the pollers' own loads will retry, one key at a time
            log.warning("checkpoints of %d accounts not preloaded: %s", len(accounts), exc)
            return
        for key in found:
            if key.rpartition(":")[0] + ":" not in self._owned:
                self.store.invalidate(key)
        for account in accounts:
            platform, _, name = account.partition(":")
            for stream in self.STREAMS:
                key = checkpoint_key(platform, name, stream)
                self._pending[key] = found.get(key)

    def release(self, prefix: str) -> None:
        """An account was released: forget what was preloaded for it and the store's cache."""
        self._owned.discard(prefix)
        for key in [k for k in self._pending if k.startswith(prefix)]:
            del self._pending[key]
        self.store.invalidate(prefix)

    async def load(self, key: str) -> Checkpoint | None:
        if key in self._pending:
            return self._pending.pop(key)
        return await self.store.load(key)

    async def save(self, checkpoint: Checkpoint) -> None:
        await self.store.save(checkpoint)


class Worker:
    """One worker process: the poll role, the apply role, or both, sharing one HTTP session,
    one budget per account and one client per account (Softtr remembers the statuses it set,
    so its poller and applier must share the client)."""

    def __init__(
        self,
        config: Config,
        accounts: list[Account],
        *,
        bootstrap: str,
        embedded: bool = False,
        roles: frozenset[str] = frozenset({"poll", "apply"}),
        clock: Clock | None = None,
    ) -> None:
        if not accounts:
            raise ConfigError("no enabled accounts", path="accounts")
        unknown = roles - {"poll", "apply"}
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}")
        self.config = config
        self.accounts = {a.key: a for a in accounts}
        self.bootstrap = bootstrap
        self.embedded = embedded
        self.roles = roles
        self.clock = clock or SystemClock()
        specs = platforms.registry()
        #: Pooled lanes only where nothing else can poll or write these accounts (see above).
        self.split = not (embedded and roles == {"poll", "apply"})
        self.limits = RateLimiterRegistry(
            {pid: s.default_limit for pid, s in specs.items()},
            commands_share=config.rate_limit.commands_share,
            processes_per_ip=config.rate_limit.processes_per_ip,
            split=self.split,
            serves=frozenset(_LANES[role] for role in roles),
        )
        for i, acc in enumerate(config.accounts):
            if acc.enabled and acc.platform in specs:
                try:  # a window too small to share fails the start, not the first request
                    RateBudget(self._limit(acc), split=self.split)
                except ValueError as exc:
                    raise ConfigError(str(exc), path=f"accounts[{i}].rate_limit") from None
        self.clients: dict[str, PlatformClient] = {}
        self.fleet: PollFleet | None = None
        #: The checkpoint stores in use, by role (``poll``; ``apply``: the command records).
        self.checkpoint_stores: dict[str, KafkaCheckpointStore] = {}
        self.commands: CommandConsumer | None = None
        self.appliers: dict[str, AccountApplier] = {}
        self.publisher: KafkaEventPublisher | None = None  # while run() runs: for /readyz
        #: Split: the apply role's request records (pipeline.command_records). Pooled (both roles
        #: on a broker of its own) nothing else can have written these accounts.
        self.keeps_command_records = self.split and "apply" in roles
        self.command_records: CommandRecords | None = None
        self.stopped_cleanly = True  # False: run() gave up on tasks that would not end

    def _limit(self, acc: AccountConfig) -> RateLimit:
        return self.limits.limit_for(acc.platform, _override(acc), commands_share(self.config, acc))

    def budget(self, platform: str, account: str) -> RateBudget:
        """The account's budget (one per account and process, whichever role asks)."""
        acc = self.accounts[f"{platform}:{account}"].config
        return self.limits.get(
            platform, account, _override(acc), share=commands_share(self.config, acc)
        )

    def accounts_of(self, partitions: set[int], count: int) -> list[tuple[str, str, RateBudget]]:
        """The configured accounts whose commands live in these of ``count`` partitions."""
        return [
            (
                acc.config.platform,
                acc.config.account,
                self.budget(acc.config.platform, acc.config.account),
            )
            for key, acc in self.accounts.items()
            if count and (murmur2(key.encode()) & 0x7FFFFFFF) % count in partitions
        ]

    def _client(self, http: HttpClient, platform: str, account: str) -> PlatformClient:
        key = f"{platform}:{account}"
        if key not in self.clients:
            acc = self.accounts[key]
            self.clients[key] = platforms.get(platform).client(
                account=account,
                base_url=acc.config.base_url,
                token_url=acc.config.token_url,
                credentials=acc.credentials,
                http=http,
                budget=self.budget(platform, account),
            )
        return self.clients[key]

    def _consumer(self, group: str | None) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            **consumer_kwargs(
                self.config.kafka,
                group_id=group,
                embedded=self.embedded,
                bootstrap=self.bootstrap,
            )
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Run the roles until ``stop`` is set; then stop within :data:`SHUTDOWN_DEADLINE`
        (+ :data:`FORCE_GRACE` when something had to be cancelled). ``stopped_cleanly`` is
        False when even the cancellation did not end everything in time."""
        self.stopped_cleanly = await run_until_stopped(self._run(stop), stop)

    async def _topics_ready(self, stop: asyncio.Event) -> bool:
        """Make sure the topics exist, waiting for the broker as long as it takes (a worker
        restarted during a broker outage waits for it, as it would once running); False if
        ``stop`` came first."""
        kafka = self.config.kafka
        delay, cap = BROKER_WAIT
        while True:
            try:
                await ensure_topics(
                    kafka if kafka.bootstrap else self.bootstrap,
                    replication_factor=1 if self.embedded else None,
                )
            except BrokerError as exc:
                log.warning(
                    "broker not reachable at start (%s); trying again in %.0fs",
                    mask_text(str(exc)),
                    delay,
                )
            else:
                return True
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await stop.wait()
            if stop.is_set():
                return False
            delay = min(cap, delay * 2)

    async def _run(self, stop: asyncio.Event) -> None:
        kafka = self.config.kafka
        h = self.config.http
        settings = HttpSettings(
            total=h.total_timeout,
            connect=h.connect_timeout,
            limit=h.connections,
            limit_per_host=h.connections_per_host,
        )
        if not await self._topics_ready(stop):
            return
        async with (
            HttpClient(settings) as http,
            KafkaEventPublisher(kafka, bootstrap=self.bootstrap, embedded=self.embedded) as pub,
        ):
            self.publisher = pub
            store = KafkaCheckpointStore(kafka, bootstrap=self.bootstrap, embedded=self.embedded)
            records_store: KafkaCheckpointStore | None = None
            if "poll" in self.roles:
                self.checkpoint_stores["poll"] = store
            try:
                async with asyncio.TaskGroup() as group:
                    if "poll" in self.roles:
                        self.fleet = self._poll_fleet(http, pub, store)
                        with poll_work():  # every request of this task tree is a poll's
                            group.create_task(self.fleet.run(stop))
                    if "apply" in self.roles:
                        if self.keeps_command_records:
                            records_store = KafkaCheckpointStore(
                                kafka, bootstrap=self.bootstrap, embedded=self.embedded
                            )
                            self.command_records = CommandRecords(records_store, self.clock)
                            self.checkpoint_stores["apply"] = records_store
                        self.commands = self._command_consumer(http, pub)
                        with command_work():  # ... and of this one a command's
                            group.create_task(self.commands.run(stop))
                    log.info(
                        "worker: %d accounts, roles %s",
                        len(self.accounts),
                        ", ".join(sorted(self.roles)),
                    )
            finally:
                await store.aclose()
                if records_store is not None:
                    await records_store.aclose()

    def _poll_fleet(
        self, http: HttpClient, publisher: KafkaEventPublisher, kafka_store: KafkaCheckpointStore
    ) -> PollFleet:
        store = TakeoverLoads(kafka_store)
        checkpoint_every = parse_duration(self.config.poll.checkpoint_every)

        async def make(platform: str, account: str) -> AccountPoller:
            acc = self.accounts[f"{platform}:{account}"]
            client = self._client(http, platform, account)
            floor = (
                parse_duration(acc.config.poll_interval).total_seconds()
                if acc.config.poll_interval
                else None
            )
            return AccountPoller(
                client,
                publisher=publisher,
                store=store,
                budget=self.budget(platform, account),
                clock=self.clock,
                settings=PollSettings(
                    horizon=parse_duration(acc.config.horizon),
                    checkpoint_every=checkpoint_every,
                ),
                floor=floor,
            )

        return PollFleet(
            [(a.config.platform, a.config.account) for a in self.accounts.values()],
            make_poller=make,
            consumer_factory=lambda: self._consumer(POLLER_GROUP),
            on_released=store.release,
            registrations=publisher,
            clock=self.clock,
            preload=store.preload,
        )

    def _command_consumer(
        self, http: HttpClient, publisher: KafkaEventPublisher
    ) -> CommandConsumer:
        def applier_for(platform: str, account: str) -> AccountApplier | None:
            key = f"{platform}:{account}"
            if key not in self.accounts:
                return None
            if key not in self.appliers:
                self.appliers[key] = AccountApplier(
                    self._client(http, platform, account), clock=self.clock
                )
                if self.command_records is not None:
                    budget = self.budget(platform, account)
                    self.command_records.attach(platform, account, budget)
            return self.appliers[key]

        async def results_reader(partitions: set[int]) -> set[str]:
            """A new owner, the old one fenced: count its requests, then read its results."""
            reader = self._consumer(None)
            try:
                await reader.start()  # inside: a start that fails (broker away) is closed too
                if self.command_records is not None:
                    await reader.topics()
                    count = len(reader.partitions_for_topic(topics.COMMANDS) or ())
                    await self.command_records.take_over(self.accounts_of(partitions, count))
                return await read_result_ids(reader, partitions)
            finally:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(10):
                        await reader.stop()

        return CommandConsumer(
            consumer_factory=lambda: self._consumer(APPLIER_GROUP),
            results_reader=results_reader,
            sender=publisher,
            applier_for=applier_for,
            clock=self.clock,
        )


async def run_until_stopped(
    body: Coroutine[Any, Any, None],
    stop: asyncio.Event,
    *,
    deadline: float = SHUTDOWN_DEADLINE,
    grace: float = FORCE_GRACE,
) -> bool:
    """Run ``body`` to its end; once ``stop`` is set it has ``deadline`` seconds to end, then it
    is cancelled and has ``grace`` more. False when it still had not ended (it is left running;
    a process should exit). Failures of ``body`` are raised."""
    task = asyncio.ensure_future(body)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            done, _ = await asyncio.wait({task}, timeout=deadline)
            if not done:
                log.warning(
                    "not stopped %.0fs after the stop signal: cancelling the rest", deadline
                )
                task.cancel()
                done, _ = await asyncio.wait({task}, timeout=grace)
                if not done:
                    log.error("still not stopped %.0fs after cancelling: giving up", grace)
                    return False
        if not task.cancelled():
            task.result()
        return True
    finally:
        stopping.cancel()
        if not task.done():  # we were cancelled ourselves
            task.cancel()


def PollRole(
    config: Config, accounts: list[Account], *, bootstrap: str, embedded: bool = False
) -> Worker:
    return Worker(
        config, accounts, bootstrap=bootstrap, embedded=embedded, roles=frozenset({"poll"})
    )
