"""``pipeline bench fleet`` on a small run: one real ``pipeline poll`` worker process, sandboxes in
a child process, the report's shape, and freshness measured for the orders created meanwhile.
Numbers are printed by the bench, never asserted (this machine's speed is not the code's)."""

from __future__ import annotations

import argparse
import asyncio

import msgspec
import pytest

from pipeline.bench import add_parser
from pipeline.bench.fleet import FleetSettings, exit_status, run_fleet
from pipeline.bench.fleet_measure import CreatedEvents, Scrape, percentile
from pipeline.bench.fleet_report import FleetReport, render_table

#: The figures the issue names for the fleet benchmark, in the JSON line.
ISSUE_FIELDS = {
    "accounts",
    "worker_cpu_pct",
    "worker_rss_mb",
    "worker_peak_rss_mb",
    "polls_per_s",
    "requests_per_s",
    "planned_interval_p50_s",
    "planned_interval_p99_s",
    "events",
    "freshness_p50_s",
    "freshness_p99_s",
    "freshness_max_s",
    "orders_missing",
}


@pytest.fixture(scope="module")
def report() -> FleetReport:
    """One small run (20 accounts, a 2 s cadence floor, 600 orders/account/h so a short window
    sees dozens of new orders), shared by the tests below."""
    settings = FleetSettings(
        accounts=20,
        minutes=0.15,
        rate_per_hour=600.0,
        initial_orders=3,
        poll_interval="2s",
        warmup_max=90.0,
    )
    return asyncio.run(run_fleet(settings))


def test_every_order_created_during_the_window_reaches_orders_v1(report: FleetReport) -> None:
    assert report.orders_created > 0  # 20 accounts x 600/h over 9 s: about 30 expected
    assert report.orders_missing == 0
    assert report.events_by_type.get("order.created", 0) >= 1
    # Freshness was measured: an order's event cannot precede its creation.
    assert 0 <= report.freshness_p50_s <= report.freshness_p99_s <= report.freshness_max_s
    assert report.freshness_read_p50_s >= 0
    assert exit_status(report, strict=False) == 0


def test_the_worker_was_measured_while_polling_every_account(report: FleetReport) -> None:
    assert report.accounts == 20 and report.platforms == {"pazarama": 20}
    assert report.warm_accounts == 20  # every account past two cycles before the window
    assert report.worker_cpu_s > 0 and report.worker_cpu_pct > 0
    assert 0 < report.worker_rss_mb <= report.worker_peak_rss_mb
    assert report.polls_per_s > 0 and report.requests_per_s >= report.polls_per_s
    # The planned cadence respects the configured floor.
    assert 2.0 <= report.planned_interval_p50_s <= report.planned_interval_p99_s
    assert report.http_non_2xx == 0 and report.sandbox_refusals == {}
    # Request records at least (a lease per cycle at a 2 s floor), never more than a few a poll.
    assert 0 < report.checkpoints_per_s <= 8 * report.polls_per_s
    assert report.checkpoint_kb_per_s > 0


def test_the_json_line_and_the_table_carry_the_issue_figures(report: FleetReport) -> None:
    line = msgspec.json.decode(msgspec.json.encode(report))
    assert line["bench"] == "fleet"
    assert line.keys() >= ISSUE_FIELDS
    table = render_table(report)
    for label in ("CPU", "peak RSS", "planned interval p99", "p99", "orders created"):
        assert label in table


def test_a_missing_order_or_a_missed_target_fails_the_run(report: FleetReport) -> None:
    missing = msgspec.structs.replace(report, orders_missing=1)
    assert exit_status(missing, strict=False) == 1
    over = msgspec.structs.replace(report, targets_met=False)
    assert exit_status(over, strict=False) == 0
    assert exit_status(over, strict=True) == 1


def test_an_order_without_its_created_event_counts_as_missing() -> None:
    events = CreatedEvents("127.0.0.1:1")
    created = {
        "type": "order.created",
        "platform": "pazarama",
        "account": "a",
        "subject": "x",
        "data": {"order_number": "1"},
    }
    events._take(msgspec.json.encode(created), 1_700_000_000_000, 1_700_000_001.0)
    changed = {**created, "type": "order.status_changed", "data": {"order_number": "2"}}
    events._take(msgspec.json.encode(changed), 1_700_000_000_000, 1_700_000_001.0)
    wanted = {("pazarama", "a", "1"): 1_699_999_990.0, ("pazarama", "a", "2"): 1_699_999_990.0}
    assert events.missing(wanted) == 1  # a status change is not the order's arrival
    assert events.seen[("pazarama", "a", "1")] == (1_700_000_000.0, 1_700_000_001.0)


def test_metrics_text_is_read_per_account() -> None:
    text = (
        "# TYPE pipeline_poll_cycles_total counter\n"
        'pipeline_poll_cycles_total{platform="pazarama",account="a"} 3\n'
        'pipeline_poll_cycles_total{platform="pazarama",account="b"} 5\n'
        'pipeline_http_requests_total{platform="pazarama",account="a",endpoint="x",code="200"} 7\n'
    )
    scrape = Scrape.parse(text)
    assert scrape.by_account("pipeline_poll_cycles_total") == {"pazarama:a": 3, "pazarama:b": 5}
    assert scrape.total("pipeline_http_requests_total", code="200") == 7
    assert scrape.total("pipeline_http_requests_total", code="429") == 0
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0 and percentile([1.0, 2.0], 99) == 2.0


def test_bad_options_are_refused_before_anything_starts(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="pipeline")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", "fleet", "--platform", "nowhere", "--accounts", "3"])
    assert args.func(args) == 2
    assert "--platform 'nowhere'" in capsys.readouterr().err
    args = parser.parse_args(["bench", "fleet", "--accounts", "0"])
    assert args.func(args) == 2


def test_mixed_spreads_the_accounts_over_the_per_account_limited_platforms() -> None:
    mix = FleetSettings(accounts=8, platform="mixed").mix()
    assert sorted(set(mix)) == ["c2c", "pazarama", "softtr", "webservis"]
    assert "ecarsi" not in mix  # per-IP limit: a thousand accounts on one address cannot share it
    assert [mix.count(p) for p in sorted(set(mix))] == [2, 2, 2, 2]
