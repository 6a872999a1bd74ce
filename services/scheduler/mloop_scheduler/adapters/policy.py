"""Automatic deployment in Postgres: the policy's decision on each trained model, the A/B tests
it decides, and the probation of each champion it promoted.

The deployment changes reuse the deployment adapter's steps (`adapters.deployments`) and the
pure decisions of `domain.deployments`, in-process and in the same transaction as the decision
row (`deployment_decisions`) and the events they owe (through the outbox): the scheduler owns
the deployment state, so it does not send itself commands. The scenario's deployment row is
locked first, so these changes and the deployment commands of one scenario apply one at a time.

The A/B and probation checks read the labelled predictions without a lock, then lock the
deployment row and check that nothing moved before writing: replicas may tick at once.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from mloop_common import ab_stats
from mloop_common.db import serving_reads
from mloop_common.db.catalog import Scenario
from mloop_common.db.engine import Database
from mloop_common.db.labelled import Labelled, labelled
from mloop_common.db.policy import (
    ENDED,
    KEPT_CHAMPION,
    LEFT_AS_CANDIDATE,
    PASSED,
    PROMOTED,
    ROLLED_BACK,
    WATCHING,
    DeploymentDecision,
    Probation,
)
from mloop_common.db.serving import ABTest, Deployment
from mloop_common.db.training import ModelVersion
from mloop_common.delivery import PermanentError, first_delivery
from mloop_common.messages.envelope import Message
from mloop_common.messages.events import (
    ABTestEnded,
    ABTestStarted,
    ModelPromoted,
    ModelRolledBack,
    ModelTrained,
)
from mloop_common.ml.live import LiveMetrics, live_metrics
from mloop_common.ml.metrics import default_metric
from mloop_common.settings import Settings
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_scheduler.adapters.deployments import (
    close_test,
    current_state,
    lock_deployment,
    stage,
    write_outcome,
)
from mloop_scheduler.domain import deployments as domain
from mloop_scheduler.domain import policy
from mloop_scheduler.domain.deployments import Outcome, Refused
from mloop_scheduler.workflows import adapters as workflow_rows

log = logging.getLogger(__name__)

POLICY = "policy"
PROBATION = "probation"


def _now() -> datetime:
    return datetime.now(UTC)


def _model(row: ModelVersion) -> policy.Model:
    metric = row.primary_metric or default_metric(row.task_type)
    return policy.Model(row.id, metric, dict(row.metrics or {}))


def _decide(
    session: AsyncSession,
    scenario: Scenario,
    model_id: uuid.UUID | None,
    decision: str,
    reason: str,
    detail: dict[str, Any],
) -> None:
    session.add(
        DeploymentDecision(
            id=uuid.uuid4(),
            scenario_id=scenario.id,
            model_id=model_id,
            policy=scenario.deployment_policy,
            decision=decision,
            reason=reason,
            detail=detail,
            at=_now(),
        )
    )
    log.info(
        "scenario %s, model %s: %s (%s)",
        scenario.id,
        model_id,
        decision,
        reason,
    )


# --- on a trained model ----------------------------------------------------------------------


async def on_model_trained(
    db: Database, event: ModelTrained, *, settings: Settings, consumer: str
) -> bool:
    """Apply the scenario's policy to the new model; True when it staged deployment events.

    A model trained by a workflow run whose definition has a deployment step is that step's to
    deploy (it promotes when its gates pass, or leaves it by its own `policy: manual`): the
    policy records that it left it and does nothing, so the two never both act. A workflow
    without a deployment step leaves its models to the policy like any other run."""
    if event.scenario_id is None:
        raise PermanentError(f"ModelTrained {event.event_id} names no scenario")
    scenario_id = event.scenario_id
    async with db.transaction() as session:
        if not await first_delivery(session, consumer=consumer, event_id=event.event_id):
            return False
        scenario = await session.get(Scenario, scenario_id)
        if scenario is None:  # deleted since: nothing left to deploy
            await session.commit()
            return False
        deciding = await workflow_rows.deployment_step_for(session, event.run_id)
        if deciding is not None:
            workflow_run_id, step = deciding
            _decide(
                session,
                scenario,
                event.model_id,
                LEFT_AS_CANDIDATE,
                f"trained by workflow run {workflow_run_id}, whose deployment step {step!r} "
                "decides on it; the policy leaves it",
                {
                    "run_id": str(event.run_id),
                    "workflow_run_id": str(workflow_run_id),
                    "step": step,
                    "deferred_to": "workflow",
                },
            )
            await session.commit()
            return False
        row = await lock_deployment(session, scenario_id)
        state = current_state(row)
        candidate = await serving_reads.scenario_model(
            session, scenario_id, event.model_id, lock=True
        )
        if candidate is None:
            _decide(
                session,
                scenario,
                event.model_id,
                LEFT_AS_CANDIDATE,
                "the model was deleted before the policy could decide",
                {},
            )
            await session.commit()
            return False
        champion = None
        if state is not None and state.champion_model_id is not None:
            champion = await serving_reads.scenario_model(
                session, scenario_id, state.champion_model_id
            )
        choice = policy.on_trained(
            scenario.deployment_policy,
            _model(candidate),
            _model(champion) if champion else None,
            baseline=event.baseline,
            margin=settings.deploy_margin,
        )
        detail = {**choice.detail, "run_id": str(event.run_id)}
        if event.baseline is not None:
            detail["baseline"] = event.baseline
        staged = False
        try:
            if choice.action == "promote":
                first = champion is None
                outcome = domain.promote(state, candidate.id, reason=POLICY)
                if first:
                    outcome = _reasoned(outcome, policy.FIRST_MODEL)
                await write_outcome(session, scenario_id, row, outcome, None)
                stage(session, _promoted(scenario_id, outcome, event))
                if champion is not None:
                    await _start_probation(session, scenario, candidate, champion, settings)
                    detail["probation"] = True
                staged = True
            elif choice.action == "start_ab_test":
                detail["test_id"] = str(
                    await _start_test(session, event, scenario_id, row, candidate, settings)
                )
                staged = True
        except Refused as refused:
            choice = policy.Choice(
                "none",
                LEFT_AS_CANDIDATE,
                f"{choice.reason}; but it cannot be done now: {refused}",
            )
        _decide(session, scenario, candidate.id, choice.decision, choice.reason, detail)
        await session.commit()
    return staged


def _reasoned(outcome: Outcome, reason: str) -> Outcome:
    """The outcome with `reason` on its history rows."""
    changes = tuple(replace(change, reason=reason) for change in outcome.changes)
    promoted = replace(outcome.promoted, reason=reason) if outcome.promoted else None
    return replace(outcome, changes=changes, promoted=promoted)


def _promoted(
    scenario_id: uuid.UUID, outcome: Outcome, cause: Message | None = None
) -> ModelPromoted:
    assert outcome.promoted is not None and outcome.promoted.model_id is not None
    return ModelPromoted(
        **(cause.caused() if cause is not None else {"scenario_id": scenario_id}),
        model_id=outcome.promoted.model_id,
        previous_model_id=outcome.promoted.previous_model_id,
        reason=POLICY,
        state=outcome.state,
    )


async def _start_test(
    session: AsyncSession,
    event: ModelTrained,
    scenario_id: uuid.UUID,
    row: Deployment | None,
    candidate: ModelVersion,
    settings: Settings,
) -> uuid.UUID:
    test_id = uuid.uuid4()
    outcome = domain.start_test(
        current_state(row),
        test_id=test_id,
        mode="ab_test",
        challenger_model_id=candidate.id,
        challenger_share=settings.ab_share,
        reason=POLICY,
    )
    await write_outcome(session, scenario_id, row, outcome, None)
    state = outcome.state
    assert state.champion_model_id is not None and state.challenger_model_id is not None
    session.add(
        ABTest(
            id=test_id,
            scenario_id=scenario_id,
            mode="ab_test",
            champion_model_id=state.champion_model_id,
            challenger_model_id=state.challenger_model_id,
            challenger_share=state.challenger_share,
            sticky_column=None,
            primary_metric=candidate.primary_metric,
            min_samples=settings.ab_min_samples,
            status=serving_reads.RUNNING,
            requested_by=None,
            started_at=_now(),
        )
    )
    stage(
        session,
        ABTestStarted(
            **event.caused(),
            test_id=test_id,
            champion_model_id=state.champion_model_id,
            challenger_model_id=state.challenger_model_id,
            state=state,
        ),
    )
    return test_id


# --- probation -------------------------------------------------------------------------------


async def _start_probation(
    session: AsyncSession,
    scenario: Scenario,
    new: ModelVersion,
    old: ModelVersion,
    settings: Settings,
) -> None:
    """Watch `new` (just promoted by the policy) against `old`; replaces an earlier probation."""
    started = _now()
    metric = new.primary_metric
    reference = await _reference(
        session,
        scenario,
        old,
        metric,
        until=started,
        required=settings.probation_predictions,
        settings=settings,
    )
    found = await session.get(Probation, scenario.id, with_for_update=True)
    values = {
        "model_id": new.id,
        "previous_model_id": old.id,
        "metric": metric,
        "baseline": reference.value,
        "baseline_source": reference.source,
        "required": settings.probation_predictions,
        "started_at": started,
        "status": WATCHING,
        "ended_at": None,
    }
    if found is None:
        session.add(Probation(scenario_id=scenario.id, **values))
    else:
        for name, value in values.items():
            setattr(found, name, value)


async def _reference(
    session: AsyncSession,
    scenario: Scenario,
    old: ModelVersion,
    metric: str,
    *,
    until: datetime,
    required: int,
    settings: Settings,
) -> policy.Reference:
    """The old champion's live `metric` over its last `required` labelled predictions before
    `until`, or its holdout value when it had too little feedback."""
    rows = _answered(
        await labelled(session, scenario.id, model_id=old.id, until=until, last=required)
    )
    live = _live(scenario.task_type, old, rows)
    return policy.probation_reference(
        live.metrics.get(metric) if live else None,
        live.labelled if live else 0,
        min_labelled=min(required, settings.monitor_min_labelled),
        holdout=(old.metrics or {}).get(metric),
    )


def _answered(rows: list[Labelled]) -> list[Labelled]:
    """Predictions a model answered with (a shadow's are scored, not answered)."""
    return [row for row in rows if row.arm != "shadow"]


def _live(task_type: str, model: ModelVersion, rows: list[Labelled]) -> LiveMetrics | None:
    """The model's live metrics on `rows`; None (logged) when they cannot be computed, e.g.
    feedback whose labels are of another kind than the model's."""
    labels = ((model.signature or {}).get("target") or {}).get("labels") or ()
    try:
        return live_metrics(task_type, [r.output for r in rows], [r.actual for r in rows], labels)
    except ValueError as error:
        log.warning("live metrics of model %s cannot be computed: %s", model.id, error)
        return None


@dataclass(frozen=True)
class Watch:
    scenario_id: uuid.UUID
    model_id: uuid.UUID


async def watching(db: Database) -> list[Watch]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(Probation.scenario_id, Probation.model_id).where(Probation.status == WATCHING)
        )
        return [Watch(*row) for row in rows]


