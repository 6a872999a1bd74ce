"""`preview_csv`: the header and the first rows of a file, reading no further than needed."""

from __future__ import annotations

from contextlib import closing
from typing import BinaryIO

from .reader import CsvScan
from .values import NA_TOKENS

_MISSING = frozenset(NA_TOKENS)


def preview_csv(
    stream: BinaryIO, *, encoding: str, delimiter: str, rows: int
) -> tuple[list[str], list[list[str | None]]]:
    """The column names and the first `rows` data rows, values as strings, None when missing."""
    scan = CsvScan(stream, encoding=encoding, delimiter=delimiter, ahead=2)
    taken: list[list[str | None]] = []
    if rows <= 0:
        return scan.names, taken
    with closing(scan.batches()) as batches:
        for batch in batches:
            head = batch.slice(0, rows - len(taken))
            columns = [
                [None if value in _MISSING else value for value in column.to_pylist()]
                for column in head.columns
            ]
            taken.extend(list(row) for row in zip(*columns, strict=True))
            if len(taken) >= rows:
                break
    return scan.names, taken
