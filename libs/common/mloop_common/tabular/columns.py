"""The type, missing share and distinct count of one column, batch after batch.

A column starts as possibly boolean, numeric or datetime; each batch strikes out the types some
value does not fit, so the verdict covers the whole file. Numeric candidates are tried on the raw
strings first (a cast validates every value); other columns go through `value_counts`, so the
per-value work is one hash and everything else runs on the distinct strings of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .arrow import as_numpy, booleans, flags
from .distinct import DistinctCounter, hash_numbers, hash_strings
from .report import ColumnSummary, ColumnType
from .values import NUMBER_PATTERN, missing_mask, parse_booleans, parse_datetimes, parse_numbers

TEXT_MEAN_CHARS = 30
"""Values longer than this on average make a text column."""
TEXT_MIN_DISTINCT = 20
_TYPED: tuple[ColumnType, ...] = ("boolean", "numeric", "datetime")


@dataclass(frozen=True)
class Observed:
    """One batch of one column as `ColumnScan.add` saw it, for callers that want more."""

    values: pa.Array
    numbers: np.ndarray | None = None
    """The non-missing values as int64 or float64, while the column reads as numeric."""
    uniques: pa.Array | None = None
    """The distinct non-missing strings, when the column was not read as numbers..."""
    counts: np.ndarray | None = None
    """... and how often each occurs."""
    times: np.ndarray | None = None
    """Microseconds since the epoch for each of `uniques`, while the column reads as datetime."""


class ColumnScan:
    def __init__(self, name: str, *, exact_limit: int, sketch_size: int) -> None:
        self.name = name
        self.rows = 0
        self.missing = 0
        self.present = 0
        self.possible: set[ColumnType] = set(_TYPED)
        self.distinct = DistinctCounter(exact_limit=exact_limit, sketch_size=sketch_size)
        self._chars = 0
        self._spaced = 0
        self._had_numbers = False
        self._integers = True
        self._saw_missing = False
        self._truths: set[bool] = set()

    def add(self, values: pa.Array) -> Observed:
        self.rows += len(values)
        if "numeric" in self.possible:
            seen = self._as_numbers(values)
            if seen is not None:
                return seen
            self.possible.discard("numeric")
        return self._as_strings(values)

    @property
    def type(self) -> ColumnType:
        if not self.present:
            return "categorical"
        for candidate in _TYPED:
            if candidate in self.possible:
                return candidate
        distinct = self.distinct.count
        if self._chars > TEXT_MEAN_CHARS * self.present or (
            2 * self._spaced >= self.present
            and 2 * distinct > self.present
            and distinct >= TEXT_MIN_DISTINCT
        ):
            return "text"
        return "categorical"

    def summary(self) -> ColumnSummary:
        kind = self.type
        boolean = kind == "boolean"  # "true", "True" and "t" are one value
        return ColumnSummary(
            name=self.name,
            type=kind,
            missing_share=self.missing / self.rows if self.rows else 0.0,
            distinct=len(self._truths) if boolean else self.distinct.count,
            distinct_approximate=False if boolean else self.distinct.approximate,
        )

    def _as_numbers(self, values: pa.Array) -> Observed | None:
        missing = 0
        present = values
        parsed = None
        if not self._saw_missing:
            # Optimistic: one cast validates the batch when nothing is missing.
            parsed = parse_numbers(values, integers=self._integers, trim=False)
        if parsed is None:
            mask = missing_mask(values)
            missing = mask.true_count
            if missing:
                self._saw_missing = True
                present = values.filter(pc.invert(mask))
            parsed = parse_numbers(present, integers=self._integers)
            if parsed is None:
                return None
        numbers = as_numpy(parsed)
        chars = _total_bytes(present)
        if numbers.dtype.kind == "f":
            self._integers = False  # ints in later batches would only waste a failing cast
            nan = np.isnan(numbers)
            if nan.any():  # "nan" spelt in a way the NA tokens do not list
                missing += int(nan.sum())
                numbers = numbers[~nan]
        self.missing += missing
        self.present += numbers.size
        self._chars += chars
        if numbers.size:
            self._had_numbers = True
            self.possible -= {"boolean", "datetime"}
            self.distinct.add(hash_numbers(numbers))
        return Observed(values, numbers=numbers)

    def _as_strings(self, values: pa.Array) -> Observed:
        if self.distinct.approximate and "datetime" not in self.possible:
            return self._as_many_strings(values)
        tally = pc.value_counts(values)
        uniques = tally.field("values")
        counts = as_numpy(tally.field("counts"))
        missing = flags(missing_mask(uniques))
        if missing.any():
            self.missing += int(counts[missing].sum())
            uniques = uniques.filter(booleans(~missing))
            counts = counts[~missing]
        self.present += int(counts.sum())
        times = None
        if "datetime" in self.possible:
            parsed = parse_datetimes(uniques)
            if parsed is None:
                self.possible.discard("datetime")
            else:
                times = as_numpy(parsed.cast(pa.int64()))
        if "boolean" in self.possible:
            truth = parse_booleans(uniques)
            if truth is None:
                self.possible.discard("boolean")
            else:
                self._truths.update(truth.to_pylist())
        lengths = as_numpy(pc.utf8_length(uniques))
        spaced = flags(pc.match_substring(uniques, " "))
        self._chars += int(lengths @ counts)
        self._spaced += int(counts[spaced].sum())
        self._count_distinct(uniques)
        return Observed(values, uniques=uniques, counts=counts, times=times)

    def _as_many_strings(self, values: pa.Array) -> Observed:
        """Past the exact distinct limit almost every value is new: skip the hash table and
        work per value. (Such a column is no longer possibly boolean.)"""
        mask = missing_mask(values)
        missing = mask.true_count
        present = values.filter(pc.invert(mask)) if missing else values
        self.missing += missing
        self.present += len(present)
        self._chars += pc.sum(pc.utf8_length(present)).as_py() or 0
        self._spaced += pc.sum(pc.match_substring(present, " ")).as_py() or 0
        self._count_distinct(present)
        return Observed(values)

    def _count_distinct(self, uniques: pa.Array) -> None:
        if self._had_numbers:
            # The column held numbers before: keep counting numbers by value.
            numeric = pc.match_substring_regex(uniques, NUMBER_PATTERN, ignore_case=True)
            parsed = parse_numbers(uniques.filter(numeric)) if pc.any(numeric).as_py() else None
            if parsed is not None:
                numbers = as_numpy(parsed)
                if numbers.dtype.kind == "f":
                    numbers = numbers[~np.isnan(numbers)]
                self.distinct.add(hash_numbers(numbers))
                uniques = uniques.filter(pc.invert(numeric))
        self.distinct.add(hash_strings(uniques))


def _total_bytes(values: pa.Array) -> int:
    """Bytes of all the strings of `values` (no nulls), read from its offsets."""
    if not len(values):
        return 0
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset :]
    return int(offsets[len(values)] - offsets[0])
