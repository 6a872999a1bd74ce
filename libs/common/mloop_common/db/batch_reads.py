"""Read queries over batch predictions, for every service that shows them.

A batch job is seen through two rows: the gateway's request (present from the API call on) and
the predictor's job (present once the predictor has recorded the PredictBatch command). A job
requested a moment ago has no predictor row yet and shows as queued. `BatchView` joins them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_common.db.catalog import DatasetVersion
from mloop_common.db.paging import Position, newest_first
from mloop_common.db.serving import BatchJob, BatchRequest
from mloop_common.leases import QUEUED, SUCCEEDED


@dataclass(frozen=True)
class BatchView:
    request: BatchRequest | None
    job: BatchJob | None

    @property
    def id(self) -> uuid.UUID:
        return (self.job or self.request).id  # type: ignore[union-attr]

    @property
    def scenario_id(self) -> uuid.UUID:
        return (self.job or self.request).scenario_id  # type: ignore[union-attr]

    @property
    def created_at(self) -> datetime:
        if self.request is not None:
            return self.request.requested_at
        return self.job.created_at  # type: ignore[union-attr]

    @property
    def status(self) -> str:
        return self.job.status if self.job is not None else QUEUED

    @property
    def output_key(self) -> str | None:
        job = self.job
        return job.output_key if job is not None and job.status == SUCCEEDED else None

    def public(self) -> dict[str, Any]:
        job, request = self.job, self.request
        either = job or request
        return {
            "job_id": self.id,
            "scenario_id": self.scenario_id,
            "status": self.status,
            "dataset_id": either.dataset_id,  # type: ignore[union-attr]
            "input": "dataset" if either.dataset_id else "upload",  # type: ignore[union-attr]
            "model_id": (job.model_id if job and job.model_id else None)
            or (request.model_id if request else None),
            "progress": job.progress if job else 0.0,
            "rows_done": job.rows_done if job else 0,
            "attempts": job.attempts if job else 0,
            "error": job.error if job else None,
            "requested_by": request.requested_by if request else None,
            "created_at": self.created_at,
            "started_at": job.started_at if job else None,
            "finished_at": job.finished_at if job else None,
        }


def _batches_query(scenario_id: uuid.UUID) -> Select[tuple[BatchRequest, BatchJob]]:
    return (
        select(BatchRequest, BatchJob)
        .join(BatchJob, BatchRequest.id == BatchJob.id, full=True)
        .where(or_(BatchRequest.scenario_id == scenario_id, BatchJob.scenario_id == scenario_id))
    )


async def get_batch(
    session: AsyncSession, scenario_id: uuid.UUID, job_id: uuid.UUID
) -> BatchView | None:
    row = (
        await session.execute(
            _batches_query(scenario_id).where(or_(BatchRequest.id == job_id, BatchJob.id == job_id))
        )
    ).first()
    return BatchView(*row) if row else None


async def page_batches(
    session: AsyncSession,
    scenario_id: uuid.UUID,
    *,
    limit: int,
    after: Position | None = None,
) -> list[BatchView]:
    """Batch jobs newest first, from the one after `after` (the last of the previous page)."""
    created = func.coalesce(BatchRequest.requested_at, BatchJob.created_at)
    id_ = func.coalesce(BatchRequest.id, BatchJob.id)
    query = newest_first(_batches_query(scenario_id), created, id_, after=after, limit=limit)
    return [BatchView(*row) for row in (await session.execute(query)).all()]


@dataclass(frozen=True)
class DatasetInput:
    """Where a dataset version's CSV is and how to read it."""

    artifact_key: str
    encoding: str
    delimiter: str


async def dataset_input(session: AsyncSession, dataset_id: uuid.UUID) -> DatasetInput | None:
    """The stored file of a dataset version (None once the version was deleted)."""
    row = (
        await session.execute(
            select(
                DatasetVersion.artifact_key, DatasetVersion.encoding, DatasetVersion.delimiter
            ).where(DatasetVersion.id == dataset_id)
        )
    ).first()
    return DatasetInput(*row) if row else None
