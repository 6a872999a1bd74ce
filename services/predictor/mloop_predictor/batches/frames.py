"""From CSV chunks to model inputs and back (pure: arrow and pandas, no I/O).

A batch reads its input as strings (`tabular.reader.CsvScan` gives every column as text) and
types each column the model reads by the model's signature, with the rules the online path
applies to one JSON record (`mloop_predictor.signature`), column-wise:

- missing: the usual NA tokens of the platform's CSV reading (empty, NA, null, NaN, ...);
- numeric: a decimal or exponent number (surrounding spaces allowed) becomes float64;
- boolean: true/false, t/f, yes/no, y/n, 1/0 in any case;
- datetime: a string pandas can read as a date/time (given to the model as the string);
- categorical, text: the string itself.

A value its column cannot use fails the job with the rows and values at fault (`BadInput`).
The output is the input chunk's columns exactly as read, then the prediction columns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from mloop_common.ml.data import jsonable
from mloop_common.tabular.values import missing_mask

SHOWN = 5
"""Faulty values named in a failure, at most."""
NUMBER = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"
_NUMBER = re.compile(NUMBER)
TRUE_WORDS = pa.array(["true", "t", "yes", "y", "1", "1.0"])
FALSE_WORDS = pa.array(["false", "f", "no", "n", "0", "0.0"])


class BadInput(ValueError):
    """Input the model cannot score; the message is the precise reason shown to users."""


def missing_columns(
    names: Sequence[str], columns: Sequence[tuple[str, str]], required: Iterable[str] | None
) -> list[str]:
    """Columns the model needs that the file lacks (all its columns unless `required` says)."""
    present = set(names)
    needed = [name for name, _ in columns] if required is None else list(required)
    return [name for name in needed if name not in present]


def model_frame(
    chunk: pa.RecordBatch | pa.Table,
    names: Sequence[str],
    columns: Sequence[tuple[str, str]],
    *,
    first_row: int,
) -> pd.DataFrame:
    """The model's columns of `chunk` (whose columns are `names`, all strings), typed as the
    signature says; `first_row` is the 1-based data row number of the chunk's first row."""
    position = {name: i for i, name in enumerate(names)}
    typed: dict[str, Any] = {}
    for name, kind in columns:
        if name in position:
            values = chunk.column(position[name])
            if isinstance(values, pa.ChunkedArray):
                values = values.combine_chunks()
            typed[name] = convert(values, kind, name=name, first_row=first_row)
    return pd.DataFrame(typed, index=pd.RangeIndex(chunk.num_rows))


def convert(values: pa.Array, kind: str, *, name: str, first_row: int) -> Any:
    """One column of strings as the model takes it (see the module docstring)."""
    missing = missing_mask(values)
    if kind == "numeric":
        return _numbers(values, missing, name, first_row)
    if kind == "boolean":
        return _flags(values, missing, name, first_row)
    strings = pc.if_else(missing, pa.scalar(None, pa.string()), values)
    texts = strings.to_numpy(zero_copy_only=False)  # object: str or None
    if kind == "datetime":
        _check_datetimes(texts, name, first_row)
    return texts


def _numbers(values: pa.Array, missing: pa.BooleanArray, name: str, first_row: int) -> np.ndarray:
    present = pc.if_else(missing, pa.scalar(None, pa.string()), values)
    parsed = None
    for candidate in (present, pc.utf8_trim_whitespace(present)):
        try:
            parsed = pc.cast(candidate, pa.float64())
            break
        except pa.ArrowInvalid:
            continue
    if parsed is None:
        return _numbers_slowly(present, name, first_row)
    numbers = parsed.to_numpy(zero_copy_only=False)  # NaN where missing
    odd = ~np.isfinite(numbers) & ~missing.to_numpy(zero_copy_only=False)
    if odd.any():  # "inf", "Infinity": arrow reads them, the platform's rules do not
        texts = present.to_numpy(zero_copy_only=False)
        bad = [i for i in np.flatnonzero(odd) if not _NUMBER.match(texts[i])]
        if bad:
            raise _bad(name, "not a number", [(i, texts[i]) for i in bad], first_row)
    return numbers


