"""The step between a series' times: a pandas frequency when the times sit on a regular grid
("D", "MS", "W-SUN", ...), otherwise the typical gap."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

_MIN_GRID_COVERAGE = 0.9


def infer_step(observed: pd.DataFrame) -> tuple[Any, bool]:
    """(the step between consecutive times, whether the times sit on a regular grid)."""
    keys = [column for column in observed.columns if column.startswith("key")]
    groups = [g["time"] for _, g in observed.groupby(keys)] if keys else [observed["time"]]
    longest = pd.DatetimeIndex(max(groups, key=len)).unique().sort_values()
    gaps = np.concatenate(
        [np.diff(pd.DatetimeIndex(g).unique().sort_values().asi8) for g in groups]
    )
    gaps = gaps[gaps > 0]
    if not len(gaps):
        return pd.Timedelta(days=1), True
    step: Any = None
    if len(longest) >= 3:
        with pd.option_context("future.infer_freq_returns_offset", True):
            frequency = pd.infer_freq(longest)
        step = to_offset(frequency) if frequency is not None else None
    if step is None:
        step = _typical_step(pd.Timedelta(int(np.median(gaps)), "ns"), longest)
    covered = [_coverage(pd.DatetimeIndex(g).unique().sort_values(), step) for g in groups]
    if min(covered) < _MIN_GRID_COVERAGE:
        return pd.Timedelta(int(np.median(gaps)), "ns"), False
    return step, True


def _typical_step(gap: pd.Timedelta, times: pd.DatetimeIndex) -> Any:
    days = gap / pd.Timedelta(days=1)
    if 28 <= days <= 31:
        return to_offset("MS") if (times.day == 1).all() else to_offset("ME")
    if 365 <= days <= 366:
        return to_offset("YS") if (times.dayofyear == 1).all() else to_offset("YE")
    return to_offset(gap)


def _coverage(times: pd.DatetimeIndex, step: Any) -> float:
    if len(times) < 2:
        return 1.0
    grid = pd.date_range(times[0], times[-1], freq=step)
    if len(grid) > 20 * len(times):
        return 0.0
    return float(times.isin(grid).mean())
