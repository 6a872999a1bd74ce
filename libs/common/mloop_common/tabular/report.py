"""What an inspection tells the caller: limits in, a report out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnType = Literal["numeric", "categorical", "text", "datetime", "boolean"]


@dataclass(frozen=True)
class CsvLimits:
    max_columns: int = 2000
    max_bad_rows_reported: int = 20


DEFAULT_LIMITS = CsvLimits()


@dataclass(frozen=True)
class ColumnSummary:
    name: str
    type: ColumnType
    missing_share: float
    """0..1, share of data rows where the value is empty or an NA token."""
    distinct: int
    """Distinct non-missing values: exact up to a bound, else estimated."""
    distinct_approximate: bool


@dataclass(frozen=True)
class CsvReport:
    encoding: str
    """A Python codec name: "utf-8", "utf-8-sig", "cp949" or "latin-1" when detected."""
    delimiter: str
    """One of "," ";" "\\t" "|"."""
    rows: int
    """Data rows, the header excluded."""
    columns: tuple[ColumnSummary, ...]
