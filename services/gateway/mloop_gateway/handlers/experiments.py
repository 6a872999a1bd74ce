"""Experiments: a dataset version, a feature set, a model config and resources, under a name
whose semantic version grows with every change."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mloop_common.db.catalog import FeatureSet, Scenario
from mloop_common.db.paging import Position, newest_first
from mloop_common.db.training import Experiment, ModelConfig, ResourceProfile
from mloop_common.db.training_reads import experiment_status_query, experiment_statuses
from mloop_common.keyring import Grant
from mloop_common.problems import invalid, not_found
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_gateway.context import Gateway
from mloop_gateway.domain.semver import next_version, sort_key
from mloop_gateway.handlers import audit, configs, feature_sets, scenarios


@dataclass(frozen=True)
class ExperimentView:
    experiment: Experiment
    algorithm: str
    status: str
    runs: int

    def public(self) -> dict[str, Any]:
        e = self.experiment
        return {
            **{name: getattr(e, name) for name in _FIELDS},
            "algorithm": self.algorithm,
            "status": self.status,
            "runs": self.runs,
        }


_FIELDS = (
    "id",
    "scenario_id",
    "name",
    "version",
    "dataset_id",
    "feature_set_id",
    "model_config_id",
    "resource_profile_id",
    "tags",
    "evaluation",
    "created_at",
)


async def create(gw: Gateway, grant: Grant, scenario_id: uuid.UUID, body: Any) -> ExperimentView:
    async with gw.db.transaction() as session:
        scenario = await scenarios.load(session, grant, scenario_id, for_update=True)
        feature_set = await _feature_set(session, grant, scenario, body)
        config = await _model_config(session, grant, scenario, body)
        profile_id = await _resource_profile(session, grant, body)
        experiment = await add(
            session,
            grant,
            scenario,
            name=body.name,
            feature_set=feature_set,
            model_config_id=config.id,
            resource_profile_id=profile_id,
            tags=body.tags,
            evaluation=body.evaluation.model_dump(exclude_none=True),
        )
        await session.commit()
        await session.refresh(experiment)
    return ExperimentView(experiment, config.algorithm, "planned", 0)


async def add(
    session: AsyncSession,
    grant: Grant,
    scenario: Scenario,
    *,
    name: str,
    feature_set: FeatureSet,
    model_config_id: uuid.UUID,
    resource_profile_id: uuid.UUID | None,
    tags: list[str],
    evaluation: dict[str, Any],
) -> Experiment:
    """Save the next version of the named experiment in the caller's transaction (the caller
    holds the scenario's row lock, so versions of one name never race)."""
    fields: dict[str, Any] = {
        "dataset_id": feature_set.dataset_id,
        "feature_set_id": feature_set.id,
        "model_config_id": model_config_id,
        "resource_profile_id": resource_profile_id,
        "tags": sorted(tags),
        "evaluation": evaluation,
    }
    versions = (
        await session.scalars(
            select(Experiment).where(Experiment.scenario_id == scenario.id, Experiment.name == name)
        )
    ).all()
    previous = max(versions, key=lambda e: sort_key(e.version), default=None)
    before = {key: getattr(previous, key) for key in fields} if previous else {}
    if previous is not None:
        before["tags"] = sorted(previous.tags)
    experiment = Experiment(
        id=uuid.uuid4(),
        scenario_id=scenario.id,
        name=name,
        version=next_version(previous.version if previous else None, before, fields),
        created_by=grant.key_id,
        **fields,
    )
    session.add(experiment)
    await session.flush()
    audit.record(
        session,
        grant,
        action="experiment.create",
        resource="experiment",
        resource_id=experiment.id,
        scenario_id=scenario.id,
        detail={"name": name, "version": experiment.version},
    )
    return experiment


