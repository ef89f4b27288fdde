"""A worker's operator endpoints: ``/metrics``, ``/healthz`` and ``/readyz`` on one small server.

* ``GET /metrics`` — Prometheus text, read at scrape time from the stats objects the worker
  already keeps (:func:`worker_collector`): poll cycles, events, plans and checkpoint ages per
  account; budget use per lane and window; publisher totals; command results; HTTP requests per
  endpoint (from the HTTP layer's log records, :class:`~pipeline.metrics.HttpRequestMetrics`).
* ``GET /healthz`` — 200 while the process serves requests (liveness).
* ``GET /readyz`` — 200 when the broker is reachable (the producer is up and a TCP connection
  to a bootstrap address opens) and, for a poll worker, the group has assigned it partitions of
  ``_pipeline.accounts``; otherwise 503 with ``{"ready": false, "reasons": [...]}``.

Consumer lag is not exported: the apply role's consumer is private to
:class:`~pipeline.command_consumer.CommandConsumer`; ``pipeline status`` computes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import msgspec
from aiohttp import web

from pipeline import __version__
from pipeline.errors import ConfigError
from pipeline.metrics import (
    CONTENT_TYPE,
    Collector,
    HttpRequestMetrics,
    MetricsConfig,
    Registry,
)

if TYPE_CHECKING:
    from pipeline.bus import PublisherStats
    from pipeline.command_consumer import CommandConsumer
    from pipeline.fleet import PollFleet
    from pipeline.ratelimit import RateLimiterRegistry
    from pipeline.worker import Worker

log = logging.getLogger(__name__)


# --- metrics read from a worker ---------------------------------------------------------------

ACCOUNT: Final = ("platform", "account")
STREAM: Final = (*ACCOUNT, "stream")
LANE: Final = (*ACCOUNT, "lane")
WINDOW: Final = (*ACCOUNT, "window", "shared")

# Plain totals, as tables: (metric, help, attribute of the stats object).
POLL_TOTALS: Final = (
    ("pipeline_poll_cycles_total", "Poll cycles completed.", "cycles"),
    ("pipeline_poll_sweeps_total", "Active sweeps completed.", "sweeps"),
    (
        "pipeline_poll_malformed_records_total",
        "Platform records that could not be mapped or published (set aside, retried).",
        "malformed",
    ),
    (
        "pipeline_poll_broker_errors_total",
        "Failed publishes and checkpoint saves.",
        "broker_errors",
    ),
    ("pipeline_poll_platform_errors_total", "Cycles ended by a platform error.", "platform_errors"),
)
PUBLISHER_TOTALS: Final = (
    ("pipeline_publisher_bytes_total", "Key and value bytes acknowledged (uncompressed).", "bytes"),
    ("pipeline_publisher_calls_total", "Acknowledged publish calls.", "calls"),
    ("pipeline_publisher_failures_total", "Publish calls that failed.", "failures"),
    (
        "pipeline_publisher_ack_seconds_total",
        "Seconds from publish calls to their last acknowledgement (/ calls = mean latency).",
        "total_latency",
    ),
    (
        "pipeline_publisher_producers_started_total",
        "Producers started (more than one: the broker went away and came back).",
        "producers_started",
    ),
)
COMMAND_TOTALS: Final = (
    ("pipeline_commands_received_total", "Command records consumed.", "received"),
    (
        "pipeline_commands_dead_letters_total",
        "Undecodable commands sent to commands-dlq.v1.",
        "dead_letters",
    ),
    (
        "pipeline_commands_skipped_total",
        "Redelivered commands that already had a result.",
        "skipped_done",
    ),
    ("pipeline_commands_commits_total", "Offset commits.", "commits"),
)


def worker_collector(worker: Worker) -> Collector:
    """A collector that reads ``worker``'s stats into the scratch registry of each scrape."""
    started = time.time()

    def collect(reg: Registry) -> None:
        reg.gauge("pipeline_info", "Version of the running worker.", ("version",)).labels(
            version=__version__
        ).set(1)
        reg.gauge("pipeline_start_time_seconds", "When the metrics server started.").set(started)
        roles = reg.gauge("pipeline_worker_role", "Roles this worker runs (1 each).", ("role",))
        for role in sorted(worker.roles):
            roles.labels(role=role).set(1)
        if worker.fleet is not None:
            _polls(reg, worker.fleet, worker.clock.now())
        _budgets(reg, worker.limits)
        publisher = worker.publisher
        if publisher is not None:
            _publisher(reg, publisher.stats)
        reg.gauge("pipeline_broker_connected", "1 while the worker's producer is connected.").set(
            1 if publisher is not None and publisher.connected else 0
        )
        if worker.commands is not None:
            _commands(reg, worker.commands)
        saves = reg.counter(
            "pipeline_checkpoint_saves_total",
            "Records acknowledged on _pipeline.checkpoints (poll: stream checkpoints and request "
            "records; apply: command request records).",
            ("role",),
        )
        saved = reg.counter(
            "pipeline_checkpoint_bytes_total",
            "Value bytes of those records, before compression.",
            ("role",),
        )
        for role, store in sorted(worker.checkpoint_stores.items()):
            saves.labels(role=role).inc(store.saves)
            saved.labels(role=role).inc(store.bytes_saved)
        batches = reg.counter(
            "pipeline_applier_http_batches_total",
            "Platform write calls made by the appliers (one batch of commands each).",
            ACCOUNT,
        )
        for key, applier in sorted(worker.appliers.items()):
            platform, _, account = key.partition(":")
            batches.labels(platform=platform, account=account).inc(applier.http_batches)

    return collect