async def check_probation(db: Database, watch: Watch, *, settings: Settings) -> bool:
    """Decide the probation once the new champion has its labelled predictions; True when it
    staged events (a rollback)."""
    async with db.transaction() as session:
        found = await session.get(Probation, watch.scenario_id)
        scenario = await session.get(Scenario, watch.scenario_id)
        if found is None or scenario is None or found.status != WATCHING:
            return False
        state = await serving_reads.deployment(session, watch.scenario_id)
        if state is None or state.champion_model_id != found.model_id:
            return await _end_moved(session, watch)
        new = await serving_reads.scenario_model(session, watch.scenario_id, found.model_id)
        old = await serving_reads.scenario_model(
            session, watch.scenario_id, found.previous_model_id
        )
        if new is None:
            return await _end_moved(session, watch)
        rows = _answered(
            await labelled(
                session,
                watch.scenario_id,
                model_id=found.model_id,
                since=found.started_at,
                last=found.required,
            )
        )
        if len(rows) < found.required:
            return False
        live = _live(scenario.task_type, new, rows)
        if live is None:
            return False  # logged; no verdict on metrics that cannot be computed
        if old is not None:
            reference = await _reference(
                session,
                scenario,
                old,
                found.metric,
                until=found.started_at,
                required=found.required,
                settings=settings,
            )
        else:
            reference = policy.Reference(found.baseline, found.baseline_source)
        choice = policy.probation_verdict(
            found.metric,
            baseline=reference,
            live=live.metrics.get(found.metric),
            labelled=live.labelled,
            margin=settings.probation_margin,
        )
    async with db.transaction() as session:
        row = await lock_deployment(session, watch.scenario_id)
        current = await session.get(Probation, watch.scenario_id, with_for_update=True)
        if (
            current is None
            or current.status != WATCHING
            or current.model_id != watch.model_id
            or row is None
            or row.champion_model_id != watch.model_id
        ):
            return False  # decided by another replica, or moved meanwhile
        current.baseline, current.baseline_source = reference.value, reference.source
        current.ended_at = _now()
        detail = {**choice.detail, "previous_model_id": str(current.previous_model_id)}
        staged = False
        if choice.action == "rollback":
            staged = await _roll_back(session, scenario, row, current, choice, detail)
        else:
            current.status = PASSED
            _decide(session, scenario, current.model_id, choice.decision, choice.reason, detail)
        await session.commit()
    return staged


