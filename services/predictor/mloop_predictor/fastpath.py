"""A LightGBM pipeline compiled to plain float rows fed to the raw booster.

The trained pipeline is `coerce -> ColumnTransformer -> LGBMClassifier/LGBMRegressor`, where for
boosting every column encodes to one float (numbers and flags pass through with their NaN,
categories become ordinal codes with -1 for unknown) or seven (datetime parts). Calling the
scikit-learn pipeline for one record costs about a millisecond (a DataFrame is built, every
transformer validates its input); the same arithmetic done here in Python on a record, then
LightGBM's single-row C entry point (`LGBM_BoosterPredictForMatSingleRowFast`, reached through
the ctypes handle the lightgbm package loads) costs a few microseconds. Frames (batch) are
encoded column-wise with the pipeline's own coercion and scored with `Booster.predict`.

`compile_lightgbm` raises `NotCompilable` for anything else (other transformers, text columns,
other estimators). The caller verifies the compiled path against the pipeline on the model's
sample rows before using it (see `scoring`): this module makes no promise by itself.
"""

from __future__ import annotations

import ctypes
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from mloop_common.ml.preprocessing import (
    MISSING,
    DatetimeParts,
    RecordCoercer,
    as_datetimes,
    datetime_parts,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})
_NAN = float("nan")
_PREDICT_NORMAL = 0
_FLOAT64 = 1


class NotCompilable(Exception):
    """The pipeline has a step the fast path does not reproduce; the pipeline serves."""


def _number(value: Any) -> float:
    if value is None:
        return _NAN
    try:
        return float(value)
    except (TypeError, ValueError):
        return _NAN


def _flag(value: Any) -> float:
    if value is None:
        return _NAN
    if isinstance(value, (bool, int, float)):
        return float(value) if value in (0, 1) else _NAN
    text = str(value).strip().lower()
    return 1.0 if text in _TRUE else 0.0 if text in _FALSE else _NAN


