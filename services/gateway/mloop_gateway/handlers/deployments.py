"""Deployments (the scheduler owns them): promote, roll back, A/B and shadow tests, and reads:
the state, its history, the tests with their per-arm results, and the deployment policy's
decisions.

A change is checked here against the current state, so users hear 404/409/422 at once, then sent
to the scheduler as a command through the outbox, in the transaction that records it in the audit
log. The scheduler checks again when it applies the command (the state may have moved since).
The scenario row is locked for update, so changes and a model cleanup of one scenario are
decided one at a time here.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from mloop_common import ab_stats, outbox
from mloop_common.db import policy, serving_reads
from mloop_common.db.labelled import labelled
from mloop_common.db.models import ApiKey
from mloop_common.db.paging import Position
from mloop_common.db.serving import ABTest, DeploymentChange
from mloop_common.db.training import ModelVersion
from mloop_common.keyring import Grant
from mloop_common.messages.commands import EndABTest, PromoteModel, RollbackModel, StartABTest
from mloop_common.messages.envelope import Message
from mloop_common.messages.events import DeploymentState
from mloop_common.ml.live import live_metrics
from mloop_common.ml.metrics import task_metrics
from mloop_common.problems import Problem, invalid, not_found
from mloop_common.settings import Settings
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_gateway.context import SERVICE, Gateway
from mloop_gateway.entrypoints.deployments_schemas import ABTestCreate
from mloop_gateway.handlers import audit, scenarios
from mloop_gateway.handlers.models import primary_metric

DEFAULT_SHARE = 0.1
# Tasks whose records are the model's feature columns (a sticky column must be one of them).
FEATURE_RECORDS = frozenset(
    {"classification", "regression", "text_classification", "anomaly_detection"}
)


def _conflict(title: str, detail: str, field: str | None = None) -> Problem:
    errors = None
    if field is not None:
        errors = [{"loc": ["body", field], "msg": detail, "type": "conflict"}]
    return Problem(409, title, detail, errors=errors)


def _version(state: DeploymentState | None) -> int:
    return state.version if state else 0


async def _send(
    gw: Gateway,
    session: AsyncSession,
    grant: Grant,
    command: Message,
    *,
    action: str,
    resource: str,
    resource_id: object,
    detail: dict[str, Any],
) -> None:
    outbox.stage(session, service=SERVICE, message=command)
    audit.record(
        session,
        grant,
        action=action,
        resource=resource,
        resource_id=resource_id,
        scenario_id=command.scenario_id,
        detail={"command_id": str(command.event_id), **detail},
    )
    await session.commit()
    gw.runtime.relay.notify()


# --- changes ---------------------------------------------------------------------------------


async def promote(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, model_id: uuid.UUID, *, reason: str
) -> dict[str, Any]:
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id, for_update=True)
        if await serving_reads.scenario_model(session, scenario_id, model_id) is None:
            raise not_found("model", model_id)
        state = await serving_reads.deployment(session, scenario_id)
        champion = state.champion_model_id if state else None
        if champion == model_id:
            raise _conflict("Already the champion", f"Model {model_id} is the champion already.")
        if state is not None and state.ab_test_id is not None:
            raise _conflict(
                "A/B test running",
                f"A/B test {state.ab_test_id} is running. End it first (POST .../ab-tests/"
                f"{state.ab_test_id}/end, with promote_challenger to promote its challenger).",
            )
        command = PromoteModel(
            scenario_id=scenario_id, model_id=model_id, reason=reason, requested_by=grant.key_id
        )
        await _send(
            gw,
            session,
            grant,
            command,
            action="model.promote",
            resource="model",
            resource_id=model_id,
            detail={"reason": reason, "previous_model_id": _str(champion)},
        )
    return _accepted(command, model_id, champion, state)


async def rollback(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, *, reason: str
) -> dict[str, Any]:
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id, for_update=True)
        state = await serving_reads.deployment(session, scenario_id)
        if state is None or state.champion_model_id is None:
            raise _conflict("Nothing to roll back", "The scenario has no champion yet.")
        target = await serving_reads.rollback_target(session, scenario_id)
        if target is None:
            raise _conflict(
                "Nothing to roll back",
                f"Model {state.champion_model_id} is the first champion: there is no earlier "
                "one to restore.",
            )
        if await serving_reads.scenario_model(session, scenario_id, target) is None:
            raise _conflict(
                "Nothing to roll back",
                f"The previous champion, model {target}, was deleted; promote a model instead.",
            )
        command = RollbackModel(scenario_id=scenario_id, reason=reason, requested_by=grant.key_id)
        await _send(
            gw,
            session,
            grant,
            command,
            action="model.rollback",
            resource="model",
            resource_id=target,
            detail={"reason": reason, "previous_model_id": _str(state.champion_model_id)},
        )
    return _accepted(command, target, state.champion_model_id, state)


def _accepted(
    command: Message,
    model_id: uuid.UUID,
    previous: uuid.UUID | None,
    state: DeploymentState | None,
) -> dict[str, Any]:
    return {
        "command_id": command.event_id,
        "scenario_id": command.scenario_id,
        "model_id": model_id,
        "previous_model_id": previous,
        "version": _version(state),
    }


async def start_test(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, body: ABTestCreate
) -> dict[str, Any]:
    share, sticky = _traffic(body)
    async with gw.db.transaction() as session:
        scenario = await scenarios.load(session, grant, scenario_id, for_update=True)
        metric = body.primary_metric or primary_metric(scenario)
        if metric not in task_metrics(scenario.task_type):
            raise invalid(
                ["body", "primary_metric"],
                f"{metric!r} is not a metric of {scenario.task_type}; use one of "
                + ", ".join(task_metrics(scenario.task_type)),
                "metric",
            )
        challenger = await serving_reads.scenario_model(
            session, scenario_id, body.challenger_model_id
        )
        if challenger is None:
            detail = f"No model {body.challenger_model_id} in this scenario."
            raise Problem(
                404,
                "Not found",
                detail,
                errors=[{"loc": ["body", "challenger_model_id"], "msg": detail, "type": "missing"}],
            )
        state = await serving_reads.deployment(session, scenario_id)
        champion_id = state.champion_model_id if state else None
        if state is None or champion_id is None:
            raise _conflict("No champion", "Promote a champion before testing a challenger.")
        if body.champion_model_id is not None and body.champion_model_id != champion_id:
            raise _conflict(
                "Not the champion",
                f"Model {body.champion_model_id} is not the champion; model {champion_id} is.",
                "champion_model_id",
            )
        if body.challenger_model_id == champion_id:
            raise _conflict(
                "Challenger is the champion",
                f"Model {champion_id} is the champion; pick another model as challenger.",
                "challenger_model_id",
            )
        if state.ab_test_id is not None:
            raise _conflict(
                "A/B test running",
                f"A/B test {state.ab_test_id} is running; end it before starting another.",
            )
        champion = await serving_reads.scenario_model(session, scenario_id, champion_id)
        if sticky is not None and scenario.task_type in FEATURE_RECORDS:
            for model in (champion, challenger):
                if model is not None and sticky not in _columns(model):
                    raise invalid(
                        ["body", "sticky_column"],
                        f"{sticky!r} is not an input column of model {model.id}",
                        "column",
                    )
        test_id = uuid.uuid4()
        command = StartABTest(
            scenario_id=scenario_id,
            test_id=test_id,
            mode=body.mode,
            champion_model_id=champion_id,
            challenger_model_id=body.challenger_model_id,
            challenger_share=share,
            sticky_column=sticky,
            primary_metric=metric,
            min_samples=body.min_samples,
            requested_by=grant.key_id,
        )
        await _send(
            gw,
            session,
            grant,
            command,
            action="ab_test.start",
            resource="ab_test",
            resource_id=test_id,
            detail={
                "mode": body.mode,
                "champion_model_id": str(champion_id),
                "challenger_model_id": str(body.challenger_model_id),
                "challenger_share": share,
            },
        )
    return {
        "command_id": command.event_id,
        "test_id": test_id,
        "scenario_id": scenario_id,
        "mode": body.mode,
        "champion_model_id": champion_id,
        "challenger_model_id": body.challenger_model_id,
        "challenger_share": share,
        "sticky_column": sticky,
        "primary_metric": metric,
        "min_samples": body.min_samples,
        "version": state.version,
    }


def _traffic(body: ABTestCreate) -> tuple[float, str | None]:
    """The challenger's share and the sticky column the mode allows (422 naming the field)."""
    if body.mode == "shadow":
        if body.challenger_share:
            raise invalid(
                ["body", "challenger_share"],
                "shadow mode answers every request with the champion; leave challenger_share out",
            )
        if body.sticky_column is not None:
            raise invalid(
                ["body", "sticky_column"],
                "shadow mode scores every request with both models; leave sticky_column out",
            )
        return 0.0, None
    share = DEFAULT_SHARE if body.challenger_share is None else body.challenger_share
    if not 0 < share < 1:
        raise invalid(
            ["body", "challenger_share"],
            f"must be strictly between 0 and 1 in mode ab_test, not {share}",
            "range",
        )
    return share, body.sticky_column


