"""Model configs (per scenario) and resource profiles (shared): named, each change a version."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from mloop_common.db.training import ModelConfig, ResourceProfile
from mloop_common.keyring import Grant
from mloop_common.ml.algorithms import InvalidParameters, validate_parameters
from mloop_common.problems import Problem, not_found
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_gateway.context import Gateway
from mloop_gateway.handlers import audit, scenarios


def checked_parameters(
    task_type: str, algorithm: str, parameters: dict[str, Any], *, loc: list[str]
) -> dict[str, Any]:
    """The parameters by their library names; 422 naming each field at fault."""
    try:
        return validate_parameters(task_type, algorithm, parameters)
    except InvalidParameters as error:
        errors = [{**e, "loc": [*loc, *e["loc"]]} for e in error.errors]
        raise Problem(
            422, "Invalid model config", "; ".join(e["msg"] for e in errors), errors=errors
        ) from None


async def add_model_config(
    session: AsyncSession,
    grant: Grant,
    *,
    scenario_id: uuid.UUID,
    task_type: str,
    name: str,
    algorithm: str,
    parameters: dict[str, Any],
    loc: list[str],
) -> ModelConfig:
    """Save the next version of the named config in the caller's transaction."""
    parameters = checked_parameters(task_type, algorithm, parameters, loc=loc)
    latest = await session.scalar(
        select(func.max(ModelConfig.version)).where(
            ModelConfig.scenario_id == scenario_id, ModelConfig.name == name
        )
    )
    config = ModelConfig(
        id=uuid.uuid4(),
        scenario_id=scenario_id,
        name=name,
        version=(latest or 0) + 1,
        algorithm=algorithm,
        parameters=parameters,
        created_by=grant.key_id,
    )
    session.add(config)
    await session.flush()
    audit.record(
        session,
        grant,
        action="model_config.create",
        resource="model_config",
        resource_id=config.id,
        scenario_id=scenario_id,
        detail={"name": name, "version": config.version, "algorithm": algorithm},
    )
    return config


async def create_model_config(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    *,
    name: str,
    algorithm: str,
    parameters: dict[str, Any],
) -> ModelConfig:
    async with gw.db.transaction() as session:
        scenario = await scenarios.load(session, grant, scenario_id, for_update=True)
        config = await add_model_config(
            session,
            grant,
            scenario_id=scenario_id,
            task_type=scenario.task_type,
            name=name,
            algorithm=algorithm,
            parameters=parameters,
            loc=["body"],
        )
        await session.commit()
        await session.refresh(config)
    return config


async def list_model_configs(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, *, name: str | None
) -> Sequence[ModelConfig]:
    return await scenarios.named_versions(gw, grant, scenario_id, ModelConfig, name=name)


async def get_model_config(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, config_id: uuid.UUID
) -> ModelConfig:
    return await scenarios.owned(gw, grant, scenario_id, ModelConfig, config_id, "model config")


async def add_resource_profile(
    session: AsyncSession, grant: Grant, *, name: str, limits: dict[str, Any]
) -> ResourceProfile:
    """Save the next version of the named profile in the caller's transaction."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext("profile:" + name))))
    latest = await session.scalar(
        select(func.max(ResourceProfile.version)).where(ResourceProfile.name == name)
    )
    profile = ResourceProfile(
        id=uuid.uuid4(), name=name, version=(latest or 0) + 1, created_by=grant.key_id, **limits
    )
    session.add(profile)
    await session.flush()
    audit.record(
        session,
        grant,
        action="resource_profile.create",
        resource="resource_profile",
        resource_id=profile.id,
        detail={"name": name, "version": profile.version, **limits},
    )
    return profile


async def create_resource_profile(
    gw: Gateway, grant: Grant, *, name: str, limits: dict[str, Any]
) -> ResourceProfile:
    async with gw.db.transaction() as session:
        profile = await add_resource_profile(session, grant, name=name, limits=limits)
        await session.commit()
        await session.refresh(profile)
    return profile


async def list_resource_profiles(gw: Gateway, *, name: str | None) -> Sequence[ResourceProfile]:
    query = select(ResourceProfile).order_by(ResourceProfile.name, ResourceProfile.version.desc())
    if name is not None:
        query = query.where(ResourceProfile.name == name)
    async with gw.db.transaction() as session:
        return (await session.scalars(query)).all()


async def get_resource_profile(gw: Gateway, profile_id: uuid.UUID) -> ResourceProfile:
    async with gw.db.transaction() as session:
        profile = await session.get(ResourceProfile, profile_id)
    if profile is None:
        raise not_found("resource profile", profile_id)
    return profile