async def _roll_back(
    session: AsyncSession,
    scenario: Scenario,
    row: Deployment,
    probation: Probation,
    choice: policy.Choice,
    detail: dict[str, Any],
) -> bool:
    target = await serving_reads.rollback_target(session, scenario.id)
    previous = probation.previous_model_id
    restorable = target == previous and await serving_reads.scenario_model(
        session, scenario.id, previous, lock=True
    )
    if not restorable:
        probation.status = ENDED
        _decide(
            session,
            scenario,
            probation.model_id,
            KEPT_CHAMPION,
            f"{choice.reason}; but the previous champion {previous} cannot be restored "
            f"(a rollback would restore {target}): it stays",
            detail,
        )
        return False
    outcome = _reasoned(domain.rollback(current_state(row), target=target), PROBATION)
    await write_outcome(session, scenario.id, row, outcome, None)
    await close_test(session, outcome, reason=PROBATION)
    stage(
        session,
        ModelRolledBack(
            scenario_id=scenario.id,
            model_id=previous,
            previous_model_id=probation.model_id,
            reason=PROBATION,
            state=outcome.state,
        ),
    )
    if outcome.ended_test_id is not None:
        stage(
            session,
            ABTestEnded(
                scenario_id=scenario.id,
                test_id=outcome.ended_test_id,
                winner_model_id=None,
                reason=PROBATION,
                state=outcome.state,
            ),
        )
    probation.status = ROLLED_BACK
    _decide(session, scenario, probation.model_id, ROLLED_BACK, choice.reason, detail)
    return True


