"""Retrying platform calls: exponential backoff with jitter, honouring ``Retry-After``.

Only errors marked ``retriable`` are retried (see :mod:`pipeline.errors`). Sleep, randomness and
time are injected so tests record the pauses instead of waiting.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from pipeline.errors import PipelineError, RateLimited
from pipeline.masking import mask_text

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter (1.0 = full jitter), bounded by attempts and a deadline."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 1.0
    deadline: float | None = 120.0  # seconds since the first attempt; None: attempts only

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The pause after failed attempt number ``attempt`` (1-based)."""
        cap = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return cap - self.jitter * cap * rng.random()


async def with_retries(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
    clock: Callable[[], float] | None = None,
) -> T:
    """Call ``fn`` until it succeeds, retrying only errors marked ``retriable``.

    Waits at least a :class:`RateLimited` error's ``retry_after``. Stops after
    ``policy.max_attempts`` or when the next pause would pass the deadline, re-raising the last
    error. Not for writes that are unsafe to repeat: read the platform's state first (invariant 4).
    """
    rng = rng or random.Random()
    now = clock or asyncio.get_running_loop().time
    started = now()
    attempt = 0
    while True:
        attempt += 1
        try:
            return await fn()
        except PipelineError as exc:
            if not exc.retriable or attempt >= policy.max_attempts:
                raise
            pause = policy.delay(attempt, rng)
            if isinstance(exc, RateLimited) and exc.retry_after is not None:
                pause = max(pause, exc.retry_after)
            if policy.deadline is not None and now() - started + pause > policy.deadline:
                raise
            logger.info(
                "retrying in %.2fs (attempt %d of %d failed): %s",
                pause,
                attempt,
                policy.max_attempts,
                mask_text(str(exc)),
            )
        await sleep(pause)
