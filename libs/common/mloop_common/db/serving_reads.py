"""Read queries over the serving tables (any service may call them; only owners write)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_common.db.serving import Deployment
from mloop_common.messages.events import DeploymentState


def state_of(row: Deployment) -> DeploymentState:
    return DeploymentState(
        version=row.version,
        champion_model_id=row.champion_model_id,
        challenger_model_id=row.challenger_model_id,
        mode=row.mode,  # type: ignore[arg-type]
        ab_test_id=row.ab_test_id,
        challenger_share=row.challenger_share,
        sticky_column=row.sticky_column,
    )


async def deployment(session: AsyncSession, scenario_id: uuid.UUID) -> DeploymentState | None:
    row = await session.get(Deployment, scenario_id)
    return None if row is None else state_of(row)


async def all_deployments(session: AsyncSession) -> dict[uuid.UUID, DeploymentState]:
    """Every scenario's deployment, for a predictor rebuilding its state on start."""
    rows = (await session.scalars(select(Deployment))).all()
    return {row.scenario_id: state_of(row) for row in rows}
