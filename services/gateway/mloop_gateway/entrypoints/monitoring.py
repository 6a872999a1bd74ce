"""`/api/scenarios/{id}/monitoring`: the monitor's windows as a time series for charts, and the
drift of the latest measured window."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from mloop_gateway.entrypoints.deps import Ctx, Viewer
from mloop_gateway.handlers import monitoring

router = APIRouter(prefix="/api/scenarios/{scenario_id}/monitoring", tags=["monitoring"])


class Latency(BaseModel):
    p50: float | None = Field(description="Median latency (ms).")
    p95: float | None
    p99: float | None


class SeriesItem(BaseModel):
    start: datetime = Field(description="Start of the window (or of the bucket).")
    end: datetime = Field(description="End of the window (or of the bucket), exclusive.")
    model_id: uuid.UUID
    arm: str = Field(description="champion, challenger or shadow.")
    windows: int = Field(description="Windows in the point: 1 without a bucket.")
    predictions: float = Field(description="Predictions in the window (bucket: mean).")
    latency_ms: Latency
    labelled: float = Field(description="Predictions with feedback (bucket: mean).")
    metrics: dict[str, float | None] = Field(
        description="Live metrics (empty below the minimum labelled count; bucket: means)."
    )
    drifted: bool | None = Field(description="Inputs drifted (null: too few predictions).")
    drifted_share: float | None = Field(description="Share of drifted features.")
    drift: dict[str, float | None] = Field(
        description="Score of the deciding method per feature (bucket: mean)."
    )
    drifted_features: list[str]


class Series(BaseModel):
    since: datetime
    until: datetime
    bucket_seconds: float | None
    items: list[SeriesItem]


class FeatureDrift(BaseModel):
    method: str = Field(description="The method that decides: ks, psi, wasserstein, ...")
    score: float | None = Field(description="Its statistic (p-value for ks and chisquare).")
    drifted: bool
    statistics: dict[str, Any] = Field(
        default_factory=dict, description="The other methods' statistics, beside it."
    )


class WindowRef(BaseModel):
    start: datetime
    end: datetime
    arm: str
    predictions: int
    computed_at: datetime


class DriftReport(BaseModel):
    drifted: bool
    drifted_share: float | None
    model_id: uuid.UUID
    window: WindowRef
    features: dict[str, FeatureDrift]
    prediction: FeatureDrift | None = Field(description="Drift of the model's outputs.")


def _feature(entry: dict[str, Any]) -> FeatureDrift:
    rest = {k: v for k, v in entry.items() if k not in ("method", "score", "drifted")}
    return FeatureDrift(
        method=str(entry.get("method")),
        score=entry.get("score"),
        drifted=bool(entry.get("drifted")),
        statistics=rest,
    )


@router.get("", response_model=Series)
async def series(
    scenario_id: uuid.UUID,
    gw: Ctx,
    caller: Viewer,
    since: Annotated[
        datetime | None, Query(description="Windows ending at or after (default: a day ago).")
    ] = None,
    until: Annotated[datetime | None, Query(description="Windows ending before.")] = None,
    model_id: uuid.UUID | None = None,
    bucket: Annotated[
        str | None,
        Query(max_length=32, description="Aggregate per time bucket: seconds, or 30s, 5m, 1h, 1d."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10000, description="Newest points at most.")] = 1000,
) -> Series:
    """The scenario's monitoring windows, oldest first: volume, latency, live metrics and
    drift per model. With `bucket`, the windows of each bucket are aggregated (in SQL)."""
    seconds = monitoring.bucket_seconds(bucket)
    start, end, found = await monitoring.series(
        gw,
        caller,
        scenario_id,
        since=since,
        until=until,
        model_id=model_id,
        bucket=seconds,
        limit=limit,
    )
    items = [
        SeriesItem(
            start=p.start,
            end=p.end,
            model_id=p.model_id,
            arm=p.arm,
            windows=p.windows,
            predictions=p.predictions,
            latency_ms=Latency(p50=p.latency_p50, p95=p.latency_p95, p99=p.latency_p99),
            labelled=p.labelled,
            metrics=p.metrics,
            drifted=p.drifted,
            drifted_share=p.drifted_share,
            drift=p.drift,
            drifted_features=p.drifted_features,
        )
        for p in found
    ]
    return Series(since=start, until=end, bucket_seconds=seconds, items=items)


@router.get("/drift", response_model=DriftReport)
async def drift(
    scenario_id: uuid.UUID, gw: Ctx, caller: Viewer, model_id: uuid.UUID | None = None
) -> DriftReport:
    """Drift of every feature (and of the prediction) in the latest window where it was
    measured: 404 before the first such window."""
    window = await monitoring.drift(gw, caller, scenario_id, model_id=model_id)
    return DriftReport(
        drifted=bool(window.drifted),
        drifted_share=window.drifted_share,
        model_id=window.model_id,
        window=WindowRef(
            start=window.window_start,
            end=window.window_end,
            arm=window.arm,
            predictions=window.predictions,
            computed_at=window.computed_at,
        ),
        features={name: _feature(entry) for name, entry in (window.drift or {}).items()},
        prediction=_feature(window.prediction_drift) if window.prediction_drift else None,
    )
