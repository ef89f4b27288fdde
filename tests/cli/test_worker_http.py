"""A ``pipeline run`` worker process scraped over HTTP as Prometheus and a kubelet would:
``/healthz``, ``/readyz`` and ``/metrics`` on its configured port, then SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from pipeline.broker import find_free_port

pytestmark = pytest.mark.integration


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - http://127.0.0.1
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def _until(url: str, ok: Any, timeout: float = 30.0) -> tuple[int, str, str]:
    """GET ``url`` every 0.3 s until ``ok(status, body)``; fails with the last answer."""
    deadline = time.monotonic() + timeout
    last: tuple[int, str, str] | None = None
    while time.monotonic() < deadline:
        try:
            last = _get(url)
        except OSError:  # not listening yet
            last = None
        if last is not None and ok(last[0], last[2]):
            return last
        time.sleep(0.3)
    pytest.fail(f"{url}: no good answer within {timeout}s; last: {last}")


def _sample(metrics: str, name: str, **labels: str) -> float | None:
    """The value of ``name{labels...}`` in a Prometheus text page (labels matched as a subset)."""
    for line in metrics.splitlines():
        match = re.match(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
        if not match:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(2))
    return None


@pytest.mark.timeout(90)
def test_a_run_worker_serves_health_readiness_and_its_metrics(cli: Any, tmp_path: Path) -> None:
    sandbox_port, metrics_port = find_free_port(), find_free_port()
    account = f"cli-{uuid.uuid4().hex[:8]}"
    sandbox = cli.start("sandbox", "--platform", "softtr", "--port", str(sandbox_port),
                        "--orders", "5")  # fmt: skip
    worker = None
    try:
        sandbox.out.wait_for("softtr")
        config = tmp_path / "fleet.toml"
        config.write_text(
            f'[kafka]\nbootstrap = "{cli.bootstrap}"\n\n'
            f'[metrics]\nhost = "127.0.0.1"\nport = {metrics_port}\n\n'
            f'[[accounts]]\nplatform = "softtr"\naccount = "{account}"\n'
            f'base_url = "http://127.0.0.1:{sandbox_port}/api"\n'
            'credentials.username = { env = "CLI_T_USER" }\n'
            'credentials.password = { env = "CLI_T_PASS" }\npoll_interval = "2s"\n'
        )
        env = {"CLI_T_USER": "sandbox-username", "CLI_T_PASS": "sandbox-password"}
        worker = cli.start("run", "--config", str(config), env=env)
        base = f"http://127.0.0.1:{metrics_port}"

        _until(f"{base}/healthz", lambda s, b: s == 200)
        _, ctype, body = _until(f"{base}/readyz", lambda s, b: s == 200)
        assert ctype.startswith("application/json") and json.loads(body)["ready"] is True

        def polled(status: int, page: str) -> bool:
            # Events count as they are published; a cycle counts once its checkpoint is saved,
            # a little later. Wait for both, or the page may sit between the two.
            events = _sample(page, "pipeline_poll_events_total", account=account)
            cycles = _sample(page, "pipeline_poll_cycles_total", account=account)
            return status == 200 and (events or 0) > 0 and (cycles or 0) >= 1

        _, ctype, page = _until(f"{base}/metrics", polled, timeout=45)
        assert ctype.startswith("text/plain") and "version=0.0.4" in ctype
        assert _sample(page, "pipeline_ready") == 1
        assert _sample(page, "pipeline_broker_connected") == 1
        assert _sample(page, "pipeline_poll_interval_seconds", account=account) is not None
        assert (_sample(page, "pipeline_http_requests_total") or 0) > 0
        # The cycle's request record (polls key) and at least one stream checkpoint.
        assert (_sample(page, "pipeline_checkpoint_saves_total", role="poll") or 0) >= 2
        assert (_sample(page, "pipeline_checkpoint_bytes_total", role="poll") or 0) > 0
        assert "sandbox-password" not in page

        assert worker.stop(signal.SIGTERM, timeout=20) == 0
        with pytest.raises(OSError):
            _get(f"{base}/healthz")
        assert "Traceback" not in worker.err.text()
    finally:
        if worker is not None:
            worker.close()
        sandbox.stop()
        sandbox.close()
