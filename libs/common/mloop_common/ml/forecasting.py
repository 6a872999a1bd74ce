"""`LagForecaster`: LightGBM forecasting H steps ahead from lags, rolling means and calendar
parts, one step at a time (each forecast feeds the next step's lags).

Inputs are records with the time column and the series key columns (categorical features; no
key: a single series). Other numeric or boolean features are ignored: their future values are
not known when forecasting. Times are put on a regular grid (the step is inferred: a pandas
frequency such as "D", "MS" or "h", or the typical gap); when the times are too irregular for a
grid, each observation counts as one step. Duplicate times within a series are averaged.
With `differencing`, the model learns step-to-step changes (lags and rolling means of the
changes) and adds each to the previous value, so forecasts can follow a trend beyond the levels
seen in training; a series without any history then gets NaN forecasts.

`predict(records)` returns an array (n records, horizon): for each record, the values at the H
grid steps after its time (the forecast origin; the series' last known time when the record has
none), using the actual values known up to the origin. The estimator keeps each series' history;
`with_history` adds observations without refitting.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMRegressor
from sklearn.base import BaseEstimator, RegressorMixin

from .preprocessing import as_datetimes, as_keys, records
from .timegrid import infer_step

CALENDAR = ("month", "day", "dayofweek", "dayofyear", "hour")


def lag_list(lags: int | list[int]) -> list[int]:
    return list(range(1, lags + 1)) if isinstance(lags, int) else sorted(set(lags))


def window_list(windows: int | list[int]) -> list[int]:
    return [windows] if isinstance(windows, int) else sorted(set(windows))


class LagForecaster(RegressorMixin, BaseEstimator):
    def __init__(
        self,
        time_column: str = "time",
        series_columns: tuple[str, ...] = (),
        horizon: int = 7,
        lags: int | list[int] = 14,
        windows: int | list[int] = (7, 28),
        differencing: bool = False,
        n_estimators: int = 100,
        learning_rate: float = 0.1,
        num_leaves: int = 31,
        max_depth: int = -1,
        min_child_samples: int = 20,
        subsample: float = 1.0,
        colsample_bytree: float = 1.0,
        reg_alpha: float = 0.0,
        reg_lambda: float = 0.0,
        n_jobs: int = 1,
        random_state: int | None = None,
    ) -> None:
        self.time_column = time_column
        self.series_columns = series_columns
        self.horizon = horizon
        self.lags = lags
        self.windows = windows
        self.differencing = differencing
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_alpha = reg_alpha
        self.reg_lambda = reg_lambda
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> LagForecaster:
        observed = self._observations(records(X), y)
        if observed.empty:
            raise ValueError("no row has both a time and a value")
        self.categories_ = [
            sorted(set(observed[f"key{i}"])) for i in range(len(self.series_columns))
        ]
        self.step_, self.regular_ = infer_step(observed)
        self.history_ = self._grids(observed, {})
        matrix, target = self._training_rows()
        if len(target) < 2:
            raise ValueError("too few past values to learn from; add rows or lower lags")
        self.feature_names_ = self._feature_names()
        first_code = len(self.feature_names_) - len(self.series_columns)
        categorical = list(range(first_code, len(self.feature_names_)))
        self.model_ = LGBMRegressor(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            max_depth=self.max_depth,
            min_child_samples=self.min_child_samples,
            subsample=self.subsample,
            subsample_freq=1 if self.subsample < 1 else 0,
            colsample_bytree=self.colsample_bytree,
            reg_alpha=self.reg_alpha,
            reg_lambda=self.reg_lambda,
            importance_type="gain",
            n_jobs=self.n_jobs,
            random_state=self.random_state,
            verbose=-1,
        )
        self.model_.fit(matrix, target, categorical_feature=categorical or "auto")
        self.n_training_rows_ = len(target)
        return self

    def with_history(self, X: Any, y: Any) -> LagForecaster:
        """A copy sharing the fitted model, whose history also holds these observations (a
        value already known at the same time is replaced)."""
        observed = self._observations(records(X), y)
        other = copy.copy(self)
        other.history_ = self._grids(observed, self.history_)
        return other

    def _observations(self, frame: pd.DataFrame, y: Any) -> pd.DataFrame:
        data = {"time": as_datetimes(frame[self.time_column]).to_numpy()}
        for i, name in enumerate(self.series_columns):
            data[f"key{i}"] = as_keys(frame[name])
        data["y"] = pd.to_numeric(pd.Series(np.asarray(y)), errors="coerce").to_numpy(float)
        observed = pd.DataFrame(data).dropna(subset=["time", "y"])
        keys = [f"key{i}" for i in range(len(self.series_columns))]
        return observed.groupby([*keys, "time"], sort=True, as_index=False)["y"].mean()

    def _grids(self, observed: pd.DataFrame, previous: dict) -> dict[tuple, pd.Series]:
        keys = [f"key{i}" for i in range(len(self.series_columns))]
        history = dict(previous)
        groups = observed.groupby(keys, sort=False) if keys else [((), observed)]
        for key, group in groups:
            key = key if isinstance(key, tuple) else (key,)
            series = pd.Series(group["y"].to_numpy(), index=pd.DatetimeIndex(group["time"]))
            if key in history:
                series = series.combine_first(history[key].dropna())
            history[key] = self._on_grid(series.sort_index())
        return history

    def _on_grid(self, series: pd.Series) -> pd.Series:
        if not self.regular_ or len(series) < 2:
            return series
        grid = pd.date_range(series.index[0], series.index[-1], freq=self.step_)
        return series.reindex(grid)

    def _training_rows(self) -> tuple[np.ndarray, np.ndarray]:
        blocks, targets = [], []
        lags, windows = lag_list(self.lags), window_list(self.windows)
        for key, series in self.history_.items():
            work = series.diff() if self.differencing else series
            past = work.shift(1)
            columns = [work.shift(lag).to_numpy() for lag in lags]
            columns += [past.rolling(w, min_periods=1).mean().to_numpy() for w in windows]
            columns += list(_calendar(series.index).T)
            columns += [np.full(len(series), code) for code in self._codes(key)]
            block = np.column_stack(columns)
            usable = work.notna().to_numpy() & ~np.isnan(block[:, : len(lags)]).all(axis=1)
            blocks.append(block[usable])
            targets.append(work.to_numpy()[usable])
        return np.vstack(blocks), np.concatenate(targets)

    def _codes(self, key: tuple) -> list[float]:
        codes = []
        for part, categories in zip(key, self.categories_, strict=True):
            position = np.searchsorted(categories, part)
            known = position < len(categories) and categories[position] == part
            codes.append(float(position) if known else -1.0)
        return codes

    def _feature_names(self) -> list[str]:
        return [
            *(f"lag_{lag}" for lag in lag_list(self.lags)),
            *(f"rolling_mean_{w}" for w in window_list(self.windows)),
            *CALENDAR,
            *(f"series:{name}" for name in self.series_columns),
        ]

    # -- forecasting -----------------------------------------------------------------------

    def predict(self, X: Any) -> np.ndarray:
        """(n records, horizon) forecasts; see the module docstring."""
        frame = records(X)
        states = [self._start(key, origin) for key, origin in self._requests(frame)]
        out = np.full((len(states), self.horizon), np.nan)
        lags, windows = lag_list(self.lags), window_list(self.windows)
        steps = max((state["skip"] + self.horizon for state in states), default=0)
        for _ in range(steps):
            live = [s for s in states if len(s["out"]) < self.horizon]
            rows = []
            for state in live:
                values, time = self._work(state["values"]), self._next(state["time"])
                row = [values[-lag] if lag <= len(values) else np.nan for lag in lags]
                row += [_mean(values[-w:]) for w in windows]
                row += [time.month, time.day, time.day_of_week, time.day_of_year, time.hour]
                rows.append(row + state["codes"])
                state["time"] = time
            predicted = self.model_.predict(np.asarray(rows, dtype=float))
            for state, value in zip(live, predicted, strict=True):
                if self.differencing:
                    value = _last_known(state["values"]) + value
                state["values"].append(float(value))
                if state["skip"]:
                    state["skip"] -= 1
                else:
                    state["out"].append(float(value))
        for position, state in enumerate(states):
            out[position] = state["out"]
        return out

    def forecast_times(self, X: Any) -> list[list[pd.Timestamp]]:
        """The times of `predict`'s values, per record."""
        out = []
        for key, origin in self._requests(records(X)):
            state = self._start(key, origin)
            time, times = state["time"], []
            for _ in range(state["skip"] + self.horizon):
                time = self._next(time)
                times.append(time)
            out.append(times[-self.horizon :])
        return out

    def _requests(self, frame: pd.DataFrame) -> list[tuple[tuple, pd.Timestamp]]:
        n = len(frame)
        if self.time_column in frame.columns:
            origins = list(as_datetimes(frame[self.time_column]))
        else:
            origins = [pd.NaT] * n
        parts = []
        for name in self.series_columns:
            column = frame[name] if name in frame.columns else pd.Series([None] * n, dtype=object)
            parts.append(as_keys(column))
        keys = list(zip(*parts, strict=True)) if parts else [()] * n
        return list(zip(keys, origins, strict=True))

    def _start(self, key: tuple, origin: pd.Timestamp) -> dict[str, Any]:
        series = self.history_.get(key)
        if series is None or series.empty:
            last = max(s.index[-1] for s in self.history_.values())
            series = pd.Series([], index=pd.DatetimeIndex([]), dtype=float)
        else:
            last = series.index[-1]
        skip = 0
        if pd.isna(origin) or origin == last:
            time = last
        elif origin < last:
            series = series.loc[:origin]
            time = series.index[-1] if len(series) else origin
        else:
            time = probe = last
            while self._next(probe) <= origin:
                probe, skip = self._next(probe), skip + 1
                if skip > 100 * self.horizon + 1000:
                    raise ValueError(f"{origin} is too far after the history, which ends {last}")
        memory = max(*lag_list(self.lags), *window_list(self.windows)) + self.differencing
        values = [float(v) for v in series.to_numpy()[-memory:]]
        return {"values": values, "time": time, "skip": skip, "out": [], "codes": self._codes(key)}

    def _next(self, time: pd.Timestamp) -> pd.Timestamp:
        return time + self.step_

    def _work(self, values: list[float]) -> list[float]:
        """What the model reads: the values, or their step-to-step changes."""
        return np.diff(values).tolist() if self.differencing else values


def _last_known(values: list[float]) -> float:
    return next((v for v in reversed(values) if not np.isnan(v)), np.nan)


def _mean(values: list[float]) -> float:
    known = [v for v in values if not np.isnan(v)]
    return float(np.mean(known)) if known else np.nan


def _calendar(index: pd.DatetimeIndex) -> np.ndarray:
    return np.column_stack(
        [index.month, index.day, index.day_of_week, index.day_of_year, index.hour]
    ).astype(float)
