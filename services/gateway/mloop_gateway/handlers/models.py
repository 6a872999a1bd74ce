"""Model versions (the trainer writes them): listing, the best one, download and cleanup."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

from mloop_common import outbox
from mloop_common.db.catalog import Scenario
from mloop_common.db.paging import Position, newest_first
from mloop_common.db.serving_reads import protected_models
from mloop_common.db.training import ModelVersion
from mloop_common.db.training_reads import best_model, models_by_rank
from mloop_common.keyring import Grant
from mloop_common.messages.commands import DeleteModels
from mloop_common.ml.metrics import default_metric, higher_is_better
from mloop_common.problems import not_found
from sqlalchemy import select

from mloop_gateway.context import SERVICE, Gateway
from mloop_gateway.handlers import audit, scenarios


def primary_metric(scenario: Scenario) -> str:
    return scenario.primary_metric or default_metric(scenario.task_type)


async def page(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    *,
    limit: int,
    after: Position | None,
    experiment_id: uuid.UUID | None,
) -> list[ModelVersion]:
    query = newest_first(
        select(ModelVersion).where(ModelVersion.scenario_id == scenario_id),
        ModelVersion.created_at,
        ModelVersion.id,
        after=after,
        limit=limit,
    )
    if experiment_id is not None:
        query = query.where(ModelVersion.experiment_id == experiment_id)
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        return list((await session.scalars(query)).all())


async def get(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, model_id: uuid.UUID
) -> ModelVersion:
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        model = await session.get(ModelVersion, model_id)
    if model is None or model.scenario_id != scenario_id:
        raise not_found("model", model_id)
    return model


async def best(gw: Gateway, grant: Grant, scenario_id: uuid.UUID) -> ModelVersion:
    async with gw.db.transaction() as session:
        scenario = await scenarios.load(session, grant, scenario_id)
        metric = primary_metric(scenario)
        model = await best_model(
            session, scenario_id, metric=metric, higher_is_better=higher_is_better(metric)
        )
    if model is None:
        raise not_found("model", f"with {metric} in scenario {scenario_id}")
    return model


async def artifact(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, model_id: uuid.UUID
) -> tuple[ModelVersion, Iterator[bytes]]:
    model = await get(gw, grant, scenario_id, model_id)
    chunks = await asyncio.to_thread(gw.store.iter_chunks, model.artifact_key)
    return model, chunks


async def cleanup(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, *, keep: int
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Keep the `keep` best models by the primary metric; the trainer deletes the rest with
    their artifacts. Deployed models are always kept too: the champion, the challenger (and
    both arms of a running test) and the model a rollback would restore."""
    async with gw.db.transaction() as session:
        scenario = await scenarios.load(session, grant, scenario_id, for_update=True)
        metric = primary_metric(scenario)
        ranked = await models_by_rank(
            session, scenario_id, metric=metric, higher_is_better=higher_is_better(metric)
        )
        deployed = await protected_models(session, scenario_id)
        kept = list(ranked[:keep]) + [id_ for id_ in ranked[keep:] if id_ in deployed]
        deleted = [id_ for id_ in ranked[keep:] if id_ not in deployed]
        if deleted:
            outbox.stage(
                session,
                service=SERVICE,
                message=DeleteModels(
                    scenario_id=scenario_id, model_ids=deleted, requested_by=grant.key_id
                ),
            )
        audit.record(
            session,
            grant,
            action="model.cleanup",
            resource="model",
            resource_id=scenario_id,
            scenario_id=scenario_id,
            detail={"keep": keep, "deleted": [str(id_) for id_ in deleted]},
        )
        await session.commit()
    gw.runtime.relay.notify()
    return kept, deleted
