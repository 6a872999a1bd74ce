"""`read_frame`: a whole file as a pandas DataFrame, typed as `inspect_csv` would type it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .columns import ColumnScan
from .distinct import bounds
from .reader import CsvScan
from .report import ColumnType
from .values import missing_mask, parse_booleans, parse_datetimes, parse_numbers


def read_frame(
    stream: BinaryIO,
    *,
    encoding: str,
    delimiter: str,
    columns: list[str] | None = None,
    types: Mapping[str, ColumnType] | None = None,
) -> pd.DataFrame:
    """The file's table, or only `columns` in that order.

    `types` (from the version's inspection, say) skips inferring the types of the columns it
    names; the others are inferred as `inspect_csv` would.

    Numeric columns are int64 (no missing value and only integers) or float64 with NaN for
    missing; boolean columns use pandas' nullable "boolean" dtype; datetime columns are
    datetime64 with NaT; categorical and text columns are strings with NaN for missing.
    """
    scan = CsvScan(stream, encoding=encoding, delimiter=delimiter)
    positions = _positions(scan.names, columns)
    exact_limit, sketch_size = bounds(len(positions))
    scans = [
        ColumnScan(scan.names[p], exact_limit=exact_limit, sketch_size=sketch_size)
        for p in positions
    ]
    if not positions:  # pyarrow reads every column when asked for none
        for _ in scan.batches(columns=[0], background=True):
            pass
        return pd.DataFrame(index=pd.RangeIndex(scan.rows))
    known = types or {}
    batches = []
    for batch in scan.batches(columns=positions, background=True):
        for column, values in zip(scans, batch.columns, strict=True):
            if column.name not in known:
                column.add(values)
        batches.append(batch)
    table = pa.Table.from_batches(batches)
    return pd.DataFrame(
        {
            column.name: _convert(
                table.column(i).combine_chunks(), known.get(column.name) or column.type
            )
            for i, column in enumerate(scans)
        }
    )


def _positions(names: Sequence[str], wanted: list[str] | None) -> list[int]:
    if wanted is None:
        return list(range(len(names)))
    index = {name: position for position, name in enumerate(names)}
    unknown = [name for name in wanted if name not in index]
    if unknown:
        raise ValueError(f"no column named {', '.join(map(repr, unknown))} in the file")
    return [index[name] for name in wanted]


def _convert(values: pa.Array, kind: ColumnType) -> object:
    """A column for the DataFrame constructor: a numpy array, a pandas array or a Series."""
    missing = missing_mask(values)
    present = pc.invert(missing)
    if kind == "numeric":
        parsed = parse_numbers(values.filter(present))
        numbers = np.full(len(values), np.nan)
        if parsed is not None:
            if parsed.type == pa.int64() and not missing.true_count:
                return parsed.to_numpy()
            numbers[present.to_numpy(zero_copy_only=False)] = parsed.to_numpy()
        return numbers
    if kind == "boolean":
        truth = parse_booleans(values.filter(present))
        flags = np.zeros(len(values), dtype=bool)
        mask = missing.to_numpy(zero_copy_only=False)
        if truth is not None:
            flags[~mask] = truth.to_numpy(zero_copy_only=False)
        return pd.arrays.BooleanArray(flags, mask)
    if kind == "datetime":
        parsed = parse_datetimes(values.filter(present))
        times = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[us]")
        if parsed is not None:
            times[present.to_numpy(zero_copy_only=False)] = parsed.cast(pa.int64()).to_numpy()
        return times
    return pc.if_else(missing, pa.scalar(None, pa.string()), values).to_pandas()
