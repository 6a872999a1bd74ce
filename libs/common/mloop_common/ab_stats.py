"""A/B test verdicts from labelled predictions (pure; SciPy for the statistics).

Shared by the scheduler (which acts on the verdict) and the gateway (which shows it).

Each arm's result comes with a (1 - alpha) confidence interval: Wilson's for a proportion
(accuracy), Student's t for a mean (absolute error, or a per-prediction metric). The verdict is a
fixed-horizon test, taken once both arms have `min_samples` labelled predictions:
classification compares accuracies with a one-sided two-proportion z-test, regression compares
absolute errors with a one-sided Welch t-test. The challenger wins only when it is significantly
better (p < alpha); the champion is kept as soon as it is significantly better itself (the
opposite one-sided test, p < alpha), or when the test is still inconclusive once both arms reach
`max_samples`; otherwise it goes on.

What each task compares (`compare_arms`), per labelled prediction:
- classification, text classification, anomaly detection: right or wrong (accuracy);
- regression: the absolute error; forecasting: the mean absolute error over the forecast steps
  that got an actual (one value per prediction, so a sample is a prediction);
- recommendation: the primary metric of the one prediction (precision, recall or NDCG at k;
  coverage is not defined per prediction, NDCG stands for it), compared with Welch's t-test,
  higher being better.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from scipy import stats

from mloop_common.ml.live import CLASSIFIERS, live_metrics, outcomes

Verdict = Literal["challenger", "champion", "continue"]
PER_PREDICTION = ("precision_at_k", "recall_at_k", "ndcg_at_k")


@dataclass(frozen=True)
class ArmResult:
    samples: int
    value: float  # accuracy, mean absolute error, or mean per-prediction metric
    low: float
    high: float


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    p_value: float | None  # of the challenger being better
    statistic: float | None
    reason: str


def accuracy_result(correct: int, samples: int, *, alpha: float = 0.05) -> ArmResult:
    """Accuracy with Wilson's interval (sound near 0 and 1, unlike the normal one)."""
    if samples == 0:
        return ArmResult(0, math.nan, math.nan, math.nan)
    z = stats.norm.ppf(1 - alpha / 2)
    share = correct / samples
    centre = (share + z * z / (2 * samples)) / (1 + z * z / samples)
    half = (z / (1 + z * z / samples)) * math.sqrt(
        share * (1 - share) / samples + z * z / (4 * samples * samples)
    )
    return ArmResult(samples, share, max(0.0, centre - half), min(1.0, centre + half))


def error_result(errors: Sequence[float], *, alpha: float = 0.05) -> ArmResult:
    """Mean (of absolute errors, say) with Student's t interval."""
    samples = len(errors)
    if samples == 0:
        return ArmResult(0, math.nan, math.nan, math.nan)
    mean = sum(errors) / samples
    if samples == 1:
        return ArmResult(1, mean, math.nan, math.nan)
    if min(errors) == max(errors):
        return ArmResult(samples, mean, mean, mean)
    half = stats.t.ppf(1 - alpha / 2, samples - 1) * stats.sem(errors)
    return ArmResult(samples, mean, mean - half, mean + half)


def _verdict(
    p_value: float,
    reverse: float,
    statistic: float,
    smallest: int,
    *,
    alpha: float,
    max_samples: int,
) -> Decision:
    """`p_value`: of the challenger being better; `reverse`: of the champion being better."""
    if p_value < alpha:
        return Decision("challenger", p_value, statistic, f"challenger better (p={p_value:.3g})")
    if reverse < alpha:
        return Decision(
            "champion", p_value, statistic, f"champion better (p={reverse:.3g}): keep it"
        )
    if smallest >= max_samples:
        return Decision(
            "champion",
            p_value,
            statistic,
            f"inconclusive at {max_samples} samples per arm (p={p_value:.3g}): keep the champion",
        )
    return Decision("continue", p_value, statistic, f"not significant yet (p={p_value:.3g})")


def _too_few(smallest: int, min_samples: int) -> Decision | None:
    if smallest < min_samples:
        return Decision("continue", None, None, f"{smallest} of {min_samples} labelled samples")
    return None


def decide_accuracy(
    champion: tuple[int, int],
    challenger: tuple[int, int],
    *,
    alpha: float = 0.05,
    min_samples: int,
    max_samples: int,
) -> Decision:
    """`champion` and `challenger` are (correct, labelled) counts."""
    (a_correct, a_n), (b_correct, b_n) = champion, challenger
    smallest = min(a_n, b_n)
    waiting = _too_few(smallest, max(min_samples, 1))
    if waiting:
        return waiting
    pooled = (a_correct + b_correct) / (a_n + b_n)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / a_n + 1 / b_n))
    if spread == 0:  # both arms all right or all wrong: no difference to find
        return _verdict(1.0, 1.0, 0.0, smallest, alpha=alpha, max_samples=max_samples)
    z = (b_correct / b_n - a_correct / a_n) / spread
    return _verdict(
        float(stats.norm.sf(z)),
        float(stats.norm.cdf(z)),
        z,
        smallest,
        alpha=alpha,
        max_samples=max_samples,
    )


