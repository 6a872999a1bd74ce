"""Live metrics: a task's metrics computed from logged outputs and the feedback on them.

An output is what the predictor answered (see `mloop_predictor.scoring`): `{"prediction": ...}`
with `probabilities` for classifiers and `score` for anomaly detectors. An actual is what the
feedback said: the label, the number, whether it was an anomaly, the next values of a forecast
(a number is the first step), or the items a user took (one or a list). Pairs whose actual
cannot be read for the task are skipped and counted, never an error.

`outcomes` gives the per-prediction quantity an A/B test compares: 1/0 correctness for
classification and anomaly detection, the absolute error for regression and forecasting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from mloop_common.ml.preprocessing import as_flag
from mloop_common.ml.scoring import (
    anomaly_metrics,
    classification_metrics,
    finite,
    regression_metrics,
)

CLASSIFIERS = ("classification", "text_classification")
ERRORS = ("regression", "forecasting")


@dataclass(frozen=True)
class LiveMetrics:
    metrics: dict[str, float]
    labelled: int
    unreadable: int = 0
    details: dict[str, Any] = field(default_factory=dict)


def live_metrics(
    task_type: str, outputs: Sequence[Any], actuals: Sequence[Any], labels: Sequence[Any] = ()
) -> LiveMetrics:
    """The task's metrics over the readable (output, actual) pairs; `labels` are a classifier's
    known labels (the signature's target labels), in its probability order."""
    pairs, unreadable = _readable(task_type, outputs, actuals)
    if not pairs:
        return LiveMetrics({}, 0, unreadable)
    if task_type in CLASSIFIERS:
        return _classification(pairs, unreadable, labels)
    predicted = [p for p, _ in pairs]
    observed = [a for _, a in pairs]
    if task_type == "regression":
        values = np.asarray([p["prediction"] for p in predicted], dtype=float)
        return LiveMetrics(regression_metrics(np.asarray(observed), values), len(pairs), unreadable)
    if task_type == "forecasting":
        values = np.asarray([p for p, _ in _forecast_steps(pairs)], dtype=float)
        truth = np.asarray([a for _, a in _forecast_steps(pairs)], dtype=float)
        return LiveMetrics(regression_metrics(truth, values), len(pairs), unreadable)
    if task_type == "anomaly_detection":
        flags = np.asarray([bool(p["prediction"]) for p in predicted])
        scores = np.asarray([float(p.get("score", float(p["prediction"]))) for p in predicted])
        metrics, details = anomaly_metrics(scores, flags, np.asarray(observed, dtype=bool))
        return LiveMetrics(metrics, len(pairs), unreadable, details)
    if task_type == "recommendation":
        return LiveMetrics(_ranking(predicted, observed), len(pairs), unreadable)
    raise ValueError(f"unknown task type {task_type!r}")


def outcomes(task_type: str, outputs: Sequence[Any], actuals: Sequence[Any]) -> list[float]:
    """Per readable pair: 1.0/0.0 for a right/wrong label or flag, or the absolute error."""
    pairs, _ = _readable(task_type, outputs, actuals)
    if task_type in ERRORS:
        if task_type == "forecasting":
            return [abs(p - a) for p, a in _forecast_steps(pairs)]
        return [abs(float(p["prediction"]) - a) for p, a in pairs]
    if task_type == "anomaly_detection":
        return [float(bool(p["prediction"]) == a) for p, a in pairs]
    if task_type in CLASSIFIERS:
        return [float(_same_label(p["prediction"], a)) for p, a in pairs]
    raise ValueError(f"{task_type} has no per-prediction outcome")


def readable_actual(task_type: str, actual: Any) -> Any:
    """The actual as the task reads it, or raise ValueError saying why it cannot be."""
    if actual is None:
        raise ValueError("actual is null")
    if task_type in CLASSIFIERS:
        if isinstance(actual, (dict, list)):
            raise ValueError("a label must be a string, number or boolean")
        return actual
    if task_type == "regression":
        return _number(actual)
    if task_type == "anomaly_detection":
        if isinstance(actual, bool):
            return actual
        if actual in (0, 1):
            return bool(actual)
        raise ValueError("an anomaly actual must be true or false")
    if task_type == "forecasting":
        if isinstance(actual, list):
            if not actual:
                raise ValueError("a forecast actual must not be empty")
            return [None if value is None else _number(value) for value in actual]
        return [_number(actual)]
    if task_type == "recommendation":
        items = actual if isinstance(actual, list) else [actual]
        if not items or any(isinstance(item, (dict, list)) or item is None for item in items):
            raise ValueError("a recommendation actual is an item or a list of items")
        return items
    raise ValueError(f"unknown task type {task_type!r}")


def checked_actual(task_type: str, actual: Any) -> str:
    """The actual as the JSON text the feedback log stores (jsonb), once it is readable for the
    task (`readable_actual`) and storable: finite numbers, no NUL character, integers within
    64 bits. Raise ValueError saying why not. The gateway checks feedback with this, and the
    monitor again (anyone may write to the feedback topic); it is on the monitor's hot path,
    so the common cases (a label, a number) take no general walk."""
    readable_actual(task_type, actual)
    if type(actual) is not str and not _finite(actual):
        raise ValueError("numbers must be finite (no NaN or Infinity)")
    try:
        text = orjson.dumps(actual).decode()
    except orjson.JSONEncodeError as error:  # an integer beyond 64 bits, a lone surrogate
        raise ValueError(f"not storable as JSON: {error}") from None
    if "\\u0000" in text:
        raise ValueError("text must not contain the NUL character")
    return text


def json_kind(value: Any) -> str:
    """What a JSON value is, for messages: "null", "a number", "an array", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Mapping):
        return all(_finite(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(item) for item in value)
    return True


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("a number is expected")
    if not math.isfinite(value):
        raise ValueError("a finite number is expected")
    return float(value)


def _readable(
    task_type: str, outputs: Sequence[Any], actuals: Sequence[Any]
) -> tuple[list[tuple[Any, Any]], int]:
    pairs, unreadable = [], 0
    for output, actual in zip(outputs, actuals, strict=True):
        try:
            if not isinstance(output, dict) or "prediction" not in output:
                raise ValueError("no prediction in the output")
            pairs.append((output, readable_actual(task_type, actual)))
        except (ValueError, TypeError):
            unreadable += 1
    return pairs, unreadable


def _key(value: Any, flags: bool) -> str:
    """Labels compare by their text, so feedback `1` matches a label logged as "1". When the
    labels are booleans (a yes/no column is read as one), feedback is read as a flag too, so
    "yes", "Y", 1 and true all match the label True."""
    if flags and (flag := as_flag(value)) is not None:
        return str(flag).lower()
    return str(value).lower() if isinstance(value, bool) else str(value)


def _classification(
    pairs: list[tuple[Any, Any]], unreadable: int, labels: Sequence[Any]
) -> LiveMetrics:
    known = list(labels) or sorted(
        {*(a for _, a in pairs), *(p["prediction"] for p, _ in pairs)}, key=str
    )
    if any(isinstance(label, bool) for label in known):
        # A yes/no column is read as booleans: so are the predictions and the feedback on them;
        # feedback that is no flag cannot be scored against them.
        flags = [(as_flag(p["prediction"]), as_flag(a)) for p, a in pairs]
        kept = [(p, a, f) for (p, a), f in zip(pairs, flags, strict=True) if None not in f]
        unreadable += len(pairs) - len(kept)
        if not kept:
            return LiveMetrics({}, 0, unreadable)
        observed = np.asarray([f[1] for _, _, f in kept], dtype=bool)
        answered = np.asarray([f[0] for _, _, f in kept], dtype=bool)
        outputs = [p for p, _, _ in kept]
    else:
        by_key = {_key(label, False): label for label in known}
        observed = np.asarray([by_key.get(_key(a, False), a) for _, a in pairs], dtype=object)
        answered = np.asarray([p["prediction"] for p, _ in pairs], dtype=object)
        outputs = [p for p, _ in pairs]
    metrics, details = classification_metrics(
        observed, answered, _probabilities(outputs, known), known
    )
    return LiveMetrics(metrics, len(outputs), unreadable, details)


def _same_label(predicted: Any, actual: Any) -> bool:
    flags = isinstance(predicted, bool)
    return _key(predicted, flags) == _key(actual, flags)


def _probabilities(outputs: Sequence[dict[str, Any]], labels: list[Any]) -> np.ndarray | None:
    rows = []
    for output in outputs:
        probabilities = output.get("probabilities")
        if not isinstance(probabilities, dict):
            return None
        rows.append([float(probabilities.get(str(label), 0.0)) for label in labels])
    return np.asarray(rows, dtype=float)


def _forecast_steps(pairs: Sequence[tuple[Any, Any]]) -> list[tuple[float, float]]:
    steps = []
    for output, actual in pairs:
        predicted = output["prediction"]
        predicted = predicted if isinstance(predicted, list) else [predicted]
        for p, a in zip(predicted, actual, strict=False):
            if p is not None and a is not None:
                steps.append((float(p), float(a)))
    return steps


def _ranking(outputs: Sequence[dict[str, Any]], actuals: Sequence[list[Any]]) -> dict[str, float]:
    precision, recall, ndcg = [], [], []
    for output, relevant_items in zip(outputs, actuals, strict=True):
        recommended = [str(item) for item in output["prediction"]]
        relevant = {str(item) for item in relevant_items}
        hits = [item in relevant for item in recommended]
        k = max(len(recommended), 1)
        precision.append(sum(hits) / k)
        recall.append(sum(hits) / len(relevant))
        gain = sum(1 / math.log2(i + 2) for i, hit in enumerate(hits) if hit)
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), k)))
        ndcg.append(gain / ideal if ideal else 0.0)
    return finite(
        {
            "precision_at_k": float(np.mean(precision)),
            "recall_at_k": float(np.mean(recall)),
            "ndcg_at_k": float(np.mean(ndcg)),
        }
    )
