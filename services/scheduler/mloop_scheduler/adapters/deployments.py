"""The scheduler's deployment rows in Postgres: `deployments`, `deployment_history`, `ab_tests`.

Each command is handled in one transaction: it is recorded as processed (a redelivery is a
no-op), the scenario's deployment row is locked (commands of one scenario apply one at a time
whatever topic they came by), the domain decides, and the new state, its history rows, the test
row and the events it owes are written together. A refused command raises `PermanentError`
before anything is written: it is dead-lettered with the reason.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from mloop_common import outbox
from mloop_common.db import serving_reads
from mloop_common.db.engine import Database
from mloop_common.db.serving import ABTest, Deployment, DeploymentChange
from mloop_common.delivery import PermanentError, first_delivery
from mloop_common.messages.commands import EndABTest, PromoteModel, RollbackModel, StartABTest
from mloop_common.messages.envelope import Message
from mloop_common.messages.events import (
    ABTestEnded,
    ABTestStarted,
    DeploymentState,
    ModelPromoted,
    ModelRolledBack,
)
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_scheduler.context import SERVICE
from mloop_scheduler.domain import deployments as domain
from mloop_scheduler.domain.deployments import Outcome, Refused

log = logging.getLogger(__name__)


async def promote(db: Database, command: PromoteModel, *, consumer: str) -> bool:
    """Make the model the champion; False when the command was handled already."""
    async with db.transaction() as session:
        if not await first_delivery(session, consumer=consumer, event_id=command.event_id):
            return False
        scenario_id = _scenario(command)
        row = await lock_deployment(session, scenario_id)
        await _require_model(session, scenario_id, command.model_id, command)
        outcome = _decide(
            command,
            lambda: domain.promote(current_state(row), command.model_id, reason=command.reason),
        )
        await write_outcome(session, scenario_id, row, outcome, command.requested_by)
        stage(session, _promoted(command, outcome, command.reason))
        await session.commit()
    return True


async def rollback(db: Database, command: RollbackModel, *, consumer: str) -> bool:
    """Restore the previous champion (ending a running test); False when handled already."""
    async with db.transaction() as session:
        if not await first_delivery(session, consumer=consumer, event_id=command.event_id):
            return False
        scenario_id = _scenario(command)
        row = await lock_deployment(session, scenario_id)
        target = await serving_reads.rollback_target(session, scenario_id)
        outcome = _decide(command, lambda: domain.rollback(current_state(row), target=target))
        assert target is not None and outcome.state.champion_model_id == target
        await _require_model(session, scenario_id, target, command, role="previous champion")
        await write_outcome(session, scenario_id, row, outcome, command.requested_by)
        await close_test(session, outcome, reason=serving_reads.ROLLBACK)
        previous = outcome.previous_champion
        assert previous is not None
        stage(
            session,
            ModelRolledBack(
                **command.caused(),
                model_id=target,
                previous_model_id=previous,
                reason=command.reason,
                state=outcome.state,
            ),
        )
        if outcome.ended_test_id is not None:
            stage(session, _test_ended(command, outcome, reason=serving_reads.ROLLBACK))
        await session.commit()
    return True


async def start_test(db: Database, command: StartABTest, *, consumer: str) -> bool:
    """Start an A/B or shadow test; False when the command was handled already."""
    async with db.transaction() as session:
        if not await first_delivery(session, consumer=consumer, event_id=command.event_id):
            return False
        scenario_id = _scenario(command)
        row = await lock_deployment(session, scenario_id)
        if await session.get(ABTest, command.test_id) is not None:
            raise _refusal(command, f"A/B test {command.test_id} exists already")
        await _require_model(
            session, scenario_id, command.challenger_model_id, command, role="challenger"
        )
        outcome = _decide(
            command,
            lambda: domain.start_test(
                current_state(row),
                test_id=command.test_id,
                mode=command.mode,
                challenger_model_id=command.challenger_model_id,
                champion_model_id=command.champion_model_id,
                challenger_share=command.challenger_share,
                sticky_column=command.sticky_column,
            ),
        )
        await write_outcome(session, scenario_id, row, outcome, command.requested_by)
        state = outcome.state
        assert state.champion_model_id is not None and state.challenger_model_id is not None
        session.add(
            ABTest(
                id=command.test_id,
                scenario_id=scenario_id,
                mode=command.mode,
                champion_model_id=state.champion_model_id,
                challenger_model_id=state.challenger_model_id,
                challenger_share=state.challenger_share,
                sticky_column=state.sticky_column,
                primary_metric=command.primary_metric,
                min_samples=command.min_samples,
                status=serving_reads.RUNNING,
                requested_by=command.requested_by,
            )
        )
        stage(
            session,
            ABTestStarted(
                **command.caused(),
                test_id=command.test_id,
                champion_model_id=state.champion_model_id,
                challenger_model_id=state.challenger_model_id,
                state=state,
            ),
        )
        await session.commit()
    return True


async def end_test(db: Database, command: EndABTest, *, consumer: str) -> bool:
    """End a running test, promoting its challenger when asked; False when handled already."""
    async with db.transaction() as session:
        if not await first_delivery(session, consumer=consumer, event_id=command.event_id):
            return False
        scenario_id = _scenario(command)
        row = await lock_deployment(session, scenario_id)
        test = await serving_reads.ab_test(session, scenario_id, command.test_id)
        if test is None:
            raise _refusal(command, f"no A/B test {command.test_id} in scenario {scenario_id}")
        outcome = _decide(
            command,
            lambda: domain.end_test(
                current_state(row),
                test_id=command.test_id,
                promote_challenger=command.promote_challenger,
                reason=command.reason,
            ),
        )
        if outcome.winner_model_id is not None:
            await _require_model(
                session, scenario_id, outcome.winner_model_id, command, role="challenger"
            )
        await write_outcome(session, scenario_id, row, outcome, command.requested_by)
        await close_test(session, outcome, reason=command.reason)
        stage(session, _test_ended(command, outcome, reason=command.reason))
        if outcome.promoted is not None:
            stage(session, _promoted(command, outcome, command.reason))
        await session.commit()
    return True


# --- steps shared with automatic deployment and workflow steps -----------------------------
#
# `adapters.policy` and `workflows.adapters` change the deployment state in-process (the
# scheduler owns it, so it does not send itself commands) with these, in their own transaction.


async def lock_deployment(session: AsyncSession, scenario_id: uuid.UUID) -> Deployment | None:
    """The scenario's deployment row, locked until commit (None before its first champion).
    Lock it before deciding, so the changes of one scenario apply one at a time."""
    return await session.get(Deployment, scenario_id, with_for_update=True)


def current_state(row: Deployment | None) -> DeploymentState | None:
    """The deployment state a locked row holds (None when there is no row yet), as the pure
    decisions of `domain.deployments` take it."""
    return None if row is None else serving_reads.state_of(row)


async def write_outcome(
    session: AsyncSession,
    scenario_id: uuid.UUID,
    row: Deployment | None,
    outcome: Outcome,
    requested_by: uuid.UUID | None,
) -> None:
    """Write a decided outcome in the caller's transaction: the new state into the locked `row`
    (a new row when None) and one history row per change. The caller stages the events the
    outcome owes (`stage`) and closes an ended test's row (`close_test`)."""
    state = outcome.state
    values = {
        "version": state.version,
        "champion_model_id": state.champion_model_id,
        "challenger_model_id": state.challenger_model_id,
        "mode": state.mode,
        "ab_test_id": state.ab_test_id,
        "challenger_share": state.challenger_share,
        "sticky_column": state.sticky_column,
        "updated_at": _now(),
    }
    if row is None:
        session.add(Deployment(scenario_id=scenario_id, **values))
    else:
        for name, value in values.items():
            setattr(row, name, value)
    for change in outcome.changes:
        session.add(
            DeploymentChange(
                scenario_id=scenario_id,
                version=state.version,
                action=change.action,
                alias=change.alias,
                model_id=change.model_id,
                previous_model_id=change.previous_model_id,
                reason=change.reason[:32],
                requested_by=requested_by,
            )
        )
    await session.flush()


