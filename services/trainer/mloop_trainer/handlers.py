"""Use cases of the trainer: queue a requested run, execute claimed runs, delete models."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from mloop_common import leases
from mloop_common.leases import LeaseLost
from mloop_common.messages.commands import DeleteModels, Resources, TrainModel

from mloop_trainer.adapters import runs
from mloop_trainer.adapters.sandbox import Outcome
from mloop_trainer.context import Trainer
from mloop_trainer.domain.capacity import limits, refusal

log = logging.getLogger(__name__)

LOG_FLUSH_SECONDS = 0.5
PROGRESS_SECONDS = 0.5


async def on_train_model(trainer: Trainer, command: TrainModel, *, consumer: str) -> None:
    if await runs.record(trainer.db, command, consumer=consumer):
        trainer.wake.set()


async def on_delete_models(trainer: Trainer, command: DeleteModels, *, consumer: str) -> None:
    for _, key in await runs.delete_models(trainer.db, command, consumer=consumer):
        await asyncio.to_thread(trainer.store.delete, key)


async def work(trainer: Trainer, slot: int) -> None:
    """One worker: claim a queued run, execute it, repeat; sleep when the queue is empty
    until a command wakes the trainer or the poll interval passes."""
    owner = f"{trainer.instance}/{slot}"
    while True:
        run = await runs.claim(trainer.db, owner=owner, ttl=trainer.settings.lease_ttl)
        if run is None:
            trainer.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    trainer.wake.wait(), timeout=trainer.settings.trainer_poll_interval
                )
            continue
        try:
            await execute(trainer, run, owner=owner)
        except LeaseLost:
            log.warning("run %s: lease lost to another trainer; its outcome is discarded", run.id)


async def reconcile(trainer: Trainer) -> None:
    """Re-queue (or fail, after too many starts) runs whose trainer died."""
    while True:
        requeued, failed = await runs.reconcile(
            trainer.db, max_attempts=trainer.settings.run_max_attempts
        )
        if requeued or failed:
            log.info("reconciled runs: %d re-queued, %d failed", requeued, failed)
            trainer.wake.set()
        await asyncio.sleep(trainer.settings.reconcile_interval)


@dataclass
class _RunReport:
    """What the child reports while it runs, written to Postgres at a bounded rate."""

    trainer: Trainer
    run: Any
    owner: str
    lines: list[str] = field(default_factory=list)
    latest: tuple[float, str] | None = None
    written: tuple[float, str] | None = None

    def on_log(self, line: str) -> None:
        self.lines.append(line)

    def on_progress(self, share: float, message: str) -> None:
        self.latest = (max(0.0, min(share, 1.0)), message)

    async def flush(self) -> None:
        lines, self.lines = self.lines, []
        await runs.append_logs(self.trainer.db, self.run.id, lines)
        if self.latest is not None and self.latest != self.written:
            self.written = self.latest
            await runs.progress(
                self.trainer.db,
                self.run,
                owner=self.owner,
                share=self.latest[0],
                message=self.latest[1],
            )

    async def keep_flushing(self) -> None:
        while True:
            await asyncio.sleep(LOG_FLUSH_SECONDS)
            await self.flush()


async def execute(trainer: Trainer, run: Any, *, owner: str) -> None:
    settings = trainer.settings
    if run.spec is None:
        await runs.fail(trainer.db, run, owner=owner, error="TrainModel carried no run spec")
        return
    resources = Resources.model_validate(run.spec.get("resources", {}))
    refused = refusal(resources, trainer.machine)
    if refused:
        await runs.fail(trainer.db, run, owner=owner, error=f"refused: {refused}")
        return
    await runs.start(trainer.db, run, owner=owner)
    trainer.runtime.relay.notify()
    model_id = uuid.uuid4()
    job = {
        "run_id": str(run.id),
        "scenario_id": str(run.scenario_id),
        "model_id": str(model_id),
        "spec": run.spec,
        "artifact_url": settings.resolved_artifact_url,
        "s3_endpoint_url": settings.s3_endpoint_url,
        # Scored on the run's holdout too, so the deployment policy compares on the same rows.
        "champion": await runs.champion(trainer.db, run.scenario_id),
    }
    report = _RunReport(trainer, run, owner)
    lost = asyncio.Event()
    started = time.monotonic()
    async with leases.held(
        trainer.db, type(run), run.id, owner=owner, ttl=settings.lease_ttl
    ) as beat:
        beat.add_done_callback(lambda task: task.cancelled() or lost.set())
        flusher = asyncio.create_task(report.keep_flushing())
        try:
            outcome = await trainer.pool.run(
                job,
                limits(
                    resources,
                    max_seconds=settings.run_max_seconds,
                    max_memory_mb=settings.run_max_memory_mb,
                ),
                on_log=report.on_log,
                on_progress=report.on_progress,
                cancel=lost,
            )
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, LeaseLost):
                await flusher
        if not outcome.wall_seconds:
            outcome.wall_seconds = time.monotonic() - started
        try:
            await runs.append_logs(trainer.db, run.id, [*report.lines, _summary(outcome)])
            if lost.is_set():
                raise LeaseLost(run.id)
            await _record(trainer, run, owner=owner, model_id=model_id, outcome=outcome)
        except LeaseLost:
            await _discard(trainer, outcome)
            raise


async def _record(
    trainer: Trainer, run: Any, *, owner: str, model_id: uuid.UUID, outcome: Outcome
) -> None:
    usage = {
        "peak_memory_mb": outcome.peak_memory_mb,
        "cpu_seconds": outcome.cpu_seconds,
        "wall_seconds": outcome.wall_seconds,
    }
    if outcome.status == "completed" and outcome.result is not None:
        await runs.complete(
            trainer.db, run, owner=owner, model_id=model_id, result=outcome.result, usage=usage
        )
    else:
        error = outcome.error or "failed"
        await runs.fail(trainer.db, run, owner=owner, error=error, usage=usage)
    trainer.runtime.relay.notify()


def _summary(outcome: Outcome) -> str:
    return (
        f"run {outcome.status} ({outcome.reason}): peak {outcome.peak_memory_mb:.0f} MB, "
        f"{outcome.cpu_seconds:.1f} CPU s, {outcome.wall_seconds:.1f} s"
        + (f"; {outcome.error}" if outcome.error else "")
    )


async def _discard(trainer: Trainer, outcome: Outcome) -> None:
    """Delete the artifact of an outcome nobody will record."""
    if outcome.result is not None:
        await asyncio.to_thread(trainer.store.delete, outcome.result["artifact"]["key"])
