"""Real worker processes against sandboxes, shared by the process tests and the chaos run.

* :func:`write_config`: the operator's TOML for a set of sandbox accounts (secrets by
  ``{ env = ... }``, returned as the environment to start the workers with);
* :class:`WorkerProcess`: one ``pipeline run|poll|apply --config FILE`` process, its output in a
  log file, with SIGKILL, SIGTERM-and-wait and "wait until the log says" helpers;
* :func:`wait_for_polls`: until every stream has a checkpoint from a cycle begun after a moment;
* :func:`send_commands`: commands (and raw poison bytes) onto ``commands.v1``.

Failures raise :class:`ProcessFailure` (an ``AssertionError``: a test reports it as a failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer

from pipeline import checker, platforms
from pipeline.errors import BrokerError
from pipeline.sandbox import ServedSandbox
from pipeline.topics import ensure_topics
from schemas import AnyCommand, command_attributes, encode_command, to_headers, topics

__all__ = [
    "ProcessFailure",
    "SandboxAccount",
    "WorkerProcess",
    "accounts_of_served",
    "send_commands",
    "wait_for_polls",
    "write_config",
]

#: A consumer-group session a broker on this host can afford (joins on Tansu take about half of
#: it, and a SIGKILLed member is noticed after it).
SESSION_MS = 2_000
Stream = tuple[str, str, str]  # (platform, account, stream)


class ProcessFailure(AssertionError):
    """A worker process did not do what it was expected to (its log's tail attached)."""


@dataclass(frozen=True, slots=True)
class SandboxAccount:
    """One sandbox tenant as a worker's configuration names it."""

    platform: str
    label: str
    root_url: str
    base_url: str
    credentials: Mapping[str, str]


def accounts_of_served(served: Iterable[ServedSandbox]) -> list[SandboxAccount]:
    return [
        SandboxAccount(s.sandbox.platform, label, s.root_url, s.base_url, dict(t.credentials))
        for s in served
        for label, t in s.sandbox.tenants.items()
    ]


def write_config(
    path: Path,
    accounts: Sequence[SandboxAccount],
    bootstrap: str,
    *,
    env_prefix: str = "PIPELINE",
    session_ms: int = SESSION_MS,
    head: Sequence[str] = (),
    account_lines: Callable[[SandboxAccount], Sequence[str]] = lambda account: (),
) -> dict[str, str]:
    """Write the TOML; returns the environment holding the secrets it refers to. ``head``:
    extra top-level lines (tables such as ``[http]``); ``account_lines``: extra keys per account."""
    lines = [*head, "", "[kafka]", f'bootstrap = "{bootstrap}"']
    lines += [f"session_timeout_ms = {session_ms}", f"heartbeat_interval_ms = {session_ms // 10}"]
    environ: dict[str, str] = {}
    for account in accounts:
        platform, label = account.platform, account.label
        lines += ["", "[[accounts]]", f'platform = "{platform}"', f'account = "{label}"']
        lines.append(f'base_url = "{account.base_url}"')
        if platform == "pazarama":
            lines.append(f'token_url = "{account.root_url}/connect/token"')
        lines += list(account_lines(account))
        for key in sorted(account.credentials):
            name = f"{env_prefix}_{platform}_{label}_{key}".upper()
            environ[name] = account.credentials[key]
            lines.append(f'credentials.{key} = {{ env = "{name}" }}')
    path.write_text("\n".join(lines) + "\n")
    return environ


class WorkerProcess:
    """One ``pipeline <role> --config FILE`` process; its output goes to ``log_dir/<name>.log``."""

    def __init__(
        self,
        name: str,
        config: Path,
        environ: Mapping[str, str],
        log_dir: Path,
        *,
        role: str = "poll",
    ) -> None:
        self.name = name
        self.config = config
        self.role = role
        self.environ = {**os.environ, **environ}
        self.log_path = log_dir / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.started_at = 0.0

    async def start(self) -> WorkerProcess:
        with self.log_path.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "pipeline.cli",
                "--log-level",
                "INFO",
                self.role,
                "--config",
                str(self.config),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=self.environ,
            )
        self.started_at = time.monotonic()
        return self

    def _started(self) -> asyncio.subprocess.Process:
        if self.proc is None:
            raise ProcessFailure(f"{self.name} was never started")
        return self.proc

    @property
    def pid(self) -> int:
        return self._started().pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def kill(self) -> None:
        proc = self._started()
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)
        await proc.wait()

    async def stop(self, within: float = 20.0) -> int:
        """SIGTERM and wait; SIGKILL (and raise) if it does not stop in time."""
        proc = self._started()
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(within):
                return await proc.wait()
        except TimeoutError:
            await self.kill()
            raise ProcessFailure(
                f"{self.name} did not stop within {within}s of SIGTERM:\n{self.tail()}"
            ) from None

    def text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.text().splitlines()[-lines:])

    def intervals(self) -> dict[str, float]:
        """The poll interval each account last planned, from the log ("polling every 650s")."""
        found = re.finditer(r"(\S+): polling every (\d+)s", self.text())
        return {match.group(1): float(match.group(2)) for match in found}

    def owned(self) -> set[str]:
        """Accounts this worker holds according to its log ("took over" minus "released")."""
        held: set[str] = set()
        for match in re.finditer(r"(took over|released) (\S+)", self.text()):
            if match.group(1) == "took over":
                held.add(match.group(2))
            else:
                held.discard(match.group(2))
        return held

    async def wait_for(self, pattern: str, *, count: int = 1, within: float = 60.0) -> float:
        """Wait until ``pattern`` occurs ``count`` times in the log; returns monotonic time."""
        regex = re.compile(pattern)
        try:
            async with asyncio.timeout(within):
                while len(regex.findall(self.text())) < count:
                    if not self.running:
                        raise ProcessFailure(f"{self.name} exited:\n{self.tail()}")
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise ProcessFailure(
                f"{self.name}: no {pattern!r} x{count} within {within}s:\n{self.tail()}"
            ) from None
        return time.monotonic()

    async def aclose(self) -> None:
        if self.running:
            await self.kill()


