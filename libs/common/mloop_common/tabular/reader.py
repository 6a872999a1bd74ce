"""One streaming pass over an upload: its layout first, then its data records as arrow batches.

`CsvScan` reads the head of the stream, settles encoding, delimiter and header (refusing what it
can from the head alone), then lets pyarrow's streaming reader parse the rest, every column as a
string. Rows of the wrong width are skipped and counted; when the batches run out, the scan
refuses the file for them, for a quote left open at the end, or for having no data rows.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from functools import partial
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv

from . import errors
from .prefetch import prefetch
from .report import DEFAULT_LIMITS, CsvLimits
from .sniff import sniff
from .source import AHEAD, EOF_MARKER, MAX_HEAD_BYTES, Utf8Source

BLOCK_BYTES = 1 << 20
"""pyarrow's block: the longest record it can read, and the unit of work per batch."""
GROUP_BYTES = 8 << 20


class CsvScan:
    def __init__(
        self,
        stream: BinaryIO,
        *,
        encoding: str | None = None,
        delimiter: str | None = None,
        limits: CsvLimits = DEFAULT_LIMITS,
        ahead: int = AHEAD,
    ) -> None:
        self._source = Utf8Source(stream, encoding=encoding, ahead=ahead)
        while True:
            text = self._source.head_text()
            layout = sniff(text, complete=self._source.complete, delimiter=delimiter, limits=limits)
            if layout is not None:
                break
            if not self._source.extend_head():
                raise errors.header_not_found(MAX_HEAD_BYTES)
        self.encoding = self._source.encoding
        self.delimiter = layout.delimiter
        self.names = list(layout.names)
        self.rows = 0
        self.bad_rows: list[tuple[int, int]] = []
        self.bad_total = 0
        self._max_bad = limits.max_bad_rows_reported
        self._closed = False
        self._open_quote_at: int | None = None
        # The marker record has one field more than the header, so it is never a data row.
        marker = "\n" + EOF_MARKER + layout.delimiter * len(self.names)
        header_bytes = len(text[: layout.header_chars].encode("utf-8"))
        self._source.start(skip=header_bytes, marker=marker)

    def batches(
        self,
        *,
        columns: Sequence[int] | None = None,
        background: bool = False,
        min_rows: int = 0,
    ) -> Generator[pa.RecordBatch, None, None]:
        """The data records, the columns named "c0", "c1", ... by position (only `columns`
        when given). With `background`, pyarrow parses ahead in a worker thread. With
        `min_rows`, consecutive batches are joined up to that many rows (or `GROUP_BYTES`), so
        that per-batch costs are paid on enough rows even when records are wide.

        Close the iterator (or exhaust it) to stop reading.
        """
        batches = prefetch(partial(self._read, columns)) if background else self._read(columns)
        try:
            yield from _grouped(batches, min_rows) if min_rows else batches
        finally:
            self._source.abandon()  # wakes pyarrow's reads, so that the threads can end
            batches.close()

    def _read(self, columns: Sequence[int] | None) -> Generator[pa.RecordBatch, None, None]:
        names = [f"c{position}" for position in range(len(self.names))]
        reader_options = pacsv.ReadOptions(
            use_threads=False, block_size=BLOCK_BYTES, column_names=names
        )
        parse_options = pacsv.ParseOptions(
            delimiter=self.delimiter,
            newlines_in_values=True,
            invalid_row_handler=self._on_invalid_row,
        )
        convert_options = pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            include_columns=[names[p] for p in columns] if columns is not None else None,
            check_utf8=False,  # the source hands over validated UTF-8
        )
        try:
            reader = pacsv.open_csv(
                self._source,
                read_options=reader_options,
                parse_options=parse_options,
                convert_options=convert_options,
            )
            for batch in reader:
                self._source.release()
                self.rows += batch.num_rows
                yield batch
        except pa.ArrowInvalid as exc:
            if "straddl" in str(exc):
                raise errors.record_too_long(self._last_record + 1, BLOCK_BYTES) from None
            raise
        finally:
            self._source.abandon()  # before the reader goes: it may be waiting on the source
        self._finish()

    @property
    def _last_record(self) -> int:
        return 1 + self.rows + self.bad_total

    def _on_invalid_row(self, row: pacsv.InvalidRow) -> str:
        if row.text.startswith(EOF_MARKER):
            self._closed = True
        elif EOF_MARKER in row.text:
            self._open_quote_at = row.number + 1
        else:
            self.bad_total += 1
            if len(self.bad_rows) < self._max_bad:
                # pyarrow numbers the first data record 1; the header is record 1 here.
                self.bad_rows.append((row.number + 1, row.actual_columns))
        return "skip"

    def _finish(self) -> None:
        if self.bad_total:
            raise errors.wrong_width(self.bad_rows, self.bad_total, len(self.names))
        if not self._closed:
            raise errors.unterminated_quote(self._open_quote_at or self._last_record)
        if not self.rows:
            raise errors.no_data_rows()


def _grouped(
    batches: Iterator[pa.RecordBatch], min_rows: int
) -> Generator[pa.RecordBatch, None, None]:
    group: list[pa.RecordBatch] = []
    rows = size = 0
    for batch in batches:
        group.append(batch)
        rows += batch.num_rows
        size += batch.nbytes
        if rows >= min_rows or size >= GROUP_BYTES:
            yield group[0] if len(group) == 1 else pa.concat_batches(group)
            group, rows, size = [], 0, 0
    if group:
        yield pa.concat_batches(group)
