"""Documented limits checked on the sandboxes' request logs (independent of their enforcement)."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

import msgspec

from pipeline import platforms
from pipeline.sandbox import LogEntry, RateLimitRule, Sandbox, per_ip, per_tenant, per_token

__all__ = ["WindowViolation", "limit_findings", "rule_violations", "window_violations"]


class WindowViolation(msgspec.Struct, frozen=True, kw_only=True):
    """``count`` requests of ``key`` within ``window`` seconds ending at ``at`` (> ``limit``)."""

    key: str
    at: dt.datetime
    count: int
    limit: int
    window: float


def window_violations(
    entries: Iterable[LogEntry],
    *,
    limit: int,
    window: float,
    key: Callable[[LogEntry], str | None],
    counted: Callable[[LogEntry], bool] | None = None,
) -> list[WindowViolation]:
    """Every request that was the (limit+1)-th or later of its key within a sliding window.

    ``key`` says whose budget a request counts against (None: not counted); ``counted`` filters
    further. By default every request that reached the platform counts, refused ones too -- a
    platform counts what it receives; injected edge faults never reached it and do not.
    """
    keep = counted or (lambda entry: entry.fault is None)
    times: dict[str, list[float]] = defaultdict(list)
    violations = []
    for entry in sorted(entries, key=lambda e: (e.at, e.seq)):
        who = key(entry)
        if who is None or not keep(entry):
            continue
        now = entry.at.timestamp()
        recent = times[who]
        recent.append(now)
        while recent and recent[0] <= now - window:
            recent.pop(0)
        if len(recent) > limit:
            violations.append(
                WindowViolation(key=who, at=entry.at, count=len(recent), limit=limit, window=window)
            )
    return violations


#: The framework's key functions and the log field that holds the same key.
_LOG_KEYS: Final[dict[Any, Callable[[LogEntry], str | None]]] = {
    per_tenant: lambda entry: entry.tenant,
    per_ip: lambda entry: entry.remote,
    # A valid token's identity label is the token's label ("main/token#3"); requests with an
    # expired or unknown token are logged without it and go uncounted here.
    per_token: lambda entry: entry.identity if "/token#" in entry.identity else None,
}


def rule_violations(
    sandbox: Sandbox, rules: Sequence[RateLimitRule] | None = None
) -> dict[str, list[WindowViolation]]:
    """Each documented limit of ``sandbox`` (its rate-limit rules) checked on its request log.

    Independent of the sandbox's own enforcement (``sandbox.limits.violations`` counts refusals):
    this replays the log. A rule keyed by a function of its own (not per tenant / IP / token)
    is counted per tenant.
    """
    out: dict[str, list[WindowViolation]] = {}
    for rule in sandbox.limits.rules if rules is None else rules:
        log_key = _LOG_KEYS.get(rule.key, _LOG_KEYS[per_tenant])
        pattern = re.compile(rule.path) if rule.path else None

        def applies(entry: LogEntry, rule: RateLimitRule = rule, pattern: Any = pattern) -> bool:
            if rule.methods is not None and entry.method not in rule.methods:
                return False
            if pattern is not None and not pattern.search(entry.path):
                return False
            return entry.fault is None

        out[rule.name] = window_violations(
            sandbox.log.entries,
            limit=rule.limit,
            window=rule.window,
            key=log_key,
            counted=applies,
        )
    return out


def limit_findings(sandbox: Sandbox) -> dict[str, int]:
    """Every documented limit of ``sandbox`` → how often it was exceeded: its rules replayed on
    its request log (``… (replayed)``), its own refusals (``… (refused)``), and for a platform
    that documents none, our default budget per account (``… default budget``)."""
    default_limits = platforms.default_limits()
    found: dict[str, int] = {}
    for rule, violations in rule_violations(sandbox).items():
        found[f"{sandbox.platform} {rule} (replayed)"] = len(violations)
    for rule, count in sandbox.limits.violations.items():
        found[f"{sandbox.platform} {rule} (refused)"] = count
    if not sandbox.limits.rules and sandbox.platform in default_limits:
        limit = default_limits[sandbox.platform].windows[0]
        own = window_violations(
            sandbox.log.entries,
            limit=limit.limit,
            window=limit.period,
            key=lambda entry: entry.tenant,
        )
        found[f"{sandbox.platform} default budget {limit.limit}/{limit.period:g}s"] = len(own)
    return found
