"""A batch chunk through the scenario's predict workflow (pure: arrow and pandas, no I/O).

The chunk's columns arrive as text. Before the workflow runs they are typed column-wise: a
column the model reads by its signature type (`frames.convert`, with its precise refusals),
any other column as numbers when every present value is a number, as text otherwise (missing
values by the platform's NA tokens). The workflow's output columns the model reads then go back
to text and through `frames.model_frame`, so they are typed and checked exactly as a file that
held them would be (the way a train workflow's prepared dataset reached its model: through a
CSV).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from mloop_common.tabular.values import missing_mask
from mloop_common.workflows.recipe import RecipeError

from mloop_predictor.batches.frames import NUMBER, BadInput, convert, model_frame
from mloop_predictor.domain.transform import PredictTransform, TransformBroken


def check_columns(transform: PredictTransform, names: Sequence[str]) -> None:
    """BadInput naming the columns the workflow reads that the file lacks."""
    lacking = transform.missing(names)
    if lacking:
        raise BadInput(
            "the input has no column "
            + ", ".join(
                f"{item.column!r} (read by step {item.step!r} of the predict workflow)"
                for item in lacking
            )
        )


def transformed_frame(
    transform: PredictTransform,
    chunk: pa.RecordBatch | pa.Table,
    names: Sequence[str],
    columns: Sequence[tuple[str, str]],
    *,
    first_row: int,
) -> pd.DataFrame:
    """The model's frame of `chunk` after the workflow; BadInput with the data rows at fault."""
    rows = f"{first_row}-{first_row + chunk.num_rows - 1}"
    raw = typed_frame(chunk, names, dict(columns), first_row=first_row)
    try:
        out = transform.frame(raw)
    except (RecipeError, TransformBroken) as error:
        raise BadInput(f"the predict workflow cannot transform data rows {rows}: {error}") from None
    lacking = [name for name, _ in columns if name not in out.columns]
    if lacking:
        raise BadInput(
            f"after the predict workflow the data has no column {', '.join(map(repr, lacking))}"
            f" that the model reads (data rows {rows})"
        )
    wanted = [name for name, _ in columns]
    table = pa.Table.from_arrays([texts(out[name]) for name in wanted], names=wanted)
    return model_frame(table, wanted, columns, first_row=first_row)


def typed_frame(
    chunk: pa.RecordBatch | pa.Table,
    names: Sequence[str],
    kinds: dict[str, str],
    *,
    first_row: int,
) -> pd.DataFrame:
    typed: dict[str, Any] = {}
    for position, name in enumerate(names):
        values = chunk.column(position)
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        kind = kinds.get(name)
        if kind is not None:
            typed[name] = convert(values, kind, name=name, first_row=first_row)
        else:
            typed[name] = inferred(values)
    return pd.DataFrame(typed, index=pd.RangeIndex(chunk.num_rows))


def inferred(values: pa.Array) -> Any:
    """Numbers (NaN for missing) when every present value is one, else text (None missing)."""
    missing = missing_mask(values)
    present = pc.if_else(missing, pa.scalar(None, pa.string()), values)
    numeric = pc.all(pc.match_substring_regex(present, NUMBER)).as_py()
    if numeric is not False:  # None: every value is missing
        trimmed = pc.utf8_trim_whitespace(present)
        return pc.cast(trimmed, pa.float64()).to_numpy(zero_copy_only=False)
    return present.to_numpy(zero_copy_only=False)


def texts(series: pd.Series) -> pa.Array:
    """A column as text, the way a CSV would hold it (None for missing)."""
    try:
        array = pa.array(series, from_pandas=True)
        if pa.types.is_floating(array.type):
            array = pc.if_else(pc.is_finite(array), array, pa.scalar(None, array.type))
        return pc.cast(array, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.array(
            [None if _missing(value) else str(value) for value in series.tolist()], pa.string()
        )


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and np.isnan(value)