async def _feature_set(
    session: AsyncSession, grant: Grant, scenario: Scenario, body: Any
) -> FeatureSet:
    if body.feature_set_id is not None:
        found = await session.get(FeatureSet, body.feature_set_id)
        if found is None or found.scenario_id != scenario.id:
            raise invalid(
                ["body", "feature_set_id"], f"no feature set {body.feature_set_id} here", "unknown"
            )
        return found
    features = body.features
    if features is None:
        features = await feature_sets.usable_columns(
            session, scenario, body.dataset_id, target=body.target
        )
    return await feature_sets.add(
        session,
        grant,
        scenario,
        name=body.name,
        dataset_id=body.dataset_id,
        target=body.target,
        features=features,
    )


async def _model_config(
    session: AsyncSession, grant: Grant, scenario: Scenario, body: Any
) -> ModelConfig:
    if body.model_config_id is not None:
        found = await session.get(ModelConfig, body.model_config_id)
        if found is None or found.scenario_id != scenario.id:
            raise invalid(
                ["body", "model_config_id"],
                f"no model config {body.model_config_id} here",
                "unknown",
            )
        return found
    return await configs.add_model_config(
        session,
        grant,
        scenario_id=scenario.id,
        task_type=scenario.task_type,
        name=body.name,
        algorithm=body.model.algorithm,
        parameters=body.model.parameters,
        loc=["body", "model"],
    )


async def _resource_profile(session: AsyncSession, grant: Grant, body: Any) -> uuid.UUID | None:
    if body.resource_profile_id is not None:
        if await session.get(ResourceProfile, body.resource_profile_id) is None:
            raise invalid(
                ["body", "resource_profile_id"],
                f"no resource profile {body.resource_profile_id}",
                "unknown",
            )
        return body.resource_profile_id
    if body.resources is None:
        return None
    profile = await configs.add_resource_profile(
        session, grant, name=body.name, limits=body.resources.model_dump()
    )
    return profile.id


async def page(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    *,
    limit: int,
    after: Position | None,
    name: str | None,
    status: str | None,
) -> list[ExperimentView]:
    query = newest_first(
        select(Experiment, ModelConfig.algorithm)
        .join(ModelConfig, ModelConfig.id == Experiment.model_config_id)
        .where(Experiment.scenario_id == scenario_id),
        Experiment.created_at,
        Experiment.id,
        after=after,
        limit=limit,
    )
    if name is not None:
        query = query.where(Experiment.name == name)
    if status is not None:
        latest = experiment_status_query(
            select(Experiment.id).where(Experiment.scenario_id == scenario_id)
        ).subquery()
        if status == "planned":
            query = query.where(Experiment.id.not_in(select(latest.c.experiment_id)))
        else:
            query = query.where(
                Experiment.id.in_(select(latest.c.experiment_id).where(latest.c.status == status))
            )
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        rows = (await session.execute(query)).all()
        statuses = await experiment_statuses(session, [e.id for e, _ in rows])
    return [ExperimentView(e, algorithm, *statuses[e.id]) for e, algorithm in rows]


async def get(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, experiment_id: uuid.UUID
) -> ExperimentView:
    found = await views(gw, grant, scenario_id, [experiment_id])
    return found[0]


async def views(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, experiment_ids: Sequence[uuid.UUID]
) -> list[ExperimentView]:
    """The experiments, in the order asked; 404 naming the first one that is not here."""
    query = (
        select(Experiment, ModelConfig.algorithm)
        .join(ModelConfig, ModelConfig.id == Experiment.model_config_id)
        .where(Experiment.scenario_id == scenario_id, Experiment.id.in_(experiment_ids))
    )
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        rows = {e.id: (e, algorithm) for e, algorithm in (await session.execute(query)).all()}
        statuses = await experiment_statuses(session, list(rows))
    for id_ in experiment_ids:
        if id_ not in rows:
            raise not_found("experiment", id_)
    return [ExperimentView(*rows[id_], *statuses[id_]) for id_ in experiment_ids]
