"""Prometheus metrics: a small registry, the text exposition format (0.0.4), and HTTP request
metrics taken from the HTTP layer's log records.

We write the exposition format ourselves instead of depending on ``prometheus_client``: the
format is a few lines of text per sample, and our metrics are read from the stats objects the
workers already keep (collectors run at scrape time, see
:func:`pipeline.health.worker_collector`), so none of the client library's global state,
multiprocess mode or decorators would be used.

A :class:`Registry` holds *owned* families (updated as things happen, e.g. the HTTP latency
histogram) and *collectors*: functions called at every scrape with a fresh scratch registry they
fill from the current stats. Counters read from a stats object are therefore exact totals, and a
series whose subject is gone (a released account's plan) disappears with the next scrape.

This module imports nothing from the rest of the pipeline (the config module imports
:class:`MetricsConfig` from here).
"""

from __future__ import annotations

import abc
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, ClassVar, Final, Generic, TypeVar

import msgspec

log = logging.getLogger(__name__)

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

#: Seconds; platform APIs answer in tens of milliseconds to tens of seconds.
HTTP_BUCKETS: Final = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_NAME: Final = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL: Final = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RESERVED_LABELS: Final = frozenset({"le", "quantile"})


class MetricsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[metrics]``: where a worker serves ``/metrics``, ``/healthz`` and ``/readyz``.

    Loopback by default; a container sets ``host = "0.0.0.0"`` so Prometheus can reach it.
    ``port = 0`` picks a free port (``pipeline up`` prints it).
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 9464


# --- the text format --------------------------------------------------------------------------


