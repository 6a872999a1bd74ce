"""Computing each task's metrics on evaluated rows (names and directions are in `metrics`).

Every value returned is a finite float; a metric that is undefined on the data at hand (ROC AUC
on rows of one class, MAPE when every actual is zero) is left out rather than reported as NaN,
and the details say why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm


def finite(values: dict[str, Any]) -> dict[str, float]:
    """Only the finite values, as floats."""
    out = {}
    for name, value in values.items():
        if value is not None and math.isfinite(float(value)):
            out[name] = float(value)
    return out


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None, classes: Sequence[Any]
) -> tuple[dict[str, float], dict[str, Any]]:
    """Holdout metrics and details (confusion matrix, labels) for a classifier whose
    `predict_proba` columns follow `classes`."""
    labels = list(classes)
    values: dict[str, Any] = {"accuracy": skm.accuracy_score(y_true, y_pred)}
    for average in ("macro", "weighted"):
        precision, recall, f1, _ = skm.precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=average, zero_division=0
        )
        values |= {
            f"precision_{average}": precision,
            f"recall_{average}": recall,
            f"f1_{average}": f1,
        }
    details: dict[str, Any] = {
        "labels": labels,
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
    present = set(np.unique(y_true).tolist())
    if proba is not None:
        clipped = np.clip(proba, 1e-15, 1 - 1e-15)
        normalised = clipped / clipped.sum(axis=1, keepdims=True)
        values["log_loss"] = skm.log_loss(y_true, normalised, labels=labels)
        if len(present) < 2:
            details["roc_auc"] = "undefined: the evaluated rows have one class only"
        elif len(labels) == 2:
            values["roc_auc"] = skm.roc_auc_score(y_true == labels[1], proba[:, 1])
        else:
            values["roc_auc"] = _multiclass_auc(y_true, proba, labels)
    return finite(values), details


def _multiclass_auc(y_true: np.ndarray, proba: np.ndarray, labels: list[Any]) -> float:
    """One-vs-rest AUC weighted by support, over the classes present in `y_true`."""
    scores, weights = [], []
    for column, label in enumerate(labels):
        positive = y_true == label
        if 0 < positive.sum() < len(y_true):
            scores.append(skm.roc_auc_score(positive, proba[:, column]))
            weights.append(positive.sum())
    return float(np.average(scores, weights=weights)) if scores else float("nan")


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """rmse, mae, r2 (when the actuals vary) and mape (over the rows whose actual is not 0,
    as a fraction: 0.1 is 10 %)."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    error = y_pred - y_true
    values: dict[str, Any] = {
        "rmse": math.sqrt(float(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
    }
    if len(y_true) > 1 and np.ptp(y_true) > 0:
        values["r2"] = skm.r2_score(y_true, y_pred)
    nonzero = y_true != 0
    if nonzero.any():
        values["mape"] = float(np.mean(np.abs(error[nonzero] / y_true[nonzero])))
    return finite(values)


def anomaly_metrics(
    scores: np.ndarray, flags: np.ndarray, labels: np.ndarray | None
) -> tuple[dict[str, float], dict[str, Any]]:
    """Metrics of an anomaly detector on the evaluated rows: `scores` (higher is more
    anomalous), `flags` (True: flagged) and, when known, `labels` (True: an anomaly)."""
    scores = np.asarray(scores, dtype=float)
    flags = np.asarray(flags, dtype=bool)
    std = float(np.std(scores))
    values: dict[str, Any] = {
        "anomaly_rate": float(flags.mean()),
        "score_mean": float(np.mean(scores)),
        "score_std": std,
    }
    details: dict[str, Any] = {}
    if flags.any() and (~flags).any() and std > 0:
        values["separation"] = (scores[flags].mean() - scores[~flags].mean()) / std
    else:
        details["separation"] = "undefined: every evaluated row got the same flag"
    if labels is not None:
        labels = np.asarray(labels, dtype=bool)
        precision, recall, f1, _ = skm.precision_recall_fscore_support(
            labels, flags, average="binary", zero_division=0
        )
        values |= {"precision": precision, "recall": recall, "f1": f1}
        if labels.all() or not labels.any():
            details["roc_auc"] = "undefined: the evaluated rows have one class only"
        else:
            values["roc_auc"] = skm.roc_auc_score(labels, scores)
        details["confusion_matrix"] = skm.confusion_matrix(labels, flags, labels=[False, True])
        details["confusion_matrix"] = details["confusion_matrix"].tolist()
        details["labels"] = [False, True]
    return finite(values), details


def ranking_metrics(
    recommended: Sequence[Sequence[Any]], relevant: Sequence[set[Any]], k: int, catalogue: int
) -> dict[str, float]:
    """precision@k, recall@k and NDCG@k (binary relevance) averaged over the users evaluated,
    and coverage: the share of the catalogue recommended to anyone."""
    precision, recall, ndcg = [], [], []
    seen: set[Any] = set()
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    for items, wanted in zip(recommended, relevant, strict=True):
        if not wanted:
            continue
        top = list(items)[:k]
        seen.update(top)
        gains = np.array([item in wanted for item in top] + [False] * (k - len(top)), float)
        hits = gains.sum()
        precision.append(hits / k)
        recall.append(hits / len(wanted))
        ideal = discounts[: min(len(wanted), k)].sum()
        ndcg.append(float(gains @ discounts) / ideal)
    if not precision:
        return {}
    return finite(
        {
            "precision_at_k": np.mean(precision),
            "recall_at_k": np.mean(recall),
            "ndcg_at_k": np.mean(ndcg),
            "coverage": len(seen) / catalogue if catalogue else None,
        }
    )
