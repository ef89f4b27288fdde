"""Every request a sandbox answered: when (sandbox clock), what, as whom, and how it went.

Tests assert on it ("the adapter never sent more than 100 orders per call", "a write went out
once"), benchmarks count and time it, and the demo shows it. It lives in memory with a bound on
entries and on the body bytes kept per entry. Identities are labels (``main/token#3``,
``main:basic``); exported bodies have every credential and token value the sandbox knows
replaced by ``***``, so an export can be attached to a bug report.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec


class LogEntry(msgspec.Struct, kw_only=True):
    id: str  # also sent back as X-Sandbox-Request-Id and stamped on ground-truth writes
    seq: int
    at: dt.datetime
    method: str
    path: str
    query: list[tuple[str, str]]
    remote: str | None
    route: str | None = None  # the matched route pattern, "/orders/{order_id}"
    identity: str = "anonymous"
    tenant: str | None = None
    body: bytes = b""
    body_size: int = 0
    body_truncated: bool = False
    status: int | None = None  # None: the handler never answered (cancelled at shutdown)
    latency: float = 0.0  # wall-clock seconds, so benchmarks measure the real thing
    response_size: int | None = None
    fault: str | None = None  # the injected fault's kind, if one fired
    limited: str | None = None  # the rate-limit rule that refused the request
    error: str | None = None  # exception type if the handler failed

    def json(self) -> Any:
        return msgspec.json.decode(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class ExportedEntry(msgspec.Struct, kw_only=True):
    id: str
    seq: int
    at: dt.datetime
    method: str
    path: str
    route: str | None
    query: list[tuple[str, str]]
    identity: str
    tenant: str | None
    body: str
    body_size: int
    body_truncated: bool
    status: int | None
    latency: float
    fault: str | None
    limited: str | None
    error: str | None


class LogSummary(msgspec.Struct, kw_only=True):
    requests: int
    by_status: dict[str, int]
    by_route: dict[str, int]  # "GET /orders/{order_id}": the path for unmatched requests
    faults: dict[str, int]
    limited: dict[str, int]
    latency_p50: float
    latency_p95: float
    latency_max: float


class RequestLog:
    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        max_body_bytes: int = 64 * 1024,
        secrets: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        self._entries: deque[LogEntry] = deque(maxlen=max_entries)
        self._max_body = max_body_bytes
        self._secrets = secrets
        self._seq = 0

    def open(
        self,
        *,
        at: dt.datetime,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]],
        remote: str | None,
        body: bytes,
    ) -> LogEntry:
        """Start an entry when a request arrives; the middleware fills in the rest."""
        self._seq += 1
        entry = LogEntry(
            id=f"req-{self._seq:06d}",
            seq=self._seq,
            at=at,
            method=method,
            path=path,
            query=list(query),
            remote=remote,
            body=body[: self._max_body],
            body_size=len(body),
            body_truncated=len(body) > self._max_body,
        )
        self._entries.append(entry)
        return entry

    @property
    def total(self) -> int:
        """Requests seen since the sandbox started, also those the bounded log let go."""
        return self._seq

    @property
    def entries(self) -> list[LogEntry]:
        return list(self._entries)

    def __iter__(self) -> Iterator[LogEntry]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def since(self, seq: int) -> list[LogEntry]:
        return [e for e in self._entries if e.seq > seq]

    def matching(self, method: str | None = None, path: str | None = None) -> list[LogEntry]:
        """Entries by exact method and path (path without the query string)."""
        return [
            e
            for e in self._entries
            if (method is None or e.method == method) and (path is None or e.path == path)
        ]

    def clear(self) -> None:
        self._entries.clear()

    def export(self, since: int = 0) -> list[ExportedEntry]:
        secrets = sorted((s for s in self._secrets() if len(s) >= 4), key=len, reverse=True)

        def redact(text: str) -> str:
            for secret in secrets:
                text = text.replace(secret, "***")
            return text

        return [
            ExportedEntry(
                id=e.id,
                seq=e.seq,
                at=e.at,
                method=e.method,
                path=e.path,
                route=e.route,
                query=[(k, redact(v)) for k, v in e.query],
                identity=e.identity,
                tenant=e.tenant,
                body=redact(e.text),
                body_size=e.body_size,
                body_truncated=e.body_truncated,
                status=e.status,
                latency=e.latency,
                fault=e.fault,
                limited=e.limited,
                error=e.error,
            )
            for e in self.since(since)
        ]

    def write_jsonl(self, path: Path) -> int:
        """Write the (redacted) log as JSON lines; returns the number of entries written."""
        exported = self.export()
        encoder = msgspec.json.Encoder()
        with path.open("wb") as out:
            for entry in exported:
                out.write(encoder.encode(entry) + b"\n")
        return len(exported)

    def summary(self) -> LogSummary:
        entries = list(self._entries)
        latencies = sorted(e.latency for e in entries) or [0.0]
        p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
        return LogSummary(
            requests=len(entries),
            by_status=dict(Counter(str(e.status) for e in entries)),
            by_route=dict(Counter(f"{e.method} {e.route or e.path}" for e in entries)),
            faults=dict(Counter(e.fault for e in entries if e.fault)),
            limited=dict(Counter(e.limited for e in entries if e.limited)),
            latency_p50=statistics.median(latencies),
            latency_p95=p95,
            latency_max=latencies[-1],
        )
