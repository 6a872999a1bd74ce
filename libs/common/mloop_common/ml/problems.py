"""A task's data made ready to train: how it is split, fitted and evaluated.

`TabularProblem` serves classification, regression, text classification and anomaly detection
(scikit-learn pipelines); `ForecastProblem` and `RecommendationProblem` are in their own modules.
All work on row positions of the prepared frame, so splits, folds, trials and the final fit
share one vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .data import Prepared, UnusableData, jsonable
from .evaluation import Split, random_folds, random_split
from .pipelines import anomaly_score, build_model, feature_importances
from .scoring import anomaly_metrics, classification_metrics, regression_metrics

SAMPLE_SIZE = 50


@dataclass
class Scored:
    metrics: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)


class Problem:
    """The common part: the prepared rows, the model's input columns and a sample of them."""

    task_type: str
    frame: pd.DataFrame
    y: np.ndarray | None
    features: dict[str, str]
    target_name: str | None
    target_type: str | None

    @property
    def rows(self) -> np.ndarray:
        return np.arange(len(self.frame))

    @property
    def labelled(self) -> bool:
        return self.y is not None

    @property
    def X(self) -> pd.DataFrame:
        return self.frame[list(self.features)]

    def split(self, rows: np.ndarray, share: float, seed: int) -> Split:
        return random_split(rows, share, seed)

    def folds(self, rows: np.ndarray, k: int, seed: int) -> list[Split]:
        return random_folds(rows, k, seed)

    def resolved(self, params: dict[str, Any]) -> dict[str, Any]:
        """The parameters as the run used them, with choices left to the data made explicit."""
        return params

    def finish(self, model: Any) -> Any:
        """The model to keep, once evaluated."""
        return model

    def importances(self, model: Any) -> dict[str, float] | None:
        return None

    def extras(self, model: Any, params: dict[str, Any]) -> dict[str, Any]:
        """Task-specific entries of the input signature."""
        return {}

    def target_entry(self, model: Any) -> dict[str, Any] | None:
        """The signature's target: name and type."""
        if self.target_name is None:
            return None
        return {"name": self.target_name, "type": self.target_type}

    def sample(self, rows: np.ndarray) -> list[dict[str, Any]]:
        """Up to SAMPLE_SIZE input records from `rows`, JSON-able."""
        chosen = rows[:SAMPLE_SIZE]
        frame = self.X.iloc[chosen]
        return [
            {name: jsonable(value) for name, value in record.items()}
            for record in frame.astype(object).to_dict(orient="records")
        ]


class TabularProblem(Problem):
    def __init__(self, task_type: str, prepared: Prepared) -> None:
        self.task_type = task_type
        self.frame = prepared.frame
        self.y = prepared.y
        self.features = prepared.features
        self.target_name, self.target_type = prepared.target, prepared.target_type

    @property
    def classifier(self) -> bool:
        return self.task_type in ("classification", "text_classification")

    def _strata(self, rows: np.ndarray) -> np.ndarray | None:
        if self.y is None or self.task_type == "regression":
            return None
        return self.y[rows]

    def split(self, rows: np.ndarray, share: float, seed: int) -> Split:
        return random_split(rows, share, seed, self._strata(rows))

    def folds(self, rows: np.ndarray, k: int, seed: int) -> list[Split]:
        return random_folds(rows, k, seed, self._strata(rows))

    def fit(
        self, algorithm: str, params: dict[str, Any], rows: np.ndarray, *, n_jobs: int, seed: int
    ) -> Any:
        smallest = None
        if self.classifier:
            smallest = int(np.unique(self.y[rows], return_counts=True)[1].min())
        model = build_model(
            self.task_type,
            algorithm,
            params,
            columns=self.features,
            n_jobs=n_jobs,
            seed=seed,
            min_class_count=smallest,
        )
        X = self.X.iloc[rows]
        try:
            if self.task_type == "anomaly_detection":
                return model.fit(X)
            return model.fit(X, self.y[rows])
        except ValueError as error:
            if "vocabulary" in str(error) or "min_df" in str(error):
                raise UnusableData(
                    f"the text columns have no terms left to learn from ({error}); lower min_df "
                    "or check the columns hold text"
                ) from error
            raise

    def evaluate(self, model: Any, rows: np.ndarray) -> Scored:
        X = self.X.iloc[rows]
        if self.task_type == "anomaly_detection":
            scores, flags = anomaly_score(model, X), model.predict(X)
            labels = self.y[rows] if self.y is not None else None
            metrics, details = anomaly_metrics(scores, flags, labels)
            return Scored(metrics, details, {"flags": flags, "scores": scores})
        predicted = model.predict(X)
        if not self.classifier:
            return Scored(regression_metrics(self.y[rows], predicted), {}, {"values": predicted})
        classes = model.classes_
        proba = model.predict_proba(X)
        metrics, details = classification_metrics(self.y[rows], predicted, proba, classes)
        details["labels"] = jsonable(details["labels"])
        return Scored(metrics, details, {"labels": predicted, "proba": proba, "classes": classes})

    def importances(self, model: Any) -> dict[str, float] | None:
        return feature_importances(model)

    def target_entry(self, model: Any) -> dict[str, Any] | None:
        """Name and type; for a classifier its labels in `predict_proba`'s column order; for
        an anomaly label, that True marks an anomaly."""
        entry = super().target_entry(model)
        if entry is not None and self.classifier:
            entry["labels"] = jsonable(model.classes_)
        elif entry is not None and self.task_type == "anomaly_detection":
            entry["labels"] = [False, True]
        return entry

    def extras(self, model: Any, params: dict[str, Any]) -> dict[str, Any]:
        if self.task_type == "anomaly_detection":
            forest = model.named_steps["model"]
            return {
                "threshold": -float(forest.offset_),
                "output": "anomaly flag: True when the anomaly score is above the threshold",
            }
        return {}
