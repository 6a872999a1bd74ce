"""The batch worker and its reconciler: claim a queued job, resolve its model and input, score
it in a thread (the event loop keeps answering online predictions), store the output, record
the outcome while holding the lease."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import uuid
from pathlib import Path

from mloop_common import leases
from mloop_common.db.serving import BatchJob
from mloop_common.leases import LeaseLost
from mloop_common.storage import ArtifactNotFound, ArtifactStore, StoredObject

from mloop_predictor.batches import jobs
from mloop_predictor.batches.context import Batches
from mloop_predictor.batches.frames import BadInput
from mloop_predictor.batches.runner import BatchRun, Stopped
from mloop_predictor.scoring import ArtifactRejected

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
"""Starts of a job before one whose predictor keeps dying is failed."""
REPORT_TIMEOUT = 10.0


async def work(batches: Batches) -> None:
    """Claim a queued job, execute it, repeat; sleep when none is queued until a command wakes
    the worker or the poll interval passes."""
    owner = batches.instance
    settings = batches.settings
    while True:
        job = await jobs.claim(batches.db, owner=owner, ttl=settings.lease_ttl)
        if job is None:
            batches.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(batches.wake.wait(), timeout=settings.batch_poll_interval)
            continue
        try:
            await execute(batches, job, owner=owner)
        except LeaseLost:
            log.warning("batch %s: lease lost (taken over or deleted); outcome discarded", job.id)
        except Stopped:
            return  # the service is stopping; the job's lease expires and it is re-queued


async def reconcile(batches: Batches) -> None:
    """Re-queue (or fail, after too many starts) jobs whose predictor died."""
    while True:
        requeued, failed = await jobs.reconcile(batches.db, max_attempts=MAX_ATTEMPTS)
        if requeued or failed:
            log.info("reconciled batch jobs: %d re-queued, %d failed", requeued, failed)
            batches.wake.set()
        await asyncio.sleep(batches.settings.reconcile_interval)


async def stop(batches: Batches) -> None:
    """On shutdown: a job being scored stops at its next chunk (its lease then expires and
    another predictor starts it again)."""
    batches.stop.set()


async def execute(batches: Batches, job: BatchJob, *, owner: str) -> None:
    try:
        model_id = job.model_id or await jobs.champion(batches.db, job.scenario_id)
        if model_id is None:
            raise BadInput("the scenario has no champion to score with (and no model was named)")
        if await jobs.model_scenario(batches.db, model_id) != job.scenario_id:
            raise BadInput(f"model {model_id} is not in this scenario's registry (deleted?)")
        await jobs.start(batches.db, job, owner=owner, model_id=model_id)
        async with leases.held(
            batches.db, BatchJob, job.id, owner=owner, ttl=batches.settings.lease_ttl
        ) as beat:
            rows, output = await _score(batches, job, owner=owner, model_id=model_id)
            if beat.done():
                raise LeaseLost(job.id)
            await jobs.succeed(
                batches.db, job, owner=owner, model_id=model_id, output=output, rows=rows
            )
        batches.runtime.relay.notify()
        log.info("batch %s: scored %d rows with model %s", job.id, rows, model_id)
    except (BadInput, ArtifactRejected) as err:
        await jobs.fail(batches.db, job, owner=owner, error=str(err))
    except asyncio.CancelledError:
        batches.stop.set()  # the service is stopping: the scoring thread ends at its next chunk
        raise
    except (LeaseLost, Stopped):
        raise
    except Exception as err:  # a fault of ours or of a store: fail the job, never loop on it
        log.exception("batch %s failed", job.id)
        await jobs.fail(batches.db, job, owner=owner, error=f"{type(err).__name__}: {err}")


async def _score(
    batches: Batches, job: BatchJob, *, owner: str, model_id: uuid.UUID
) -> tuple[int, StoredObject]:
    scorer = await batches.scorers.get(batches.db, batches.store, model_id)
    transform = await batches.transform(batches.db, job.scenario_id)
    key, encoding, delimiter = await _input(batches, job)
    store = batches.store
    try:
        size = await asyncio.to_thread(store.size, key)
    except ArtifactNotFound as err:
        raise BadInput("the input file is no longer stored") from err
    loop = asyncio.get_running_loop()

    def report(rows: int, share: float) -> None:  # from the scoring thread
        if batches.stop.is_set():
            raise Stopped
        update = jobs.progress(batches.db, job.id, owner=owner, rows=rows, share=share)
        asyncio.run_coroutine_threadsafe(update, loop).result(REPORT_TIMEOUT)

    with tempfile.TemporaryDirectory(prefix="mloop-batch-") as folder:
        output = Path(folder) / "output.csv"
        rows = await asyncio.to_thread(
            BatchRun(
                open_input=lambda: store.open(key),
                size=size,
                encoding=encoding,
                delimiter=delimiter,
                scorer=scorer,
                chunk_rows=batches.settings.batch_chunk_rows,
                output=output,
                report=report,
                stop=batches.stop,
                transform=transform,
            ).run
        )
        stored = await asyncio.to_thread(_upload, store, jobs.output_key(job), output)
    return rows, stored


def _upload(store: ArtifactStore, key: str, path: Path) -> StoredObject:
    with path.open("rb") as source:
        return store.write(key, source)


async def _input(batches: Batches, job: BatchJob) -> tuple[str, str, str]:
    """(artifact key, encoding, delimiter) of the job's input."""
    if job.dataset_id is not None:
        found = await jobs.input_of(batches.db, job.dataset_id)
        if found is None:
            raise BadInput(f"dataset version {job.dataset_id} was deleted")
        return found.artifact_key, job.encoding or found.encoding, job.delimiter or found.delimiter
    if job.input_key is None:
        raise BadInput("no dataset and no file given")
    return job.input_key, job.encoding, job.delimiter
