"""Kafka client settings: the ``[kafka]`` section as aiokafka keyword arguments.

:func:`producer_kwargs`, :func:`consumer_kwargs` and :func:`admin_kwargs` turn the ``[kafka]``
section into aiokafka keyword arguments with *our* defaults (DESIGN "Brokers"): ``acks="all"``,
no auto-commit, zstd (``kafka.compression``), bounded request timeouts, TLS from ``ssl_*``
files and SASL credentials resolved from their :class:`~pipeline.config.SecretRef` (wrapped in
:class:`Redacted`, so a logged or printed kwargs dict shows ``'***'``). A setting that cannot
work (a missing address, unreadable TLS files, ``ssl_*``/``sasl_*`` keys the protocol would
ignore, a codec whose library is missing) is a :class:`~pipeline.errors.ConfigError` naming the
key, raised when the kwargs are built rather than at the first connection.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any, Final, Literal

from aiokafka import codec
from aiokafka.helpers import create_ssl_context

from pipeline.broker import EMBEDDED_CONSUMER_TIMEOUTS
from pipeline.config import KafkaConfig, SecretRef
from pipeline.errors import ConfigError
from pipeline.partitioning import KeyPartitioner

__all__ = [
    "DEFAULT_LINGER_MS",
    "DEFAULT_MAX_BATCH_SIZE",
    "DEFAULT_MAX_REQUEST_SIZE",
    "DEFAULT_STOP_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "Redacted",
    "admin_kwargs",
    "as_config",
    "connection_kwargs",
    "consumer_kwargs",
    "producer_kwargs",
]

#: A poll publishes a page of events at once; 5 ms lets them share batches without delaying
#: the checkpoint noticeably.
DEFAULT_LINGER_MS: Final = 5
DEFAULT_MAX_BATCH_SIZE: Final = 256 * 1024
#: aiokafka's and Kafka's default (1 MiB). The checkpoint store raises it for its own topic.
DEFAULT_MAX_REQUEST_SIZE: Final = 1024 * 1024
#: Seconds a publish (or start, or metadata wait) may take before it is a :class:`BrokerError`.
DEFAULT_TIMEOUT: Final = 10.0
#: Seconds aiokafka's ``stop()`` may spend flushing before pending batches are dropped.
DEFAULT_STOP_TIMEOUT: Final = 5.0

_SSL_PROTOCOLS: Final = frozenset({"SSL", "SASL_SSL"})
_SASL_PROTOCOLS: Final = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})


class Redacted(str):
    """A secret string whose ``repr`` is masked.

    aiokafka needs the SASL credentials as ``str``; wrapping them keeps a kwargs dict safe to
    log, print or show in a traceback (``{'sasl_plain_password': '***'}``). ``str(value)`` and
    encoding still give the secret to the code that must send it.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


