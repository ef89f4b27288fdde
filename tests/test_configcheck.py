"""``pipeline config check``: every problem with its path; environment overrides."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import msgspec
import pytest

from pipeline import platforms
from pipeline.config import Config, KafkaConfig, SecretRef, load_config, parse_config
from pipeline.configcheck import (
    ENV_OVERRIDES,
    Problem,
    apply_env_overrides,
    check_file,
    check_text,
    register,
    report,
)
from pipeline.errors import ConfigError
from pipeline.ratelimit import MINUTE, RateLimit, Window

PLATFORMS = platforms.credential_keys()

GOOD = """
[kafka]
bootstrap = "127.0.0.1:9092"

[metrics]
port = 9500

[poll]
checkpoint_every = "2m"

[[accounts]]
platform = "pazarama"
account = "main"
base_url = "https://isortagimapi.pazarama.com"
token_url = "https://isortagimgiris.pazarama.com/connect/token"
credentials.client_id = { env = "PZ_ID" }
credentials.client_secret = { file = "SECRET_FILE" }
rate_limit = { per_minute = 60, per_day = 1000 }
horizon = "30d"
poll_interval = "60s"
"""

# One of each mistake; the comment is the path the check must report.
BAD = """
[kafka]
bootstrap = "k:9092"
security_protocol = "PLAINTEX"               # kafka.security_protocol
sesion_timeout_ms = 10000                    # kafka.sesion_timeout_ms
ssl_cafile = "/etc/ca.pem"                   # kafka.ssl_cafile (protocol is not SSL)

[http]
total_timeout = "30s"                        # http.total_timeout

[metrics]
port = 70000                                 # metrics.port

[poll]
checkpoint_every = "a minute"                # poll.checkpoint_every

[[accounts]]
platform = "trendyol"                        # accounts[0].platform
account = "main"
base_url = "ftp://example.com"               # accounts[0].base_url
credentials.api_key = { env = "X" }

[[accounts]]
platform = "pazarama"
account = "main"
base_url = "https://a.example"
credentials.client_id = "plain-secret-value-123"    # accounts[1].credentials.client_id
credentials.client_secrett = { env = "B" }          # accounts[1].credentials.client_secrett
horizon = "30 days"                                 # accounts[1].horizon
poll_interval = 60                                  # accounts[1].poll_interval
rate_limit = { per_minute = 0 }                     # accounts[1].rate_limit.per_minute

