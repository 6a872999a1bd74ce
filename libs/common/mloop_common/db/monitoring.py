"""Tables of monitoring, written by the monitor (the gateway reads them).

`monitoring_windows` holds one row per scenario, model and window end: the window's volume,
latency percentiles, live metrics over its labelled predictions, and the drift of every feature
(and of the prediction) against the model's reference profile. Old rows go with retention.

`monitor_episodes` holds, per scenario and kind (`drift` or `performance`), the state of the
current episode of the champion (`mloop_monitor.domain.episodes.Episode`), so an alarm is
raised once per episode across restarts and replicas.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    case,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from mloop_common.db import catalog  # noqa: F401  (the tables its foreign keys name)
from mloop_common.db.models import Base

DRIFT, PERFORMANCE = "drift", "performance"


class MonitoringWindow(Base):
    """The statistics of one model's predictions over [window_start, window_end).

    `drift` is `{feature: {"method", "score", "drifted", ...other statistics}}` (empty when the
    window had too few predictions to judge, then `drifted` is null); `prediction_drift` is the
    same for the model's outputs against the holdout's. `metrics` are the live metrics over the
    labelled predictions of the window (empty below the minimum labelled count)."""

    __tablename__ = "monitoring_windows"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    scenario_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("scenarios.id", ondelete="CASCADE"))
    model_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    arm: Mapped[str] = mapped_column(String(16))
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    predictions: Mapped[int] = mapped_column(Integer)
    latency_p50: Mapped[float | None] = mapped_column(Float)
    latency_p95: Mapped[float | None] = mapped_column(Float)
    latency_p99: Mapped[float | None] = mapped_column(Float)
    labelled: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    drift: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    prediction_drift: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    drifted: Mapped[bool | None] = mapped_column(Boolean)
    drifted_share: Mapped[float | None] = mapped_column(Float)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    computed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        UniqueConstraint("scenario_id", "model_id", "window_end"),
        Index("ix_monitoring_windows_series", "scenario_id", "window_end"),
        Index("ix_monitoring_windows_end", "window_end"),
    )


class MonitorEpisode(Base):
    """The current episode of one kind for a scenario's champion: `state` is the `Episode`
    (`{"active", "streak"}`), `started_at` when the active episode began (null when none)."""

    __tablename__ = "monitor_episodes"

    scenario_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scenarios.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    model_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    state: Mapped[dict[str, Any]] = mapped_column(JSONB)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# --- reads (the gateway shows them) ----------------------------------------------------------


@dataclass(frozen=True)
class SeriesPoint:
    """One point of a monitoring time series: a window, or the windows of a time bucket
    (averages; `drifted` when any of them drifted; `drift` the mean score per feature)."""

    start: datetime
    end: datetime
    model_id: uuid.UUID
    arm: str
    windows: int
    predictions: float
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    labelled: float
    metrics: dict[str, float]
    drifted: bool | None
    drifted_share: float | None
    drift: dict[str, float | None]
    drifted_features: list[str]


async def window_series(
    session: AsyncSession,
    scenario_id: uuid.UUID,
    *,
    since: datetime,
    until: datetime,
    model_id: uuid.UUID | None = None,
    limit: int,
) -> list[SeriesPoint]:
    """The newest `limit` windows ending in [since, until), oldest first."""
    query = (
        select(MonitoringWindow)
        .where(
            MonitoringWindow.scenario_id == scenario_id,
            MonitoringWindow.window_end >= since,
            MonitoringWindow.window_end < until,
        )
        .order_by(MonitoringWindow.window_end.desc(), MonitoringWindow.arm)
        .limit(limit)
    )
    if model_id is not None:
        query = query.where(MonitoringWindow.model_id == model_id)
    rows = list((await session.scalars(query)).all())
    rows.reverse()
    return [
        SeriesPoint(
            start=row.window_start,
            end=row.window_end,
            model_id=row.model_id,
            arm=row.arm,
            windows=1,
            predictions=row.predictions,
            latency_p50=row.latency_p50,
            latency_p95=row.latency_p95,
            latency_p99=row.latency_p99,
            labelled=row.labelled,
            metrics=row.metrics or {},
            drifted=row.drifted,
            drifted_share=row.drifted_share,
            drift={name: entry.get("score") for name, entry in (row.drift or {}).items()},
            drifted_features=[name for name, e in (row.drift or {}).items() if e.get("drifted")],
        )
        for row in rows
    ]


BUCKETS = text(
    """
    WITH w AS (
        SELECT *, date_bin(make_interval(secs => CAST(:bucket AS float8)), window_end,
                           TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket
        FROM monitoring_windows
        WHERE scenario_id = :scenario_id AND window_end >= :since AND window_end < :until
          AND (CAST(:model_id AS uuid) IS NULL OR model_id = CAST(:model_id AS uuid))
    ),
    metric AS (
        SELECT bucket, model_id, jsonb_object_agg(key, value) AS metrics
        FROM (
            SELECT bucket, model_id, e.key, avg(CAST(e.value AS text)::float8) AS value
            FROM w, jsonb_each(w.metrics) AS e
            WHERE jsonb_typeof(e.value) = 'number'
            GROUP BY bucket, model_id, e.key
        ) m
        GROUP BY bucket, model_id
    ),
    feature AS (
        SELECT bucket, model_id, jsonb_object_agg(key, score) AS drift,
               coalesce(array_agg(key ORDER BY key) FILTER (WHERE drifted), '{}') AS drifted
        FROM (
            SELECT bucket, model_id, e.key,
                   avg(CAST(e.value ->> 'score' AS float8)) AS score,
                   bool_or(CAST(e.value ->> 'drifted' AS boolean)) AS drifted
            FROM w, jsonb_each(w.drift) AS e
            GROUP BY bucket, model_id, e.key
        ) f
        GROUP BY bucket, model_id
    ),
    main AS (
        SELECT bucket, model_id, min(arm) AS arm, count(*) AS windows,
               max(window_end) AS last_end,
               avg(predictions) AS predictions, avg(latency_p50) AS p50,
               avg(latency_p95) AS p95, avg(latency_p99) AS p99, avg(labelled) AS labelled,
               bool_or(drifted) AS drifted, avg(drifted_share) AS drifted_share
        FROM w
        GROUP BY bucket, model_id
        ORDER BY bucket DESC, model_id
        LIMIT :limit
    )
    SELECT main.*, metric.metrics, feature.drift, feature.drifted AS drifted_features
    FROM main
    LEFT JOIN metric USING (bucket, model_id)
    LEFT JOIN feature USING (bucket, model_id)
    ORDER BY main.bucket, main.model_id
    """
)


async def bucket_series(
    session: AsyncSession,
    scenario_id: uuid.UUID,
    *,
    since: datetime,
    until: datetime,
    bucket_seconds: float,
    model_id: uuid.UUID | None = None,
    limit: int,
) -> list[SeriesPoint]:
    """The windows ending in [since, until) aggregated per model and time bucket (aligned on
    multiples of `bucket_seconds` since 2000-01-01 UTC), in SQL; the newest `limit` buckets,
    oldest first."""
    rows = await session.execute(
        BUCKETS,
        {
            "scenario_id": scenario_id,
            "since": since,
            "until": until,
            "bucket": bucket_seconds,
            "model_id": model_id,
            "limit": limit,
        },
    )
    return [
        SeriesPoint(
            start=row.bucket,
            end=row.bucket + timedelta(seconds=bucket_seconds),
            model_id=row.model_id,
            arm=row.arm,
            windows=row.windows,
            predictions=float(row.predictions),
            latency_p50=row.p50,
            latency_p95=row.p95,
            latency_p99=row.p99,
            labelled=float(row.labelled),
            metrics=row.metrics or {},
            drifted=row.drifted,
            drifted_share=row.drifted_share,
            drift=row.drift or {},
            drifted_features=list(row.drifted_features or []),
        )
        for row in rows
    ]


async def latest_drift(
    session: AsyncSession, scenario_id: uuid.UUID, *, model_id: uuid.UUID | None = None
) -> MonitoringWindow | None:
    """The latest window whose drift was measured (the champion's first at equal ends)."""
    query = (
        select(MonitoringWindow)
        .where(MonitoringWindow.scenario_id == scenario_id, MonitoringWindow.drifted.is_not(None))
        .order_by(
            MonitoringWindow.window_end.desc(),
            case((MonitoringWindow.arm == "champion", 0), else_=1),
        )
        .limit(1)
    )
    if model_id is not None:
        query = query.where(MonitoringWindow.model_id == model_id)
    return await session.scalar(query)
