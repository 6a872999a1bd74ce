"""One monitoring window of one model, assembled from its rows (pure: no I/O).

A window is the model's logged predictions made in [end - window_seconds, end): their volume
and latency percentiles, the live metrics over those that got feedback (only from
`min_labelled` of them), the drift of every feature of the model's signature and of its
prediction against its reference profile (only from `min_predictions` of them). The champion's
windows feed two episodes (`domain.episodes`): drift (the window drifted) and performance (the
live primary metric fell below the holdout value by more than the relative margin); an episode
that starts yields the event to emit, once per episode.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from mloop_common.messages.events import DriftDetected, PerformanceDegraded
from mloop_common.ml.live import live_metrics
from mloop_common.monitoring import Monitoring

from mloop_monitor.domain.drift import column_drift, dataset_drift
from mloop_monitor.domain.episodes import Change, Episode

DRIFT, PERFORMANCE = "drift", "performance"
CLASSIFIERS = ("classification", "text_classification")


@dataclass(frozen=True)
class ModelFacts:
    """What a window needs to know of a model (loaded once per model and kept)."""

    model_id: uuid.UUID
    task_type: str
    features: dict[str, str]  # name -> platform type, from the signature
    labels: list[Any]  # a classifier's labels, from the signature's target
    reference: dict[str, Any]
    primary_metric: str
    primary_value: float | None
    higher_is_better: bool

    @classmethod
    def of(
        cls,
        *,
        model_id: uuid.UUID,
        task_type: str,
        signature: Mapping[str, Any],
        reference: Mapping[str, Any] | None,
        primary_metric: str,
        primary_value: float | None,
        higher_is_better: bool,
    ) -> ModelFacts:
        features = {
            str(column["name"]): str(column.get("type", "numeric"))
            for column in signature.get("columns", [])
            if isinstance(column, Mapping) and "name" in column
        }
        target = signature.get("target") or {}
        return cls(
            model_id=model_id,
            task_type=task_type,
            features=features,
            labels=list(target.get("labels") or []) if isinstance(target, Mapping) else [],
            reference=dict(reference or {}),
            primary_metric=primary_metric,
            primary_value=primary_value,
            higher_is_better=higher_is_better,
        )


@dataclass(frozen=True)
class Volume:
    predictions: int
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


@dataclass(frozen=True)
class Drift:
    """Drift of one window: `drifted` is None when the window had too few predictions."""

    features: dict[str, dict[str, Any]] = field(default_factory=dict)
    prediction: dict[str, Any] | None = None
    drifted: bool | None = None
    share: float | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Live:
    """Live metrics of one window: `value` of the primary metric and whether it is worse
    than `threshold` (`degraded` None: too few labelled predictions or no such metric)."""

    metrics: dict[str, float] = field(default_factory=dict)
    labelled: int = 0
    unreadable: int = 0
    value: float | None = None
    threshold: float | None = None
    degraded: bool | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Window:
    model_id: uuid.UUID
    arm: str
    start: datetime
    end: datetime
    volume: Volume
    live: Live
    drift: Drift
    sampled: int  # rows the drift was measured on (the newest, at most the cap)


# --- volume ---------------------------------------------------------------------------------


def volume(latencies: Sequence[float] | np.ndarray) -> Volume:
    """Count and latency percentiles (ms) of the window's predictions."""
    values = np.asarray(latencies, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return Volume(len(latencies))
    p50, p95, p99 = np.percentile(values, [50, 95, 99]).tolist()
    return Volume(len(latencies), p50, p95, p99)


# --- drift ----------------------------------------------------------------------------------


def input_frame(inputs: Iterable[Mapping[str, Any]], columns: Iterable[str]) -> pd.DataFrame:
    """The window's inputs as a frame of the model's columns (a column a record lacks is
    missing there; keys the model does not read are left out)."""
    return pd.DataFrame.from_records(list(inputs), columns=list(columns))


def window_drift(
    model: ModelFacts,
    frame: pd.DataFrame,
    outputs: Sequence[Any],
    config: Monitoring,
    *,
    predictions: int,
) -> Drift:
    """Drift of the window's inputs (`frame`) and outputs against the model's reference, or
    no verdict when the window holds fewer than `min_predictions` predictions."""
    if predictions < config.min_predictions:
        return Drift(reason=f"{predictions} predictions, {config.min_predictions} needed")
    if not model.reference.get("columns"):
        return Drift(reason="the model has no reference profile")
    result = dataset_drift(
        model.reference,
        frame,
        model.features,
        methods=config.drift_methods,
        thresholds=config.drift_thresholds,
        share=config.drift_share,
    )
    judged = any(entry.get("score") is not None for entry in result["features"].values())
    return Drift(
        features=result["features"],
        prediction=prediction_drift(model, outputs, config),
        drifted=bool(result["drifted"]) if judged else None,
        share=float(result["share"]),
        reason=None if judged else "no feature could be judged",
    )


def prediction_values(task_type: str, outputs: Sequence[Any]) -> tuple[str, pd.Series, str | None]:
    """(kind, values, key of the sub-profile or None) of the model's outputs, as the reference's
    `prediction` profile describes them: labels of a classifier, values of a regressor or a
    forecast (every step), scores of an anomaly detector, recommended items."""
    answers = [o for o in outputs if isinstance(o, Mapping) and "prediction" in o]
    if task_type in CLASSIFIERS:
        return "categorical", pd.Series([o["prediction"] for o in answers], dtype=object), None
    if task_type == "anomaly_detection":
        return "numeric", pd.Series([o.get("score") for o in answers], dtype=object), "score"
    if task_type in ("forecasting", "recommendation"):
        flat = [value for o in answers for value in _listed(o["prediction"])]
        kind = "numeric" if task_type == "forecasting" else "categorical"
        return kind, pd.Series(flat, dtype=object), None
    return "numeric", pd.Series([o["prediction"] for o in answers], dtype=object), None


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def prediction_drift(
    model: ModelFacts, outputs: Sequence[Any], config: Monitoring
) -> dict[str, Any] | None:
    """Drift of the model's outputs against its holdout outputs (`reference["prediction"]`)."""
    profile = model.reference.get("prediction")
    if not isinstance(profile, Mapping) or not profile:
        return None
    kind, values, key = prediction_values(model.task_type, outputs)
    if key is not None:
        profile = profile.get(key) or {}
    result = column_drift(
        kind,
        profile,
        values,
        reference_rows=int(model.reference.get("rows", 0)),
        method=config.drift_methods.get(kind),
        thresholds=config.drift_thresholds,
    ).as_dict()
    if model.task_type == "anomaly_detection" and "anomaly_rate" in model.reference["prediction"]:
        flags = [bool(o["prediction"]) for o in outputs if isinstance(o, Mapping)]
        result["anomaly_rate"] = sum(flags) / len(flags) if flags else None
        result["reference_anomaly_rate"] = model.reference["prediction"]["anomaly_rate"]
    return result


# --- live metrics ---------------------------------------------------------------------------


def performance_threshold(primary_value: float, higher_is_better: bool, margin: float) -> float:
    """The live value past which performance counts as degraded: `margin` (relative, of the
    holdout value's size) below it when higher is better, above it otherwise."""
    slack = margin * abs(primary_value)
    return primary_value - slack if higher_is_better else primary_value + slack


def live(
    model: ModelFacts, outputs: Sequence[Any], actuals: Sequence[Any], config: Monitoring
) -> Live:
    """Live metrics over the window's labelled predictions and the performance verdict."""
    if not outputs:
        return Live(reason=f"0 labelled predictions, {config.min_labelled} needed")
    found = live_metrics(model.task_type, outputs, actuals, model.labels)
    if found.labelled < config.min_labelled:
        return Live(
            labelled=found.labelled,
            unreadable=found.unreadable,
            reason=f"{found.labelled} labelled predictions, {config.min_labelled} needed",
        )
    value = found.metrics.get(model.primary_metric)
    base = dict(metrics=found.metrics, labelled=found.labelled, unreadable=found.unreadable)
    if value is None or not math.isfinite(value):
        return Live(**base, reason=f"{model.primary_metric} is undefined on this window")
    if model.primary_value is None or not math.isfinite(model.primary_value):
        return Live(**base, value=value, reason="the model has no holdout value to compare")
    threshold = performance_threshold(
        model.primary_value, model.higher_is_better, config.performance_margin
    )
    worse = value < threshold if model.higher_is_better else value > threshold
    return Live(**base, value=value, threshold=threshold, degraded=bool(worse))


# --- episodes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EpisodeState:
    """A stored episode: whose (a new champion starts afresh) and where it stands."""

    model_id: uuid.UUID
    episode: Episode = field(default_factory=Episode)

    def as_json(self) -> dict[str, Any]:
        return {"active": self.episode.active, "streak": self.episode.streak}

    @classmethod
    def from_json(cls, model_id: uuid.UUID, state: Mapping[str, Any]) -> EpisodeState:
        return cls(model_id, Episode(bool(state.get("active", False)), int(state.get("streak", 0))))


def advance(
    stored: EpisodeState | None, model_id: uuid.UUID, over: bool | None, *, windows: int
) -> tuple[EpisodeState, Change]:
    """The episode after one more window of `model_id`; another model's episode is dropped."""
    current = stored if stored is not None and stored.model_id == model_id else None
    episode = current.episode if current is not None else Episode()
    after, change = episode.observe(over, windows=windows)
    return EpisodeState(model_id, after), change


def drift_event(scenario_id: uuid.UUID, window: Window) -> DriftDetected:
    drifted = {
        name: float(entry["score"])
        for name, entry in window.drift.features.items()
        if entry.get("drifted") and entry.get("score") is not None
    }
    return DriftDetected(
        scenario_id=scenario_id,
        model_id=window.model_id,
        features=drifted,
        drifted_share=min(1.0, max(0.0, window.drift.share or 0.0)),
    )


def performance_event(
    scenario_id: uuid.UUID, window: Window, model: ModelFacts
) -> PerformanceDegraded:
    assert window.live.value is not None and window.live.threshold is not None
    return PerformanceDegraded(
        scenario_id=scenario_id,
        model_id=window.model_id,
        metric=model.primary_metric,
        value=window.live.value,
        threshold=window.live.threshold,
    )


# --- one window -----------------------------------------------------------------------------


def assemble(
    model: ModelFacts,
    *,
    arm: str,
    start: datetime,
    end: datetime,
    counted: Volume,
    inputs: Sequence[Mapping[str, Any]],
    outputs: Sequence[Any],
    labelled_outputs: Sequence[Any],
    actuals: Sequence[Any],
    config: Monitoring,
) -> Window:
    """The window of `model`: `counted` is its volume over the whole window, `inputs` and
    `outputs` the newest rows drift is measured on, `labelled_outputs` and `actuals` the
    pairs live metrics are computed from."""
    frame = input_frame(inputs, model.features)
    return Window(
        model_id=model.model_id,
        arm=arm,
        start=start,
        end=end,
        volume=counted,
        live=live(model, labelled_outputs, actuals, config),
        drift=window_drift(model, frame, outputs, config, predictions=counted.predictions),
        sampled=len(inputs),
    )
