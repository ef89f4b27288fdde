"""The worker of ``pipeline bench fleet``: the configuration an operator would write for the bench's
accounts, and ``pipeline poll --config`` as a child process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.bench.fleet_sandbox import SandboxFleet

if TYPE_CHECKING:
    from pipeline.bench.fleet import FleetSettings

__all__ = ["WorkerProcess", "free_port", "write_config"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(
    path: Path, settings: FleetSettings, box: SandboxFleet, bootstrap: str, metrics_port: int
) -> dict[str, str]:
    """The operator's TOML for every bench account; returns the secrets' environment."""
    lines = ["[metrics]", f"port = {metrics_port}", "", "[kafka]", f'bootstrap = "{bootstrap}"']
    per_host = settings.per_host()
    hosts = len(set(settings.mix()))
    lines += ["", "[http]", f"connections_per_host = {per_host}"]
    lines += [f"connections = {max(100, per_host * hosts)}"]
    environ: dict[str, str] = {}
    for n, platform in enumerate(settings.mix()):
        served = box.ready.sandboxes[platform]
        label = f"fleet-{n:04d}"
        lines += ["", "[[accounts]]", f'platform = "{platform}"', f'account = "{label}"']
        lines += [f'base_url = "{served.base_url}"', f'horizon = "{settings.horizon}"']
        if platform == "pazarama":
            lines.append(f'token_url = "{served.root_url}/connect/token"')
        if settings.poll_interval:
            lines.append(f'poll_interval = "{settings.poll_interval}"')
        for key, value in sorted(served.credentials[label].items()):
            name = f"PIPELINE_BENCH_{n:04d}_{key.upper()}"
            environ[name] = value
            lines.append(f'credentials.{key} = {{ env = "{name}" }}')
    path.write_text("\n".join(lines) + "\n")
    return environ


class WorkerProcess:
    """``pipeline poll --config FILE`` (under cProfile with ``profile``); output to a log file."""

    def __init__(self, config: Path, environ: dict[str, str], log: Path, profile: str | None):
        self._argv = [sys.executable]
        if profile:
            self._argv += ["-m", "cProfile", "-o", profile]
        self._argv += ["-m", "pipeline.cli", "poll", "--config", str(config)]
        self._environ = {**os.environ, **environ}
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=self._environ,
            )

    async def stop(self, within: float = 30.0) -> int | None:
        """SIGTERM, wait ``within``, then SIGKILL (idempotent)."""
        proc = self.proc
        if proc is None:
            return None
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):
                    await proc.wait()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        return proc.returncode

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
