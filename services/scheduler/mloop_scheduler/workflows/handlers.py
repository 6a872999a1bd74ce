"""Use cases of the workflow runner: start a run, move it on the outcome of what its steps wait
on, retry steps whose time came.

Each is one transaction with the run's row locked: the step states, the commands they send
(TrainModel, PrepareDataset, ModelPromoted) and a WorkflowStepFinished per step that ended are
written together through the outbox. After every change the run is advanced as far as it goes:
blocked steps are skipped, ready steps start (evaluation, deployment and notification finish at
once, which may make more steps ready), and the run ends when every step has.

Idempotency: a RunWorkflow makes one run per `workflow_run_id` (or per `event_id` when it names
none), however often it arrives. An outcome (ModelTrained, RunFailed, DatasetUploaded,
DatasetPrepared) moves only the step still running and waiting on that very command; a
redelivered or late one (for an attempt that was retried since) finds none and does nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from mloop_common.db.workflow_runs import (
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    WorkflowStep,
)
from mloop_common.delivery import PermanentError, first_delivery
from mloop_common.messages.commands import RunWorkflow
from mloop_common.messages.envelope import Message
from mloop_common.messages.events import (
    DatasetPrepared,
    DatasetUploaded,
    ModelTrained,
    RunFailed,
)
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_scheduler.context import Scheduler
from mloop_scheduler.workflows import adapters, steps
from mloop_scheduler.workflows.domain import (
    DATA_PREPROCESSING,
    MODEL_TRAINING,
    Plan,
    PlanError,
    Step,
    attempts_allowed,
)
from mloop_scheduler.workflows.runner import Runner

log = logging.getLogger(__name__)

TRAIN = "train"
MANUAL = "manual"
MAX_NAME = 128  # workflow_steps.name


def _now() -> datetime:
    return datetime.now(UTC)


# --- starting a run --------------------------------------------------------------------------


async def on_run_workflow(scheduler: Scheduler, command: RunWorkflow, *, consumer: str) -> None:
    async with scheduler.db.transaction() as session:
        if not await first_delivery(session, consumer=consumer, event_id=command.event_id):
            return
        workflow = await adapters.workflow(session, command.workflow_id)
        if workflow is None or (
            command.scenario_id is not None and workflow.scenario_id != command.scenario_id
        ):
            raise PermanentError(
                f"RunWorkflow {command.event_id}: no workflow {command.workflow_id} "
                f"in scenario {command.scenario_id}"
            )
        run_id = command.workflow_run_id or command.event_id
        started = await begin(
            session,
            scheduler,
            workflow,
            run_id=run_id,
            trigger=MANUAL,
            reason="",
            requested_by=command.requested_by,
            cause=command,
        )
        await session.commit()
    if started:
        scheduler.runtime.relay.notify()


async def start_train_workflow(
    session: AsyncSession,
    scheduler: Scheduler,
    scenario_id: uuid.UUID,
    *,
    trigger: str,
    reason: str,
    context: dict[str, Any] | None = None,
    cause: Message | None = None,
) -> uuid.UUID | None:
    """Start a run of the scenario's train workflow (its newest version) in the caller's
    transaction: the run, its steps and the commands of its first steps are staged there. None
    when the scenario has no train workflow. The caller commits, then calls
    `scheduler.runtime.relay.notify()` so the commands leave at once."""
    workflow = await adapters.latest_workflow(session, scenario_id, TRAIN)
    if workflow is None:
        return None
    run_id = uuid.uuid4()
    await begin(
        session,
        scheduler,
        workflow,
        run_id=run_id,
        trigger=trigger,
        reason=reason,
        requested_by=None,
        cause=cause,
        context=context,
    )
    return run_id


async def begin(
    session: AsyncSession,
    scheduler: Scheduler,
    workflow: Any,
    *,
    run_id: uuid.UUID,
    trigger: str,
    reason: str,
    requested_by: str | None,
    cause: Message | None,
    context: dict[str, Any] | None = None,
) -> bool:
    """Store the run and its steps, then start what can start; False when the run exists."""
    specs = list((workflow.spec or {}).get("steps") or [])
    now = _now()
    inserted = await adapters.insert_run(
        session,
        id=run_id,
        workflow_id=workflow.id,
        scenario_id=workflow.scenario_id,
        kind=workflow.kind,
        status=RUNNING,
        trigger=trigger[:32],
        reason=reason,
        requested_by=requested_by[:64] if requested_by else None,
        started_at=now,
        context=context or {},
    )
    if not inserted:
        return False
    run = await adapters.locked_run(session, run_id)
    assert run is not None
    try:
        _plan_of_specs(specs, default_attempts=scheduler.settings.workflow_step_attempts)
    except PlanError as error:
        run.status, run.finished_at = FAILED, now
        run.context = {**run.context, "error": f"the workflow's steps are unusable: {error}"}
        log.warning("workflow run %s refused: %s", run_id, error)
        return True
    if not specs:
        run.status, run.finished_at = SUCCEEDED, now
        return True
    for position, spec in enumerate(specs):
        needs = [str(need) for need in spec.get("needs") or []]
        session.add(
            WorkflowStep(
                workflow_run_id=run_id,
                name=str(spec["name"]),
                position=position,
                type=str(spec["type"]),
                needs=needs,
                config=dict(spec.get("config") or {}),
                max_attempts=attempts_allowed(
                    spec, default=scheduler.settings.workflow_step_attempts
                ),
                status=PENDING,
                attempts=0,
                output={},
            )
        )
    await session.flush()
    runner = Runner(scheduler, session, run, await adapters.steps(session, run_id), cause)
    await runner.advance()
    runner.finish()
    return True


def _plan_of_specs(specs: list[dict[str, Any]], *, default_attempts: int) -> Plan:
    if not all(isinstance(spec, dict) and "name" in spec and "type" in spec for spec in specs):
        raise PlanError("a step lacks a name or a type")
    if any(len(str(spec["name"])) > MAX_NAME for spec in specs):
        raise PlanError(f"a step name is longer than {MAX_NAME} characters")
    return Plan.of(
        Step(
            name=str(spec["name"]),
            type=str(spec["type"]),
            needs=tuple(str(need) for need in spec.get("needs") or []),
            max_attempts=attempts_allowed(spec, default=default_attempts),
        )
        for spec in specs
    )


# --- outcomes of what steps wait on ----------------------------------------------------------


async def on_model_trained(scheduler: Scheduler, event: ModelTrained) -> None:
    output = {"model_id": str(event.model_id), "metrics": dict(event.metrics)}
    await _outcome(scheduler, event, event.run_id, MODEL_TRAINING, _fixed(steps.Done(output)))


async def on_run_failed(scheduler: Scheduler, event: RunFailed) -> None:
    failed = steps.Failed(f"training: {event.error}")
    await _outcome(scheduler, event, event.run_id, MODEL_TRAINING, _fixed(failed))


async def on_dataset_uploaded(scheduler: Scheduler, event: DatasetUploaded) -> None:
    done = steps.Done({"dataset_id": str(event.dataset_id), "rows": event.rows})
    await _outcome(scheduler, event, event.dataset_id, DATA_PREPROCESSING, _fixed(done))


async def on_dataset_prepared(scheduler: Scheduler, event: DatasetPrepared) -> None:
    """A failed preparation fails the attempt. A successful one usually waits for the
    DatasetUploaded the gateway sends once it recorded the version; but when the path already
    held a version with the same content, the gateway keeps that one and records nothing, so the
    step succeeds here, on that version."""
    if event.dataset_id is None or event.scenario_id is None:
        return
    if event.error is not None:
        failed = steps.Failed(f"preparing the dataset: {event.error}")
        await _outcome(scheduler, event, event.dataset_id, DATA_PREPROCESSING, _fixed(failed))
        return
    if not event.path or not event.sha256:
        return
    scenario_id, path, sha256 = event.scenario_id, event.path, event.sha256

    async def same_content(session: AsyncSession) -> steps.StepOutcome | None:
        found = await adapters.prepared_version(session, scenario_id, path, sha256)
        if found is None or found.id == event.dataset_id:
            return None  # recorded under our id, or about to be: DatasetUploaded follows
        return steps.Done({"dataset_id": str(found.id), "rows": found.rows, "reused": True})

    await _outcome(scheduler, event, event.dataset_id, DATA_PREPROCESSING, same_content)


Decide = Callable[[AsyncSession], Awaitable[steps.StepOutcome | None]]


def _fixed(outcome: steps.StepOutcome) -> Decide:
    async def decide(session: AsyncSession) -> steps.StepOutcome:
        return outcome

    return decide


async def _outcome(
    scheduler: Scheduler, event: Message, command_id: uuid.UUID, type_: str, decide: Decide
) -> None:
    """Apply what `decide` makes of the event to the running step waiting on `command_id`."""
    async with scheduler.db.transaction() as session:
        waiting = await adapters.waiting_step(session, command_id, type_)
        if waiting is None:
            return
        run_id, name = waiting
        run = await adapters.locked_run(session, run_id)
        if run is None:
            return
        runner = Runner(scheduler, session, run, await adapters.steps(session, run_id), event)
        row = runner.rows.get(name)
        if row is None or row.status != RUNNING or row.command_id != command_id:
            return  # moved on while we waited for the lock
        outcome = await decide(session)
        if outcome is None:
            return
        runner.settle(name, outcome)
        await runner.advance()
        runner.finish()
        await session.commit()
    scheduler.runtime.relay.notify()


# --- the clock -------------------------------------------------------------------------------


async def retry_due(scheduler: Scheduler) -> int:
    """Start the steps whose retry time came; answers how many runs moved."""
    async with scheduler.db.transaction() as session:
        due = await adapters.runs_due(session, _now())
    moved = 0
    for run_id in due:
        async with scheduler.db.transaction() as session:
            run = await adapters.locked_run(session, run_id, skip_locked=True)
            if run is None:
                continue  # another replica (or a message) is moving it now
            runner = Runner(scheduler, session, run, await adapters.steps(session, run_id), None)
            await runner.advance()
            runner.finish()
            await session.commit()
            moved += 1
    if moved:
        scheduler.runtime.relay.notify()
    return moved