def category_key(value: Any) -> str:
    """The key `preprocessing.as_keys` gives one value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _ordinal(codes: dict[str, float]) -> Callable[[Any], float]:
    get = codes.get

    def encode(value: Any) -> float:
        if type(value) is str:
            return get(value, -1.0)
        return get(category_key(value), -1.0)

    return encode


def _passthrough(transformer: Any) -> bool:
    """A fitted ColumnTransformer holds "passthrough" as an identity FunctionTransformer."""
    if isinstance(transformer, str):
        return transformer == "passthrough"
    return isinstance(transformer, FunctionTransformer) and transformer.func is None


class _Column:
    """How one input column becomes its float(s)."""

    def __init__(self, name: str, kind: str, width: int, encode: Callable[[Any], float] | None):
        self.name, self.kind, self.width, self.encode = name, kind, width, encode


class LightGBMFastPath:
    """Records or frames -> the booster's raw outputs (n, k): probabilities of the positive
    class (binary, k=1), of each class (multiclass) or values (regression)."""

    def __init__(self, pipeline: Pipeline) -> None:
        try:
            preprocess = pipeline.named_steps["preprocess"]
            self._coerce: RecordCoercer = preprocess.named_steps["coerce"]
            encode = preprocess.named_steps["encode"]
            estimator = pipeline.named_steps["model"]
        except (AttributeError, KeyError) as err:
            raise NotCompilable(f"not a preprocess/model pipeline: {err}") from err
        if type(estimator).__name__ not in ("LGBMClassifier", "LGBMRegressor"):
            raise NotCompilable(f"{type(estimator).__name__} is not a LightGBM estimator")
        kinds = dict(self._coerce.columns or {})
        self.columns: list[_Column] = []
        for name, transformer, selected in encode.transformers_:
            if name == "remainder":
                if transformer != "drop" and len(selected):
                    raise NotCompilable("the column transformer keeps remainder columns")
                continue
            if not isinstance(selected, list) or len(selected) != 1:
                raise NotCompilable(f"transformer {name} reads {selected!r}, not one column")
            column = selected[0]
            self.columns.append(self._column(column, kinds.get(column), transformer))
        self.width = sum(column.width for column in self.columns)
        self.booster = estimator.booster_
        if self.booster.num_feature() != self.width:
            raise NotCompilable(
                f"the booster reads {self.booster.num_feature()} features, encoding gives "
                f"{self.width}"
            )
        self.classes = getattr(estimator, "classes_", None)
        self.outputs = 1 if self.classes is None or len(self.classes) <= 2 else len(self.classes)
        self._iteration = max(int(self.booster.best_iteration or 0), 0) or -1
        self._has_datetime = any(column.kind == "datetime" for column in self.columns)
        self._lock = threading.Lock()
        self._single: Callable[[list[float]], list[float]] | None = self._single_row_entry()

    @staticmethod
    def _column(name: str, kind: str | None, transformer: Any) -> _Column:
        if kind in ("numeric", "boolean") and _passthrough(transformer):
            return _Column(name, kind, 1, _number if kind == "numeric" else _flag)
        if kind == "categorical" and isinstance(transformer, OrdinalEncoder):
            if transformer.unknown_value != -1 or len(transformer.categories_) != 1:
                raise NotCompilable(f"ordinal encoding of {name!r} is not the boosting one")
            if getattr(transformer, "_infrequent_enabled", False):
                raise NotCompilable(f"ordinal encoding of {name!r} groups infrequent categories")
            codes = {str(value): float(i) for i, value in enumerate(transformer.categories_[0])}
            column = _Column(name, kind, 1, _ordinal(codes))
            column.categories = pd.Index(transformer.categories_[0])  # type: ignore[attr-defined]
            return column
        if kind == "datetime" and isinstance(transformer, DatetimeParts):
            return _Column(name, kind, 7, None)
        raise NotCompilable(f"column {name!r} ({kind}) is encoded by {transformer!r}")

    # -- records (online) ------------------------------------------------------------------

    def encode_records(self, records: list[dict[str, Any]]) -> list[list[float]]:
        """One float row per record (absent columns are missing)."""
        if not self._has_datetime:
            plan = [(column.name, column.encode) for column in self.columns]
            return [[encode(record.get(name)) for name, encode in plan] for record in records]
        parts = {
            column.name: datetime_parts(
                pd.DatetimeIndex(
                    as_datetimes(
                        pd.Series([record.get(column.name) for record in records], dtype=object)
                    )
                )
            ).tolist()
            for column in self.columns
            if column.kind == "datetime"
        }
        rows = []
        for position, record in enumerate(records):
            row: list[float] = []
            for column in self.columns:
                if column.encode is None:
                    row.extend(parts[column.name][position])
                else:
                    row.append(column.encode(record.get(column.name)))
            rows.append(row)
        return rows

    def raw_records(self, records: list[dict[str, Any]]) -> np.ndarray:
        rows = self.encode_records(records)
        single = self._single
        if single is not None and len(rows) <= 64:
            with self._lock:
                return np.array([single(row) for row in rows], dtype=np.float64)
        return self._booster_predict(np.array(rows, dtype=np.float64).reshape(len(rows), -1))

    # -- frames (batch) ----------------------------------------------------------------------

    def encode_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """A float matrix, column-wise, through the pipeline's own coercion step."""
        coerced = self._coerce.transform(frame)
        blocks = []
        for column in self.columns:
            values = coerced[column.name]
            if column.kind == "categorical":
                codes = column.categories.get_indexer(values.to_numpy(dtype=object))  # type: ignore[attr-defined]
                blocks.append(codes.astype(np.float64)[:, None])
            elif column.kind == "datetime":
                blocks.append(datetime_parts(pd.DatetimeIndex(as_datetimes(values))))
            else:
                blocks.append(values.to_numpy(dtype=np.float64)[:, None])
        if not blocks:
            return np.zeros((len(frame), 0))
        return np.ascontiguousarray(np.hstack(blocks), dtype=np.float64)

    def raw_frame(self, frame: pd.DataFrame) -> np.ndarray:
        return self._booster_predict(self.encode_frame(frame))

    def _booster_predict(self, matrix: np.ndarray) -> np.ndarray:
        out = self.booster.predict(matrix, num_iteration=self._iteration)
        return np.asarray(out, dtype=np.float64).reshape(len(matrix), self.outputs)

    # -- LightGBM's single-row entry point ---------------------------------------------------

    def _single_row_entry(self) -> Callable[[list[float]], list[float]] | None:
        """A function scoring one row through LightGBM's fast single-row C API, or None when
        the installed lightgbm does not expose it (then `Booster.predict` serves)."""
        try:
            from lightgbm import basic
        except ImportError:
            return None
        library = getattr(basic, "_LIB", None)
        handle = getattr(self.booster, "_handle", None)
        if library is None or handle is None:
            return None
        init = getattr(library, "LGBM_BoosterPredictForMatSingleRowFastInit", None)
        call = getattr(library, "LGBM_BoosterPredictForMatSingleRowFast", None)
        free = getattr(library, "LGBM_FastConfigFree", None)
        if init is None or call is None or free is None:
            return None
        config = ctypes.c_void_p()
        status = init(
            handle,
            ctypes.c_int(_PREDICT_NORMAL),
            ctypes.c_int(0),
            ctypes.c_int(self._iteration),
            ctypes.c_int(_FLOAT64),
            ctypes.c_int32(self.width),
            ctypes.c_char_p(b"num_threads=1"),
            ctypes.byref(config),
        )
        if status != 0:
            return None
        self._config = config
        self._free = free
        row = (ctypes.c_double * max(self.width, 1))()
        out = (ctypes.c_double * self.outputs)()
        length = ctypes.c_int64()
        length_ref = ctypes.byref(length)
        width = self.width
        outputs = self.outputs

        def score(values: list[float]) -> list[float]:
            row[:width] = values
            if call(config, row, length_ref, out) != 0:
                raise RuntimeError("LightGBM single-row prediction failed")
            return out[:outputs]

        return score

    def __del__(self) -> None:
        config = getattr(self, "_config", None)
        if config is not None and config.value:
            self._free(config)
