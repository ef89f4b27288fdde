"""Shared fixtures. Broker: one embedded Tansu broker for the whole session, started lazily."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from pipeline.broker import EmbeddedBroker

# CI machines have 2 cores and run the broker beside the tests: input generation and examples may
# be slow for reasons that are not the code's. Examples stay as many; only the timing checks go.
settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")


@pytest.fixture(scope="session")
def embedded_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """The session's broker, started on first request; its output goes to ``.../tansu.log``.

    It is stopped in the finalizer; if the test process dies without finalizers (SIGKILL,
    pytest-timeout's thread method), Linux kills it with us (``PR_SET_PDEATHSIG``).
    """
    broker = EmbeddedBroker(log_path=tmp_path_factory.mktemp("broker") / "tansu.log")
    broker.start_blocking()
    try:
        yield broker
    finally:
        broker.stop_blocking()


@pytest.fixture(scope="session")
def kafka_bootstrap(embedded_broker: EmbeddedBroker) -> str:
    """``"127.0.0.1:PORT"`` of the session's embedded broker."""
    return embedded_broker.bootstrap


_NOT_IN_TOPIC_NAMES = re.compile(r"[^A-Za-z0-9._-]+")


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A topic name no other test (or rerun) uses: the test's name plus a random suffix."""
    slug = _NOT_IN_TOPIC_NAMES.sub("-", request.node.name).strip("-")[:100]
    return f"test.{slug}.{uuid.uuid4().hex[:8]}"
