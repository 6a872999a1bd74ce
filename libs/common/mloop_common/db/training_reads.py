"""Read queries over the training tables, for every service that shows or uses runs and models.

A run is seen through two rows: the gateway's request (present from the API call on) and the
trainer's run (present once the trainer has recorded the TrainModel command). Either may be
missing: a run requested a moment ago has no trainer row yet, and runs the scheduler starts
have no request row. `RunView` joins them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_common.db.paging import Position, newest_first
from mloop_common.db.training import COMPLETED, ModelVersion, Run, RunLog, RunRequest
from mloop_common.leases import QUEUED, RUNNING

ACTIVE = (QUEUED, RUNNING)


@dataclass(frozen=True)
class RunView:
    request: RunRequest | None
    run: Run | None

    @property
    def id(self) -> uuid.UUID:
        return (self.run or self.request).id  # type: ignore[union-attr]

    @property
    def created_at(self) -> datetime:
        if self.request is not None:
            return self.request.requested_at
        return self.run.created_at  # type: ignore[union-attr]

    @property
    def status(self) -> str:
        return self.run.status if self.run is not None else QUEUED

    def public(self) -> dict[str, Any]:
        run, request = self.run, self.request
        return {
            "id": self.id,
            "scenario_id": (run or request).scenario_id,  # type: ignore[union-attr]
            "experiment_id": (run or request).experiment_id,  # type: ignore[union-attr]
            "status": self.status,
            "progress": run.progress if run else 0.0,
            "message": run.message if run else "waiting for a trainer",
            "metrics": run.metrics if run else {},
            "model_id": run.model_id if run else None,
            "error": run.error if run else None,
            "algorithm": (run or request).algorithm,  # type: ignore[union-attr]
            "trigger": (run or request).trigger,  # type: ignore[union-attr]
            "attempts": run.attempts if run else 0,
            "worker": run.worker if run else None,
            "resources": {
                "peak_memory_mb": run.peak_memory_mb if run else None,
                "cpu_seconds": run.cpu_seconds if run else None,
                "wall_seconds": run.wall_seconds if run else None,
            },
            "trials": run.trials if run else [],
            "created_at": self.created_at,
            "started_at": run.started_at if run else None,
            "finished_at": run.finished_at if run else None,
        }


def _runs_query(scenario_id: uuid.UUID) -> Select[tuple[RunRequest, Run]]:
    return (
        select(RunRequest, Run)
        .join(Run, RunRequest.id == Run.id, full=True)
        .where(or_(RunRequest.scenario_id == scenario_id, Run.scenario_id == scenario_id))
    )


async def get_run(
    session: AsyncSession, scenario_id: uuid.UUID, run_id: uuid.UUID
) -> RunView | None:
    row = (
        await session.execute(
            _runs_query(scenario_id).where(or_(RunRequest.id == run_id, Run.id == run_id))
        )
    ).first()
    return RunView(*row) if row else None


async def page_runs(
    session: AsyncSession,
    scenario_id: uuid.UUID,
    *,
    limit: int,
    after: Position | None = None,
    experiment_id: uuid.UUID | None = None,
    status: str | None = None,
) -> list[RunView]:
    """Runs newest first, from the one after `after` (the last run of the previous page)."""
    created = func.coalesce(RunRequest.requested_at, Run.created_at)
    id_ = func.coalesce(RunRequest.id, Run.id)
    query = newest_first(_runs_query(scenario_id), created, id_, after=after, limit=limit)
    if experiment_id is not None:
        query = query.where(
            or_(RunRequest.experiment_id == experiment_id, Run.experiment_id == experiment_id)
        )
    if status is not None:
        query = query.where(func.coalesce(Run.status, literal(QUEUED, String)) == status)
    return [RunView(*row) for row in (await session.execute(query)).all()]


async def latest_runs(
    session: AsyncSession, scenario_id: uuid.UUID, experiment_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, RunView]:
    """Each experiment's latest completed run, else its latest run (none: not in the dict)."""
    experiment = func.coalesce(RunRequest.experiment_id, Run.experiment_id)
    query = (
        _runs_query(scenario_id)
        .where(experiment.in_(experiment_ids))
        .distinct(experiment)
        .order_by(
            experiment,
            (Run.status == COMPLETED).is_(True).desc(),
            func.coalesce(RunRequest.requested_at, Run.created_at).desc(),
        )
    )
    views = [RunView(*row) for row in (await session.execute(query)).all()]
    return {(view.run or view.request).experiment_id: view for view in views}  # type: ignore[union-attr]


