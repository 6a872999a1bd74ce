"""Postgres look-ups of the scenarios' predict workflows (at start-up and when one changes,
never on the path of a request)."""

from __future__ import annotations

import uuid

from mloop_common.db.engine import Database
from mloop_common.db.workflows import Workflow, latest
from sqlalchemy import select

from mloop_predictor.domain.transform import PredictTransform

KIND = "predict"


async def predict_workflow(db: Database, scenario_id: uuid.UUID) -> PredictTransform | None:
    """The scenario's predict workflow in force (its latest version), if it has one."""
    async with db.transaction() as session:
        row = await latest(session, scenario_id, KIND)
        if row is None:
            return None
        return PredictTransform.from_spec(row.id, row.version, row.spec)


async def predict_workflows(db: Database) -> dict[uuid.UUID, PredictTransform]:
    """Every scenario's predict workflow in force, in one query."""
    query = (
        select(Workflow.scenario_id, Workflow.id, Workflow.version, Workflow.spec)
        .where(Workflow.kind == KIND)
        .distinct(Workflow.scenario_id)
        .order_by(Workflow.scenario_id, Workflow.version.desc())
    )
    async with db.transaction() as session:
        rows = (await session.execute(query)).all()
    return {
        scenario_id: PredictTransform.from_spec(workflow_id, version, spec)
        for scenario_id, workflow_id, version, spec in rows
    }
