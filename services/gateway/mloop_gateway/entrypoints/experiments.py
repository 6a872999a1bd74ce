"""`/api/scenarios/{id}/experiments`, their runs, `/runs` and the quick `/train`."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse
from mloop_common.problems import invalid

from mloop_gateway.entrypoints.deps import Ctx, Editor, Viewer
from mloop_gateway.entrypoints.paging import After, Limit, page_of
from mloop_gateway.entrypoints.schemas import Page
from mloop_gateway.entrypoints.training_schemas import (
    ExperimentCreate,
    ExperimentPublic,
    LogLine,
    RunPublic,
    TrainQuick,
)
from mloop_gateway.handlers import experiments, runs

router = APIRouter(prefix="/api/scenarios/{scenario_id}", tags=["experiments"])
RunStatus = Literal["queued", "running", "completed", "failed"]


@router.post("/experiments", status_code=status.HTTP_201_CREATED, response_model=ExperimentPublic)
async def create_experiment(
    scenario_id: uuid.UUID, body: ExperimentCreate, gw: Ctx, caller: Editor
) -> ExperimentPublic:
    created = await experiments.create(gw, caller, scenario_id, body)
    return ExperimentPublic.model_validate(created.public())


@router.get("/experiments", response_model=Page[ExperimentPublic])
async def list_experiments(
    scenario_id: uuid.UUID,
    gw: Ctx,
    caller: Viewer,
    after: After,
    limit: Limit = 50,
    name: Annotated[str | None, Query(max_length=128)] = None,
    status: Literal["planned", "running", "completed", "failed"] | None = None,
) -> Page[ExperimentPublic]:
    found = await experiments.page(
        gw, caller, scenario_id, limit=limit, after=after, name=name, status=status
    )
    return page_of(
        found,
        limit,
        lambda e: ExperimentPublic.model_validate(e.public()),
        row=lambda e: e.experiment,
    )


@router.get("/experiments/compare")
async def compare_experiments(
    scenario_id: uuid.UUID,
    gw: Ctx,
    caller: Viewer,
    ids: Annotated[str, Query(max_length=50 * 37, description="Comma-separated experiment ids.")],
) -> dict[str, Any]:
    """Metrics and resource use side by side: each experiment's latest completed run (else its
    latest run)."""
    try:
        wanted = list(dict.fromkeys(uuid.UUID(part) for part in ids.split(",") if part.strip()))
    except ValueError as err:
        raise invalid(["query", "ids"], "ids must be comma-separated UUIDs", "uuid") from err
    if not 1 <= len(wanted) <= 50:
        raise invalid(["query", "ids"], "compare 1 to 50 experiments", "count")
    found = await experiments.views(gw, caller, scenario_id, wanted)
    items = []
    names: dict[str, None] = {}
    latest = await runs.latest(gw, caller, scenario_id, wanted)
    for view in found:
        run = latest.get(view.experiment.id)
        public = run.public() if run else None
        metrics = public["metrics"] if public else {}
        names.update(dict.fromkeys(metrics))
        items.append(
            {
                "experiment": ExperimentPublic.model_validate(view.public()),
                "run": RunPublic.model_validate(public) if public else None,
                "model_id": public["model_id"] if public else None,
                "metrics": metrics,
                "resources": public["resources"] if public else None,
            }
        )
    return {"metrics": sorted(names), "items": items}


@router.get("/experiments/{experiment_id}", response_model=ExperimentPublic)
async def get_experiment(
    scenario_id: uuid.UUID, experiment_id: uuid.UUID, gw: Ctx, caller: Viewer
) -> ExperimentPublic:
    found = await experiments.get(gw, caller, scenario_id, experiment_id)
    return ExperimentPublic.model_validate(found.public())


@router.post(
    "/experiments/{experiment_id}/runs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunPublic,
    tags=["runs"],
)
async def start_run(
    scenario_id: uuid.UUID, experiment_id: uuid.UUID, gw: Ctx, caller: Editor
) -> RunPublic:
    view = await runs.request(gw, caller, scenario_id, experiment_id)
    return RunPublic.model_validate(view.public())


@router.get("/experiments/{experiment_id}/runs", response_model=Page[RunPublic], tags=["runs"])
async def list_experiment_runs(
    scenario_id: uuid.UUID,
    experiment_id: uuid.UUID,
    gw: Ctx,
    caller: Viewer,
    after: After,
    limit: Limit = 50,
) -> Page[RunPublic]:
    await experiments.get(gw, caller, scenario_id, experiment_id)
    return await list_runs(scenario_id, gw, caller, after, limit=limit, experiment_id=experiment_id)


@router.post(
    "/train", status_code=status.HTTP_202_ACCEPTED, response_model=RunPublic, tags=["runs"]
)
async def train(
    scenario_id: uuid.UUID, gw: Ctx, caller: Editor, body: TrainQuick | None = None
) -> RunPublic:
    """`auto` on the latest version of the default data path with the default target."""
    budget = body.time_budget if body else None
    view = await runs.quick_train(gw, caller, scenario_id, time_budget=budget)
    return RunPublic.model_validate(view.public())


@router.get("/runs", response_model=Page[RunPublic], tags=["runs"])
async def list_runs(
    scenario_id: uuid.UUID,
    gw: Ctx,
    caller: Viewer,
    after: After,
    limit: Limit = 50,
    experiment_id: uuid.UUID | None = None,
    status: RunStatus | None = None,
) -> Page[RunPublic]:
    found = await runs.page(
        gw,
        caller,
        scenario_id,
        limit=limit,
        after=after,
        experiment_id=experiment_id,
        status=status,
    )
    return page_of(found, limit, lambda view: RunPublic.model_validate(view.public()))


@router.get("/runs/{run_id}", response_model=RunPublic, tags=["runs"])
async def get_run(scenario_id: uuid.UUID, run_id: uuid.UUID, gw: Ctx, caller: Viewer) -> RunPublic:
    return RunPublic.model_validate((await runs.get(gw, caller, scenario_id, run_id)).public())


@router.get(
    "/runs/{run_id}/logs",
    tags=["runs"],
    responses={200: {"content": {"text/event-stream": {}}, "model": Page[LogLine]}},
)
async def run_logs(
    scenario_id: uuid.UUID,
    run_id: uuid.UUID,
    gw: Ctx,
    caller: Viewer,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    follow: bool = False,
) -> Any:
    """The run's log lines after line `after`; with `follow=true`, a server-sent event stream
    of `log` and `progress` events that ends with `end` (the run) when the run does."""
    if follow:
        await runs.get(gw, caller, scenario_id, run_id)
        events = runs.follow(gw, caller, scenario_id, run_id, after=after)
        return StreamingResponse(
            _sse(events),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    lines = await runs.logs(gw, caller, scenario_id, run_id, after=after, limit=limit)
    return Page(
        items=[LogLine.model_validate(line, from_attributes=True) for line in lines],
        next_cursor=str(lines[-1].id) if len(lines) == limit else None,
    )


async def _sse(events: AsyncIterator[tuple[str, dict[str, Any]]]) -> AsyncIterator[bytes]:
    async for event, data in events:
        payload = json.dumps(jsonable_encoder(data), separators=(",", ":"))
        yield f"event: {event}\ndata: {payload}\n\n".encode()
