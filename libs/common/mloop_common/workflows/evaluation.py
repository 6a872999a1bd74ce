"""Evaluation of a parsed expression over a whole pandas DataFrame at once (vectorised); see
`expressions` for the semantics (nulls, division by zero, comparisons with null)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from mloop_common.workflows.syntax import (
    COMPARISONS,
    Binary,
    Call,
    Column,
    ExpressionError,
    Literal,
    Node,
    Unary,
)


def plain(value: Any) -> Any:
    """A numpy/pandas scalar as a plain Python value; missing values as None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    return value


def dtype_of(value: Any) -> Any:
    if value is None:
        return "float64"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "object"
    return None


# -- evaluation --------------------------------------------------------------------------------

Value = Any  # a pandas Series or a Python scalar


class Evaluator:
    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def eval(self, node: Node) -> Value:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Column):
            return self.frame[node.name]
        try:
            if isinstance(node, Unary):
                return self.unary(node)
            if isinstance(node, Binary):
                return self.binary(node)
            assert isinstance(node, Call)
            return self.call(node)
        except ExpressionError:
            raise
        except (TypeError, ValueError, AttributeError) as error:
            raise ExpressionError(_type_message(node, error), node.position) from None

    def unary(self, node: Unary) -> Value:
        value = self.eval(node.operand)
        if node.op == "not":
            return _not(value)
        _numbers_only(value, node, node.op)
        if value is None:
            return None
        return -value if node.op == "-" else value

    def binary(self, node: Binary) -> Value:
        if node.op in ("and", "or"):
            left, right = _truth(self.eval(node.left)), _truth(self.eval(node.right))
            return (left & right) if node.op == "and" else (left | right)
        left, right = self.eval(node.left), self.eval(node.right)
        if node.op in COMPARISONS:
            return _compare(node.op, left, right)
        if node.op == "+" and (_is_text(left) or _is_text(right)):
            if _text_or_missing(left) and _text_or_missing(right):
                return _join(left, right, self.frame.index)
        _numbers_only(left, node, node.op)
        _numbers_only(right, node, node.op)
        if left is None or right is None:
            return None
        left, right = _numeric(left), _numeric(right)
        if node.op == "+":
            return left + right
        if node.op == "-":
            return left - right
        if node.op == "*":
            return _finite(left * right)
        if node.op == "**":
            try:
                return _finite(_as_float(left) ** _as_float(right))
            except (OverflowError, ZeroDivisionError):  # only from two plain numbers
                return None
        zero = right == 0
        if not _series(left) and not _series(right):
            if zero:
                return None
            return _finite(left / right if node.op == "/" else left % right)
        with np.errstate(all="ignore"):
            result = left / right if node.op == "/" else left % right
        return _finite(_where_not(result, zero))

    def call(self, node: Call) -> Value:
        name = node.name
        args = [self.eval(arg) for arg in node.args]
        if name == "if":
            return _choose(_truth(args[0]), args[1], args[2], self.frame.index)
        if name == "coalesce":
            result = args[0]
            for other in args[1:]:
                result = _coalesce(result, other)
            return result
        if name in ("lower", "upper", "len"):
            return _text_function(name, args[0], node)
        for arg in args:
            _numbers_only(arg, node, f"{name}()")
        if name in ("min", "max"):
            return _extreme(name, args, self.frame.index)
        if name == "clip":
            clipped = _extreme(
                "min", [_extreme("max", args[:2], self.frame.index), args[2]], self.frame.index
            )
            if args[0] is None:
                return None
            return clipped.where(args[0].notna()) if _series(args[0]) else clipped
        x = args[0]
        if x is None:
            return None
        x = _as_float(_numeric(x))
        digits = args[1] if len(args) > 1 else 0
        if _series(x):
            with np.errstate(all="ignore"):
                if name == "abs":
                    return x.abs()
                if name == "round":
                    return x.round(digits)
                if name == "log":
                    return _finite(np.log(x.where(x > 0)))
                if name == "sqrt":
                    return _finite(np.sqrt(x.where(x >= 0)))
                return _finite(np.exp(x))
        if name == "abs":
            return abs(x)
        if name == "round":
            return round(x, digits)
        if name == "log":
            return math.log(x) if x > 0 else None
        if name == "sqrt":
            return math.sqrt(x) if x >= 0 else None
        try:
            return math.exp(x)
        except OverflowError:
            return None


def _series(value: Value) -> bool:
    return isinstance(value, pd.Series)


def _is_text(value: Value) -> bool:
    """A string, or a Series holding strings (and missing values) only, at least one."""
    if isinstance(value, str):
        return True
    if not _series(value) or pd.api.types.is_numeric_dtype(value.dtype):
        return False
    if pd.api.types.is_string_dtype(value.dtype) and not pd.api.types.is_object_dtype(value.dtype):
        return True
    present = value.dropna()
    return (
        pd.api.types.is_object_dtype(value.dtype)
        and len(present) > 0
        and bool(present.map(type).eq(str).all())
    )


def _numbers_only(value: Value, node: Node, what: str) -> None:
    if value is None or isinstance(value, (bool, int, float)):
        return
    if isinstance(value, str):
        raise ExpressionError(f"{what} needs numbers, not the text {value!r}", node.position)
    if _series(value):
        dtype = value.dtype
        if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            return
        present = value.dropna()
        if (
            pd.api.types.is_object_dtype(dtype)
            and present.map(lambda v: isinstance(v, (int, float))).all()
        ):
            return
        raise ExpressionError(f"{what} needs numbers, not {_kind(dtype)} values", node.position)
    raise ExpressionError(f"{what} needs numbers", node.position)


def _kind(dtype: Any) -> str:
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "text"