def _numbers_slowly(present: pa.Array, name: str, first_row: int) -> np.ndarray:
    """Values arrow will not cast: refused unless each matches the platform's number rule."""
    matches = pc.match_substring_regex(present, NUMBER).to_numpy(zero_copy_only=False)
    texts = present.to_numpy(zero_copy_only=False)
    bad = [i for i, (text, ok) in enumerate(zip(texts, matches, strict=True)) if text and not ok]
    if bad:
        raise _bad(name, "not a number", [(i, texts[i]) for i in bad], first_row)
    return np.array([np.nan if text is None else float(text) for text in texts], dtype=float)


def _flags(
    values: pa.Array, missing: pa.BooleanArray, name: str, first_row: int
) -> pd.arrays.BooleanArray:
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    true = pc.is_in(lowered, value_set=TRUE_WORDS).to_numpy(zero_copy_only=False)
    false = pc.is_in(lowered, value_set=FALSE_WORDS).to_numpy(zero_copy_only=False)
    absent = missing.to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(~(true | false | absent))
    if len(bad):
        texts = values.take(pa.array(bad[:SHOWN])).to_pylist()
        raise _bad(
            name,
            "not a boolean (true/false, yes/no, 1/0)",
            list(zip(bad, texts, strict=False)),
            first_row,
            total=len(bad),
        )
    return pd.arrays.BooleanArray(true, absent)


def _check_datetimes(texts: np.ndarray, name: str, first_row: int) -> None:
    given = pd.Series(texts, dtype=object)
    parsed = pd.to_datetime(given, errors="coerce", utc=True, format="mixed")
    bad = np.flatnonzero(parsed.isna().to_numpy() & given.notna().to_numpy())
    if len(bad):
        pairs = [(i, texts[i]) for i in bad[:SHOWN]]
        raise _bad(name, "not a date/time", pairs, first_row, total=len(bad))


def _bad(
    name: str,
    what: str,
    faults: Sequence[tuple[int, Any]],
    first_row: int,
    *,
    total: int | None = None,
) -> BadInput:
    shown = ", ".join(
        f"data row {first_row + int(i)}: {_short(str(text))}" for i, text in faults[:SHOWN]
    )
    count = total if total is not None else len(faults)
    more = f" and {count - SHOWN} more" if count > SHOWN else ""
    return BadInput(f"column {name!r}: {count} value(s) {what} ({shown}{more})")


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


# -- output ------------------------------------------------------------------------------------


def output_names(inputs: Sequence[str], outputs: Iterable[str]) -> dict[str, str]:
    """Prediction column -> its name in the output file: as given, unless the input has a
    column of that name already (then `predicted_<name>`, repeated until free)."""
    taken = set(inputs)
    named: dict[str, str] = {}
    for name in outputs:
        chosen = name
        while chosen in taken:
            chosen = f"predicted_{chosen}"
        taken.add(chosen)
        named[name] = chosen
    return named


def output_column(values: np.ndarray | list) -> pa.Array:
    """A prediction column for the CSV writer: numbers, booleans and labels as themselves (NaN
    as empty), per-row lists (forecasts, recommendations) as JSON."""
    if isinstance(values, list) or (
        isinstance(values, np.ndarray) and values.dtype == object and _has_lists(values)
    ):
        return pa.array(
            [None if v is None else json.dumps(jsonable(v), ensure_ascii=False) for v in values],
            pa.string(),
        )
    array = np.asarray(values)
    if array.dtype == object:
        try:
            return pa.array(array, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed kinds: write their text
            return pa.array([None if v is None else str(jsonable(v)) for v in array], pa.string())
    return pa.array(array, from_pandas=True)


def _has_lists(values: np.ndarray) -> bool:
    return any(isinstance(v, (list, tuple, dict, np.ndarray)) for v in values[:1])


def output_batch(
    chunk: pa.RecordBatch | pa.Table,
    names: Sequence[str],
    predictions: dict[str, np.ndarray | list],
    renamed: dict[str, str],
) -> pa.Table:
    """The chunk's columns under their file names, then the prediction columns."""
    arrays = [chunk.column(i) for i in range(len(names))]
    arrays += [output_column(values) for values in predictions.values()]
    return pa.Table.from_arrays(arrays, names=[*names, *(renamed[n] for n in predictions)])
