"""The operator surface: Prometheus exposition, /metrics read from a worker's stats, /healthz and
/readyz, JSON/text logs masked at the formatter, and the aiokafka repeat filter."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import socket
from collections.abc import Iterator, Sequence

import aiohttp
import msgspec
import pytest
from aiohttp import web

from pipeline import platforms
from pipeline.applier import AccountApplier
from pipeline.bus import KafkaEventPublisher
from pipeline.checkpoints import MemoryCheckpointStore
from pipeline.clock import ManualClock
from pipeline.command_consumer import CommandConsumer
from pipeline.config import AccountConfig, Config, KafkaConfig, RateLimitConfig, SecretRef
from pipeline.errors import ConfigError, RetryableError
from pipeline.fleet import PollFleet
from pipeline.health import BrokerProbe, bootstrap_addresses, serve_metrics
from pipeline.http import HttpClient, HttpSettings, RequestContext
from pipeline.logs import JsonFormatter, RepeatFilter, TextFormatter, configure_logging
from pipeline.masking import register_secret
from pipeline.metrics import HttpRequestMetrics, MetricsConfig, Registry
from pipeline.ratelimit import Lane, RateBudget, RateLimit
from pipeline.sandbox import SandboxSettings, serve
from pipeline.up import sandbox_config
from pipeline.worker import Worker, prepare_accounts
from schemas import Event

START = dt.datetime(2026, 4, 20, 9, 0, tzinfo=dt.UTC)
SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_]\w*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$'
)


# --- exposition ---------------------------------------------------------------------------


def test_counters_gauges_and_histograms_render_in_the_text_format() -> None:
    reg = Registry()
    reg.counter("jobs_total", "Jobs done.", ("kind",)).labels(kind='a"b\\c\nd').inc(2)
    reg.gauge("temperature", "Line one\nline two.").set(21.5)
    hist = reg.histogram("latency_seconds", "Latency.", ("op",), buckets=(0.1, 1.0))
    for value in (0.05, 0.5, 0.5, 3.0):
        hist.labels(op="get").observe(value)
    assert reg.render() == (
        "# HELP jobs_total Jobs done.\n"
        "# TYPE jobs_total counter\n"
        'jobs_total{kind="a\\"b\\\\c\\nd"} 2\n'
        "# HELP temperature Line one\\nline two.\n"
        "# TYPE temperature gauge\n"
        "temperature 21.5\n"
        "# HELP latency_seconds Latency.\n"
        "# TYPE latency_seconds histogram\n"
        'latency_seconds_bucket{op="get",le="0.1"} 1\n'
        'latency_seconds_bucket{op="get",le="1"} 3\n'
        'latency_seconds_bucket{op="get",le="+Inf"} 4\n'
        'latency_seconds_sum{op="get"} 4.05\n'
        'latency_seconds_count{op="get"} 4\n'
    )


def test_the_registry_refuses_what_prometheus_would() -> None:
    reg = Registry()
    counter = reg.counter("a_total", "A.", ("x",))
    assert reg.counter("a_total", "A.", ("x",)) is counter
    with pytest.raises(ValueError, match="another metric"):
        reg.gauge("a_total", "A.", ("x",))
    with pytest.raises(ValueError, match="takes labels"):
        counter.labels(y="1")
    with pytest.raises(ValueError, match="only goes up"):
        counter.labels(x="1").inc(-1)
    for bad in ("1abc", "a-b"):
        with pytest.raises(ValueError, match="invalid metric name"):
            reg.gauge(bad, "bad")
    with pytest.raises(ValueError, match="invalid label name"):
        reg.gauge("g", "g", ("le",))


def test_a_failing_collector_is_counted_and_the_scrape_goes_on() -> None:
    reg = Registry()
    reg.gauge("up_here", "Still here.").set(1)

    def broken(scratch: Registry) -> None:
        raise RuntimeError("bug")

    reg.add_collector(broken)
    reg.add_collector(lambda scratch: scratch.gauge("collected", "Collected.").set(3))
    text = reg.render()
    assert "up_here 1\n" in text and "collected 3\n" in text
    assert "pipeline_metrics_collector_errors_total 1\n" in text


def _parse(text: str) -> dict[str, float]:
    """Series → value; fails on any line that is not valid exposition text."""
    series: dict[str, float] = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("# HELP "):
            continue
        match = SAMPLE.match(line)
        assert match, f"not exposition text: {line!r}"
        name = match.group(1)
        assert re.sub(r"_(bucket|sum|count)$", "", name) in typed or name in typed, line
        key = name + (match.group(2) or "")
        assert key not in series, f"duplicate series {key}"
        series[key] = float(match.group(3))
    return series


# --- /metrics from a worker -----------------------------------------------------------------


class Store(MemoryCheckpointStore):
    def invalidate(self, prefix: str) -> None:
        pass


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, events: Sequence[Event]) -> None:
        self.events.extend(events)


async def test_a_scrape_reads_the_workers_stats() -> None:
    clock = ManualClock(START)
    settings = SandboxSettings(seed=4, initial_orders=6, history=dt.timedelta(days=3))
    sandbox = platforms.sandbox_class("pazarama")(clock=clock, settings=settings)
    sandbox.limits.rules.clear()
    async with serve([sandbox]) as served, HttpClient(HttpSettings(total=5)) as http:
        config, environ = sandbox_config(served, "127.0.0.1:1")
        acc = msgspec.structs.replace(
            config.accounts[0], rate_limit=RateLimitConfig(per_minute=10_000)
        )
        config = msgspec.structs.replace(config, accounts=[acc])
        worker = Worker(
            config, prepare_accounts(config, environ), bootstrap="127.0.0.1:1", clock=clock
        )
        recorder = Recorder()
        # The worker's own wiring, without the consumer group: one account, taken over by hand.
        fleet = worker._poll_fleet(http, recorder, Store())  # type: ignore[arg-type]
        worker.fleet = fleet
        worker.publisher = KafkaEventPublisher("127.0.0.1:1")  # never started: not connected
        worker.publisher.stats.events_by_type.update({"order.created": 5})
        worker.commands = CommandConsumer(
            consumer_factory=lambda: None,  # type: ignore[arg-type,return-value]
            results_reader=lambda parts: set(),
            sender=worker.publisher,
            applier_for=lambda platform, account: None,
            clock=clock,
        )
        worker.commands.stats.results.update({"applied": 4, "rejected": 1})
        worker.commands.stats.dead_letters = 2
        async with (
            serve_metrics(worker, MetricsConfig(port=0)) as server,
            aiohttp.ClientSession() as session,
        ):
            assert server is not None
            poller = await fleet._make_poller("pazarama", "main")
            await poller.load()
            fleet.pollers[poller.key] = poller
            fleet.state.accounts.add(poller.key)
            assert await poller.cycle(sweep=True) > 0
            applier = worker.appliers["pazarama:main"] = AccountApplier(poller.client, clock=clock)
            applier.http_batches = 3
            clock.advance(42)
            async with session.get(server.url + "/metrics") as response:
                assert response.status == 200
                assert (
                    response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
                )
                text = await response.text()
    series = _parse(text)
    account = 'platform="pazarama",account="main"'
    created = sum(e.type == "order.created" for e in recorder.events)
    assert series[f'pipeline_poll_events_total{{{account},type="order.created"}}'] == created
    assert series[f"pipeline_poll_cycles_total{{{account}}}"] == 1
    assert series[f'pipeline_checkpoint_age_seconds{{{account},stream="orders"}}'] == 42
    assert series[f"pipeline_poll_interval_seconds{{{account}}}"] == poller.plan.interval
    reason = poller.plan.reason.replace('"', '\\"')
    assert series[f'pipeline_poll_plan_info{{{account},reason="{reason}"}}'] == 1
    usage = worker.limits.get("pazarama", "main", RateLimit.from_config(per_minute=10_000)).usage()
    polled = series[f'pipeline_budget_requests_total{{{account},lane="poll"}}']
    assert polled == usage.poll.acquired > 0
    assert (
        series[f'pipeline_budget_window_limit{{{account},window="60s",shared="false"}}'] == 10_000
    )
    http_requests = sum(
        v for k, v in series.items() if k.startswith("pipeline_http_requests_total")
    )
    admitted = sum(v for k, v in series.items() if k.startswith("pipeline_budget_requests_total"))
    assert http_requests == admitted  # every admitted request reached the sandbox, was counted
    assert series[f"pipeline_applier_http_batches_total{{{account}}}"] == 3
    assert series['pipeline_command_results_total{outcome="applied"}'] == 4
    assert series["pipeline_commands_dead_letters_total"] == 2
    assert series['pipeline_publisher_events_total{type="order.created"}'] == 5
    assert series["pipeline_broker_connected"] == 0
    assert series["pipeline_ready"] == 0


# --- /healthz and /readyz -------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _worker(bootstrap: str, roles: frozenset[str]) -> Worker:
    acc = AccountConfig(
        platform="pazarama",
        account="main",
        base_url="http://127.0.0.1:9",
        credentials={"client_id": SecretRef(env="A"), "client_secret": SecretRef(env="B")},
    )
    config = Config(kafka=KafkaConfig(bootstrap=bootstrap), accounts=[acc])
    accounts = prepare_accounts(config, {"A": "client-id-1", "B": "client-secret-1"})
    worker = Worker(config, accounts, bootstrap=bootstrap, roles=roles)
    worker.fleet = PollFleet(
        [("pazarama", "main")],
        make_poller=lambda platform, account: None,  # type: ignore[arg-type,return-value]
        consumer_factory=lambda: None,  # type: ignore[arg-type,return-value]
    )
    return worker


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, object]:
    async with session.get(url) as response:
        return response.status, await response.json()


async def test_readyz_follows_the_broker_and_the_assignment(kafka_bootstrap: str) -> None:
    worker = _worker(kafka_bootstrap, frozenset({"poll"}))
    assert worker.fleet is not None
    probe = BrokerProbe(kafka_bootstrap, cache_for=0)
    async with (
        serve_metrics(worker, MetricsConfig(port=0), probe=probe) as server,
        aiohttp.ClientSession() as session,
    ):
        assert server is not None
        assert await _get(session, server.url + "/healthz") == (200, {"status": "alive"})
        status, body = await _get(session, server.url + "/readyz")
        assert status == 503 and "starting: no producer yet" in body["reasons"]  # type: ignore[index]
        async with KafkaEventPublisher(kafka_bootstrap, embedded=True) as publisher:
            worker.publisher = publisher
            status, body = await _get(session, server.url + "/readyz")
            assert status == 503
            assert body["reasons"] == [  # type: ignore[index]
                "poll role: no _pipeline.accounts partition assigned (yet)"
            ]
            worker.fleet.state.partitions.add(3)
            assert await _get(session, server.url + "/readyz") == (200, {"ready": True})
            worker.roles = frozenset({"apply"})
            worker.fleet.state.partitions.clear()
            assert await _get(session, server.url + "/readyz") == (200, {"ready": True})


async def test_readyz_says_when_the_broker_is_unreachable() -> None:
    bootstrap = f"127.0.0.1:{_closed_port()}"
    worker = _worker(bootstrap, frozenset({"apply"}))
    async with (
        serve_metrics(worker, MetricsConfig(port=0)) as server,
        aiohttp.ClientSession() as session,
    ):
        assert server is not None
        status, body = await _get(session, server.url + "/readyz")
    assert status == 503
    assert f"broker not reachable at {bootstrap}" in body["reasons"]  # type: ignore[index]


async def test_the_probe_keeps_its_answer_for_a_while() -> None:
    now = [0.0]
    closed = _closed_port()
    probe = BrokerProbe(f"127.0.0.1:{closed}", cache_for=5.0, monotonic=lambda: now[0])
    assert not await probe.reachable()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", closed))
        sock.listen()
        assert not await probe.reachable()  # cached
        now[0] = 6.0
        assert await probe.reachable()


def test_bootstrap_addresses() -> None:
    assert bootstrap_addresses("a:9092, [::1]:9093,bad") == [("a", 9092), ("::1", 9093)]


async def test_a_busy_metrics_port_is_a_config_error() -> None:
    worker = _worker("127.0.0.1:1", frozenset({"poll"}))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = int(sock.getsockname()[1])
        with pytest.raises(ConfigError) as info:
            async with serve_metrics(worker, MetricsConfig(port=port)):
                pass
    assert info.value.path == "metrics.port"
    async with serve_metrics(worker, MetricsConfig(enabled=False)) as server:
        assert server is None


# --- HTTP metrics from the HTTP layer's log -------------------------------------------------


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_http_requests_are_counted_without_changing_the_log_output() -> None:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def busy(request: web.Request) -> web.Response:
        return web.Response(status=503, text="busy")

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/busy", busy)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    root, keep = logging.getLogger(), _Keep()
    level = root.level
    root.addHandler(keep)
    root.setLevel(logging.INFO)
    reg = Registry()
    metrics = HttpRequestMetrics(reg)
    metrics.attach()
    try:
        async with HttpClient(HttpSettings(total=5)) as http:
            budget = RateBudget(RateLimit.from_config(per_minute=1000))
            ctx = RequestContext("pazarama", "main", "orders")
            await http.request(ctx, "GET", base + "/ok", lane=Lane.POLL, budget=budget)
            with pytest.raises(RetryableError):
                await http.request(ctx, "GET", base + "/busy", lane=Lane.POLL, budget=budget)
    finally:
        metrics.detach()
        root.removeHandler(keep)
        root.setLevel(level)
        await runner.cleanup()
    series = _parse(reg.render())
    labels = 'platform="pazarama",account="main",endpoint="orders"'
    assert series[f'pipeline_http_requests_total{{{labels},code="200"}}'] == 1
    assert series[f'pipeline_http_requests_total{{{labels},code="503"}}'] == 1
    latency = 'platform="pazarama",endpoint="orders"'  # not per account: one series per endpoint
    assert series[f"pipeline_http_request_duration_seconds_count{{{latency}}}"] == 2
    assert not [r for r in keep.records if r.name == "pipeline.http" and r.levelno < logging.INFO]
    assert logging.getLogger("pipeline.http").level == logging.NOTSET  # restored


# --- logs -----------------------------------------------------------------------------------

TC = "12345678950"
PHONE = "0532 123 45 67"
EMAIL = "ayse.yilmaz@example.com"
SECRET = "Zx9-live-token-4471"


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    log = logging.getLogger("tests.observability")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    yield log
    log.handlers.clear()
    log.propagate = True


def _emit(log: logging.Logger, formatter: logging.Formatter) -> str:
    register_secret(SECRET)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    log.handlers = [handler]
    log.info("customer %s phone %s", TC, PHONE)
    log.warning(
        "token %s for %s",
        SECRET,
        EMAIL,
        extra={
            "platform": "pazarama",
            "account": "main",
            "order_id": "42",
            "status": 500,
            "email": EMAIL,
            "tc_number": int(TC),
            "customer": {"tc": TC, "phones": [PHONE], "note": f"secret={SECRET}"},
        },
    )
    try:
        raise ValueError(f"bad answer for {TC}: {SECRET}")
    except ValueError:
        log.exception("failed for %s", EMAIL)
    return stream.getvalue()


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()], ids=["json", "text"])
def test_personal_ids_and_secrets_never_reach_the_output(
    logger: logging.Logger, formatter: logging.Formatter
) -> None:
    out = _emit(logger, formatter)
    for raw in (TC, PHONE, PHONE.replace(" ", ""), EMAIL, SECRET):
        assert raw not in out, raw
    assert "*********50" in out and "a***@example.com" in out
    assert "ValueError" in out  # the traceback is there, masked


def test_json_lines_carry_the_fields(logger: logging.Logger) -> None:
    lines = [json.loads(line) for line in _emit(logger, JsonFormatter()).splitlines() if line]
    assert len(lines) == 3
    first, second, third = lines
    assert set(first) == {"time", "level", "logger", "message"}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", first["time"])
    assert (first["level"], first["logger"]) == ("INFO", "tests.observability")
    assert second["platform"] == "pazarama" and second["order_id"] == "42"
    assert second["status"] == 500  # numbers stay numbers unless they look like an id
    assert second["tc_number"] == "*********50"
    assert second["customer"]["phones"] == ["*******67"]
    assert third["level"] == "ERROR" and "Traceback" in third["exc"]


def test_repeated_aiokafka_messages_are_let_through_once_per_interval() -> None:
    now = [0.0]
    repeat = RepeatFilter(interval=60.0, monotonic=lambda: now[0])

    def record(name: str, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, "", 0, msg, None, None)

    storm = "Unable connect to node with id 1: [Errno 111] Connect call failed"
    shown = [repeat.filter(record("aiokafka.conn", storm)) for _ in range(100)]
    assert shown.count(True) == 1
    assert repeat.filter(record("aiokafka.client", storm))  # another logger: its own run
    assert repeat.filter(record("aiokafka.conn", "other message"))
    assert all(repeat.filter(record("pipeline.poller", storm)) for _ in range(3))  # not aiokafka
    now[0] = 61.0
    later = record("aiokafka.conn", storm)
    assert repeat.filter(later)
    assert later.suppressed == 99  # type: ignore[attr-defined]


def test_configure_logging_installs_one_handler() -> None:
    root = logging.getLogger()
    level, before = root.level, list(root.handlers)
    try:
        configure_logging("info", "text", stream=io.StringIO())
        stream = io.StringIO()
        handler = configure_logging("WARNING", "json", stream=stream)
        assert [h for h in root.handlers if h not in before] == [handler]
        assert root.level == logging.WARNING
        for _ in range(20):
            logging.getLogger("aiokafka.conn").error("Unable connect to node with id 1")
        logging.getLogger("pipeline.test").info("below the level")
        lines = stream.getvalue().splitlines()
        assert len(lines) == 1 and json.loads(lines[0])["logger"] == "aiokafka.conn"
        with pytest.raises(ValueError, match="unknown log level"):
            configure_logging("LOUD")
    finally:
        for h in [h for h in root.handlers if h not in before]:
            root.removeHandler(h)
        root.setLevel(level)
