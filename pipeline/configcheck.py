"""``pipeline config check FILE``: every problem of a configuration file, each with its path.

:func:`pipeline.config.parse_config` stops at the first error (msgspec does); an operator fixing
a fleet's file wants them all at once. Here the TOML is decoded leniently to plain data and
walked against the schema (the :class:`~pipeline.config.Config` Structs, read through
``msgspec.inspect``, so a new key there is known here without a change), reporting:

* unknown keys (with the nearest known one), missing keys, wrong types, values outside a
  ``Literal`` or a numeric range;
* unknown platforms, missing and unknown credential keys, duplicate accounts, non-http URLs,
  invalid durations, rate limits below 2 (polls and commands each keep a share of every window),
  a ``commands_share`` outside (0, 1), a ``processes_per_ip`` below 1 or leaving a per-IP window
  of an account's platform (its documented limit or the account's own) below 2 requests a
  process, TLS/SASL settings the protocol would ignore;
* secrets written as plain strings — refused, the value is never echoed: secrets by reference
  only (``{ env = "NAME" }`` or ``{ file = "/path" }``);
* secret references that do not resolve here (unset variable, unreadable or empty file): warnings,
  errors with ``strict`` (run it where the workers run);
* ``PIPELINE_*`` environment overrides (:func:`apply_env_overrides`) with invalid values.

When the walk finds no error the file is also loaded with ``parse_config``, so the check is never
more lenient than the workers.

This module also holds the environment overrides of the ``[kafka]`` and ``[metrics]`` settings
(:data:`ENV_OVERRIDES`), applied by :func:`apply_env_overrides` after the file is decoded.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TextIO

import msgspec
from msgspec import inspect as mi

from pipeline.config import AccountConfig, Config, PollConfig, SecretRef, parse_config
from pipeline.config import parse_duration as _parse_duration
from pipeline.errors import ConfigError
from pipeline.ratelimit import RateLimit, RateLimiterRegistry

Severity = Literal["error", "warning"]

#: ``PIPELINE_…`` variable → (section, key). Values are converted and validated like the file's;
#: an empty value counts as unset. Secrets stay references: ``…_FILE`` / ``…_ENV`` name where
#: the secret is, never the secret itself.
ENV_OVERRIDES: Final[Mapping[str, tuple[str, str]]] = {
    "PIPELINE_KAFKA_BOOTSTRAP": ("kafka", "bootstrap"),
    "PIPELINE_KAFKA_CLIENT_ID": ("kafka", "client_id"),
    "PIPELINE_KAFKA_SECURITY_PROTOCOL": ("kafka", "security_protocol"),
    "PIPELINE_KAFKA_SASL_MECHANISM": ("kafka", "sasl_mechanism"),
    "PIPELINE_KAFKA_SASL_USERNAME_ENV": ("kafka", "sasl_username.env"),
    "PIPELINE_KAFKA_SASL_USERNAME_FILE": ("kafka", "sasl_username.file"),
    "PIPELINE_KAFKA_SASL_PASSWORD_ENV": ("kafka", "sasl_password.env"),
    "PIPELINE_KAFKA_SASL_PASSWORD_FILE": ("kafka", "sasl_password.file"),
    "PIPELINE_KAFKA_SSL_CAFILE": ("kafka", "ssl_cafile"),
    "PIPELINE_KAFKA_SSL_CERTFILE": ("kafka", "ssl_certfile"),
    "PIPELINE_KAFKA_SSL_KEYFILE": ("kafka", "ssl_keyfile"),
    "PIPELINE_KAFKA_SESSION_TIMEOUT_MS": ("kafka", "session_timeout_ms"),
    "PIPELINE_KAFKA_HEARTBEAT_INTERVAL_MS": ("kafka", "heartbeat_interval_ms"),
    "PIPELINE_METRICS_ENABLED": ("metrics", "enabled"),
    "PIPELINE_METRICS_HOST": ("metrics", "host"),
    "PIPELINE_METRICS_PORT": ("metrics", "port"),
}
_OVERRIDE_PREFIXES: Final = ("PIPELINE_KAFKA_", "PIPELINE_METRICS_")

#: String fields that hold durations (``"30s"``, ``"30d"``), per Struct.
DURATIONS: Final[Mapping[type, frozenset[str]]] = {
    AccountConfig: frozenset({"horizon", "poll_interval"}),
    PollConfig: frozenset({"checkpoint_every"}),
}
_SSL_PROTOCOLS: Final = frozenset({"SSL", "SASL_SSL"})
_SASL_PROTOCOLS: Final = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
_URL_KEYS: Final = ("base_url", "token_url")


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.severity:<7} {self.path or '(file)'}: {self.message}"


# --- environment overrides ----------------------------------------------------------------------


def apply_env_overrides(config: Config, environ: Mapping[str, str]) -> Config:
    """``config`` with the ``PIPELINE_KAFKA_*`` / ``PIPELINE_METRICS_*`` variables applied.

    Raises :class:`ConfigError` whose path is the variable's name for a value its key cannot
    take (checked one variable at a time, so the message names the right one).
    """
    given = [name for name in ENV_OVERRIDES if environ.get(name)]
    for name in given:
        _overridden(config, {name: environ[name]}, name)
    return _overridden(config, {name: environ[name] for name in given}, "PIPELINE_*")


def _overridden(config: Config, values: Mapping[str, str], path: str) -> Config:
    sections: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        section, key = ENV_OVERRIDES[name]
        data = sections.setdefault(section, msgspec.to_builtins(getattr(config, section)))
        field, _, sub = key.partition(".")
        # A secret reference is replaced whole: a file reference must not keep an env one.
        data[field] = {sub: value} if sub else value
    changes: dict[str, Any] = {}
    for section, data in sections.items():
        try:
            changes[section] = msgspec.convert(data, type(getattr(config, section)), strict=False)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"invalid value: {exc}", path=path) from None
    return msgspec.structs.replace(config, **changes) if changes else config


def _env_problems(
    config: Config | None, environ: Mapping[str, str], referenced: set[str]
) -> list[Problem]:
    """Unknown ``PIPELINE_KAFKA_*``/``PIPELINE_METRICS_*`` names (not a secret's variable) and
    invalid override values."""
    problems = []
    for name in sorted(environ):
        if (
            name.startswith(_OVERRIDE_PREFIXES)
            and name not in ENV_OVERRIDES
            and name not in referenced
        ):
            near = difflib.get_close_matches(name, list(ENV_OVERRIDES), n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            problems.append(Problem(name, f"not a known override{hint}; ignored", "warning"))
    for name in ENV_OVERRIDES:
        if environ.get(name):
            try:
                _overridden(config or Config(), {name: environ[name]}, name)
            except ConfigError as exc:
                problems.append(Problem(name, str(exc).removeprefix(f"{name}: ")))
    return problems


# --- the walk -----------------------------------------------------------------------------------


def _kind(value: object) -> str:
    match value:
        case bool():
            return "a boolean"
        case int():
            return "an integer"
        case float():
            return "a number"
        case str():
            return "a string"
        case dict():
            return "a table"
        case list():
            return "an array"
    return "a date/time"


class _Walker:
    def __init__(
        self, platforms: Mapping[str, frozenset[str]], environ: Mapping[str, str], strict: bool
    ) -> None:
        self.platforms = platforms
        self.environ = environ
        self.strict = strict
        self.problems: list[Problem] = []
        self.referenced: set[str] = set()  # variables secrets refer to

    def error(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message, "error"))

    def unresolved(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message, "error" if self.strict else "warning"))

    def walk(self, value: object, info: mi.Type, path: str) -> None:
        match info:
            case mi.StructType() if info.cls is SecretRef:
                self.secret(value, path)
            case mi.StructType():
                self.struct(value, info, path)
            case mi.UnionType():
                options = [t for t in info.types if not isinstance(t, mi.NoneType)]
                if len(options) == 1:
                    self.walk(value, options[0], path)
                else:  # not used by the schema today: accept what any option accepts
                    trial = [_Walker(self.platforms, self.environ, self.strict) for _ in options]
                    for walker, option in zip(trial, options, strict=True):
                        walker.walk(value, option, path)
                    if all(w.problems for w in trial):
                        self.problems.extend(trial[0].problems)
            case mi.StrType():
                if not isinstance(value, str):
                    self.error(path, f"expected a string, got {_kind(value)}")
            case mi.BoolType():
                if not isinstance(value, bool):
                    self.error(path, f"expected true or false, got {_kind(value)}")
            case mi.IntType():
                if not isinstance(value, int) or isinstance(value, bool):
                    self.error(path, f"expected an integer, got {_kind(value)}")
                else:
                    self.bounds(value, info, path)
            case mi.FloatType():
                if not isinstance(value, int | float) or isinstance(value, bool):
                    self.error(path, f"expected a number, got {_kind(value)}")
                else:
                    self.bounds(value, info, path)
            case mi.LiteralType():
                if value not in info.values:
                    allowed = ", ".join(str(v) for v in info.values)
                    shown = repr(value) if isinstance(value, str | int) else _kind(value)
                    self.error(path, f"must be one of {allowed} (got {shown})")
            case mi.ListType():
                if not isinstance(value, list):
                    self.error(path, f"expected an array, got {_kind(value)}")
                else:
                    for i, item in enumerate(value):
                        self.walk(item, info.item_type, f"{path}[{i}]")
            case mi.DictType():
                if not isinstance(value, dict):
                    self.error(path, f"expected a table, got {_kind(value)}")
                else:
                    for key, item in value.items():
                        self.walk(item, info.value_type, f"{path}.{key}")

    def bounds(self, value: float, info: mi.IntType | mi.FloatType, path: str) -> None:
        if info.ge is not None and value < info.ge:
            self.error(path, f"must be at least {info.ge} (got {value})")
        if info.le is not None and value > info.le:
            self.error(path, f"must be at most {info.le} (got {value})")
        if info.gt is not None and value <= info.gt:
            self.error(path, f"must be more than {info.gt} (got {value})")
        if info.lt is not None and value >= info.lt:
            self.error(path, f"must be less than {info.lt} (got {value})")

    def struct(self, value: object, info: mi.StructType, path: str) -> None:
        if not isinstance(value, dict):
            self.error(path, f"expected a table, got {_kind(value)}")
            return
        fields = {f.encode_name: f for f in info.fields}
        prefix = f"{path}." if path else ""
        for key in value:
            if key not in fields:
                near = difflib.get_close_matches(key, list(fields), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                self.error(f"{prefix}{key}", f"unknown key{hint}")
        for name, field in fields.items():
            if name not in value:
                if field.required:
                    self.error(f"{prefix}{name}", "missing (required)")
                continue
            self.walk(value[name], field.type, f"{prefix}{name}")
            durations = DURATIONS.get(info.cls, frozenset())
            if name in durations and isinstance(value[name], str):
                self.duration(value[name], f"{prefix}{name}")

    def duration(self, text: str, path: str) -> None:
        try:
            _parse_duration(text, path=path)
        except ConfigError as exc:
            self.error(path, str(exc).removeprefix(f"{path}: "))

    def secret(self, value: object, path: str) -> None:
        if isinstance(value, str):
            # Never echo it: this may be the secret itself.
            self.error(
                path,
                'secrets by reference only: write { env = "NAME" } or '
                '{ file = "/run/secrets/name" } (the value given is not shown)',
            )
            return
        before = len(self.problems)
        info = mi.type_info(SecretRef)
        assert isinstance(info, mi.StructType)  # noqa: S101 - a Struct's type info
        self.struct(value, info, path)
        if len(self.problems) > before or not isinstance(value, dict):
            return
        if isinstance(value.get("env"), str):
            self.referenced.add(value["env"])
        if ("env" in value) == ("file" in value):
            self.error(path, "a secret needs exactly one of `env` or `file`")
            return
        try:
            SecretRef(env=value.get("env"), file=value.get("file")).resolve(
                path=path, environ=self.environ
            )
        except ConfigError as exc:
            self.unresolved(path, str(exc).removeprefix(f"{path}: "))

    # -- rules beyond types --------------------------------------------------------------------

    def accounts(self, accounts: object) -> None:
        if not isinstance(accounts, list) or not accounts:
            self.problems.append(
                Problem("accounts", "no accounts: a worker would have nothing to do", "warning")
            )
            return
        seen: dict[str, int] = {}
        for i, acc in enumerate(accounts):
            if isinstance(acc, dict):
                self.account(acc, f"accounts[{i}]", i, seen)

    def account(self, acc: dict[str, Any], where: str, i: int, seen: dict[str, int]) -> None:
        platform, label = acc.get("platform"), acc.get("account")
        if isinstance(platform, str) and platform not in self.platforms:
            known = ", ".join(sorted(self.platforms))
            self.error(f"{where}.platform", f"unknown platform {platform!r} (known: {known})")
        if isinstance(label, str):
            if not label.strip():
                self.error(f"{where}.account", "account label must not be empty")
            elif isinstance(platform, str):
                key = f"{platform}:{label}"
                if key in seen:
                    self.error(
                        f"{where}.account", f"duplicate account {key} (also accounts[{seen[key]}])"
                    )
                seen.setdefault(key, i)
        for url_key in _URL_KEYS:
            url = acc.get(url_key)
            if isinstance(url, str) and not url.startswith(("http://", "https://")):
                self.error(f"{where}.{url_key}", f"must be an http(s) URL: {url!r}")
        credentials = acc.get("credentials")
        if (
            isinstance(platform, str)
            and platform in self.platforms
            and isinstance(credentials, dict)
        ):
            needed = self.platforms[platform]
            missing = sorted(needed - set(credentials))
            if missing:
                self.error(
                    f"{where}.credentials", f"{platform} needs credentials {', '.join(missing)}"
                )
            for key in sorted(set(credentials) - needed):
                wanted = ", ".join(sorted(needed))
                self.error(
                    f"{where}.credentials.{key}",
                    f"unknown credential key for {platform} (it takes {wanted})",
                )
        limits = acc.get("rate_limit")
        if isinstance(limits, dict):
            for key, n in limits.items():
                if key == "commands_share":  # a fraction: its bounds are the schema's
                    continue
                if isinstance(n, int) and not isinstance(n, bool) and n < 2:
                    self.error(
                        f"{where}.rate_limit.{key}",
                        f"must be at least 2 (got {n}): polls and commands each keep a share "
                        "of every window",
                    )

    def kafka(self, section: object) -> None:
        """TLS/SASL consistency, on the file's ``[kafka]`` with the environment's overrides."""
        if not isinstance(section, dict):
            section = {}
        kafka = dict(section)
        for name, (part, key) in ENV_OVERRIDES.items():
            if part == "kafka" and self.environ.get(name):
                try:  # an invalid override is reported on its own; the file's value stays
                    _overridden(Config(), {name: self.environ[name]}, name)
                except ConfigError:
                    continue
                kafka[key.partition(".")[0]] = self.environ[name]
        protocol = kafka.get("security_protocol", "PLAINTEXT")
        if not isinstance(protocol, str):
            return
        if protocol not in _SSL_PROTOCOLS:
            for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
                if key in kafka:
                    self.error(f"kafka.{key}", f"is set but security_protocol is {protocol}")
        else:
            if "ssl_keyfile" in kafka and "ssl_certfile" not in kafka:
                self.error("kafka.ssl_keyfile", "needs ssl_certfile")
            for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
                file = kafka.get(key)
                if isinstance(file, str) and not os.access(file, os.R_OK):
                    self.unresolved(f"kafka.{key}", f"cannot read {file}")
        if protocol in _SASL_PROTOCOLS:
            for key in ("sasl_mechanism", "sasl_username", "sasl_password"):
                if key not in kafka:
                    self.error(f"kafka.{key}", f"security_protocol {protocol} needs it")
        else:
            for key in ("sasl_mechanism", "sasl_username", "sasl_password"):
                if key in kafka:
                    self.error(f"kafka.{key}", f"is set but security_protocol is {protocol}")


def _ip_share_problems(config: Config, limits: Mapping[str, RateLimit]) -> list[Problem]:
    """``rate_limit.processes_per_ip`` against every enabled account's per-IP windows, as the
    workers' registry will divide them (it raises what a worker would stop on at start)."""
    registry = RateLimiterRegistry(limits, processes_per_ip=config.rate_limit.processes_per_ip)
    refused: dict[tuple[str, str], list[str]] = {}  # (path, message) → the accounts saying it
    for acc in config.accounts:
        if not acc.enabled or acc.platform not in limits:
            continue
        own = acc.rate_limit
        override = (
            None
            if own is None
            else RateLimit.from_config(own.per_second, own.per_minute, own.per_hour, own.per_day)
        )
        try:
            registry.limit_for(acc.platform, override)
        except ConfigError as exc:
            message = str(exc).removeprefix(f"{exc.path}: ")
            refused.setdefault((exc.path, message), []).append(acc.key)
    return [
        Problem(path, f"{message} (accounts {', '.join(keys)})")
        for (path, message), keys in refused.items()
    ]


# --- entry points -------------------------------------------------------------------------------


def check_text(
    text: str,
    *,
    platforms: Mapping[str, frozenset[str]],
    environ: Mapping[str, str] | None = None,
    strict: bool = False,
    source: str = "config",
    limits: Mapping[str, RateLimit] | None = None,
) -> list[Problem]:
    """Every problem of a TOML configuration, in document order (then the environment's).

    ``limits`` are the platforms' default rate limits (by default the platform registry's, which
    the workers take too), against which ``rate_limit.processes_per_ip`` is checked."""
    environ = os.environ if environ is None else environ
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [Problem("", f"not valid TOML: {exc}")]
    walker = _Walker(platforms, environ, strict)
    walker.walk(data, mi.type_info(Config), "")
    walker.kafka(data.get("kafka"))
    walker.accounts(data.get("accounts"))
    problems = walker.problems
    config: Config | None = None
    if not any(p.severity == "error" for p in problems):
        try:
            config = parse_config(text, platforms=platforms, source=source)
        except ConfigError as exc:  # a rule the walk does not know yet: still report it
            problems.append(Problem(exc.path, str(exc).removeprefix(f"{exc.path}: ")))
        else:
            if limits is None:
                # The registry imports every adapter: only when a check needs it.
                from pipeline.platforms import default_limits

                limits = default_limits()
            problems += _ip_share_problems(config, limits)
    return problems + _env_problems(config, environ, walker.referenced)


def check_file(
    path: str | Path,
    *,
    platforms: Mapping[str, frozenset[str]],
    environ: Mapping[str, str] | None = None,
    strict: bool = False,
    limits: Mapping[str, RateLimit] | None = None,
) -> list[Problem]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        return [Problem("", f"cannot read {path}: {reason}")]
    return check_text(
        text, platforms=platforms, environ=environ, strict=strict, source=str(path), limits=limits
    )


def report(path: str, problems: list[Problem], out: TextIO) -> int:
    """Print the problems; 0 when there is no error (warnings allowed), else 1."""
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    for problem in problems:
        print(f"  {problem}", file=out)
    if errors:
        print(f"{path}: {errors} error(s), {warnings} warning(s)", file=out)
        return 1
    print(f"{path}: OK" + (f" ({warnings} warning(s))" if warnings else ""), file=out)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from pipeline import platforms  # the registry imports every adapter: only when run

    problems = check_file(
        args.file,
        platforms=platforms.credential_keys(),
        strict=args.strict,
        limits=platforms.default_limits(),
    )
    return report(args.file, problems, sys.stdout)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``pipeline config check FILE [--strict]`` to the CLI's subcommands."""
    config = sub.add_parser("config", help="check a configuration file")
    actions = config.add_subparsers(dest="config_action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check", help="report every error of a configuration file, each with its path"
    )
    check.add_argument("file", help="the TOML configuration file")
    check.add_argument(
        "--strict",
        action="store_true",
        help="secrets that do not resolve here (unset variable, unreadable file) are errors",
    )
    check.set_defaults(func=_cmd_check)


__all__ = [
    "DURATIONS",
    "ENV_OVERRIDES",
    "Problem",
    "apply_env_overrides",
    "check_file",
    "check_text",
    "register",
    "report",
]
