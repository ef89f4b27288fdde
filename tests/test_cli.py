"""The CLI as a user meets it: real processes, real ports on 127.0.0.1, Ctrl-C to stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipeline.broker import find_free_port
from pipeline.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 20) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return lines
    proc.kill()
    pytest.fail(f"{marker!r} not seen; output: {''.join(lines)}")


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("did not stop within 15 s of Ctrl-C")
    assert proc.returncode == 0, out
    return out


def test_sandbox_serves_one_platform_on_the_given_port() -> None:
    port = find_free_port()
    proc = _start("sandbox", "--platform", "pazarama", "--port", str(port))
    lines = _read_until(proc, "pazarama")
    assert f"http://127.0.0.1:{port}" in "".join(lines)
    url = f"http://127.0.0.1:{port}/_sandbox/state"
    with urllib.request.urlopen(url, timeout=5) as resp:
        state = json.loads(resp.read())
    assert len(state["main"]["orders"]) >= 50
    _stop(proc)


def test_up_runs_the_whole_loop_and_prints_a_summary_on_ctrl_c() -> None:
    proc = _start("up")
    lines = "".join(_read_until(proc, "Ctrl-C stops", timeout=30))
    assert "bootstrap=127.0.0.1:" in lines
    for platform in ("c2c", "ecarsi", "pazarama", "softtr", "webservis"):
        assert f"sandbox {platform}" in lines
    view = "".join(_read_until(proc, "demo driver sent", timeout=30))
    assert "events" in view and "applied" in view
    out = _stop(proc)
    assert "summary after" in out and "stopped" in out


def test_schemas_check_reports_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schemas", "check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_unknown_platform_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "--platform", "amazon"]) == 2
    assert "unknown platform 'amazon'" in capsys.readouterr().err


def test_up_with_a_config_runs_its_accounts_on_the_embedded_broker(tmp_path: Path) -> None:
    port = find_free_port()
    sandbox = _start("sandbox", "--platform", "softtr", "--port", str(port), "--orders", "5")
    try:
        _read_until(sandbox, "softtr")
        config = tmp_path / "fleet.toml"
        config.write_text(
            '[metrics]\nport = 0\n\n[[accounts]]\nplatform = "softtr"\naccount = "shop"\n'
            f'base_url = "http://127.0.0.1:{port}/api"\n'
            'credentials.username = { env = "T_USER" }\n'
            'credentials.password = { env = "T_PASS" }\npoll_interval = "2s"\n'
        )
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "T_USER": "sandbox-username",
            "T_PASS": "sandbox-password",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "up", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=ROOT,
        )
        lines = "".join(_read_until(proc, "Ctrl-C stops", timeout=30))
        assert "embedded broker" in lines and "1 accounts" in lines
        view = "".join(_read_until(proc, "ev/s", timeout=30))
        assert "events" in view
        out = _stop(proc)
        assert "summary after" in out
    finally:
        _stop(sandbox)
