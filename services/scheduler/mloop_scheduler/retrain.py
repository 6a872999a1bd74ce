"""Starting a retrain: the one entry point every trigger goes through.

When the scenario has a train workflow, `start_retrain` starts a run of it (its steps decide
the data and the model). Otherwise it takes the scenario's current champion, rebuilds its
configuration from its
lineage (feature set, model config, resource profile, the experiment's evaluation) on the latest
version of the champion's dataset path, and stages `TrainModel` through the outbox, in the
caller's transaction. It starts nothing, and says why, when there is no champion, the latest
data lacks what the champion needs, or a trigger already retrained the champion's experiment on
that same dataset version (a retrain that has not failed: the same data gives the same model).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mloop_common import outbox
from mloop_common.db import serving_reads
from mloop_common.db.catalog import DatasetVersion, Scenario
from mloop_common.db.catalog_reads import latest_dataset
from mloop_common.db.run_specs import NoRetrain, retrain_spec
from mloop_common.db.training import ModelVersion, Run
from mloop_common.db.triggers import DUPLICATE, FAILED, KINDS, STARTED, TriggerFiring
from mloop_common.leases import FAILED as RUN_FAILED
from mloop_common.leases import QUEUED, RUNNING
from mloop_common.messages.commands import TrainModel
from mloop_common.messages.envelope import Message
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_scheduler.context import SERVICE, Scheduler
from mloop_scheduler.workflows import start_train_workflow

# A started firing whose TrainModel the trainer has not recorded within this long is taken as
# lost (it no longer counts as a retrain under way).
PENDING_SECONDS = 600.0


@dataclass(frozen=True)
class Started:
    """A retrain run staged (`run_id`), or a run of the train workflow (`workflow_run_id`)."""

    run_id: uuid.UUID | None
    facts: dict[str, Any]
    workflow_run_id: uuid.UUID | None = None

    def detail(self) -> dict[str, Any]:
        return self.facts


@dataclass(frozen=True)
class Skipped:
    reason: str
    outcome: str = FAILED
    detail: dict[str, Any] | None = None


async def start_retrain(
    session: AsyncSession,
    scheduler: Scheduler,
    scenario_id: uuid.UUID,
    *,
    trigger: str,
    reason: str,
    caused_by: Message | None = None,
) -> Started | Skipped:
    """Stage a retrain of the scenario's champion on its path's latest data, in the caller's
    transaction (the caller commits, then wakes the relay). `trigger` is the run's trigger
    (schedule, drift, performance, new_data); `reason` is logged with the run's command."""
    scenario = await session.get(Scenario, scenario_id)
    if scenario is None:
        return Skipped("the scenario is gone")
    workflow_run = await start_train_workflow(
        session, scheduler, scenario_id, trigger=trigger, reason=reason, cause=caused_by
    )
    if workflow_run is not None:
        return Started(None, {"workflow_run_id": str(workflow_run)}, workflow_run)
    state = await serving_reads.deployment(session, scenario_id)
    if state is None or state.champion_model_id is None:
        return Skipped("no champion to retrain")
    champion = await session.get(ModelVersion, state.champion_model_id)
    if champion is None:
        return Skipped(f"champion {state.champion_model_id} is gone")
    trained_on = await session.get(DatasetVersion, champion.dataset_id)
    if trained_on is None:
        return Skipped(f"the champion's dataset version {champion.dataset_id} is gone")
    latest = await latest_dataset(session, scenario_id, trained_on.path)
    assert latest is not None  # trained_on is one
    facts = {
        "champion_model_id": str(champion.id),
        "dataset_id": str(latest.id),
        "dataset_version": latest.version,
    }
    try:
        spec = await retrain_spec(session, scenario, champion, latest)
    except NoRetrain as error:
        return Skipped(str(error), detail=facts)
    done = await _same_retrain(session, scenario_id, champion.experiment_id, latest.id)
    if done is not None:
        return Skipped(
            f"{latest.path} version {latest.version} was already retrained by a trigger "
            f"(run {done})",
            outcome=DUPLICATE,
            detail={**facts, "run_id": str(done)},
        )
    run_id = uuid.uuid4()
    ids = caused_by.caused() if caused_by is not None else {"scenario_id": scenario_id}
    outbox.stage(
        session,
        service=SERVICE,
        message=TrainModel(
            **ids,
            run_id=run_id,
            experiment_id=champion.experiment_id,
            trigger=trigger,
            spec=spec,
        ),
    )
    return Started(
        run_id,
        {
            **facts,
            "experiment_id": str(champion.experiment_id) if champion.experiment_id else None,
            "dataset_path": latest.path,
        },
    )


async def _same_retrain(
    session: AsyncSession,
    scenario_id: uuid.UUID,
    experiment_id: uuid.UUID | None,
    dataset_id: uuid.UUID,
) -> uuid.UUID | None:
    """A run a trigger started from the experiment on the dataset version that has not failed
    (recorded by the trainer, or only staged so far), if any."""
    if experiment_id is None:
        return None
    recorded = await session.scalar(
        select(Run.id)
        .where(
            Run.scenario_id == scenario_id,
            Run.experiment_id == experiment_id,
            Run.trigger.in_(KINDS),
            Run.status != RUN_FAILED,
            Run.spec["dataset_id"].astext == str(dataset_id),
        )
        .limit(1)
    )
    if recorded is not None:
        return recorded
    return await session.scalar(
        pending_firings(scenario_id)
        .with_only_columns(TriggerFiring.run_id)
        .where(
            TriggerFiring.detail["experiment_id"].astext == str(experiment_id),
            TriggerFiring.detail["dataset_id"].astext == str(dataset_id),
        )
        .limit(1)
    )


def pending_firings(scenario_id: uuid.UUID) -> Any:
    """Started firings of the scenario whose run the trainer has not recorded yet (recently)."""
    since = datetime.now(UTC) - timedelta(seconds=PENDING_SECONDS)
    return (
        select(TriggerFiring)
        .outerjoin(Run, Run.id == TriggerFiring.run_id)
        .where(
            TriggerFiring.scenario_id == scenario_id,
            TriggerFiring.outcome == STARTED,
            TriggerFiring.at >= since,
            Run.id.is_(None),
        )
    )


async def active_retrains(session: AsyncSession, scenario_id: uuid.UUID) -> int:
    """Runs of the scenario queued or running, plus retrains staged but not yet recorded."""
    running = await session.scalar(
        select(func.count())
        .select_from(Run)
        .where(Run.scenario_id == scenario_id, Run.status.in_((QUEUED, RUNNING)))
    )
    pending = await session.scalar(
        pending_firings(scenario_id).with_only_columns(func.count(TriggerFiring.id))
    )
    return (running or 0) + (pending or 0)
