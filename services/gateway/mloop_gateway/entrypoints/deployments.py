"""`/api/scenarios/{id}`: promote and roll back models, the deployment state and its history,
A/B and shadow tests. Changes answer 202: the scheduler applies them (GET shows when)."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from mloop_common.problems import invalid

from mloop_gateway.entrypoints.deployments_schemas import (
    ABResults,
    ABTestAccepted,
    ABTestCreate,
    ABTestDetail,
    ABTestEnd,
    ABTestEndAccepted,
    ABTestPublic,
    Arm,
    DeploymentAccepted,
    DeploymentPublic,
    HistoryEntry,
    ModelSummary,
    PromoteRequest,
    RollbackRequest,
    model_summary,
)
from mloop_gateway.entrypoints.deps import Ctx, Editor, Viewer
from mloop_gateway.entrypoints.paging import After, Limit, page_of
from mloop_gateway.entrypoints.schemas import Page
from mloop_gateway.handlers import deployments

router = APIRouter(prefix="/api/scenarios/{scenario_id}", tags=["deployments"])
Accepted = status.HTTP_202_ACCEPTED
PENDING = (
    "Per-arm metrics with confidence intervals are computed from feedback on the predictions, "
    "which is not collected yet; until then only the prediction counts per arm are real."
)


@router.post("/models/{model_id}/promote", status_code=Accepted, response_model=DeploymentAccepted)
async def promote_model(
    scenario_id: uuid.UUID,
    model_id: uuid.UUID,
    gw: Ctx,
    caller: Editor,
    body: PromoteRequest | None = None,
) -> DeploymentAccepted:
    """Make the model the champion (404: no such model in the scenario; 409: it is the champion
    already, or an A/B test runs)."""
    reason = (body or PromoteRequest()).reason
    accepted = await deployments.promote(gw, caller, scenario_id, model_id, reason=reason)
    return DeploymentAccepted(**accepted)


@router.post("/models/rollback", status_code=Accepted, response_model=DeploymentAccepted)
async def rollback_model(
    scenario_id: uuid.UUID, gw: Ctx, caller: Editor, body: RollbackRequest | None = None
) -> DeploymentAccepted:
    """Restore the previous champion; each rollback goes one further back (409 when there is
    none). A running A/B test ends with it."""
    reason = (body or RollbackRequest()).reason
    return DeploymentAccepted(**await deployments.rollback(gw, caller, scenario_id, reason=reason))


@router.get("/deployments", response_model=DeploymentPublic)
async def get_deployments(
    scenario_id: uuid.UUID,
    gw: Ctx,
    caller: Viewer,
    history_limit: Annotated[int, Query(ge=0, le=200)] = 20,
) -> DeploymentPublic:
    """The champion, challenger and traffic split, with the latest alias changes."""
    view = await deployments.current(gw, caller, scenario_id, history_limit=history_limit)
    state, shown = view.state, view.history

    def summary(model_id: uuid.UUID | None, alias: str) -> ModelSummary | None:
        if model_id is None:
            return None
        return model_summary(view.models.get(model_id), model_id, view.since.get(alias))

    return DeploymentPublic(
        scenario_id=scenario_id,
        version=state.version if state else 0,
        mode=state.mode if state else "single",
        champion=summary(state.champion_model_id if state else None, "champion"),
        challenger=summary(state.challenger_model_id if state else None, "challenger"),
        challenger_share=state.challenger_share if state else 0.0,
        sticky_column=state.sticky_column if state else None,
        ab_test=ABTestPublic.model_validate(view.test) if view.test else None,
        rollback_target=view.rollback_target,
        history=[_entry(row, view.names) for row in shown],
        history_next_cursor=str(shown[-1].id) if shown and len(shown) == history_limit else None,
    )


@router.get("/deployments/history", response_model=Page[HistoryEntry])
async def deployment_history(
    scenario_id: uuid.UUID,
    gw: Ctx,
    caller: Viewer,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
) -> Page[HistoryEntry]:
    """Every alias change (who, when, why), newest first."""
    if cursor is not None and not cursor.isdigit():
        raise invalid(["query", "cursor"], "the cursor is not one this API returned", "cursor")
    rows, names = await deployments.history(
        gw, caller, scenario_id, limit=limit, before_id=int(cursor) if cursor else None
    )
    return Page(
        items=[_entry(row, names) for row in rows],
        next_cursor=str(rows[-1].id) if len(rows) == limit else None,
    )


def _entry(row: object, names: dict[uuid.UUID, str]) -> HistoryEntry:
    entry = HistoryEntry.model_validate(row)
    if entry.requested_by is not None:
        entry.requested_by_name = names.get(entry.requested_by)
    return entry


@router.post("/ab-tests", status_code=Accepted, response_model=ABTestAccepted)
async def start_ab_test(
    scenario_id: uuid.UUID, body: ABTestCreate, gw: Ctx, caller: Editor
) -> ABTestAccepted:
    """Test a challenger against the champion: `ab_test` splits traffic, `shadow` scores every
    request with both and answers with the champion. One test at a time per scenario."""
    return ABTestAccepted(**await deployments.start_test(gw, caller, scenario_id, body))


@router.get("/ab-tests", response_model=Page[ABTestPublic])
async def list_ab_tests(
    scenario_id: uuid.UUID,
    gw: Ctx,
    caller: Viewer,
    after: After,
    limit: Limit = 50,
    status: Literal["running", "ended"] | None = None,
) -> Page[ABTestPublic]:
    found = await deployments.ab_tests_page(
        gw, caller, scenario_id, limit=limit, after=after, status=status
    )
    return page_of(
        found,
        limit,
        ABTestPublic.model_validate,
        row=lambda test: SimpleNamespace(created_at=test.started_at, id=test.id),
    )


@router.get("/ab-tests/{test_id}", response_model=ABTestDetail)
async def get_ab_test(
    scenario_id: uuid.UUID, test_id: uuid.UUID, gw: Ctx, caller: Viewer
) -> ABTestDetail:
    """The test, its predictions per arm so far, and its results (pending until feedback)."""
    test, counts = await deployments.ab_test_detail(gw, caller, scenario_id, test_id)
    challenger_arm = "shadow" if test.mode == "shadow" else "challenger"
    arms = {
        "champion": Arm(
            model_id=test.champion_model_id,
            arm="champion",
            predictions=counts.get(("champion", test.champion_model_id), 0),
        ),
        "challenger": Arm(
            model_id=test.challenger_model_id,
            arm=challenger_arm,
            predictions=counts.get((challenger_arm, test.challenger_model_id), 0),
        ),
    }
    results = ABResults(
        status="pending_feedback",
        detail=PENDING,
        primary_metric=test.primary_metric,
        min_samples=test.min_samples,
    )
    public = ABTestPublic.model_validate(test).model_dump()
    return ABTestDetail(**public, arms=arms, results=results)


@router.post("/ab-tests/{test_id}/end", status_code=Accepted, response_model=ABTestEndAccepted)
async def end_ab_test(
    scenario_id: uuid.UUID,
    test_id: uuid.UUID,
    gw: Ctx,
    caller: Editor,
    body: ABTestEnd | None = None,
) -> ABTestEndAccepted:
    """End a running test; with `promote_challenger` its challenger becomes the champion."""
    body = body or ABTestEnd()
    accepted = await deployments.end_test(
        gw,
        caller,
        scenario_id,
        test_id,
        promote_challenger=body.promote_challenger,
        reason=body.reason,
    )
    return ABTestEndAccepted(**accepted)