def decide_errors(
    champion: Sequence[float],
    challenger: Sequence[float],
    *,
    alpha: float = 0.05,
    min_samples: int,
    max_samples: int,
) -> Decision:
    """Absolute errors of each arm's labelled predictions (smaller is better)."""
    smallest = min(len(champion), len(challenger))
    waiting = _too_few(smallest, max(min_samples, 2))  # a t-test needs two per arm
    if waiting:
        return waiting
    if min(champion) == max(champion) and min(challenger) == max(challenger):
        # No spread in either arm: the difference, if any, is certain.
        better, worse = challenger[0] < champion[0], challenger[0] > champion[0]
        return _verdict(
            0.0 if better else 1.0,
            0.0 if worse else 1.0,
            0.0,
            smallest,
            alpha=alpha,
            max_samples=max_samples,
        )
    less = stats.ttest_ind(challenger, champion, equal_var=False, alternative="less")
    greater = stats.ttest_ind(challenger, champion, equal_var=False, alternative="greater")
    return _verdict(
        float(less.pvalue),
        float(greater.pvalue),
        float(less.statistic),
        smallest,
        alpha=alpha,
        max_samples=max_samples,
    )


# --- one test's arms, from their labelled predictions ------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """What the arms are compared on, each arm's result, and the verdict."""

    compared: str  # accuracy | absolute_error | <metric> (per prediction)
    higher_is_better: bool
    champion: ArmResult
    challenger: ArmResult
    decision: Decision
    unreadable: int  # labelled predictions whose actual or output the task cannot read


def compared_quantity(task_type: str, metric: str | None) -> tuple[str, bool]:
    """(name of what is compared per prediction, whether higher is better)."""
    if task_type in CLASSIFIERS or task_type == "anomaly_detection":
        return "accuracy", True
    if task_type in ("regression", "forecasting"):
        return "absolute_error", False
    return (metric if metric in PER_PREDICTION else "ndcg_at_k"), True


def per_prediction(
    task_type: str, metric: str | None, outputs: Sequence[Any], actuals: Sequence[Any]
) -> list[float]:
    """The compared quantity of each readable (output, actual) pair."""
    if task_type == "forecasting":
        values = []
        for output, actual in zip(outputs, actuals, strict=True):
            errors = outcomes(task_type, [output], [actual])
            if errors:
                values.append(sum(errors) / len(errors))
        return values
    if task_type in CLASSIFIERS or task_type in ("anomaly_detection", "regression"):
        return outcomes(task_type, outputs, actuals)
    name, _ = compared_quantity(task_type, metric)
    values = []
    for output, actual in zip(outputs, actuals, strict=True):
        found = live_metrics(task_type, [output], [actual]).metrics.get(name)
        if found is not None:
            values.append(found)
    return values


def compare_arms(
    task_type: str,
    metric: str | None,
    champion: tuple[Sequence[Any], Sequence[Any]],
    challenger: tuple[Sequence[Any], Sequence[Any]],
    *,
    alpha: float,
    min_samples: int,
    max_samples: int,
) -> Comparison:
    """`champion` and `challenger` are each arm's (outputs, actuals) of labelled predictions."""
    name, higher = compared_quantity(task_type, metric)
    a = per_prediction(task_type, metric, *champion)
    b = per_prediction(task_type, metric, *challenger)
    unreadable = len(champion[0]) + len(challenger[0]) - len(a) - len(b)
    if name == "accuracy":
        a_correct, b_correct = round(sum(a)), round(sum(b))
        decision = decide_accuracy(
            (a_correct, len(a)),
            (b_correct, len(b)),
            alpha=alpha,
            min_samples=min_samples,
            max_samples=max_samples,
        )
        return Comparison(
            name,
            higher,
            accuracy_result(a_correct, len(a), alpha=alpha),
            accuracy_result(b_correct, len(b), alpha=alpha),
            decision,
            unreadable,
        )
    signed = (lambda v: [-x for x in v]) if higher else (lambda v: list(v))
    decision = decide_errors(
        signed(a), signed(b), alpha=alpha, min_samples=min_samples, max_samples=max_samples
    )
    if decision.statistic is not None and higher:
        decision = Decision(
            decision.verdict, decision.p_value, -decision.statistic, decision.reason
        )
    return Comparison(
        name,
        higher,
        error_result(a, alpha=alpha),
        error_result(b, alpha=alpha),
        decision,
        unreadable,
    )
