"""A/B test verdicts from labelled predictions (pure; SciPy for the statistics).

Each arm's result comes with a (1 - alpha) confidence interval: Wilson's for a proportion
(accuracy), Student's t for a mean (absolute error). The verdict is a fixed-horizon test, taken
once both arms have `min_samples` labelled predictions: classification compares accuracies with
a one-sided two-proportion z-test, regression compares absolute errors with a one-sided Welch
t-test. The challenger wins only when it is significantly better (p < alpha); a test still
inconclusive when both arms reach `max_samples` keeps the champion; otherwise it goes on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from scipy import stats

Verdict = Literal["challenger", "champion", "continue"]


@dataclass(frozen=True)
class ArmResult:
    samples: int
    value: float  # accuracy, or mean absolute error
    low: float
    high: float


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    p_value: float | None
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
    """Mean absolute error with Student's t interval."""
    samples = len(errors)
    if samples == 0:
        return ArmResult(0, math.nan, math.nan, math.nan)
    mean = sum(errors) / samples
    if samples == 1:
        return ArmResult(1, mean, math.nan, math.nan)
    half = stats.t.ppf(1 - alpha / 2, samples - 1) * stats.sem(errors)
    return ArmResult(samples, mean, mean - half, mean + half)


def _verdict(
    p_value: float, statistic: float, smallest: int, *, alpha: float, max_samples: int
) -> Decision:
    if p_value < alpha:
        return Decision("challenger", p_value, statistic, f"challenger better (p={p_value:.3g})")
    if smallest >= max_samples:
        return Decision(
            "champion", p_value, statistic, f"inconclusive at {max_samples} samples: keep"
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
    waiting = _too_few(min(a_n, b_n), min_samples)
    if waiting:
        return waiting
    pooled = (a_correct + b_correct) / (a_n + b_n)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / a_n + 1 / b_n))
    if spread == 0:  # both arms all right or all wrong: no difference to find
        return _verdict(1.0, 0.0, min(a_n, b_n), alpha=alpha, max_samples=max_samples)
    z = (b_correct / b_n - a_correct / a_n) / spread
    return _verdict(float(stats.norm.sf(z)), z, min(a_n, b_n), alpha=alpha, max_samples=max_samples)


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
        better = challenger[0] < champion[0]
        return _verdict(0.0 if better else 1.0, 0.0, smallest, alpha=alpha, max_samples=max_samples)
    result = stats.ttest_ind(challenger, champion, equal_var=False, alternative="less")
    return _verdict(
        float(result.pvalue),
        float(result.statistic),
        smallest,
        alpha=alpha,
        max_samples=max_samples,
    )
