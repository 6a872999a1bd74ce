"""Forecasting data made ready to train: the time column, the series keys, time-ordered
splits, and evaluation by backtesting.

Backtesting (holdout or fold): the model is fitted on the earlier rows; for each series, forecasts
of H steps are made from origins every H steps, starting at the series' last training time, each
from the actual values known up to its origin (the model is not refitted). Every forecast value
with an actual counts once in rmse, mae, mape and r2; the details give rmse per step ahead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from .data import Prepared, UnusableData, jsonable
from .evaluation import Split, time_folds, time_split
from .forecasting import CALENDAR, LagForecaster, lag_list, window_list
from .preprocessing import as_datetimes
from .problems import Problem, Scored
from .scoring import regression_metrics

MIN_TIMES = 8


class ForecastProblem(Problem):
    task_type = "forecasting"

    def __init__(self, prepared: Prepared, log: Callable[[str], None]) -> None:
        times = [name for name, kind in prepared.features.items() if kind == "datetime"]
        if not times:
            raise UnusableData("forecasting needs a datetime feature: the time of each value")
        if len(times) > 1:
            listed = ", ".join(map(repr, times))
            raise UnusableData(f"forecasting takes one datetime feature, not {listed}")
        self.time_column = times[0]
        self.target_name, self.target_type = prepared.target, prepared.target_type
        self.series_columns = tuple(
            name for name, kind in prepared.features.items() if kind in ("categorical", "text")
        )
        self.ignored = [
            name for name in prepared.features if name not in (*self.series_columns, *times)
        ]
        if self.ignored:
            log(f"ignored {', '.join(self.ignored)}: future values of other features are unknown")
        moments = as_datetimes(prepared.frame[self.time_column])
        known = moments.notna().to_numpy()
        if not known.all():
            log(f"dropped {int((~known).sum())} rows without a time in {self.time_column!r}")
        self.frame = prepared.frame.loc[known].reset_index(drop=True)
        self.y = prepared.y[known]
        self.times = moments[known].to_numpy()
        self.features = {
            name: prepared.features[name] for name in (*self.series_columns, self.time_column)
        }
        distinct = len(np.unique(self.times))
        if distinct < MIN_TIMES:
            raise UnusableData(
                f"only {distinct} distinct times in {self.time_column!r}; forecasting needs at "
                f"least {MIN_TIMES} to train and hold out the latest"
            )

    def split(self, rows: np.ndarray, share: float, seed: int) -> Split:
        return time_split(rows, self.times, share)

    def folds(self, rows: np.ndarray, k: int, seed: int) -> list[Split]:
        return time_folds(rows, self.times, k)

    def fit(
        self, algorithm: str, params: dict[str, Any], rows: np.ndarray, *, n_jobs: int, seed: int
    ) -> LagForecaster:
        model = LagForecaster(
            time_column=self.time_column,
            series_columns=self.series_columns,
            **params,
            n_jobs=n_jobs,
            random_state=seed,
        )
        try:
            return model.fit(self.X.iloc[rows], self.y[rows])
        except ValueError as error:
            raise UnusableData(f"forecasting cannot train on these rows: {error}") from error

    def evaluate(self, model: LagForecaster, rows: np.ndarray) -> Scored:
        extended = model.with_history(self.X.iloc[rows], self.y[rows])
        horizon = model.horizon
        origins: list[dict[str, Any]] = []
        actuals: list[np.ndarray] = []
        unseen = 0
        for key, series in extended.history_.items():
            trained = model.history_.get(key)
            if trained is None:
                unseen += 1
                continue
            values = series.to_numpy()
            for position in range(len(trained) - 1, len(series) - 1, horizon):
                ahead = np.full(horizon, np.nan)
                known = values[position + 1 : position + 1 + horizon]
                ahead[: len(known)] = known
                record = dict(zip(model.series_columns, key, strict=True))
                origins.append(record | {model.time_column: series.index[position]})
                actuals.append(ahead)
        if not origins:
            raise UnusableData("no series of the evaluated rows has a past to forecast from")
        forecasts = extended.predict(pd.DataFrame(origins))
        truth = np.vstack(actuals)
        known = ~np.isnan(truth)
        metrics = regression_metrics(truth[known], forecasts[known])
        by_step = [
            float(np.sqrt(np.mean((forecasts[known[:, s], s] - truth[known[:, s], s]) ** 2)))
            for s in range(horizon)
            if known[:, s].any()
        ]
        details = {
            "horizon": horizon,
            "origins": len(origins),
            "forecast_values": int(known.sum()),
            "rmse_by_step": by_step,
            "series_without_history": unseen,
        }
        return Scored(metrics, details, {"values": forecasts[known]})

    def finish(self, model: LagForecaster) -> LagForecaster:
        """The model with every row's value in its history, so forecasts start after the latest
        time of the dataset."""
        return model.with_history(self.X, self.y)

    def importances(self, model: LagForecaster) -> dict[str, float] | None:
        """Per input column, the target standing for its own past values (lags, rolling
        means) and the time column for the calendar parts."""
        target = self.target_name or "target"
        totals = dict.fromkeys([*self.series_columns, self.time_column, target], 0.0)
        raw = np.asarray(model.model_.feature_importances_, dtype=float).tolist()
        for name, value in zip(model.feature_names_, raw, strict=True):
            if name.startswith("series:"):
                totals[name.removeprefix("series:")] += value
            elif name in CALENDAR:
                totals[self.time_column] += value
            else:
                totals[target] += value
        whole = sum(totals.values())
        if whole <= 0:
            return None
        return {name: value / whole for name, value in totals.items()}

    def extras(self, model: LagForecaster, params: dict[str, Any]) -> dict[str, Any]:
        step = model.step_
        return {
            "time_column": self.time_column,
            "series_columns": list(self.series_columns),
            "ignored_columns": self.ignored,
            "horizon": model.horizon,
            "frequency": getattr(step, "freqstr", None) or str(step),
            "regular": bool(model.regular_),
            "lags": lag_list(model.lags),
            "windows": window_list(model.windows),
            "series": len(model.history_),
            "last_time": jsonable(max(s.index[-1] for s in model.history_.values())),
            "output": "horizon values per record",
        }
