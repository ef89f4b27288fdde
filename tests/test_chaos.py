"""The chaos run's schedule: seeded, within the run, one broker cut at a time, never every worker
down at once (with several), and scaled with the run's length. The bursts stay within
what the command budgets serve. The run itself is ``pipeline bench chaos`` (CI calls the
one-minute version), not a test."""

from __future__ import annotations

import itertools

import pytest

from pipeline import platforms
from pipeline.bench.chaos_driver import COMMAND_COST, DRIVE_SHARE, Bursts, command_rates
from pipeline.bench.chaos_schedule import Step, plan
from pipeline.ratelimit import RateLimit
from pipeline.testbed import SandboxAccount
from schemas import topics


def _of(steps: list[Step], action: str) -> list[Step]:
    return [s for s in steps if s.action == action]


def test_the_same_seed_gives_the_same_plan_and_another_seed_another() -> None:
    assert plan(1, 2, 7) == plan(1, 2, 7)
    assert plan(1, 2, 7) != plan(1, 2, 8)


@pytest.mark.parametrize("seed", range(20))
def test_the_one_minute_plan_has_one_short_cut_kills_bursts_and_faults(seed: int) -> None:
    steps = plan(1, 2, seed)
    assert steps == sorted(steps)
    (cut,) = _of(steps, "cut")
    assert 10 <= cut.seconds <= 15
    assert cut.at >= 0.15 * 60 and cut.at + cut.seconds <= 0.75 * 60 + 1
    assert 1 <= len(_of(steps, "kill")) <= 3
    assert len(_of(steps, "burst")) >= 5
    assert _of(steps, "storm") and _of(steps, "tokens")
    assert all(0 <= s.at < 0.9 * 60 for s in steps)


@pytest.mark.parametrize("seed", range(10))
def test_a_long_plan_has_long_cuts_that_never_overlap(seed: int) -> None:
    steps = plan(10, 3, seed)
    cuts = _of(steps, "cut")
    assert len(cuts) == 3
    assert all(20 <= c.seconds <= 40 for c in cuts)
    for first, second in itertools.pairwise(cuts):
        assert first.at + first.seconds < second.at
    assert len(_of(steps, "kill")) >= 15


@pytest.mark.parametrize("seed", range(10))
def test_a_victim_is_back_before_the_next_kill(seed: int) -> None:
    kills = _of(plan(10, 2, seed), "kill")
    assert {k.worker for k in kills} <= {0, 1}
    for first, second in itertools.pairwise(kills):
        assert first.at + first.seconds < second.at


def test_bad_lengths_are_refused_naming_the_values() -> None:
    with pytest.raises(ValueError, match="got 0, 2"):
        plan(0, 2, 1)
    with pytest.raises(ValueError, match="got 1, 0"):
        plan(1, 0, 1)


# -- the bursts stay within what the command budgets serve ----------------------------------------


def _accounts() -> list[SandboxAccount]:
    return [
        SandboxAccount(p, "main", "http://127.0.0.1:9", "http://127.0.0.1:9", {})
        for p in ("pazarama", "ecarsi", "softtr", "c2c", "webservis")
    ]


def test_command_rates_follow_the_commands_share_of_every_window() -> None:
    defaults = platforms.default_limits()
    limits = {
        "pazarama": RateLimit.from_config(per_minute=60).with_share(0.5),  # 30 a minute
        "ecarsi": defaults["ecarsi"].with_ip_divisor(2).with_share(0.2),  # 6 a minute
        "webservis": defaults["webservis"].with_share(0.2),
    }
    rates = command_rates(limits, {"pazarama": 2, "ecarsi": 3}, 600.0)
    assert rates["pazarama"] == pytest.approx(DRIVE_SHARE * 2 * 30 / COMMAND_COST["pazarama"])
    # The per-IP minute counts once whatever the accounts; the day (200) is not the bound.
    assert rates["ecarsi"] == pytest.approx(DRIVE_SHARE * 6 / COMMAND_COST["ecarsi"])
    assert "webservis" not in rates  # no write API: its commands cost no request
    # A one-minute run meets a whole day window: 200 of them, so the minute still bounds it.
    short = command_rates({"ecarsi": defaults["ecarsi"].with_share(0.2)}, {}, 60.0)
    assert short["ecarsi"] == pytest.approx(DRIVE_SHARE * 12 / COMMAND_COST["ecarsi"])


def test_bursts_send_a_platform_no_more_than_its_rate() -> None:
    orders = {p: [str(n) for n in range(500)] for p in topics.PLATFORMS}
    bursts = Bursts(_accounts(), seed=3, rates={"pazarama": 1.5, "ecarsi": 0.6})
    sent: dict[str, int] = {}
    for n in range(60):  # ten minutes of a burst every 10 s, 15 commands each
        for command in bursts.commands(15, orders, at=10.0 * n):
            if command.account != "ghost" and command.expires_at is None:
                sent[command.platform] = sent.get(command.platform, 0) + 1
    assert 14 <= sent["pazarama"] <= 1 + 1.5 * 10
    assert 5 <= sent["ecarsi"] <= 1 + 0.6 * 10
    assert sent["softtr"] > 100  # unlimited: takes what the others cannot
    assert sum(sent.values()) == 60 * 15


def test_bursts_without_rates_are_not_held_back() -> None:
    orders = {p: [str(n) for n in range(500)] for p in topics.PLATFORMS}
    bursts = Bursts(_accounts(), seed=3)
    pazarama = sum(
        c.platform == "pazarama" for n in range(30) for c in bursts.commands(15, orders, at=n)
    )
    assert pazarama > 30