def format_value(value: float) -> str:
    """Prometheus' number syntax: integers without a fraction, ``+Inf``, ``-Inf``, ``NaN``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _labels_text(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{escape_label_value(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


# --- families ---------------------------------------------------------------------------------


class CounterChild:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        self.value += amount


class GaugeChild:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def set(self, value: float) -> None:
        self.value = float(value)

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class HistogramChild:
    __slots__ = ("bucket_counts", "count", "sum", "upper_bounds")

    def __init__(self, upper_bounds: tuple[float, ...]) -> None:
        self.upper_bounds = upper_bounds
        self.bucket_counts = [0] * len(upper_bounds)  # not cumulative; summed when rendered
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.upper_bounds):
            if value <= bound:
                self.bucket_counts[i] += 1
                break
        self.count += 1
        self.sum += value


C = TypeVar("C", CounterChild, GaugeChild, HistogramChild)


class Family(abc.ABC, Generic[C]):
    """One metric name with its HELP, TYPE and a child per label-value combination."""

    type: ClassVar[str]

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        if not _NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        for label in labelnames:
            if not _LABEL.match(label) or label.startswith("__") or label in _RESERVED_LABELS:
                raise ValueError(f"invalid label name {label!r} for {name}")
        if len(set(labelnames)) != len(labelnames):
            raise ValueError(f"repeated label name in {name}")
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], C] = {}
        if not self.labelnames:
            self._children[()] = self._new_child()  # an unlabelled metric shows 0 from the start

    @abc.abstractmethod
    def _new_child(self) -> C: ...

    def labels(self, **labels: str) -> C:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {sorted(labels)}")
        key = tuple(str(labels[n]) for n in self.labelnames)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._new_child()
        return child

    def _only(self) -> C:
        if self.labelnames:
            raise ValueError(f"{self.name} has labels {self.labelnames}: use .labels(...)")
        return self._children[()]

    def render(self, out: list[str]) -> None:
        out.append(f"# HELP {self.name} {_escape_help(self.documentation)}")
        out.append(f"# TYPE {self.name} {self.type}")
        for key, child in self._children.items():
            self._render_child(out, key, child)

    def _render_child(self, out: list[str], key: tuple[str, ...], child: C) -> None:
        assert isinstance(child, CounterChild | GaugeChild)  # noqa: S101 - histograms override
        out.append(f"{self.name}{_labels_text(self.labelnames, key)} {format_value(child.value)}")


class Counter(Family[CounterChild]):
    """A total that only goes up. Name it ``..._total``."""

    type = "counter"

    def _new_child(self) -> CounterChild:
        return CounterChild()

    def inc(self, amount: float = 1.0) -> None:
        self._only().inc(amount)


class Gauge(Family[GaugeChild]):
    type = "gauge"

    def _new_child(self) -> GaugeChild:
        return GaugeChild()

    def set(self, value: float) -> None:
        self._only().set(value)


class Histogram(Family[HistogramChild]):
    type = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = HTTP_BUCKETS,
    ) -> None:
        bounds = tuple(float(b) for b in buckets if not math.isinf(b))
        if not bounds or list(bounds) != sorted(set(bounds)):
            raise ValueError(f"{name}: buckets must be increasing and distinct")
        self.upper_bounds = bounds
        super().__init__(name, documentation, labelnames)

    def _new_child(self) -> HistogramChild:
        return HistogramChild(self.upper_bounds)

    def observe(self, value: float) -> None:
        self._only().observe(value)

    def _render_child(self, out: list[str], key: tuple[str, ...], child: HistogramChild) -> None:
        names, cumulative = self.labelnames, 0
        for bound, n in zip(child.upper_bounds, child.bucket_counts, strict=True):
            cumulative += n
            le = f'le="{format_value(bound)}"'
            out.append(f"{self.name}_bucket{_labels_text(names, key, le)} {cumulative}")
        inf = _labels_text(names, key, 'le="+Inf"')
        out.append(f"{self.name}_bucket{inf} {child.count}")
        out.append(f"{self.name}_sum{_labels_text(names, key)} {format_value(child.sum)}")
        out.append(f"{self.name}_count{_labels_text(names, key)} {child.count}")


F = TypeVar("F", Counter, Gauge, Histogram)
AnyFamily = Counter | Gauge | Histogram

Collector = Callable[["Registry"], None]


class Registry:
    """Metric families by name, plus collectors that fill a scratch registry at each scrape."""

    def __init__(self) -> None:
        self._families: dict[str, AnyFamily] = {}
        self._collectors: list[Collector] = []

    def _get(self, cls: type[F], name: str, labelnames: Sequence[str], make: Callable[[], F]) -> F:
        existing = self._families.get(name)
        if existing is None:
            family = make()
            self._families[name] = family
            return family
        if not isinstance(existing, cls) or existing.labelnames != tuple(labelnames):
            raise ValueError(f"{name} is already registered as another metric")
        return existing

    def counter(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> Counter:
        """The counter ``name`` (created on first use; the same one after that)."""
        return self._get(
            Counter, name, labelnames, lambda: Counter(name, documentation, labelnames)
        )

    def gauge(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> Gauge:
        return self._get(Gauge, name, labelnames, lambda: Gauge(name, documentation, labelnames))

    def histogram(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = HTTP_BUCKETS,
    ) -> Histogram:
        return self._get(
            Histogram, name, labelnames, lambda: Histogram(name, documentation, labelnames, buckets)
        )

    def add_collector(self, collector: Collector) -> None:
        self._collectors.append(collector)

    def render(self) -> str:
        """The exposition text: owned families, then what the collectors report now."""
        scratch = Registry()
        for collector in self._collectors:
            try:
                collector(scratch)
            except Exception:
                # One broken collector must not take the whole scrape (and the alerts) with it.
                log.exception("metrics collector %r failed", collector)
                scratch.counter(
                    "pipeline_metrics_collector_errors_total",
                    "Collectors that raised during a scrape (see the log).",
                ).inc()
        out: list[str] = []
        for name, family in self._families.items():
            if name in scratch._families:
                raise ValueError(f"{name} is both owned and collected")
            family.render(out)
        for family in scratch._families.values():
            family.render(out)
        return "\n".join(out) + "\n"


# --- HTTP requests, from the HTTP layer's log records ----------------------------------------


class HttpRequestMetrics(logging.Filter):
    """Requests per platform, account, endpoint and status code; latency per platform and
    endpoint.

    :mod:`pipeline.http` logs one DEBUG record per response with ``platform``, ``account``,
    ``endpoint``, ``status`` and ``elapsed`` extras. Attached to that logger, this filter counts
    those records, so the HTTP layer needs no metrics code. It lowers the logger to DEBUG while
    attached (the record must exist to be counted) and drops what is below the level that would
    otherwise apply, so the log output does not change. Requests that got no response (timeouts,
    refused connections) are not logged there and not counted here: they show as the pollers'
    platform errors.
    """

    def __init__(self, registry: Registry, logger: str = "pipeline.http") -> None:
        super().__init__()
        self._logger = logging.getLogger(logger)
        self._own_level: int | None = None
        self.requests = registry.counter(
            "pipeline_http_requests_total",
            "HTTP requests to platform APIs that got a response, by status code.",
            ("platform", "account", "endpoint", "code"),
        )
        # Not per account: 13 series per account and endpoint made a thousand-account worker's
        # /metrics 10 MB (60 % of it this histogram) and each scrape cost it about 2 s of CPU.
        self.duration = registry.histogram(
            "pipeline_http_request_duration_seconds",
            "Time from sending a platform request to its last body byte (budget wait excluded).",
            ("platform", "endpoint"),
        )

    def attach(self) -> None:
        if self._own_level is not None:
            return
        self._own_level = self._logger.level
        self._logger.addFilter(self)
        self._logger.setLevel(logging.DEBUG)

    def detach(self) -> None:
        if self._own_level is None:
            return
        self._logger.removeFilter(self)
        self._logger.setLevel(self._own_level)
        self._own_level = None

    def _threshold(self) -> int:
        if self._own_level:  # the operator set this logger's level: keep it
            return self._own_level
        parent = self._logger.parent
        return parent.getEffectiveLevel() if parent is not None else logging.WARNING

    def filter(self, record: logging.LogRecord) -> bool:
        fields: Mapping[str, object] = record.__dict__
        status, elapsed = fields.get("status"), fields.get("elapsed")
        names = [fields.get(k) for k in ("platform", "account", "endpoint")]
        if (
            isinstance(status, int)
            and isinstance(elapsed, int | float)
            and all(isinstance(n, str) for n in names)
        ):
            platform, account, endpoint = (str(n) for n in names)
            self.requests.labels(
                platform=platform, account=account, endpoint=endpoint, code=str(status)
            ).inc()
            self.duration.labels(platform=platform, endpoint=endpoint).observe(float(elapsed))
        return record.levelno >= self._threshold()