async def _end_moved(session: AsyncSession, watch: Watch) -> bool:
    """The champion changed by other hands (a person promoted or rolled back): the watch ends."""
    found = await session.get(Probation, watch.scenario_id, with_for_update=True)
    state = await serving_reads.deployment(session, watch.scenario_id)
    if found is not None and found.status == WATCHING and found.model_id == watch.model_id:
        if state is None or state.champion_model_id != watch.model_id:
            found.status, found.ended_at = ENDED, _now()
            await session.commit()
    return False


# --- A/B tests the policy decides ------------------------------------------------------------


@dataclass(frozen=True)
class Running:
    scenario_id: uuid.UUID
    test_id: uuid.UUID


async def running_tests(db: Database) -> list[Running]:
    """Running `ab_test` tests of scenarios whose policy is `ab_test` (whoever started them;
    under the other policies a test started by hand is ended by hand)."""
    async with db.transaction() as session:
        rows = await session.execute(
            select(ABTest.scenario_id, ABTest.id)
            .join(Scenario, Scenario.id == ABTest.scenario_id)
            .where(
                ABTest.status == serving_reads.RUNNING,
                ABTest.mode == "ab_test",
                Scenario.deployment_policy == "ab_test",
            )
        )
        return [Running(*row) for row in rows]


