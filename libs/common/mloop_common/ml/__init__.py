"""The ML core: algorithms and their hyperparameters, training, evaluation and profiling.

`train(spec, frame)` fits a run's model and describes it (`TrainOutcome`); `ALGORITHMS`,
`validate_parameters` and `algorithm_schemas` say what each task can train and with which
settings; `default_metric`, `higher_is_better` and `task_metrics` say how models are compared.

Names are imported on first use, so that the gateway or the scheduler, which only validate
parameters or compare metrics, do not load scikit-learn, LightGBM and Optuna.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .algorithms import ALGORITHMS, algorithm_schemas, validate_parameters, with_defaults
    from .data import UnusableData
    from .forecasting import LagForecaster
    from .metrics import default_metric, higher_is_better, task_metrics
    from .parameters import InvalidParameters
    from .pipelines import IsolationForestDetector, anomaly_score
    from .recommendation import ALSRecommender
    from .training import TrainOutcome, train

_HOMES = {
    "ALGORITHMS": "algorithms",
    "algorithm_schemas": "algorithms",
    "validate_parameters": "algorithms",
    "with_defaults": "algorithms",
    "InvalidParameters": "parameters",
    "default_metric": "metrics",
    "higher_is_better": "metrics",
    "task_metrics": "metrics",
    "UnusableData": "data",
    "TrainOutcome": "training",
    "train": "training",
    "anomaly_score": "pipelines",
    "IsolationForestDetector": "pipelines",
    "LagForecaster": "forecasting",
    "ALSRecommender": "recommendation",
}

__all__ = [
    "ALGORITHMS",
    "ALSRecommender",
    "InvalidParameters",
    "IsolationForestDetector",
    "LagForecaster",
    "TrainOutcome",
    "UnusableData",
    "algorithm_schemas",
    "anomaly_score",
    "default_metric",
    "higher_is_better",
    "task_metrics",
    "train",
    "validate_parameters",
    "with_defaults",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{home}", __name__), name)
