"""Checking request records against a model's input signature (pure: no I/O, no model).

A record is a JSON object. Every column of the signature must be present as a key (`null` is an
explicit missing value, which every model takes: numbers stay NaN for boosted trees or are
imputed, a missing category is a category of its own); keys the model does not read are
ignored. Per column type:

- numeric: a JSON number, or a string holding one in decimal or exponent notation (" 2.5",
  "1e3"); not a boolean, not "1,000", not "nan"/"inf";
- boolean: true/false, 0/1, or one of the words true/false, t/f, yes/no, y/n, "1"/"0";
- categorical: a string, number or boolean (numbers read as their text, 7.0 as "7"). A
  category never seen in training is not an error: the encoders have a code for it;
- text: a string (numbers are read as their text);
- datetime: a string pandas can read as a date/time (ISO 8601 is the safe choice).

Anything else (an array, an object, a string that cannot be read as the type) is refused with
the record's position, the field and the reason. Task-specific rules (forecasting's series and
history, recommendation's user) live with the tasks in `scoring`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pandas as pd
from mloop_common.ml.live import json_kind

_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")
_FLAG_WORDS = frozenset({"true", "t", "yes", "y", "1", "1.0", "false", "f", "no", "n", "0", "0.0"})


def check_numeric(value: Any) -> str | None:
    kind = type(value)
    if kind is float or kind is int or value is None:
        return None
    if kind is str:
        if _NUMBER.fullmatch(value):
            return None
        return f"{_short(value)} is not a number"
    return f"expected a number, got {json_kind(value)}"


def number(value: Any) -> float:
    """The float of a value `check_numeric` accepted (NaN for null)."""
    return float("nan") if value is None else float(value)


def check_boolean(value: Any) -> str | None:
    kind = type(value)
    if kind is bool or value is None:
        return None
    if kind is int or kind is float:
        return None if value in (0, 1) else f"{value!r} is not a boolean (0 or 1)"
    if kind is str:
        if value.strip().lower() in _FLAG_WORDS:
            return None
        return f"{_short(value)} is not a boolean (true/false, yes/no, 1/0)"
    return f"expected a boolean, got {json_kind(value)}"


def check_categorical(value: Any) -> str | None:
    if value is None or isinstance(value, (str, int, float)):  # bool is an int
        return None
    return f"expected a category (string or number), got {json_kind(value)}"


def check_text(value: Any) -> str | None:
    if value is None or (isinstance(value, (str, int, float)) and not isinstance(value, bool)):
        return None
    return f"expected text, got {json_kind(value)}"


def check_datetime(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return f"expected a date/time string (ISO 8601), got {json_kind(value)}"
    parsed = pd.to_datetime(pd.Series([value], dtype=object), errors="coerce", utc=True)
    if parsed.isna().iloc[0]:
        return f"{_short(value)} cannot be read as a date/time"
    return None


CHECKS: dict[str, Callable[[Any], str | None]] = {
    "numeric": check_numeric,
    "boolean": check_boolean,
    "categorical": check_categorical,
    "text": check_text,
    "datetime": check_datetime,
}


def _short(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:37] + "...")


def error(record: int, field: str | None, message: str) -> dict[str, Any]:
    return {"record": record, "field": field, "message": message}


def check_records(
    records: Any, columns: list[tuple[str, str]], *, required: frozenset[str] | None = None
) -> list[dict[str, Any]]:
    """Every fault of `records` against `columns` ((name, type) pairs): a record that is not an
    object, a required column that is absent (all columns unless `required` says which), a
    value its column's type cannot use. [] when all is well."""
    errors: list[dict[str, Any]] = []
    checks = [(name, CHECKS.get(kind, check_categorical)) for name, kind in columns]
    for position, record in enumerate(records):
        if type(record) is not dict:
            errors.append(
                error(position, None, f"a record must be an object, not {json_kind(record)}")
            )
            continue
        for name, check in checks:
            if name in record:
                problem = check(record[name])
                if problem is not None:
                    errors.append(error(position, name, problem))
            elif required is None or name in required:
                errors.append(error(position, name, "missing column"))
    return errors
