"""``pipeline config check FILE`` as a process: exit codes, every error with its path, secrets
never echoed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

GOOD = """
[kafka]
bootstrap = "127.0.0.1:9092"

[[accounts]]
platform = "pazarama"
account = "main"
base_url = "https://isortagimapi.pazarama.com"
token_url = "https://isortagimgiris.pazarama.com/connect/token"
credentials.client_id = { env = "CLI_TEST_PZ_ID" }
credentials.client_secret = { env = "CLI_TEST_PZ_SECRET" }
poll_interval = "60s"
"""

# Each mistake, then the path the check must print for it.
BAD = """
[kafka]
bootstrap = "k:9092"
security_protocol = "PLAINTEX"

[metrics]
port = 70000

[[accounts]]
platform = "trendyol"
account = "main"
base_url = "https://example.com"
credentials.api_key = { env = "X" }

[[accounts]]
platform = "pazarama"
account = "main"
base_url = "https://a.example"
credentials.client_id = "plain-secret-value-123"
credentials.client_secret = { env = "B" }
horizon = "30 days"
"""
BAD_PATHS = (
    "kafka.security_protocol",
    "metrics.port",
    "accounts[0].platform",
    "accounts[1].credentials.client_id",
    "accounts[1].horizon",
)
ENV = {"CLI_TEST_PZ_ID": "id-value", "CLI_TEST_PZ_SECRET": "secret-value"}


def test_a_good_file_is_ok_and_exits_0(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(GOOD)
    proc = cli.run("config", "check", str(path), "--strict", env=ENV)
    assert (proc.returncode, proc.stdout.strip()) == (0, f"{path}: OK"), proc


def test_an_unresolvable_secret_is_a_warning_or_with_strict_an_error(
    cli: Any, tmp_path: Path
) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(GOOD)
    env = {"CLI_TEST_PZ_ID": "", "CLI_TEST_PZ_SECRET": "secret-value"}
    proc = cli.run("config", "check", str(path), env=env)
    assert proc.returncode == 0 and "1 warning(s)" in proc.stdout, proc
    assert "accounts[0].credentials.client_id" in proc.stdout
    proc = cli.run("config", "check", str(path), "--strict", env=env)
    assert proc.returncode == 1 and "1 error(s)" in proc.stdout, proc


def test_a_bad_file_lists_every_error_with_its_path_and_exits_1(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(BAD)
    proc = cli.run("config", "check", str(path))
    assert proc.returncode == 1, proc
    errors = {
        line.split()[1].rstrip(":")
        for line in proc.stdout.splitlines()
        if line.startswith("  error ")
    }
    assert errors == set(BAD_PATHS), proc.stdout
    assert proc.stdout.rstrip().endswith(f"{path}: 5 error(s), 2 warning(s)")
    assert "plain-secret-value-123" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("text", "where"),
    [("[kafka\nbootstrap = 1\n", "not valid TOML"), (None, "cannot read")],
)
def test_invalid_toml_or_a_missing_file_is_reported_and_exits_1(
    cli: Any, tmp_path: Path, text: str | None, where: str
) -> None:
    path = tmp_path / "fleet.toml"
    if text is not None:
        path.write_text(text)
    proc = cli.run("config", "check", str(path))
    assert proc.returncode == 1, proc
    assert where in proc.stdout, proc.stdout
    assert proc.stdout.rstrip().endswith(f"{path}: 1 error(s), 0 warning(s)")
    assert "Traceback" not in proc.stderr
