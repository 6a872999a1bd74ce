"""A/B verdicts: the challenger wins only when significantly better; a significantly better
champion, or an inconclusive test at the maximum sample, keeps the champion; intervals cover
what they should; each task compares what its outputs allow."""

from __future__ import annotations

import numpy as np
from mloop_common.ab_stats import (
    accuracy_result,
    compare_arms,
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


def test_a_clearly_worse_challenger_ends_the_test_for_the_champion() -> None:
    worse = decide_accuracy((800, 1000), (700, 1000), min_samples=100, max_samples=5000)
    assert worse.verdict == "champion" and worse.p_value > 0.5
    assert "champion better" in worse.reason


def test_an_undecided_test_goes_on_then_keeps_the_champion_at_the_maximum() -> None:
    going = decide_accuracy((800, 1000), (801, 1000), min_samples=100, max_samples=5000)
    assert going.verdict == "continue"
    equal = decide_accuracy((800, 1000), (801, 1000), min_samples=100, max_samples=1000)
    assert equal.verdict == "champion" and "inconclusive" in equal.reason


def test_identical_perfect_arms_are_inconclusive() -> None:
    decision = decide_accuracy((100, 100), (100, 100), min_samples=10, max_samples=100)
    assert decision.verdict == "champion" and decision.p_value == 1.0
    assert decide_accuracy((50, 50), (50, 50), min_samples=10, max_samples=100).verdict == (
        "continue"
    )


def test_smaller_errors_win_with_welch_and_larger_ones_do_not() -> None:
    rng = np.random.default_rng(0)
    champion = np.abs(rng.normal(0, 2.0, 400)).tolist()
    better = np.abs(rng.normal(0, 1.0, 400)).tolist()
    assert (
        decide_errors(champion, better, min_samples=100, max_samples=1000).verdict == "challenger"
    )
    worse = decide_errors(better, champion, min_samples=100, max_samples=4000)
    assert worse.verdict == "champion" and "champion better" in worse.reason


def test_constant_errors_decide_without_a_t_test() -> None:
    same = decide_errors([1.0] * 50, [1.0] * 50, min_samples=10, max_samples=50)
    assert same.verdict == "champion"
    smaller = decide_errors([1.0] * 50, [0.5] * 50, min_samples=10, max_samples=50)
    assert smaller.verdict == "challenger"
    larger = decide_errors([0.5] * 50, [1.0] * 50, min_samples=10, max_samples=500)
    assert larger.verdict == "champion"


def test_wilson_interval_contains_the_share_and_stays_in_bounds() -> None:
    result = accuracy_result(99, 100)
    assert result.low < 0.99 < result.high <= 1.0
    assert accuracy_result(0, 10).low == 0.0
    narrow, wide = accuracy_result(800, 1000), accuracy_result(80, 100)
    assert narrow.high - narrow.low < wide.high - wide.low


def test_error_interval_is_around_the_mean() -> None:
    result = error_result([1.0, 2.0, 3.0, 4.0])
    assert result.value == 2.5 and result.low < 2.5 < result.high


def _labels(right: int, wrong: int) -> tuple[list, list]:
    outputs = [{"prediction": "a"}] * (right + wrong)
    return outputs, ["a"] * right + ["b"] * wrong


def test_classification_arms_compare_accuracy_and_skip_unreadable_feedback() -> None:
    champion = _labels(30, 70)
    challenger = _labels(90, 10)
    challenger = (challenger[0] + [{"prediction": "a"}], challenger[1] + [{"not": "a label"}])
    found = compare_arms(
        "classification",
        "f1_weighted",
        champion,
        challenger,
        alpha=0.05,
        min_samples=50,
        max_samples=500,
    )
    assert found.compared == "accuracy" and found.higher_is_better
    assert (found.champion.samples, found.challenger.samples) == (100, 100)
    assert found.champion.value == 0.3 and found.challenger.value == 0.9
    assert found.unreadable == 1
    assert found.decision.verdict == "challenger"


def test_regression_arms_compare_absolute_errors() -> None:
    rng = np.random.default_rng(1)
    truth = rng.normal(10, 1, 200).tolist()
    near = [{"prediction": t + e} for t, e in zip(truth, rng.normal(0, 0.1, 200), strict=True)]
    far = [{"prediction": t + e} for t, e in zip(truth, rng.normal(0, 3.0, 200), strict=True)]
    found = compare_arms(
        "regression",
        "rmse",
        (far, truth),
        (near, truth),
        alpha=0.05,
        min_samples=50,
        max_samples=500,
    )
    assert found.compared == "absolute_error" and not found.higher_is_better
    assert found.challenger.value < found.champion.value
    assert found.decision.verdict == "challenger"


def test_forecasting_counts_one_sample_per_prediction() -> None:
    outputs = [{"prediction": [1.0, 2.0, 3.0]}] * 10
    actuals = [[1.5, 2.5, None]] * 10
    found = compare_arms(
        "forecasting",
        "rmse",
        (outputs, actuals),
        (outputs, actuals),
        alpha=0.05,
        min_samples=5,
        max_samples=10,
    )
    assert found.champion.samples == 10 and found.champion.value == 0.5
    assert found.decision.verdict == "champion"


def test_recommendation_arms_compare_the_per_prediction_metric_higher_better() -> None:
    hits = [{"prediction": ["a", "b"]}] * 40
    misses = [{"prediction": ["x", "y"]}] * 40
    actuals = [["a"]] * 40
    found = compare_arms(
        "recommendation",
        "coverage",
        (misses, actuals),
        (hits, actuals),
        alpha=0.05,
        min_samples=20,
        max_samples=400,
    )
    assert found.compared == "ndcg_at_k" and found.higher_is_better
    assert found.challenger.value == 1.0 and found.champion.value == 0.0
    assert found.decision.verdict == "challenger"
