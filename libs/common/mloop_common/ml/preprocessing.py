"""Turning raw records into model inputs: typed columns, encoders per column, importances back.

`RecordCoercer` is the first step of every tabular model: it takes what a predictor receives
(a DataFrame of the feature columns, typed as `read_frame` types them or straight from JSON, or a
list of dicts) and gives each column the type the model was trained on; a column that is absent
is treated as missing in every row, and values that cannot be read as the column's type become
missing. `encoder` then builds one transformer per column, so that outputs map back to the
column they came from (`column_importances`).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

MISSING = "<missing>"
TOKEN_PATTERN = r"(?u)\b\w+\b"
_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})
DATETIME_PARTS = ("year", "month", "day", "dayofweek", "dayofyear", "hour", "days")

Style = Literal["linear", "boosting", "forest", "text"]


def as_numbers(values: pd.Series) -> np.ndarray:
    if values.dtype == "boolean" or values.dtype == bool:
        return values.astype("float64").to_numpy()
    return pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()


def as_flags(values: pd.Series) -> np.ndarray:
    """1.0, 0.0 or NaN per value: booleans, 0/1 and the usual words are understood."""
    if values.dtype == "boolean" or values.dtype == bool:
        return values.astype("float64").to_numpy()
    out = np.full(len(values), np.nan)
    for position, value in enumerate(values.to_numpy(dtype=object)):
        flag = as_flag(value)
        if flag is not None:
            out[position] = float(flag)
    return out


def as_flag(value: Any) -> bool | None:
    """One value read as a flag: a boolean, 0/1 or one of the usual words; None otherwise."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if value is None or value is pd.NA:
        return None
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def as_datetimes(values: pd.Series) -> pd.Series:
    """Naive datetimes (aware ones converted to UTC), NaT where unreadable."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        times = values
    else:
        times = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times.astype("datetime64[ns]")


def as_keys(values: pd.Series, missing: Any = MISSING) -> np.ndarray:
    """Strings, with integral numbers written without a decimal part (7.0 reads as "7")."""
    if values.dtype != object and pd.api.types.is_string_dtype(values.dtype):
        fast = values.to_numpy(dtype=object, copy=True)
        fast[values.isna().to_numpy()] = missing
        return fast
    out = np.empty(len(values), dtype=object)
    for position, value in enumerate(values.to_numpy(dtype=object)):
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            out[position] = missing
        elif isinstance(value, (bool, np.bool_)):
            out[position] = str(bool(value)).lower()
        elif isinstance(value, (float, np.floating)) and float(value).is_integer():
            out[position] = str(int(value))
        else:
            out[position] = str(value)
    return out


def coerce_column(values: pd.Series, kind: str) -> Any:
    if kind == "numeric":
        return as_numbers(values)
    if kind == "boolean":
        return as_flags(values)
    if kind == "datetime":
        return as_datetimes(values).to_numpy()
    return as_keys(values, MISSING if kind == "categorical" else "")


def records(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, dict):
        return pd.DataFrame([X])
    return pd.DataFrame(list(X))


class RecordCoercer(TransformerMixin, BaseEstimator):
    """Raw records -> a DataFrame with `columns` (name -> platform type), each typed."""

    def __init__(self, columns: dict[str, str] | None = None) -> None:
        self.columns = columns

    def fit(self, X: Any, y: Any = None) -> RecordCoercer:
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        frame = records(X)
        out = {}
        for name, kind in (self.columns or {}).items():
            if name in frame.columns:
                values = frame[name]
            else:
                values = pd.Series([None] * len(frame), index=frame.index, dtype=object)
            out[name] = coerce_column(values, kind)
        return pd.DataFrame(out, index=frame.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(list(self.columns or {}), dtype=object)


class DatetimeParts(TransformerMixin, BaseEstimator):
    """A datetime column -> year, month, day, weekday, day of year, hour and days since the
    epoch, as floats (NaN where the time is missing)."""

    def fit(self, X: Any, y: Any = None) -> DatetimeParts:
        return self

    def transform(self, X: Any) -> np.ndarray:
        column = X.iloc[:, 0] if isinstance(X, pd.DataFrame) else pd.Series(np.asarray(X)[:, 0])
        return datetime_parts(pd.DatetimeIndex(as_datetimes(column)))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        prefix = input_features[0] if input_features is not None else "time"
        return np.asarray([f"{prefix}_{part}" for part in DATETIME_PARTS], dtype=object)


def datetime_parts(times: pd.DatetimeIndex) -> np.ndarray:
    missing = np.asarray(times.isna())
    parts = np.column_stack(
        [
            times.year,
            times.month,
            times.day,
            times.day_of_week,
            times.day_of_year,
            times.hour,
            times.asi8 / 86_400e9,
        ]
    ).astype("float64")
    parts[missing] = np.nan
    return parts


def _column_pipeline(kind: str, style: Style, text: dict[str, Any]) -> Any:
    impute = style in ("linear", "forest", "text")
    scale = style in ("linear", "text")
    steps: list[tuple[str, Any]] = []
    if kind in ("numeric", "boolean", "datetime"):
        if kind == "datetime":
            steps.append(("parts", DatetimeParts()))
        if impute:
            strategy = "most_frequent" if kind == "boolean" else "median"
            steps.append(("impute", SimpleImputer(strategy=strategy, keep_empty_features=True)))
        if scale and kind != "boolean":
            steps.append(("scale", StandardScaler()))
        if not steps:
            return "passthrough"
    elif kind == "categorical":
        if style in ("linear", "text"):
            steps.append(
                ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=100))
            )
        else:
            steps.append(
                (
                    "ordinal",
                    OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                )
            )
    else:
        steps.append(
            (
                "tfidf",
                TfidfVectorizer(
                    token_pattern=TOKEN_PATTERN,
                    sublinear_tf=True,
                    dtype=np.float32,
                    max_features=text.get("max_features", 1000 if scale else 200),
                    ngram_range=(1, text.get("ngram_max", 1)),
                    min_df=text.get("min_df", 1),
                ),
            )
        )
    return steps[0][1] if len(steps) == 1 else Pipeline(steps)


def encoder(
    columns: dict[str, str], style: Style, *, dense: bool = False, text: dict | None = None
) -> Pipeline:
    """Coercion then one transformer per column suited to `style`:

    - linear, text: numbers imputed (median) and scaled, categories one-hot (the 100 most
      frequent; rarer and unknown ones share an "infrequent" column, or get all zeros when
      there is none), datetimes split into numeric parts, text TF-IDF (settings from `text`);
    - boosting (LightGBM, histogram GB): numbers left with their NaN, categories as ordinal
      codes (unknown: -1);
    - forest (random forest, isolation forest): as boosting, numbers imputed (median).
    """
    transformers = [
        (f"c{i}", _column_pipeline(kind, style, text or {}), name if kind == "text" else [name])
        for i, (name, kind) in enumerate(columns.items())
    ]
    encode = ColumnTransformer(transformers, sparse_threshold=0.0 if dense else 0.3)
    return Pipeline([("coerce", RecordCoercer(dict(columns))), ("encode", encode)])


def column_importances(model: Pipeline, raw: np.ndarray) -> dict[str, float] | None:
    """Importances of the encoded features summed back to their input column, summing to 1;
    None when all are zero."""
    preprocess = model.named_steps["preprocess"]
    names = list(preprocess.named_steps["coerce"].columns)
    encode = preprocess.named_steps["encode"]
    raw = np.abs(np.asarray(raw, dtype=float))
    totals = dict.fromkeys(names, 0.0)
    for name, span in encode.output_indices_.items():
        if name != "remainder":
            totals[names[int(name[1:])]] += float(raw[span].sum())
    whole = sum(totals.values())
    if not np.isfinite(whole) or whole <= 0:
        return None
    return {name: value / whole for name, value in totals.items()}
