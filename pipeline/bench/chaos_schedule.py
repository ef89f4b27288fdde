"""The chaos run's plan: what the driver does when, from a seed (pure, so it is tested alone).

Over ``minutes`` the plan has

* **broker cuts** (``cut``): one per started four minutes, ``seconds`` long -- 10-15 s in a run
  shorter than three minutes, 20-40 s otherwise -- never overlapping, all within the middle of
  the run (a run starts and ends with the broker up);
* **worker kills** (``kill``): about one per 25 s, SIGKILL then a restart ``seconds`` later; a
  kill waits until the previous victim is back, so at least one worker is always alive (with
  one worker, a kill leaves none for ``seconds``);
* **command bursts** (``burst``): about every 8 s, ``size`` valid commands plus poison and
  invalid ones;
* **fault storms** (``storm``): about one per 30 s, one platform answers every request with a
  5xx/429/HTML error for ``seconds``;
* **token expiry** (``tokens``): about one per 20 s, every issued token of a platform revoked.

Nothing is scheduled in the last tenth of the run but bursts' results still arriving.
"""

from __future__ import annotations

import random
from typing import Final, Literal

import msgspec

from schemas import topics

__all__ = ["Step", "plan"]

Action = Literal["cut", "kill", "burst", "storm", "tokens"]
STORM_KINDS: Final = ("status", "rate_limited", "html_error")


class Step(msgspec.Struct, frozen=True, kw_only=True, order=True):
    at: float  # seconds after the chaos began
    action: Action
    seconds: float = 0.0  # cut length, restart delay, storm length
    worker: int | None = None  # kill: which worker (0-based)
    platform: str | None = None  # storm, tokens
    size: int = 0  # burst: valid commands
    kind: str | None = None  # storm: the fault kind


def plan(minutes: float, workers: int, seed: int) -> list[Step]:
    """The steps of a run of ``minutes`` with ``workers`` worker processes, sorted by time."""
    if minutes <= 0 or workers < 1:
        raise ValueError(f"minutes must be > 0 and workers >= 1 (got {minutes}, {workers})")
    rng = random.Random(f"chaos|{seed}")
    duration = minutes * 60.0
    quiet = duration * 0.9  # no new chaos after this
    steps: list[Step] = []

    cuts = max(1, round(minutes / 4 + 0.49))
    short = minutes < 3
    slot = (0.75 - 0.15) * duration / cuts
    for n in range(cuts):
        length = rng.uniform(10, 15) if short else rng.uniform(20, 40)
        start = 0.15 * duration + n * slot
        latest = max(start, start + slot - length - 1.0)
        steps.append(Step(at=round(rng.uniform(start, latest), 2), action="cut", seconds=length))

    t = rng.uniform(8, 14)
    while t < quiet:
        delay = rng.uniform(2, 6)
        steps.append(
            Step(at=round(t, 2), action="kill", seconds=delay, worker=rng.randrange(workers))
        )
        t += delay + rng.uniform(15, 30)

    t = rng.uniform(1, 3)
    while t < quiet:
        steps.append(Step(at=round(t, 2), action="burst", size=rng.randint(5, 15)))
        t += rng.uniform(6, 10)

    t = rng.uniform(5, 20)
    while t < quiet:
        steps.append(
            Step(
                at=round(t, 2),
                action="storm",
                seconds=rng.uniform(4, 8),
                platform=rng.choice(topics.PLATFORMS),
                kind=rng.choice(STORM_KINDS),
            )
        )
        t += rng.uniform(20, 40)

    t = rng.uniform(5, 15)
    while t < quiet:
        steps.append(Step(at=round(t, 2), action="tokens", platform=rng.choice(topics.PLATFORMS)))
        t += rng.uniform(15, 25)
    return sorted(steps)
