"""`profile_csv`: per-column statistics of a whole file, in one streaming pass.

A column's type is only known at the end of the file, so each column keeps the statistics of
every type it may still turn out to be (numbers while it reads as numeric, times while it reads
as datetime, string counts always) and reports those of its final type. Quantiles and histograms
of numbers and times come from a bounded uniform sample: `"approximate": true` says so.
"""

from __future__ import annotations

import math
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .arrow import as_numpy, booleans, flags
from .columns import ColumnScan, Observed
from .distinct import bounds
from .inspection import MIN_ROWS
from .reader import CsvScan
from .sketches import Moments, Reservoir, TopValues, histogram
from .values import missing_mask

TOP_VALUES = 20
SAMPLE_BUDGET = 2_000_000
"""Sampled values kept over all the columns of a file (16 MB)."""
TOP_BUDGET = 200_000
"""Counted distinct strings kept over all the columns of a file."""
_QUANTILES = {"p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def profile_csv(stream: BinaryIO, *, encoding: str, delimiter: str, bins: int = 20) -> dict:
    """Statistics of every column, as a JSON-serialisable dict `{"rows", "columns"}`."""
    if bins < 1:
        raise ValueError("bins must be at least 1")
    scan = CsvScan(stream, encoding=encoding, delimiter=delimiter)
    width = len(scan.names)
    exact_limit, sketch_size = bounds(width)
    sample_size = max(1_000, min(20_000, SAMPLE_BUDGET // width))
    capacity = max(100, min(10_000, TOP_BUDGET // width))
    columns = [
        _ColumnProfile(
            ColumnScan(name, exact_limit=exact_limit, sketch_size=sketch_size),
            sample_size=sample_size,
            capacity=capacity,
        )
        for name in scan.names
    ]
    with closing(scan.batches(background=True, min_rows=MIN_ROWS)) as batches:
        for batch in batches:
            for column, values in zip(columns, batch.columns, strict=True):
                column.add(values)
    return {"rows": scan.rows, "columns": [column.result(bins) for column in columns]}


class _ColumnProfile:
    def __init__(self, scan: ColumnScan, *, sample_size: int, capacity: int) -> None:
        self.scan = scan
        self._sample_size = sample_size
        self._numbers = Moments()
        self._number_sample: Reservoir | None = None
        self._integers = True
        self._times = Moments()
        self._time_sample: Reservoir | None = None
        self._top = TopValues(capacity)
        self._lengths: dict[int, int] = {}
        self._tokens = 0
        self._strings_partial = False

    def add(self, values: pa.Array) -> None:
        seen = self.scan.add(values)
        if seen.numbers is not None:
            # Counting strings too would cost a hash table per batch for numbers; should the
            # column stop being numeric later, its string statistics are marked approximate.
            self._add_numbers(seen.numbers)
            self._strings_partial = True
            return
        uniques, counts = _tally(seen)
        if seen.times is not None:
            self._add_times(np.repeat(seen.times, counts))
        self._top.add(uniques, counts)
        lengths = as_numpy(pc.utf8_length(uniques))
        for length, count in zip(*_weighted_unique(lengths, counts), strict=True):
            self._lengths[length] = self._lengths.get(length, 0) + count
        tokens = as_numpy(pc.count_substring_regex(uniques, r"\S+"))
        self._tokens += int(tokens @ counts)

    def _add_numbers(self, numbers: np.ndarray) -> None:
        self._integers = self._integers and numbers.dtype.kind == "i"
        floats = numbers.astype(np.float64)
        floats = floats[np.isfinite(floats)]
        self._numbers.add(floats)
        if self._number_sample is None:
            self._number_sample = Reservoir(self._sample_size, np.float64)
        self._number_sample.add(floats)

    def _add_times(self, times: np.ndarray) -> None:
        self._times.add(times.astype(np.float64))
        if self._time_sample is None:
            self._time_sample = Reservoir(self._sample_size, np.int64)
        self._time_sample.add(times)

    def result(self, bins: int) -> dict[str, Any]:
        scan = self.scan
        summary = scan.summary()
        out: dict[str, Any] = {
            "name": summary.name,
            "type": summary.type,
            "count": scan.present,
            "missing": scan.missing,
            "missing_share": summary.missing_share,
            "distinct": summary.distinct,
            "distinct_approximate": summary.distinct_approximate,
        }
        if summary.type == "numeric":
            out.update(self._numeric(bins))
        elif summary.type == "datetime":
            out.update(self._datetime(bins))
        elif summary.type == "text":
            out.update(self._text(bins))
        else:
            top = self._top.top(TOP_VALUES)
            out["top"] = [{"value": value, "count": count} for value, count in top]
            out["top_approximate"] = self._top.approximate or self._strings_partial
        return out

    def _numeric(self, bins: int) -> dict[str, Any]:
        moments, sample = self._numbers, self._number_sample
        if not moments.count or sample is None:  # only infinities
            return {
                "min": None,
                "max": None,
                "mean": None,
                "std": None,
                "quantiles": dict.fromkeys(_QUANTILES),
                "histogram": {"edges": [], "counts": []},
                "approximate": False,
            }
        number = int if self._integers else float
        edges, counts = histogram(
            sample.sample, low=moments.min, high=moments.max, bins=bins, total=moments.count
        )
        quantiles = np.quantile(sample.sample, list(_QUANTILES.values()))
        return {
            "min": number(moments.min),
            "max": number(moments.max),
            "mean": _finite(moments.mean),
            "std": _finite(moments.std),
            "quantiles": dict(zip(_QUANTILES, map(_finite, quantiles.tolist()), strict=True)),
            "histogram": {"edges": [_finite(edge) for edge in edges], "counts": counts},
            "approximate": sample.approximate,
        }

    def _datetime(self, bins: int) -> dict[str, Any]:
        moments, sample = self._times, self._time_sample
        if not moments.count or sample is None:
            return {"min": None, "max": None, "histogram": {"edges": [], "counts": []}}
        edges, counts = histogram(
            sample.sample, low=moments.min, high=moments.max, bins=bins, total=moments.count
        )
        return {
            "min": _iso(moments.min),
            "max": _iso(moments.max),
            "histogram": {"edges": [_iso(edge) for edge in edges], "counts": counts},
            "approximate": sample.approximate,
        }

    def _text(self, bins: int) -> dict[str, Any]:
        lengths = np.array(list(self._lengths), dtype=np.float64)
        counts = np.array(list(self._lengths.values()), dtype=np.int64)
        total = int(counts.sum())
        low, high = float(lengths.min()), float(lengths.max())
        if low == high:
            edges, tally = [low, high], [total]
        else:
            edges_array = np.linspace(low, high, bins + 1)
            tally = np.histogram(lengths, bins=edges_array, weights=counts)[0]
            edges, tally = edges_array.tolist(), [int(count) for count in tally]
        return {
            "length": {"min": int(low), "mean": float(lengths @ counts) / total, "max": int(high)},
            "mean_tokens": self._tokens / total,
            "histogram": {"edges": edges, "counts": tally},
            "approximate": self._strings_partial,
        }


def _tally(seen: Observed) -> tuple[pa.Array, np.ndarray]:
    """The distinct non-missing strings of a batch and their counts."""
    if seen.uniques is not None and seen.counts is not None:
        return seen.uniques, seen.counts
    tally = pc.value_counts(seen.values)
    uniques = tally.field("values")
    counts = as_numpy(tally.field("counts"))
    present = ~flags(missing_mask(uniques))
    return uniques.filter(booleans(present)), counts[present]


def _weighted_unique(values: np.ndarray, weights: np.ndarray) -> tuple[list[int], list[int]]:
    keys, inverse = np.unique(values, return_inverse=True)
    return keys.tolist(), np.bincount(inverse, weights=weights).astype(np.int64).tolist()


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _iso(micros: float) -> str:
    return (_EPOCH + timedelta(microseconds=round(micros))).replace(tzinfo=None).isoformat()
