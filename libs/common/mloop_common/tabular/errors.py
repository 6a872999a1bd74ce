"""Why a file is refused, in words a user can act on.

Every refusal is a `CsvRejected` built by one of the functions below, so the sentences and the
problem+json `errors` items live in one place. Records are numbered as in the file, the header
being record 1 and blank lines not counting; columns and bytes are numbered from 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class CsvRejected(ValueError):
    """The file is not a usable CSV. The gateway answers 422 with these fields."""

    def __init__(self, title: str, detail: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.title = title
        self.detail = detail
        self.errors = errors

    def __reduce__(self) -> tuple[type[CsvRejected], tuple[str, str, list[dict[str, Any]]]]:
        return CsvRejected, (self.title, self.detail, self.errors)


class WrongEncoding(Exception):
    """The encoding chosen from the first bytes failed later in the file.

    The caller re-runs the same function on a fresh stream of the same file with
    `encoding=self.retry_with`.
    """

    def __init__(self, encoding: str, retry_with: str, offset: int) -> None:
        super().__init__(
            f"byte {offset:,} is not valid {encoding}; read the file again as {retry_with}"
        )
        self.encoding = encoding
        self.retry_with = retry_with
        self.offset = offset

    def __reduce__(self) -> tuple[type[WrongEncoding], tuple[str, str, int]]:
        return WrongEncoding, (self.encoding, self.retry_with, self.offset)


def _item(loc: list[Any], msg: str, type_: str) -> dict[str, Any]:
    return {"loc": ["file", *loc], "msg": msg, "type": f"csv.{type_}"}


def _single(title: str, detail: str, loc: list[Any], type_: str) -> CsvRejected:
    return CsvRejected(title, detail, [_item(loc, detail, type_)])


def _and(items: Sequence[object]) -> str:
    words = [str(item) for item in items]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _fields(count: int) -> str:
    return "1 field" if count == 1 else f"{count} fields"


def empty_file(*, whitespace: bool) -> CsvRejected:
    detail = "The file contains only whitespace." if whitespace else "The file is empty."
    return _single("Empty file", detail, [], "empty_file")


def binary_content(
    *, kind: str | None = None, nul_at: int | None = None, control_share: float = 0.0
) -> CsvRejected:
    title = "Not a text file"
    if kind is not None:
        detail = f"The file is {kind}, not a CSV table; export the data as CSV first."
        return _single(title, detail, [], "binary_content")
    if nul_at is not None:
        detail = (
            f"The file contains a NUL byte at byte {nul_at:,}; "
            "it looks like a binary file, not a CSV table."
        )
        return _single(title, detail, ["byte", nul_at], "binary_content")
    detail = (
        f"{control_share:.0%} of the first bytes are control characters; "
        "it looks like a binary file, not a CSV table."
    )
    return _single(title, detail, [], "binary_content")


def unsupported_encoding(name: str) -> CsvRejected:
    detail = f"The file is encoded as {name}; save it as UTF-8 and upload it again."
    return _single("Unsupported encoding", detail, [], "unsupported_encoding")


def not_a_table(first: str) -> CsvRejected:
    kind = "JSON" if first in "{[" else "XML or HTML"
    detail = f'The file starts with "{first}", which looks like {kind}, not a CSV table.'
    return _single("Not a CSV table", detail, ["header"], "not_a_table")


def header_not_found(limit: int) -> CsvRejected:
    detail = (
        f"The first record does not end within the first {limit >> 20} MiB; "
        "a quote is probably never closed."
    )
    return _single("Header not found", detail, ["header"], "header_not_found")


def too_many_columns(count: int, limit: int) -> CsvRejected:
    detail = f"The header has {count:,} columns; at most {limit:,} are allowed."
    return _single("Too many columns", detail, ["header"], "too_many_columns")


def empty_column_names(positions: Sequence[int]) -> CsvRejected:
    noun = "Column" if len(positions) == 1 else "Columns"
    verb = "has" if len(positions) == 1 else "have"
    detail = f"{noun} {_and(positions)} {verb} no name in the header."
    errors = [
        _item(["header", pos], f"Column {pos} has no name.", "empty_column_name")
        for pos in positions
    ]
    return CsvRejected("Empty column names", detail, errors)


_DUPLICATE = "duplicate_column_name"


def duplicate_column_names(positions: dict[str, list[int]]) -> CsvRejected:
    """`positions` maps each repeated name to the columns using it, in order."""
    uses = [f'"{name}" is used by columns {_and(cols)}' for name, cols in positions.items()]
    detail = f"Column names must be unique: {_and(uses)}."
    errors = [
        _item(["header", pos], f'"{name}" is also the name of column {cols[0]}.', _DUPLICATE)
        for name, cols in positions.items()
        for pos in cols[1:]
    ]
    return CsvRejected("Duplicate column names", detail, errors)


def no_data_rows() -> CsvRejected:
    return _single("No data rows", "The file has a header but no data rows.", [], "no_data_rows")


def wrong_width(bad: Sequence[tuple[int, int]], total: int, expected: int) -> CsvRejected:
    """`bad` holds the first (record, fields) pairs, `total` counts them all."""
    records = [record for record, _ in bad]
    fields = [width for _, width in bad]
    header = f"the header has {expected:,}"
    if total == 1:
        detail = f"Record {records[0]} has {_fields(fields[0])}; {header}."
    elif total == len(bad):
        detail = f"Records {_and(records)} have {_and(fields)} fields; {header}."
    else:
        detail = (
            f"{total:,} records have the wrong number of fields; {header}. "
            f"The first {len(bad)} are records {_and(records)}, with {_and(fields)} fields."
        )
    errors = [
        _item(["record", record], f"Record {record} has {_fields(width)}; {header}.", "wrong_width")
        for record, width in bad
    ]
    return CsvRejected("Rows of the wrong width", detail, errors)


def unterminated_quote(record: int) -> CsvRejected:
    detail = f"Record {record} opens a quoted field that is not closed before the end of the file."
    return _single("Unterminated quote", detail, ["record", record], "unterminated_quote")


def record_too_long(record: int, limit: int) -> CsvRejected:
    detail = (
        f"Record {record} is longer than {limit >> 20} MiB, the longest record this reader "
        "accepts; a quote may be left open."
    )
    return _single("Record too long", detail, ["record", record], "record_too_long")