def _columns(model: ModelVersion) -> set[str]:
    return {column.get("name") for column in (model.signature or {}).get("columns", [])}


async def end_test(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    test_id: uuid.UUID,
    *,
    promote_challenger: bool,
    reason: str,
) -> dict[str, Any]:
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id, for_update=True)
        test = await serving_reads.ab_test(session, scenario_id, test_id)
        if test is None:
            raise not_found("A/B test", test_id)
        state = await serving_reads.deployment(session, scenario_id)
        if test.status != serving_reads.RUNNING or state is None or state.ab_test_id != test_id:
            raise _conflict("A/B test ended", f"A/B test {test_id} is not running.")
        challenger = test.challenger_model_id
        if promote_challenger and not await serving_reads.scenario_model(
            session, scenario_id, challenger
        ):
            raise _conflict(
                "Challenger deleted",
                f"The challenger, model {challenger}, no longer exists.",
                "promote_challenger",
            )
        command = EndABTest(
            scenario_id=scenario_id,
            test_id=test_id,
            promote_challenger=promote_challenger,
            reason=reason,
            requested_by=grant.key_id,
        )
        await _send(
            gw,
            session,
            grant,
            command,
            action="ab_test.end",
            resource="ab_test",
            resource_id=test_id,
            detail={"promote_challenger": promote_challenger, "reason": reason},
        )
    champion = test.challenger_model_id if promote_challenger else state.champion_model_id
    assert champion is not None
    return {
        "command_id": command.event_id,
        "test_id": test_id,
        "promote_challenger": promote_challenger,
        "model_id": champion,
        "version": state.version,
    }