async def wait_for_polls(
    bootstrap: str,
    accounts: Iterable[tuple[str, str]],
    *,
    after: dt.datetime,
    within: float = 60.0,
    excused: Callable[[Stream, checker.Observation | None], bool] = lambda key, obs: False,
) -> dict[Stream, checker.Observation]:
    """Until every stream of every account has a checkpoint whose cursor and sweep are later
    than ``after`` (a complete cycle began after that moment), or is ``excused``."""
    wanted = {
        (p, a, stream) for p, a in accounts for stream in platforms.get(p).capabilities.streams
    }
    pending = wanted
    try:
        async with asyncio.timeout(within):
            while True:
                with contextlib.suppress(BrokerError):
                    observed = await checker.read_observations(bootstrap, max_wait=10)
                    pending = {
                        k
                        for k in wanted
                        if not (k in observed and observed[k].since > after)
                        and not excused(k, observed.get(k))
                    }
                    if not pending:
                        return observed
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise ProcessFailure(
            f"no complete cycle after {after:%H:%M:%S} within {within}s: {sorted(pending)}"
        ) from None


async def send_commands(
    bootstrap: str,
    commands: Sequence[AnyCommand],
    poison: Sequence[tuple[bytes, bytes, Sequence[tuple[str, bytes]]]] = (),
) -> None:
    """Produce ``commands`` (keyed by account, with their CloudEvents headers) and ``poison``
    records ``(key, value, headers)`` as they are, to ``commands.v1``; waits for every ack."""
    await ensure_topics(bootstrap, replication_factor=1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(
                topics.COMMANDS,
                encode_command(c),
                key=topics.account_key(c.platform, c.account),
                headers=to_headers(command_attributes(c)),
            )
            for c in commands
        ]
        futures += [
            await producer.send(topics.COMMANDS, value, key=key, headers=list(headers))
            for key, value, headers in poison
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
