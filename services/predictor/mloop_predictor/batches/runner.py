"""One batch job's blocking work, run in a thread: read the input in chunks, score each chunk,
write the inputs and predictions as CSV.

The input streams through `tabular.reader.CsvScan` (pyarrow's streaming CSV reader parsing
ahead in its own thread, every column as text); each chunk of `chunk_rows` rows is typed for
the model (`frames.model_frame`, column-wise), scored with one `Scorer.predict_frame` call and
appended to the output with pyarrow's CSV writer. No Python runs per row (except for models
that predict row by row: forecasting, recommendation). With the scenario's predict workflow,
each chunk goes through it first (`batches.workflow`); the output keeps the input's columns as
they were read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from mloop_common.tabular.errors import CsvRejected, WrongEncoding
from mloop_common.tabular.reader import CsvScan

from mloop_predictor.batches import workflow
from mloop_predictor.batches.frames import (
    BadInput,
    missing_columns,
    model_frame,
    output_batch,
    output_names,
)
from mloop_predictor.domain.transform import PredictTransform

Report = Callable[[int, float], None]
"""Called after every chunk with (rows done, share of the input read)."""


class Stopped(Exception):
    """The service is stopping: the job is left to its lease (another predictor takes it)."""


class FrameScorer(Protocol):
    model_id: Any
    columns: list[tuple[str, str]]
    required: frozenset[str] | None

    def predict_frame(self, frame: pd.DataFrame) -> dict[str, np.ndarray | list]: ...


class CountingReader:
    """A read-only stream that counts the bytes read through it."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.read_bytes += len(data)
        return data

    def readable(self) -> bool:
        return True


@dataclass
class BatchRun:
    """What one job reads, scores with and writes to (see `run`)."""

    open_input: Callable[[], AbstractContextManager[BinaryIO]]
    size: int
    encoding: str
    delimiter: str
    scorer: FrameScorer
    chunk_rows: int
    output: Path
    report: Report
    stop: threading.Event
    transform: PredictTransform | None = None
    """The scenario's predict workflow, applied to each chunk before the model."""

    def run(self) -> int:
        """Score the input into `output`; returns the rows scored. Raises `BadInput` for input
        the model cannot score, `Stopped` when `stop` is set, and whatever `report` raises."""
        with self.open_input() as stream:
            counted = CountingReader(stream)
            try:
                scan = CsvScan(counted, encoding=self.encoding, delimiter=self.delimiter)
                if self.transform is None:
                    self._check_columns(scan.names)
                else:
                    workflow.check_columns(self.transform, scan.names)
                with closing(scan.batches(background=True)) as batches:
                    return self._score(scan.names, batches, counted)
            except CsvRejected as err:
                raise BadInput(f"{err.title}: {err.detail}") from err
            except WrongEncoding as err:
                raise BadInput(f"the input is not valid {self.encoding}: {err}") from err

    def _check_columns(self, names: list[str]) -> None:
        scorer = self.scorer
        lacking = missing_columns(names, scorer.columns, scorer.required)
        if lacking:
            raise BadInput(
                f"the input has no column {', '.join(map(repr, lacking))}; model "
                f"{scorer.model_id} reads {', '.join(repr(n) for n, _ in scorer.columns)}"
            )

    def _score(
        self, names: list[str], batches: Iterator[pa.RecordBatch], counted: CountingReader
    ) -> int:
        rows = 0
        schema: pa.Schema | None = None
        renamed: dict[str, str] = {}
        with self.output.open("wb") as out:
            for chunk in chunks(batches, self.chunk_rows):
                if self.stop.is_set():
                    raise Stopped
                predictions = self._predict(chunk, names, rows)
                if schema is None:
                    renamed = output_names(names, predictions)
                table = output_batch(chunk, names, predictions, renamed)
                if schema is None:
                    schema = table.schema
                elif table.schema != schema:
                    table = table.cast(schema)
                out.write(csv_bytes(table, header=rows == 0))
                rows += chunk.num_rows
                share = min(counted.read_bytes / self.size, 0.99) if self.size else 0.0
                self.report(rows, share)
        if schema is None:
            raise BadInput("the input has no data rows")
        return rows

    def _predict(self, chunk: pa.Table, names: list[str], before: int) -> dict[str, Any]:
        if self.transform is None:
            frame = model_frame(chunk, names, self.scorer.columns, first_row=before + 1)
        else:
            frame = workflow.transformed_frame(
                self.transform, chunk, names, self.scorer.columns, first_row=before + 1
            )
        try:
            return self.scorer.predict_frame(frame)
        except (ValueError, TypeError, KeyError) as err:
            rows = f"{before + 1}-{before + chunk.num_rows}"
            raise BadInput(f"the model cannot score data rows {rows}: {err}") from err


def csv_bytes(table: pa.Table, *, header: bool) -> pa.Buffer:
    """The table as CSV: unquoted, unless some value needs quotes (a delimiter, a quote or a
    line break in it), then with every text value quoted, as pyarrow writes them."""
    for style in ("none", "needed"):
        sink = pa.BufferOutputStream()
        try:
            pacsv.write_csv(
                table, sink, pacsv.WriteOptions(include_header=header, quoting_style=style)
            )
        except pa.ArrowInvalid:
            continue
        return sink.getvalue()
    raise AssertionError("pyarrow writes any table with quoting")


def chunks(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """The batches regrouped into tables of exactly `rows` rows (the last one fewer)."""
    group: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        group.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(group)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            group, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(group)
