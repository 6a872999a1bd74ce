"""A/B verdicts: the challenger wins only when significantly better; inconclusive keeps the
champion at the maximum sample; intervals cover what they should."""

from __future__ import annotations

import numpy as np
from mloop_scheduler.domain.ab_decision import (
    accuracy_result,
    decide_accuracy,
    decide_errors,
    error_result,
)


def test_nothing_is_decided_before_both_arms_have_the_minimum_sample() -> None:
    decision = decide_accuracy((90, 100), (20, 20), min_samples=50, max_samples=500)
    assert decision.verdict == "continue" and decision.p_value is None


def test_a_clearly_better_challenger_wins_on_accuracy() -> None:
    decision = decide_accuracy((700, 1000), (800, 1000), min_samples=100, max_samples=5000)
    assert decision.verdict == "challenger" and decision.p_value < 0.001


def test_a_worse_or_equal_challenger_never_wins_and_is_kept_out_at_the_maximum() -> None:
    worse = decide_accuracy((800, 1000), (700, 1000), min_samples=100, max_samples=5000)
    assert worse.verdict == "continue" and worse.p_value > 0.5
    equal = decide_accuracy((800, 1000), (801, 1000), min_samples=100, max_samples=1000)
    assert equal.verdict == "champion"


def test_identical_perfect_arms_are_inconclusive() -> None:
    decision = decide_accuracy((100, 100), (100, 100), min_samples=10, max_samples=100)
    assert decision.verdict == "champion" and decision.p_value == 1.0


def test_smaller_errors_win_with_welch_and_larger_ones_do_not() -> None:
    rng = np.random.default_rng(0)
    champion = np.abs(rng.normal(0, 2.0, 400)).tolist()
    better = np.abs(rng.normal(0, 1.0, 400)).tolist()
    assert (
        decide_errors(champion, better, min_samples=100, max_samples=1000).verdict == "challenger"
    )
    assert decide_errors(better, champion, min_samples=100, max_samples=400).verdict == "champion"


def test_constant_errors_decide_without_a_t_test() -> None:
    same = decide_errors([1.0] * 50, [1.0] * 50, min_samples=10, max_samples=50)
    assert same.verdict == "champion"
    smaller = decide_errors([1.0] * 50, [0.5] * 50, min_samples=10, max_samples=50)
    assert smaller.verdict == "challenger"


def test_wilson_interval_contains_the_share_and_stays_in_bounds() -> None:
    result = accuracy_result(99, 100)
    assert result.low < 0.99 < result.high <= 1.0
    assert accuracy_result(0, 10).low == 0.0
    narrow, wide = accuracy_result(800, 1000), accuracy_result(80, 100)
    assert narrow.high - narrow.low < wide.high - wide.low


def test_error_interval_is_around_the_mean() -> None:
    result = error_result([1.0, 2.0, 3.0, 4.0])
    assert result.value == 2.5 and result.low < 2.5 < result.high
