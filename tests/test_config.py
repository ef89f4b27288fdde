import datetime as dt
from pathlib import Path

import pytest

from pipeline.config import load_config, parse_config, parse_duration, resolve_credentials
from pipeline.errors import ConfigError
from pipeline.masking import mask_text

PLATFORMS = {
    "pazarama": frozenset({"client_id", "client_secret"}),
    "softtr": frozenset({"username", "password"}),
}

GOOD = """
[kafka]
bootstrap = "127.0.0.1:9092"

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


def test_design_example_parses_and_resolves(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("file-secret-value\n")
    cfg = parse_config(GOOD.replace("SECRET_FILE", str(secret)), platforms=PLATFORMS)
    acc = cfg.accounts[0]
    assert acc.key == "pazarama:main"
    assert acc.rate_limit is not None and acc.rate_limit.per_day == 1000
    creds = resolve_credentials(acc, environ={"PZ_ID": "id-from-env"})
    assert creds == {"client_id": "id-from-env", "client_secret": "file-secret-value"}
    assert "file-secret-value" not in mask_text("leaked file-secret-value here")


def test_kafka_bootstrap_is_optional() -> None:
    assert parse_config("", platforms=PLATFORMS).kafka.bootstrap is None


def test_poll_checkpoint_every_defaults_to_a_minute() -> None:
    assert parse_config("", platforms=PLATFORMS).poll.checkpoint_every == "60s"
    cfg = parse_config('[poll]\ncheckpoint_every = "0s"', platforms=PLATFORMS)
    assert parse_duration(cfg.poll.checkpoint_every) == dt.timedelta(0)


@pytest.mark.parametrize(
    ("edit", "path", "message"),
    [
        (('platform = "pazarama"', 'platform = "amazon"'), "accounts[0].platform", "amazon"),
        (('credentials.client_id = { env = "PZ_ID" }', ""), "accounts[0].credentials", "client_id"),
        (('horizon = "30d"', 'horizon = "a month"'), "accounts[0].horizon", "a month"),
        (('base_url = "https://', 'base_url = "ftp://'), "accounts[0].base_url", "ftp"),
        (
            ("rate_limit = { per_minute = 60", "rate_limit = { per_minit = 60"),
            "accounts[0].rate_limit",
            "per_minit",
        ),
        (("[kafka]", "[kafka]\nacks = 1"), "kafka", "acks"),
        (
            ("[kafka]", '[poll]\ncheckpoint_every = "1 min"\n[kafka]'),
            "poll.checkpoint_every",
            "1 min",
        ),
        (("[kafka]", '[poll]\ncheckpoint_evry = "1m"\n[kafka]'), "poll", "checkpoint_evry"),
    ],
)
def test_errors_name_the_path(edit: tuple[str, str], path: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(GOOD.replace(*edit), platforms=PLATFORMS)
    assert info.value.path.startswith(path)
    assert message in str(info.value)


def test_duplicate_account_is_refused() -> None:
    twice = GOOD + GOOD[GOOD.index("[[accounts]]") :]
    with pytest.raises(ConfigError, match="duplicate account pazarama:main"):
        parse_config(twice, platforms=PLATFORMS)


def test_plain_secret_value_in_the_file_is_refused() -> None:
    bad = GOOD.replace('credentials.client_id = { env = "PZ_ID" }', 'credentials.client_id = "abc"')
    with pytest.raises(ConfigError, match="credentials"):
        parse_config(bad, platforms=PLATFORMS)


def test_missing_env_secret_names_the_variable_not_a_value() -> None:
    cfg = parse_config(GOOD.replace("SECRET_FILE", "/nonexistent/x"), platforms=PLATFORMS)
    with pytest.raises(ConfigError, match="PZ_ID is not set") as info:
        resolve_credentials(cfg.accounts[0], environ={})
    assert info.value.path == "accounts[0].credentials.client_id"


def test_unreadable_secret_file(tmp_path: Path) -> None:
    cfg = parse_config(GOOD.replace("SECRET_FILE", str(tmp_path / "nope")), platforms=PLATFORMS)
    with pytest.raises(ConfigError, match="cannot read secret file"):
        resolve_credentials(cfg.accounts[0], environ={"PZ_ID": "x"})


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("[[accounts]\n", platforms=PLATFORMS)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.toml", platforms=PLATFORMS)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 2592000), ("60s", 60), ("5m", 300), ("1h", 3600), ("250ms", 0.25)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("edit", "path", "message"),
    [
        (
            (
                "rate_limit = { per_minute = 60",
                "rate_limit = { commands_share = 1.0, per_minute = 60",
            ),
            "accounts[0].rate_limit.commands_share",
            "< 1",
        ),
        (
            ("[kafka]", "[rate_limit]\ncommands_share = 0\n[kafka]"),
            "rate_limit.commands_share",
            "> 0",
        ),
        (
            ("rate_limit = { per_minute = 60", "rate_limit = { per_minute = 1"),
            "accounts[0].rate_limit.per_minute",
            "at least 2",
        ),
    ],
)
def test_a_commands_share_outside_zero_one_or_an_unsplittable_window_is_refused(
    edit: tuple[str, str], path: str, message: str
) -> None:
    assert edit[0] in GOOD
    with pytest.raises(ConfigError) as info:
        parse_config(GOOD.replace(*edit), platforms=PLATFORMS)
    assert info.value.path == path
    assert message in str(info.value)


def test_commands_share_defaults_to_a_fifth_and_an_account_may_set_its_own() -> None:
    from pipeline.config import commands_share

    config = parse_config(GOOD, platforms=PLATFORMS)
    assert commands_share(config, config.accounts[0]) == 0.2
    text = GOOD.replace("[kafka]", "[rate_limit]\ncommands_share = 0.4\n[kafka]")
    config = parse_config(text, platforms=PLATFORMS)
    assert commands_share(config, config.accounts[0]) == 0.4
    own = text.replace(
        "rate_limit = { per_minute = 60", "rate_limit = { commands_share = 0.5, per_minute = 60"
    )
    config = parse_config(own, platforms=PLATFORMS)
    assert commands_share(config, config.accounts[0]) == 0.5


def test_processes_per_ip_defaults_to_one_and_below_one_is_refused_with_its_path() -> None:
    assert parse_config(GOOD, platforms=PLATFORMS).rate_limit.processes_per_ip == 1
    two = GOOD.replace("[kafka]", "[rate_limit]\nprocesses_per_ip = 2\n[kafka]")
    assert parse_config(two, platforms=PLATFORMS).rate_limit.processes_per_ip == 2
    for bad, message in (("0", ">= 1"), ("1.5", "Expected `int`"), ('"2"', "Expected `int`")):
        text = GOOD.replace("[kafka]", f"[rate_limit]\nprocesses_per_ip = {bad}\n[kafka]")
        with pytest.raises(ConfigError) as info:
            parse_config(text, platforms=PLATFORMS)
        assert info.value.path == "rate_limit.processes_per_ip"
        assert message in str(info.value)


def test_a_worker_divides_the_per_ip_window_by_processes_per_ip() -> None:
    """The key reaches every budget a worker's registry hands out (pipeline.worker)."""
    from pipeline.config import AccountConfig, Config, RateLimitDefaults, SecretRef
    from pipeline.worker import Worker, prepare_accounts

    ecarsi = AccountConfig(
        platform="ecarsi",
        account="main",
        base_url="http://127.0.0.1:9",
        credentials={k: SecretRef(env=f"X_{k.upper()}") for k in ("email", "password")},
    )
    environ = {"X_EMAIL": "e-secret-1", "X_PASSWORD": "p-secret-1"}

    def minute(processes: int, roles: set[str]) -> tuple[int, int, int]:
        config = Config(accounts=[ecarsi], rate_limit=RateLimitDefaults(processes_per_ip=processes))
        accounts = prepare_accounts(config, environ)
        worker = Worker(config, accounts, bootstrap="x", roles=frozenset(roles))
        window = worker.budget("ecarsi", "main").limit.windows[0]
        return window.limit, window.poll_limit, window.command_share

    assert minute(1, {"poll"}) == (60, 48, 12)
    assert minute(2, {"poll"}) == (30, 24, 6)
    assert minute(2, {"apply"}) == (30, 24, 6)
    with pytest.raises(ConfigError) as info:  # refused at the start, not at the first request
        minute(31, {"poll", "apply"})
    assert info.value.path == "rate_limit.processes_per_ip"
