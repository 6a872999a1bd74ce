"""A model's input signature, and the reference profile drift is measured against.

The reference describes the training rows, column by column:

- numeric: `bins` (edges at the deciles, so each bin holds about a tenth of the training rows,
  and the count in each), quantiles, mean, std;
- categorical and boolean: `frequencies` of the 100 most frequent values and `other` for the rest;
- text: quantiles of the token count and the 1000 most frequent tokens with their counts;
- datetime: first, last and quantiles (ISO);

each with `count` and `missing` (share of rows). `prediction` describes the model's outputs on
the holdout: a label distribution and mean probabilities, a numeric profile of values or
scores, an anomaly rate, or the most recommended items. Every value is JSON-able.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from .data import jsonable
from .preprocessing import as_datetimes, as_flags, as_keys

QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
TOP_CATEGORIES = 100
TOP_TOKENS = 1000
MAX_SIGNATURE_CATEGORIES = 1000
# How text is split into tokens; drift checks tokenise current text the same way.
TOKEN = re.compile(r"(?u)\b\w+\b")


def signature(
    task_type: str,
    frame: pd.DataFrame,
    features: dict[str, str],
    target: dict[str, Any] | None,
    extras: dict[str, Any],
) -> dict[str, Any]:
    """The columns a model reads (name, platform type, dtype, and the known categories of a
    categorical column, up to 1000, most frequent first), its target and task extras."""
    columns = []
    for name, kind in features.items():
        entry: dict[str, Any] = {"name": name, "type": kind, "dtype": str(frame[name].dtype)}
        if kind == "categorical":
            counts = Counter(as_keys(frame[name].dropna()))
            entry["categories"] = [v for v, _ in counts.most_common(MAX_SIGNATURE_CATEGORIES)]
        elif kind == "boolean":
            entry["categories"] = [False, True]
        columns.append(entry)
    return jsonable({"task_type": task_type, "columns": columns, "target": target, **extras})


def reference(
    frame: pd.DataFrame, columns: dict[str, str], prediction: dict[str, Any]
) -> dict[str, Any]:
    """The reference profile of `frame`'s `columns` (name -> type), with `prediction`."""
    return jsonable(
        {
            "rows": len(frame),
            "columns": {name: column_profile(frame[name], kind) for name, kind in columns.items()},
            "prediction": prediction,
        }
    )


def column_profile(values: pd.Series, kind: str) -> dict[str, Any]:
    missing = values.isna().to_numpy(dtype=bool, copy=True)
    if kind == "text":
        blank = values.astype(object).map(lambda v: isinstance(v, str) and not v.strip())
        missing |= blank.to_numpy(dtype=bool)
    base = {
        "type": kind,
        "count": len(values),
        "missing": float(missing.mean()) if len(missing) else 0.0,
    }
    present = values[~missing]
    if kind == "numeric":
        return base | numeric_profile(pd.to_numeric(present, errors="coerce").to_numpy(float))
    if kind == "boolean":
        flags = as_flags(present)
        return base | frequencies(np.where(flags == 1, "true", "false"))
    if kind == "datetime":
        times = as_datetimes(present).dropna()
        if times.empty:
            return base
        return base | {"quantiles": [t.isoformat() for t in times.quantile(list(QUANTILES))]}
    if kind == "text":
        return base | text_profile(present)
    return base | frequencies(as_keys(present))


def numeric_profile(values: np.ndarray) -> dict[str, Any]:
    values = values[np.isfinite(values)]
    if not len(values):
        return {}
    edges = np.unique(np.quantile(values, np.linspace(0, 1, 11)))
    if len(edges) == 1:
        edges = np.array([edges[0], edges[0]])
    counts, edges = np.histogram(values, bins=edges)
    return {
        "bins": {"edges": edges.tolist(), "counts": counts.tolist()},
        "quantiles": _quantiles(values),
        "mean": float(values.mean()),
        "std": float(values.std()),
    }


def _quantiles(values: np.ndarray) -> dict[str, float]:
    return dict(zip(map(str, QUANTILES), np.quantile(values, QUANTILES).tolist(), strict=True))


def frequencies(values: np.ndarray) -> dict[str, Any]:
    total = len(values)
    if not total:
        return {"frequencies": {}, "other": 0.0, "distinct": 0}
    counts = Counter(values.tolist())
    top = counts.most_common(TOP_CATEGORIES)
    shown = {str(value): count / total for value, count in top}
    return {
        "frequencies": shown,
        "other": max(0.0, 1.0 - sum(shown.values())),
        "distinct": len(counts),
    }


def text_profile(values: pd.Series) -> dict[str, Any]:
    tokens = Counter()
    lengths = []
    for text in values.astype(str):
        words = TOKEN.findall(text.lower())
        lengths.append(len(words))
        tokens.update(words)
    if not lengths:
        return {}
    return {
        "token_count": {
            "quantiles": _quantiles(np.asarray(lengths, dtype=float)),
            "mean": float(np.mean(lengths)),
        },
        "vocabulary": dict(tokens.most_common(TOP_TOKENS)),
        "vocabulary_size": len(tokens),
    }


def prediction_profile(task_type: str, outputs: dict[str, Any]) -> dict[str, Any]:
    """The distribution of the model's outputs on the holdout."""
    if "proba" in outputs:
        classes = [str(jsonable(c)) for c in outputs["classes"]]
        labels = np.array([str(jsonable(v)) for v in outputs["labels"]], dtype=object)
        return frequencies(labels) | {
            "mean_probability": dict(
                zip(classes, outputs["proba"].mean(axis=0).tolist(), strict=True)
            )
        }
    if "flags" in outputs:
        flags = np.asarray(outputs["flags"], dtype=bool)
        return {"anomaly_rate": float(flags.mean()) if len(flags) else 0.0} | {
            "score": numeric_profile(np.asarray(outputs["scores"], dtype=float))
        }
    if "items" in outputs:
        return frequencies(np.array([str(item) for item in outputs["items"]], dtype=object))
    return numeric_profile(np.asarray(outputs.get("values", []), dtype=float))
