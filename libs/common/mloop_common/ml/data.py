"""Checking that a dataset can train a task, and putting its target in the form models take.

Every refusal is an `UnusableData` whose message is the precise reason shown to users. Rows
whose target is missing are dropped (and counted); anomaly labels become booleans (True: an
anomaly); classification labels keep their kind (strings, booleans, or integers when every
numeric label is whole).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mloop_common.messages.commands import RunSpec
from mloop_common.tasks import FEATURE_TYPES

from .preprocessing import as_flags, as_keys

MIN_ROWS = 10
_CLASSIFIERS = ("classification", "text_classification")


class UnusableData(ValueError):
    """Data that cannot train the run; the message is the precise reason shown to users."""


@dataclass(frozen=True)
class Prepared:
    """The rows a run trains and evaluates on (index 0..n-1) and their target."""

    frame: pd.DataFrame
    features: dict[str, str]
    target: str | None
    target_type: str | None
    y: np.ndarray | None
    dropped: int


def column_type(spec: RunSpec, frame: pd.DataFrame, name: str) -> str:
    if name in spec.columns:
        return spec.columns[name]
    return dtype_kind(frame[name])


def dtype_kind(values: pd.Series) -> str:
    """The platform type of a column from its pandas dtype (text reads as categorical)."""
    dtype = values.dtype
    if dtype == "boolean" or pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "categorical"


def prepare(spec: RunSpec, frame: pd.DataFrame, log: Callable[[str], None]) -> Prepared:
    task, target = spec.task_type, spec.target
    if target is None and task not in ("anomaly_detection", "recommendation"):
        raise UnusableData(f"a {task} run needs a target column")
    for name in [*([target] if target else []), *spec.features]:
        if name not in frame.columns:
            raise UnusableData(f"no column {name!r} in the dataset")
    if not spec.features:
        raise UnusableData("the run has no feature columns")
    features = {name: column_type(spec, frame, name) for name in spec.features}
    for name, kind in features.items():
        if kind not in FEATURE_TYPES[task]:
            usable = ", ".join(sorted(FEATURE_TYPES[task]))
            raise UnusableData(f"column {name!r} is {kind}; {task} takes {usable} columns only")
    target_type = column_type(spec, frame, target) if target else None
    kept = frame
    dropped = 0
    if target is not None:
        missing = frame[target].isna().to_numpy()
        if task == "regression" or task == "forecasting":
            if target_type not in ("numeric", None):
                raise UnusableData(
                    f"the target {target!r} is {target_type}; {task} needs a numeric target"
                )
            numbers = pd.to_numeric(frame[target], errors="coerce")
            missing = numbers.isna().to_numpy()
        if missing.all():
            raise UnusableData(f"the target {target!r} has no value in any row")
        dropped = int(missing.sum())
        if dropped:
            log(f"dropped {dropped} rows whose target {target!r} is missing")
            kept = frame.loc[~missing]
    kept = kept.reset_index(drop=True)
    if len(kept) < MIN_ROWS:
        raise UnusableData(
            f"only {len(kept)} rows can be used; at least {MIN_ROWS} are needed to train and "
            "hold out a share for evaluation"
        )
    for name, kind in features.items():
        present = kept[name].dropna()
        if kind in ("text", "categorical"):
            present = present[present.astype(str).str.strip() != ""]
        if present.empty:
            raise UnusableData(f"column {name!r} is empty in every row")
    y = _target(task, kept[target], target_type) if target is not None else None
    return Prepared(kept, features, target, target_type, y, dropped)


def _target(task: str, values: pd.Series, kind: str | None) -> np.ndarray:
    name = values.name
    if task in _CLASSIFIERS:
        y = labels(values, kind)
        _require_two_classes(name, y)
        return y
    if task in ("regression", "forecasting"):
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    if task == "anomaly_detection":
        return anomaly_labels(values, kind)
    if kind == "categorical" or kind == "text":
        raise UnusableData(
            f"the target {name!r} is {kind}; a recommendation target is a numeric rating or a "
            "boolean (interacted or not), or none for implicit interactions"
        )
    if kind == "boolean":
        return as_flags(values)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def labels(values: pd.Series, kind: str | None) -> np.ndarray:
    """Class labels: bool for a boolean column, int64 (or float64) for a numeric one, str
    otherwise."""
    if kind == "boolean" or values.dtype == "boolean" or values.dtype == bool:
        return as_flags(values).astype(bool)
    if kind == "numeric" or pd.api.types.is_numeric_dtype(values.dtype):
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        whole = np.isfinite(numbers).all() and np.all(numbers == np.round(numbers))
        return numbers.astype(np.int64) if whole else numbers
    return as_keys(values)


def _require_two_classes(name: Any, y: np.ndarray) -> None:
    classes = np.unique(y)
    if len(classes) < 2:
        raise UnusableData(f"the target {name!r} has one class only: {jsonable(classes[0])!r}")
    if len(classes) > 1000 or (len(classes) > 50 and len(classes) > len(y) / 2):
        raise UnusableData(
            f"the target {name!r} has {len(classes)} distinct values in {len(y)} rows: too many "
            "classes to learn; is it a regression target?"
        )


def anomaly_labels(values: pd.Series, kind: str | None) -> np.ndarray:
    """True for an anomaly: a boolean label as is; 0/1 with 1 the anomaly; otherwise the rarer
    of exactly two values."""
    name = values.name
    y = labels(values, kind)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) == 1:
        raise UnusableData(f"the target {name!r} has one class only: {jsonable(classes[0])!r}")
    if len(classes) > 2:
        raise UnusableData(
            f"the anomaly label {name!r} has {len(classes)} values; it needs two (normal and "
            "anomaly), e.g. a boolean or 0/1"
        )
    if y.dtype == bool:
        return y
    if set(classes.tolist()) == {0, 1}:
        return y == 1
    return y == classes[int(np.argmin(counts))]


def jsonable(value: Any) -> Any:
    """A value as JSON can hold it: numpy scalars unwrapped, NaN/NaT as None, times as ISO."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(item) for item in value]
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        stamp = pd.Timestamp(value)
        return None if pd.isna(stamp) else stamp.isoformat()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
