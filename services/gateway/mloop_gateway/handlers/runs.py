"""Runs: requested here (recorded, then sent to the trainers as TrainModel), executed there."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

from mloop_common import outbox
from mloop_common.db.catalog import DatasetVersion, Scenario
from mloop_common.db.catalog_reads import latest_dataset
from mloop_common.db.paging import Position
from mloop_common.db.run_specs import build_spec
from mloop_common.db.training import Experiment, RunLog, RunRequest
from mloop_common.db.training_reads import RunView, get_run, latest_runs, log_lines, page_runs
from mloop_common.features import usable_features
from mloop_common.keyring import Grant
from mloop_common.messages.commands import TrainModel
from mloop_common.problems import Problem, not_found
from mloop_common.tasks import TARGET_OPTIONAL
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_gateway.context import SERVICE, Gateway
from mloop_gateway.handlers import audit, configs, experiments, feature_sets, scenarios

QUICK = "auto"
FINISHED = ("completed", "failed")


async def request(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, experiment_id: uuid.UUID
) -> RunView:
    async with gw.db.transaction() as session:
        scenario = await scenarios.load(session, grant, scenario_id, for_update=True)
        experiment = await session.get(Experiment, experiment_id)
        if experiment is None or experiment.scenario_id != scenario_id:
            raise not_found("experiment", experiment_id)
        view = await _request(session, grant, scenario, experiment)
        await session.commit()
    gw.runtime.relay.notify()
    return view


async def quick_train(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, *, time_budget: float | None
) -> RunView:
    """`auto` on the latest version of the default data path with the default target."""
    async with gw.db.transaction() as session:
        scenario = await scenarios.load(session, grant, scenario_id, for_update=True)
        dataset = await _default_dataset(session, scenario)
        columns = {column["name"]: column["type"] for column in dataset.columns}
        target = scenario.default_target
        feature_set = await feature_sets.add(
            session,
            grant,
            scenario,
            name=QUICK,
            dataset_id=dataset.id,
            target=target,
            features=usable_features(task_type=scenario.task_type, columns=columns, target=target),
        )
        parameters = {} if time_budget is None else {"time_budget": time_budget}
        config = await configs.add_model_config(
            session,
            grant,
            scenario_id=scenario_id,
            task_type=scenario.task_type,
            name=QUICK,
            algorithm=QUICK,
            parameters=parameters,
            loc=["body"],
        )
        experiment = await experiments.add(
            session,
            grant,
            scenario,
            name=QUICK,
            feature_set=feature_set,
            model_config_id=config.id,
            resource_profile_id=None,
            tags=[],
            evaluation={},
        )
        view = await _request(session, grant, scenario, experiment, trigger="quick")
        await session.commit()
    gw.runtime.relay.notify()
    return view


async def _default_dataset(session: AsyncSession, scenario: Scenario) -> DatasetVersion:
    missing = []
    if scenario.default_data_path is None:
        missing.append("a default data path (upload data, or set default_data_path)")
    if scenario.default_target is None and scenario.task_type not in TARGET_OPTIONAL:
        missing.append("a default target (upload with a target, or set default_target)")
    if missing:
        raise Problem(
            409, "Nothing to train on", "The scenario has no " + " and no ".join(missing) + "."
        )
    dataset = await latest_dataset(session, scenario.id, scenario.default_data_path)
    if dataset is None:
        raise Problem(
            409, "Nothing to train on", f"No data is stored at {scenario.default_data_path!r}."
        )
    return dataset


async def _request(
    session: AsyncSession,
    grant: Grant,
    scenario: Scenario,
    experiment: Experiment,
    *,
    trigger: str = "manual",
) -> RunView:
    spec = await build_spec(session, scenario, experiment)
    request = RunRequest(
        id=uuid.uuid4(),
        scenario_id=scenario.id,
        experiment_id=experiment.id,
        algorithm=spec.algorithm,
        trigger=trigger,
        requested_by=grant.key_id,
    )
    session.add(request)
    await session.flush()
    outbox.stage(
        session,
        service=SERVICE,
        message=TrainModel(
            scenario_id=scenario.id,
            run_id=request.id,
            experiment_id=experiment.id,
            trigger=trigger,
            spec=spec,
            requested_by=grant.key_id,
        ),
    )
    audit.record(
        session,
        grant,
        action="run.request",
        resource="run",
        resource_id=request.id,
        scenario_id=scenario.id,
        detail={"experiment_id": str(experiment.id), "algorithm": spec.algorithm},
    )
    await session.refresh(request)
    return RunView(request, None)


async def get(gw: Gateway, grant: Grant, scenario_id: uuid.UUID, run_id: uuid.UUID) -> RunView:
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        found = await get_run(session, scenario_id, run_id)
    if found is None:
        raise not_found("run", run_id)
    return found


async def latest(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, experiment_ids: list[uuid.UUID]
) -> dict[uuid.UUID, RunView]:
    """Each experiment's latest completed run, else its latest run."""
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        return await latest_runs(session, scenario_id, experiment_ids)


async def page(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    *,
    limit: int,
    after: Position | None,
    experiment_id: uuid.UUID | None,
    status: str | None,
) -> list[RunView]:
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        return await page_runs(
            session,
            scenario_id,
            limit=limit,
            after=after,
            experiment_id=experiment_id,
            status=status,
        )


async def logs(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, run_id: uuid.UUID, *, after: int, limit: int
) -> list[RunLog]:
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        if await get_run(session, scenario_id, run_id) is None:
            raise not_found("run", run_id)
        return list(await log_lines(session, run_id, after=after, limit=limit))


async def follow(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    run_id: uuid.UUID,
    *,
    after: int,
    poll: float = 0.5,
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(event, data) as the run goes: new log lines, progress changes, then `end` with the run.

    The caller checked access; the stream polls Postgres, so it ends by itself only when the
    run does (or the client goes away)."""
    last_progress: tuple[str, float, str] | None = None
    while True:
        async with gw.db.transaction() as session:
            view = await get_run(session, scenario_id, run_id)
            lines = await log_lines(session, run_id, after=after, limit=1000)
        if view is None:  # the scenario was deleted while we followed it
            return
        for line in lines:
            after = line.id
            yield "log", {"id": line.id, "at": line.at, "line": line.line}
        run = view.public()
        progress = (run["status"], run["progress"], run["message"])
        if progress != last_progress:
            last_progress = progress
            yield "progress", dict(zip(("status", "progress", "message"), progress, strict=True))
        if run["status"] in FINISHED and len(lines) < 1000:
            yield "end", run
            return
        if len(lines) < 1000:
            await asyncio.sleep(poll)
