"""`/api/scenarios/{id}`: promote and roll back models, the deployment state and its history,
A/B and shadow tests. Changes answer 202: the scheduler applies them (GET shows when)."""

from __future__ import annotations

import math
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
    DecisionPublic,
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

DecisionKind = Literal[
    "promoted",
    "ab_test_started",
    "kept_champion",
    "left_as_candidate",
    "rolled_back",
    "probation_passed",
]
router = APIRouter(prefix="/api/scenarios/{scenario_id}", tags=["deployments"])
Accepted = status.HTTP_202_ACCEPTED
PENDING = (
    "No feedback on either arm's predictions yet: per-arm metrics with confidence intervals "
    "and the verdict come with it (POST .../feedback, or the feedback topic)."
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


@router.get("/deployments/decisions", response_model=Page[DecisionPublic])
async def deployment_decisions(
    scenario_id: uuid.UUID,
    gw: Ctx,
    caller: Viewer,
    after: After,
    limit: Limit = 50,
    decision: Annotated[
        DecisionKind | None, Query(description="Only this kind of decision.")
    ] = None,
    model_id: Annotated[uuid.UUID | None, Query(description="Only about this model.")] = None,
) -> Page[DecisionPublic]:
    """The deployment policy's decisions, newest first, each with its explanation: on every
    trained model (promoted, ab_test_started, kept_champion, left_as_candidate), on the A/B
    tests it decides, and on the probation of the champions it promoted (probation_passed,
    rolled_back)."""
    found = await deployments.decisions_page(
        gw, caller, scenario_id, limit=limit, after=after, decision=decision, model_id=model_id
    )
    return page_of(
        found,
        limit,
        DecisionPublic.model_validate,
        row=lambda row: SimpleNamespace(created_at=row.at, id=row.id),
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
    """The test, its predictions per arm so far, and its results from the feedback on them:
    per arm the labelled count and the compared quantity with its interval, and the verdict of
    the fixed-horizon test the scheduler's policy applies."""
    view = await deployments.ab_test_detail(gw, caller, scenario_id, test_id)
    test, counts, found = view.test, view.counts, view.comparison
    challenger_arm = "shadow" if test.mode == "shadow" else "challenger"

    def arm(name: str, model_id: uuid.UUID, logged_as: str) -> Arm:
        result = None if found is None else getattr(found, name)
        return Arm(
            model_id=model_id,
            arm=logged_as,
            predictions=counts.get((logged_as, model_id), 0),
            labelled=view.arms[name].labelled,
            metric=None if result is None else _finite(result.value),
            confidence_interval=None
            if result is None
            else [_finite(result.low), _finite(result.high)],
            primary_value=view.arms[name].primary_value,
        )

    arms = {
        "champion": arm("champion", test.champion_model_id, "champion"),
        "challenger": arm("challenger", test.challenger_model_id, challenger_arm),
    }
    settings = gw.settings
    common = {
        "primary_metric": test.primary_metric,
        "alpha": settings.ab_alpha,
        "min_samples": test.min_samples,
        "max_samples": settings.ab_max_samples,
    }
    if found is None:
        results = ABResults(status="pending_feedback", detail=PENDING, **common)
    else:
        decision = found.decision
        results = ABResults(
            status=decision.verdict,
            detail=decision.reason,
            compared=found.compared,
            higher_is_better=found.higher_is_better,
            p_value=decision.p_value,
            statistic=decision.statistic,
            unreadable=found.unreadable,
            **common,
        )
    public = ABTestPublic.model_validate(test).model_dump()
    return ABTestDetail(**public, arms=arms, results=results)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


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
