"""The engine of a workflow run: moves one locked run with the domain `Plan` deciding and the
rows following it.

`settle` applies the outcome of a running step's attempt; `advance` skips what can no longer
run and starts what can (a step that finishes at once may make more steps ready); `finish`
writes the plan's states to the rows, stages a WorkflowStepFinished per step that ended in this
change, and ends the run when every step has. All in the caller's transaction.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from mloop_common import outbox
from mloop_common.db.workflow_runs import RUNNING, WorkflowRun, WorkflowStep
from mloop_common.messages.envelope import Message
from mloop_common.messages.events import WorkflowStepFinished
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_scheduler.context import SERVICE, Scheduler
from mloop_scheduler.workflows import steps
from mloop_scheduler.workflows.domain import TERMINAL, Plan, Step, soft_needs

log = logging.getLogger(__name__)

MAX_ERROR = 4000


def _now() -> datetime:
    return datetime.now(UTC)


class Runner:
    """Moves one locked run: the domain `Plan` decides, the rows follow it."""

    def __init__(
        self,
        scheduler: Scheduler,
        session: AsyncSession,
        run: WorkflowRun,
        rows: list[WorkflowStep],
        cause: Message | None,
    ) -> None:
        self.scheduler = scheduler
        self.session = session
        self.run = run
        self.rows = {row.name: row for row in rows}
        self.cause = cause
        self.before = {row.name: row.status for row in rows}
        types = {row.name: row.type for row in rows}
        self.plan = Plan.of(
            Step(
                name=row.name,
                type=row.type,
                needs=tuple(row.needs or ()),
                max_attempts=row.max_attempts,
                soft_needs=soft_needs(row.type, row.config or {}, row.needs or [], types),
                status=row.status,
                attempts=row.attempts,
                retry_at=row.retry_at,
                error=row.error,
            )
            for row in rows
        )

    @property
    def envelope(self) -> dict[str, Any]:
        if self.cause is not None:
            return {**self.cause.caused(), "scenario_id": self.run.scenario_id}
        return {"scenario_id": self.run.scenario_id, "correlation_id": self.run.id}

    def settle(self, name: str, outcome: steps.StepOutcome) -> None:
        """Apply the outcome of a running step's attempt."""
        row, now = self.rows[name], _now()
        if isinstance(outcome, steps.Waiting):
            row.command_id = outcome.command_id
            row.output = {**outcome.output}
            return
        row.output = {**(row.output or {}), **outcome.output}
        if isinstance(outcome, steps.Done):
            self.plan.succeed(name)
            row.finished_at = now
            return
        error = outcome.error[:MAX_ERROR]
        step = self.plan[name]
        if not outcome.retryable:
            step.max_attempts = step.attempts  # no attempt left: fail now
        retried = self.plan.fail(
            name, error, now=now, backoff=self.scheduler.settings.consumer_backoff
        )
        if not retried:
            row.finished_at = now
        log.info(
            "workflow run %s step %s attempt %d failed%s: %s",
            self.run.id,
            name,
            step.attempts,
            "; will retry" if retried else "",
            error,
        )

    async def advance(self) -> None:
        """Skip what cannot run, start what can, until nothing moves."""
        if self.run.status != RUNNING:
            return
        while True:
            for skipped in self.plan.skip_blocked():
                self.rows[skipped.name].finished_at = _now()
            ready = self.plan.ready(_now())
            if not ready:
                return
            for step in ready:
                self._start(step.name)
                outcome = await steps.execute(self._context(step.name))
                self.settle(step.name, outcome)

    def _start(self, name: str) -> None:
        self.plan.start(name)
        row = self.rows[name]
        row.started_at, row.finished_at = _now(), None
        row.command_id, row.output = None, {}

    def _context(self, name: str) -> steps.StepContext:
        return steps.StepContext(
            scheduler=self.scheduler,
            session=self.session,
            run=self.run,
            step=self.rows[name],
            plan=self.plan,
            rows=self.rows,
            envelope=self.envelope,
            requested_by=_key_id(self.run.requested_by),
        )

    def finish(self) -> None:
        """Write the plan's states to the rows, stage a WorkflowStepFinished per step that
        ended in this change, and end the run when every step has."""
        for name, step in self.plan.steps.items():
            row = self.rows[name]
            row.status, row.attempts = step.status, step.attempts
            row.retry_at, row.error = step.retry_at, step.error
            if step.status in TERMINAL and self.before.get(name) not in TERMINAL:
                outbox.stage(
                    self.session,
                    service=SERVICE,
                    message=WorkflowStepFinished(
                        **self.envelope,
                        workflow_run_id=self.run.id,
                        step=name,
                        status=step.status,  # type: ignore[arg-type]
                    ),
                )
        if self.run.status == RUNNING and self.plan.done:
            self.run.status = self.plan.status
            self.run.finished_at = _now()
            log.info("workflow run %s %s", self.run.id, self.run.status)


def _key_id(requested_by: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(requested_by) if requested_by else None
    except ValueError:
        return None
