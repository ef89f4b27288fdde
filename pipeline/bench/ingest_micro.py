"""The micro phase of ``pipeline bench ingest``: the worker's per-order path without its I/O.

Pages recorded from the sandbox are replayed from memory through the platform's own client
(page decode, classification, mapping), then change detection with fingerprints, event
encoding, headers and key, on one core; the best CPU time of a few repeats counts.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Final

import msgspec

import schemas
from pipeline.adapter import Malformed, PlatformClient
from pipeline.bench.ingest_sandbox import START
from pipeline.changes import detect
from pipeline.http import HttpClient, HttpResponse, HttpSettings, RequestContext, ResponseClassifier
from pipeline.ratelimit import RateBudget, RateLimit
from schemas.cloudevents import event_headers

if TYPE_CHECKING:
    from pipeline.bench.ingest import _Target

__all__ = ["micro"]

_UNLIMITED: Final = RateLimit.from_config(per_second=1_000_000)


def _request_key(method: str, url: str, json: object) -> tuple[str, str, bytes]:
    return method, url, b"" if json is None else msgspec.json.encode(json)


class _RecordingHttp(HttpClient):
    """An HttpClient that keeps every answer, keyed by method, URL and JSON body."""

    def __init__(self, settings: HttpSettings) -> None:
        super().__init__(settings)
        self.answers: dict[tuple[str, str, bytes], HttpResponse] = {}

    async def request(
        self, ctx: RequestContext, method: str, url: str, **kwargs: Any
    ) -> HttpResponse:
        response = await super().request(ctx, method, url, **kwargs)
        self.answers[_request_key(method, url, kwargs.get("json"))] = response
        return response


class _ReplayHttp(HttpClient):
    """Answers from a recording, classified as the real client would; no socket, no budget."""

    def __init__(self, answers: Mapping[tuple[str, str, bytes], HttpResponse]) -> None:
        super().__init__()
        self.answers = answers

    async def request(
        self, ctx: RequestContext, method: str, url: str, **kwargs: Any
    ) -> HttpResponse:
        response = self.answers[_request_key(method, url, kwargs.get("json"))]
        classifier: ResponseClassifier = kwargs.get("classifier") or ResponseClassifier()
        classifier.classify(ctx, response)
        return response


async def micro(
    target: _Target, orders: int, repeats: int, horizon: dt.timedelta
) -> tuple[int, float]:
    """Orders processed per repeat and the best orders/s (CPU time) over the repeats."""
    label = target.labels[0]
    async with _RecordingHttp(HttpSettings(total=60)) as recorder:
        # Recorded: exactly the pages that yield the first ``orders`` orders, so the replay
        # below stops before asking for one that was not.
        recorded = await _process_orders(
            target.client(label, recorder, RateBudget(_UNLIMITED)), orders, horizon, work=False
        )
    replay = _ReplayHttp(recorder.answers)
    best = math.inf
    for _ in range(max(1, repeats)):
        client = target.client(label, replay, RateBudget(_UNLIMITED))
        started = time.process_time()
        await _process_orders(client, recorded, horizon, work=True)
        best = min(best, time.process_time() - started)
    return recorded, recorded / best if best > 0 else math.inf


async def _process_orders(
    client: PlatformClient, limit: int, horizon: dt.timedelta, *, work: bool
) -> int:
    """The worker's per-order path without its I/O: the client's decode and mapping, then
    (``work``) change detection, event encoding, headers and key."""
    done = 0
    records = client.fetch_orders(START - horizon, START)
    try:
        async for record in records:
            if work and not isinstance(record, Malformed):
                event, _ = detect(record, None, now=START)
                if event is not None:
                    schemas.encode_event(event)
                    event_headers(event)
                    event.key()
            done += 1
            if done >= limit:
                break
    finally:
        await _close(records)
    return done


async def _close(iterator: AsyncIterator[Any]) -> None:
    """Finish an async generator left early now, not when the loop collects it."""
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()