async def close_test(session: AsyncSession, outcome: Outcome, *, reason: str) -> None:
    """Mark the A/B test the outcome ended (if any) as ended, with its reason and winner."""
    if outcome.ended_test_id is None:
        return
    test = await session.get(ABTest, outcome.ended_test_id)
    if test is None:  # a state naming a test row that is gone: nothing to close
        return
    test.status = serving_reads.ENDED
    test.ended_at = _now()
    test.end_reason = reason[:32]
    test.winner_model_id = outcome.winner_model_id


def stage(session: AsyncSession, message: Message) -> None:
    """Put a deployment event in the scheduler's outbox, in the caller's transaction."""
    outbox.stage(session, service=SERVICE, message=message)


# --- steps of the commands above ------------------------------------------------------------


def _scenario(command: Message) -> uuid.UUID:
    if command.scenario_id is None:
        raise PermanentError(f"{command.type} {command.event_id} names no scenario")
    return command.scenario_id


def _refusal(command: Message, reason: str) -> PermanentError:
    log.warning("refused %s %s: %s", command.type, command.event_id, reason)
    return PermanentError(f"{command.type} refused: {reason}")


def _decide(command: Message, decide: Callable[[], Outcome]) -> Outcome:
    try:
        return decide()
    except Refused as refused:
        raise _refusal(command, str(refused)) from None


async def _require_model(
    session: AsyncSession,
    scenario_id: uuid.UUID,
    model_id: uuid.UUID,
    command: Message,
    *,
    role: str = "model",
) -> None:
    """The model must exist in the scenario; its row stays locked against deletion."""
    if await serving_reads.scenario_model(session, scenario_id, model_id, lock=True) is None:
        raise _refusal(command, f"{role} {model_id} does not exist in scenario {scenario_id}")


def _promoted(command: Message, outcome: Outcome, reason: str) -> ModelPromoted:
    assert outcome.promoted is not None and outcome.promoted.model_id is not None
    return ModelPromoted(
        **command.caused(),
        model_id=outcome.promoted.model_id,
        previous_model_id=outcome.promoted.previous_model_id,
        reason=reason,
        state=outcome.state,
    )


def _test_ended(command: Message, outcome: Outcome, *, reason: str) -> ABTestEnded:
    assert outcome.ended_test_id is not None
    return ABTestEnded(
        **command.caused(),
        test_id=outcome.ended_test_id,
        winner_model_id=outcome.winner_model_id,
        reason=reason,
        state=outcome.state,
    )


def _now() -> datetime:
    return datetime.now(UTC)
