"""Batch predictions: requested here (recorded, then sent to the predictors as PredictBatch),
executed there; their outputs download from here."""

from __future__ import annotations

import asyncio
import codecs
import uuid
from collections.abc import AsyncIterator, Iterator

from mloop_common import outbox, tabular
from mloop_common.db.batch_reads import BatchView, get_batch, page_batches
from mloop_common.db.catalog import DatasetVersion, Scenario
from mloop_common.db.paging import Position
from mloop_common.db.serving import BatchRequest
from mloop_common.db.serving_reads import deployment
from mloop_common.db.training import ModelVersion
from mloop_common.keyring import Grant
from mloop_common.messages.commands import PredictBatch
from mloop_common.problems import Problem, invalid, not_found
from mloop_common.storage import ArtifactNotFound
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_gateway.adapters.multipart import MultipartStream
from mloop_gateway.adapters.uploads import receive
from mloop_gateway.context import SERVICE, Gateway
from mloop_gateway.handlers import audit, scenarios

UPLOAD_FIELDS = {"model_id", "encoding", "delimiter"}


def input_key(scenario_id: uuid.UUID, job_id: uuid.UUID) -> str:
    return f"scenarios/{scenario_id}/batches/{job_id}/input.csv"


def output_url(view: BatchView) -> str | None:
    if view.output_key is None:
        return None
    return f"/api/scenarios/{view.scenario_id}/predictions/batch/{view.id}/output"


async def from_dataset(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    *,
    dataset_id: uuid.UUID,
    model_id: uuid.UUID | None,
) -> BatchView:
    """Score a stored dataset version of the scenario."""
    async with gw.db.transaction() as session:
        scenario = await scenarios.load(session, grant, scenario_id)
        dataset = await session.get(DatasetVersion, dataset_id)
        if dataset is None or dataset.scenario_id != scenario_id:
            raise not_found("dataset", dataset_id)
        view = await _request(
            session,
            grant,
            scenario,
            job_id=uuid.uuid4(),
            dataset_id=dataset_id,
            key=None,
            encoding=dataset.encoding,
            delimiter=dataset.delimiter,
            model_id=model_id,
        )
        await session.commit()
    gw.runtime.relay.notify()
    return view


async def from_upload(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    *,
    form: MultipartStream,
    body: AsyncIterator[bytes],
) -> BatchView:
    """Score an uploaded CSV: stored as the job's input (streamed, checked as a data upload is),
    then recorded; nothing stays stored when the request is refused."""
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
    job_id = uuid.uuid4()
    key = input_key(scenario_id, job_id)
    limits = tabular.CsvLimits(max_columns=gw.settings.upload_max_columns)
    received = await receive(
        form, body, store=gw.store, key=key, limits=limits, max_bytes=gw.settings.upload_max_bytes
    )
    try:
        fields = received.fields
        model_id = _uuid_field(fields.get("model_id"), "model_id")
        delimiter = fields.get("delimiter") or received.report.delimiter
        if len(delimiter) != 1:
            raise invalid(["body", "delimiter"], "the delimiter is one character", "delimiter")
        encoding = fields.get("encoding") or received.report.encoding
        if len(encoding) > 32 or not _known_encoding(encoding):
            raise invalid(["body", "encoding"], f"unknown encoding {encoding!r}", "encoding")
        async with gw.db.transaction() as session:
            scenario = await scenarios.load(session, grant, scenario_id)
            view = await _request(
                session,
                grant,
                scenario,
                job_id=job_id,
                dataset_id=None,
                key=key,
                encoding=encoding,
                delimiter=delimiter,
                model_id=model_id,
            )
            await session.commit()
    except BaseException:
        await asyncio.to_thread(gw.store.delete, key)
        raise
    gw.runtime.relay.notify()
    return view


def _known_encoding(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def _uuid_field(value: str | None, name: str) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError as err:
        raise invalid(["body", name], f"{name} must be a UUID", "uuid_parsing") from err


async def _request(
    session: AsyncSession,
    grant: Grant,
    scenario: Scenario,
    *,
    job_id: uuid.UUID,
    dataset_id: uuid.UUID | None,
    key: str | None,
    encoding: str,
    delimiter: str,
    model_id: uuid.UUID | None,
) -> BatchView:
    """Record the request and stage its PredictBatch (the caller commits both)."""
    if model_id is not None:
        model = await session.get(ModelVersion, model_id)
        if model is None or model.scenario_id != scenario.id:
            raise not_found("model", model_id)
    else:
        state = await deployment(session, scenario.id)
        if state is None or state.champion_model_id is None:
            raise Problem(
                409,
                "No champion",
                "The scenario has no champion yet: promote a model, or name one with model_id.",
            )
    request = BatchRequest(
        id=job_id,
        scenario_id=scenario.id,
        dataset_id=dataset_id,
        input_key=key,
        model_id=model_id,
        requested_by=grant.key_id,
    )
    session.add(request)
    await session.flush()
    await session.refresh(request)
    outbox.stage(
        session,
        service=SERVICE,
        message=PredictBatch(
            scenario_id=scenario.id,
            job_id=job_id,
            dataset_id=dataset_id,
            input_key=key,
            encoding=encoding,
            delimiter=delimiter,
            model_id=model_id,
            requested_by=grant.key_id,
        ),
    )
    audit.record(
        session,
        grant,
        action="batch.request",
        resource="batch",
        resource_id=job_id,
        scenario_id=scenario.id,
        detail={
            "dataset_id": str(dataset_id) if dataset_id else None,
            "upload": key is not None,
            "model_id": str(model_id) if model_id else None,
        },
    )
    return BatchView(request=request, job=None)


async def get(gw: Gateway, grant: Grant, scenario_id: uuid.UUID, job_id: uuid.UUID) -> BatchView:
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        view = await get_batch(session, scenario_id, job_id)
    if view is None:
        raise not_found("batch job", job_id)
    return view


async def page(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, *, limit: int, after: Position | None
) -> list[BatchView]:
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        return await page_batches(session, scenario_id, limit=limit, after=after)


async def output(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, job_id: uuid.UUID
) -> tuple[BatchView, int, Iterator[bytes]]:
    """The output CSV of a succeeded job: its size and its chunks (409 before it succeeded)."""
    view = await get(gw, grant, scenario_id, job_id)
    key = view.output_key
    if key is None:
        detail = f"Batch job {job_id} is {view.status}; its output exists once it succeeded."
        if view.status == "failed":
            detail = f"Batch job {job_id} failed: {view.job.error if view.job else ''}"
        raise Problem(409, "No output", detail)
    try:
        size = await asyncio.to_thread(gw.store.size, key)
    except ArtifactNotFound as err:
        raise Problem(410, "Output gone", f"The output of batch job {job_id} was deleted.") from err
    return view, size, gw.store.iter_chunks(key)
