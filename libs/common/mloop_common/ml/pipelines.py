"""A scikit-learn `Pipeline` per task and algorithm: `preprocess` (coercion of raw records, then
encoders suited to the algorithm, see `preprocessing.encoder`) followed by `model`.

Text columns given to classification or regression are vectorised (TF-IDF, 1000 terms per
column for linear models, 200 for trees) rather than refused. The anomaly detector's `predict`
answers True for an anomaly; `anomaly_score` gives the score (higher: more anomalous).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from .preprocessing import Style, column_importances, encoder


class IsolationForestDetector(IsolationForest):
    """IsolationForest whose `predict` answers True for an anomaly (instead of -1/1)."""

    def predict(self, X: Any) -> np.ndarray:
        return self.decision_function(X) < 0

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> IsolationForestDetector:
        with warnings.catch_warnings():  # max_samples above the rows given: all rows are used
            warnings.filterwarnings("ignore", message="max_samples .* is greater than")
            return super().fit(X, sample_weight=sample_weight)


def anomaly_score(model: Pipeline, X: Any) -> np.ndarray:
    """The anomaly score of each record, in (0, 1]: the isolation forest paper's s(x), higher
    is more anomalous; records with a score above the fitted threshold are flagged."""
    return -model.score_samples(X)


def _lightgbm(classifier: bool, params: dict[str, Any], n_jobs: int, seed: int) -> Any:
    cls = LGBMClassifier if classifier else LGBMRegressor
    return cls(
        **params,
        subsample_freq=1 if params["subsample"] < 1 else 0,
        importance_type="gain",
        n_jobs=n_jobs,
        random_state=seed,
        verbose=-1,
    )


_STYLE: dict[str, Style] = {
    "lightgbm": "boosting",
    "hist_gradient_boosting": "boosting",
    "random_forest": "forest",
    "isolation_forest": "forest",
    "logistic_regression": "linear",
    "linear_regression": "linear",
}


def build_model(
    task_type: str,
    algorithm: str,
    params: dict[str, Any],
    *,
    columns: dict[str, str],
    n_jobs: int,
    seed: int,
    min_class_count: int | None = None,
) -> Pipeline:
    """An unfitted pipeline for a tabular task (classification, regression, text
    classification, anomaly detection). `params` are canonical with defaults filled;
    `min_class_count` (rows of the rarest class) bounds the calibration folds of linear_svm."""
    classifier = task_type in ("classification", "text_classification")
    if task_type == "text_classification":
        text = {name: params[name] for name in ("max_features", "ngram_max", "min_df")}
        preprocess = encoder(columns, "text", text=text)
        model = _text_model(algorithm, params, n_jobs, seed, min_class_count)
    else:
        style = _STYLE[algorithm]
        preprocess = encoder(columns, style, dense=algorithm == "hist_gradient_boosting")
        model = _tabular_model(task_type, algorithm, params, n_jobs, seed, classifier)
    return Pipeline([("preprocess", preprocess), ("model", model)])


def _tabular_model(
    task_type: str, algorithm: str, params: dict[str, Any], n_jobs: int, seed: int, classifier: bool
) -> Any:
    if algorithm == "lightgbm":
        return _lightgbm(classifier, params, n_jobs, seed)
    if algorithm == "random_forest":
        cls = RandomForestClassifier if classifier else RandomForestRegressor
        forest = dict(params)
        if forest["max_features"] == "all":
            forest["max_features"] = None
        return cls(**forest, n_jobs=n_jobs, random_state=seed)
    if algorithm == "hist_gradient_boosting":
        cls = HistGradientBoostingClassifier if classifier else HistGradientBoostingRegressor
        return cls(**params, random_state=seed)
    if algorithm == "logistic_regression":
        return LogisticRegression(**params, random_state=seed)
    if algorithm == "linear_regression":
        return Ridge(**params, random_state=seed)
    if algorithm == "isolation_forest":
        contamination = params["contamination"]
        return IsolationForestDetector(
            n_estimators=params["n_estimators"],
            max_samples=params["max_samples"],
            contamination="auto" if contamination is None else contamination,
            n_jobs=n_jobs,
            random_state=seed,
        )
    raise ValueError(f"no {algorithm} for {task_type}")


def _text_model(
    algorithm: str, params: dict[str, Any], n_jobs: int, seed: int, min_class_count: int | None
) -> Any:
    if algorithm == "logistic_regression":
        return LogisticRegression(C=params["C"], max_iter=params["max_iter"], random_state=seed)
    folds = max(2, min(3, min_class_count or 3))
    svm = LinearSVC(C=params["C"], max_iter=params["max_iter"], random_state=seed)
    return CalibratedClassifierCV(svm, cv=folds)  # folds one after another: no process pool


def feature_importances(model: Pipeline) -> dict[str, float] | None:
    """Per input column, summing to 1; None for algorithms without importances (histogram
    gradient boosting, isolation forest)."""
    estimator = model.named_steps["model"]
    if isinstance(estimator, IsolationForest):
        return None
    if hasattr(estimator, "feature_importances_"):
        raw = estimator.feature_importances_
    elif isinstance(estimator, CalibratedClassifierCV):
        raw = np.mean(
            [_coef(fitted.estimator) for fitted in estimator.calibrated_classifiers_], axis=0
        )
    elif hasattr(estimator, "coef_"):
        raw = _coef(estimator)
    else:
        return None
    return column_importances(model, raw)


def _coef(estimator: Any) -> np.ndarray:
    coef = np.abs(np.asarray(estimator.coef_, dtype=float))
    return coef.mean(axis=0) if coef.ndim == 2 else coef
