"""Holdout splits and k-fold cross-validation, on row positions.

Rows are split at random (stratified by class when every class can be), or, for forecasting,
in time: the holdout is the latest share of the distinct times, and the cross-validation folds
are expanding windows (train on blocks 1..i of the timeline, evaluate on block i+1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

Split = tuple[np.ndarray, np.ndarray]


class HasMetrics(Protocol):
    metrics: dict[str, float]
    details: dict[str, Any]


class Evaluable(Protocol):
    def folds(self, rows: np.ndarray, k: int, seed: int) -> list[Split]: ...
    def fit(self, algorithm: str, params: dict[str, Any], rows: np.ndarray, **kw: Any) -> Any: ...
    def evaluate(self, model: Any, rows: np.ndarray) -> HasMetrics: ...


def _stratifiable(labels: np.ndarray | None, test: int, folds: int = 2) -> bool:
    if labels is None:
        return False
    _, counts = np.unique(labels, return_counts=True)
    return counts.min() >= folds and test >= len(counts) and len(labels) - test >= len(counts)


def random_split(
    rows: np.ndarray, share: float, seed: int, labels: np.ndarray | None = None
) -> Split:
    """(train, test) positions; stratified on `labels` (one per row of `rows`) when possible."""
    test = max(1, round(share * len(rows)))
    stratify = labels if _stratifiable(labels, test) else None
    train, held = train_test_split(rows, test_size=test, random_state=seed, stratify=stratify)
    return np.sort(train), np.sort(held)


def random_folds(
    rows: np.ndarray, k: int, seed: int, labels: np.ndarray | None = None
) -> list[Split]:
    """k folds of `rows`, stratified on `labels` when every class has k rows."""
    if labels is not None and np.unique(labels, return_counts=True)[1].min() >= k:
        splitter: Any = StratifiedKFold(k, shuffle=True, random_state=seed)
        parts = splitter.split(rows, labels)
    else:
        parts = KFold(k, shuffle=True, random_state=seed).split(rows)
    return [(rows[train], rows[test]) for train, test in parts]


def time_split(rows: np.ndarray, times: np.ndarray, share: float) -> Split:
    """(earlier, later) positions: the later part holds the latest `share` of distinct times."""
    distinct = np.unique(times[rows])
    held = max(1, round(share * len(distinct)))
    cutoff = distinct[-held - 1]
    early = times[rows] <= cutoff
    return rows[early], rows[~early]


def time_folds(rows: np.ndarray, times: np.ndarray, k: int) -> list[Split]:
    """Expanding windows: the distinct times cut into k + 1 blocks; fold i trains on blocks
    up to i and evaluates on block i + 1."""
    blocks = np.array_split(np.unique(times[rows]), k + 1)
    folds = []
    for i in range(k):
        end, stop = blocks[i][-1], blocks[i + 1][-1]
        moment = times[rows]
        folds.append((rows[moment <= end], rows[(moment > end) & (moment <= stop)]))
    return folds


def cross_validate(
    problem: Evaluable,
    algorithm: str,
    params: dict[str, Any],
    rows: np.ndarray,
    *,
    k: int,
    seed: int,
    n_jobs: int,
    log: Callable[[str], None],
) -> tuple[dict[str, float], dict[str, Any]]:
    """`cv_<metric>_mean` and `_std` over k folds of `rows`, and the per-fold scores."""
    scores: list[dict[str, float]] = []
    for number, (train, test) in enumerate(problem.folds(rows, k, seed), start=1):
        model = problem.fit(algorithm, params, train, n_jobs=n_jobs, seed=seed)
        result = problem.evaluate(model, test)
        scores.append(result.metrics)
        shown = ", ".join(f"{name}={value:.4g}" for name, value in result.metrics.items())
        log(f"cv fold {number}/{k}: {len(train)} train, {len(test)} evaluated rows; {shown}")
    summary: dict[str, float] = {}
    names = [name for name in scores[0] if all(name in fold for fold in scores)] if scores else []
    for name in names:
        values = np.array([fold[name] for fold in scores])
        summary[f"cv_{name}_mean"] = float(values.mean())
        summary[f"cv_{name}_std"] = float(values.std())
    return summary, {"folds": len(scores), "fold_scores": scores}