def _numeric(value: Value) -> Value:
    """Booleans as 0/1 and object columns of numbers as floats; other values unchanged."""
    if _series(value):
        if pd.api.types.is_bool_dtype(value.dtype):
            return value.astype("float64")
        if pd.api.types.is_object_dtype(value.dtype):
            return pd.to_numeric(value, errors="coerce").astype("float64")
        return value
    if isinstance(value, bool):
        return int(value)
    return value


def _as_float(value: Value) -> Value:
    if _series(value):
        return value.astype("float64")
    return float(value)


def _finite(value: Value) -> Value:
    """Non-finite results (overflow, log of 0, ...) as missing."""
    if _series(value):
        if pd.api.types.is_float_dtype(value.dtype):
            return value.where(np.isfinite(value.astype("float64")), np.nan)
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _where_not(result: Value, zero: Value) -> Value:
    """`result` with missing values where the divisor was 0."""
    if _series(result):
        if _series(zero):
            mask = zero.astype(object).where(zero.notna(), False).astype(bool)
        else:
            mask = pd.Series(bool(zero), index=result.index)
        return result.astype("float64").mask(mask, np.nan)
    return None if zero else result


def _truth(value: Value) -> Value:
    if _series(value):
        missing = value.isna()
        return value.astype(object).where(~missing, False).astype(bool)
    if value is None:
        return False
    return bool(value)


def _not(value: Value) -> Value:
    truth = _truth(value)
    return ~truth if _series(truth) else not truth


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _compare(op: str, left: Value, right: Value) -> Value:
    if left is None or right is None:
        other = right if left is None else left
        if _series(other):
            return pd.Series(op == "!=", index=other.index)
        return op == "!="
    if not (_series(left) or _series(right)):
        if isinstance(left, str) != isinstance(right, str) and op not in ("==", "!="):
            raise TypeError(f"cannot compare {type(left).__name__} and {type(right).__name__}")
        return _COMPARE[op](left, right)
    if op not in ("==", "!=") and _is_text(left) != _is_text(right):
        sides = [side for side in (left, right) if not (_series(side) and side.isna().all())]
        if len(sides) == 2:
            raise TypeError("cannot order text against numbers")
    missing = (left.isna() if _series(left) else False) | (
        right.isna() if _series(right) else False
    )
    result = _COMPARE[op](_plain_dtype(left), _plain_dtype(right))
    return result.astype(object).where(~missing, op == "!=").astype(bool)


def _plain_dtype(value: Value) -> Value:
    """Nullable pandas arrays compare to NA; compare their objects instead."""
    if _series(value) and isinstance(value.dtype, pd.api.extensions.ExtensionDtype):
        return value.astype(object)
    return value


def _text_or_missing(value: Value) -> bool:
    if value is None or _is_text(value):
        return True
    return _series(value) and bool(value.isna().all())


def _join(left: Value, right: Value, index: pd.Index) -> Value:
    """Two strings joined; null where either is missing."""
    if not _series(left) and not _series(right):
        return None if left is None or right is None else left + right
    left_s, right_s = _broadcast(left, index), _broadcast(right, index)
    both = left_s.notna() & right_s.notna()
    joined = pd.Series(np.nan, index=index, dtype=object)
    joined[both] = left_s[both].astype(str) + right_s[both].astype(str)
    return joined


def _broadcast(value: Value, index: pd.Index) -> pd.Series:
    if _series(value):
        return value
    return pd.Series([value] * len(index), index=index, dtype=dtype_of(value))


def _choose(condition: Value, yes: Value, no: Value, index: pd.Index) -> Value:
    if not _series(condition):
        return yes if condition else no
    yes_s, no_s = _broadcast(yes, index), _broadcast(no, index)
    if _numeric_like(yes_s) and _numeric_like(no_s):
        return _numeric(yes_s).where(condition, _numeric(no_s))
    return yes_s.astype(object).where(condition, no_s.astype(object))


def _numeric_like(value: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(value.dtype) or bool(value.isna().all())


def _coalesce(first: Value, other: Value) -> Value:
    if not _series(first):
        return other if first is None else first
    if _series(other) and _numeric_like(first) != _numeric_like(other):
        return first.astype(object).where(first.notna(), other.astype(object))
    if _series(other) and _numeric_like(first):
        return _numeric(first).where(first.notna(), _numeric(other))
    return first.where(first.notna(), other)


def _text_function(name: str, value: Value, node: Node) -> Value:
    if value is None:
        return None
    if isinstance(value, str):
        return {"lower": str.lower, "upper": str.upper, "len": len}[name](value)
    if not _series(value) or (not _is_text(value) and not value.isna().all()):
        raise ExpressionError(f"{name}() needs text", node.position)
    text = value.astype(object).where(value.notna(), None)
    if name == "len":
        return text.map(lambda item: np.nan if item is None else float(len(item))).astype("float64")
    method = str.lower if name == "lower" else str.upper
    return text.map(lambda item: None if item is None else method(item))


def _extreme(name: str, args: list[Value], index: pd.Index) -> Value:
    """The least or greatest of the values present (missing ones are skipped)."""
    if not any(_series(arg) for arg in args):
        present = [_numeric(arg) for arg in args if arg is not None]
        if not present:
            return None
        return min(present) if name == "min" else max(present)
    frame = pd.DataFrame(
        {
            str(i): _as_float(_numeric(arg)) if arg is not None else np.nan
            for i, arg in enumerate(args)
        },
        index=index,
    )
    return frame.min(axis=1) if name == "min" else frame.max(axis=1)


def _type_message(node: Node, error: Exception) -> str:
    what = node.op if isinstance(node, (Unary, Binary)) else f"{node.name}()"  # type: ignore[attr-defined]
    return f"cannot apply {what} to these values: {error}"
