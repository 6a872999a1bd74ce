"""Data preparation: a data_preprocessing step's config applied to a DataFrame.

The operations run in a fixed order, whatever the order they are written in:

1. `impute`: fill missing values of each column named (mean, median or mode of the column, or a
   constant);
2. `derive`: compute each new column from its expression, in the order written (a derived column
   may use the ones derived before it; deriving an existing name replaces that column);
3. `filter`: keep the rows where the expression is true (null counts as false);
4. `select`: keep these columns, in this order.

A predict workflow's steps never filter: each record sent must keep its place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from mloop_common.workflows import expressions

STRATEGIES = ("mean", "median", "mode")


class RecipeError(ValueError):
    """The recipe cannot apply to this data (an unknown column, a type that does not fit)."""


KEYS = ("impute", "derive", "filter", "select")
IGNORED = ("input_path", "output_path")  # a whole step config may be passed


def check(config: Any) -> None:
    """RecipeError when `config` is not a recipe's shape (from a message, say): a mapping of
    `impute` {column: strategy or constant}, `derive` {column: expression}, `filter`
    (expression) and `select` [columns], each optional, every expression parsing."""
    if not isinstance(config, Mapping):
        raise RecipeError("a recipe is a mapping")
    unknown = [key for key in config if key not in KEYS and key not in IGNORED]
    if unknown:
        raise RecipeError(f"unknown recipe key {', '.join(map(repr, unknown))}")
    for key in ("impute", "derive"):
        value = config.get(key) or {}
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise RecipeError(f"{key} must map column names")
    for column, how in (config.get("impute") or {}).items():
        if isinstance(how, (list, dict)) or how is None:
            raise RecipeError(f"impute {column!r}: a strategy or a constant, not {how!r}")
    texts = list((config.get("derive") or {}).values())
    if config.get("filter") is not None:
        texts.append(config["filter"])
    for text in texts:
        try:
            expressions.parse(text)
        except expressions.ExpressionError as error:
            raise RecipeError(f"{text!r}: {error}") from None
    select = config.get("select")
    if select is not None and (
        not isinstance(select, list) or not all(isinstance(name, str) for name in select)
    ):
        raise RecipeError("select must list column names")


def apply(frame: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """A new frame: `frame` prepared by the normalised data_preprocessing `config`.
    RecipeError when it cannot apply to this frame (an unknown column, a type that does not
    fit)."""
    check(config)
    try:
        return _apply(frame, config)
    except (TypeError, ValueError) as error:
        if isinstance(error, RecipeError):
            raise
        raise RecipeError(f"the recipe does not fit the data: {error}") from None


def _apply(frame: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    result = frame.copy()
    for column, how in (config.get("impute") or {}).items():
        result[column] = _impute(result, column, how)
    for column, text in (config.get("derive") or {}).items():
        result[column] = _evaluate(result, text, f"derive {column!r}")
    condition = config.get("filter")
    if condition:
        keep = _evaluate(result, condition, "filter")
        keep = keep.astype(object).where(keep.notna(), False).astype(bool)
        result = result.loc[keep].reset_index(drop=True)
    select = config.get("select")
    if select:
        missing = [name for name in select if name not in result.columns]
        if missing:
            raise RecipeError(f"select: unknown column {', '.join(map(repr, missing))}")
        result = result[list(select)]
    return result


def _evaluate(frame: pd.DataFrame, text: str, what: str) -> pd.Series:
    try:
        return expressions.parse(text).evaluate(frame)
    except expressions.ExpressionError as error:
        raise RecipeError(f"{what}: {error}") from None


def _impute(frame: pd.DataFrame, column: str, how: Any) -> pd.Series:
    if column not in frame.columns:
        raise RecipeError(f"impute: unknown column {column!r}")
    values = frame[column]
    numeric = pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
        values.dtype
    )
    if how in ("mean", "median"):
        if not numeric:
            raise RecipeError(f"impute {column!r}: {how} needs a numeric column")
        fill = values.mean() if how == "mean" else values.median()
        if pd.isna(fill):
            return values  # nothing to take a mean of: every value is missing
        if pd.api.types.is_integer_dtype(values.dtype):
            values = values.astype("float64")
        return values.fillna(fill)
    if how == "mode":
        modes = values.mode(dropna=True)
        return values if modes.empty else values.fillna(modes.iloc[0])
    if numeric and (isinstance(how, bool) or not isinstance(how, (int, float))):
        raise RecipeError(f"impute {column!r}: a numeric column needs a number, not {how!r}")
    if not numeric and pd.api.types.is_bool_dtype(values.dtype) and not isinstance(how, bool):
        raise RecipeError(f"impute {column!r}: a boolean column needs true or false, not {how!r}")
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        try:
            how = pd.Timestamp(how)
        except (TypeError, ValueError):
            raise RecipeError(f"impute {column!r}: {how!r} is not a date and time") from None
    return values.fillna(how)


def apply_records(records: list[dict[str, Any]], configs: list[Mapping[str, Any]]) -> list[dict]:
    """Records transformed by each config in turn (a predict workflow's steps, in order)."""
    frame = pd.DataFrame.from_records(records)
    for config in configs:
        if config.get("filter"):
            raise RecipeError("a predict workflow cannot filter records")
        frame = apply(frame, config)
    return [
        {key: expressions.plain(value) for key, value in row.items()}
        for row in frame.to_dict(orient="records")
    ]
