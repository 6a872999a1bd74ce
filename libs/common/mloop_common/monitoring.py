"""A scenario's monitoring and deployment choices: what users may set per scenario, and the
values in force once the settings' defaults fill what they left unset.

The gateway validates the scenario's `monitoring` field with `MonitoringConfig`; the monitor and
the scheduler read it back with `effective(settings, stored)`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mloop_common.settings import Settings

DeploymentPolicy = Literal["auto", "ab_test", "manual"]
DEPLOYMENT_POLICIES: tuple[str, ...] = ("auto", "ab_test", "manual")

NumericMethod = Literal["ks", "psi", "wasserstein"]
CategoricalMethod = Literal["chisquare", "jensenshannon"]


class DriftMethods(BaseModel):
    """The method that decides drift per column type; unset: Evidently's rule (KS / chi-square
    for a reference of at most 1,000 rows, Wasserstein / Jensen-Shannon above)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    numeric: NumericMethod | None = None
    categorical: CategoricalMethod | None = None
    boolean: CategoricalMethod | None = None
    text: NumericMethod | None = None


class DriftThresholds(BaseModel):
    """Where each statistic starts to mean drift (p-values: below; distances: at or above)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ks: float | None = Field(None, gt=0, lt=1, description="p-value.")
    chisquare: float | None = Field(None, gt=0, lt=1, description="p-value.")
    psi: float | None = Field(None, gt=0)
    wasserstein: float | None = Field(None, gt=0, description="Distance / reference std.")
    jensenshannon: float | None = Field(None, gt=0, le=1)
    oov: float | None = Field(None, gt=0, le=1, description="Rise of the out-of-vocabulary share.")


class MonitoringConfig(BaseModel):
    """Per-scenario overrides of the monitoring settings; every field unset means the default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_seconds: float | None = Field(
        None, gt=0, le=90 * 86400, description="Seconds one window covers (MLOOP_MONITOR_WINDOW)."
    )
    interval_seconds: float | None = Field(
        None, gt=0, le=86400, description="Seconds the window slides by (MLOOP_MONITOR_INTERVAL)."
    )
    episode_windows: int | None = Field(
        None, ge=1, le=1000, description="Windows that start or end an episode."
    )
    min_predictions: int | None = Field(None, ge=1, description="Predictions before drift counts.")
    min_labelled: int | None = Field(None, ge=1, description="Labelled items before metrics count.")
    drift_share: float | None = Field(
        None, gt=0, le=1, description="Share of drifted features that makes the window drifted."
    )
    drift_methods: DriftMethods = Field(default_factory=DriftMethods)
    drift_thresholds: DriftThresholds = Field(default_factory=DriftThresholds)
    performance_margin: float | None = Field(
        None, ge=0, description="Relative fall below the holdout primary metric that degrades."
    )


class Monitoring(BaseModel):
    """The values in force for one scenario."""

    model_config = ConfigDict(frozen=True)

    window_seconds: float
    interval_seconds: float
    episode_windows: int
    min_predictions: int
    min_labelled: int
    drift_share: float
    drift_methods: dict[str, str]
    drift_thresholds: dict[str, float]
    performance_margin: float


def effective(settings: Settings, stored: dict[str, Any] | None) -> Monitoring:
    """The scenario's stored overrides (its `monitoring` field) over the settings' defaults."""
    config = MonitoringConfig.model_validate(stored or {})

    def pick(value: Any, default: Any) -> Any:
        return default if value is None else value

    return Monitoring(
        window_seconds=pick(config.window_seconds, settings.monitor_window),
        interval_seconds=pick(config.interval_seconds, settings.monitor_interval),
        episode_windows=pick(config.episode_windows, settings.monitor_episode_windows),
        min_predictions=pick(config.min_predictions, settings.monitor_min_predictions),
        min_labelled=pick(config.min_labelled, settings.monitor_min_labelled),
        drift_share=pick(config.drift_share, settings.drift_share),
        drift_methods=config.drift_methods.model_dump(exclude_none=True),
        drift_thresholds=config.drift_thresholds.model_dump(exclude_none=True),
        performance_margin=pick(config.performance_margin, settings.performance_margin),
    )