async def active_runs(session: AsyncSession, scenario_id: uuid.UUID) -> int:
    """Runs of the scenario that are queued or running (requested ones included)."""
    query = (
        select(func.count())
        .select_from(RunRequest)
        .join(Run, RunRequest.id == Run.id, full=True)
        .where(or_(RunRequest.scenario_id == scenario_id, Run.scenario_id == scenario_id))
        .where(func.coalesce(Run.status, literal(QUEUED, String)).in_(ACTIVE))
    )
    return (await session.scalar(query)) or 0


def experiment_status_query(experiment_ids: Sequence[uuid.UUID]) -> Select[Any]:
    """(experiment id, status, number of runs): planned without runs, else its latest run's
    status, `running` while that run is queued or running."""
    latest = (
        select(
            RunRequest.experiment_id,
            func.coalesce(Run.status, literal(QUEUED, String)).label("status"),
            func.row_number()
            .over(partition_by=RunRequest.experiment_id, order_by=RunRequest.requested_at.desc())
            .label("rank"),
            func.count().over(partition_by=RunRequest.experiment_id).label("runs"),
        )
        .join(Run, RunRequest.id == Run.id, isouter=True)
        .where(RunRequest.experiment_id.in_(experiment_ids))
        .subquery()
    )
    status = case((latest.c.status.in_(ACTIVE), "running"), else_=latest.c.status).label("status")
    return select(latest.c.experiment_id, status, latest.c.runs).where(latest.c.rank == 1)


async def experiment_statuses(
    session: AsyncSession, experiment_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, int]]:
    rows = (await session.execute(experiment_status_query(experiment_ids))).all()
    found = {row.experiment_id: (row.status, row.runs) for row in rows}
    return {id_: found.get(id_, ("planned", 0)) for id_ in experiment_ids}


async def log_lines(
    session: AsyncSession, run_id: uuid.UUID, *, after: int, limit: int
) -> Sequence[RunLog]:
    query = (
        select(RunLog)
        .where(RunLog.run_id == run_id, RunLog.id > after)
        .order_by(RunLog.id)
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def best_model(
    session: AsyncSession, scenario_id: uuid.UUID, *, metric: str, higher_is_better: bool
) -> ModelVersion | None:
    """The scenario's best model by `metric` (models trained for another metric rank by their
    metrics' value of this one when they report it)."""
    value = ModelVersion.metrics[metric].as_float()
    order = value.desc() if higher_is_better else value.asc()
    query = (
        select(ModelVersion)
        .where(ModelVersion.scenario_id == scenario_id, ModelVersion.metrics.has_key(metric))
        .order_by(order, ModelVersion.created_at.desc())
        .limit(1)
    )
    return await session.scalar(query)


async def models_by_rank(
    session: AsyncSession, scenario_id: uuid.UUID, *, metric: str, higher_is_better: bool
) -> Sequence[uuid.UUID]:
    """Ids of every model of the scenario, best first by `metric` (without it: last)."""
    value = ModelVersion.metrics[metric].as_float()
    order = value.desc() if higher_is_better else value.asc()
    query = (
        select(ModelVersion.id)
        .where(ModelVersion.scenario_id == scenario_id)
        .order_by(order.nulls_last(), ModelVersion.created_at.desc())
    )
    return (await session.scalars(query)).all()
