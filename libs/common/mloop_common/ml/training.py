"""`train`: one run, from a RunSpec and its dataset's frame to a fitted, evaluated model.

Steps: check the data (`UnusableData` with the reason otherwise), hold out a share (the latest
times for forecasting), search when the algorithm is `auto`, fit on the training part, score the
holdout, cross-validate on the training part when asked, then describe the model: input
signature, reference profile of the training rows, feature importances and a sample of holdout
records. Every thread pool (BLAS, OpenMP) is limited to `n_jobs`, and every estimator is given
`n_jobs` where it takes one.
"""

from __future__ import annotations

import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from mloop_common.messages.commands import RunSpec

from . import profile
from .algorithms import with_defaults
from .data import UnusableData, jsonable, prepare
from .evaluation import cross_validate
from .forecast_problem import ForecastProblem
from .metrics import default_metric, task_metrics
from .problems import Problem, TabularProblem
from .recommendation_problem import RecommendationProblem
from .search import search

_LIBRARIES = ("numpy", "pandas", "scikit-learn", "lightgbm", "scipy", "optuna")

__all__ = ["TrainOutcome", "UnusableData", "train"]


@dataclass(frozen=True)
class TrainOutcome:
    model: Any
    algorithm: str
    parameters: dict[str, Any]
    metrics: dict[str, float]
    details: dict[str, Any]
    feature_importances: dict[str, float] | None
    signature: dict[str, Any]
    reference: dict[str, Any]
    trials: list[dict[str, Any]]
    library_versions: dict[str, str]
    sample: list[dict[str, Any]]


def _ignore_progress(share: float, message: str) -> None:
    pass


def _ignore_log(line: str) -> None:
    pass


def library_versions() -> dict[str, str]:
    return {"python": platform.python_version(), **{name: version(name) for name in _LIBRARIES}}


def train(
    spec: RunSpec,
    frame: pd.DataFrame,
    *,
    n_jobs: int = 1,
    progress: Callable[[float, str], None] = _ignore_progress,
    log: Callable[[str], None] = _ignore_log,
    time_budget: float | None = None,
) -> TrainOutcome:
    """Train `spec` on `frame` (as `read_frame` gives it). `progress(share, step)` is called at
    each step, `log(line)` with what is done; `time_budget` (seconds) caps an `auto` search
    below its own `time_budget` parameter.

    Raises `UnusableData` when the data cannot train the run and `InvalidParameters` when the
    spec's parameters do not validate."""
    with threadpool_limits(limits=n_jobs), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return _train(spec, frame, n_jobs, progress, log, time_budget)
        finally:
            for message in sorted({f"{w.category.__name__}: {w.message}" for w in caught})[:20]:
                log(f"warning: {message}")


def make_problem(
    spec: RunSpec, frame: pd.DataFrame, params: dict, log: Callable[[str], None]
) -> Problem:
    prepared = prepare(spec, frame, log)
    if spec.task_type == "forecasting":
        return ForecastProblem(prepared, log)
    if spec.task_type == "recommendation":
        return RecommendationProblem(prepared, params, log)
    if spec.task_type == "text_classification" and not {"text", "categorical"} & set(
        prepared.features.values()
    ):
        raise UnusableData("text classification needs a text column among the features")
    return TabularProblem(spec.task_type, prepared)