async def arms(
    session: AsyncSession, test: ABTest, *, task_type: str, settings: Settings
) -> ab_stats.Comparison:
    """The test's arms compared on their labelled predictions so far (each arm's latest
    `ab_max_samples` at most)."""
    found = {}
    for arm, model_id in (
        (serving_reads.CHAMPION, test.champion_model_id),
        (serving_reads.CHALLENGER, test.challenger_model_id),
    ):
        rows = await labelled(
            session,
            test.scenario_id,
            model_id=model_id,
            arm=arm,
            since=test.started_at,
            until=test.ended_at,
            last=settings.ab_max_samples,
        )
        found[arm] = ([r.output for r in rows], [r.actual for r in rows])
    return ab_stats.compare_arms(
        task_type,
        test.primary_metric,
        found[serving_reads.CHAMPION],
        found[serving_reads.CHALLENGER],
        alpha=settings.ab_alpha,
        min_samples=test.min_samples,
        max_samples=settings.ab_max_samples,
    )


async def check_test(db: Database, running: Running, *, settings: Settings) -> bool:
    """End the test once its verdict is in; True when it staged events."""
    async with db.transaction() as session:
        test = await session.get(ABTest, running.test_id)
        scenario = await session.get(Scenario, running.scenario_id)
        if test is None or scenario is None or test.status != serving_reads.RUNNING:
            return False
        comparison = await arms(session, test, task_type=scenario.task_type, settings=settings)
    decision = comparison.decision
    if decision.verdict == "continue":
        return False
    async with db.transaction() as session:
        row = await lock_deployment(session, running.scenario_id)
        test = await session.get(ABTest, running.test_id, with_for_update=True)
        if row is None or test is None or test.status != serving_reads.RUNNING:
            return False
        promote = decision.verdict == "challenger"
        try:
            outcome = domain.end_test(
                current_state(row), test_id=test.id, promote_challenger=promote, reason=POLICY
            )
        except Refused as refused:  # the state names another test: nothing of ours to end
            log.warning("A/B test %s not ended: %s", test.id, refused)
            return False
        if promote and not await serving_reads.scenario_model(
            session, running.scenario_id, test.challenger_model_id, lock=True
        ):
            outcome = domain.end_test(
                current_state(row), test_id=test.id, promote_challenger=False, reason=POLICY
            )
            promote = False
        await write_outcome(session, running.scenario_id, row, outcome, None)
        await close_test(session, outcome, reason=POLICY)
        stage(
            session,
            ABTestEnded(
                scenario_id=running.scenario_id,
                test_id=test.id,
                winner_model_id=outcome.winner_model_id,
                reason=POLICY,
                state=outcome.state,
            ),
        )
        detail = _test_detail(test, comparison, settings)
        if promote:
            stage(session, _promoted(running.scenario_id, outcome))
            new = await serving_reads.scenario_model(
                session, running.scenario_id, test.challenger_model_id
            )
            old = await serving_reads.scenario_model(
                session, running.scenario_id, test.champion_model_id
            )
            if new is not None and old is not None:
                await _start_probation(session, scenario, new, old, settings)
                detail["probation"] = True
            _decide(
                session,
                scenario,
                test.challenger_model_id,
                PROMOTED,
                f"A/B test {test.id}: {decision.reason} on {comparison.compared}; the "
                "challenger is promoted",
                detail,
            )
        else:
            _decide(
                session,
                scenario,
                test.challenger_model_id,
                KEPT_CHAMPION,
                f"A/B test {test.id}: {decision.reason} on {comparison.compared}",
                detail,
            )
        await session.commit()
    return True


def _test_detail(
    test: ABTest, comparison: ab_stats.Comparison, settings: Settings
) -> dict[str, Any]:
    def arm(result: ab_stats.ArmResult) -> dict[str, Any]:
        return {
            "samples": result.samples,
            "value": _finite(result.value),
            "interval": [_finite(result.low), _finite(result.high)],
        }

    decision = comparison.decision
    return {
        "test_id": str(test.id),
        "champion_model_id": str(test.champion_model_id),
        "compared": comparison.compared,
        "higher_is_better": comparison.higher_is_better,
        "champion": arm(comparison.champion),
        "challenger": arm(comparison.challenger),
        "verdict": decision.verdict,
        "p_value": decision.p_value,
        "statistic": decision.statistic,
        "alpha": settings.ab_alpha,
        "min_samples": test.min_samples,
        "max_samples": settings.ab_max_samples,
        "unreadable": comparison.unreadable,
    }


def _finite(value: float) -> float | None:
    return value if value == value and abs(value) != float("inf") else None
