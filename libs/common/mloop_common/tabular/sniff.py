"""The shape of a CSV from its first records: the delimiter, the header, and early refusals.

Everything here works on the decoded head of the file, so that a file with a bad header, or no
table at all, is refused before the rest of the upload is read.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass

from . import errors
from .report import CsvLimits

DELIMITERS = (",", ";", "\t", "|")
_SNIFFED_RECORDS = 200
_MARKUP = "{[<"


@dataclass(frozen=True)
class Layout:
    delimiter: str
    names: tuple[str, ...]
    """Column names, stripped of surrounding whitespace and byte-order marks."""
    header_chars: int
    """Characters of the head taken by the header record and any blank lines before it."""


@dataclass(frozen=True)
class _Records:
    widths: list[int]
    """Field counts of the first non-blank records, the header first."""
    header: list[str]
    header_end: int


def sniff(text: str, *, complete: bool, delimiter: str | None, limits: CsvLimits) -> Layout | None:
    """The layout of a file whose head is `text`, or None when the head is too short to tell.

    `complete` says that `text` is the whole file.
    """
    start = len(text) - len(text.lstrip())
    if start == len(text):
        if complete:
            raise errors.empty_file(whitespace=bool(text))
        return None
    if text[start] in _MARKUP:
        raise errors.not_a_table(text[start])
    if delimiter is None:
        delimiter, records = _choose_delimiter(text, complete)
    else:
        records = _records(text, delimiter, complete)
    if records is None:
        return None
    if complete and records.header_end == len(text) and _unterminated(text, delimiter):
        raise errors.unterminated_quote(1)
    names = tuple(_clean(name) for name in records.header)
    _check_names(names, limits)
    if complete and len(records.widths) == 1:
        raise errors.no_data_rows()
    return Layout(delimiter, names, records.header_end)


def _choose_delimiter(text: str, complete: bool) -> tuple[str, _Records | None]:
    """The candidate whose records have the header's field count most often, the header having
    more than one field; ties go to the wider header, then to the candidate listed first."""
    best: tuple[float, int, int] | None = None
    chosen = DELIMITERS[0], _records(text, DELIMITERS[0], complete)
    for rank, candidate in enumerate(DELIMITERS):
        records = chosen[1] if rank == 0 else _records(text, candidate, complete)
        if records is None or records.widths[0] < 2:
            continue
        header, *rest = records.widths
        share = sum(width == header for width in rest) / len(rest) if rest else 1.0
        score = (share, header, -rank)
        if best is None or score > best:
            best, chosen = score, (candidate, records)
    return chosen


def _records(text: str, delimiter: str, complete: bool) -> _Records | None:
    """The first records of `text`, or None when the header record may be cut short."""
    stream = io.StringIO(text, newline="")
    reader = csv.reader(stream, delimiter=delimiter, strict=False)
    rows: list[tuple[list[str], int]] = []
    try:
        for row in reader:
            if row:
                rows.append((row, stream.tell()))
                if len(rows) == _SNIFFED_RECORDS:
                    break
    except csv.Error:
        pass  # a field over the csv module's size limit: sniff what came before it
    if not complete and rows and rows[-1][1] == len(text):
        rows.pop()  # may be cut short by the end of the head
    if not rows:
        return None
    return _Records([len(row) for row, _ in rows], rows[0][0], rows[0][1])


def _unterminated(text: str, delimiter: str) -> bool:
    """Whether the first record of `text` ends inside a quoted field."""
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True):
            if row:
                return False
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def _clean(name: str) -> str:
    return name.strip().strip("\ufeff").strip()


def _check_names(names: tuple[str, ...], limits: CsvLimits) -> None:
    if len(names) > limits.max_columns:
        raise errors.too_many_columns(len(names), limits.max_columns)
    empty = [position for position, name in enumerate(names, 1) if not name]
    if empty:
        raise errors.empty_column_names(empty)
    positions: defaultdict[str, list[int]] = defaultdict(list)
    for position, name in enumerate(names, 1):
        positions[name].append(position)
    repeated = {name: cols for name, cols in positions.items() if len(cols) > 1}
    if repeated:
        raise errors.duplicate_column_names(repeated)
