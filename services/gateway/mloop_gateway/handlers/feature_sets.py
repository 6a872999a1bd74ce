"""Feature sets: named, versioned choices of a dataset version's target and feature columns."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from mloop_common.db.catalog import DatasetVersion, FeatureSet, Scenario
from mloop_common.features import check_feature_set, usable_features
from mloop_common.keyring import Grant
from mloop_common.problems import Problem, invalid
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_gateway.context import Gateway
from mloop_gateway.handlers import audit, scenarios


async def _dataset(
    session: AsyncSession, scenario: Scenario, dataset_id: uuid.UUID
) -> DatasetVersion:
    dataset = await session.get(DatasetVersion, dataset_id)
    if dataset is None or dataset.scenario_id != scenario.id:
        raise invalid(["body", "dataset_id"], f"no dataset {dataset_id} here", "unknown")
    return dataset


async def usable_columns(
    session: AsyncSession, scenario: Scenario, dataset_id: uuid.UUID, *, target: str | None
) -> list[str]:
    """The dataset's columns the scenario's task can use as features."""
    dataset = await _dataset(session, scenario, dataset_id)
    columns = {column["name"]: column["type"] for column in dataset.columns}
    return usable_features(task_type=scenario.task_type, columns=columns, target=target)


async def add(
    session: AsyncSession,
    grant: Grant,
    scenario: Scenario,
    *,
    name: str,
    dataset_id: uuid.UUID,
    target: str | None,
    features: list[str],
) -> FeatureSet:
    """Save the next version of the named feature set in the caller's transaction."""
    dataset = await _dataset(session, scenario, dataset_id)
    errors = check_feature_set(
        task_type=scenario.task_type,
        columns={column["name"]: column["type"] for column in dataset.columns},
        target=target,
        features=features,
    )
    if errors:
        raise Problem(
            422, "Invalid feature set", "; ".join(e["msg"] for e in errors), errors=errors
        )
    latest = await session.scalar(
        select(func.max(FeatureSet.version)).where(
            FeatureSet.scenario_id == scenario.id, FeatureSet.name == name
        )
    )
    feature_set = FeatureSet(
        id=uuid.uuid4(),
        scenario_id=scenario.id,
        name=name,
        version=(latest or 0) + 1,
        dataset_id=dataset_id,
        target=target,
        features=features,
        created_by=grant.key_id,
    )
    session.add(feature_set)
    await session.flush()
    audit.record(
        session,
        grant,
        action="feature_set.create",
        resource="feature_set",
        resource_id=feature_set.id,
        scenario_id=scenario.id,
        detail={"name": name, "version": feature_set.version},
    )
    return feature_set


async def create(gw: Gateway, grant: Grant, scenario_id: uuid.UUID, **fields: Any) -> FeatureSet:
    async with gw.db.transaction() as session:
        scenario = await scenarios.load(session, grant, scenario_id, for_update=True)
        feature_set = await add(session, grant, scenario, **fields)
        await session.commit()
        await session.refresh(feature_set)
    return feature_set


async def listing(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, *, name: str | None
) -> Sequence[FeatureSet]:
    return await scenarios.named_versions(gw, grant, scenario_id, FeatureSet, name=name)


async def get(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, feature_set_id: uuid.UUID
) -> FeatureSet:
    return await scenarios.owned(gw, grant, scenario_id, FeatureSet, feature_set_id, "feature set")
