"""Postgres reads and writes of the monitoring windows.

Per window: one aggregate statement gives every model's volume and latency percentiles, one
statement per model fetches the newest rows' inputs and outputs as JSON text (decoded with
orjson into a frame, no ORM objects), one join reads its labelled predictions. The window rows,
the episodes and the events they start are written in one transaction, under a per-scenario
advisory lock that a second replica skips.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import orjson
from mloop_common import outbox
from mloop_common.db.catalog import Scenario
from mloop_common.db.labelled import labelled
from mloop_common.db.monitoring import MonitorEpisode, MonitoringWindow
from mloop_common.db.serving import Deployment
from mloop_common.db.training import ModelVersion
from mloop_common.messages import Message
from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from mloop_monitor.domain.windows import EpisodeState, ModelFacts, Volume, Window

LOCK = text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))")

VOLUMES = text(
    """
    SELECT model_id, count(*) AS n,
           percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ms) AS p
    FROM predictions
    WHERE scenario_id = :scenario_id AND predicted_at >= :start AND predicted_at < :end
    GROUP BY model_id
    """
)

ROWS = text(
    """
    SELECT inputs::text AS inputs, output::text AS output
    FROM predictions
    WHERE scenario_id = :scenario_id AND model_id = :model_id
      AND predicted_at >= :start AND predicted_at < :end
    ORDER BY predicted_at DESC
    LIMIT :cap
    """
)


@dataclass(frozen=True)
class Watched:
    """A scenario with a champion, its stored monitoring overrides and its last window."""

    scenario_id: uuid.UUID
    monitoring: dict[str, Any]
    champion: uuid.UUID
    challenger: uuid.UUID | None
    mode: str
    last_end: datetime | None


async def watched(session: AsyncSession) -> list[Watched]:
    """Every scenario that has a champion, with the end of its latest stored window."""
    last = (
        select(func.max(MonitoringWindow.window_end))
        .where(MonitoringWindow.scenario_id == Scenario.id)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(
            Scenario.id,
            Scenario.monitoring,
            Deployment.champion_model_id,
            Deployment.challenger_model_id,
            Deployment.mode,
            last,
        )
        .join(Deployment, Deployment.scenario_id == Scenario.id)
        .where(Deployment.champion_model_id.is_not(None))
    )
    return [
        Watched(sid, monitoring or {}, champion, challenger, mode, end)
        for sid, monitoring, champion, challenger, mode, end in rows
    ]


async def lock_scenario(session: AsyncSession, scenario_id: uuid.UUID) -> bool:
    """Hold the scenario's window lock until the transaction ends; False if another has it."""
    return bool(await session.scalar(LOCK, {"key": f"mloop-monitor-window:{scenario_id}"}))


async def last_end(session: AsyncSession, scenario_id: uuid.UUID) -> datetime | None:
    return await session.scalar(
        select(func.max(MonitoringWindow.window_end)).where(
            MonitoringWindow.scenario_id == scenario_id
        )
    )


async def model_facts(
    session: AsyncSession, scenario_id: uuid.UUID, model_id: uuid.UUID
) -> ModelFacts | None:
    """The model's signature, reference profile (a deferred column) and holdout metric."""
    row = await session.scalar(
        select(ModelVersion)
        .options(undefer(ModelVersion.reference))
        .where(ModelVersion.id == model_id, ModelVersion.scenario_id == scenario_id)
    )
    if row is None:
        return None
    return ModelFacts.of(
        model_id=row.id,
        task_type=row.task_type,
        signature=row.signature or {},
        reference=row.reference,
        primary_metric=row.primary_metric,
        primary_value=row.primary_value,
        higher_is_better=row.higher_is_better,
    )


async def volumes(
    session: AsyncSession, scenario_id: uuid.UUID, start: datetime, end: datetime
) -> dict[uuid.UUID, Volume]:
    """Predictions and latency percentiles per model made in [start, end)."""
    rows = await session.execute(VOLUMES, {"scenario_id": scenario_id, "start": start, "end": end})
    found: dict[uuid.UUID, Volume] = {}
    for model_id, count, percentiles in rows:
        p50, p95, p99 = percentiles if percentiles else (None, None, None)
        found[model_id] = Volume(int(count), p50, p95, p99)
    return found