def _train(
    spec: RunSpec,
    frame: pd.DataFrame,
    n_jobs: int,
    progress: Callable[[float, str], None],
    log: Callable[[str], None],
    time_budget: float | None,
) -> TrainOutcome:
    task, evaluation = spec.task_type, spec.evaluation
    seed = evaluation.seed
    progress(0.0, "loaded")
    log(f"{task} with {spec.algorithm} on {len(frame)} rows; features: {', '.join(spec.features)}")
    settings = with_defaults(task, spec.algorithm, spec.parameters)
    problem = make_problem(spec, frame, settings, log)
    primary = evaluation.primary_metric or default_metric(task, labelled=problem.labelled)
    if primary not in task_metrics(task):
        known = ", ".join(task_metrics(task))
        raise UnusableData(f"{primary!r} is not a metric of {task}; one of {known}")
    train_rows, test_rows = problem.split(problem.rows, evaluation.holdout, seed)
    if len(train_rows) < 2 or not len(test_rows):
        raise UnusableData(
            f"{len(problem.rows)} rows are too few to hold out {evaluation.holdout:.0%} and train"
        )
    if isinstance(problem, TabularProblem) and problem.classifier:
        present = np.unique(problem.y[train_rows])
        if len(present) < 2:
            raise UnusableData(f"the training part has one class only: {jsonable(present[0])!r}")
    log(f"split: {len(train_rows)} rows to train, {len(test_rows)} held out")
    progress(0.05, "split")

    trials: list[dict[str, Any]] = []
    algorithm, params = spec.algorithm, settings
    if spec.algorithm == "auto":
        budget = settings["time_budget"]
        if time_budget is not None:
            budget = min(budget, time_budget)
        found = search(
            problem,
            settings,
            train_rows,
            share=evaluation.holdout,
            primary=primary,
            seed=seed,
            n_jobs=n_jobs,
            budget=budget,
            progress=progress,
            log=log,
        )
        algorithm, params, trials = found.algorithm, found.parameters, found.trials

    progress(0.8 if trials else 0.1, "fitting")
    started = time.monotonic()
    model = problem.fit(algorithm, params, train_rows, n_jobs=n_jobs, seed=seed)
    fit_seconds = time.monotonic() - started
    log(f"fitted {algorithm} on {len(train_rows)} rows in {fit_seconds:.2f} s; parameters {params}")

    progress(0.85, "evaluating")
    scored = problem.evaluate(model, test_rows)
    if primary not in scored.metrics:
        reason = scored.details.get(primary, "it is undefined on the holdout rows")
        raise UnusableData(f"{primary} cannot be computed on the holdout ({reason})")
    metrics = dict(scored.metrics)
    log("holdout: " + ", ".join(f"{name}={value:.4g}" for name, value in metrics.items()))
    details: dict[str, Any] = {
        **scored.details,
        "primary_metric": primary,
        "rows": {"train": len(train_rows), "holdout": len(test_rows), "used": len(problem.rows)},
        "fit_seconds": round(fit_seconds, 3),
    }
    folds = _folds(problem, train_rows, evaluation.cv_folds, log)
    if folds:
        progress(0.88, "cross-validating")
        summary, details["cv"] = cross_validate(
            problem, algorithm, params, train_rows, k=folds, seed=seed, n_jobs=n_jobs, log=log
        )
        metrics |= summary

    progress(0.92, "profiling")
    model = problem.finish(model)
    signature = profile.signature(
        task,
        problem.frame,
        problem.features,
        problem.target_entry(model),
        problem.extras(model, params),
    )
    columns = dict(problem.features)
    if spec.target is not None and spec.target in problem.frame.columns:
        columns[spec.target] = spec.columns.get(spec.target, "numeric")
    reference = profile.reference(
        problem.frame.iloc[train_rows],
        columns,
        profile.prediction_profile(task, scored.outputs),
    )
    outcome = TrainOutcome(
        model=model,
        algorithm=algorithm,
        parameters=jsonable(problem.resolved(params)),
        metrics=metrics,
        details=jsonable(details),
        feature_importances=problem.importances(model),
        signature=signature,
        reference=reference,
        trials=jsonable(trials),
        library_versions=library_versions(),
        sample=problem.sample(test_rows),
    )
    progress(1.0, "done")
    return outcome


def _folds(problem: Problem, rows: np.ndarray, wanted: int, log: Callable[[str], None]) -> int:
    """The folds cross-validation can use: `wanted`, fewer when the rows cannot fill them."""
    if wanted == 0:
        return 0
    if isinstance(problem, ForecastProblem):
        most = len(np.unique(problem.times[rows])) - 1
    else:
        most = len(rows)
    folds = min(wanted, most)
    if folds < 2:
        log(f"cross-validation skipped: {wanted} folds asked, the training rows allow {most}")
        return 0
    if folds < wanted:
        log(f"cross-validation with {folds} folds instead of {wanted}: the training rows allow it")
    return folds