# --- reads -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeploymentView:
    scenario_id: uuid.UUID
    state: DeploymentState | None
    models: dict[uuid.UUID, ModelVersion]
    since: dict[str, Any]
    test: ABTest | None
    rollback_target: uuid.UUID | None
    history: list[DeploymentChange]
    names: dict[uuid.UUID, str]


async def current(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, *, history_limit: int
) -> DeploymentView:
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        state = await serving_reads.deployment(session, scenario_id)
        models: dict[uuid.UUID, ModelVersion] = {}
        test = None
        if state is not None:
            models = await serving_reads.models_by_id(
                session, scenario_id, (state.champion_model_id, state.challenger_model_id)
            )
            if state.ab_test_id is not None:
                test = await serving_reads.ab_test(session, scenario_id, state.ab_test_id)
        latest = await serving_reads.latest_changes(session, scenario_id)
        history = []
        if history_limit:
            history = await serving_reads.history_page(session, scenario_id, limit=history_limit)
        return DeploymentView(
            scenario_id=scenario_id,
            state=state,
            models=models,
            since={alias: change.at for alias, change in latest.items()},
            test=test,
            rollback_target=await serving_reads.rollback_target(session, scenario_id),
            history=history,
            names=await _key_names(session, history),
        )


async def history(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, *, limit: int, before_id: int | None
) -> tuple[list[DeploymentChange], dict[uuid.UUID, str]]:
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        rows = await serving_reads.history_page(
            session, scenario_id, limit=limit, before_id=before_id
        )
        return rows, await _key_names(session, rows)


