"""The chaos run's schedule: seeded, within the run, one broker cut at a time, never every worker
down at once (with several), and scaled with the run's length. The run itself is
``pipeline bench chaos`` (CI calls the one-minute version), not a test."""

from __future__ import annotations

import itertools

import pytest

from pipeline.bench.chaos_schedule import Step, plan


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
