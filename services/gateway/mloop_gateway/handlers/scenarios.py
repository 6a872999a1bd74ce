"""Scenarios: the projects everything else belongs to."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from mloop_common import outbox
from mloop_common.db.catalog import DatasetVersion, FeatureSet, Scenario
from mloop_common.db.catalog_reads import latest_dataset
from mloop_common.db.paging import Position, newest_first
from mloop_common.db.training import Experiment, ModelConfig
from mloop_common.db.training_reads import active_runs
from mloop_common.keyring import Grant
from mloop_common.messages.events import ScenarioDeleted
from mloop_common.ml.metrics import task_metrics
from mloop_common.problems import Problem, invalid, not_found
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_gateway.context import SERVICE, Gateway
from mloop_gateway.handlers import audit

T = TypeVar("T", DatasetVersion, FeatureSet, ModelConfig, Experiment)
NamedT = TypeVar("NamedT", FeatureSet, ModelConfig)


async def load(
    session: AsyncSession, grant: Grant, scenario_id: uuid.UUID, *, for_update: bool = False
) -> Scenario:
    """The scenario, if it exists and the key may see it; 404 otherwise (a scoped key sees
    nothing outside its scenarios, as if they did not exist)."""
    if not grant.sees(scenario_id):
        raise not_found("scenario", scenario_id)
    scenario = await session.get(Scenario, scenario_id, with_for_update=for_update)
    if scenario is None:
        raise not_found("scenario", scenario_id)
    return scenario


async def owned(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, model: type[T], row_id: uuid.UUID, kind: str
) -> T:
    """A row of `model` that belongs to the scenario (which the key may see); 404 otherwise."""
    async with gw.db.transaction() as session:
        await load(session, grant, scenario_id)
        found = await session.get(model, row_id)
    if found is None or found.scenario_id != scenario_id:
        raise not_found(kind, row_id)
    return found


async def named_versions(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    model: type[NamedT],
    *,
    name: str | None,
) -> Sequence[NamedT]:
    """Every version of every name (or of one name) of a scenario's named, versioned rows,
    by name then newest version first."""
    query = (
        select(model)
        .where(model.scenario_id == scenario_id)
        .order_by(model.name, model.version.desc())
    )
    if name is not None:
        query = query.where(model.name == name)
    async with gw.db.transaction() as session:
        await load(session, grant, scenario_id)
        return (await session.scalars(query)).all()


async def create(gw: Gateway, grant: Grant, fields: dict[str, Any]) -> Scenario:
    if grant.scenarios is not None:
        raise Problem(403, "Forbidden", "A key limited to some scenarios cannot create others.")
    async with gw.db.transaction() as session:
        scenario = Scenario(id=uuid.uuid4(), created_by=grant.key_id, **fields)
        session.add(scenario)
        await session.flush()
        audit.record(
            session,
            grant,
            action="scenario.create",
            resource="scenario",
            resource_id=scenario.id,
            scenario_id=scenario.id,
            detail={"name": scenario.name},
        )
        await session.commit()
        await session.refresh(scenario)
    return scenario


async def page(
    gw: Gateway, grant: Grant, *, limit: int, after: Position | None, tags: list[str]
) -> Sequence[Scenario]:
    query = newest_first(
        select(Scenario), Scenario.created_at, Scenario.id, after=after, limit=limit
    )
    if tags:
        query = query.where(Scenario.tags.contains(tags))
    if grant.scenarios is not None:
        query = query.where(Scenario.id.in_(grant.scenarios))
    async with gw.db.transaction() as session:
        return (await session.scalars(query)).all()


async def get(gw: Gateway, grant: Grant, scenario_id: uuid.UUID) -> Scenario:
    async with gw.db.transaction() as session:
        return await load(session, grant, scenario_id)


async def update(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, changes: dict[str, Any]
) -> Scenario:
    async with gw.db.transaction() as session:
        scenario = await load(session, grant, scenario_id, for_update=True)
        path = changes.get("default_data_path", scenario.default_data_path)
        target = changes.get("default_target", scenario.default_target)
        if "default_data_path" in changes or "default_target" in changes:
            await _check_defaults(session, scenario_id, path, target)
        metric = changes.get("primary_metric")
        if metric is not None and metric not in task_metrics(scenario.task_type):
            choices = ", ".join(task_metrics(scenario.task_type))
            raise invalid(
                ["body", "primary_metric"],
                f"{scenario.task_type} models report {choices}; {metric!r} is not one of them",
            )
        for name, value in changes.items():
            setattr(scenario, name, value)
        scenario.updated_at = datetime.now(UTC)
        audit.record(
            session,
            grant,
            action="scenario.update",
            resource="scenario",
            resource_id=scenario_id,
            scenario_id=scenario_id,
            detail=changes,
        )
        await session.commit()
    return scenario


async def _check_defaults(
    session: AsyncSession, scenario_id: uuid.UUID, path: str | None, target: str | None
) -> None:
    if path is None:
        if target is not None:
            raise invalid(["body", "default_target"], "set default_data_path with the target")
        return
    latest = await latest_dataset(session, scenario_id, path)
    if latest is None:
        raise invalid(["body", "default_data_path"], f"the scenario has no data at {path!r}")
    if target is not None and target not in {column["name"] for column in latest.columns}:
        raise invalid(["body", "default_target"], f"{path!r} has no column {target!r}")


async def remove(gw: Gateway, grant: Grant, scenario_id: uuid.UUID, *, force: bool) -> None:
    """Delete the scenario and everything it owns; `ScenarioDeleted` tells the other services
    (and the gateway's own consumer, which removes the stored files)."""
    async with gw.db.transaction() as session:
        scenario = await load(session, grant, scenario_id, for_update=True)
        active = await active_runs(session, scenario_id)
        if active and not force:
            raise Problem(
                409,
                "Runs in progress",
                f"{active} run(s) of this scenario are queued or running; "
                "wait for them or delete with force=true.",
            )
        await session.execute(delete(Scenario).where(Scenario.id == scenario_id))
        outbox.stage(session, service=SERVICE, message=ScenarioDeleted(scenario_id=scenario_id))
        audit.record(
            session,
            grant,
            action="scenario.delete",
            resource="scenario",
            resource_id=scenario_id,
            scenario_id=scenario_id,
            detail={"name": scenario.name, "force": force},
        )
        await session.commit()
    gw.runtime.relay.notify()