def _polls(reg: Registry, fleet: PollFleet, now: dt.datetime) -> None:
    state = fleet.state
    reg.gauge("pipeline_poll_partitions_assigned", "_pipeline.accounts partitions held.").set(
        len(state.partitions)
    )
    reg.gauge("pipeline_poll_accounts_owned", "Accounts this worker polls now.").set(
        len(state.accounts)
    )
    rebalances = reg.counter("pipeline_poll_rebalances_total", "Rebalances seen.", ("kind",))
    rebalances.labels(kind="assigned").inc(state.assignments)
    rebalances.labels(kind="revoked").inc(state.revocations)
    totals = [(reg.counter(name, text, ACCOUNT), attr) for name, text, attr in POLL_TOTALS]
    events = reg.counter("pipeline_poll_events_total", "Events published.", (*ACCOUNT, "type"))
    g = reg.gauge
    last_cycle = g("pipeline_poll_last_cycle_timestamp_seconds", "Last cycle's end.", ACCOUNT)
    interval = g("pipeline_poll_interval_seconds", "Planned seconds between cycles.", ACCOUNT)
    per_cycle = g("pipeline_poll_requests_per_cycle", "Planned requests per cycle.", ACCOUNT)
    plan_info = g(
        "pipeline_poll_plan_info", "Why the interval is what it is.", (*ACCOUNT, "reason")
    )
    age = g("pipeline_checkpoint_age_seconds", "Seconds since the checkpoint was saved.", STREAM)
    cursor_lag = g("pipeline_poll_cursor_lag_seconds", "How far behind now the cursor is.", STREAM)
    pending = g("pipeline_poll_malformed_pending", "Unmappable records awaiting retry.", STREAM)
    for key, poller in sorted(fleet.pollers.items()):
        labels = {"platform": poller.client.platform, "account": poller.client.account}
        for counter, attr in totals:
            counter.labels(**labels).inc(getattr(poller.stats, attr))
        for kind, n in sorted(poller.stats.events.items()):
            events.labels(**labels, type=kind).inc(n)
        if key not in state.accounts:
            continue  # released: its totals stay, its plan and ages are the new owner's to show
        if poller.stats.last_cycle_at is not None:
            last_cycle.labels(**labels).set(poller.stats.last_cycle_at.timestamp())
        interval.labels(**labels).set(poller.plan.interval)
        per_cycle.labels(**labels).set(poller.plan.requests_per_cycle)
        plan_info.labels(**labels, reason=poller.plan.reason).set(1)
        for stream, cp in sorted(poller.checkpoints.items()):
            if cp.written_at is not None:
                age.labels(**labels, stream=stream).set((now - cp.written_at).total_seconds())
            cursor_lag.labels(**labels, stream=stream).set((now - cp.cursor).total_seconds())
            pending.labels(**labels, stream=stream).set(len(cp.malformed))


