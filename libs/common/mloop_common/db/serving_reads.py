"""Read queries over the serving tables (any service may call them; only owners write)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_common.db.paging import Position, newest_first
from mloop_common.db.serving import ABTest, Deployment, DeploymentChange, Prediction
from mloop_common.db.training import ModelVersion
from mloop_common.messages.events import DeploymentState

CHAMPION, CHALLENGER = "champion", "challenger"
# Actions of deployment_history rows.
PROMOTE, ROLLBACK = "promote", "rollback"
AB_TEST_STARTED, AB_TEST_ENDED = "ab_test_started", "ab_test_ended"
RUNNING, ENDED = "running", "ended"


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


# --- the champion's past: what a rollback restores ----------------------------------------------


def champion_stack(changes: Iterable[tuple[str, uuid.UUID | None]]) -> list[uuid.UUID]:
    """The champions a scenario can roll back through, oldest first, the current one last.

    `changes` are the (action, model_id) of the champion alias's history rows, oldest first.
    Every change but a rollback pushes its model; a rollback pops the current champion, so
    promoting A, B, C then rolling back twice goes C -> B -> A, and a third rollback finds
    nothing. Pure: the scheduler decides with it and the gateway checks with it."""
    stack: list[uuid.UUID] = []
    for action, model_id in changes:
        if action == ROLLBACK:
            if stack:
                stack.pop()
        elif model_id is not None:
            stack.append(model_id)
    return stack


def previous_champion(stack: Sequence[uuid.UUID]) -> uuid.UUID | None:
    """What a rollback restores: the champion below the current one, if any."""
    return stack[-2] if len(stack) >= 2 else None


async def rollback_target(session: AsyncSession, scenario_id: uuid.UUID) -> uuid.UUID | None:
    rows = await session.execute(
        select(DeploymentChange.action, DeploymentChange.model_id)
        .where(DeploymentChange.scenario_id == scenario_id, DeploymentChange.alias == CHAMPION)
        .order_by(DeploymentChange.version)
    )
    return previous_champion(champion_stack(rows.tuples()))


async def protected_models(session: AsyncSession, scenario_id: uuid.UUID) -> set[uuid.UUID]:
    """Models that must not be deleted: the champion, the challenger (and the arms of a running
    test), and the model a rollback would restore."""
    found: set[uuid.UUID | None] = set()
    state = await deployment(session, scenario_id)
    if state is not None:
        found |= {state.champion_model_id, state.challenger_model_id}
    found.add(await rollback_target(session, scenario_id))
    running = await session.execute(
        select(ABTest.champion_model_id, ABTest.challenger_model_id).where(
            ABTest.scenario_id == scenario_id, ABTest.status == RUNNING
        )
    )
    for champion, challenger in running:
        found |= {champion, challenger}
    return {model_id for model_id in found if model_id is not None}


async def scenario_model(
    session: AsyncSession, scenario_id: uuid.UUID, model_id: uuid.UUID, *, lock: bool = False
) -> ModelVersion | None:
    """The model if it belongs to the scenario. `lock` holds a key-share lock on its row until
    the transaction ends, so it cannot be deleted under a deployment being written."""
    query = select(ModelVersion).where(
        ModelVersion.id == model_id, ModelVersion.scenario_id == scenario_id
    )
    if lock:
        query = query.with_for_update(key_share=True)
    return await session.scalar(query)


async def models_by_id(
    session: AsyncSession, scenario_id: uuid.UUID, model_ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, ModelVersion]:
    wanted = {model_id for model_id in model_ids if model_id is not None}
    if not wanted:
        return {}
    rows = await session.scalars(
        select(ModelVersion).where(
            ModelVersion.scenario_id == scenario_id, ModelVersion.id.in_(wanted)
        )
    )
    return {row.id: row for row in rows}


# --- history ---------------------------------------------------------------------------------


async def history_page(
    session: AsyncSession, scenario_id: uuid.UUID, *, limit: int, before_id: int | None = None
) -> list[DeploymentChange]:
    """Alias changes newest first; a page continues before the last row id of the previous."""
    query = (
        select(DeploymentChange)
        .where(DeploymentChange.scenario_id == scenario_id)
        .order_by(DeploymentChange.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(DeploymentChange.id < before_id)
    return list((await session.scalars(query)).all())


async def latest_changes(
    session: AsyncSession, scenario_id: uuid.UUID
) -> dict[str, DeploymentChange]:
    """The latest history row of each alias (when the current champion/challenger took over)."""
    found: dict[str, DeploymentChange] = {}
    for alias in (CHAMPION, CHALLENGER):
        row = await session.scalar(
            select(DeploymentChange)
            .where(DeploymentChange.scenario_id == scenario_id, DeploymentChange.alias == alias)
            .order_by(DeploymentChange.version.desc())
            .limit(1)
        )
        if row is not None:
            found[alias] = row
    return found


# --- A/B tests -------------------------------------------------------------------------------


async def ab_test(
    session: AsyncSession, scenario_id: uuid.UUID, test_id: uuid.UUID
) -> ABTest | None:
    found = await session.get(ABTest, test_id)
    return found if found is not None and found.scenario_id == scenario_id else None


async def ab_tests_page(
    session: AsyncSession,
    scenario_id: uuid.UUID,
    *,
    limit: int,
    after: Position | None = None,
    status: str | None = None,
) -> list[ABTest]:
    """A scenario's tests, newest started first (keyset paging on started_at, id)."""
    query = newest_first(
        select(ABTest).where(ABTest.scenario_id == scenario_id),
        ABTest.started_at,
        ABTest.id,
        after=after,
        limit=limit,
    )
    if status is not None:
        query = query.where(ABTest.status == status)
    return list((await session.scalars(query)).all())


async def arm_counts(
    session: AsyncSession,
    scenario_id: uuid.UUID,
    *,
    model_ids: Iterable[uuid.UUID],
    since: datetime,
    until: datetime | None = None,
) -> dict[tuple[str, uuid.UUID], int]:
    """Logged predictions per (arm, model) between `since` and `until` (now when None)."""
    query = (
        select(Prediction.arm, Prediction.model_id, func.count())
        .where(
            Prediction.scenario_id == scenario_id,
            Prediction.model_id.in_(list(model_ids)),
            Prediction.predicted_at >= since,
        )
        .group_by(Prediction.arm, Prediction.model_id)
    )
    if until is not None:
        query = query.where(Prediction.predicted_at <= until)
    rows = await session.execute(query)
    return {(arm, model_id): count for arm, model_id, count in rows}