[[accounts]]
platform = "pazarama"
account = "main"                                    # accounts[2].account (duplicate)
base_url = "https://a.example"
credentials.client_id = { env = "A", file = "/f" }  # accounts[2].credentials.client_id
credentials.client_secret = { path = "/f" }         # accounts[2].credentials.client_secret.path
enabled = "yes"                                     # accounts[2].enabled
"""


def _good(tmp_path: Path) -> str:
    secret = tmp_path / "secret"
    secret.write_text("file-secret-value\n")
    return GOOD.replace("SECRET_FILE", str(secret))


def _errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def test_a_good_file_has_no_problem_and_loads(tmp_path: Path) -> None:
    text = _good(tmp_path)
    assert check_text(text, platforms=PLATFORMS, environ={"PZ_ID": "x1234"}, strict=True) == []
    assert parse_config(text, platforms=PLATFORMS).metrics.port == 9500


def test_every_error_is_reported_with_its_path() -> None:
    problems = check_text(BAD, platforms=PLATFORMS, environ={})
    paths = {p.path for p in _errors(problems)}
    expected = {
        line.rpartition("# ")[2].split(" ")[0]
        for line in BAD.splitlines()
        if "# " in line and not line.startswith("#")
    }
    assert expected <= paths, sorted(expected - paths)
    assert "accounts[1].credentials" in paths  # client_secret missing
    by_path = {p.path: p.message for p in problems}
    assert "did you mean 'session_timeout_ms'" in by_path["kafka.sesion_timeout_ms"]
    assert "unknown platform 'trendyol'" in by_path["accounts[0].platform"]
    assert "duplicate account pazarama:main (also accounts[1])" in by_path["accounts[2].account"]
    assert "exactly one of" in by_path["accounts[2].credentials.client_id"]


def test_a_plain_secret_is_refused_and_never_echoed() -> None:
    problems = check_text(BAD, platforms=PLATFORMS, environ={})
    plain = [p for p in problems if p.path == "accounts[1].credentials.client_id"]
    assert plain and "secrets by reference only" in plain[0].message
    out = io.StringIO()
    assert report("bad.toml", problems, out) == 1
    assert "plain-secret-value-123" not in out.getvalue()
    assert out.getvalue().count("\n") == len(problems) + 1


def test_unresolvable_secrets_are_warnings_or_errors_when_strict(tmp_path: Path) -> None:
    text = GOOD.replace("SECRET_FILE", str(tmp_path / "missing"))
    problems = check_text(text, platforms=PLATFORMS, environ={})
    assert {(p.path, p.severity) for p in problems} == {
        ("accounts[0].credentials.client_id", "warning"),
        ("accounts[0].credentials.client_secret", "warning"),
    }
    assert "PZ_ID is not set" in problems[0].message
    assert report("f.toml", problems, io.StringIO()) == 0
    strict = check_text(text, platforms=PLATFORMS, environ={}, strict=True)
    assert [p.severity for p in strict] == ["error", "error"]
    assert report("f.toml", strict, io.StringIO()) == 1


def test_invalid_toml_is_one_problem_with_its_line() -> None:
    problems = check_text("[kafka]\nbootstrap = \n", platforms=PLATFORMS, environ={})
    assert len(problems) == 1 and "line 2" in problems[0].message


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    problems = check_file(tmp_path / "nope.toml", platforms=PLATFORMS, environ={})
    assert len(problems) == 1 and "cannot read" in problems[0].message


@pytest.mark.parametrize(
    "snippet",
    [
        '[kafka]\nsecurity_protocol = "SASL_SSL"\nbootstrap = "k:1"\n',  # SASL without settings
        '[kafka]\nbootstrap = "k:1"\nsasl_mechanism = "PLAIN"\n',  # SASL settings, no SASL
        '[[accounts]]\nplatform = "c2c"\naccount = " "\nbase_url = "https://x"\n'
        'credentials.domain = { env = "D" }\ncredentials.api_key = { env = "K" }\n'
        'credentials.api_password = { env = "P" }\n',  # blank label
        "[[accounts]]\nplatform = 1\n",
        "accounts = 3\n",
        "[nope]\n",
    ],
)
def test_the_check_is_never_more_lenient_than_the_workers(snippet: str) -> None:
    assert _errors(check_text(snippet, platforms=PLATFORMS, environ={}))
    with pytest.raises(ConfigError):
        config = parse_config(snippet, platforms=PLATFORMS)
        from pipeline.kafka_settings import connection_kwargs

        connection_kwargs(config.kafka, environ={})


def test_register_adds_config_check_to_a_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="pipeline")
    register(parser.add_subparsers(dest="command", required=True))
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD)
    args = parser.parse_args(["config", "check", str(bad)])
    assert args.func(args) == 1
    out = capsys.readouterr().out
    assert "accounts[1].horizon" in out and "plain-secret-value-123" not in out
    good = tmp_path / "good.toml"
    good.write_text(_good(tmp_path).replace('{ env = "PZ_ID" }', f'{{ file = "{bad}" }}'))
    args = parser.parse_args(["config", "check", "--strict", str(good)])
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip() == f"{good}: OK"


# --- environment overrides ------------------------------------------------------------------


def test_overrides_replace_kafka_and_metrics_settings() -> None:
    config = Config(kafka=KafkaConfig(bootstrap="file:9092", sasl_password=SecretRef(env="P")))
    env = {
        "PIPELINE_KAFKA_BOOTSTRAP": "env-1:9092,env-2:9092",
        "PIPELINE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "PIPELINE_KAFKA_SASL_PASSWORD_FILE": "/run/secrets/kafka",
        "PIPELINE_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "PIPELINE_METRICS_PORT": "9600",
        "PIPELINE_METRICS_ENABLED": "false",
        "PIPELINE_METRICS_HOST": "",  # empty: not set
    }
    out = apply_env_overrides(config, env)
    assert out.kafka.bootstrap == "env-1:9092,env-2:9092"
    assert out.kafka.security_protocol == "SASL_SSL"
    assert out.kafka.sasl_password == SecretRef(file="/run/secrets/kafka")  # replaced whole
    assert out.kafka.session_timeout_ms == 6000
    assert (out.metrics.port, out.metrics.enabled, out.metrics.host) == (9600, False, "127.0.0.1")
    assert apply_env_overrides(config, {}) is config


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PIPELINE_KAFKA_SECURITY_PROTOCOL", "TLS"),
        ("PIPELINE_METRICS_PORT", "http"),
        ("PIPELINE_METRICS_PORT", "70000"),
        ("PIPELINE_KAFKA_HEARTBEAT_INTERVAL_MS", "3s"),
    ],
)
def test_an_invalid_override_names_its_variable(name: str, value: str) -> None:
    env = {"PIPELINE_KAFKA_BOOTSTRAP": "ok:9092", name: value}
    with pytest.raises(ConfigError) as info:
        apply_env_overrides(Config(), env)
    assert info.value.path == name
    problems = check_text("", platforms=PLATFORMS, environ=env)
    assert [(p.path, p.severity) for p in problems if p.path.startswith("PIPELINE")] == [
        (name, "error")
    ]


def test_unknown_override_variables_are_warned_about() -> None:
    text = (
        '[kafka]\nsasl_password = { env = "PIPELINE_KAFKA_PASS" }\nsecurity_protocol = "SASL_SSL"'
    )
    env = {"PIPELINE_KAFKA_BOOTSTRAPS": "x:1", "PIPELINE_KAFKA_PASS": "secret-ref-target"}
    problems = check_text(text, platforms=PLATFORMS, environ=env)
    typo = [p for p in problems if p.path == "PIPELINE_KAFKA_BOOTSTRAPS"]
    assert typo and typo[0].severity == "warning"
    assert "PIPELINE_KAFKA_BOOTSTRAP?" in typo[0].message
    assert not [p for p in problems if p.path == "PIPELINE_KAFKA_PASS"]  # a secret's variable


def test_load_config_applies_the_overrides(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text('[kafka]\nbootstrap = "file:9092"\n')
    env = {"PIPELINE_KAFKA_BOOTSTRAP": "env:9092"}
    assert load_config(path, platforms=PLATFORMS, environ=env).kafka.bootstrap == "env:9092"
    assert load_config(path, platforms=PLATFORMS, environ={}).kafka.bootstrap == "file:9092"


def test_every_override_targets_a_real_key() -> None:
    for name, (section, key) in ENV_OVERRIDES.items():
        struct = getattr(Config(), section)
        field = key.partition(".")[0]
        assert field in msgspec.structs.asdict(struct), name
        assert name == f"PIPELINE_{section.upper()}_{key.replace('.', '_').upper()}"


def test_a_commands_share_outside_zero_one_and_a_window_of_one_are_reported(
    tmp_path: Path,
) -> None:
    text = _good(tmp_path).replace(
        "rate_limit = { per_minute = 60, per_day = 1000 }",
        "rate_limit = { per_minute = 1, per_day = 1000, commands_share = 1.5 }",
    )
    text = "[rate_limit]\ncommands_share = 0.0\n" + text
    problems = check_text(text, platforms=PLATFORMS, environ={"PZ_ID": "x1234"}, strict=True)
    by_path = {p.path: p.message for p in _errors(problems)}
    assert by_path["rate_limit.commands_share"] == "must be more than 0 (got 0.0)"
    assert by_path["accounts[0].rate_limit.commands_share"] == "must be less than 1 (got 1.5)"
    assert "must be at least 2 (got 1)" in by_path["accounts[0].rate_limit.per_minute"]
    fixed = text.replace("commands_share = 0.0", "commands_share = 0.3")
    fixed = fixed.replace("per_minute = 1,", "per_minute = 2,").replace("= 1.5", "= 0.5")
    assert _errors(check_text(fixed, platforms=PLATFORMS, environ={"PZ_ID": "x1234"})) == []


ECARSI = """
[[accounts]]
platform = "ecarsi"
account = "{name}"
base_url = "https://ecarsi.example/api"
credentials.email = {{ env = "EC_EMAIL" }}
credentials.password = {{ env = "EC_PASSWORD" }}
"""


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "must be at least 1 (got 0)"),
        ('"2"', "expected an integer, got a string"),
        (
            "31",
            "ecarsi: 60 per 60s per IP divided between 31 processes leaves 1; must leave at"
            " least 2: polls and commands each keep a share of every window"
            " (accounts ecarsi:main, ecarsi:outlet)",
        ),
    ],
)
def test_a_processes_per_ip_below_1_or_leaving_a_per_ip_window_below_2_is_reported(
    tmp_path: Path, value: str, message: str
) -> None:
    text = (
        f"[rate_limit]\nprocesses_per_ip = {value}\n"
        + _good(tmp_path)
        + ECARSI.format(name="main")
        + ECARSI.format(name="outlet")
    )
    environ = {"PZ_ID": "x1234", "EC_EMAIL": "e", "EC_PASSWORD": "p"}
    problems = check_text(text, platforms=PLATFORMS, environ=environ, strict=True)
    assert [(p.path, p.message) for p in _errors(problems)] == [
        ("rate_limit.processes_per_ip", message)
    ]
    fixed = text.replace(f"processes_per_ip = {value}", "processes_per_ip = 30")
    assert _errors(check_text(fixed, platforms=PLATFORMS, environ=environ)) == []


def test_processes_per_ip_is_checked_against_the_accounts_own_limits_and_the_given_table(
    tmp_path: Path,
) -> None:
    environ = {"PZ_ID": "x1234", "EC_EMAIL": "e", "EC_PASSWORD": "p"}
    text = "[rate_limit]\nprocesses_per_ip = 4\n" + _good(tmp_path) + ECARSI.format(name="main")
    assert _errors(check_text(text, platforms=PLATFORMS, environ=environ)) == []
    # An account's own per-minute for e-Çarşı is the address's limit: 6 / 4 leaves 1.
    own = text + "rate_limit = { per_minute = 6 }\n"
    errors = _errors(check_text(own, platforms=PLATFORMS, environ=environ))
    assert [(p.path, "leaves 1" in p.message) for p in errors] == [
        ("rate_limit.processes_per_ip", True)
    ]
    # The workers' table (the platform registry's) is what `pipeline config check` passes.
    table = {"ecarsi": RateLimit((Window(limit=7, period=MINUTE, shared=True),))}
    errors = _errors(check_text(text, platforms=PLATFORMS, environ=environ, limits=table))
    assert [p.path for p in errors] == ["rate_limit.processes_per_ip"]
    disabled = text.replace(
        'account = "main"\nbase_url = "https://ecarsi',
        'account = "main"\nenabled = false\nbase_url = "https://ecarsi',
    )
    assert "enabled = false" in disabled
    assert _errors(check_text(disabled, platforms=PLATFORMS, environ=environ, limits=table)) == []
