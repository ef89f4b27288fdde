"""The report of ``pipeline bench fleet``: its JSON line and its table."""

from __future__ import annotations

import math

import msgspec

__all__ = ["FleetReport", "render_table"]


class FleetReport(msgspec.Struct, frozen=True, kw_only=True):
    """One run's numbers (the JSON line). Rates are per second of the measured window."""

    bench: str = "fleet"
    platform: str  # a platform id or "mixed"
    platforms: dict[str, int]  # accounts per platform
    accounts: int
    orders_per_account_hour: float
    poll_interval_floor: str
    horizon: str
    window_s: float
    warmup_s: float
    warm_accounts: int  # accounts past two cycles when the window began
    worker_cpu_pct: float  # of one core
    worker_cpu_s: float
    worker_rss_mb: float  # mean VmRSS over the window
    worker_peak_rss_mb: float  # VmHWM at the end (warm-up included)
    scrape_cpu_s: float  # worker CPU to serve one /metrics (after the window)
    http_connections_per_host: int  # the worker's [http] connections_per_host
    polls_per_s: float
    requests_per_s: float
    requests_per_poll: float
    http_non_2xx: int
    checkpoints_per_s: float  # records written to _pipeline.checkpoints
    checkpoint_kb_per_s: float  # their value bytes, before compression
    planned_interval_p50_s: float
    planned_interval_p99_s: float
    planned_interval_max_s: float
    events: int  # acknowledged by the broker during the window
    events_by_type: dict[str, int]
    orders_created: int  # by the sandboxes during the window
    freshness_p50_s: float  # record timestamp on orders.v1 − creation in the sandbox
    freshness_p99_s: float
    freshness_max_s: float
    freshness_read_p50_s: float  # the same, to when the bench's reader got the record
    orders_missing: int  # of orders_created, not on orders.v1 after settle_s
    settle_s: float
    sandbox_cpu_pct: float
    sandbox_requests_per_s: float
    sandbox_refusals: dict[str, int]  # rate-limit refusals by the sandboxes in the window
    broker_cpu_pct: float | None
    targets_met: bool  # worker CPU < 50 % of one core and peak RSS < 300 MB
    setup_s: float = 0.0
    total_s: float = 0.0


def _num(value: float | int | None, unit: str = "", digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}{unit}"


def render_table(r: FleetReport) -> str:
    """The report as an aligned table (section, metric, value, note)."""
    from pipeline.bench.fleet import TARGET_CPU_PCT, TARGET_RSS_MB

    def target(value: float, goal: float, unit: str) -> str:
        return f"target < {goal:g}{unit}  {'met' if value < goal else 'NOT met'}"

    mix = ", ".join(f"{p} {n}" for p, n in r.platforms.items())
    by_type = ", ".join(f"{k} {v:,}" for k, v in r.events_by_type.items()) or "none"
    refusals = ", ".join(f"{k} {v}" for k, v in r.sandbox_refusals.items()) or "none"
    missing = "none missing" if not r.orders_missing else f"{r.orders_missing} MISSING"
    rows = [
        (
            "worker",
            "CPU",
            _num(r.worker_cpu_pct, " %", 1),
            target(r.worker_cpu_pct, TARGET_CPU_PCT, " % of one core"),
        ),
        ("", "RSS (window mean)", _num(r.worker_rss_mb, " MB", 1), "VmRSS"),
        (
            "",
            "peak RSS",
            _num(r.worker_peak_rss_mb, " MB", 1),
            target(r.worker_peak_rss_mb, TARGET_RSS_MB, " MB") + " (VmHWM)",
        ),
        ("", "one /metrics scrape", _num(r.scrape_cpu_s, " s", 2), "CPU, after the window"),
        ("polling", "polls/s", _num(r.polls_per_s, "", 2), f"{r.warm_accounts} accounts warm"),
        (
            "",
            "requests/s",
            _num(r.requests_per_s, "", 2),
            f"{_num(r.requests_per_poll, '', 2)} per poll, non-2xx {r.http_non_2xx}, "
            f"{r.http_connections_per_host} connections per host",
        ),
        (
            "",
            "checkpoint records/s",
            _num(r.checkpoints_per_s, "", 2),
            f"{_num(r.checkpoint_kb_per_s, ' kB/s', 1)} before compression",
        ),
        (
            "",
            "planned interval p50",
            _num(r.planned_interval_p50_s, " s", 1),
            f"floor {r.poll_interval_floor}",
        ),
        (
            "",
            "planned interval p99",
            _num(r.planned_interval_p99_s, " s", 1),
            f"max {_num(r.planned_interval_max_s, ' s', 1)}",
        ),
        ("", "events", _num(r.events), by_type),
        (
            "freshness",
            "orders created",
            _num(r.orders_created),
            f"{missing} after {r.settle_s:.0f} s",
        ),
        ("", "p50", _num(r.freshness_p50_s, " s", 2), "record timestamp − creation in the sandbox"),
        (
            "",
            "p99",
            _num(r.freshness_p99_s, " s", 2),
            f"read by the bench: p50 {_num(r.freshness_read_p50_s, ' s', 2)}",
        ),
        ("", "max", _num(r.freshness_max_s, " s", 2), ""),
        (
            "others",
            "sandbox CPU",
            _num(r.sandbox_cpu_pct, " %", 1),
            f"{_num(r.sandbox_requests_per_s, '', 1)} requests/s, limit refusals: {refusals}",
        ),
        ("", "broker CPU", _num(r.broker_cpu_pct, " %", 1), "Tansu"),
        ("run", "window", _num(r.window_s, " s", 0), f"after a warm-up of {r.warmup_s:.0f} s"),
        ("", "total", _num(r.total_s, " s", 0), f"sandbox setup {r.setup_s:.1f} s"),
    ]
    head = (
        f"bench fleet — {r.accounts:,} accounts ({mix}) in one worker, "
        f"{r.orders_per_account_hour:g} orders/account/h, horizon {r.horizon}"
    )
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [head]
    for section, metric, value, note in rows:
        left = f"  {section:<{widths[0]}}  {metric:<{widths[1]}}  {value:>{widths[2]}}"
        lines.append(f"{left}  {note}".rstrip())
    return "\n".join(lines)
