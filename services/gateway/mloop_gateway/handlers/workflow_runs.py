"""Workflow runs (the scheduler owns them): start one, list them, read one with its steps.

Starting a run sends RunWorkflow to the scheduler through the outbox, in the transaction that
records it in the audit log; the gateway chooses the run's id and puts it in the command, so the
caller can follow the run. The gateway writes no run row: the run exists (and GET finds it) once
the scheduler has handled the command, usually well under a second later; until then GET
answers 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from mloop_common import outbox
from mloop_common.db import workflow_runs, workflows
from mloop_common.db.paging import Position
from mloop_common.keyring import Grant
from mloop_common.messages.commands import RunWorkflow
from mloop_common.problems import Problem, not_found

from mloop_gateway.context import SERVICE, Gateway
from mloop_gateway.handlers import audit, scenarios

QUEUED = "queued"


async def start(gw: Gateway, grant: Grant, scenario_id: uuid.UUID, kind: str) -> dict[str, Any]:
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        workflow = await workflows.latest(session, scenario_id, kind)
        if workflow is None:
            raise Problem(
                404,
                "Not found",
                f"Scenario {scenario_id} has no {kind} workflow; define one first "
                f"(/api/scenarios/{scenario_id}/workflows/{kind}).",
            )
        run_id = uuid.uuid4()
        command = RunWorkflow(
            scenario_id=scenario_id,
            workflow_id=workflow.id,
            workflow_run_id=run_id,
            requested_by=str(grant.key_id) if grant.key_id else None,
        )
        outbox.stage(session, service=SERVICE, message=command)
        audit.record(
            session,
            grant,
            action="workflow.run",
            resource="workflow_run",
            resource_id=run_id,
            scenario_id=scenario_id,
            detail={
                "command_id": str(command.event_id),
                "workflow_id": str(workflow.id),
                "kind": kind,
                "version": workflow.version,
            },
        )
        accepted = {
            "id": run_id,
            "scenario_id": scenario_id,
            "workflow_id": workflow.id,
            "workflow_version": workflow.version,
            "kind": kind,
            "status": QUEUED,
            "command_id": command.event_id,
        }
        await session.commit()
    gw.runtime.relay.notify()
    return accepted


async def page(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    *,
    kind: str,
    limit: int,
    after: Position | None,
    status: str | None,
) -> list[workflow_runs.WorkflowRun]:
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        return await workflow_runs.page_runs(
            session, scenario_id, kind=kind, limit=limit, after=after, status=status
        )


async def detail(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, run_id: uuid.UUID
) -> workflow_runs.RunDetail:
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        found = await workflow_runs.run_detail(session, scenario_id, run_id)
    if found is None:
        raise not_found("workflow run", run_id)
    return found
