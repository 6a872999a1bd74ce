"""The metrics each task reports, which way is better, and the default primary metric.

Pure names and rules, no computation (that is `scoring`), so services that only compare models
import nothing heavy.

Anomaly detection without a label has no ground truth to rank models by. Its primary metric is
then `separation`: how far apart, in holdout standard deviations of the anomaly score, the
flagged rows sit from the others (mean score of flagged minus mean score of unflagged, divided by
the score's standard deviation). A model whose flags stand apart clearly is preferred; the
anomaly rate itself is not a criterion, since the threshold sets it by construction.
"""

from __future__ import annotations

_CLASSIFICATION = (
    "accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "roc_auc",
    "log_loss",
)
_TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": _CLASSIFICATION,
    "text_classification": _CLASSIFICATION,
    "regression": ("rmse", "mae", "r2", "mape"),
    "anomaly_detection": (
        "roc_auc",
        "precision",
        "recall",
        "f1",
        "anomaly_rate",
        "separation",
        "score_mean",
        "score_std",
    ),
    "forecasting": ("rmse", "mae", "mape", "r2"),
    "recommendation": ("precision_at_k", "recall_at_k", "ndcg_at_k", "coverage"),
}
_DEFAULTS = {
    "classification": "f1_weighted",
    "text_classification": "f1_weighted",
    "regression": "rmse",
    "anomaly_detection": "roc_auc",
    "forecasting": "rmse",
    "recommendation": "ndcg_at_k",
}
_LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae", "mape"})
_NEUTRAL = frozenset({"anomaly_rate", "score_mean", "score_std"})


def task_metrics(task_type: str) -> tuple[str, ...]:
    """Names of the metrics a task's models report (each when it is defined on the data)."""
    return _TASK_METRICS[task_type]


def default_metric(task_type: str, *, labelled: bool = True) -> str:
    """The metric that decides the best model when the run names none. For anomaly detection
    without a label (`labelled=False`) it is `separation` (see the module docstring)."""
    if task_type == "anomaly_detection" and not labelled:
        return "separation"
    return _DEFAULTS[task_type]


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of `metric` is better; cross-validation aggregates
    (`cv_<name>_mean`) follow their metric. Descriptive values (anomaly_rate, score_mean,
    score_std) and standard deviations rank nothing; they answer True by convention."""
    if metric.startswith("cv_") and metric.endswith("_mean"):
        metric = metric[3:-5]
    return metric not in _LOWER_IS_BETTER
