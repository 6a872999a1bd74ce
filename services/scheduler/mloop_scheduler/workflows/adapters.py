"""The workflow runner's rows in Postgres: its own (`workflow_runs`, `workflow_steps`) and what it
reads of others' (workflow definitions, scenarios, dataset versions, models, the deployment).

Every change to a run happens with its `workflow_runs` row locked, so the messages and ticks
that move one run apply one at a time, whichever replica handles them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from mloop_common.db import serving_reads, workflows
from mloop_common.db.catalog import DatasetVersion, Scenario
from mloop_common.db.training import ModelVersion
from mloop_common.db.workflow_runs import PENDING, RUNNING, WorkflowRun, WorkflowStep
from mloop_common.db.workflows import Workflow
from mloop_common.messages.events import DeploymentState
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_scheduler.adapters import deployments as deployment_rows
from mloop_scheduler.domain import deployments as deployment_domain
from mloop_scheduler.domain.deployments import Outcome
from mloop_scheduler.workflows.domain import DEPLOYMENT, MODEL_TRAINING

# --- definitions -----------------------------------------------------------------------------


async def workflow(session: AsyncSession, workflow_id: uuid.UUID) -> Workflow | None:
    return await workflows.get(session, workflow_id)


async def latest_workflow(
    session: AsyncSession, scenario_id: uuid.UUID, kind: str
) -> Workflow | None:
    """The version in force (the newest) of the scenario's workflow of `kind`."""
    return await workflows.latest(session, scenario_id, kind)


# --- runs and steps --------------------------------------------------------------------------


async def insert_run(session: AsyncSession, **values: Any) -> bool:
    """Store a new run; False when a run with its id exists already (a redelivered command)."""
    inserted = await session.execute(
        pg_insert(WorkflowRun)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[WorkflowRun.id])
        .returning(WorkflowRun.id)
    )
    return inserted.scalar_one_or_none() is not None


async def locked_run(
    session: AsyncSession, run_id: uuid.UUID, *, skip_locked: bool = False
) -> WorkflowRun | None:
    """The run, locked until commit (None when gone, or taken when `skip_locked`)."""
    query = (
        select(WorkflowRun)
        .where(WorkflowRun.id == run_id)
        .with_for_update(skip_locked=skip_locked)
        .execution_options(populate_existing=True)
    )
    return await session.scalar(query)


async def steps(session: AsyncSession, run_id: uuid.UUID) -> list[WorkflowStep]:
    found = await session.scalars(
        select(WorkflowStep)
        .where(WorkflowStep.workflow_run_id == run_id)
        .order_by(WorkflowStep.position)
        .execution_options(populate_existing=True)
    )
    return list(found)


async def waiting_step(
    session: AsyncSession, command_id: uuid.UUID, type_: str
) -> tuple[uuid.UUID, str] | None:
    """(run id, step name) of the running step of `type_` waiting on `command_id`."""
    found = await session.execute(
        select(WorkflowStep.workflow_run_id, WorkflowStep.name).where(
            WorkflowStep.command_id == command_id,
            WorkflowStep.type == type_,
            WorkflowStep.status == RUNNING,
        )
    )
    row = found.first()
    return None if row is None else (row[0], row[1])


async def deployment_step_for(
    session: AsyncSession, training_run_id: uuid.UUID
) -> tuple[uuid.UUID, str] | None:
    """(workflow run id, step name) of the deployment step of the workflow run whose training
    step started the training run `training_run_id`; None when no workflow run started it, or
    the workflow has no deployment step (its model is then left to the scenario's policy)."""
    started_by = (
        select(WorkflowStep.workflow_run_id)
        .where(WorkflowStep.command_id == training_run_id, WorkflowStep.type == MODEL_TRAINING)
        .limit(1)
        .scalar_subquery()
    )
    found = await session.execute(
        select(WorkflowStep.workflow_run_id, WorkflowStep.name)
        .where(WorkflowStep.workflow_run_id == started_by, WorkflowStep.type == DEPLOYMENT)
        .order_by(WorkflowStep.position)
        .limit(1)
    )
    row = found.first()
    return None if row is None else (row[0], row[1])


async def runs_due(session: AsyncSession, now: datetime, *, limit: int = 100) -> list[uuid.UUID]:
    """Runs with a step whose retry is due."""
    found = await session.scalars(
        select(WorkflowStep.workflow_run_id)
        .where(
            WorkflowStep.status == PENDING,
            WorkflowStep.retry_at.is_not(None),
            WorkflowStep.retry_at <= now,
        )
        .distinct()
        .limit(limit)
    )
    return list(found)


# --- what steps read -------------------------------------------------------------------------


async def scenario(session: AsyncSession, scenario_id: uuid.UUID) -> Scenario | None:
    return await session.get(Scenario, scenario_id)


async def dataset(session: AsyncSession, dataset_id: uuid.UUID) -> DatasetVersion | None:
    return await session.get(DatasetVersion, dataset_id)


async def prepared_version(
    session: AsyncSession, scenario_id: uuid.UUID, path: str, sha256: str
) -> DatasetVersion | None:
    """The version holding a prepared file, once the gateway recorded it (or the older version
    with the same content, which the gateway keeps instead of recording a copy)."""
    return await workflows.prepared_version(session, scenario_id, path, sha256)


async def model(
    session: AsyncSession, scenario_id: uuid.UUID, model_id: uuid.UUID
) -> ModelVersion | None:
    return await serving_reads.scenario_model(session, scenario_id, model_id)


# --- deployment ------------------------------------------------------------------------------


async def promote(
    session: AsyncSession, scenario_id: uuid.UUID, model_id: uuid.UUID, *, reason: str
) -> tuple[DeploymentState | None, Outcome | None]:
    """Make the model the champion with the scheduler's deployment rules, in the caller's
    transaction: (state, outcome), outcome None when it is the champion already. Raises
    `deployments.Refused` when the change is not allowed (an A/B test runs, the model is gone).
    The caller stages ModelPromoted."""
    row = await deployment_rows.lock_deployment(session, scenario_id)
    state = deployment_rows.current_state(row)
    if state is not None and state.champion_model_id == model_id:
        return state, None
    if await serving_reads.scenario_model(session, scenario_id, model_id, lock=True) is None:
        raise deployment_domain.Refused(f"model {model_id} does not exist in the scenario")
    outcome = deployment_domain.promote(state, model_id, reason=reason)
    await deployment_rows.write_outcome(session, scenario_id, row, outcome, None)
    return outcome.state, outcome
