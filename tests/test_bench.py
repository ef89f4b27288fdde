"""``pipeline bench ingest`` on a small run: the report's shape, and every order exactly once in
the broker. Numbers are printed by the bench, never asserted (this machine's speed is not the
code's)."""

from __future__ import annotations

import argparse
import asyncio
import io

import msgspec
import pytest

from pipeline.bench import add_parser, main, render_table, run
from pipeline.bench.ingest import IngestReport, IngestSettings, check_exactly_once, run_ingest

#: The fields the issue names, in the JSON line.
ISSUE_FIELDS = {
    "bench",
    "orders",
    "events",
    "wall_s",
    "events_per_s",
    "cpu_s_per_10k",
    "peak_rss_mb",
    "micro_orders_per_s",
    "baseline_events_per_s",
    "ratio",
}


@pytest.fixture(scope="module")
def report() -> IngestReport:
    """One small run shared by the tests below (its own broker and sandbox process)."""
    settings = IngestSettings(
        orders=2_000, accounts=2, workers=1, micro_orders=300, micro_repeats=1
    )
    return asyncio.run(run_ingest(settings))


def test_a_small_run_publishes_every_sandbox_order_exactly_once(report: IngestReport) -> None:
    assert report.orders == 2_000 and report.accounts == 2
    assert report.events_by_type["order.created"] == 2_000
    assert report.events == sum(report.events_by_type.values())
    assert (report.duplicates, report.missing, report.unexpected) == (0, 0, 0)
    assert report.broker_records == report.events
    assert report.exactly_once


def test_the_measured_phase_is_served_from_the_warmed_up_sandbox(report: IngestReport) -> None:
    assert report.sandbox == "replay"
    assert report.sandbox_replay_misses == 0  # the warm-up sent every request the pollers sent


def test_the_report_carries_every_measurement(report: IngestReport) -> None:
    assert report.wall_s > 0 and report.events_per_s > 0
    assert report.cpu_s > 0 and report.cpu_s_per_10k > 0
    assert report.peak_rss_mb > 0
    assert report.workers == 1 and len(report.per_worker) == 1
    assert report.per_worker[0].events == report.events
    assert report.per_worker[0].accounts == 2
    assert report.micro_orders == 300 and report.micro_orders_per_s > 0
    assert report.baseline_events == 2_000  # the baseline read the same orders
    assert report.baseline_events_per_s is not None and report.baseline_events_per_s > 0
    assert report.ratio is not None and report.ratio > 0
    fields = msgspec.json.decode(msgspec.json.encode(report))
    assert fields.keys() >= ISSUE_FIELDS
    assert fields["bench"] == "ingest"


def test_the_table_names_each_part_of_the_run(report: IngestReport) -> None:
    table = render_table(report)
    for part in ("end to end", "events/s", "micro", "baseline", "ratio ours / baseline"):
        assert part in table


def test_json_prints_one_line_and_only_it_and_workers_share_the_accounts() -> None:
    out = io.StringIO()
    argv = ["ingest", "--orders", "300", "--workers", "2", "--micro-orders", "50"]
    status = main([*argv, "--no-baseline", "--json"], out=out)
    lines = out.getvalue().splitlines()
    assert status == 0
    assert len(lines) == 1
    fields = msgspec.json.decode(lines[0])
    assert fields["orders"] == 300 and fields["baseline_events_per_s"] is None
    assert fields["missing"] == 0 and fields["duplicates"] == 0
    # Two worker processes, one account each (the default: one account per worker at least),
    # together publishing every event once.
    assert fields["workers"] == 2 and fields["accounts"] == 2
    workers = fields["per_worker"]
    assert [w["accounts"] for w in workers] == [1, 1]
    assert all(w["events"] > 0 and w["cpu_s"] > 0 for w in workers)
    assert sum(w["events"] for w in workers) == fields["events"] == fields["broker_records"]
    assert fields["cpu_s"] == pytest.approx(sum(w["cpu_s"] for w in workers), abs=0.01)


def test_more_workers_than_accounts_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--orders", "300", "--accounts", "2", "--workers", "3"]) == 2
    assert "--workers" in capsys.readouterr().err


def test_the_cli_gets_bench_ingest_from_one_call(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="pipeline")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", "ingest", "--orders", "5000", "--json"])
    assert (args.orders, args.json, args.func) == (5000, True, run)
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["bench", "ingest", "--help"])
    assert exited.value.code == 0
    assert "--orders" in capsys.readouterr().out


def test_exactly_once_counts_duplicates_missing_and_unexpected_keys() -> None:
    expected = {("a", "1"), ("a", "2"), ("b", "1")}
    counts = {("a", "1"): 1, ("a", "2"): 3, ("a", "9"): 1}
    assert check_exactly_once(expected, counts) == (2, 1, 1)
    assert check_exactly_once(expected, dict.fromkeys(expected, 1)) == (0, 0, 0)
