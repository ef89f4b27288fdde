"""Checkpoints behind: at the end of a settled run every account stream's cursor is recent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pipeline.checker.reading import Observation
from pipeline.checker.report import Findings, Report

__all__ = ["checkpoints_behind"]


def checkpoints_behind(
    observed: Mapping[tuple[str, str, str], Observation],
    bound: dt.timedelta | Mapping[str, dt.timedelta],
    *,
    now: dt.datetime | None = None,
    report: Report | None = None,
    examples: int = 5,
) -> Report:
    """Count every ``(platform, account, stream)`` whose cursor lags ``now`` by more than its
    bound (one for all, or one per platform: a platform with a daily request budget polls
    rarely; a platform missing from the mapping is not judged)."""
    found = Findings(examples, report)
    now = now or dt.datetime.now(dt.UTC)
    for (platform, account, stream), obs in sorted(observed.items()):
        limit = bound.get(platform) if isinstance(bound, Mapping) else bound
        if limit is None:
            continue
        found.report.streams += 1
        lag = now - obs.polled_until
        if lag > limit:
            found.add(
                "checkpoint_behind",
                f"{platform}:{account} {stream}: cursor {obs.polled_until:%H:%M:%S} is "
                f"{lag.total_seconds():.0f}s behind (bound {limit.total_seconds():.0f}s)",
            )
    return found.report
