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


PLATFORMS = ("c2c", "ecarsi", "pazarama", "softtr", "webservis")


def _rows(text: str) -> dict[str, tuple[int, int]]:
    """The live view's (or summary's) last row per platform: (events, command results)."""
    rows: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) == 11 and words[0] in PLATFORMS and words[1].isdigit():
            rows[words[0]] = (int(words[1]), sum(int(w) for w in words[3:8]))
    return rows


@pytest.mark.timeout(120)
def test_up_shows_events_and_command_results_for_every_platform_then_a_summary() -> None:
    # `--for` bounds the run; the test stops it with Ctrl-C as soon as the view shows the
    # whole loop (events and command results on all five platforms), as a user would.
    proc = _start("up", "--for", "90s")
    lines = "".join(_read_until(proc, "Ctrl-C stops", timeout=30))
    assert "bootstrap=127.0.0.1:" in lines
    for platform in PLATFORMS:
        assert f"sandbox {platform}" in lines
    seen = ""
    while True:
        seen += "".join(_read_until(proc, "demo driver sent", timeout=30))
        rows = _rows(seen)
        if len(rows) == len(PLATFORMS) and all(e > 0 and r > 0 for e, r in rows.values()):
            break
    assert "webservis: no write API" in seen
    out = _stop(proc)
    assert "summary after" in out and out.rstrip().endswith("stopped")
    summary = out[out.index("summary after") :]
    rows = _rows(summary)
    assert sorted(rows) == sorted(PLATFORMS)
    assert all(events > 0 and results > 0 for events, results in rows.values()), summary
    first = summary[summary.index("first after") :].splitlines()[1:6]
    assert [line.split()[0] for line in first] == sorted(PLATFORMS)
    assert not any("none" in line for line in first), summary


def test_schemas_check_reports_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schemas", "check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_up_for_takes_a_duration(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["up", "--for", "5 minutes"])
    assert exc.value.code == 2
    assert "invalid duration '5 minutes'" in capsys.readouterr().err


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
            [sys.executable, "-m", "pipeline.cli", "up", "--config", str(config), "--for", "12s"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=ROOT,
        )
        lines = "".join(_read_until(proc, "Ctrl-C stops", timeout=30))
        assert "embedded broker" in lines and "1 accounts" in lines
        out, _ = proc.communicate(timeout=40)  # `--for 12s` ends it as a Ctrl-C would
        assert proc.returncode == 0, out
        assert "ev/s" in out and "summary after" in out and out.rstrip().endswith("stopped")
        assert _rows(out[out.index("summary after") :])["softtr"][0] > 0
    finally:
        _stop(sandbox)
