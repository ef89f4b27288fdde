"""Configuration: one TOML file (shape in DESIGN.md "Contract"), decoded once into frozen Structs.

Secrets are never in the file: every credential is a reference, ``{ env = "NAME" }`` or
``{ file = "/run/secrets/x" }``, resolved by :meth:`SecretRef.resolve`, which registers the value
with :mod:`pipeline.masking` so it can never reach a log. This is the only module that reads
``os.environ`` (through the ``environ`` mapping passed in, so tests pass their own).

Errors are :class:`~pipeline.errors.ConfigError` with the path of the offending key
(``accounts[1].credentials.client_id``) and never the secret's value.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from pipeline.errors import ConfigError
from pipeline.masking import register_secret
from pipeline.metrics import MetricsConfig
from pipeline.ratelimit import DEFAULT_COMMANDS_SHARE

#: Of every rate window, the fraction kept for commands (pipeline.ratelimit, "role shares").
CommandsShare = Annotated[float, msgspec.Meta(gt=0, lt=1)]
#: Processes of one role sending from this host's egress IP (pipeline.ratelimit, per-IP windows).
ProcessesPerIp = Annotated[int, msgspec.Meta(ge=1)]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str, *, path: str = "") -> dt.timedelta:
    """``"90s"``, ``"5m"``, ``"1h"``, ``"30d"``, ``"250ms"`` → timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"invalid duration {text!r} (use e.g. 30s, 5m, 1h, 30d)", path=path)
    return dt.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


class SecretRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where a secret lives: an environment variable or a file (exactly one)."""

    env: str | None = None
    file: str | None = None

    def resolve(self, *, path: str, environ: Mapping[str, str] | None = None) -> str:
        environ = os.environ if environ is None else environ
        if (self.env is None) == (self.file is None):
            raise ConfigError("a secret needs exactly one of `env` or `file`", path=path)
        if self.env is not None:
            value = environ.get(self.env)
            if not value:
                raise ConfigError(f"environment variable {self.env} is not set", path=path)
        else:
            assert self.file is not None  # noqa: S101 - checked above
            try:
                value = Path(self.file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    f"cannot read secret file {self.file}: {exc.strerror}", path=path
                ) from None
            if not value:
                raise ConfigError(f"secret file {self.file} is empty", path=path)
        register_secret(value)
        return value


class RateLimitConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    per_second: int | None = None
    per_minute: int | None = None
    per_hour: int | None = None
    per_day: int | None = None
    #: This account's commands share; the file's ``[rate_limit] commands_share`` when unset.
    commands_share: CommandsShare | None = None


class RateLimitDefaults(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[rate_limit]``: what every account's rate budget takes unless it says otherwise."""

    commands_share: CommandsShare = DEFAULT_COMMANDS_SHARE
    #: How many worker processes of the same role (pollers; appliers; a ``pipeline run`` counts
    #: in both) send to the platforms from this host's egress IP: every per-IP (``shared``)
    #: window is divided between them. Whether the value leaves every such window at least 2
    #: requests depends on the platforms' limits: the rate-limit registry checks it (a worker at
    #: start, ``pipeline config check`` too).
    processes_per_ip: ProcessesPerIp = 1


class AccountConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    platform: str
    account: str
    base_url: str
    credentials: dict[str, SecretRef]
    token_url: str | None = None
    rate_limit: RateLimitConfig | None = None
    horizon: str = "30d"
    poll_interval: str | None = None
    enabled: bool = True

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.account}"


class KafkaConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Broker connection. Without ``bootstrap``, ``pipeline up`` starts the embedded broker."""

    bootstrap: str | None = None
    client_id: str = "marketplace-pipeline"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: SecretRef | None = None
    sasl_password: SecretRef | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    #: Consumer-group timing (ms). A shorter session hands a dead worker's accounts over
    #: sooner; Kafka's defaults apply when unset (10 s session, 3 s heartbeat).
    session_timeout_ms: int | None = None
    heartbeat_interval_ms: int | None = None
    #: Producer compression. zstd: ~6 µs per 2.4 KB event at a 7x ratio, where gzip (level 9
    #: in aiokafka) costs ~60 µs for the same ratio; every Kafka >= 2.1 client reads it.
    compression: Literal["zstd", "lz4", "snappy", "gzip", "none"] = "zstd"


class HttpConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    total_timeout: float = 30.0
    connect_timeout: float = 10.0
    connections: int = 100
    connections_per_host: int = 10


class PollConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[poll]``: how the poll role keeps its checkpoints."""

    #: A checkpoint whose only change is its cursor or sweep time (an idle cycle) is saved at
    #: most this often, and when a poller stops (like Kafka Connect's offset.flush.interval.ms);
    #: ``"0s"``: every cycle. A change of what it remembers is always saved at once.
    checkpoint_every: str = "60s"


class Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kafka: KafkaConfig = msgspec.field(default_factory=KafkaConfig)
    http: HttpConfig = msgspec.field(default_factory=HttpConfig)
    metrics: MetricsConfig = msgspec.field(default_factory=MetricsConfig)
    rate_limit: RateLimitDefaults = msgspec.field(default_factory=RateLimitDefaults)
    poll: PollConfig = msgspec.field(default_factory=PollConfig)
    accounts: list[AccountConfig] = msgspec.field(default_factory=list)


def _path_of(exc: msgspec.ValidationError) -> tuple[str, str]:
    """msgspec says ``... - at `$.accounts[0].platform` ``; split into (message, path)."""
    text = str(exc)
    if " - at `$." in text:
        message, _, where = text.rpartition(" - at `$.")
        return message, where.rstrip("`")
    return text, ""


def parse_config(
    text: str | bytes,
    *,
    platforms: Mapping[str, frozenset[str]],
    source: str = "config",
) -> Config:
    """Decode and validate a TOML document.

    ``platforms`` maps each known platform id to the credential keys it needs (from the
    platform registry), so this module never names a platform.
    """
    try:
        config = msgspec.toml.decode(text, type=Config)
    except msgspec.ValidationError as exc:
        message, path = _path_of(exc)
        raise ConfigError(f"{source}: {message}", path=path) from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    parse_duration(config.poll.checkpoint_every, path="poll.checkpoint_every")
    seen: set[str] = set()
    for i, acc in enumerate(config.accounts):
        where = f"accounts[{i}]"
        if acc.platform not in platforms:
            known = ", ".join(sorted(platforms))
            raise ConfigError(
                f"unknown platform {acc.platform!r} (known: {known})", path=f"{where}.platform"
            )
        if not acc.account.strip():
            raise ConfigError("account label must not be empty", path=f"{where}.account")
        if acc.key in seen:
            raise ConfigError(f"duplicate account {acc.key}", path=f"{where}.account")
        seen.add(acc.key)
        if not acc.base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"base_url must be http(s): {acc.base_url!r}", path=f"{where}.base_url"
            )
        needed = platforms[acc.platform]
        missing = sorted(needed - set(acc.credentials))
        if missing:
            raise ConfigError(
                f"{acc.platform} needs credentials {', '.join(missing)}",
                path=f"{where}.credentials",
            )
        unknown = sorted(set(acc.credentials) - needed)
        if unknown:
            raise ConfigError(
                f"unknown credential key(s) {', '.join(unknown)} for {acc.platform}",
                path=f"{where}.credentials",
            )
        _check_windows(acc.rate_limit, f"{where}.rate_limit")
        parse_duration(acc.horizon, path=f"{where}.horizon")
        if acc.poll_interval is not None:
            parse_duration(acc.poll_interval, path=f"{where}.poll_interval")
    return config


def commands_share(config: Config, account: AccountConfig) -> float:
    """The account's commands share: its own, else the file's default."""
    own = account.rate_limit.commands_share if account.rate_limit else None
    return config.rate_limit.commands_share if own is None else own


def _check_windows(limits: RateLimitConfig | None, path: str) -> None:
    """Window sizes the budget can take: at least 2, so polls and commands each get one."""
    if limits is None:
        return
    for key in ("per_second", "per_minute", "per_hour", "per_day"):
        n = getattr(limits, key)
        if n is not None and n < 2:
            raise ConfigError(
                f"must be at least 2 (got {n}): polls and commands each keep a share of every "
                "window",
                path=f"{path}.{key}",
            )


def load_config(
    path: str | Path,
    *,
    platforms: Mapping[str, frozenset[str]],
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Decode the file, then apply the ``PIPELINE_KAFKA_*`` / ``PIPELINE_METRICS_*``
    environment overrides (:data:`pipeline.configcheck.ENV_OVERRIDES`)."""
    from pipeline.configcheck import apply_env_overrides  # it builds on this module

    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    config = parse_config(text, platforms=platforms, source=str(path))
    return apply_env_overrides(config, os.environ if environ is None else environ)


def resolve_credentials(
    account: AccountConfig, *, index: int = 0, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Resolve every credential reference of one account (values are registered as secrets)."""
    return {
        key: ref.resolve(path=f"accounts[{index}].credentials.{key}", environ=environ)
        for key, ref in account.credentials.items()
    }
