"""A scenario's workflows: each definition sent is validated against the scenario and stored as
the next version of its kind (train or predict); the latest version is the one in force.
`WorkflowSaved` is staged in the same transaction (predictors apply the predict workflow)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from mloop_common import outbox
from mloop_common.db.catalog import DatasetVersion, Scenario
from mloop_common.db.workflows import Workflow
from mloop_common.keyring import Grant
from mloop_common.messages.events import WorkflowSaved
from mloop_common.problems import Problem, not_found
from mloop_common.workflows.errors import WorkflowError
from mloop_common.workflows.spec import ScenarioFacts, WorkflowSpec, parse
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_gateway.context import SERVICE, Gateway
from mloop_gateway.domain.paths import clean_data_path
from mloop_gateway.handlers import audit, scenarios


async def define(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, kind: str, text: str
) -> Workflow:
    """Validate `text` and store it as the next version; 422 listing every fault with its
    line and column."""
    async with gw.db.transaction() as session:
        scenario = await scenarios.load(session, grant, scenario_id)
        facts = await _facts(session, scenario)
    try:
        spec = parse(
            kind, text, facts=facts, default_retries=gw.settings.workflow_step_attempts - 1
        )
    except WorkflowError as error:
        count = len(error.problems)
        first = error.problems[0]
        raise Problem(
            422,
            "Invalid workflow",
            f"{count} problem{'s' if count > 1 else ''} in the workflow; the first at line "
            f"{first['line']}, column {first['column']}: {first['message']}",
            errors=error.problems,
        ) from None
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id, for_update=True)
        latest = await session.scalar(
            select(func.max(Workflow.version)).where(
                Workflow.scenario_id == scenario_id, Workflow.kind == kind
            )
        )
        row = Workflow(
            id=uuid.uuid4(),
            scenario_id=scenario_id,
            kind=kind,
            version=(latest or 0) + 1,
            source=text,
            spec=spec.to_json(),
            created_by=grant.key_id,
        )
        session.add(row)
        await session.flush()
        audit.record(
            session,
            grant,
            action="workflow.define",
            resource="workflow",
            resource_id=row.id,
            scenario_id=scenario_id,
            detail={"kind": kind, "version": row.version, "steps": len(spec.steps)},
        )
        # Every predictor re-reads the predict workflow it applies to the records.
        outbox.stage(
            session,
            service=SERVICE,
            message=WorkflowSaved(
                scenario_id=scenario_id, kind=kind, workflow_id=row.id, version=row.version
            ),
        )
        await session.commit()
        await session.refresh(row)
    gw.runtime.relay.notify()
    return row


async def _facts(session: AsyncSession, scenario: Scenario) -> ScenarioFacts:
    """The scenario's task, and each data path with the columns of its latest version."""
    latest = (
        await session.execute(
            select(DatasetVersion.path, DatasetVersion.columns)
            .where(DatasetVersion.scenario_id == scenario.id)
            .distinct(DatasetVersion.path)
            .order_by(DatasetVersion.path, DatasetVersion.version.desc())
        )
    ).all()
    return ScenarioFacts(
        task_type=scenario.task_type,
        data_paths={path: [column["name"] for column in columns] for path, columns in latest},
        default_data_path=scenario.default_data_path,
        default_target=scenario.default_target,
        clean_path=clean_data_path,
    )


async def get(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, kind: str, version: int | None
) -> Workflow:
    """The latest version of the kind, or `version`; 404 when there is none."""
    query = (
        select(Workflow)
        .where(Workflow.scenario_id == scenario_id, Workflow.kind == kind)
        .order_by(Workflow.version.desc())
        .limit(1)
    )
    if version is not None:
        query = query.where(Workflow.version == version)
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        found = await session.scalar(query)
    if found is None:
        what = f"{kind} workflow" + (f" version {version}" if version is not None else "")
        raise not_found(what, f"in scenario {scenario_id}")
    return found


async def versions(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, kind: str
) -> Sequence[Workflow]:
    """Every version of the kind, newest first (without their sources)."""
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        return (
            await session.scalars(
                select(Workflow)
                .where(Workflow.scenario_id == scenario_id, Workflow.kind == kind)
                .order_by(Workflow.version.desc())
            )
        ).all()


def steps_summary(row: Workflow) -> list[dict]:
    return WorkflowSpec.from_json(row.spec, kind=row.kind).summary()
