"""``pipeline up`` and the worker roles' process entry points.

``pipeline up`` starts everything embedded in one process: the broker, every platform sandbox
with a steady flow of orders, the poll and apply roles with one account per sandbox (its secrets
are the sandboxes' ``sandbox-<key>`` values, passed by reference like any other), the demo
driver and the live view. It runs until Ctrl-C or SIGTERM (or ``--for`` elapses) and then stops
each part within a bound and prints a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from typing import TextIO

from aiokafka import AIOKafkaConsumer

from pipeline import liveview, platforms
from pipeline.broker import EmbeddedBroker
from pipeline.bus import KafkaEventPublisher
from pipeline.config import AccountConfig, Config, KafkaConfig, SecretRef
from pipeline.demo import DemoDriver
from pipeline.health import serve_metrics
from pipeline.kafka_settings import consumer_kwargs
from pipeline.metrics import MetricsConfig
from pipeline.sandbox import Sandbox, SandboxSettings, ServedSandbox, serve
from pipeline.worker import Worker, prepare_accounts

# A poll publishes in chunks of 500 events (a small backlog goes out when its read ends), and polls
# are paced at the shortest window's rate (ratelimit.py): Web Servis costs one request per order
# at 25/min, so 20 backlog orders took ~48 s before its first event; 8 take ~20 s, and every
# platform shows events and command results well within the first minute. Orders keep arriving
# (one a minute per platform). The backfill reaches a week back, and so does the demo accounts'
# horizon: C2C lists one day per request, and 30 days of which 23 are empty cost 30 paced
# requests (~26 s) before its first event; 7 cost ~7.
DEMO_SETTINGS = SandboxSettings(
    seed=7, initial_orders=8, history=dt.timedelta(days=7), arrival_rate_per_hour=60.0
)
DEMO_HORIZON = "7d"


def build_sandboxes(
    selected: list[str] | None = None, settings: SandboxSettings = DEMO_SETTINGS
) -> list[Sandbox]:
    chosen = selected or sorted(platforms.registry())
    boxes = []
    for platform in chosen:
        cls = platforms.sandbox_class(platform)
        box = cls(settings=settings)
        assert isinstance(box, Sandbox)  # noqa: S101
        boxes.append(box)
    return boxes


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[asyncio.Event]:
    """An event set by SIGINT/SIGTERM, installed before anything starts so that a Ctrl-C at any
    moment shuts down through the normal path."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)


async def run_up(
    args: argparse.Namespace, out: TextIO = sys.stdout, *, config: Config | None = None
) -> None:
    seconds: float | None = getattr(args, "duration", None)
    with _stop_on_signals() as stop:
        # `--for`: a bounded run (demos, CI) ends exactly as a Ctrl-C would.
        timer = (
            None if seconds is None else asyncio.get_running_loop().call_later(seconds, stop.set)
        )
        try:
            if config is None:
                await _run_up(stop, out)
            else:
                await _run_configured(config, stop, out)
        finally:
            if timer is not None:
                timer.cancel()
    print("stopped", file=out, flush=True)


async def _run_configured(config: Config, stop: asyncio.Event, out: TextIO) -> None:
    """``pipeline up --config``: real endpoints, no sandboxes and no demo driver."""
    accounts = prepare_accounts(config)
    started = time.monotonic()
    async with contextlib.AsyncExitStack() as stack:
        bootstrap, embedded = config.kafka.bootstrap, False
        if not bootstrap:
            broker = await stack.enter_async_context(EmbeddedBroker())
            bootstrap, embedded = broker.bootstrap, True
            print(f"embedded broker (Tansu): bootstrap={bootstrap}", file=out)
        worker = Worker(config, accounts, bootstrap=bootstrap, embedded=embedded)
        print(
            f"workers: pollers and appliers for {len(accounts)} accounts. Ctrl-C stops.",
            file=out,
            flush=True,
        )
        first = liveview.FirstSeen()
        async with asyncio.TaskGroup() as group:
            group.create_task(worker.run(stop))
            group.create_task(liveview.run_view(worker, stop, out, first=first))
        print(liveview.summary(worker, time.monotonic() - started, first), file=out)


