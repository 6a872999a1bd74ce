"""Postgres look-ups of the predictor (never on the path of a deployed scenario's request)."""

from __future__ import annotations

import uuid

from mloop_common.db.catalog import Scenario
from mloop_common.db.engine import Database
from mloop_common.db.serving_reads import all_deployments
from mloop_common.messages.events import DeploymentState
from sqlalchemy import select


async def scenario_exists(db: Database, scenario_id: uuid.UUID) -> bool:
    async with db.transaction() as session:
        found = await session.scalar(select(Scenario.id).where(Scenario.id == scenario_id))
    return found is not None


async def deployments(db: Database) -> dict[uuid.UUID, DeploymentState]:
    async with db.transaction() as session:
        return await all_deployments(session)