def _budgets(reg: Registry, limits: RateLimiterRegistry) -> None:
    c, g = reg.counter, reg.gauge
    requests = c("pipeline_budget_requests_total", "Requests admitted (tokens too).", LANE)
    waits = c("pipeline_budget_waits_total", "Requests that queued for a slot.", LANE)
    wait_seconds = c("pipeline_budget_wait_seconds_total", "Seconds queued for slots.", LANE)
    queued = g("pipeline_budget_waiting", "Requests queued right now.", LANE)
    limit = g("pipeline_budget_window_limit", "Requests allowed per window.", WINDOW)
    used = g(
        "pipeline_budget_window_used",
        "Requests in the sliding window (all accounts' if shared).",
        WINDOW,
    )
    poll_left = g("pipeline_budget_window_poll_remaining", "What polls may still take.", WINDOW)
    blocked = g("pipeline_budget_blocked_seconds", "Seconds left of a 429 penalty.", ACCOUNT)
    for (platform, account), budget in sorted(limits, key=lambda item: item[0]):
        usage = budget.usage()
        for lane, stats in (("command", usage.command), ("poll", usage.poll)):
            labels = {"platform": platform, "account": account, "lane": lane}
            requests.labels(**labels).inc(max(0, stats.acquired))
            waits.labels(**labels).inc(stats.waits)
            wait_seconds.labels(**labels).inc(stats.wait_seconds)
            queued.labels(**labels).set(stats.waiting)
        for w in usage.windows:
            shared = "true" if w.shared else "false"
            window = {"platform": platform, "account": account, "window": f"{w.period:g}s"}
            limit.labels(**window, shared=shared).set(w.limit)
            used.labels(**window, shared=shared).set(w.used)
            poll_left.labels(**window, shared=shared).set(w.poll_remaining)
        blocked.labels(platform=platform, account=account).set(usage.blocked_for)


def _publisher(reg: Registry, stats: PublisherStats) -> None:
    events = reg.counter("pipeline_publisher_events_total", "Events acknowledged.", ("type",))
    for kind, n in sorted(stats.events_by_type.items()):
        events.labels(type=kind).inc(n)
    records = reg.counter("pipeline_publisher_records_total", "Records acknowledged.", ("topic",))
    for topic, n in sorted(stats.records_by_topic.items()):
        records.labels(topic=topic).inc(n)
    for name, text, attr in PUBLISHER_TOTALS:
        reg.counter(name, text).inc(getattr(stats, attr))
    reg.gauge("pipeline_publisher_ack_seconds_max", "Slowest acknowledged publish call.").set(
        stats.max_latency
    )


def _commands(reg: Registry, consumer: CommandConsumer) -> None:
    for name, text, attr in COMMAND_TOTALS:
        reg.counter(name, text).inc(getattr(consumer.stats, attr))
    results = reg.counter("pipeline_command_results_total", "Final results.", ("outcome",))
    for outcome, n in sorted(consumer.stats.results.items()):
        results.labels(outcome=str(outcome)).inc(n)
    reg.gauge("pipeline_commands_partitions_assigned", "commands.v1 partitions held.").set(
        len(consumer.assigned_partitions)
    )


# --- readiness ----------------------------------------------------------------------------------


def bootstrap_addresses(bootstrap: str) -> list[tuple[str, int]]:
    """``"a:9092,[::1]:9093"`` → ``[("a", 9092), ("::1", 9093)]`` (malformed entries skipped)."""
    out = []
    for part in bootstrap.split(","):
        host, _, port = part.strip().rpartition(":")
        if host and port.isdigit():
            out.append((host.strip("[]"), int(port)))
    return out


