"""``pipeline up`` and the worker roles' process entry points.

``pipeline up`` starts everything embedded in one process: the broker, every platform sandbox
with a steady flow of orders, and the poll role with one account per sandbox (its secrets are
the sandboxes' ``sandbox-<key>`` values, passed by reference like any other). It says plainly
what is not part of it yet (the appliers). It runs until Ctrl-C or SIGTERM and then stops each
part within a bound.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator
from typing import TextIO

from pipeline import platforms
from pipeline.broker import EmbeddedBroker
from pipeline.config import AccountConfig, Config, KafkaConfig, SecretRef
from pipeline.sandbox import Sandbox, SandboxSettings, ServedSandbox, serve
from pipeline.worker import Worker, prepare_accounts

DEMO_SETTINGS = SandboxSettings(seed=7, initial_orders=50, arrival_rate_per_hour=30.0)


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


async def run_up(args: argparse.Namespace, out: TextIO = sys.stdout) -> None:
    with _stop_on_signals() as stop:
        await _run_up(stop, out)
    print("stopped", file=out, flush=True)


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
            )
        )
    return Config(kafka=KafkaConfig(bootstrap=bootstrap), accounts=accounts), environ


async def _report(role: Worker, stop: asyncio.Event, out: TextIO, every: float = 10.0) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every):
                await stop.wait()
        fleet = role.fleet
        if fleet is None:
            continue
        parts = []
        for key, poller in sorted(fleet.pollers.items()):
            events = sum(poller.stats.events.values())
            parts.append(f"{key}: {events} events, every {poller.plan.interval:.0f}s")
        print("polled  " + " | ".join(parts), file=out, flush=True)


async def _run_up(stop: asyncio.Event, out: TextIO) -> None:
    async with EmbeddedBroker() as broker, serve(build_sandboxes(), tick_interval=1.0) as served:
        print(f"embedded broker (Tansu): bootstrap={broker.bootstrap}", file=out)
        for s in served:
            print(f"sandbox {s.sandbox.platform:<10} {s.base_url}", file=out)
        config, environ = sandbox_config(served, broker.bootstrap)
        role = Worker(
            config, prepare_accounts(config, environ), bootstrap=broker.bootstrap, embedded=True
        )
        print(
            f"pollers: {len(config.accounts)} accounts → orders.v1, refunds.v1; appliers: "
            "commands.v1 → command-results.v1. NOTE: the demo driver that sends commands is "
            "not part of `pipeline up` yet (use `pipeline send`). Ctrl-C stops.",
            file=out,
            flush=True,
        )
        async with asyncio.TaskGroup() as group:
            group.create_task(role.run(stop))
            group.create_task(_report(role, stop, out))


async def run_role(config: Config, roles: frozenset[str] = frozenset({"poll"})) -> None:
    """``pipeline poll|apply|run``: worker roles against the configured broker until a signal."""
    assert config.kafka.bootstrap is not None  # noqa: S101 - checked by the CLI
    with _stop_on_signals() as stop:
        worker = Worker(
            config, prepare_accounts(config), bootstrap=config.kafka.bootstrap, roles=roles
        )
        await worker.run(stop)


async def run_sandboxes(
    platform: str | None, port: int | None, settings: SandboxSettings, out: TextIO = sys.stdout
) -> None:
    boxes = build_sandboxes([platform] if platform else None, settings)
    ports = None if port is None else [port + i for i in range(len(boxes))]
    with _stop_on_signals() as stop:
        async with serve(boxes, ports=ports, tick_interval=1.0) as served:
            for s in served:
                print(
                    f"sandbox {s.sandbox.platform:<10} {s.base_url}  control: {s.control_url}",
                    file=out,
                    flush=True,
                )
            await stop.wait()