async def _key_names(session: AsyncSession, rows: list[DeploymentChange]) -> dict[uuid.UUID, str]:
    ids = {row.requested_by for row in rows if row.requested_by is not None}
    if not ids:
        return {}
    found = await session.execute(select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(ids)))
    return dict(found.tuples().all())


async def ab_tests_page(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    *,
    limit: int,
    after: Position | None,
    status: str | None,
) -> list[ABTest]:
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        return await serving_reads.ab_tests_page(
            session, scenario_id, limit=limit, after=after, status=status
        )


@dataclass(frozen=True)
class ArmResults:
    """One arm's labelled predictions while the test ran (the latest `ab_max_samples`): how
    many, and their live primary metric."""

    labelled: int
    primary_value: float | None


@dataclass(frozen=True)
class ABTestView:
    test: ABTest
    counts: dict[tuple[str, uuid.UUID], int]
    arms: dict[str, ArmResults]
    comparison: ab_stats.Comparison | None  # None before any feedback


async def ab_test_detail(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, test_id: uuid.UUID
) -> ABTestView:
    """The test, its logged predictions per (arm, model) while it ran, and its arms compared
    on the feedback so far, as the scheduler's policy compares them."""
    async with gw.db.transaction() as session:
        scenario = await scenarios.load(session, grant, scenario_id)
        test = await serving_reads.ab_test(session, scenario_id, test_id)
        if test is None:
            raise not_found("A/B test", test_id)
        counts = await serving_reads.arm_counts(
            session,
            scenario_id,
            model_ids=(test.champion_model_id, test.challenger_model_id),
            since=test.started_at,
            until=test.ended_at,
        )
        challenger_arm = "shadow" if test.mode == "shadow" else serving_reads.CHALLENGER
        found = {}
        for name, arm, model_id in (
            ("champion", serving_reads.CHAMPION, test.champion_model_id),
            ("challenger", challenger_arm, test.challenger_model_id),
        ):
            rows = await labelled(
                session,
                scenario_id,
                model_id=model_id,
                arm=arm,
                since=test.started_at,
                until=test.ended_at,
                last=gw.settings.ab_max_samples,
            )
            found[name] = ([r.output for r in rows], [r.actual for r in rows])
    arms, comparison = await asyncio.to_thread(
        _compare, scenario.task_type, test, found, gw.settings
    )
    return ABTestView(test, counts, arms, comparison)


def _compare(
    task_type: str,
    test: ABTest,
    found: dict[str, tuple[list[Any], list[Any]]],
    settings: Settings,
) -> tuple[dict[str, ArmResults], ab_stats.Comparison | None]:
    arms = {}
    for name, (outputs, actuals) in found.items():
        value = None
        if outputs:
            try:
                live = live_metrics(task_type, outputs, actuals)
                value = live.metrics.get(test.primary_metric or "")
            except ValueError:  # feedback of another kind than the labels: no metric
                value = None
        arms[name] = ArmResults(len(outputs), value)
    if not any(outputs for outputs, _ in found.values()):
        return arms, None
    comparison = ab_stats.compare_arms(
        task_type,
        test.primary_metric,
        found["champion"],
        found["challenger"],
        alpha=settings.ab_alpha,
        min_samples=test.min_samples,
        max_samples=settings.ab_max_samples,
    )
    return arms, comparison


# --- the deployment policy's decisions -------------------------------------------------------


async def decisions_page(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    *,
    limit: int,
    after: Position | None,
    decision: str | None,
    model_id: uuid.UUID | None,
) -> list[policy.DeploymentDecision]:
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        return await policy.decisions_page(
            session, scenario_id, limit=limit, after=after, decision=decision, model_id=model_id
        )


def _str(value: object | None) -> str | None:
    return None if value is None else str(value)