class BrokerProbe:
    """Whether a TCP connection to a bootstrap address opens; the answer is kept ``cache_for``
    seconds so a scraper polling ``/readyz`` every second costs a connection every few."""

    def __init__(
        self,
        bootstrap: str,
        *,
        timeout: float = 1.0,
        cache_for: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._addresses = bootstrap_addresses(bootstrap)
        self._timeout = timeout
        self._cache_for = cache_for
        self._monotonic = monotonic
        self._last: tuple[float, bool] | None = None
        self._lock = asyncio.Lock()

    async def reachable(self) -> bool:
        async with self._lock:
            now = self._monotonic()
            if self._last is not None and now - self._last[0] < self._cache_for:
                return self._last[1]
            ok = False
            for host, port in self._addresses:
                if await self._connects(host, port):
                    ok = True
                    break
            self._last = (now, ok)
            return ok

    async def _connects(self, host: str, port: int) -> bool:
        try:
            async with asyncio.timeout(self._timeout):
                _, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(self._timeout):
                await writer.wait_closed()
        return True


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reasons: tuple[str, ...]


async def readiness(worker: Worker, probe: BrokerProbe) -> Readiness:
    reasons = []
    publisher = worker.publisher
    if publisher is None:
        reasons.append("starting: no producer yet")
    elif not publisher.connected:
        reasons.append("the producer is down after a failed publish; it reconnects on the next")
    if not await probe.reachable():
        reasons.append(f"broker not reachable at {worker.bootstrap}")
    if "poll" in worker.roles and (worker.fleet is None or not worker.fleet.state.partitions):
        reasons.append("poll role: no _pipeline.accounts partition assigned (yet)")
    return Readiness(not reasons, tuple(reasons))


# --- the server ---------------------------------------------------------------------------------


def build_app(worker: Worker, registry: Registry, probe: BrokerProbe) -> web.Application:
    ready_gauge = registry.gauge("pipeline_ready", "1 when /readyz answers 200.")

    async def metrics(request: web.Request) -> web.Response:
        ready_gauge.set(1 if (await readiness(worker, probe)).ready else 0)
        body = registry.render().encode()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def healthz(request: web.Request) -> web.Response:
        return _json({"status": "alive"}, 200)

    async def readyz(request: web.Request) -> web.Response:
        state = await readiness(worker, probe)
        if state.ready:
            return _json({"ready": True}, 200)
        return _json({"ready": False, "reasons": list(state.reasons)}, 503)

    app = web.Application()
    app.add_routes(
        [web.get("/metrics", metrics), web.get("/healthz", healthz), web.get("/readyz", readyz)]
    )
    return app


def _json(body: object, status: int) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(body), status=status, content_type="application/json"
    )


@dataclass(frozen=True, slots=True)
class MetricsServer:
    host: str
    port: int
    registry: Registry

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@contextlib.asynccontextmanager
async def serve_metrics(
    worker: Worker,
    config: MetricsConfig,
    *,
    registry: Registry | None = None,
    probe: BrokerProbe | None = None,
) -> AsyncIterator[MetricsServer | None]:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` for ``worker`` while the block runs.

    Yields ``None`` when ``[metrics] enabled = false``. A port that cannot be bound is a
    :class:`ConfigError` naming ``metrics.port``.
    """
    if not config.enabled:
        yield None
        return
    registry = registry or Registry()
    http_metrics = HttpRequestMetrics(registry)
    registry.add_collector(worker_collector(worker))
    probe = probe or BrokerProbe(worker.bootstrap)
    runner = web.AppRunner(build_app(worker, registry, probe), access_log=None)
    await runner.setup()
    http_metrics.attach()
    try:
        try:
            await web.TCPSite(runner, config.host, config.port).start()
        except OSError as exc:
            # Two workers on one host need a port each: PIPELINE_METRICS_PORT, or 0 for any.
            raise ConfigError(
                f"cannot serve metrics on {config.host}:{config.port}: {exc.strerror} (another "
                "worker on this host? set [metrics] port or PIPELINE_METRICS_PORT; 0 = any free)",
                path="metrics.port",
            ) from None
        server = MetricsServer(config.host, int(runner.addresses[0][1]), registry)
        log.info("metrics on %s/metrics (also /healthz, /readyz)", server.url)
        yield server
    finally:
        http_metrics.detach()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                await runner.cleanup()
