"""`inspect_csv`: is an upload a usable table, and what are its columns?"""

from __future__ import annotations

from contextlib import closing
from typing import BinaryIO

import pyarrow as pa

from .columns import ColumnScan
from .distinct import bounds
from .reader import CsvScan
from .report import DEFAULT_LIMITS, CsvLimits, CsvReport

MIN_ROWS = 16_384
"""Rows per analysis step, below which per-call overheads dominate (wide files)."""


def inspect_csv(
    stream: BinaryIO, *, limits: CsvLimits = DEFAULT_LIMITS, encoding: str | None = None
) -> CsvReport:
    """Read `stream` once, in bounded memory, and describe its table or refuse it.

    Raises `CsvRejected` for a file that is not a usable CSV (from its first bytes when the
    problem shows there) and `WrongEncoding` when the encoding detected from the first bytes
    fails later, in which case the caller reads the file again with `encoding=retry_with`.
    """
    scan = CsvScan(stream, encoding=encoding, limits=limits)
    exact_limit, sketch_size = bounds(len(scan.names))
    columns = [
        ColumnScan(name, exact_limit=exact_limit, sketch_size=sketch_size) for name in scan.names
    ]
    try:
        with closing(scan.batches(background=True, min_rows=MIN_ROWS)) as batches:
            for batch in batches:
                if scan.bad_total:
                    continue  # the file will be refused at the end; only count what is wrong
                for column, values in zip(columns, batch.columns, strict=True):
                    column.add(values)
    finally:
        # Hand the blocks pyarrow's allocator keeps cached back to the OS (~40 MB per upload).
        pa.default_memory_pool().release_unused()
    return CsvReport(
        encoding=scan.encoding,
        delimiter=scan.delimiter,
        rows=scan.rows,
        columns=tuple(column.summary() for column in columns),
    )