def connection_kwargs(
    cfg: KafkaConfig,
    *,
    bootstrap: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Where and how to connect: bootstrap, client id, TLS and SASL (shared by every client).

    ``bootstrap`` overrides ``cfg.bootstrap`` (the embedded broker's address). Raises
    :class:`ConfigError` naming the key for a missing address, unreadable TLS files, SASL
    without mechanism or credentials, and ``ssl_*``/``sasl_*`` keys the protocol would ignore.
    """
    servers = bootstrap or cfg.bootstrap
    if not servers:
        raise ConfigError("no broker address (and no embedded broker)", path="kafka.bootstrap")
    kwargs: dict[str, Any] = {
        "bootstrap_servers": servers,
        "client_id": cfg.client_id,
        "security_protocol": cfg.security_protocol,
    }
    if cfg.security_protocol in _SSL_PROTOCOLS:
        kwargs["ssl_context"] = _ssl_context(cfg)
    else:
        _refuse_unused(cfg, ("ssl_cafile", "ssl_certfile", "ssl_keyfile"))
    if cfg.security_protocol in _SASL_PROTOCOLS:
        if cfg.sasl_mechanism is None:
            raise ConfigError(
                f"security_protocol {cfg.security_protocol} needs sasl_mechanism",
                path="kafka.sasl_mechanism",
            )
        kwargs["sasl_mechanism"] = cfg.sasl_mechanism
        kwargs["sasl_plain_username"] = Redacted(
            _secret(cfg.sasl_username, "kafka.sasl_username", environ)
        )
        kwargs["sasl_plain_password"] = Redacted(
            _secret(cfg.sasl_password, "kafka.sasl_password", environ)
        )
    else:
        _refuse_unused(cfg, ("sasl_mechanism", "sasl_username", "sasl_password"))
    return kwargs


def producer_kwargs(
    cfg: KafkaConfig,
    *,
    bootstrap: str | None = None,
    embedded: bool = False,
    idempotent: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    linger_ms: int = DEFAULT_LINGER_MS,
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    max_request_size: int = DEFAULT_MAX_REQUEST_SIZE,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for :class:`aiokafka.AIOKafkaProducer`.

    ``acks="all"`` always (``acks=0`` is broken on Tansu and loses data anywhere). Idempotence
    only when asked for: the embedded broker lacks it (``embedded=True`` with
    ``idempotent=True`` is a :class:`ConfigError`); use :func:`probe_idempotence` to decide
    for a real broker. ``timeout`` becomes ``request_timeout_ms``, which is also how long an
    unsent batch lives before aiokafka fails it.
    """
    if embedded and idempotent:
        raise ConfigError("the embedded broker (Tansu) has no idempotent producer")
    kwargs = connection_kwargs(cfg, bootstrap=bootstrap, environ=environ)
    kwargs.update(
        acks="all",
        enable_idempotence=idempotent,
        linger_ms=linger_ms,
        max_batch_size=max_batch_size,
        max_request_size=max_request_size,
        compression_type=_compression(cfg),
        request_timeout_ms=int(timeout * 1000),
        # aiokafka's partitions, computed in half the time (pipeline.partitioning).
        partitioner=KeyPartitioner(),
    )
    return kwargs


def _compression(cfg: KafkaConfig) -> str | None:
    """aiokafka's ``compression_type`` for ``kafka.compression``; a codec whose library is
    missing is a :class:`ConfigError` now rather than at the first send."""
    if cfg.compression == "none":
        return None
    available = {
        "gzip": codec.has_gzip,
        "zstd": codec.has_zstd,
        "lz4": codec.has_lz4,
        "snappy": codec.has_snappy,
    }[cfg.compression]
    if not available():
        raise ConfigError(
            f"compression {cfg.compression} needs the cramjam package", path="kafka.compression"
        )
    return cfg.compression


def consumer_kwargs(
    cfg: KafkaConfig,
    *,
    group_id: str | None = None,
    embedded: bool = False,
    bootstrap: str | None = None,
    auto_offset_reset: Literal["earliest", "latest", "none"] = "earliest",
    max_partition_fetch_bytes: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for :class:`aiokafka.AIOKafkaConsumer`.

    Auto-commit is always off: offsets are committed only after the results are acknowledged.
    ``auto_offset_reset="earliest"`` by default, so a new group misses nothing retained.
    ``embedded=True`` adds :data:`~pipeline.broker.EMBEDDED_CONSUMER_TIMEOUTS` (fast group
    joins on Tansu; never against a remote broker). ``group_id=None``: no group (assign()).
    """
    kwargs = connection_kwargs(cfg, bootstrap=bootstrap, environ=environ)
    kwargs.update(
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset=auto_offset_reset,
    )
    if max_partition_fetch_bytes is not None:
        kwargs["max_partition_fetch_bytes"] = max_partition_fetch_bytes
    if embedded:
        kwargs.update(EMBEDDED_CONSUMER_TIMEOUTS)
    if cfg.session_timeout_ms is not None:
        kwargs["session_timeout_ms"] = cfg.session_timeout_ms
    if cfg.heartbeat_interval_ms is not None:
        kwargs["heartbeat_interval_ms"] = cfg.heartbeat_interval_ms
    return kwargs


def admin_kwargs(
    cfg: KafkaConfig,
    *,
    bootstrap: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for :class:`aiokafka.admin.AIOKafkaAdminClient`."""
    kwargs = connection_kwargs(cfg, bootstrap=bootstrap, environ=environ)
    kwargs["request_timeout_ms"] = int(timeout * 1000)
    return kwargs


def as_config(target: KafkaConfig | str) -> KafkaConfig:
    """A bare ``"host:port"`` is a PLAINTEXT config (the embedded broker, tests)."""
    return KafkaConfig(bootstrap=target) if isinstance(target, str) else target


def _ssl_context(cfg: KafkaConfig) -> ssl.SSLContext:
    if cfg.ssl_keyfile is not None and cfg.ssl_certfile is None:
        raise ConfigError("ssl_keyfile needs ssl_certfile", path="kafka.ssl_keyfile")
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=cfg.ssl_cafile, certfile=cfg.ssl_certfile, keyfile=cfg.ssl_keyfile
        )
    except (OSError, ssl.SSLError) as exc:
        files = ", ".join(
            f"{k}={v}"
            for k, v in (
                ("ssl_cafile", cfg.ssl_cafile),
                ("ssl_certfile", cfg.ssl_certfile),
                ("ssl_keyfile", cfg.ssl_keyfile),
            )
            if v is not None
        )
        raise ConfigError(f"cannot load TLS files ({files or 'system CAs'}): {exc}") from None
    return context


def _secret(ref: SecretRef | None, path: str, environ: Mapping[str, str] | None) -> str:
    if ref is None:
        raise ConfigError("SASL needs a username and a password", path=path)
    return ref.resolve(path=path, environ=environ)


def _refuse_unused(cfg: KafkaConfig, names: tuple[str, ...]) -> None:
    # An operator who set ssl_cafile but left PLAINTEXT believes the connection is encrypted.
    for name in names:
        if getattr(cfg, name) is not None:
            raise ConfigError(
                f"{name} is set but security_protocol is {cfg.security_protocol}",
                path=f"kafka.{name}",
            )