async def newest_rows(
    session: AsyncSession,
    scenario_id: uuid.UUID,
    model_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    cap: int,
) -> tuple[list[dict[str, Any]], list[Any]]:
    """The inputs and outputs of the model's newest `cap` predictions in [start, end)."""
    result = await session.execute(
        ROWS,
        {"scenario_id": scenario_id, "model_id": model_id, "start": start, "end": end, "cap": cap},
    )
    inputs: list[dict[str, Any]] = []
    outputs: list[Any] = []
    loads = orjson.loads
    for raw_inputs, raw_output in result.tuples():
        record = loads(raw_inputs)
        inputs.append(record if isinstance(record, dict) else {})
        outputs.append(loads(raw_output))
    return inputs, outputs


async def labelled_pairs(
    session: AsyncSession,
    scenario_id: uuid.UUID,
    model_id: uuid.UUID,
    start: datetime,
    end: datetime,
) -> tuple[list[Any], list[Any]]:
    """(outputs, actuals) of the model's predictions in [start, end) that got feedback."""
    found = await labelled(session, scenario_id, model_id=model_id, since=start, until=end)
    return [row.output for row in found], [row.actual for row in found]


async def episodes(
    session: AsyncSession, scenario_id: uuid.UUID
) -> dict[str, tuple[EpisodeState, datetime | None]]:
    """The scenario's stored episodes by kind (locked until the transaction ends)."""
    rows = await session.scalars(
        select(MonitorEpisode).where(MonitorEpisode.scenario_id == scenario_id).with_for_update()
    )
    return {
        row.kind: (EpisodeState.from_json(row.model_id, row.state), row.started_at) for row in rows
    }


async def save(
    session: AsyncSession,
    *,
    scenario_id: uuid.UUID,
    windows: Sequence[Window],
    episodes: dict[str, tuple[EpisodeState, datetime | None]],
    events: Sequence[Message],
    service: str,
    now: datetime,
) -> None:
    """Write the windows, the episodes and the events they started (the caller commits)."""
    if windows:
        await session.execute(
            insert(MonitoringWindow)
            .values([_window_row(scenario_id, window, now) for window in windows])
            .on_conflict_do_nothing(index_elements=["scenario_id", "model_id", "window_end"])
        )
    for kind, (state, started_at) in episodes.items():
        values = {
            "scenario_id": scenario_id,
            "kind": kind,
            "model_id": state.model_id,
            "state": state.as_json(),
            "started_at": started_at,
            "updated_at": now,
        }
        await session.execute(
            insert(MonitorEpisode)
            .values(values)
            .on_conflict_do_update(
                index_elements=["scenario_id", "kind"],
                set_={k: v for k, v in values.items() if k not in ("scenario_id", "kind")},
            )
        )
    for event in events:
        outbox.stage(session, service=service, message=event)


def _window_row(scenario_id: uuid.UUID, window: Window, now: datetime) -> dict[str, Any]:
    return {
        "scenario_id": scenario_id,
        "model_id": window.model_id,
        "arm": window.arm,
        "window_start": window.start,
        "window_end": window.end,
        "predictions": window.volume.predictions,
        "latency_p50": window.volume.p50,
        "latency_p95": window.volume.p95,
        "latency_p99": window.volume.p99,
        "labelled": window.live.labelled,
        "metrics": _json(window.live.metrics),
        "drift": _json(window.drift.features),
        "prediction_drift": _json(window.drift.prediction),
        "drifted": window.drift.drifted,
        "drifted_share": window.drift.share,
        "details": _json(_details(window)),
        "computed_at": now,
    }


def _json(value: Any) -> Any:
    """`value` with every non-finite float as null (JSONB holds no NaN or Infinity)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): _json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(item) for item in value]
    return value


def _details(window: Window) -> dict[str, Any]:
    """Why a part of the window has no verdict, and what the verdicts were measured on."""
    details: dict[str, Any] = {"drift_rows": window.sampled}
    if window.drift.reason:
        details["drift_reason"] = window.drift.reason
    if window.live.reason:
        details["metrics_reason"] = window.live.reason
    if window.live.unreadable:
        details["unreadable_feedback"] = window.live.unreadable
    if window.live.value is not None:
        details["primary_value"] = window.live.value
    if window.live.threshold is not None:
        details["threshold"] = window.live.threshold
        details["degraded"] = window.live.degraded
    return details


async def delete_older(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(
        delete(MonitoringWindow).where(MonitoringWindow.window_end < before)
    )
    return result.rowcount
