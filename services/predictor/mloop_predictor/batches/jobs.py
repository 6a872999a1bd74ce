"""The predictor's batch job rows in Postgres (a leased work queue).

The PredictBatch consumer only records a job as queued; workers claim jobs under a lease and
record their outcome only while they still hold it. Success stages BatchPredictionCompleted in
the transaction that marks the job succeeded.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from mloop_common import leases, outbox
from mloop_common.db.batch_reads import DatasetInput, dataset_input
from mloop_common.db.engine import Database
from mloop_common.db.serving import BatchJob
from mloop_common.db.serving_reads import deployment
from mloop_common.db.training import ModelVersion
from mloop_common.delivery import first_delivery
from mloop_common.leases import FAILED, QUEUED, RUNNING, SUCCEEDED, LeaseLost
from mloop_common.messages.commands import PredictBatch
from mloop_common.messages.events import BatchPredictionCompleted
from mloop_common.storage import StoredObject
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

SERVICE = "predictor"
ERROR_CHARS = 8000


def _now() -> datetime:
    return datetime.now(UTC)


def output_key(job: BatchJob) -> str:
    return f"scenarios/{job.scenario_id}/batches/{job.id}/output.csv"


async def record(db: Database, command: PredictBatch, *, consumer: str) -> bool:
    """Queue the job the command asks for; False when it was recorded already (or its
    scenario is gone). A command naming no input is recorded as failed at once."""
    if command.scenario_id is None:
        return False
    unusable = None if command.dataset_id or command.input_key else "no dataset and no file given"
    try:
        async with db.transaction() as session:
            if not await first_delivery(session, consumer=consumer, event_id=command.event_id):
                return False
            result = await session.execute(
                pg_insert(BatchJob)
                .values(
                    id=command.job_id,
                    scenario_id=command.scenario_id,
                    dataset_id=command.dataset_id,
                    input_key=command.input_key,
                    encoding=command.encoding,
                    delimiter=command.delimiter,
                    model_id=command.model_id,
                    status=FAILED if unusable else QUEUED,
                    error=unusable,
                    finished_at=_now() if unusable else None,
                    attempts=0,
                    rows_done=0,
                    progress=0.0,
                )
                .on_conflict_do_nothing()
                .returning(BatchJob.id)
            )
            created = result.first() is not None
            await session.commit()
    except IntegrityError:  # the scenario was deleted meanwhile: nothing to do
        return False
    return created and unusable is None


async def claim(db: Database, *, owner: str, ttl: float) -> BatchJob | None:
    return await leases.claim(db, BatchJob, owner=owner, ttl=ttl, order_by=BatchJob.created_at)


async def champion(db: Database, scenario_id: uuid.UUID) -> uuid.UUID | None:
    async with db.transaction() as session:
        state = await deployment(session, scenario_id)
    return state.champion_model_id if state else None


async def model_scenario(db: Database, model_id: uuid.UUID) -> uuid.UUID | None:
    """The scenario a model version belongs to (None: no such model)."""
    async with db.transaction() as session:
        return await session.scalar(
            select(ModelVersion.scenario_id).where(ModelVersion.id == model_id)
        )


async def input_of(db: Database, dataset_id: uuid.UUID) -> DatasetInput | None:
    async with db.transaction() as session:
        return await dataset_input(session, dataset_id)


async def start(db: Database, job: BatchJob, *, owner: str, model_id: uuid.UUID) -> None:
    """Record the model that scores the job (the champion when it was not named) and begin
    from the start (a re-claimed job starts over)."""
    await _update_held(
        db,
        job.id,
        owner,
        model_id=model_id,
        started_at=_now(),
        progress=0.0,
        rows_done=0,
        error=None,
    )


async def progress(db: Database, job_id: uuid.UUID, *, owner: str, rows: int, share: float) -> None:
    await _update_held(db, job_id, owner, rows_done=rows, progress=share)


async def succeed(
    db: Database, job: BatchJob, *, owner: str, model_id: uuid.UUID, output: StoredObject, rows: int
) -> None:
    async with db.transaction() as session:
        await _held(
            session,
            job.id,
            owner,
            status=SUCCEEDED,
            progress=1.0,
            rows_done=rows,
            output_key=output.key,
            output_sha256=output.sha256,
            output_size=output.size,
            finished_at=_now(),
            lease_owner=None,
            lease_expires_at=None,
        )
        outbox.stage(
            session,
            service=SERVICE,
            message=BatchPredictionCompleted(
                scenario_id=job.scenario_id,
                job_id=job.id,
                model_id=model_id,
                output_key=output.key,
                rows=rows,
            ),
        )
        await session.commit()


async def fail(db: Database, job: BatchJob, *, owner: str, error: str) -> None:
    await _update_held(
        db,
        job.id,
        owner,
        status=FAILED,
        error=error[:ERROR_CHARS],
        finished_at=_now(),
        lease_owner=None,
        lease_expires_at=None,
    )


async def _update_held(db: Database, job_id: uuid.UUID, owner: str, **values: Any) -> None:
    async with db.transaction() as session:
        await _held(session, job_id, owner, **values)
        await session.commit()


async def _held(session: Any, job_id: uuid.UUID, owner: str, **values: Any) -> None:
    """Update the job while `owner` holds it; LeaseLost otherwise (taken over, or deleted)."""
    result = await session.execute(
        update(BatchJob)
        .where(BatchJob.id == job_id, BatchJob.status == RUNNING, BatchJob.lease_owner == owner)
        .values(**values)
    )
    if result.rowcount != 1:
        raise LeaseLost(job_id)


async def reconcile(db: Database, *, max_attempts: int) -> tuple[int, int]:
    """Jobs whose predictor stopped renewing their lease: re-queued, or failed once they were
    started `max_attempts` times. Returns (requeued, failed)."""
    async with db.transaction() as session:
        requeued, failed = await leases.take_expired(session, BatchJob, max_attempts=max_attempts)
        for job in failed:
            job.finished_at = _now()
            job.error = (
                f"the predictor running it stopped {job.attempts} time(s) "
                "(its lease expired); not retried again"
            )
        await session.commit()
    return len(requeued), len(failed)
