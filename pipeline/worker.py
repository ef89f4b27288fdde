"""Worker roles assembled from a configuration: the poll role today (``pipeline poll``).

A worker reads the same TOML as every other worker of its fleet, resolves the credentials of
every enabled account (a missing secret stops it at start, naming the key), makes sure the
topics exist, and runs a :class:`~pipeline.fleet.PollFleet`: the consumer group decides which
accounts it polls. Shared per process: one HTTP session, one rate-budget registry (budgets per
account, so a fleet never splits an account's budget between two workers), one publisher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer

from pipeline import platforms
from pipeline.bus import KafkaEventPublisher, consumer_kwargs
from pipeline.checkpoints import KafkaCheckpointStore
from pipeline.clock import Clock, SystemClock
from pipeline.config import AccountConfig, Config, parse_duration, resolve_credentials
from pipeline.errors import ConfigError
from pipeline.fleet import PollFleet
from pipeline.http import HttpClient, HttpSettings
from pipeline.poller import AccountPoller, PollSettings
from pipeline.ratelimit import RateLimit, RateLimiterRegistry
from pipeline.topics import ensure_topics

log = logging.getLogger(__name__)

POLLER_GROUP = "marketplace-pipeline.pollers"


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


class PollRole:
    """Everything one worker process needs to poll its share of the accounts."""

    def __init__(
        self,
        config: Config,
        accounts: list[Account],
        *,
        bootstrap: str,
        embedded: bool = False,
        clock: Clock | None = None,
    ) -> None:
        if not accounts:
            raise ConfigError("no enabled accounts to poll", path="accounts")
        self.config = config
        self.accounts = {a.key: a for a in accounts}
        self.bootstrap = bootstrap
        self.embedded = embedded
        self.clock = clock or SystemClock()
        specs = platforms.registry()
        self.limits = RateLimiterRegistry({pid: s.default_limit for pid, s in specs.items()})
        self.fleet: PollFleet | None = None

    @contextlib.asynccontextmanager
    async def _parts(
        self,
    ) -> AsyncIterator[tuple[HttpClient, KafkaEventPublisher, KafkaCheckpointStore]]:
        kafka = self.config.kafka
        h = self.config.http
        settings = HttpSettings(
            total=h.total_timeout,
            connect=h.connect_timeout,
            limit=h.connections,
            limit_per_host=h.connections_per_host,
        )
        async with (
            HttpClient(settings) as http,
            KafkaEventPublisher(kafka, bootstrap=self.bootstrap, embedded=self.embedded) as pub,
        ):
            store = KafkaCheckpointStore(kafka, bootstrap=self.bootstrap, embedded=self.embedded)
            try:
                yield http, pub, store
            finally:
                await store.aclose()

    async def run(self, stop: asyncio.Event) -> None:
        await ensure_topics(
            self.config.kafka if self.config.kafka.bootstrap else self.bootstrap,
            replication_factor=1 if self.embedded else None,
        )
        async with self._parts() as (http, publisher, store):

            async def make(platform: str, account: str) -> AccountPoller:
                acc = self.accounts[f"{platform}:{account}"]
                spec = platforms.get(platform)
                budget = self.limits.get(platform, account, _override(acc.config))
                client = spec.client(
                    account=account,
                    base_url=acc.config.base_url,
                    token_url=acc.config.token_url,
                    credentials=acc.credentials,
                    http=http,
                    budget=budget,
                )
                floor = (
                    parse_duration(acc.config.poll_interval).total_seconds()
                    if acc.config.poll_interval
                    else None
                )
                settings = PollSettings(horizon=parse_duration(acc.config.horizon))
                return AccountPoller(
                    client,
                    publisher=publisher,
                    store=store,
                    budget=budget,
                    clock=self.clock,
                    settings=settings,
                    floor=floor,
                )

            def consumer() -> AIOKafkaConsumer:
                return AIOKafkaConsumer(
                    **consumer_kwargs(
                        self.config.kafka,
                        group_id=POLLER_GROUP,
                        embedded=self.embedded,
                        bootstrap=self.bootstrap,
                    )
                )

            self.fleet = PollFleet(
                [(a.config.platform, a.config.account) for a in self.accounts.values()],
                make_poller=make,
                consumer_factory=consumer,
                on_released=store.invalidate,
            )
            log.info(
                "poll role: %d accounts configured, joining group %s",
                len(self.accounts),
                POLLER_GROUP,
            )
            await self.fleet.run(stop)