def sandbox_config(served: list[ServedSandbox], bootstrap: str) -> tuple[Config, dict[str, str]]:
    """A configuration with one account per served sandbox, secrets by env reference."""
    accounts, environ = [], {}
    for s in served:
        platform = s.sandbox.platform
        credentials = {}
        for key in sorted(platforms.get(platform).credential_keys):
            name = f"PIPELINE_SANDBOX_{platform.upper()}_{key.upper()}"
            environ[name] = f"sandbox-{key}"
            credentials[key] = SecretRef(env=name)
        accounts.append(
            AccountConfig(
                platform=platform,
                account="main",
                base_url=s.base_url,
                token_url=s.root_url + "/connect/token",
                credentials=credentials,
                poll_interval="5s",
                horizon=DEMO_HORIZON,
            )
        )
    return Config(kafka=KafkaConfig(bootstrap=bootstrap), accounts=accounts), environ


async def _run_up(stop: asyncio.Event, out: TextIO) -> None:
    async with EmbeddedBroker() as broker, serve(build_sandboxes(), tick_interval=1.0) as served:
        print(f"embedded broker (Tansu): bootstrap={broker.bootstrap}", file=out)
        for s in served:
            print(f"sandbox {s.sandbox.platform:<10} {s.base_url}", file=out)
        config, environ = sandbox_config(served, broker.bootstrap)
        worker = Worker(
            config, prepare_accounts(config, environ), bootstrap=broker.bootstrap, embedded=True
        )
        print(
            f"workers: pollers and appliers for {len(config.accounts)} accounts; a demo driver "
            "plays the warehouse and accounting teams (commands.v1). Ctrl-C stops.",
            file=out,
            flush=True,
        )
        started = time.monotonic()
        first = liveview.FirstSeen()
        async with KafkaEventPublisher(broker.bootstrap, embedded=True) as publisher:
            driver = DemoDriver(
                publisher=publisher,
                consumer_factory=lambda: AIOKafkaConsumer(
                    **consumer_kwargs(
                        KafkaConfig(bootstrap=broker.bootstrap),
                        group_id="marketplace-pipeline.demo",
                        embedded=True,
                    )
                ),
            )

            def sent() -> str:
                return f"demo driver sent {sum(driver.sent.values())} commands"

            async with (
                serve_metrics(worker, MetricsConfig(port=0)) as metrics,
                asyncio.TaskGroup() as group,
            ):
                if metrics is not None:
                    print(f"metrics: {metrics.url}/metrics (also /healthz, /readyz)", file=out)
                group.create_task(worker.run(stop))
                group.create_task(_after_topics(driver, stop))
                group.create_task(liveview.run_view(worker, stop, out, extra=sent, first=first))
        print(liveview.summary(worker, time.monotonic() - started, first), file=out)


async def _after_topics(driver: DemoDriver, stop: asyncio.Event) -> None:
    await asyncio.sleep(1.0)  # the worker creates the topics first; the driver subscribes after
    await driver.run(stop)


async def run_role(config: Config, roles: frozenset[str] = frozenset({"poll"})) -> None:
    """``pipeline poll|apply|run``: worker roles against the configured broker until a signal."""
    assert config.kafka.bootstrap is not None  # noqa: S101 - checked by the CLI
    with _stop_on_signals() as stop:
        worker = Worker(
            config, prepare_accounts(config), bootstrap=config.kafka.bootstrap, roles=roles
        )
        async with serve_metrics(worker, config.metrics):
            await worker.run(stop)
    if not worker.stopped_cleanly:
        # Tasks ignored even their cancellation; asyncio.run would wait for them forever.
        logging.shutdown()
        os._exit(1)


async def run_sandboxes(
    platform: str | None,
    port: int | None,
    settings: SandboxSettings,
    out: TextIO = sys.stdout,
    *,
    host: str = "127.0.0.1",
) -> None:
    boxes = build_sandboxes([platform] if platform else None, settings)
    ports = None if port is None else [port + i for i in range(len(boxes))]
    with _stop_on_signals() as stop:
        async with serve(boxes, host=host, ports=ports, tick_interval=1.0) as served:
            for s in served:
                print(
                    f"sandbox {s.sandbox.platform:<10} {s.base_url}  control: {s.control_url}",
                    file=out,
                    flush=True,
                )
            await stop.wait()
